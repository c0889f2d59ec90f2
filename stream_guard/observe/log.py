"""Structured log lines: one JSON object per line on standard error.

Callers pass identifiers and counts, never a message's text: buyer messages and phone numbers stay
out of logs (excerpts, masked, live in violation records only).
"""
from __future__ import annotations

import logging
import sys
import time

import orjson


def log(event: str, level: str = "info", **fields) -> None:
    line = {"ts": round(time.time(), 3), "level": level, "event": event, **fields}
    sys.stderr.buffer.write(orjson.dumps(line, default=str) + b"\n")
    sys.stderr.flush()


class JsonLogFormatter(logging.Formatter):
    """Library loggers (Faust, aiokafka) as the same JSON lines."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": round(record.created, 3), "level": record.levelname.lower(), "event": "library_log",
                "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()

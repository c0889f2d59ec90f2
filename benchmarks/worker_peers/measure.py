"""How a worker peer measures its rate and hands it back to the benchmark process.

The rate runs from the first record consumed to the last, so process start-up and the consumer
group's join are not counted; the result is one `RESULT {json}` line on stdout.
"""
from __future__ import annotations

import argparse
import json
import time
import uuid

RESULT_PREFIX = "RESULT "


def consumer_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments every Kafka peer takes."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", required=True, help="host:port of the broker")
    p.add_argument("--topic", required=True, help="the input topic, read from its start")
    p.add_argument("--expect", type=int, required=True, help="records to consume before stopping")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds before giving up")
    return p


def fresh_group(prefix: str) -> str:
    """A consumer group no earlier run committed in, so reading starts at the topic's start."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def emit(result: dict) -> None:
    print(RESULT_PREFIX + json.dumps(result), flush=True)


class Clock:
    """Records consumed, and the wall clock from the first of them to the last."""

    def __init__(self) -> None:
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.n = 0

    def add(self, n: int) -> None:
        now = time.perf_counter()
        if self.t_first is None:
            self.t_first = now
        self.n += n
        self.t_last = now

    def result(self, **extra) -> dict:
        seconds = (self.t_last or 0) - (self.t_first or 0)
        return {"messages": self.n, "seconds": round(seconds, 3),
                "msgs_per_s": round(self.n / seconds) if seconds > 0 else None, **extra}

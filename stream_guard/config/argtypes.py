"""Parsers of setting values, shared by the subcommands: a bad value raises ArgumentTypeError, which
argparse reports with exit code 2 and the settings name with the flag or variable it came from."""
from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a rate between 0 and 1")
    return value


LOG_LEVELS = ("debug", "info", "warning", "error")


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port")
    return value


def broker_list(text: str) -> str:
    """`host:port[,host:port...]`, with or without Faust's `kafka://` scheme; kept without it."""
    hosts = []
    for part in text.split(","):
        part = part.strip().removeprefix("kafka://")
        host, _, number = part.rpartition(":")
        if not host or not number.isdigit() or not 0 < int(number) < 65536:
            raise argparse.ArgumentTypeError(f"{text!r} is not host:port[,host:port...]")
        hosts.append(part)
    return ",".join(hosts)


def topic_name(text: str) -> str:
    # Kafka's own rule for topic names
    if not text or len(text) > 249 or text in (".", "..") or any(
            not (c.isascii() and (c.isalnum() or c in "._-")) for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid Kafka topic name")
    return text


def one_of(choices: tuple[str, ...]):
    """A parser of one of `choices`, in any case."""
    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(choices)}")
        return text.lower()
    return parse


log_level = one_of(LOG_LEVELS)
# what rejects, dead letters and scan's outcomes keep of personal data (violations.mask_record)
PERSONAL_DATA = ("raw", "masked")
personal_data = one_of(PERSONAL_DATA)

"""Parsers of setting values, shared by the subcommands: a bad value raises ArgumentTypeError, which
argparse reports with exit code 2 and the settings name with the flag or variable it came from."""
from __future__ import annotations

import argparse
from pathlib import Path


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
# what the worker does with an event whose record key is not its shop id
MISROUTED_RECORDS = ("dead-letter", "repartition")
misrouted_records = one_of(MISROUTED_RECORDS)

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def upper_one_of(choices: tuple[str, ...]):
    """A parser of one of `choices` (upper case, as Kafka spells them), in any case."""
    lower = one_of(tuple(c.lower() for c in choices))
    return lambda text: lower(text).upper()


security_protocol = upper_one_of(SECURITY_PROTOCOLS)
sasl_mechanism = upper_one_of(SASL_MECHANISMS)


def flag(text: str) -> bool:
    if text.lower() in ("true", "yes", "1", "on"):
        return True
    if text.lower() in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def readable_file(text: str) -> Path:
    path = Path(text)
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror}") from None
    return path


class Secret:
    """A value that is never shown: its repr and str are `***`, in logs, errors and configs."""
    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def secret(text: str) -> Secret:
    if not text:
        raise argparse.ArgumentTypeError("is empty")
    return Secret(text)


def secret_file(text: str) -> Secret:
    """The secret a file holds (one line; a final line break is not part of it)."""
    try:
        value = readable_file(text).read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError:
        raise argparse.ArgumentTypeError(f"{text} is not UTF-8 text") from None
    if not value:
        raise argparse.ArgumentTypeError(f"{text} is empty")
    return Secret(value)

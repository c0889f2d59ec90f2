"""The worker's settings: flags, then `STREAM_GUARD_*` environment variables, then defaults.

`SETTINGS` is the single list of what the worker reads. The command line, the README, and the
checks of `deploy/` (every variable and port a compose or Kubernetes file sets must be one of
these) all come from it. Values are validated at start, and a bad one stops the worker with one
clear line that names the flag and the variable.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from stream_guard.config.argtypes import non_negative, positive_int
from stream_guard.evaluation.packs import default_rules_dir
from stream_guard.observe.metrics import DEFAULT_SHOP_SERIES_CAP

ENV_PREFIX = "STREAM_GUARD_"
LOG_LEVELS = ("debug", "info", "warning", "error")


def broker_list(text: str) -> str:
    """`host:port[,host:port...]`, with or without Faust's `kafka://` scheme; kept without it."""
    hosts = []
    for part in text.split(","):
        part = part.strip().removeprefix("kafka://")
        host, _, port = part.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise argparse.ArgumentTypeError(f"{text!r} is not host:port[,host:port...]")
        hosts.append(part)
    return ",".join(hosts)


def topic_name(text: str) -> str:
    # Kafka's own rule for topic names
    if not text or len(text) > 249 or text in (".", "..") or any(
            not (c.isascii() and (c.isalnum() or c in "._-")) for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid Kafka topic name")
    return text


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port")
    return value


def log_level(text: str) -> str:
    if text.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(LOG_LEVELS)}")
    return text.lower()


@dataclass(frozen=True)
class Setting:
    name: str          # field of WorkerConfig; the flag is --name-with-dashes
    env: str           # STREAM_GUARD_...
    parse: Callable[[str], object]
    default: object
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


SETTINGS = (
    Setting("broker", "STREAM_GUARD_BROKER", broker_list, "localhost:9092",
            "Kafka bootstrap servers, host:port[,host:port...]"),
    Setting("input_topic", "STREAM_GUARD_INPUT_TOPIC", topic_name, "chat-events", "chat events, keyed by shop"),
    Setting("violations_topic", "STREAM_GUARD_VIOLATIONS_TOPIC", topic_name, "chat-violations",
            "violations, keyed by shop"),
    Setting("dead_letter_topic", "STREAM_GUARD_DEAD_LETTER_TOPIC", topic_name, "chat-dead-letters",
            "rejected records with their reason in headers"),
    Setting("reply_metrics_topic", "STREAM_GUARD_REPLY_METRICS_TOPIC", topic_name, "chat-reply-metrics",
            "per-shop reply rows, one key per shop and day, latest value wins (compacted)"),
    Setting("partitions", "STREAM_GUARD_PARTITIONS", positive_int, 4,
            "partitions of topics the worker creates (the input topic's count when it exists)"),
    Setting("replication_factor", "STREAM_GUARD_REPLICATION_FACTOR", positive_int, 1,
            "replication factor of topics the worker creates"),
    Setting("group_id", "STREAM_GUARD_GROUP_ID", topic_name, "stream-guard",
            "consumer group; also names the state changelog topic"),
    Setting("rules_dir", "STREAM_GUARD_RULES_DIR", Path, default_rules_dir(), "rule packs directory"),
    Setting("platforms", "STREAM_GUARD_PLATFORMS", str, "",
            "comma-separated platforms to serve (default: every pack); others are dead letters"),
    Setting("metrics_port", "STREAM_GUARD_METRICS_PORT", port, 9464,
            "HTTP port for /metrics, /healthz and /readyz"),
    Setting("metrics_addr", "STREAM_GUARD_METRICS_ADDR", str, "0.0.0.0", "address for the metrics port"),
    Setting("allowed_lateness", "STREAM_GUARD_ALLOWED_LATENESS", non_negative, 60.0,
            "seconds an event may arrive after later ones and still count"),
    Setting("batch_size", "STREAM_GUARD_BATCH_SIZE", positive_int, 10_000, "most records fetched per batch"),
    Setting("commit_interval", "STREAM_GUARD_COMMIT_INTERVAL", non_negative, 2.0,
            "seconds between offset commits (state is written to its changelog first)"),
    Setting("session_timeout", "STREAM_GUARD_SESSION_TIMEOUT", non_negative, 10.0,
            "seconds without heartbeats before the group gives a dead worker's partitions to others"),
    Setting("reload_poll", "STREAM_GUARD_RELOAD_POLL", non_negative, 5.0,
            "seconds between checks of the rules directory for changes (0: reload on SIGHUP only)"),
    Setting("state_dir", "STREAM_GUARD_STATE_DIR", Path, Path("/tmp/stream-guard"),
            "local directory for the Faust app's data"),
    Setting("shop_series_cap", "STREAM_GUARD_SHOP_SERIES_CAP", positive_int, DEFAULT_SHOP_SERIES_CAP,
            "most shops exported as per-shop Prometheus series (worst rates first)"),
    Setting("log_level", "STREAM_GUARD_LOG_LEVEL", log_level, "info", "debug, info, warning or error"),
)
ENV_VARS = frozenset(s.env for s in SETTINGS)


@dataclass(frozen=True)
class WorkerConfig:
    broker: str
    input_topic: str
    violations_topic: str
    dead_letter_topic: str
    reply_metrics_topic: str
    partitions: int
    replication_factor: int
    group_id: str
    rules_dir: Path
    platforms: str
    metrics_port: int
    metrics_addr: str
    allowed_lateness: float
    batch_size: int
    commit_interval: float
    session_timeout: float
    reload_poll: float
    state_dir: Path
    shop_series_cap: int
    log_level: str

    @property
    def platform_list(self) -> list[str]:
        return [p.strip() for p in self.platforms.split(",") if p.strip()]

    @property
    def output_topics(self) -> tuple[str, str, str]:
        return self.violations_topic, self.dead_letter_topic, self.reply_metrics_topic


assert [s.name for s in SETTINGS] == [f.name for f in fields(WorkerConfig)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every setting as a flag; unset flags fall back to the environment in `resolve`."""
    for s in SETTINGS:
        parser.add_argument(s.flag, dest=s.name, default=None, metavar=s.name.upper(),
                            help=f"{s.help} (env {s.env}; default {s.default})")


def resolve(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> WorkerConfig:
    """Flags over environment over defaults, each value parsed; ValueError names the culprit."""
    values = {}
    for s in SETTINGS:
        flagged = getattr(args, s.name, None)
        text, source = (flagged, s.flag) if flagged is not None else (environ.get(s.env), s.env)
        if text is None:
            values[s.name] = s.default
            continue
        try:
            values[s.name] = s.parse(text)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None
    unknown = sorted(k for k in environ if k.startswith(ENV_PREFIX) and k not in ENV_VARS)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(ENV_VARS))}")
    config = WorkerConfig(**values)
    topics = (config.input_topic, *config.output_topics)
    if len(set(topics)) != len(topics):
        raise ValueError("the input, violations, dead-letter and reply-metrics topics must differ")
    if config.session_timeout < 3:
        raise ValueError("session timeout: at least 3 seconds (heartbeats go every second)")
    if not config.rules_dir.is_dir():
        raise ValueError(f"rules directory {config.rules_dir} does not exist")
    return config

"""The worker's configuration: its rows of the settings table, resolved and checked together.

`SETTINGS` (the worker's rows of `stream_guard.config.settings.SETTINGS`) is the single list of what
the worker reads: flags, then `STREAM_GUARD_*` environment variables, then defaults. Values are
validated at start, and a bad one stops the worker with one clear line that names the flag or the
variable; so do settings that are valid alone and wrong together (two topics with one name).
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

from stream_guard.config import settings
from stream_guard.config.argtypes import Secret
from stream_guard.kafka.security import KafkaSecurity

SETTINGS = settings.settings_of("worker")
ENV_VARS = settings.env_vars("worker")


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
    partition_idle_after: float
    batch_size: int
    commit_interval: float
    session_timeout: float
    reload_poll: float
    state_dir: Path
    shop_series_cap: int
    personal_data: str
    misrouted_records: str
    log_level: str
    security_protocol: str
    sasl_mechanism: str
    sasl_username: str
    sasl_password: Secret | None
    sasl_password_file: Secret | None  # what the file holds
    ssl_cafile: Path | None
    ssl_certfile: Path | None
    ssl_keyfile: Path | None
    ssl_check_hostname: bool

    @property
    def platform_list(self) -> list[str]:
        return [p.strip() for p in self.platforms.split(",") if p.strip()]

    @property
    def output_topics(self) -> tuple[str, str, str]:
        return self.violations_topic, self.dead_letter_topic, self.reply_metrics_topic

    @property
    def repartition_topic(self) -> str | None:
        """Where misrouted records are re-keyed (`misrouted_records = repartition`), named the
        way Faust names a stream's `group_by` topic; None when they are dead letters."""
        if self.misrouted_records != "repartition":
            return None
        return f"{self.group_id}-{self.input_topic}-shop_id-repartition"

    @cached_property
    def security(self) -> KafkaSecurity:
        return KafkaSecurity.from_settings(vars(self))


assert [s.name for s in SETTINGS] == [f.name for f in fields(WorkerConfig)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every setting as a flag; unset flags fall back to the environment in `resolve`."""
    settings.add_arguments(parser, "worker")


def resolve(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> WorkerConfig:
    """Flags over environment over defaults, each value parsed; ValueError names the culprit."""
    config = WorkerConfig(**settings.resolve(args, "worker", environ))
    topics = (config.input_topic, *config.output_topics)
    if len(set(topics)) != len(topics):
        raise ValueError("the input, violations, dead-letter and reply-metrics topics must differ")
    if config.session_timeout < 3:
        raise ValueError("session timeout: at least 3 seconds (heartbeats go every second)")
    if not config.rules_dir.is_dir():
        raise ValueError(f"rules directory {config.rules_dir} does not exist")
    config.security  # noqa: B018 - the security settings are checked together at start
    return config

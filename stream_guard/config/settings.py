"""The settings of `scan` and `worker`: one table, one parser per value, a default per command.

Each setting has one flag (`--name-with-dashes`), one environment variable (`STREAM_GUARD_NAME`),
one parser and one help line. Where the two commands share a setting they share its row and differ
only in the default: a file scan batches fewer records and serves metrics, if asked, on loopback;
a worker batches more and serves them to the cluster. The worker reads flags, then the environment,
then the defaults (a container is configured by its environment); `scan` reads flags, then the
defaults, so a file scan does what its command line says. The rules directory's default is the
same for both: `STREAM_GUARD_RULES_DIR`, else the packs installed with the package.

The command line, the deploy checks (every variable a compose or Kubernetes file sets must be one of
these) and the docs all read this table.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stream_guard.config.argtypes import (
    broker_list,
    flag,
    log_level,
    misrouted_records,
    non_negative,
    personal_data,
    port,
    positive_int,
    readable_file,
    sasl_mechanism,
    secret,
    secret_file,
    security_protocol,
    topic_name,
)
from stream_guard.engine.events import Limits
from stream_guard.evaluation.packs import default_rules_dir
from stream_guard.observe.metrics import DEFAULT_SHOP_SERIES_CAP

Command = Literal["scan", "worker", "gen"]
ENV_PREFIX = "STREAM_GUARD_"
# whether a command falls back to STREAM_GUARD_* variables for the flags it is not given
READS_ENVIRONMENT: Mapping[Command, bool] = {"scan": False, "worker": True, "gen": False}


@dataclass(frozen=True)
class Computed:
    """A default worked out when a command starts, not when the table is read."""
    make: Callable[[], object]
    shown: str


@dataclass(frozen=True)
class Setting:
    name: str  # the field of the command's config; the variable is STREAM_GUARD_NAME
    parse: Callable[[str], Any]
    help: str
    defaults: Mapping[Command, object]  # the commands that take the setting, each with its default
    flag_name: str | None = None  # when the flag is not --name-with-dashes
    aliases: tuple[str, ...] = ()
    metavar: str | None = None
    env_only: bool = False  # a secret: read from its variable by every command, never a flag

    @property
    def flag(self) -> str:
        """The flag; "-" for a setting only the environment gives."""
        return "-" if self.env_only else self.spelled_flag

    @property
    def spelled_flag(self) -> str:
        """The flag as it would be spelled: what a secret's refusal names."""
        return self.flag_name or "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def default_for(self, command: Command) -> Any:
        value = self.defaults[command]
        return value.make() if isinstance(value, Computed) else value

    def shown_default(self, command: Command) -> str:
        value = self.defaults[command]
        return value.shown if isinstance(value, Computed) else str(value)


def both(default: object) -> dict[Command, object]:
    return {"scan": default, "worker": default}


def worker(default: object) -> dict[Command, object]:
    return {"worker": default}


def kafka_clients(default: object) -> dict[Command, object]:
    """The commands that talk to Kafka: the worker, and gen with --broker."""
    return {"worker": default, "gen": default}


UNSET = Computed(lambda: None, "none")


BUNDLED_RULES = Computed(default_rules_dir, "$STREAM_GUARD_RULES_DIR, else the bundled packs")

SETTINGS: tuple[Setting, ...] = (
    Setting("broker", broker_list, "Kafka bootstrap servers, host:port[,host:port...]", worker("localhost:9092")),
    Setting("input_topic", topic_name, "chat events, keyed by shop", worker("chat-events")),
    Setting("violations_topic", topic_name, "violations, keyed by shop", worker("chat-violations")),
    Setting("dead_letter_topic", topic_name, "rejected records with their reason in headers",
            worker("chat-dead-letters")),
    Setting("reply_metrics_topic", topic_name,
            "per-shop reply rows, one key per shop and day, latest value wins (compacted)",
            worker("chat-reply-metrics")),
    Setting("partitions", positive_int,
            "partitions of topics the worker creates (the input topic's count when it exists)", worker(4)),
    Setting("replication_factor", positive_int, "replication factor of topics the worker creates", worker(1)),
    Setting("group_id", topic_name, "consumer group; also names the state changelog topic", worker("stream-guard")),
    Setting("rules_dir", Path, "rule packs directory", both(BUNDLED_RULES), flag_name="--rules",
            aliases=("--rules-dir",)),
    Setting("platforms", str, "comma-separated platforms to serve (default: every pack); "
            "events of others are rejected as unknown_platform", both("")),
    Setting("metrics_port", port, "HTTP port for /metrics, /healthz and /readyz",
            {"scan": Computed(lambda: None, "none: no metrics server"), "worker": 9464}),
    Setting("metrics_addr", str, "address for the metrics port", {"scan": "127.0.0.1", "worker": "0.0.0.0"}),
    Setting("allowed_lateness", non_negative, "seconds an event may arrive after later ones and still count",
            both(60.0), metavar="SECONDS"),
    Setting("partition_idle_after", non_negative,
            "seconds a caught-up input partition may carry no record before its shops' event time follows "
            "the wall clock, that far behind (0: event time only)", worker(30.0), metavar="SECONDS"),
    Setting("batch_size", positive_int, "most records judged per engine batch (the worker: fetched per batch)",
            {"scan": 2000, "worker": 10_000}),
    Setting("max_text_bytes", positive_int, "longest message text accepted, UTF-8 bytes",
            {"scan": Limits.max_text_bytes}),
    Setting("metrics_linger", non_negative, "keep serving metrics this long after the input is over",
            {"scan": 0.0}, metavar="SECONDS"),
    Setting("commit_interval", non_negative,
            "seconds between offset commits (state is written to its changelog first)", worker(2.0)),
    Setting("session_timeout", non_negative,
            "seconds without heartbeats before the group gives a dead worker's partitions to others", worker(10.0)),
    Setting("reload_poll", non_negative,
            "seconds between checks of the rules directory for changes (0: reload on SIGHUP only)", worker(5.0)),
    Setting("state_dir", Path, "local directory for the Faust app's data", worker(Path("/tmp/stream-guard"))),
    Setting("shop_series_cap", positive_int, "most shops exported as per-shop Prometheus series (worst rates first)",
            both(DEFAULT_SHOP_SERIES_CAP)),
    Setting("personal_data", personal_data,
            "rejects, dead letters and scan's outcomes: raw (records as they came, to replay) or masked "
            "(numbers of five digits or more, e-mail local parts, WeChat ids next to a WeChat word and "
            "phone-number buyer ids as *)", both("raw")),
    Setting("misrouted_records", misrouted_records,
            "events whose record key is not their shop_id, or that have no key: dead-letter, or repartition "
            "(re-keyed through the topic <group-id>-<input-topic>-shop_id-repartition to their shop's partition)",
            worker("dead-letter")),
    Setting("log_level", log_level, "debug, info, warning or error", worker("info")),
    Setting("security_protocol", security_protocol,
            "how clients reach the brokers: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL over TLS)",
            kafka_clients("PLAINTEXT")),
    Setting("sasl_mechanism", sasl_mechanism, "with SASL_*: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
            kafka_clients("SCRAM-SHA-512")),
    Setting("sasl_username", str, "with SASL_*: the user name", kafka_clients("")),
    Setting("sasl_password", secret, "with SASL_*: the password; from the environment only, never a flag",
            kafka_clients(UNSET), env_only=True),
    Setting("sasl_password_file", secret_file,
            "with SASL_*: a file holding the password, instead of STREAM_GUARD_SASL_PASSWORD", kafka_clients(UNSET),
            metavar="FILE"),
    Setting("ssl_cafile", readable_file,
            "with SSL or SASL_SSL: PEM file of the CA certificates to trust (none: the system's)", kafka_clients(UNSET),
            metavar="FILE"),
    Setting("ssl_certfile", readable_file, "mutual TLS: the client's PEM certificate, or chain", kafka_clients(UNSET),
            metavar="FILE"),
    Setting("ssl_keyfile", readable_file, "mutual TLS: the client's PEM private key, when not in --ssl-certfile",
            kafka_clients(UNSET), metavar="FILE"),
    Setting("ssl_check_hostname", flag, "with SSL or SASL_SSL: the broker's certificate must name its host",
            kafka_clients(True)),
)


def secret_given_as_flag(argv: list[str]) -> str | None:
    """Why a command line is refused before argparse reads it (whose "unrecognized arguments"
    would echo the value): a setting only the environment gives, passed as a flag."""
    for s in SETTINGS:
        flag = s.spelled_flag
        if s.env_only and any(arg == flag or arg.startswith(flag + "=") for arg in argv):
            return f"{flag} is not a flag, so that the secret is never on a command line: set {s.env}" + (
                f" or {s.spelled_flag}-file" if any(o.name == s.name + "_file" for o in SETTINGS) else "")
    return None


def settings_of(command: Command) -> tuple[Setting, ...]:
    return tuple(s for s in SETTINGS if command in s.defaults)


def env_vars(command: Command) -> frozenset[str]:
    return frozenset(s.env for s in settings_of(command) if READS_ENVIRONMENT[command] or s.env_only)


def add_arguments(parser: argparse.ArgumentParser, command: Command) -> None:
    """Every setting of the command as a flag; `resolve` parses what was given and fills the rest."""
    for s in settings_of(command):
        if s.env_only:
            continue
        source = f"env {s.env}; default" if READS_ENVIRONMENT[command] else "default"
        parser.add_argument(s.flag, *s.aliases, dest=s.name, default=None, metavar=s.metavar or s.name.upper(),
                            help=f"{s.help} ({source} {s.shown_default(command)})")


def resolve(args: argparse.Namespace, command: Command, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Flags over environment (for the commands that read it) over defaults, each value parsed.

    A bad value raises ValueError naming the flag or variable it came from; so does a
    STREAM_GUARD_* variable the command does not know, which is a typo more often than not."""
    reads_environment = READS_ENVIRONMENT[command]
    values: dict[str, Any] = {}
    for s in settings_of(command):
        flagged = getattr(args, s.name, None)
        if flagged is not None:
            text, source = flagged, s.flag
        else:
            text, source = (environ.get(s.env), s.env) if reads_environment or s.env_only else (None, "")
        if text is None:
            values[s.name] = s.default_for(command)
            continue
        try:
            values[s.name] = s.parse(text)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None
    if reads_environment:
        known = env_vars(command)
        unknown = sorted(k for k in environ if k.startswith(ENV_PREFIX) and k not in known)
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return values

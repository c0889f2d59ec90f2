"""`stream-guard worker`: its flags (the worker's rows of the settings table) and its start."""
from __future__ import annotations

import argparse
import sys

from stream_guard.worker import config


def cmd_worker(args: argparse.Namespace) -> int:
    # Faust and the Kafka client are imported only by the command that runs them
    from stream_guard.kafka.connect import KafkaUnreachable
    from stream_guard.worker.app import TopicMismatch, start

    try:
        return start(config.resolve(args))
    except (KafkaUnreachable, TopicMismatch) as exc:
        print(f"stream-guard: {exc}", file=sys.stderr)
        return 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    # no abbreviations: `--sasl-password SECRET` must not pass for `--sasl-password-file`
    worker = sub.add_parser("worker", allow_abbrev=False,
                            help="consume chat events from Kafka and produce violations (a Faust app)",
                            description="Flags override STREAM_GUARD_* environment variables, which override "
                                        "the defaults. See docs/operations.md.")
    config.add_arguments(worker)
    worker.set_defaults(run=cmd_worker)

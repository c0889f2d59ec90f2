"""`stream-guard worker`: its flags (the worker's rows of the settings table) and its start."""
from __future__ import annotations

import argparse

from stream_guard.worker import config


def cmd_worker(args: argparse.Namespace) -> int:
    from stream_guard.worker.app import start  # Faust is imported only by the command that runs it

    return start(config.resolve(args))


def add_parser(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser("worker", help="consume chat events from Kafka and produce violations (a Faust app)",
                            description="Flags override STREAM_GUARD_* environment variables, which override "
                                        "the defaults. See docs/operations.md.")
    config.add_arguments(worker)
    worker.set_defaults(run=cmd_worker)

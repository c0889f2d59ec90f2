"""`stream-guard scan`: its flags (the scan's rows of the settings table plus its files) and its run."""
from __future__ import annotations

import argparse

from stream_guard.config import settings
from stream_guard.scan import run


def cmd_scan(args: argparse.Namespace) -> int:
    files = {name: getattr(args, name) for name in run.SCAN_FILES}
    return run.run_scan(run.ScanConfig(**files, **settings.resolve(args, "scan")))


def add_parser(sub: argparse._SubParsersAction) -> None:
    scan = sub.add_parser("scan", help="run the engine on a JSONL file of chat events (plain, gzip or '-')",
                          description=run.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    scan.add_argument("path", help="chat events, one JSON object a line; gzip is detected; '-' reads stdin")
    scan.add_argument("--out", help="violations JSONL ('-' stdout; default stdout when it is not a terminal)")
    scan.add_argument("--rejects", help="rejected records JSONL: line number, reason, detail, the record's start")
    scan.add_argument("--outcomes", help="reply outcomes JSONL (valid, late, missed, reply_missed, late_event)")
    scan.add_argument("--report", help="JSON report: per-shop reply rows, violation and reject counts")
    settings.add_arguments(scan, "scan")
    shown = scan.add_mutually_exclusive_group()
    shown.add_argument("--summary", action="store_true", default=None,
                       help="print the summary even when standard error is not a terminal")
    shown.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    scan.set_defaults(run=cmd_scan)

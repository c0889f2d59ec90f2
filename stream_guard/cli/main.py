"""The `stream-guard` command line: one module per subcommand, each adding its own parser."""
from __future__ import annotations

import argparse
import sys

from stream_guard import __version__
from stream_guard.cli import gen as gen_cli
from stream_guard.cli import match as match_cli
from stream_guard.cli import rules as rules_cli
from stream_guard.cli import scan as scan_cli
from stream_guard.cli import worker as worker_cli
from stream_guard.config import settings
from stream_guard.scan.files import ScanError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stream-guard", description=__doc__)
    parser.add_argument("--version", action="version", version=f"stream-guard {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    match_cli.add_parser(sub)
    rules_cli.add_parser(sub)
    scan_cli.add_parser(sub)
    gen_cli.add_parser(sub)
    worker_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    refused = settings.secret_given_as_flag(sys.argv[1:] if argv is None else argv)
    if refused:
        print(f"stream-guard: {refused}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ScanError as exc:
        print(f"stream-guard: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"stream-guard: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

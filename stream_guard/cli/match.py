"""`stream-guard match`: the native matcher alone, on patterns and messages given by hand."""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from stream_guard.evaluation.matcher import Hit, Matcher


def _read_lines(path: str) -> list[str]:
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    with stream:
        return [line.rstrip("\n") for line in stream if line.strip() and not line.startswith("#")]


def _mark(text: str, hits: Sequence[Hit]) -> str:
    """The text with each leftmost-longest hit bracketed, for people to read."""
    out, pos = [], 0
    for _, start, end in hits:
        out.append(text[pos:start] + "【" + text[start:end] + "】")
        pos = end
    return "".join(out) + text[pos:]


def cmd_match(args: argparse.Namespace) -> int:
    patterns = _read_lines(args.patterns)
    messages = args.text or _read_lines(args.messages)
    started = time.perf_counter()
    matcher = Matcher(patterns, fold_numbers=args.fold_numbers, max_gap=args.max_gap)
    built = time.perf_counter()
    results = matcher.find_batch(messages, longest=True)
    done = time.perf_counter()
    flagged = 0
    for text, hits in zip(messages, results, strict=True):
        flagged += bool(hits)
        names = ", ".join(patterns[pid] for pid, _, _ in hits)
        print(f"{'HIT ' if hits else 'ok  '} {_mark(text, hits)}" + (f"    <- {names}" if hits else ""))
    print(
        f"\n{len(messages)} messages, {flagged} with hits, {sum(map(len, results))} hits; "
        f"{len(patterns)} patterns built into {matcher.state_count} states in "
        f"{(built - started) * 1e3:.1f} ms; matched in {(done - built) * 1e6 / max(len(messages), 1):.1f} us/message"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    match = sub.add_parser("match", help="match patterns in messages with the native matcher")
    match.add_argument("--patterns", required=True, help="file of patterns, one a line")
    source = match.add_mutually_exclusive_group(required=True)
    source.add_argument("--messages", help="file of messages, one a line ('-' for stdin)")
    source.add_argument("--text", action="append", help="a message (repeatable)")
    match.add_argument("--fold-numbers", action="store_true",
                       help="fold Chinese and financial numerals to digits")
    match.add_argument("--max-gap", type=int, default=8,
                       help="most separators skipped inside one hit (default 8)")
    match.set_defaults(run=cmd_match)

"""`stream-guard scan PATH|-`: the engine on a JSONL file (plain or gzip) or standard input.

Streaming: records are read line by line in batches, so memory stays flat whatever the file's
size; a line longer than the record limit is read past in chunks and rejected, not held. Outputs:
violations as JSONL (`--out`), rejected records with line number and reason (`--rejects`), reply
outcomes (`--outcomes`), and a JSON report (`--report`) with per-shop reply rows and counts.
"""
from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

from stream_guard.config.argtypes import non_negative, positive_int
from stream_guard.engine.events import Limits
from stream_guard.engine.pipeline import DEFAULT_LATENESS_MS, Engine, tune_gc
from stream_guard.evaluation.packs import PackError, default_rules_dir
from stream_guard.observe.log import log
from stream_guard.observe.metrics import DEFAULT_SHOP_SERIES_CAP, TURN_OUTCOMES, Metrics

DEFAULT_BATCH = 2000
REJECT_RECORD_CHARS = 1000  # how much of a rejected record its rejects line keeps
WORST_SHOPS_SHOWN = 10
PROGRESS_EVERY_S = 0.2


class ScanError(Exception):
    """The scan cannot run: the message is the one-line reason."""


class _Input:
    """A binary line source over a file, a gzip file or stdin, with the compressed bytes read so
    far for the progress bar."""

    def __init__(self, path: str):
        self.name = "standard input" if path == "-" else path
        try:
            raw = sys.stdin.buffer if path == "-" else open(path, "rb")
        except OSError as exc:
            raise ScanError(f"cannot read {path}: {exc.strerror or exc}") from None
        self._raw = raw
        self.size = _size_of(raw)
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
        try:
            gzipped = buffered.peek(2)[:2] == b"\x1f\x8b"
        except OSError as exc:
            raise ScanError(f"cannot read {path}: {exc.strerror or exc}") from None
        self.stream: BinaryIO = gzip.GzipFile(fileobj=buffered) if gzipped else buffered

    def position(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def lines(self, limit: int) -> Iterator[tuple[int, bytes]]:
        """(line number, record) for every non-blank line; a line over `limit` bytes comes as
        its first limit+1 bytes (enough for the engine to reject it) and the rest is skipped."""
        readline = self.stream.readline
        number = 0
        while True:
            try:
                line = readline(limit + 1)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise ScanError(f"cannot read {self.name} after line {number}: {exc}") from None
            if not line:
                return
            number += 1
            if len(line) > limit and not line.endswith(b"\n"):
                rest = line
                while rest and not rest.endswith(b"\n"):
                    rest = readline(1 << 20)
                yield number, line
                continue
            record = line.rstrip(b"\r\n")
            if record.strip():
                yield number, record

    def close(self) -> None:
        if self._raw is not sys.stdin.buffer:
            self._raw.close()


def _size_of(raw) -> int:
    try:
        return os.fstat(raw.fileno()).st_size
    except (OSError, ValueError, io.UnsupportedOperation):
        return 0


class _Sink:
    """An output file of JSON lines, or nothing."""

    def __init__(self, target: str | None, default_stdout: bool = False):
        if target == "-" or (target is None and default_stdout):
            self.file = sys.stdout.buffer
        elif target:
            try:
                self.file = open(target, "wb")
            except OSError as exc:
                raise ScanError(f"cannot write {target}: {exc.strerror or exc}") from None
        else:
            self.file = None

    def write(self, record: dict) -> None:
        if self.file is not None:
            self.file.write(orjson.dumps(record) + b"\n")

    def close(self) -> None:
        if self.file is not None and self.file is not sys.stdout.buffer:
            self.file.close()
        elif self.file is not None:
            self.file.flush()


class _Tally:
    """What the report and the summary count."""

    def __init__(self):
        self.records = 0
        self.events = 0
        self.violations = {key: Counter() for key in ("platform", "category", "severity", "rule_id")}
        self.violation_count = 0
        self.rejects = Counter()
        self.turns = Counter()

    def add(self, result) -> None:
        self.events += result.events
        self.violation_count += len(result.violations)
        for v in result.violations:
            for key, counter in self.violations.items():
                counter[v[key]] += 1
        for _, reject in result.rejects:
            self.rejects[reject.reason] += 1
        self.add_outcomes(result.outcomes)

    def add_outcomes(self, outcomes) -> None:
        for o in outcomes:
            self.turns[o.kind] += 1


def _outcome_record(o) -> dict:
    return {"kind": o.kind, "platform": o.platform, "shop_id": o.shop_id, "buyer_id": o.buyer_id,
            "day": o.day, "opened_ts": o.opened_ts, "replied_ts": o.replied_ts,
            "response_s": o.response_s, "counted": o.counted, "event_id": o.event_id or None}


class _Progress:
    """A one-line progress bar on a terminal: bytes and events per second."""

    def __init__(self, source: _Input, enabled: bool):
        self.source = source
        self.enabled = enabled
        self.started = self.shown = time.monotonic()

    def update(self, tally: _Tally, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.shown < PROGRESS_EVERY_S:
            return
        self.shown = now
        elapsed = max(now - self.started, 1e-9)
        done = self.source.position()
        share = f"{100 * done / self.source.size:5.1f}% " if self.source.size else ""
        line = (f"\r{share}{done / 1e6:,.1f} MB read, {tally.records:,} records, "
                f"{tally.records / elapsed:,.0f} events/s, {tally.violation_count:,} violations")
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()


def run_scan(args: argparse.Namespace) -> int:
    limits = Limits(max_text_bytes=args.max_text_bytes)
    metrics = Metrics(shop_series_cap=args.shop_series_cap) if args.metrics_port is not None else None
    platforms = [p for p in args.platforms.split(",") if p] if args.platforms else None
    try:
        engine = Engine(Path(args.rules), platforms=platforms,
                        allowed_lateness_ms=int(args.allowed_lateness * 1000), limits=limits, metrics=metrics)
    except PackError as exc:
        raise ScanError(f"rule packs in {args.rules} are invalid ({len(exc.problems)} problems; "
                        f"`stream-guard rules check` lists them): {exc.problems[0]}") from None
    tune_gc()
    source = _Input(args.path)
    if metrics is not None:
        try:
            server, _ = metrics.serve(args.metrics_port, args.metrics_addr)
        except OSError as exc:
            raise ScanError(f"cannot serve metrics on port {args.metrics_port}: {exc.strerror or exc}") from None
        log("metrics_serving", addr=args.metrics_addr, port=server.server_port)
    violations = _Sink(args.out, default_stdout=not sys.stdout.isatty())
    rejects = _Sink(args.rejects)
    outcomes = _Sink(args.outcomes)
    tally = _Tally()
    progress = _Progress(source, enabled=sys.stderr.isatty() and not args.quiet)
    started = time.perf_counter()

    def process(numbers: list[int], records: list[bytes]) -> None:
        result = engine.process_batch(records)
        tally.records += len(records)
        tally.add(result)
        for v in result.violations:
            violations.write(v)
        for index, reject in result.rejects:
            rejects.write({"line": numbers[index], "reason": reject.reason, "detail": reject.detail,
                           "record": records[index][:REJECT_RECORD_CHARS * 4].decode("utf-8", "replace")
                           [:REJECT_RECORD_CHARS]})
        for o in result.outcomes:
            outcomes.write(_outcome_record(o))
        progress.update(tally)

    try:
        numbers, records = [], []
        for number, record in source.lines(limits.max_record_bytes):
            numbers.append(number)
            records.append(record)
            if len(records) >= args.batch_size:
                process(numbers, records)
                numbers, records = [], []
        if records:
            process(numbers, records)
        final = engine.finish()
        tally.add_outcomes(final)
        for o in final:
            outcomes.write(_outcome_record(o))
    finally:
        source.close()
        for sink in (violations, rejects, outcomes):
            sink.close()
    elapsed = time.perf_counter() - started
    progress.update(tally, final=True)
    report = build_report(engine, tally, source.name, elapsed)
    if args.report:
        try:
            Path(args.report).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        except OSError as exc:
            raise ScanError(f"cannot write {args.report}: {exc.strerror or exc}") from None
    if args.summary or (args.summary is None and sys.stderr.isatty() and not args.quiet):
        sys.stderr.write(render_summary(report))
    if metrics is not None and args.metrics_linger:
        # the final figures stay up for a scraper that comes after the input is over
        log("metrics_linger", seconds=args.metrics_linger)
        time.sleep(args.metrics_linger)
    return 0


def build_report(engine: Engine, tally: _Tally, source: str, elapsed: float) -> dict:
    shops = [{k: row[k] for k in ("platform", "shop_id", "day", "consults", "valid", "rate", "penalty_risk",
                                  "penalty_fine_cny")}
             for row in engine.tracker.shop_days()]
    return {
        "source": source,
        "records": tally.records,
        "events": tally.events,
        "seconds": round(elapsed, 3),
        "pack_versions": engine.pack_versions(),
        "violations": {
            "total": tally.violation_count,
            **{f"by_{key.removesuffix('_id')}": dict(sorted(counter.items()))
               for key, counter in tally.violations.items()},
        },
        "rejects": {"total": sum(tally.rejects.values()), "by_reason": dict(sorted(tally.rejects.items()))},
        "replies": {
            "turns": {kind: tally.turns[kind] for kind in TURN_OUTCOMES},
            "reply_missed_notices": tally.turns["reply_missed"],
            "late_events": tally.turns["late_event"],
        },
        "shops": shops,
    }


def render_summary(report: dict) -> str:
    """The report for people: what a newcomer reads after `make demo`."""
    lines = [f"stream-guard scan of {report['source']}"]
    seconds = max(report["seconds"], 1e-9)
    lines.append(f"  events      {report['records']:,} records, {report['events']:,} valid, "
                 f"{report['rejects']['total']:,} rejected; {report['seconds']:.2f} s "
                 f"({report['records'] / seconds:,.0f} events/s)")
    v = report["violations"]
    lines.append(f"  violations  {v['total']:,}")
    for category, n in sorted(v["by_category"].items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"      {category:<22} {n:>7,}")
    if v["by_severity"]:
        lines.append("  by severity " + ", ".join(f"{s} {n:,}" for s, n in v["by_severity"].items()))
    r = report["replies"]
    lines.append("  replies     turns " + ", ".join(f"{k} {n:,}" for k, n in r["turns"].items())
                 + f"; {r['reply_missed_notices']:,} buyers waited past the deadline"
                 + (f"; {r['late_events']:,} events too late to count" if r["late_events"] else ""))
    shops = [s for s in report["shops"] if s["consults"]]
    if shops:
        lines.append(f"  worst shops by valid-reply rate ({len(shops):,} shop-days):")
        for s in sorted(shops, key=lambda s: (s["rate"], -s["consults"]))[:WORST_SHOPS_SHOWN]:
            risk = f"  PENALTY RISK {s['penalty_fine_cny']:,} CNY" if s["penalty_risk"] else ""
            lines.append(f"      {s['platform']:<10} {s['shop_id']:<14} {s['day']}  {100 * s['rate']:5.1f}% "
                         f"({s['valid']:,}/{s['consults']:,}){risk}")
    at_risk = [s for s in shops if s["penalty_risk"]]
    lines.append(f"  at penalty risk: {len(at_risk)} shop-day(s)"
                 + (": " + ", ".join(f"{s['platform']}/{s['shop_id']} {s['day']}" for s in at_risk[:10])
                    if at_risk else ""))
    rejects = report["rejects"]["by_reason"]
    if rejects:
        lines.append("  rejects     " + ", ".join(f"{k} {n:,}" for k, n in rejects.items()))
    return "\n".join(lines) + "\n"


def add_parser(sub) -> None:
    scan = sub.add_parser("scan", help="run the engine on a JSONL file of chat events (plain, gzip or '-')",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    scan.add_argument("path", help="chat events, one JSON object a line; gzip is detected; '-' reads stdin")
    scan.add_argument("--out", help="violations JSONL ('-' stdout; default stdout when it is not a terminal)")
    scan.add_argument("--rejects", help="rejected records JSONL: line number, reason, detail, the record's start")
    scan.add_argument("--outcomes", help="reply outcomes JSONL (valid, late, missed, reply_missed, late_event)")
    scan.add_argument("--report", help="JSON report: per-shop reply rows, violation and reject counts")
    scan.add_argument("--rules", default=str(default_rules_dir()),
                      help="rule packs directory (default: $STREAM_GUARD_RULES_DIR or the bundled rules/)")
    scan.add_argument("--platforms", help="comma-separated platforms to serve (default: every pack); "
                      "events of others are rejected as unknown_platform")
    scan.add_argument("--allowed-lateness", type=non_negative, default=DEFAULT_LATENESS_MS / 1000,
                      metavar="SECONDS", help="how late an event may arrive and still count (default 60)")
    scan.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH,
                      help=f"records per engine batch (default {DEFAULT_BATCH})")
    scan.add_argument("--max-text-bytes", type=positive_int, default=Limits.max_text_bytes,
                      help="longest message text accepted, UTF-8 bytes (default 16384)")
    scan.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port while running")
    scan.add_argument("--metrics-addr", default="127.0.0.1", help="address for --metrics-port (default 127.0.0.1)")
    scan.add_argument("--metrics-linger", type=non_negative, default=0, metavar="SECONDS",
                      help="keep serving metrics this long after the input is over (default 0)")
    scan.add_argument("--shop-series-cap", type=positive_int, default=DEFAULT_SHOP_SERIES_CAP,
                      help="most per-shop series exported, worst rates first")
    shown = scan.add_mutually_exclusive_group()
    shown.add_argument("--summary", action="store_true", default=None,
                       help="print the summary even when standard error is not a terminal")
    shown.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    scan.set_defaults(run=run_scan)


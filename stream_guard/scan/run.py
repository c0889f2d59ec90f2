"""`stream-guard scan PATH|-`: the engine on a JSONL file (plain or gzip) or standard input.

Streaming: records are read line by line in batches, so memory stays flat whatever the file's
size; a line longer than the record limit is read past in chunks and rejected, not held. Outputs:
violations as JSONL (`out`), rejected records with line number and reason (`rejects`), reply
outcomes (`outcomes`), and a JSON report (`report`) with per-shop reply rows and counts.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

import orjson

from stream_guard.config.settings import settings_of
from stream_guard.engine.events import Limits
from stream_guard.engine.pipeline import Engine, tune_gc
from stream_guard.evaluation.packs import PackError
from stream_guard.observe.log import log
from stream_guard.observe.metrics import Metrics
from stream_guard.scan.files import Input, ReadError, ScanError, Sink
from stream_guard.scan.repeats import Repeats
from stream_guard.scan.report import Tally, build_report, outcome_record, render_summary

REJECT_RECORD_CHARS = 1000  # how much of a rejected record its rejects line keeps
PROGRESS_EVERY_S = 0.2


@dataclass(frozen=True)
class ScanConfig:
    path: str  # '-' reads standard input
    out: str | None  # '-' is standard output; None is standard output when it is not a terminal
    rejects: str | None
    outcomes: str | None
    report: str | None
    summary: bool | None  # None: on a terminal unless quiet
    quiet: bool
    rules_dir: Path
    platforms: str
    metrics_port: int | None
    metrics_addr: str
    allowed_lateness: float
    batch_size: int
    max_text_bytes: int
    metrics_linger: float
    shop_series_cap: int
    personal_data: str  # raw, or masked in rejects and outcomes


SCAN_FILES = ("path", "out", "rejects", "outcomes", "report", "summary", "quiet")
assert [f.name for f in fields(ScanConfig)] == [*SCAN_FILES, *(s.name for s in settings_of("scan"))]


class _Progress:
    """A one-line progress bar on a terminal: bytes and events per second."""

    def __init__(self, source: Input, enabled: bool):
        self.source = source
        self.enabled = enabled
        self.started = self.shown = time.monotonic()

    def update(self, tally: Tally, final: bool = False) -> None:
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


def run_scan(config: ScanConfig) -> int:
    limits = Limits(max_text_bytes=config.max_text_bytes)
    metrics = Metrics(shop_series_cap=config.shop_series_cap) if config.metrics_port is not None else None
    platforms = [p for p in config.platforms.split(",") if p] if config.platforms else None
    try:
        engine = Engine(config.rules_dir, platforms=platforms,
                        allowed_lateness_ms=int(config.allowed_lateness * 1000), limits=limits, metrics=metrics)
    except PackError as exc:
        raise ScanError(f"rule packs in {config.rules_dir} are invalid ({len(exc.problems)} problems; "
                        f"`stream-guard rules check` lists them): {exc.problems[0]}") from None
    tune_gc()
    source = Input(config.path)
    if metrics is not None and (port := config.metrics_port) is not None:
        try:
            server, _ = metrics.serve(port, config.metrics_addr)
        except OSError as exc:
            raise ScanError(str(exc)) from None
        log("metrics_serving", addr=config.metrics_addr, port=server.server_port)
    violations = Sink(config.out, default_stdout=not sys.stdout.isatty())
    rejects = Sink(config.rejects)
    outcomes = Sink(config.outcomes)
    tally = Tally()
    repeats = Repeats()
    masked = config.personal_data == "masked"
    progress = _Progress(source, enabled=sys.stderr.isatty() and not config.quiet)
    started = time.perf_counter()

    def process(numbers: list[int], records: list[bytes]) -> None:
        result = engine.process_batch(records)
        if result.decoded is not None:
            repeated = repeats.count_events(result.decoded.event_id)
            if repeated and metrics is not None:
                metrics.duplicate_events.inc(repeated)
        result.violations = repeats.first_written(result.violations)
        tally.records += len(records)
        tally.add(result)
        for v in result.violations:
            violations.write(v)
        for index, reject in result.rejects:
            record = engine.mask_record(records[index]) if masked else records[index]
            rejects.write({"line": numbers[index], "reason": reject.reason, "detail": reject.detail,
                           "record": record[:REJECT_RECORD_CHARS * 4].decode("utf-8", "replace")
                           [:REJECT_RECORD_CHARS]})
        for o in result.outcomes:
            outcomes.write(outcome_record(o, masked))
        progress.update(tally)

    broke_off: ReadError | None = None
    try:
        numbers, records = [], []
        try:
            for number, record in source.lines(limits.max_record_bytes):
                numbers.append(number)
                records.append(record)
                if len(records) >= config.batch_size:
                    process(numbers, records)
                    numbers, records = [], []
        except ReadError as exc:  # the lines read before it are judged, tracked and written
            broke_off = exc
            log("scan_read_error", line=exc.line, offset=exc.offset, reason=exc.reason)
        if records:
            process(numbers, records)
        final = engine.finish()
        tally.add_outcomes(final)
        for o in final:
            outcomes.write(outcome_record(o, masked))
    finally:
        source.close()
        for sink in (violations, rejects, outcomes):
            sink.close()
    elapsed = time.perf_counter() - started
    progress.update(tally, final=True)
    report = build_report(engine, tally, source, elapsed, broke_off, repeats.duplicate_events)
    if config.report:
        try:
            Path(config.report).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        except OSError as exc:
            raise ScanError(f"cannot write {config.report}: {exc.strerror or exc}") from None
    if config.summary or (config.summary is None and sys.stderr.isatty() and not config.quiet):
        sys.stderr.write(render_summary(report))
    if metrics is not None and config.metrics_linger:
        # the final figures stay up for a scraper that comes after the input is over
        log("metrics_linger", seconds=config.metrics_linger)
        time.sleep(config.metrics_linger)
    if broke_off is not None:
        raise broke_off  # after every output: the one-line reason, exit 1
    return 0

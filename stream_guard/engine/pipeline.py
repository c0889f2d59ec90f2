"""The engine: raw records in, violations, rejects and reply outcomes out. No I/O, no Kafka.

`scan` and the Faust worker both feed it batches of raw bytes and move its results; so a file and
the topic give the same results for the same events. Data flows one way through a batch:
decode and validate -> native normalise+match and rule evaluation (one `judge_batch` per
platform) -> reply tracking (one `observe_batch`) -> results and metrics.
"""
from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import cast

from stream_guard.engine.events import (
    DEFAULT_LIMITS,
    TOMBSTONE,
    EventBatch,
    Limits,
    Reject,
    decode_batch,
    misrouted,
    route,
)
from stream_guard.evaluation.registry import Registry
from stream_guard.evaluation.violations import CONTRACT_VERSION, Incident, build_violations, incidents, mask_record
from stream_guard.observe.metrics import Metrics
from stream_guard.tracking.replies import Outcome, ReplyTracker

DEFAULT_LATENESS_MS = 60_000
# how often, in wall-clock seconds, per-shop figures are recomputed for Prometheus
# the per-shop figures are computed over all shops: at most this often during traffic, and at the
# next `refresh_shop_figures` after it (the worker's heartbeat, every second)
SHOP_FIGURES_EVERY_S = 2.0


def tune_gc() -> None:
    """For a process that runs the engine: each batch allocates thousands of short-lived, acyclic
    dicts, and at the default threshold (700) the cyclic collector runs every few hundred of
    them, walking the long-lived rule and reply state each time. Freezing what exists after
    start-up and collecting the young generation every 100k allocations instead takes the
    collector off the hot path (about twice the core's throughput on a generated day); cycles
    are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


@dataclass
class BatchResult:
    violations: list[dict] = field(default_factory=list)  # in input order
    rejects: list[tuple[int, Reject]] = field(default_factory=list)  # (index in the batch, why)
    skipped: list[tuple[int, Reject]] = field(default_factory=list)  # tombstones: counted, not dead letters
    outcomes: list[Outcome] = field(default_factory=list)
    events: int = 0  # valid events
    pack_version: str = ""
    decoded: EventBatch | None = None
    first_tracked: int = 0  # the position in `decoded` of the first event the reply tracker took

    @cached_property
    def incidents(self) -> list[Incident]:
        """The violations' incidents, each once (an event's violations are all in its batch, so
        its incidents are whole here): worked out once, for the metrics and scan's report."""
        return incidents(self.violations)

    @property
    def shops(self) -> set[tuple[str, str]]:
        """(platform, shop_id) whose reply state the batch changed: worked out only when asked
        (the worker asks; scan does not)."""
        if self.decoded is None:
            return set()
        start = self.first_tracked
        return set(zip(self.decoded.platform[start:], self.decoded.shop_id[start:], strict=True))


class Engine:
    def __init__(self, rules_dir: Path, platforms: Sequence[str] | None = None,
                 allowed_lateness_ms: int = DEFAULT_LATENESS_MS, limits: Limits = DEFAULT_LIMITS,
                 metrics: Metrics | None = None, wall_clock_ms: Callable[[], int] | None = None):
        self.rules = Registry(rules_dir)  # raises PackError when a pack is invalid
        served = self.rules.current.rulesets
        if platforms:
            unknown = sorted(set(platforms) - set(served))
            if unknown:
                raise ValueError(f"no rule pack for platform(s) {', '.join(unknown)} in {rules_dir}")
        self.platforms = frozenset(platforms or served)
        # reply profiles are fixed for the life of the engine: changing how a day is counted in
        # the middle of that day would mix two definitions in one figure
        self.tracker = ReplyTracker({p: served[p].pack.reply_profile for p in sorted(self.platforms)},
                                    allowed_lateness_ms=allowed_lateness_ms)
        self.limits = limits
        self.metrics = metrics
        # only for rejecting event times far in the future; all other time is event time
        self._wall_clock_ms = wall_clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._shop_figures_at = 0.0
        self._shop_figures_stale = False
        if metrics is not None:
            metrics.set_pack_versions(self.pack_versions(), CONTRACT_VERSION)

    def pack_versions(self) -> dict[str, str]:
        rulesets = self.rules.current.rulesets
        return {p: rulesets[p].version for p in sorted(self.platforms)}

    def mask_record(self, raw: bytes) -> bytes:
        """A rejected record with its personal data masked (`personal_data = masked`)."""
        return mask_record(raw, self.rules.current.rulesets.values())

    def reload_rules(self) -> list[str]:
        """Recompile the packs aside and swap them in between batches; the problems (none: done)."""
        problems = self.rules.reload()
        if not problems and self.metrics is not None:
            self.metrics.set_pack_versions(self.pack_versions(), CONTRACT_VERSION)
        return problems

    def process_batch(self, records: Sequence[bytes | None], replayed: int = 0,
                      keys: Sequence[bytes | None] | None = None) -> BatchResult:
        """Judge every record; feed the reply tracker all but the first `replayed` ones: a worker
        that restored its reply state from a changelog written after those records (a crash
        between writing state and committing offsets) must not count them twice, while their
        violations and dead letters are produced again (idempotent downstream).

        A record of no value (a Kafka tombstone) is skipped, with a count. With `keys` (the Kafka
        records' keys), an event whose key is not its shop id is rejected: it sits in a partition
        that does not hold its shop's state."""
        started = time.perf_counter()
        snapshot = self.rules.current  # one pack version for the whole batch
        now_ms = self._wall_clock_ms()
        result = BatchResult(pack_version=snapshot.version)
        if None in records:  # tombstones: skipped, the others decoded
            result.skipped = [(i, TOMBSTONE) for i, raw in enumerate(records) if raw is None]
            kept: Sequence[int] = [i for i, raw in enumerate(records) if raw is not None]
            values: Sequence[bytes] = [raw for raw in records if raw is not None]
        else:
            kept, values = range(len(records)), cast("Sequence[bytes]", records)
        events, result.rejects = self._decode(values, kept, keys, now_ms)
        result.events = len(events)
        # the position in `events` of the first record at or after `replayed`
        first_tracked = min(replayed, len(records)) - sum(
            1 for index, _ in (*result.rejects, *result.skipped) if index < replayed)

        findings_at: dict[int, list] = {}
        roles = {platform: ruleset.role_names for platform, ruleset in snapshot.rulesets.items()}
        for platform, (positions, messages) in route(events, roles).items():
            for i, findings in zip(positions, snapshot.rulesets[platform].judge_batch(messages), strict=True):
                if findings:
                    findings_at[i] = findings
        for position in sorted(findings_at):
            event = events.violation_source(position)
            result.violations += build_violations(
                event, findings_at[position], snapshot.rulesets[event["platform"]].version)

        result.decoded, result.first_tracked = events, first_tracked
        result.outcomes = self.tracker.observe_decoded(events, first_tracked)
        if self.metrics is not None:
            self._record(self.metrics, result, len(records), time.perf_counter() - started)
        return result

    def _decode(self, values: Sequence[bytes], kept: Sequence[int], keys: Sequence[bytes | None] | None,
                now_ms: int) -> tuple[EventBatch, list[tuple[int, Reject]]]:
        """The events of `values` (the records at indices `kept`) and the rejects, by record
        index; events the keys say are misrouted are decoded again without them (a rare case:
        the records of a well-keyed topic cost one decode)."""
        events, rejects = decode_batch(values, self.limits, now_ms, self.platforms)
        if not isinstance(kept, range):
            rejects = [(kept[j], reject) for j, reject in rejects]
        if keys is None:
            return events, rejects
        rejected = {index for index, _ in rejects}
        decoded = [i for i in kept if i not in rejected]
        wrong = misrouted(events, decoded, keys)
        if not wrong:
            return events, rejects
        out = {index for index, _ in wrong}
        again = [j for j, i in enumerate(kept) if i not in out and i not in rejected]
        events, _ = decode_batch([values[j] for j in again], self.limits, now_ms, self.platforms)
        return events, sorted(rejects + wrong)

    def advance_shops(self, shops: Sequence[tuple[str, str]], ts: int) -> list[tuple[str, str]]:
        """Move these shops (one partition's) to event time `ts`, the partition's: what their
        own next event would decide at that time is decided now (`ReplyTracker.advance_shops`).
        The shops whose state changed."""
        outcomes, advanced = self.tracker.advance_shops(shops, ts)
        if self.metrics is not None and advanced:
            self.metrics.record_batch(0, 0, (), (), (), outcomes, 0.0)
            self._shop_figures_stale = True
        return advanced

    def finish(self) -> list[Outcome]:
        """The input is over (end of a file): apply every held event and decide every open turn."""
        outcomes = self.tracker.finish()
        if self.metrics is not None:
            self.metrics.record_batch(0, 0, (), (), (), outcomes, 0.0)
            self._publish_shops(self.metrics)
        return outcomes

    def _record(self, metrics: Metrics, result: BatchResult, consumed: int, seconds: float) -> None:
        metrics.record_batch(consumed, result.events, (r.reason for _, r in result.rejects),
                             result.violations, result.incidents, result.outcomes, seconds)
        if result.skipped:
            metrics.skipped_records.labels(TOMBSTONE.reason).inc(len(result.skipped))
        now = time.monotonic()
        self._shop_figures_stale = True
        if now - self._shop_figures_at >= SHOP_FIGURES_EVERY_S:
            self._publish_shops(metrics)

    def refresh_shop_figures(self) -> None:
        """Publish the per-shop figures if a batch changed them since they were published: a
        scrape in a lull after a burst then reads the burst's figures, not those of its start."""
        if self.metrics is not None and self._shop_figures_stale:
            self._publish_shops(self.metrics)

    def _publish_shops(self, metrics: Metrics) -> None:
        self._shop_figures_at = time.monotonic()
        self._shop_figures_stale = False
        metrics.publish_shops(self.tracker.current_rows(), self.tracker.open_turn_count())

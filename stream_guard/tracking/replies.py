"""Reply-rate tracking in event time, per platform profile.

A turn opens at a buyer message when that buyer has no open turn in the shop, and closes at the
next qualifying reply (a human agent; a bot only where the profile says so). Events are held per
shop in a small heap and applied in (ts, event_id) order once the shop's watermark (the highest
event time seen, minus the allowed lateness) has passed them, so any arrival order within the
allowed lateness gives the same figures. An event older than the watermark when it arrives is too
late: it is counted and reported, never applied and never silently dropped.

A turn whose deadline falls behind the watermark without a reply is decided invalid then, and a
`reply_missed` notice is emitted at once (a buyer is waiting); the turn stays open to learn its
response time and ends `late` when the reply comes, or `missed` when the input ends or its day is
closed.

Figures per shop and local day follow the profile's unit:
- `turn`: each counted turn is a consult; valid when replied within the threshold;
- `buyer_day`: each buyer with a counted turn is a consult; valid when every counted turn was;
- `session`: turns of one buyer with gaps under `session_gap_s`; valid by `session_rule`
  (`first_reply`: the first turn's reply, `all_replies`: every turn's).
A turn (or session) counts when it starts inside the service hours (`count_by_start`); buyers
reported or blocked during a day are left out of that day.

Memory stays bounded in a long-running worker: a shop keeps state for its watermark's local day
and the day before only. Older days are final: their open turns end `missed` and their rows wait
in the tracker until `drain_closed_rows()` hands them over (`shop_days()` lists them until then,
with the open days). `current_rows()` gives each shop's latest day for dashboards;
`snapshot_shop()` / `restore_shop()` carry one shop's state across a restart (a changelog per
shop); the `late_events` count stays process-local. `advance_shops()` moves shops to a time they
have reached without an event of their own (the worker gives each partition's shops the
partition's time: stream_guard/worker/partition_time.py).

The tracker is native (`_native/_replies.pyx`: about half a microsecond per event while its state
is in cache, bound by memory latency beyond that; `benchmarks/test_replies_throughput.py`);
`tests/reply_oracle.py` is the pure-Python definition it is tested against, event for event.

    tracker = ReplyTracker(profiles, allowed_lateness_ms=60_000)
    outcomes = tracker.observe_batch(events)   # or observe(event), one at a time
    outcomes += tracker.finish()               # end of input: everything held is applied
    rows = tracker.shop_days()
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from stream_guard._replies import EVENT_TS_MAX, EXCLUDING_KINDS, SESSION_RULES, UNITS, Outcome, ReplyTracker

__all__ = ["EVENT_TS_MAX", "EXCLUDING_KINDS", "SESSION_RULES", "UNITS", "Outcome", "ReplyProfile", "ReplyTracker"]


@dataclass(frozen=True)
class ReplyProfile:
    platform: str
    unit: str = "turn"
    threshold_s: int = 180
    service_start: time = time(8, 0)
    service_end: time = time(23, 0)  # exclusive
    timezone: str = "Asia/Shanghai"
    count_by_start: bool = True
    session_gap_s: int = 600
    session_rule: str = "first_reply"
    bots_count: bool = False
    handoff_starts_clock: bool = False
    has_penalty: bool = False  # whether the platform penalises a shop's day at all (below)
    penalty_min_consults: int = 101  # "more than 100"
    penalty_max_rate: float = 0.5    # "under 50%"
    penalty_fine_cny: int = 0

    def in_service(self, second_of_day: int) -> bool:
        return _seconds(self.service_start) <= second_of_day < _seconds(self.service_end)


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second

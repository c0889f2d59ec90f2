"""Each input partition's event time, and when a quiet partition's time follows the wall clock.

A shop's reply state moves only with event time, and a shop's own watermark only with its own
events: a shop that has gone quiet would keep a buyer's unanswered turn open, and its day unclosed,
until it wrote again. The shops of one partition share one stream, in the order the producers
wrote it, so the partition's time (the latest event time it has carried) is what every shop of it
has reached: the worker moves each shop of the partition to that time (`ReplyTracker.advance_shops`),
and that shop's deadlines, held events and old days are decided as its own next event would
decide them.

A partition with no traffic at all has no time to give. As stream processors do for an idle
source (Beam's KafkaIO timestamp policy with limited delay, for instance), a partition that is
caught up (no lag) and has carried no record for `idle_after_s` seconds of wall-clock time is
taken to be at the wall clock less that delay, and its shops follow. A record arriving later
than that delay plus the allowed lateness (behind the wall clock) is a late event for a shop it
moved; `idle_after_s = 0` keeps event time only (for replays of old days in pieces).
"""
from __future__ import annotations


class PartitionTimes:
    def __init__(self, idle_after_s: float):
        self.idle_after_s = idle_after_s
        self._time: dict[int, int] = {}  # partition -> event time, ms since the epoch
        self._quiet_since: dict[int, float] = {}  # partition -> monotonic s of its last record

    def assigned(self, partition: int, now_s: float) -> None:
        """A partition given to this worker: quiet from now, with no time until it is known."""
        self._quiet_since.setdefault(partition, now_s)

    def revoked(self, partition: int) -> None:
        self._time.pop(partition, None)
        self._quiet_since.pop(partition, None)

    def reached(self, partition: int, ts: int | None) -> None:
        """The partition has carried (or its restored shops had reached) event time `ts`."""
        if ts is not None and ts > self._time.get(partition, ts - 1):
            self._time[partition] = ts

    def carried(self, partition: int, ts: int | None, now_s: float) -> None:
        """A batch of the partition's records came, the latest event time among them `ts`
        (None: no valid event)."""
        self._quiet_since[partition] = now_s
        self.reached(partition, ts)

    def time(self, partition: int, now_s: float, wall_ms: int, caught_up: bool) -> int | None:
        """The partition's time now: its latest event time, or, once it is caught up and has
        been quiet for `idle_after_s`, the wall clock less that delay when that is later."""
        quiet_since = self._quiet_since.get(partition)
        if self.idle_after_s > 0 and caught_up and quiet_since is not None and now_s - quiet_since >= self.idle_after_s:
            self.reached(partition, wall_ms - round(self.idle_after_s * 1000))
        return self._time.get(partition)

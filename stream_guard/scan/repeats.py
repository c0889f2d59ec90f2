"""Ids met twice in one scan: events whose `event_id` came before, counted (and still judged: the
engine is the worker's too, which delivers at least once, and a repeated id may carry a
different record), and violations whose `violation_id` was written before, written once."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable

# Event ids remembered, the latest ones: a producer's repeats come close together, and a whole
# day of ids would make a scan's memory grow with its input. Violation ids, far fewer, are all kept.
EVENT_WINDOW = 1_000_000


class Repeats:
    def __init__(self, window: int = EVENT_WINDOW):
        self.window = window
        self.duplicate_events = 0
        self._events: set[int] = set()  # hash() of the ids: a str caches it, and an int is small
        self._order: deque[int] = deque()
        self._violations: set[str] = set()

    def count_events(self, event_ids: Iterable[str]) -> int:
        """Count the ids met before among the latest `window`; how many of these were."""
        seen, order = self._events, self._order
        repeated = 0
        for event_id in event_ids:
            key = hash(event_id)
            if key in seen:
                repeated += 1
                continue
            seen.add(key)
            order.append(key)
            if len(order) > self.window:
                seen.discard(order.popleft())
        self.duplicate_events += repeated
        return repeated

    def first_written(self, violations: list[dict]) -> list[dict]:
        """The violations whose id was not written before in this run."""
        written = self._violations
        out = []
        for v in violations:
            if v["violation_id"] not in written:
                written.add(v["violation_id"])
                out.append(v)
        return out

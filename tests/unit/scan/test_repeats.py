"""Repeated ids in a scan: event ids within the window, violation ids for the whole run."""
from stream_guard.scan.repeats import Repeats


def test_event_ids_met_before_are_counted_within_the_window():
    repeats = Repeats(window=3)
    assert repeats.count_events(["a", "b", "a", "c"]) == 1
    assert repeats.count_events(["d", "a"]) == 0  # a fell out of the three latest (b, c, d)
    assert repeats.count_events(["d", "d"]) == 2
    assert repeats.duplicate_events == 3


def test_a_violation_id_is_written_once_per_run():
    repeats = Repeats()
    first = [{"violation_id": "v1"}, {"violation_id": "v2"}, {"violation_id": "v1"}]
    assert repeats.first_written(first) == [{"violation_id": "v1"}, {"violation_id": "v2"}]
    assert repeats.first_written([{"violation_id": "v2"}, {"violation_id": "v3"}]) == [{"violation_id": "v3"}]

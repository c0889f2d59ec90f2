"""The engine with the Kafka records' keys: an event keyed by another shop, or not keyed, is
rejected with its own reason and not judged or tracked; a tombstone is skipped and counted, not
rejected; records of a well-keyed batch go through as without keys."""
from __future__ import annotations

import orjson

from stream_guard.engine.pipeline import Engine
from stream_guard.evaluation.packs import default_rules_dir
from stream_guard.observe.metrics import Metrics

T0 = 1_792_461_600_000


def record(n: int, shop: str, text: str = "不开发票") -> bytes:
    return orjson.dumps({"event_id": f"e{n}", "platform": "taobao", "shop_id": shop, "conversation_id": "c1",
                         "buyer_id": "b1", "sender": "agent", "text": text, "ts": T0 + n})


def test_misrouted_events_are_rejected_and_tombstones_skipped():
    metrics = Metrics()
    engine = Engine(default_rules_dir(), metrics=metrics)
    records = [record(0, "s1"), None, record(2, "s2"), b"not json", record(4, "s1"), record(5, "s3")]
    keys = [b"s1", b"s1", b"s1", b"s1", None, b"s3"]
    result = engine.process_batch(records, keys=keys)
    assert [(i, r.reason) for i, r in result.rejects] == [(2, "key_mismatch"), (3, "invalid_json"), (4, "missing_key")]
    assert [(i, r.reason) for i, r in result.skipped] == [(1, "tombstone")]
    assert result.events == 2 and sorted(v["event_id"] for v in result.violations) == ["e0", "e5"]
    assert set(result.decoded.shop_id) == {"s1", "s3"}
    samples = {(s.name, tuple(s.labels.values())): s.value for f in metrics.registry.collect() for s in f.samples}
    assert samples[("stream_guard_skipped_records_total", ("tombstone",))] == 1
    assert samples[("stream_guard_dead_letters_total", ("key_mismatch",))] == 1


def test_a_well_keyed_batch_is_what_it_is_without_keys():
    records = [record(n, f"s{n % 3}") for n in range(30)]
    keyed = Engine(default_rules_dir()).process_batch(records, keys=[f"s{n % 3}".encode() for n in range(30)])
    plain = Engine(default_rules_dir()).process_batch(records)
    assert keyed.rejects == plain.rejects == [] and keyed.violations == plain.violations
    assert [o.event_id for o in keyed.outcomes] == [o.event_id for o in plain.outcomes]


def test_replayed_records_count_rejects_and_tombstones_before_them():
    engine = Engine(default_rules_dir())
    records = [None, record(1, "s1"), record(2, "s1"), record(3, "s1")]
    result = engine.process_batch(records, keys=[None, b"s1", b"x", b"s1"], replayed=3)
    assert result.first_tracked == 1  # events: e1, e3; the first at or after record 3 is e3

"""The worker's parts that need no broker: settings, output records and partitions, the durable
reply state's replay rule, and the engine's `replayed` records."""
from __future__ import annotations

import argparse

import orjson
import pytest
from aiokafka.partitioner import murmur2

from stream_guard.engine.events import Reject
from stream_guard.engine.pipeline import Engine
from stream_guard.evaluation.packs import default_rules_dir
from stream_guard.worker.config import ENV_VARS, SETTINGS, add_arguments, resolve
from stream_guard.worker.outputs import (
    MAX_DEAD_LETTER_VALUE,
    Outbox,
    dead_letter_record,
    misrouted_shop,
    rekeyed_record,
    reply_row_key,
    source_of,
    violation_record,
)
from stream_guard.worker.partition_time import PartitionTimes
from stream_guard.worker.state import ReplyState, offset_key, rekeyed_from_key, shop_key

DAY_MS = 86_400_000
T0 = 1_792_461_600_000  # 2026-10-20 10:00 in Shanghai


def parse(argv, environ=None):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return resolve(parser.parse_args(argv), environ or {})


# ---- settings ----------------------------------------------------------------------------------

def test_defaults_then_environment_then_flags():
    assert parse([]).broker == "localhost:9092"
    assert parse([]).input_topic == "chat-events"
    env = {"STREAM_GUARD_BROKER": "kafka://k1:9092,k2:9093", "STREAM_GUARD_BATCH_SIZE": "500"}
    config = parse([], env)
    assert config.broker == "k1:9092,k2:9093" and config.batch_size == 500
    assert parse(["--batch-size", "7"], env).batch_size == 7


@pytest.mark.parametrize("argv, env, message", [
    (["--batch-size", "0"], {}, "--batch-size"),
    ([], {"STREAM_GUARD_METRICS_PORT": "70000"}, "STREAM_GUARD_METRICS_PORT"),
    ([], {"STREAM_GUARD_BROKER": "no-port"}, "STREAM_GUARD_BROKER"),
    ([], {"STREAM_GUARD_INPUT_TOPIC": "bad topic"}, "STREAM_GUARD_INPUT_TOPIC"),
    ([], {"STREAM_GUARD_LOG_LEVEL": "loud"}, "STREAM_GUARD_LOG_LEVEL"),
    ([], {"STREAM_GUARD_BATCHSIZE": "5"}, "unknown setting(s) STREAM_GUARD_BATCHSIZE"),
    (["--violations-topic", "chat-events"], {}, "must differ"),
    (["--rules-dir", "/nonexistent/rules"], {}, "does not exist"),
    (["--session-timeout", "1"], {}, "session timeout"),
])
def test_bad_settings_name_their_source(argv, env, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(argv, env)


def test_every_setting_has_a_flag_and_a_variable():
    assert len(ENV_VARS) == len(SETTINGS)
    assert all(s.env == "STREAM_GUARD_" + s.name.upper() for s in SETTINGS)


# ---- output records ----------------------------------------------------------------------------

def test_output_partitions_follow_the_input_or_the_key():
    outbox = Outbox({"same": 4, "fewer": 3}, input_partitions=4)
    outbox.add("same", 2, (b"shop-9", b"{}", []))
    outbox.add("fewer", 2, (b"shop-9", b"{}", []))
    outbox.add("fewer", 2, (None, b"{}", []))  # no key: stays with the input partition's number
    assert set(outbox.records) == {("same", 2), ("fewer", (murmur2(b"shop-9") & 0x7FFFFFFF) % 3), ("fewer", 2)}
    assert len(outbox) == 3


def test_dead_letters_keep_the_record_and_say_why():
    key, value, headers = dead_letter_record(b"s1", b'{"x":', Reject("invalid_json", "line 1"), "t/0/7")
    assert (key, value) == (b"s1", b'{"x":')
    assert dict(headers) == {"reason": b"invalid_json", "detail": b"line 1", "source": b"t/0/7"}
    _, cut, headers = dead_letter_record(None, b"x" * (MAX_DEAD_LETTER_VALUE + 5), Reject("record_too_large"), "t/1/1")
    assert len(cut) == MAX_DEAD_LETTER_VALUE and dict(headers)["truncated"] == str(MAX_DEAD_LETTER_VALUE + 5).encode()


def test_violations_and_rows_are_keyed_for_dedupe_and_last_value_wins():
    key, value, _ = violation_record({"shop_id": "s1", "violation_id": "v"})
    assert key == b"s1" and orjson.loads(value)["violation_id"] == "v"
    assert reply_row_key({"shop_id": "s/1", "platform": "jd", "day": "2026-10-20"}) == b"s/1/jd/2026-10-20"


# ---- engine and durable state --------------------------------------------------------------------

def event(n, sender, ts, shop="s1", platform="taobao", text="在的"):
    return orjson.dumps({"event_id": f"e{n}", "platform": platform, "shop_id": shop, "conversation_id": "c",
                         "buyer_id": "b1", "sender": sender, "text": text, "ts": ts})


@pytest.fixture(scope="module")
def engines():
    return lambda: Engine(default_rules_dir(), allowed_lateness_ms=0)


def test_replayed_records_are_judged_but_not_tracked_again(engines):
    records = [event(1, "buyer", T0), event(2, "agent", T0 + 60_000, text="加我微信 abc123 发你"),
               event(3, "buyer", T0 + 120_000)]
    engine = engines()
    first = engine.process_batch(records)
    assert first.shops == {("taobao", "s1")}
    again = engines()
    again.tracker.restore_shop(engine.tracker.snapshot_shop("taobao", "s1"))
    replay = again.process_batch(records, replayed=2)
    assert [v["violation_id"] for v in replay.violations] == [v["violation_id"] for v in first.violations]
    assert replay.violations  # the WeChat diversion is found again
    assert again.tracker.shop_days() == engine.tracker.shop_days()  # only e3 was tracked, and it was already
    assert engines().process_batch(records, replayed=3).shops == set()


def test_state_round_trip_forget_and_replay_rule(engines):
    engine = engines()
    store, key_partition = {}, {}
    state = ReplyState(engine.tracker, store, key_partition)
    result = engine.process_batch([event(1, "buyer", T0), event(2, "buyer", T0, shop="s2", platform="jd")])
    state.tracked(3, result.shops, next_offset=42)
    changes = state.take_changes()
    assert sorted(k for k, _ in changes[3]) == sorted([shop_key(3, "taobao", "s1"), shop_key(3, "jd", "s2"),
                                                       offset_key(3)])
    assert store[offset_key(3)] == b"42" and key_partition[offset_key(3)] == 3
    assert state.take_changes() == {}  # nothing changed since

    other = engines()  # another worker takes partition 3 over
    taken = ReplyState(other.tracker, dict(store), {})
    assert taken.restore(3) == 2
    assert other.tracker.shop_days() == engine.tracker.shop_days()
    assert taken.replayed(3, [40, 41, 42, 43]) == 2
    assert taken.replayed(2, [0, 1]) == 0  # nothing restored for it: nothing to skip

    state.forget([3])
    assert engine.tracker.shop_count() == 0 and state.replayed(3, [1]) == 0
    assert not state.is_restored(3)


def test_a_shop_the_tracker_let_go_becomes_a_tombstone(engines):
    engine = engines()
    store = {}
    state = ReplyState(engine.tracker, store, {})
    state.tracked(0, engine.process_batch([event(1, "buyer", T0)]).shops, 1)
    state.take_changes()
    engine.tracker.forget_shop("taobao", "s1")
    assert engine.tracker.snapshot_shop("taobao", "s1") is None
    state.tracked(0, [("taobao", "s1")], 2)
    assert dict(state.take_changes()[0])[shop_key(0, "taobao", "s1")] is None
    assert shop_key(0, "taobao", "s1") not in store


def test_shop_rows_are_the_open_days_of_one_shop(engines):
    engine = engines()
    engine.process_batch([event(1, "buyer", T0), event(2, "agent", T0 + 30_000),
                          event(3, "buyer", T0 + DAY_MS), event(4, "agent", T0 + DAY_MS + 30_000)])
    rows = engine.tracker.shop_rows("taobao", "s1")
    # the last reply is at the watermark, still held (a same-time event could come): not yet valid
    assert [(r["day"], r["consults"], r["valid"]) for r in rows] == [("2026-10-20", 1, 1), ("2026-10-21", 1, 0)]
    assert engine.tracker.shop_rows("taobao", "nobody") == [] and engine.tracker.shop_rows("nowhere", "s1") == []


# ---- partition time ------------------------------------------------------------------------------


def test_a_partitions_time_is_its_latest_event_until_it_is_quiet_and_caught_up():
    times = PartitionTimes(idle_after_s=30)
    wall = T0 + 3_600_000  # an hour after the events
    assert times.time(0, 0.0, wall, caught_up=True) is None  # not assigned, nothing carried
    times.assigned(0, now_s=100.0)
    times.carried(0, T0, now_s=100.0)
    times.carried(0, T0 - 5_000, now_s=101.0)  # an older event does not move it back
    times.carried(0, None, now_s=102.0)  # a batch of rejects only
    assert times.time(0, 131.0, wall, caught_up=True) == T0  # quiet for 29 s only
    assert times.time(0, 140.0, wall, caught_up=False) == T0  # records wait: not idle
    assert times.time(0, 140.0, wall, caught_up=True) == wall - 30_000
    assert times.time(0, 141.0, wall - 60_000, caught_up=True) == wall - 30_000  # never back
    times.revoked(0)
    assert times.time(0, 200.0, wall, caught_up=True) is None
    times.assigned(1, now_s=100.0)  # quiet since its assignment, restored to a time
    times.reached(1, T0)
    assert times.time(1, 140.0, wall, caught_up=True) == wall - 30_000
    event_time_only = PartitionTimes(idle_after_s=0)
    event_time_only.carried(2, T0, now_s=0.0)
    assert event_time_only.time(2, 1e6, wall, caught_up=True) == T0


def test_partition_time_closes_a_quiet_shops_day_and_marks_it_for_the_changelog(engines):
    engine = engines()
    state = ReplyState(engine.tracker, {}, {})
    result = engine.process_batch([event(1, "buyer", T0), event(2, "agent", T0 + 30_000),
                                   event(3, "buyer", T0, shop="s2")])
    state.tracked(5, result.shops, next_offset=3)
    state.take_changes()
    assert sorted(state.shops_in(5)) == [("taobao", "s1"), ("taobao", "s2")] and state.shops_in(4) == []
    assert state.latest_time(5) == T0 + 30_000
    # another shop of the partition writes two days later: both quiet shops close their day
    state.advanced(5, engine.advance_shops(state.shops_in(5), T0 + 2 * DAY_MS))
    assert sorted(state.dirty_shops()) == [("taobao", "s1"), ("taobao", "s2")]
    rows = engine.tracker.drain_closed_rows()
    assert [(r["shop_id"], r["consults"], r["valid"], r["final"]) for r in rows] == [
        ("s1", 1, 1, True), ("s2", 1, 0, True)]
    changes = state.take_changes()
    assert offset_key(5) not in dict(changes[5])  # no record read: the offset stays
    assert engine.advance_shops(state.shops_in(5), T0 + 2 * DAY_MS + 1000) == []  # nothing more due
    state.forget([5])
    assert state.shops_in(5) == [] and state.latest_time(5) is None


# ---- re-keyed records ---------------------------------------------------------------------------------


def test_rekeyed_sources_go_to_the_changelog_and_come_back(engines):
    engine = engines()
    store, key_partition = {}, {}
    state = ReplyState(engine.tracker, store, key_partition)
    result = engine.process_batch([event(1, "buyer", T0)])
    state.rekeyed_tracked(2, result.shops, {0: 11, 3: 5})
    state.rekeyed_tracked(2, set(), {0: 7})  # a copy written again: the offset never goes back
    changes = dict(state.take_changes()[2])
    assert orjson.loads(changes[rekeyed_from_key(2)]) == {"0": 11, "3": 5}
    assert offset_key(2) not in changes  # no input record of partition 2 yet
    taken = ReplyState(engines().tracker, dict(store), {})
    taken.restore(2)
    assert taken.rekeyed_sources(2) == {0: 11, 3: 5}
    taken.forget([2])
    assert taken.rekeyed_sources(2) == {}


def test_a_misrouted_record_names_its_shop_and_a_rekeyed_one_its_source():
    value = event(1, "buyer", T0)
    assert misrouted_shop(Reject("key_mismatch", ""), value) == "s1"
    assert misrouted_shop(Reject("missing_key", ""), value) == "s1"
    assert misrouted_shop(Reject("invalid_json", ""), b"{") is None
    key, copied, headers = rekeyed_record("s1", value, "chat-events/3/1042")
    assert (key, copied) == (b"s1", value)
    assert source_of(headers) == (3, 1042)
    assert source_of([("source", b"a/topic/with/slashes/7/9")]) == (7, 9)
    assert source_of([("source", b"nonsense")]) is None and source_of(None) is None
    assert source_of([("other", b"t/1/2")]) is None

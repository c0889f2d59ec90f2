"""The native reply tracker agrees with the pure-Python oracle (`reply_oracle.py`) on random
timelines: several shops, buyers and platforms, every event kind, days crossing local midnight,
arrivals out of order within the lateness and beyond it, redelivered events; the outcome lists,
the rows, the drained rows, the current rows and the counts must be identical. Snapshots restored
into a fresh tracker must continue exactly like an uninterrupted run."""
import pickle
import random
from dataclasses import replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

import orjson
import pytest
import reply_oracle
from hypothesis import given
from hypothesis import strategies as st

from stream_guard._replies import EVENT_TS_MAX, EVENT_TS_MIN
from stream_guard.engine import events
from stream_guard.evaluation.packs import PLATFORMS, default_rules_dir, load_pack
from stream_guard.tracking.replies import Outcome, ReplyTracker

PROFILES = {p: load_pack(default_rules_dir(), p).reply for p in PLATFORMS}
TRACKED = {p: PROFILES[p] for p in PLATFORMS if p != "tmall"}  # tmall events: no profile, ignored
# the options no shipped pack uses, and a zone with daylight saving (its 25-hour day included)
VARIANTS = {
    "taobao": replace(PROFILES["taobao"], bots_count=False, handoff_starts_clock=True, threshold_s=60),
    "pinduoduo": replace(PROFILES["pinduoduo"], count_by_start=False, penalty_min_consults=2,
                         penalty_max_rate=0.9, timezone="Europe/Berlin"),
    "jd": replace(PROFILES["jd"], session_gap_s=0, count_by_start=False, session_rule="all_replies"),
    "douyin": replace(PROFILES["douyin"], session_rule="first_reply", handoff_starts_clock=False, bots_count=True,
                      service_start=time(0, 0), service_end=time(23, 30), count_by_start=False),
}
# 22:10 in Shanghai: in service hours, an hour before they end and two before midnight; and two
# hours before the night Berlin leaves summer time
STARTS = [int(datetime(2026, 11, 21, 22, 10, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000),
          int(datetime(2026, 10, 24, 22, 10, tzinfo=ZoneInfo("Europe/Berlin")).timestamp() * 1000)]

# what an event is: (sender, kind); buyers write most
ACTIONS = [("buyer", "message")] * 5 + [("agent", "message")] * 3 + [
    ("bot", "message"), ("bot", "message"), ("system", "handoff"), ("system", "buyer_reported"),
    ("system", "buyer_blocked"), ("system", "message")]
# shop ids the tracker's index keeps in its slots (short, one byte per character: latin-1 too)
# and ones it compares as objects (longer than a slot holds, or wider)
SHOP_IDS = ["s0", "s1", "s" * 36, "s" * 37, "café", "店铺0", "店铺1", "shop🛒", "x" * 300]
BUYER_IDS = ["b0", "b1", "b2", "b" * 36, "b" * 37, "josé", "买家", "🙂", ""]
# seconds to the next event: replies in time and late, session gaps, hours, days
STEPS = [0, 0, 1, 5, 20, 30, 40, 90, 170, 180, 185, 250, 400, 700, 1800, 3600, 4 * 3600, 9 * 3600, 20 * 3600, 47 * 3600]
# how long an event travels: most arrive at once, some within the lateness, a few later than it
DELAYS = [0, 0, 0, 0, 0, 2_000, 30_000, 59_000, 61_000, 180_000, 3_600_000]


@st.composite
def timelines(draw):
    """(events in arrival order, allowed lateness, profiles). Drawn from a seeded random, event by event,
    so that shrinking the length shrinks a failing timeline to a prefix of itself (and drawing
    stays fast: hypothesis draws per event field cost more than the runs they feed)."""
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 150))
    lateness = draw(st.sampled_from([0, 10_000, 60_000, 120_000]))
    profiles = draw(st.sampled_from([TRACKED, VARIANTS]))
    # a few conversations (platform, shop, buyer) sharing platforms and shops, so that replies
    # meet their questions and shops have several buyers
    platforms = rnd.sample(PLATFORMS, rnd.randint(1, 3))
    shops = rnd.choice([["s0", "s1"], rnd.sample(SHOP_IDS, 3)])
    buyers = rnd.choice([["b0", "b1", "b2"], rnd.sample(BUYER_IDS, 3)])
    conversations = [(rnd.choice(platforms), rnd.choice(shops), rnd.choice(buyers))
                     for _ in range(rnd.randint(1, 6))]
    t = rnd.choice(STARTS) + rnd.randint(0, 3600) * 1000
    sent, asked = [], None
    for i in range(n):
        t += rnd.choice(STEPS) * 1000 + rnd.choice([0, 0, 1, 999])
        if sent and rnd.random() < 0.06:  # redelivery: the same event again, later
            event = dict(rnd.choice(sent)[1])
        else:
            sender, kind = rnd.choice(ACTIONS)
            if sender != "buyer" and asked and rnd.random() < 0.5:
                platform, shop, buyer = asked  # an answer to the last question
            else:
                platform, shop, buyer = rnd.choice(conversations)
            if sender == "buyer":
                asked = (platform, shop, buyer)
            event = {"event_id": f"e{i}", "platform": platform, "shop_id": shop, "buyer_id": buyer,
                     "sender": sender, "kind": kind, "ts": t}
        sent.append((t + rnd.choice(DELAYS), event))
    return [e for _, e in sorted(sent, key=lambda x: x[0])], lateness, profiles


def key(o):
    return (o.kind, o.platform, o.shop_id, o.buyer_id, o.day, o.opened_ts, o.replied_ts, o.counted, o.event_id)


def keys(outcomes):
    return [key(o) for o in outcomes]


def by_shop(rows):
    return sorted(rows, key=lambda r: (r["platform"], r["shop_id"], r["day"]))


def state(tracker):
    return (tracker.shop_days(), by_shop(tracker.current_rows()), tracker.open_turn_count(),
            tracker.shop_count(), tracker.late_events)


@given(timelines(), st.integers(0, 150), st.data())
def test_native_agrees_with_the_oracle(timeline, cut, data):
    events, lateness, profiles = timeline
    cut = min(cut, len(events))
    native = ReplyTracker(profiles, allowed_lateness_ms=lateness)
    one_by_one = ReplyTracker(profiles, allowed_lateness_ms=lateness)
    oracle = reply_oracle.ReplyTracker(profiles, allowed_lateness_ms=lateness)

    expected = keys(oracle.observe_batch(events[:cut]))
    assert keys(native.observe_batch(events[:cut])) == expected
    assert keys([o for e in events[:cut] for o in one_by_one.observe(e)]) == expected
    assert state(native) == state(oracle) == state(one_by_one)
    platform = data.draw(st.sampled_from(PLATFORMS))
    assert by_shop(native.current_rows(platform)) == by_shop(oracle.current_rows(platform))
    if data.draw(st.booleans()):
        assert native.drain_closed_rows() == oracle.drain_closed_rows()

    expected = keys(oracle.observe_batch(events[cut:]) + oracle.finish())
    assert keys(native.observe_batch(events[cut:]) + native.finish()) == expected
    assert state(native) == state(oracle)
    assert native.drain_closed_rows() == oracle.drain_closed_rows()
    assert native.shop_days() == oracle.shop_days()


def shops_in_order(events):
    seen = {}
    for e in events:
        if e["platform"] in TRACKED:
            seen.setdefault((e["platform"], e["shop_id"]), None)
    return list(seen)


@given(timelines(), st.integers(0, 150), st.booleans())
def test_restored_snapshots_continue_like_an_uninterrupted_run(timeline, cut, drain):
    events, lateness, profiles = timeline
    cut = min(cut, len(events))
    for make in (ReplyTracker, reply_oracle.ReplyTracker):
        whole = make(profiles, allowed_lateness_ms=lateness)
        whole.observe_batch(events[:cut])
        expected_outcomes = keys(whole.observe_batch(events[cut:]) + whole.finish())

        before = make(profiles, allowed_lateness_ms=lateness)
        before.observe_batch(events[:cut])
        drained = before.drain_closed_rows() if drain else []
        snapshots = [before.snapshot_shop(*shop) for shop in shops_in_order(events[:cut])]
        after = make(profiles, allowed_lateness_ms=lateness)
        for data in snapshots:
            after.restore_shop(data)
        # deterministic: the restored state gives the same bytes back
        assert [after.snapshot_shop(*shop) for shop in shops_in_order(events[:cut])] == snapshots
        assert after.open_turn_count() == before.open_turn_count()
        assert by_shop(after.current_rows()) == by_shop(before.current_rows())

        assert keys(after.observe_batch(events[cut:]) + after.finish()) == expected_outcomes
        assert by_shop(drained + after.shop_days()) == whole.shop_days()
        assert after.shop_count() == whole.shop_count()
        assert before.late_events + after.late_events == whole.late_events


# how far a partition's time may run ahead of the events seen, when it is moved: not at all, past
# a deadline, past the lateness, past midnight and the day after (a quiet shop's day closes)
AHEAD_S = [0, 1, 90, 200, 3600, 30 * 3600, 50 * 3600]


def advancing(tracker, events, cuts, rnd):
    """Feed the events in pieces; after each, move every shop seen so far to a partition time
    at or past the latest event time so far. Everything observed and advanced, in order."""
    seen, latest, log = {}, None, []
    pieces = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
    for piece in pieces:
        log.append(keys(tracker.observe_batch(piece)))
        for e in piece:
            seen.setdefault((e["platform"], e["shop_id"]), None)
            latest = e["ts"] if latest is None else max(latest, e["ts"])
        if latest is not None:
            outcomes, advanced = tracker.advance_shops(list(seen), latest + rnd.choice(AHEAD_S) * 1000)
            log.append((keys(outcomes), advanced))
    return log


@given(timelines(), st.lists(st.integers(0, 150), max_size=6), st.integers(0, 2**32 - 1))
def test_partition_time_moves_quiet_shops_like_the_oracle(timeline, cuts, seed):
    events, lateness, profiles = timeline
    cuts = sorted({min(c, len(events)) for c in cuts})
    native = ReplyTracker(profiles, allowed_lateness_ms=lateness)
    oracle = reply_oracle.ReplyTracker(profiles, allowed_lateness_ms=lateness)
    assert advancing(native, events, cuts, random.Random(seed)) == advancing(oracle, events, cuts,
                                                                             random.Random(seed))
    assert state(native) == state(oracle)
    shops = shops_in_order(events)
    assert [native.shop_time(*shop) for shop in shops] == [oracle.shop_time(*shop) for shop in shops]
    assert keys(native.finish()) == keys(oracle.finish())
    assert native.shop_days() == oracle.shop_days()


@given(timelines(), st.integers(0, 150), st.integers(0, 2**32 - 1))
def test_a_moved_shop_restored_from_its_snapshot_continues_like_an_uninterrupted_run(timeline, cut, seed):
    events, lateness, profiles = timeline
    cut = min(cut, len(events))
    for make in (ReplyTracker, reply_oracle.ReplyTracker):
        whole = make(profiles, allowed_lateness_ms=lateness)
        advancing(whole, events[:cut], [], random.Random(seed))
        expected = keys(whole.observe_batch(events[cut:]) + whole.finish())

        before = make(profiles, allowed_lateness_ms=lateness)
        advancing(before, events[:cut], [], random.Random(seed))
        after = make(profiles, allowed_lateness_ms=lateness)
        for shop in shops_in_order(events[:cut]):
            after.restore_shop(before.snapshot_shop(*shop))
            assert after.shop_time(*shop) == before.shop_time(*shop)
        assert keys(after.observe_batch(events[cut:]) + after.finish()) == expected
        assert after.shop_days() == whole.shop_days()


def test_a_quiet_shop_hears_of_its_waiting_buyer_and_closes_its_day_by_its_partitions_time():
    events = [ev(1, "10:00:00"), ev(2, "10:00:30", "agent"), ev(3, "22:00:00", buyer="b2")]
    for tracker in both():
        tracker.observe_batch(events)
        assert tracker.advance_shops([("pinduoduo", "s1")], events[-1]["ts"]) == ([], [])  # nothing new
        # another shop's event at 22:05 in the partition: b2's deadline (22:03) is behind its watermark
        outcomes, advanced = tracker.advance_shops([("pinduoduo", "s1"), ("jd", "absent")], ev(9, "22:05:00")["ts"])
        assert [(o.kind, o.buyer_id) for o in outcomes] == [("reply_missed", "b2")]
        assert advanced == [("pinduoduo", "s1")]
        # a buyer message of 22:03:30 arrives now: older than the partition's watermark, late
        assert [o.kind for o in tracker.observe(ev(4, "22:03:30", buyer="b3"))] == ["late_event"]
        # two days on: the day is closed and final, without an event of the shop
        outcomes, _ = tracker.advance_shops([("pinduoduo", "s1")], ev(9, "00:01:10", day="2026-11-25")["ts"])
        assert [(o.kind, o.buyer_id) for o in outcomes] == [("missed", "b2")]
        rows = tracker.drain_closed_rows()
        assert [(r["day"], r["consults"], r["valid"], r["final"]) for r in rows] == [("2026-11-23", 2, 1, True)]


def test_a_shop_with_nothing_due_is_not_moved():
    for tracker in both():
        tracker.observe_batch([ev(1, "10:00:00"), ev(2, "10:00:30", "agent")])
        tracker.advance_shops([("pinduoduo", "s1")], ev(9, "10:02:00")["ts"])  # the held reply applied
        assert tracker.advance_shops([("pinduoduo", "s1")], ev(9, "12:00:00")["ts"]) == ([], [])
        assert tracker.shop_time("pinduoduo", "s1") == ev(9, "10:02:00")["ts"]
        assert tracker.shop_time("pinduoduo", "absent") is None


def ev(i, clock, sender="buyer", buyer="b1", shop="s1", kind="message", day="2026-11-23", platform="pinduoduo"):
    ts = int(datetime.fromisoformat(f"{day} {clock}").replace(tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)
    return {"event_id": f"e{i}", "platform": platform, "shop_id": shop, "buyer_id": buyer, "sender": sender,
            "ts": ts, "kind": kind}


def both():
    return ReplyTracker(PROFILES), reply_oracle.ReplyTracker(PROFILES)


def test_closed_days_are_drained_once_and_open_days_stay_bounded():
    events = []
    for d in range(1, 11):
        day = f"2026-11-{d:02d}"
        events += [ev(3 * d, "10:00:00", day=day), ev(3 * d + 1, "10:01:00", "agent", day=day),
                   ev(3 * d + 2, "12:00:00", buyer=f"w{d}", day=day)]  # never answered
    for tracker in both():
        drained = []
        for e in events:
            tracker.observe(e)
            drained += tracker.drain_closed_rows()
            assert len(tracker.shop_days()) <= 2  # the watermark's day and the day before
        assert [r["day"] for r in drained] == [f"2026-11-{d:02d}" for d in range(1, 9)]
        assert all((r["consults"], r["valid"]) == (2, 1) for r in drained)
        assert tracker.open_turn_count() == 1 and tracker.shop_count() == 1
        tracker.finish()
        assert [r["day"] for r in tracker.shop_days()] == ["2026-11-09", "2026-11-10"]


def test_a_shop_without_any_day_is_forgotten_at_the_end():
    for tracker in both():
        tracker.observe(ev(1, "10:00:00", shop="talking"))
        tracker.observe(ev(2, "10:00:30", "agent", shop="talking"))
        tracker.observe(ev(3, "10:00:00", "agent", shop="quiet"))  # nobody asked: no turn, no day
        tracker.observe(ev(4, "10:00:00", "bot", shop="bots"))
        assert tracker.shop_count() == 3
        tracker.finish()
        assert tracker.shop_count() == 1
        assert [(r["shop_id"], r["valid"]) for r in tracker.shop_days()] == [("talking", 1)]


def test_current_rows_are_each_shops_latest_day():
    events = [ev(1, "10:00:00", day="2026-11-22"), ev(2, "10:01:00", "agent", day="2026-11-22"),
              ev(3, "10:00:00", day="2026-11-23"), ev(4, "10:09:00", "agent", day="2026-11-23"),
              ev(5, "07:00:00", shop="early", day="2026-11-23"),  # before service hours: no consult
              ev(6, "09:00:00", shop="jd", platform="jd"), ev(7, "09:00:10", "agent", shop="jd", platform="jd"),
              ev(8, "12:00:00", buyer="b9", day="2026-11-23")]
    for tracker in both():
        tracker.observe_batch(events)
        tracker.finish()
        rows = by_shop(tracker.current_rows())
        assert [(r["platform"], r["shop_id"], r["day"], r["consults"], r["valid"]) for r in rows] == [
            ("jd", "jd", "2026-11-23", 1, 1), ("pinduoduo", "s1", "2026-11-23", 2, 0)]
        assert set(rows[0]) == set(tracker.shop_days()[0])
        assert [r["shop_id"] for r in tracker.current_rows("jd")] == ["jd"]
        assert tracker.current_rows("taobao") == []


def test_a_session_restarting_at_the_same_instant_is_the_same_consult():
    # with no gap allowed every turn starts a session; one starting at the instant the previous
    # one started has the same (day, buyer, start) as it, so it is the same consult
    events = [ev(1, "10:00:00", platform="jd"), ev(2, "10:00:00", "agent", platform="jd"),
              ev(3, "10:00:00", platform="jd"), ev(4, "10:00:40", "agent", platform="jd")]
    for tracker in (ReplyTracker(VARIANTS), reply_oracle.ReplyTracker(VARIANTS)):
        tracker.observe_batch(events)
        tracker.finish()
        assert [(r["consults"], r["valid"]) for r in tracker.shop_days()] == [(1, 0)]


def test_the_deadline_of_an_answered_turn_does_not_decide_the_next_one():
    # turn 1 is answered at once; turn 2 opens 20 s after turn 1 and is answered 170 s later,
    # 10 s after turn 1's deadline has passed: valid, and no reply_missed on the way
    events = [ev(1, "10:00:00"), ev(2, "10:00:10", "agent"), ev(3, "10:00:20"), ev(4, "10:03:10", "agent"),
              ev(5, "10:30:00", buyer="b2")]
    for tracker in both():
        out = tracker.observe_batch(events) + tracker.finish()
        assert [o.kind for o in out if o.buyer_id == "b1"] == ["valid", "valid"]


def test_restore_replaces_a_shops_state_and_rejects_foreign_snapshots():
    tracker = ReplyTracker(PROFILES)
    tracker.observe(ev(1, "10:00:00"))
    tracker.observe(ev(2, "10:02:00", buyer="b2"))  # the watermark passes 10:00: b1 waits
    saved = tracker.snapshot_shop("pinduoduo", "s1")
    tracker.observe(ev(3, "10:05:00", buyer="b3"))
    assert tracker.open_turn_count() == 2
    tracker.restore_shop(saved)
    assert tracker.open_turn_count() == 1 and tracker.shop_count() == 1
    assert tracker.snapshot_shop("pinduoduo", "s1") == saved
    other = ReplyTracker({"jd": PROFILES["jd"]})
    try:
        other.restore_shop(saved)
    except ValueError:
        pass
    else:
        raise AssertionError("a pinduoduo snapshot restored into a jd-only tracker")


def test_an_event_time_the_clock_cannot_place_is_refused_before_anything_changes():
    """A time past the tracker's range (day 10000 in Shanghai) or before it raises ValueError
    at that event, in a batch as one at a time, and the tracker goes on as if it had never come:
    held, it would have become the shop's latest time, and every watermark after it would have
    failed to find its local day."""
    before = [ev(1, "10:00:00"), ev(2, "10:00:30", "agent"), ev(3, "10:05:00", buyer="b2")]
    after = [ev(4, "10:09:00", "agent", buyer="b2"), ev(5, "10:20:00", buyer="b3")]
    unplaceable = [dict(ev(9, "10:06:00"), ts=ts) for ts in (EVENT_TS_MAX + 1, 10**30, EVENT_TS_MIN - 1)]
    reference = ReplyTracker(PROFILES)
    expected = reference.observe_batch(before + after) + reference.finish()

    def figures(tracker, outcomes):
        return [(o.kind, o.buyer_id) for o in outcomes], tracker.shop_days(), tracker.open_turn_count()

    for bad in unplaceable:
        one_by_one, batched = ReplyTracker(PROFILES), ReplyTracker(PROFILES)
        outcomes = [o for e in before for o in one_by_one.observe(e)]
        with pytest.raises(ValueError, match="outside the event times"):
            one_by_one.observe(bad)
        outcomes += [o for e in after for o in one_by_one.observe(e)] + one_by_one.finish()
        assert figures(one_by_one, outcomes) == figures(reference, expected)
        with pytest.raises(ValueError, match="outside the event times"):
            batched.observe_batch(before + [bad] + after)  # the events before it are taken
        outcomes = batched.observe_batch(after) + batched.finish()
        assert figures(batched, outcomes)[1:] == figures(reference, expected)[1:]
    # the decoder refuses what the tracker cannot take, so the engine never hands it over
    assert events._MAX_TS <= EVENT_TS_MAX and events._MIN_TS >= EVENT_TS_MIN


def test_outcome_is_a_small_value_object():
    o = Outcome("late", "jd", "s1", "b1", "2026-11-20", 1_000, 301_000, True)
    assert (o.kind, o.platform, o.shop_id, o.buyer_id, o.day, o.opened_ts, o.replied_ts, o.counted, o.event_id) == (
        "late", "jd", "s1", "b1", "2026-11-20", 1_000, 301_000, True, "")
    assert o.response_s == 300.0 and Outcome("missed", "jd", "s1", "b1").response_s is None
    assert o == Outcome("late", "jd", "s1", "b1", "2026-11-20", 1_000, 301_000, True, "")
    assert o != Outcome("valid", "jd", "s1", "b1", "2026-11-20", 1_000, 301_000, True, "")
    assert pickle.loads(pickle.dumps(o)) == o
    assert repr(o).startswith("Outcome(kind='late', platform='jd'")


def test_shops_are_found_by_their_ids_while_others_come_and_go():
    """Hundreds of shops with ids of every shape, a third forgotten and seen again: each event
    finds its own shop's state, a forgotten shop starts afresh, and none is made twice. Ids that
    are not str (found in the platform's dict, not its index) too."""
    ids = [f"shop{i}" for i in range(150)] + [f"{i:0>36}" for i in range(50)] + [f"{i:0>37}" for i in range(50)]
    ids += [f"店铺{i}" for i in range(30)] + [f"café{i}" for i in range(20)] + [f"🛒{i}" for i in range(20)]
    ids += list(range(1000, 1012)) + [(1, "a"), (1, "b")]
    tracker = ReplyTracker(PROFILES, allowed_lateness_ms=0)

    def round_of(sender, seconds):
        ts = STARTS[0] + seconds * 1000
        return tracker.observe_batch([{"event_id": f"{s}-{ts}", "platform": "pinduoduo", "shop_id": s, "buyer_id": "b",
                                       "sender": sender, "kind": "message", "ts": ts} for s in ids])

    round_of("buyer", 0)  # held until the shop's next event passes it
    forgotten = set(ids[::3])
    for shop_id in forgotten:
        tracker.forget_shop("pinduoduo", shop_id)
    assert tracker.shop_count() == len(ids) - len(forgotten)
    outcomes = round_of("agent", 30) + round_of("buyer", 60) + round_of("agent", 90)
    assert tracker.shop_count() == len(ids)
    outcomes += tracker.finish()
    valid = {shop_id: 0 for shop_id in ids}
    for o in outcomes:
        assert o.kind == "valid", o
        valid[o.shop_id] += 1
    # a shop that kept its state answered two questions; a forgotten one lost the first
    assert valid == {shop_id: 1 if shop_id in forgotten else 2 for shop_id in ids}


def test_buyers_are_found_by_their_ids_while_old_days_let_others_go():
    """One shop, hundreds of buyers with ids of every shape over three days: closing the first day
    lets its buyers' records go while the second day's stay, then all of them come back. Every
    figure equals the oracle's."""
    ids = [f"b{i}" for i in range(200)] + [f"{i:0>37}" for i in range(60)] + [f"买家{i}" for i in range(40)]
    day_ms = 86_400_000

    def day_of(buyers, day, answered_after_s):
        events = []
        for i, buyer in enumerate(buyers):
            ts = STARTS[0] - 12 * 3_600_000 + day * day_ms + i * 1000  # from 10:10 on, one a second
            events += [{"event_id": f"q{day}-{buyer}", "platform": "jd", "shop_id": "s", "buyer_id": buyer,
                        "sender": "buyer", "kind": "message", "ts": ts},
                       {"event_id": f"a{day}-{buyer}", "platform": "jd", "shop_id": "s", "buyer_id": buyer,
                        "sender": "agent", "kind": "message", "ts": ts + answered_after_s * 1000}]
        return sorted(events, key=lambda e: e["ts"])

    first, second = ids[::2], ids[1::2]
    events = day_of(first, 0, 30) + day_of(second, 1, 200) + day_of(ids, 2, 20)  # jd: valid within 30 s
    native, oracle = ReplyTracker(PROFILES, allowed_lateness_ms=0), reply_oracle.ReplyTracker(PROFILES, 0)
    for i in range(0, len(events), 97):
        assert keys(native.observe_batch(events[i:i + 97])) == keys(oracle.observe_batch(events[i:i + 97]))
    assert state(native) == state(oracle)
    assert keys(native.finish()) == keys(oracle.finish())
    closed = native.drain_closed_rows()
    assert closed == oracle.drain_closed_rows()
    assert [(r["day"], r["consults"], r["valid"]) for r in by_shop(closed + native.shop_days())] == [
        ("2026-11-21", len(first), len(first)), ("2026-11-22", len(second), 0), ("2026-11-23", len(ids), len(ids))]


def busy_day(seed, n_events, n_shops):
    """Events of many shops in arrival order: conversations over the platforms (each buyer asks,
    sometimes again, bots and agents answer, some late, some never, a few buyers reported), sent
    with up to 40 s of jitter and a few much later than the allowed minute."""
    rnd = random.Random(seed)
    sent = []
    while len(sent) < n_events:
        platform = rnd.choice(PLATFORMS)
        shop = f"shop{int(n_shops * rnd.random() ** 2)}"  # a few busy shops, many quiet ones
        buyer = rnd.choice([f"b{rnd.randrange(50)}", f"买家{rnd.randrange(5)}", "b" * 40])
        t = STARTS[0] + rnd.randrange(-6 * 3600, 6 * 3600) * 1000
        for sender, kind, gap_s in [("buyer", "message", 0), ("buyer", "message", rnd.choice([0, 5])),
                                    ("bot", "message", 2), ("system", "handoff", 10),
                                    ("agent", "message", rnd.choice([20, 60, 170, 200, 900])),
                                    ("system", rnd.choice(["message", "buyer_reported"]), 30)]:
            if rnd.random() < 0.85:
                t += gap_s * 1000
                delay = rnd.randrange(40_000) if rnd.random() < 0.98 else rnd.randrange(61_000, 600_000)
                sent.append((t + delay, {"event_id": f"e{len(sent)}", "platform": platform, "shop_id": shop,
                                         "buyer_id": buyer, "conversation_id": buyer, "sender": sender, "kind": kind,
                                         "text": "好", "ts": t}))
    return [e for _, e in sorted(sent, key=lambda x: x[0])]


def test_batches_of_thousands_agree_with_the_oracle_whichever_way_they_come():
    """observe_batch and observe_decoded take events a few hundred at a time through their passes
    (find the shops, hold and take what the watermark passed, apply): batches far larger than
    that, of decoded columns or of dicts, give the oracle's outcomes and rows, with late events
    reported where they arrive."""
    from stream_guard.engine.events import Limits, decode_batch

    events = busy_day(seed=3, n_events=6000, n_shops=300)
    decoded, rejects = decode_batch([orjson.dumps(e) for e in events], Limits(), STARTS[0] + 86_400_000, PLATFORMS)
    assert not rejects and len(decoded) == len(events)
    oracle, dicts, columns = (reply_oracle.ReplyTracker(PROFILES, 60_000), ReplyTracker(PROFILES, 60_000),
                              ReplyTracker(PROFILES, 60_000))
    expected = keys(oracle.observe_batch([decoded.event(i) for i in range(len(decoded))]))
    assert {"valid", "late", "reply_missed", "late_event"} <= {k[0] for k in expected} and len(expected) > 500
    assert keys(dicts.observe_batch(events)) == expected
    records = [orjson.dumps(e) for e in events]
    got = []
    for begin, end, start in [(0, 1, 0), (0, 1500, 1), (1500, len(records), 0)]:  # from a position, as the engine does
        got += columns.observe_decoded(decode_batch(records[begin:end], Limits(), STARTS[0] + 86_400_000, PLATFORMS)[0],
                                       start)
    assert keys(got) == expected
    assert state(dicts) == state(columns) == state(oracle)
    assert keys(dicts.finish()) == keys(columns.finish()) == keys(oracle.finish())
    assert dicts.shop_days() == columns.shop_days() == oracle.shop_days()

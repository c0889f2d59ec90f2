"""Reply tracking on timelines whose figures are worked out by hand."""
import random
from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import example, given
from hypothesis import strategies as st

from stream_guard.evaluation.packs import PLATFORMS, default_rules_dir, load_pack
from stream_guard.tracking.replies import ReplyTracker

SHANGHAI = ZoneInfo("Asia/Shanghai")
PROFILES = {p: load_pack(default_rules_dir(), p).reply for p in PLATFORMS}
DAY = "2026-11-23"


def ts(clock: str, day: str = DAY) -> int:
    return int(datetime.fromisoformat(f"{day} {clock}").replace(tzinfo=SHANGHAI).timestamp() * 1000)


_ids = iter(range(10**9))


def ev(platform, clock, sender="buyer", buyer="b1", shop="s1", kind="message", day=DAY):
    return {"event_id": f"e{next(_ids)}", "platform": platform, "shop_id": shop, "buyer_id": buyer,
            "sender": sender, "ts": ts(clock, day), "kind": kind}


def run(events, lateness_ms=60_000):
    tracker = ReplyTracker(PROFILES, allowed_lateness_ms=lateness_ms)
    outcomes = []
    for e in events:
        outcomes += tracker.observe(e)
    outcomes += tracker.finish()
    return tracker, outcomes


def figures(events, **kw):
    tracker, _ = run(events, **kw)
    return [(r["shop_id"], r["day"], r["consults"], r["valid"]) for r in tracker.shop_days()]


def one(events, **kw):
    rows = figures(events, **kw)
    return (rows[0][2], rows[0][3]) if rows else (0, 0)


P = "pinduoduo"


def test_pdd_reply_in_120_s_is_valid_in_240_s_is_not():
    assert one([ev(P, "10:00:00"), ev(P, "10:02:00", "agent")]) == (1, 1)
    assert one([ev(P, "10:00:00"), ev(P, "10:04:00", "agent")]) == (1, 0)


def test_pdd_service_hours_by_start():
    assert one([ev(P, "07:50:00"), ev(P, "08:10:00", "agent")]) == (0, 0)
    assert one([ev(P, "22:59:00"), ev(P, "23:05:00", "agent")]) == (1, 0)


def test_pdd_bot_reply_does_not_count_the_human_one_decides():
    assert one([ev(P, "10:00:00"), ev(P, "10:00:05", "bot"), ev(P, "10:04:00", "agent")]) == (1, 0)


def test_pdd_buyer_day_with_one_good_and_one_slow_turn_is_invalid():
    events = [ev(P, "10:00:00"), ev(P, "10:01:00", "agent"), ev(P, "15:00:00"), ev(P, "15:05:00", "agent")]
    assert one(events) == (1, 0)


def test_pdd_reported_buyer_is_left_out_of_the_day():
    events = [ev(P, "10:00:00"), ev(P, "10:01:00", "agent"), ev(P, "10:00:00", buyer="b2"),
              ev(P, "10:09:00", "agent", buyer="b2"), ev(P, "11:00:00", "system", buyer="b2", kind="buyer_reported")]
    assert one(events) == (1, 1)


def test_pdd_three_buyer_messages_before_one_reply_are_one_turn():
    events = [ev(P, "10:00:00"), ev(P, "10:00:30"), ev(P, "10:01:00"), ev(P, "10:02:30", "agent")]
    tracker, outcomes = run(events)
    assert [o.kind for o in outcomes if o.kind in ("valid", "late", "missed")] == ["valid"]
    assert one(events) == (1, 1)


def pdd_day(buyers, valid, platform=P):
    asks = [ev(platform, "10:00:00", buyer=f"b{i}") for i in range(buyers)]
    replies = [ev(platform, "10:01:00" if i < valid else "10:05:00", "agent", buyer=f"b{i}") for i in range(buyers)]
    tracker, _ = run(asks + sorted(replies, key=lambda e: e["ts"]))
    return tracker.shop_days()[0]


def test_pdd_penalty_risk():
    assert pdd_day(120, 50)["penalty_risk"] and pdd_day(120, 50)["penalty_fine_cny"] == 1000
    assert not pdd_day(101, 51)["penalty_risk"]
    assert not pdd_day(100, 10)["penalty_risk"]  # not over 100


def test_only_a_platform_with_a_penalty_puts_a_day_at_risk():
    """Taobao and JD count valid replies, and fine no shop-day for them: no [reply.penalty]. (Douyin's
    turns open at a hand-off, which these days have not.)"""
    for platform in ("taobao", "tmall", "jd", "pinduoduo"):
        row = pdd_day(120, 10, platform)
        assert row["rate"] < 0.5 and row["penalty_risk"] == PROFILES[platform].has_penalty, platform
        assert row["penalty_fine_cny"] == (PROFILES[platform].penalty_fine_cny if row["penalty_risk"] else 0)
    assert [p for p in PLATFORMS if PROFILES[p].has_penalty] == ["pinduoduo"]


def test_taobao_turns():
    T = "taobao"
    first = [ev(T, "10:10:15"), ev(T, "10:15:20"), ev(T, "10:18:10", "agent")]
    assert one(first) == (1, 0)
    assert one(first + [ev(T, "10:18:30"), ev(T, "10:19:00", "agent")]) == (2, 1)


def test_jd_sessions():
    J = "jd"
    assert one([ev(J, "08:56:00"), ev(J, "09:01:00", "agent")]) == (0, 0)
    # a buyer writing again within 10 minutes of the closed session continues it
    events = [ev(J, "10:00:00"), ev(J, "10:00:20", "agent"), ev(J, "10:08:00"), ev(J, "10:09:00", "agent")]
    assert one(events) == (1, 1)
    events = [ev(J, "10:00:00"), ev(J, "10:00:20", "agent"), ev(J, "10:20:00"), ev(J, "10:21:00", "agent")]
    assert one(events) == (2, 1)


def test_douyin_one_late_reply_makes_the_session_invalid():
    D = "douyin"
    events = [ev(D, "10:00:00"), ev(D, "10:00:10", "bot"), ev(D, "10:00:30", "system", kind="handoff"),
              ev(D, "10:01:00", "agent"), ev(D, "10:02:00"), ev(D, "10:06:00", "agent")]
    assert one(events) == (1, 0)
    events = [ev(D, "10:00:00"), ev(D, "10:00:10", "bot")]  # bot-only: not counted
    assert one(events) == (0, 0)


def test_douyin_a_hand_off_lasts_for_its_session():
    D = "douyin"
    first = [ev(D, "10:00:00"), ev(D, "10:00:02", "bot"), ev(D, "10:00:20", "system", kind="handoff"),
             ev(D, "10:00:40", "agent")]
    # back an hour later, served by the bot alone: that session is not counted
    assert one(first + [ev(D, "11:00:00"), ev(D, "11:00:02", "bot")]) == (1, 1)
    # back an hour later and handed off again at 11:04: the clock starts at the hand-off
    assert one(first + [ev(D, "11:00:00"), ev(D, "11:00:02", "bot"),
                        ev(D, "11:04:00", "system", kind="handoff"), ev(D, "11:04:30", "agent")]) == (2, 2)
    # within the session gap the hand-off still holds: the buyer's message starts the clock
    assert one(first + [ev(D, "10:05:00"), ev(D, "10:09:00", "agent")]) == (1, 0)


def test_missed_is_emitted_when_the_watermark_passes_the_deadline():
    tracker = ReplyTracker(PROFILES, allowed_lateness_ms=10_000)
    assert tracker.observe(ev(P, "10:00:00")) == []
    assert tracker.observe(ev(P, "10:03:05", buyer="b2")) == []   # watermark 10:02:55 < deadline
    notices = tracker.observe(ev(P, "10:03:20", buyer="b3"))      # watermark 10:03:10 > 10:03:00
    assert [(o.kind, o.buyer_id) for o in notices] == [("reply_missed", "b1")]
    assert tracker.observe(ev(P, "10:05:00", "agent")) == []  # held until the watermark passes it
    closed = tracker.observe(ev(P, "10:05:20", buyer="b4"))
    assert [(o.kind, o.response_s) for o in closed if o.buyer_id == "b1"] == [("late", 300.0)]


def test_events_later_than_the_allowed_lateness_are_reported():
    tracker = ReplyTracker(PROFILES, allowed_lateness_ms=10_000)
    tracker.observe(ev(P, "10:05:00"))
    late = tracker.observe(ev(P, "10:00:00", buyer="b9"))
    assert [o.kind for o in late] == ["late_event"] and tracker.late_events == 1


day_events = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(["buyer", "agent", "bot"]), st.integers(0, 2400)),
    min_size=1, max_size=40)


@example(spec=[(0, "buyer", 0)] * 9 + [(0, "buyer", 536), (0, "buyer", 1136), (0, "agent", 536), (1, "buyer", 656)],
         platform="jd", rnd=random.Random(3))  # an event exactly at the watermark arrived after its twin
@given(day_events, st.sampled_from(PLATFORMS), st.randoms(use_true_random=False))
def test_any_shuffle_within_the_allowed_lateness_gives_the_same_figures(spec, platform, rnd):
    base = ts("10:00:00")
    events = [{"event_id": f"e{i}", "platform": platform, "shop_id": "s", "buyer_id": f"b{b}",
               "sender": sender, "ts": base + sec * 1000, "kind": "message"}
              for i, (b, sender, sec) in enumerate(sorted(spec, key=lambda x: x[2]))]
    lateness = 120_000
    ordered = figures(events, lateness_ms=lateness)
    # shuffle, but never let an event fall more than the allowed lateness behind the newest one:
    # the next to arrive is any of the waiting events within the lateness of the oldest waiting
    shuffled, pool = [], sorted(events, key=lambda e: e["ts"])
    while pool:
        choices = [e for e in pool[:8] if e["ts"] <= pool[0]["ts"] + lateness]
        pick = rnd.choice(choices)
        pool.remove(pick)
        shuffled.append(pick)
    assert figures(shuffled, lateness_ms=lateness) == ordered


def test_only_the_current_and_previous_day_are_kept():
    events = []
    for i, day in enumerate(["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"]):
        events += [ev(P, "10:00:00", day=day), ev(P, "10:01:00" if i % 2 else "10:09:00", "agent", day=day)]
    events.append(ev(P, "10:00:00", buyer="waiting", day="2026-11-20"))  # late: reported, not applied
    tracker = ReplyTracker(PROFILES, allowed_lateness_ms=60_000)
    for e in events[:-1]:
        tracker.observe(e)
    # the two older days are closed: their rows wait to be drained; only two days stay open
    # (the last day's events are still held within the allowed lateness)
    assert [(r["day"], r["consults"], r["valid"], r["final"]) for r in tracker.shop_days()] == [
        ("2026-11-20", 1, 0, True), ("2026-11-21", 1, 1, True), ("2026-11-22", 1, 0, False)]
    assert [(r["day"], r["consults"], r["valid"], r["final"]) for r in tracker.drain_closed_rows()] == [
        ("2026-11-20", 1, 0, True), ("2026-11-21", 1, 1, True)]
    assert tracker.drain_closed_rows() == []
    assert [o.kind for o in tracker.observe(events[-1])] == ["late_event"]
    tracker.finish()
    assert [(r["day"], r["consults"], r["valid"]) for r in tracker.shop_days()] == [
        ("2026-11-22", 1, 0), ("2026-11-23", 1, 1)]


def test_an_unanswered_turn_of_a_closed_day_ends_missed():
    tracker = ReplyTracker(PROFILES, allowed_lateness_ms=60_000)
    tracker.observe(ev(P, "10:00:00", day="2026-11-21"))
    out = tracker.observe(ev(P, "10:00:00", buyer="b2", day="2026-11-23"))
    assert [o.kind for o in out] == ["reply_missed", "missed"]
    closed = tracker.drain_closed_rows()
    assert closed[0]["day"] == "2026-11-21" and closed[0]["valid"] == 0

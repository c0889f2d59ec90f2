"""`stream_guard.gen.truth`: the generator's own reply figures, from the turns it knows it made, per
profile unit; each case is also run through the reply tracker, which must agree."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from stream_guard.evaluation.packs import PLATFORMS, default_rules_dir, load_pack
from stream_guard.gen.conversation import Message
from stream_guard.gen.truth import LocalClock, ShopTruth, day_rows, fold_turns
from stream_guard.tracking.replies import ReplyTracker

SHANGHAI = ZoneInfo("Asia/Shanghai")
PROFILES = {p: load_pack(default_rules_dir(), p).reply for p in PLATFORMS}


def ts(clock: str) -> int:
    return int(datetime.fromisoformat(f"2026-10-20 {clock}").replace(tzinfo=SHANGHAI).timestamp() * 1000)


def figures(platform: str, spec: list[tuple[str, str, str, int]]) -> list[tuple[int, int]]:
    """(consults, valid) per day of one buyer's conversation, (clock, sender, kind, session) each;
    the reply tracker's figures for the same events must be the same."""
    messages = [Message(ts(clock), sender, kind, "", session, None) for clock, sender, kind, session in spec]
    truth = ShopTruth()
    fold_turns(truth, messages, "b", PROFILES[platform], LocalClock())
    mine = day_rows(platform, "s", truth, PROFILES[platform])
    tracker = ReplyTracker(PROFILES)
    for i, m in enumerate(messages):
        tracker.observe({"event_id": f"e{i}", "platform": platform, "shop_id": "s", "buyer_id": "b",
                         "sender": m.sender, "kind": m.kind, "text": "", "ts": m.ts})
    tracker.finish()
    keys = ("platform", "shop_id", "day", "consults", "valid", "rate", "penalty_risk")
    assert [{k: r[k] for k in keys} for r in tracker.shop_days()] == mine
    return [(r["consults"], r["valid"]) for r in mine]


def msg(clock: str, sender: str, session: int = 0, kind: str = "message") -> tuple[str, str, str, int]:
    return clock, sender, kind, session


def test_turns_are_valid_within_the_threshold_to_the_millisecond():
    # Taobao counts turns, 180 s
    assert figures("taobao", [msg("10:00:00", "buyer"), msg("10:03:00", "agent"),
                              msg("10:05:00", "buyer"), msg("10:08:00.001", "agent")]) == [(2, 1)]


def test_bots_answer_where_the_profile_counts_them():
    bot_then_agent = [msg("10:00:00", "buyer"), msg("10:00:02", "bot"), msg("10:05:00", "agent")]
    assert figures("taobao", bot_then_agent) == [(1, 1)]
    assert figures("pinduoduo", bot_then_agent) == [(1, 0)]


def test_a_buyer_day_is_valid_only_when_every_turn_was():
    spec = [msg("10:00:00", "buyer"), msg("10:01:00", "agent"), msg("10:05:00", "buyer"), msg("10:09:00", "agent")]
    assert figures("pinduoduo", spec) == [(1, 0)]
    assert figures("pinduoduo", spec[:2]) == [(1, 1)]


def test_a_session_counts_its_first_reply_or_all_of_them():
    # JD: sessions, first reply, 30 s; Douyin: all replies, the clock from the hand-off
    late_second = [msg("10:00:00", "buyer"), msg("10:00:20", "agent"), msg("10:03:00", "buyer"),
                   msg("10:06:30", "agent")]  # the second reply late on both
    assert figures("jd", late_second) == [(1, 1)]
    handed_off = [msg("10:00:00", "buyer"), msg("10:00:02", "bot"), msg("10:00:20", "system", kind="handoff")]
    assert figures("douyin", handed_off + late_second[1:]) == [(1, 0)]


def test_unanswered_out_of_hours_and_excluded_buyers():
    assert figures("taobao", [msg("10:00:00", "buyer")]) == [(1, 0)]  # never answered: invalid
    assert figures("taobao", [msg("07:59:59", "buyer"), msg("08:00:30", "agent")]) == []
    assert figures("jd", [msg("08:30:00", "buyer"), msg("08:30:10", "agent")]) == []  # JD opens at 9
    reported = [msg("10:00:00", "buyer"), msg("10:01:00", "agent"), msg("10:02:00", "system", kind="buyer_reported")]
    assert figures("taobao", reported) == []


def test_a_douyin_buyer_who_comes_back_starts_with_the_bot_again():
    served = [msg("10:00:00", "buyer"), msg("10:00:02", "bot"), msg("10:00:20", "system", kind="handoff"),
              msg("10:00:40", "agent")]
    # an hour later the bot answers alone: a bot-only session, not counted
    bot_only = figures("douyin", served + [msg("11:00:00", "buyer", 1), msg("11:00:02", "bot", 1)])
    # an hour later the buyer is handed off again at 11:04 and answered 30 s later: valid
    again = figures("douyin", served + [msg("11:00:00", "buyer", 1), msg("11:00:02", "bot", 1),
                                        msg("11:04:00", "system", 1, "handoff"), msg("11:04:30", "agent", 1)])
    assert (bot_only, again) == ([(1, 1)], [(2, 2)])


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "America/New_York"])
def test_the_local_clock_agrees_with_datetime_across_days_and_clock_changes(zone):
    clock, tz = LocalClock(), ZoneInfo(zone)
    start = int(datetime(2026, 3, 7, tzinfo=tz).timestamp() * 1000)
    for ms in range(start, start + 30 * 86_400_000, 997 * 60_000):  # every 16.6 minutes for 30 days
        local = datetime.fromtimestamp(ms // 1000, tz)
        assert clock(ms, zone) == (local.date().isoformat(), local.hour * 3600 + local.minute * 60 + local.second)

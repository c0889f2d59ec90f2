"""The true reply figures of the day's shops, worked out from what the generator knows of every
turn it made, not by running the reply tracker (the tests compare the two).

What the generator knows: the sessions it made (gaps over 10 minutes between them, under between
turns), whether the buyer was with the bot or a human (Douyin: each session starts with the bot,
the clock starts at the hand-off), which senders reply."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

from stream_guard.gen.conversation import Message
from stream_guard.tracking.replies import ReplyProfile

EXCLUDING = ("buyer_reported", "buyer_blocked")  # system events that take the buyer's day out of the figures

UnitKey = tuple[str, str] | tuple[str, str, int]  # (day, buyer), plus the session or turn by unit


@dataclass(slots=True)
class ReplyUnit:
    """One consult of the profile's unit: counted when it started in service hours."""
    counted: bool = False
    valid: bool = True
    decided: int = 0  # turns decided


@dataclass
class ShopTruth:
    units: dict[UnitKey, ReplyUnit] = field(default_factory=dict)
    excluded: set[tuple[str, str]] = field(default_factory=set)  # (day, buyer) pairs left out


class LocalClock:
    """(local day, second of day) of an epoch-millisecond time in a zone; remembers each zone's
    current day, as the times come mostly in order."""

    def __init__(self) -> None:
        self._days: dict[str, tuple[int, int, str]] = {}

    def __call__(self, ts: int, zone: str) -> tuple[str, int]:
        cached = self._days.get(zone)
        if cached and cached[0] <= ts < cached[1]:
            return cached[2], (ts - cached[0]) // 1000
        tz = ZoneInfo(zone)
        local = datetime.fromtimestamp(ts // 1000, tz)
        midnight = datetime.combine(local.date(), dt_time(), tz)
        following = datetime.combine(local.date() + timedelta(days=1), dt_time(), tz)
        if midnight.utcoffset() == following.utcoffset():  # no clock change that day: offsets are exact
            self._days[zone] = (int(midnight.timestamp() * 1000), int(following.timestamp() * 1000),
                                local.date().isoformat())
        return local.date().isoformat(), local.hour * 3600 + local.minute * 60 + local.second


def _seconds(t: dt_time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def fold_turns(truth: ShopTruth, messages: Sequence[Message], buyer: str, prof: ReplyProfile,
               clock: LocalClock) -> None:
    """Fold the turns of one conversation (its messages in time order) into its shop's figures,
    under the platform's profile."""
    threshold = prof.threshold_s * 1000
    open_s, close_s = _seconds(prof.service_start), _seconds(prof.service_end)
    bot_first = prof.handoff_starts_clock
    units = truth.units
    session_unit: tuple[UnitKey, bool] | None = None
    turns = 0

    def open_turn(ts: int, session: int) -> tuple[int, UnitKey, bool]:
        nonlocal session_unit, turns
        day, second = clock(ts, prof.timezone)
        in_hours = open_s <= second < close_s
        key: UnitKey
        if prof.unit == "session":
            if session_unit is None:
                session_unit = ((day, buyer, session), in_hours)
            key, counted = session_unit
        elif prof.unit == "buyer_day":
            key, counted = (day, buyer), in_hours
        else:
            turns += 1
            key, counted = (day, buyer, turns), in_hours
        unit = units.setdefault(key, ReplyUnit())
        unit.counted = unit.counted or counted
        return ts, key, counted

    def decide(turn: tuple[int, UnitKey, bool], valid: bool) -> None:
        _, key, counted = turn
        if not counted:
            return
        unit = units[key]
        if prof.unit == "session" and prof.session_rule == "first_reply":
            if unit.decided == 0:
                unit.valid = valid
        else:
            unit.valid = unit.valid and valid
        unit.decided += 1

    opened: tuple[int, UnitKey, bool] | None = None
    current = None
    with_human = not bot_first
    for m in messages:
        if m.session != current:
            current = m.session
            session_unit = None
            if bot_first:
                with_human = False
        if m.kind in EXCLUDING:
            truth.excluded.add((clock(m.ts, prof.timezone)[0], buyer))
        elif m.kind == "handoff":
            with_human = True
            if bot_first and opened is None:
                opened = open_turn(m.ts, m.session)
        elif m.sender == "buyer":
            if with_human and opened is None:
                opened = open_turn(m.ts, m.session)
        elif m.sender == "agent" or (m.sender == "bot" and prof.bots_count):
            if opened is not None:
                decide(opened, m.ts - opened[0] <= threshold)
                opened = None
    if opened is not None:
        decide(opened, False)


def day_rows(platform: str, shop_id: str, truth: ShopTruth, prof: ReplyProfile) -> list[dict[str, Any]]:
    """The shop's reply figures per local day, as the reply tracker reports them."""
    per_day: dict[str, list[int]] = {}
    for key, unit in truth.units.items():
        day, buyer = key[0], key[1]
        if not unit.counted or (day, buyer) in truth.excluded:
            continue
        tally = per_day.setdefault(day, [0, 0])
        tally[0] += 1
        tally[1] += bool(unit.valid and unit.decided)
    rows = []
    for day in sorted(per_day):
        consults, valid = per_day[day]
        rate = valid / consults
        rows.append({"platform": platform, "shop_id": shop_id, "day": day,
                     "consults": consults, "valid": valid, "rate": rate,
                     "penalty_risk": prof.has_penalty and consults >= prof.penalty_min_consults
                     and rate < prof.penalty_max_rate})
    return rows

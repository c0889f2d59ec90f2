"""The pure-Python reply tracker: the oracle the native core (`stream_guard._replies`) must agree with.

It is the reference implementation of the model described in `stream_guard.tracking.replies`, written for
clarity rather than speed: events are held as dicts, units are keyed by tuples, days by their ISO
strings. The native core keeps the same state in typed objects and C heaps; the property tests in
`test_replies_native.py` require identical outcomes, rows and restored-snapshot behaviour.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

from stream_guard.tracking.replies import EXCLUDING_KINDS, ReplyProfile

SNAPSHOT_VERSION = "oracle-1"


class LocalClock:
    """Local day and second of day of event times in one zone. The bounds of the last local day
    are kept, so an event inside it costs two comparisons instead of a datetime; a day with an
    offset change (daylight saving) is computed event by event."""

    def __init__(self, zone: str):
        self.zone = ZoneInfo(zone)
        self._start = self._end = 0
        self._day = ""

    def at(self, ts: int) -> tuple[str, int]:
        if self._start <= ts < self._end:
            return self._day, (ts - self._start) // 1000
        local = datetime.fromtimestamp(ts / 1000, self.zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        following = midnight + timedelta(days=1)  # wall-clock arithmetic: the next local midnight
        if midnight.utcoffset() == following.utcoffset():
            self._start = int(midnight.timestamp() * 1000)
            self._end = int(following.timestamp() * 1000)
            self._day = midnight.date().isoformat()
        return local.date().isoformat(), local.hour * 3600 + local.minute * 60 + local.second


@dataclass
class Outcome:
    """A decided turn (`valid`, `late`, `missed`), a `reply_missed` notice, or a `late_event`."""
    kind: str
    platform: str
    shop_id: str
    buyer_id: str
    day: str = ""
    opened_ts: int = 0
    replied_ts: int | None = None
    counted: bool = False
    event_id: str = ""

    @property
    def response_s(self) -> float | None:
        return None if self.replied_ts is None else (self.replied_ts - self.opened_ts) / 1000


@dataclass
class _Turn:
    buyer_id: str
    opened_ts: int
    day: str
    counted: bool
    unit_key: tuple  # what the turn counts towards: (day, buyer) / (day, buyer, session start)
    overdue: bool = False


@dataclass
class _Unit:
    """One consult: a turn, a buyer-day or a session."""
    counted: bool
    valid: bool = True
    decided_turns: int = 0


@dataclass
class _Session:
    start_ts: int
    last_ts: int
    key: tuple
    start_second: int  # local second of day the session started


@dataclass
class _Shop:
    platform: str
    shop_id: str
    pending: list = field(default_factory=list)  # heap of (ts, event_id, seq, event)
    max_ts: int | None = None
    open_turns: dict[str, _Turn] = field(default_factory=dict)
    units: dict[tuple, _Unit] = field(default_factory=dict)
    sessions: dict[str, _Session] = field(default_factory=dict)
    handed_off: set = field(default_factory=set)
    excluded: dict[str, set] = field(default_factory=dict)  # day -> buyers
    turn_counter: int = 0
    deadlines: list = field(default_factory=list)  # heap of (deadline, opened_ts, buyer)
    oldest_day: str | None = None  # the oldest local day with state
    watermark_day: str = ""  # the local day of the watermark at the last day-closing check


def _row_key(row: dict) -> tuple:
    return row["platform"], row["shop_id"], row["day"]


class ReplyTracker:
    def __init__(self, profiles: dict[str, ReplyProfile], allowed_lateness_ms: int = 60_000):
        self.profiles = profiles
        self.lateness = allowed_lateness_ms
        self.shops: dict[tuple[str, str], _Shop] = {}
        self._seq = 0
        self._clocks = {p: LocalClock(prof.timezone) for p, prof in profiles.items()}
        self.late_events = 0
        self._closed: dict[tuple[str, str], list[dict]] = {}  # figures of closed days, until drained

    # ---- input -------------------------------------------------------------------------------

    def observe(self, event) -> list[Outcome]:
        """Take one validated chat event; return what was decided because of it."""
        platform = event["platform"]
        if platform not in self.profiles:
            return []
        key = (platform, event["shop_id"])
        shop = self.shops.get(key)
        if shop is None:
            shop = self.shops[key] = _Shop(platform, event["shop_id"])
        ts = event["ts"]
        if shop.max_ts is not None and ts < shop.max_ts - self.lateness:
            self.late_events += 1
            return [Outcome("late_event", platform, shop.shop_id, event.get("buyer_id", ""),
                            opened_ts=ts, event_id=event.get("event_id", ""))]
        self._seq += 1
        heapq.heappush(shop.pending, (ts, event.get("event_id", ""), self._seq, event))
        if shop.max_ts is None or ts > shop.max_ts:
            shop.max_ts = ts
        return self._advance(shop, shop.max_ts - self.lateness)

    def observe_batch(self, events) -> list[Outcome]:
        out: list[Outcome] = []
        for event in events:
            out += self.observe(event)
        return out

    def finish(self) -> list[Outcome]:
        """The input is over: apply everything held and decide every open turn. Shops left
        without any day (no turn was ever opened, or all their days are closed) are forgotten."""
        out: list[Outcome] = []
        for shop in self.shops.values():
            out += self._advance(shop, None)
            for buyer in sorted(shop.open_turns):
                out.append(self._close(shop, shop.open_turns[buyer], None))
            shop.open_turns.clear()
        for key in [k for k, s in self.shops.items() if not s.units and not s.open_turns and not s.pending]:
            del self.shops[key]
        return out

    # ---- event time ----------------------------------------------------------------------------

    def _advance(self, shop: _Shop, watermark: int | None) -> list[Outcome]:
        out: list[Outcome] = []
        profile = self.profiles[shop.platform]
        threshold = profile.threshold_s * 1000
        # strictly older than the watermark: an event at the watermark itself may still arrive
        while shop.pending and (watermark is None or shop.pending[0][0] < watermark):
            ts, _, _, event = heapq.heappop(shop.pending)
            # turns whose deadline passed before this event are overdue now
            out += self._mark_overdue(shop, ts - 1, threshold)
            out += self._apply(shop, profile, event)
        if watermark is not None:
            out += self._mark_overdue(shop, watermark, threshold)
            out += self._close_old_days(shop, watermark)
        return out

    def advance_shops(self, shops, ts: int) -> tuple[list[Outcome], list[tuple[str, str]]]:
        """Event time has reached `ts` for these shops (their partition's): each shop behind it
        whose state the watermark would change moves to it, as though an event at `ts` had come
        that changes nothing else. The outcomes and the shops moved."""
        out: list[Outcome] = []
        advanced = []
        watermark = ts - self.lateness
        for key in shops:
            shop = self.shops.get(tuple(key))
            if shop is None or shop.max_ts is None or ts <= shop.max_ts or not self._due(shop, watermark):
                continue
            shop.max_ts = ts
            out += self._advance(shop, watermark)
            advanced.append(key)
        return out, advanced

    def _due(self, shop: _Shop, watermark: int) -> bool:
        threshold = self.profiles[shop.platform].threshold_s * 1000
        return bool(
            (shop.pending and shop.pending[0][0] < watermark)
            or any(not t.overdue and t.opened_ts + threshold < watermark for t in shop.open_turns.values())
            or self._clocks[shop.platform].at(watermark)[0] != shop.watermark_day)

    def shop_time(self, platform: str, shop_id: str) -> int | None:
        shop = self.shops.get((platform, shop_id))
        return None if shop is None else shop.max_ts

    def _mark_overdue(self, shop: _Shop, now: int, threshold: int) -> list[Outcome]:
        out = []
        while shop.deadlines and shop.deadlines[0][0] < now:
            _, opened_ts, buyer = heapq.heappop(shop.deadlines)
            turn = shop.open_turns.get(buyer)
            if turn is not None and turn.opened_ts == opened_ts and not turn.overdue:
                turn.overdue = True
                self._decide(shop, turn, valid=False)
                out.append(Outcome("reply_missed", shop.platform, shop.shop_id, turn.buyer_id,
                                   turn.day, turn.opened_ts, None, turn.counted))
        return out

    # ---- the state machine -------------------------------------------------------------------

    def _apply(self, shop: _Shop, profile: ReplyProfile, event) -> list[Outcome]:
        kind = event.get("kind") or "message"
        sender = event.get("sender")
        buyer = event.get("buyer_id", "")
        ts = event["ts"]
        day, second = self._clocks[shop.platform].at(ts)
        if kind in EXCLUDING_KINDS:
            shop.excluded.setdefault(day, set()).add(buyer)
            return []
        if kind == "handoff":
            if profile.handoff_starts_clock:  # elsewhere a hand-off changes nothing worth remembering
                shop.handed_off.add(buyer)
                if buyer not in shop.open_turns:
                    self._open(shop, profile, buyer, ts, day, second)
            return []
        if kind != "message":
            return []
        if sender == "buyer":
            if profile.handoff_starts_clock and buyer not in shop.handed_off:
                return []  # the bot serves this buyer; the clock has not started
            session = shop.sessions.get(buyer)
            if (profile.handoff_starts_clock and profile.unit == "session" and buyer not in shop.open_turns
                    and session is not None and ts - session.last_ts >= profile.session_gap_s * 1000):
                shop.handed_off.discard(buyer)  # the hand-off ended with its session
                return []
            if buyer not in shop.open_turns:
                self._open(shop, profile, buyer, ts, day, second)
            elif profile.unit == "session":
                shop.sessions[buyer].last_ts = ts
            return []
        if sender == "agent" or (sender == "bot" and profile.bots_count):
            turn = shop.open_turns.pop(buyer, None)
            if buyer in shop.sessions:
                shop.sessions[buyer].last_ts = ts
            if turn is None:
                return []
            return [self._close(shop, turn, ts)]
        return []

    def _open(self, shop: _Shop, profile: ReplyProfile, buyer: str, ts: int, day: str, second: int) -> None:
        if profile.unit == "session":
            session = shop.sessions.get(buyer)
            if session is None or ts - session.last_ts >= profile.session_gap_s * 1000:
                session = shop.sessions[buyer] = _Session(ts, ts, (day, buyer, ts), second)
            session.last_ts = ts
            unit_key = session.key
            counted = profile.in_service(session.start_second if profile.count_by_start else second)
            day = unit_key[0]
        elif profile.unit == "buyer_day":
            unit_key = (day, buyer)
            counted = profile.in_service(second)
        else:
            shop.turn_counter += 1
            unit_key = (day, buyer, ts, shop.turn_counter)
            counted = profile.in_service(second)
        unit = shop.units.get(unit_key)
        if unit is None:
            unit = shop.units[unit_key] = _Unit(counted=False)
            if shop.oldest_day is None or unit_key[0] < shop.oldest_day:
                shop.oldest_day = unit_key[0]
        unit.counted = unit.counted or counted
        shop.open_turns[buyer] = _Turn(buyer, ts, day, counted, unit_key)
        heapq.heappush(shop.deadlines, (ts + profile.threshold_s * 1000, ts, buyer))

    def _decide(self, shop: _Shop, turn: _Turn, valid: bool) -> None:
        """A turn's validity is known: fold it into its unit (once)."""
        profile = self.profiles[shop.platform]
        unit = shop.units[turn.unit_key]
        if not turn.counted:
            return
        if profile.unit == "session" and profile.session_rule == "first_reply":
            if unit.decided_turns == 0:
                unit.valid = valid
        else:
            unit.valid = unit.valid and valid
        unit.decided_turns += 1

    def _close(self, shop: _Shop, turn: _Turn, replied_ts: int | None) -> Outcome:
        threshold = self.profiles[shop.platform].threshold_s * 1000
        if replied_ts is None:
            kind = "missed"
            if not turn.overdue:
                self._decide(shop, turn, valid=False)
        elif replied_ts - turn.opened_ts <= threshold and not turn.overdue:
            kind = "valid"
            self._decide(shop, turn, valid=True)
        else:
            kind = "late"
            if not turn.overdue:
                self._decide(shop, turn, valid=False)
        return Outcome(kind, shop.platform, shop.shop_id, turn.buyer_id, turn.day, turn.opened_ts,
                       replied_ts, turn.counted)

    # ---- figures ------------------------------------------------------------------------------

    def shop_days(self) -> list[dict]:
        """One row per platform, shop and local day: consults, valid, rate, penalty_risk; the
        closed days not yet drained and the days still open."""
        rows = [row for closed in self._closed.values() for row in closed]
        for shop in self.shops.values():
            rows += self._rows(shop, {key[0] for key in shop.units})
        return sorted(rows, key=_row_key)

    def drain_closed_rows(self) -> list[dict]:
        """The rows of closed days, handed over once: they are forgotten here."""
        rows = sorted((row for closed in self._closed.values() for row in closed), key=_row_key)
        self._closed.clear()
        return rows

    def current_rows(self, platform: str | None = None) -> list[dict]:
        """The row of each shop's latest open local day with a consult (of one platform or all)."""
        out = []
        for shop in self.shops.values():
            if platform is None or shop.platform == platform:
                rows = self._rows(shop, {key[0] for key in shop.units})
                if rows:
                    out.append(rows[-1])
        return out

    def open_turn_count(self) -> int:
        return sum(len(shop.open_turns) for shop in self.shops.values())

    def shop_count(self) -> int:
        return len(self.shops)

    def _rows(self, shop: _Shop, days: set[str], final: bool = False) -> list[dict]:
        profile = self.profiles[shop.platform]
        per_day: dict[str, list[int]] = {}
        for key, unit in shop.units.items():
            day, buyer = key[0], key[1]
            if day not in days or not unit.counted or buyer in shop.excluded.get(day, ()):
                continue
            tally = per_day.setdefault(day, [0, 0])
            tally[0] += 1
            tally[1] += unit.valid and unit.decided_turns > 0
        rows = []
        for day, (consults, valid) in sorted(per_day.items()):
            rate = valid / consults
            risk = profile.has_penalty and consults >= profile.penalty_min_consults and rate < profile.penalty_max_rate
            rows.append({"platform": shop.platform, "shop_id": shop.shop_id, "day": day, "consults": consults,
                         "valid": valid, "rate": rate, "penalty_risk": risk,
                         "penalty_fine_cny": profile.penalty_fine_cny if risk else 0, "final": final})
        return rows

    def _close_old_days(self, shop: _Shop, watermark: int) -> list[Outcome]:
        """Keep state for the watermark's local day and the day before only: older days are
        final. Their figures move to the closed rows, their open turns end as missed."""
        watermark_day = self._clocks[shop.platform].at(watermark)[0]
        if watermark_day == shop.watermark_day:
            return []  # the day has not turned since the last check
        shop.watermark_day = watermark_day
        cutoff = (date.fromisoformat(watermark_day) - timedelta(days=1)).isoformat()
        if shop.oldest_day is None or shop.oldest_day >= cutoff:
            return []
        old = {key[0] for key in shop.units if key[0] < cutoff}
        out = []
        for buyer, turn in list(shop.open_turns.items()):
            if turn.day < cutoff:
                out.append(self._close(shop, turn, None))
                del shop.open_turns[buyer]
        self._closed.setdefault((shop.platform, shop.shop_id), []).extend(self._rows(shop, old, final=True))
        shop.units = {k: u for k, u in shop.units.items() if k[0] >= cutoff}
        shop.excluded = {d: b for d, b in shop.excluded.items() if d >= cutoff}
        shop.handed_off -= {b for b, x in shop.sessions.items() if x.key[0] < cutoff}
        shop.sessions = {b: x for b, x in shop.sessions.items() if x.key[0] >= cutoff}
        shop.oldest_day = min((k[0] for k in shop.units), default=None)
        return out

    # ---- snapshots ----------------------------------------------------------------------------

    def snapshot_shop(self, platform: str, shop_id: str) -> bytes:
        """A shop's whole state (and its closed rows not yet drained) as deterministic bytes."""
        key = (platform, shop_id)
        shop = self.shops[key]
        pending = sorted(shop.pending)
        return orjson.dumps({
            "v": SNAPSHOT_VERSION, "platform": platform, "shop_id": shop_id, "max_ts": shop.max_ts,
            "pending": [[ts, eid, {"ts": e["ts"], "event_id": e.get("event_id", ""), "kind": e.get("kind"),
                                   "sender": e.get("sender"), "buyer_id": e.get("buyer_id", "")}]
                        for ts, eid, _, e in pending],
            "open_turns": [[t.buyer_id, t.opened_ts, t.day, t.counted, list(t.unit_key), t.overdue]
                           for t in shop.open_turns.values()],
            "units": [[list(k), u.counted, u.valid, u.decided_turns] for k, u in shop.units.items()],
            "sessions": [[b, s.start_ts, s.last_ts, list(s.key), s.start_second]
                         for b, s in sorted(shop.sessions.items())],
            "handed_off": sorted(shop.handed_off),
            "excluded": [[d, sorted(b)] for d, b in sorted(shop.excluded.items())],
            "turn_counter": shop.turn_counter,
            "deadlines": sorted(list(d) for d in shop.deadlines),
            "oldest_day": shop.oldest_day, "watermark_day": shop.watermark_day,
            "closed": self._closed.get(key, []),
        })

    def restore_shop(self, data: bytes) -> None:
        """Put a shop back as `snapshot_shop` saw it (replacing any state of that shop here)."""
        s = orjson.loads(data)
        if s.get("v") != SNAPSHOT_VERSION or s["platform"] not in self.profiles:
            raise ValueError("not a snapshot of this tracker's platforms")
        shop = _Shop(s["platform"], s["shop_id"], max_ts=s["max_ts"], turn_counter=s["turn_counter"],
                     oldest_day=s["oldest_day"], watermark_day=s["watermark_day"])
        for ts, eid, event in s["pending"]:
            self._seq += 1  # relative order kept; events still to come get later numbers
            shop.pending.append((ts, eid, self._seq, event))
        for buyer, opened, day, counted, unit_key, overdue in s["open_turns"]:
            shop.open_turns[buyer] = _Turn(buyer, opened, day, counted, tuple(unit_key), overdue)
        for unit_key, counted, valid, decided in s["units"]:
            shop.units[tuple(unit_key)] = _Unit(counted, valid, decided)
        for buyer, start, last, unit_key, second in s["sessions"]:
            shop.sessions[buyer] = _Session(start, last, tuple(unit_key), second)
        shop.handed_off = set(s["handed_off"])
        shop.excluded = {d: set(b) for d, b in s["excluded"]}
        shop.deadlines = [tuple(d) for d in s["deadlines"]]
        key = (shop.platform, shop.shop_id)
        self.shops[key] = shop
        self._closed.pop(key, None)
        if s["closed"]:
            self._closed[key] = s["closed"]

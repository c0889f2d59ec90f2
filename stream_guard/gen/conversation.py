"""One buyer's conversation with one shop: sessions of turns, bursts of buyer messages, bots that
answer first, Douyin's hand-offs, agents answering after a skewed delay (or never), reports and
blocks; then its events, with ids, meta and each one's arrival key under the jitter bound."""
from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stream_guard.gen.agent_messages import AgentMessages, Meta
from stream_guard.gen.phrases import BOT_PHRASES, BOT_TRANSFER, BUYER_NUDGES, BUYER_PHRASES, HANDOFF_ASKS, TOPICS
from stream_guard.gen.shops import PREFIX, Shop, pick_index
from stream_guard.tracking.replies import ReplyProfile

# Agent response per shop quality: (share never answered, median seconds, log spread)
QUALITY = {"good": (0.01, 14.0, 0.9), "ok": (0.03, 28.0, 1.1), "poor": (0.2, 150.0, 1.2)}
SPEED = {"jd": 0.45}  # JD agents work to a 30-second target

Keyed = tuple[int, str, dict[str, Any]]  # (arrival key, event id, event)
T = TypeVar("T")


@dataclass(slots=True)
class Message:
    ts: int
    sender: str
    kind: str
    text: str
    session: int
    meta: Meta | None
    by_agent: bool = False  # a system event an agent made (a report or a block)
    categories: tuple[str, ...] | None = None  # of an injected violation


@dataclass
class Conversation:
    shop: Shop
    idx: int
    buyer_id: str
    conversation_id: str
    meta: Meta | None
    agent_id: str
    rng: random.Random  # the conversation's own stream: its content does not depend on the others
    messages: list[Message] = field(default_factory=list)

    def add(self, ts: int, sender: str, kind: str, text: str, session: int, meta: Meta | None = None,
            by_agent: bool = False, categories: tuple[str, ...] | None = None) -> None:
        self.messages.append(Message(ts, sender, kind, text, session, meta if meta is not None else self.meta,
                                     by_agent, categories))


class Conversations:
    """Makes the day's conversations, each from its own random stream seeded by (seed, shop, buyer)."""

    def __init__(self, seed: int, day_start: int, profiles: Mapping[str, ReplyProfile], agents: AgentMessages,
                 jitter_ms: int):
        self.seed = seed
        self.day_start = day_start
        self.profiles = profiles
        self.agents = agents
        self.jitter_ms = jitter_ms

    def make(self, shop: Shop, idx: int, arrival: int) -> Conversation:
        """The conversation of a shop's buyer arriving at `arrival`, its messages in time order
        (strictly increasing times)."""
        rng = random.Random((self.seed << 64) + (shop.no << 32) + idx)
        rnd = rng.random
        lognorm = rng.lognormvariate

        def uni(a: int, b: int) -> int:  # rng.randint, without its overhead
            return a + int(rnd() * (b - a + 1))

        def pick(seq: Sequence[T]) -> T:
            return seq[int(rnd() * len(seq))]
        platform = shop.platform
        p = PREFIX[platform]
        meta: Meta | None = None
        if rnd() < 0.7:
            meta = {"item_id": f"{p}-item-{uni(0, 999_999):06d}"}
            r = rnd()
            if r < 0.4:
                meta["free_shipping"] = r < 0.3
            if rnd() < 0.1:
                meta["cod_enabled"] = True
            if rnd() < 0.15:
                meta["credit_card_enabled"] = True
        conv = Conversation(shop, idx, f"{p}_u{shop.no:04d}{idx:05d}", f"{shop.shop_id}-c{idx:05d}", meta,
                            pick(shop.agents), rng)
        add = conv.add
        douyin = platform == "douyin"
        never, median, spread = QUALITY[shop.quality]
        median *= SPEED.get(platform, 1.0)
        sessions = pick_index(rng, (0.72, 0.93, 1.0)) + 1
        last = arrival  # the last buyer or human message (what sessions are measured from)
        t = arrival
        ended = False
        report_at = uni(0, sessions - 1) if rnd() < 0.015 else -1
        agent_spoke = False
        for s in range(sessions):
            if s:
                t = last + uni(660_000, 4 * 3_600_000)  # a new session: over 10 minutes later
            in_human = not douyin
            turns = pick_index(rng, (0.35, 0.65, 0.85, 0.95, 1.0)) + 1
            for k in range(turns):
                if k:
                    t = last + min(540_000, 3_000 + int(lognorm(10.4, 1.0)))  # under 10 minutes
                topic = "greet" if (s == 0 and k == 0 and rnd() < 0.45) else pick(TOPICS[1:])
                if k == turns - 1 and k and rnd() < 0.4:
                    topic = "closing"
                # the buyer's burst of one to four messages
                burst = [t]
                for _ in range(pick_index(rng, (0.5, 0.78, 0.92, 1.0))):
                    burst.append(burst[-1] + 1_500 + int(lognorm(8.9, 0.7)))
                for i, bt in enumerate(burst):
                    text = pick(BUYER_PHRASES[topic] if i == 0 else BUYER_PHRASES[pick(TOPICS)])
                    add(bt, "buyer", "message", text, s)
                last = burst[-1]
                if douyin and not in_human:
                    # the bot serves first; some buyers then ask for a human
                    bt = burst[0] + uni(600, 2_500)
                    add(bt, "bot", "message", pick(BOT_PHRASES), s)
                    if rnd() < 0.3:
                        continue  # the bot's answer was enough for this question
                    ask = max(bt, burst[-1]) + uni(4_000, 30_000)
                    add(ask, "buyer", "message", pick(HANDOFF_ASKS), s)
                    add(ask + uni(500, 1_500), "bot", "message", pick(BOT_TRANSFER), s)
                    start = ask + uni(2_000, 4_000)
                    add(start, "system", "handoff", "", s)
                    in_human = True
                    end = start
                else:
                    start, end = burst[0], burst[-1]
                    if shop.has_bot and rnd() < (0.85 if k == 0 else 0.4):
                        add(burst[0] + uni(600, 2_500), "bot", "message", pick(BOT_PHRASES), s)
                # the human reply: after a skewed delay, or never
                hour = ((start - self.day_start) // 3_600_000) % 24
                staffed = 8 <= hour < 23
                if rnd() < (never if staffed else 0.45):
                    if rnd() < 0.5:
                        add(last + uni(60_000, 300_000), "buyer", "message", pick(BUYER_NUDGES), s)
                    ended = True
                    break
                if staffed:
                    delay = 3_000 + int(1000 * lognorm(math.log(median), spread))
                else:
                    delay = 60_000 + int(1000 * lognorm(math.log(420), 0.9))
                if rnd() < 0.004:  # exactly at the threshold, or one millisecond past it
                    delay = self.profiles[platform].threshold_s * 1000 + uni(0, 1)
                reply = max(start + delay, end + uni(1_000, 6_000))
                topic_reply = "greet" if not agent_spoke and topic in ("greet", "closing") else topic
                self._agent(conv, reply, topic_reply, s)
                agent_spoke = True
                last = reply
                if rnd() < 0.3:
                    last = reply + uni(2_000, 20_000)
                    self._agent(conv, last, pick(("closing",) + TOPICS[1:]), s)
            if ended:
                break
            if s == report_at:
                kind = "buyer_reported" if rnd() < 0.7 else "buyer_blocked"
                add(last + uni(5_000, 120_000), "system", kind, "", s, by_agent=True)
                if kind == "buyer_blocked":
                    break
        messages = conv.messages
        messages.sort(key=lambda m: m.ts)
        for i in range(1, len(messages)):  # strictly increasing times within a conversation
            if messages[i].ts <= messages[i - 1].ts:
                messages[i].ts = messages[i - 1].ts + 1
        return conv

    def _agent(self, conv: Conversation, ts: int, topic: str, session: int) -> None:
        text, meta, categories = self.agents.message(conv.shop.platform, topic, conv.rng, conv.meta)
        conv.add(ts, "agent", "message", text, session, meta, categories=categories)

    def events(self, conv: Conversation, violations: dict[str, list[str]]) -> list[Keyed]:
        """The conversation's events in output order, each keyed by its time plus a random delay
        under the jitter bound; the categories of its injected violations go to `violations`."""
        shop = conv.shop
        jitter = self.jitter_ms
        rng = conv.rng
        out = []
        base = f"{shop.shop_id}-{conv.idx:05d}-"
        for n, m in enumerate(conv.messages):
            eid = base + f"{n:03d}"
            ev: dict[str, Any] = {"event_id": eid, "platform": shop.platform, "shop_id": shop.shop_id,
                                  "conversation_id": conv.conversation_id, "buyer_id": conv.buyer_id,
                                  "sender": m.sender}
            if m.sender == "agent" or m.by_agent:
                ev["agent_id"] = conv.agent_id
            elif m.sender == "bot":
                ev["agent_id"] = shop.shop_id + "-bot"
            ev["text"] = m.text
            ev["ts"] = m.ts
            if m.kind != "message":
                ev["kind"] = m.kind
            elif m.meta:
                ev["meta"] = m.meta
            if m.categories is not None:
                violations[eid] = list(m.categories)
            out.append((m.ts + int(rng.random() * (jitter + 1)), eid, ev))
        out.sort(key=lambda e: (e[0], e[1]))
        return out

"""`stream-guard gen`: a deterministic, realistic marketplace day of chat events, with its labels.

Everything comes from one seed: the same options give the same bytes. Shops on the five
platforms, buyers arriving by hour of day (peaks at 10-11 and 20-22, a few at night), turns of
one to four buyer messages, several turns and sessions per buyer, agents answering after a skewed
delay (most within a minute, a long tail, some never), bots answering first within seconds,
Douyin's bot-first service with hand-offs, reported and blocked buyers, item meta.

Agent messages come from a bank of ordinary service phrases; at `--violation-rate` one is
replaced by a hit example of the platform's own rule packs (every category in turn), sometimes
disguised (full width, traditional characters, separators, spaced digits, Chinese numerals,
circled characters, repeats) and embedded in an ordinary phrase. Every injected text is judged by
the real ruleset while generating: a disguise that defeats the rules is dropped for the plain
example, so the labels are the ground truth. At `--bad-rate` a line is a bad record (invalid JSON
or UTF-8, not an object, a missing or mistyped field, an unknown platform, a text over 16 KiB).

Labels (`--labels`): the config, the categories of every violating event, the bad lines with their
reason, and each shop's true reply figures under its platform's profile, worked out from what the
generator knows of every turn it made (not by running the reply tracker).
"""
from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypedDict

import orjson

from stream_guard.evaluation.packs import default_rules_dir
from stream_guard.evaluation.registry import Snapshot, compile_rulesets
from stream_guard.evaluation.ruleset import Ruleset
from stream_guard.gen.agent_messages import AgentMessages
from stream_guard.gen.bad_records import bad_record
from stream_guard.gen.config import GenConfig
from stream_guard.gen.conversation import Conversations, Keyed
from stream_guard.gen.shops import arrivals, plan_shops
from stream_guard.gen.truth import LocalClock, ShopTruth, day_rows, fold_turns


class Counts(TypedDict):
    events: int
    lines: int
    buyers: int
    violations: int
    bad_records: int
    evasions: dict[str, int]  # injected violations by evasion family ("plain": none)


def _ruleset(snapshot: Snapshot, platform: str, rules_dir: Path) -> Ruleset:
    ruleset = snapshot.for_platform(platform)
    if ruleset is None:
        raise ValueError(f"no rule pack for {platform} in {rules_dir}")
    return ruleset


class Generation:
    """One generated day. Iterate `events()` (valid event dicts) or `lines()` (every output line
    as bytes, bad records included), once; `labels` is complete after that."""

    def __init__(self, config: GenConfig):
        config.check()
        self.config = config
        rules_dir = Path(config.rules_dir) if config.rules_dir else default_rules_dir()
        snapshot = compile_rulesets(rules_dir)
        self.rulesets = {p: _ruleset(snapshot, p, rules_dir) for p in config.platforms}
        self.profiles = {p: rs.pack.reply_profile for p, rs in self.rulesets.items()}
        self.seed = config.seed
        self.day_start = config.day_start_ms
        self._agents = AgentMessages(self.rulesets, config.seed, config.violation_rate)
        self.clean_rejected = self._agents.clean_rejected
        self.shops = plan_shops(config)
        self._truths = [ShopTruth() for _ in self.shops]  # by shop number
        self._clock = LocalClock()
        self._conversations = Conversations(config.seed, self.day_start, self.profiles, self._agents,
                                            config.jitter_ms)
        self.violations: dict[str, list[str]] = {}
        self.rejects: list[dict[str, Any]] = []
        self.counts: Counts = {"events": 0, "lines": 0, "buyers": sum(s.buyers for s in self.shops),
                               "violations": 0, "bad_records": 0, "evasions": self._agents.evasions}
        self._done = False
        self._started = False

    def events(self) -> Iterator[dict[str, Any]]:
        for item in self._stream():
            if isinstance(item, dict):
                yield item

    def lines(self) -> Iterator[bytes]:
        dumps = orjson.dumps
        for item in self._stream():
            yield item if isinstance(item, bytes) else dumps(item)

    @property
    def labels(self) -> dict[str, Any]:
        if not self._done:
            raise RuntimeError("labels are complete once the events have all been generated")
        cfg = asdict(self.config)
        cfg["platforms"] = list(cfg["platforms"])
        cfg.pop("rules_dir")
        cfg["pack_versions"] = {p: rs.version for p, rs in self.rulesets.items()}
        return {"config": cfg, "violations": self.violations, "rejects": self.rejects,
                "shops": self.shop_rows(), "counts": self.counts}

    def shop_rows(self) -> list[dict[str, Any]]:
        """Each shop's true reply figures per local day, under its platform's profile."""
        rows = [row for shop in self.shops for row in day_rows(shop.platform, shop.shop_id, self._truths[shop.no],
                                                               self.profiles[shop.platform])]
        return sorted(rows, key=lambda r: (r["platform"], r["shop_id"], r["day"]))

    def _stream(self) -> Iterator[dict[str, Any] | bytes]:
        """Every line in output order: an event as a dict, a bad record as its bytes."""
        if self._started:
            raise RuntimeError("a Generation can be iterated once; make a new one")
        self._started = True
        bad_rng = random.Random(f"{self.seed}/bad")
        bad_rate = self.config.bad_rate
        arriving = arrivals(self.shops, self.seed, self.day_start)
        heap: list[tuple[int, str, int, list[Keyed]]] = []
        next_arrival = 0
        line = 0
        counts = self.counts
        while heap or next_arrival < len(arriving):
            # a conversation starts when the merge reaches its arrival: its keys are all later
            while next_arrival < len(arriving) and (not heap or arriving[next_arrival][0] <= heap[0][0]):
                at, shop_no, idx = arriving[next_arrival]
                next_arrival += 1
                events = self._conversation(shop_no, idx, at)
                heapq.heappush(heap, (events[0][0], events[0][1], 0, events))
            key, eid, pos, events = heap[0]
            if pos + 1 < len(events):
                heapq.heapreplace(heap, (events[pos + 1][0], events[pos + 1][1], pos + 1, events))
            else:
                heapq.heappop(heap)
            if bad_rate and bad_rng.random() < bad_rate:
                line += 1
                reason, raw = bad_record(bad_rng, line, self.seed, self.shops, self.day_start)
                self.rejects.append({"line": line, "reason": reason})
                counts["bad_records"] += 1
                yield raw
            line += 1
            counts["events"] += 1
            yield events[pos][2]
        counts["lines"] = line
        counts["violations"] = len(self.violations)  # one entry per injected event id
        self._done = True

    def _conversation(self, shop_no: int, idx: int, arrival: int) -> list[Keyed]:
        """The events of one buyer with one shop in output order; the shop's true reply figures
        are updated from the turns made."""
        shop = self.shops[shop_no]
        conv = self._conversations.make(shop, idx, arrival)
        fold_turns(self._truths[shop_no], conv.messages, conv.buyer_id, self.profiles[shop.platform], self._clock)
        return self._conversations.events(conv, self.violations)


def generate(config: GenConfig | None = None, **options: Any) -> Generation:
    """A generated day: iterate `.events()` or `.lines()` once, then read `.labels`."""
    return Generation(config or GenConfig(**options))

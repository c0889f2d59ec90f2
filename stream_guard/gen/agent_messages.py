"""What agents say: a phrase of the platform's clean bank or, at the violation rate, an injected
violation (the next category of the platform's deck, one of its rule packs' hit examples, maybe
disguised and embedded in an ordinary phrase). Every injected text is judged by the real ruleset,
so the categories returned are the ground truth of the labels."""
from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from stream_guard.evaluation.packs import Example
from stream_guard.evaluation.ruleset import Ruleset
from stream_guard.gen.disguise import SPAN_EVASIONS, applies, disguise
from stream_guard.gen.phrases import AGENT_PHRASES, BOT_PHRASES, BOT_TRANSFER, EMBED_PREFIX, EMBED_SUFFIX, TOPICS

Meta = dict[str, Any]

# every meta the generator gives an event, as far as the rules' conditions are concerned
_META_VARIANTS: list[Meta | None] = [None] + [
    {"item_id": "x", "free_shipping": fs, "cod_enabled": True, "credit_card_enabled": True}
    for fs in (True, False)
]
_JUDGED_CACHE_LIMIT = 200_000  # judged texts remembered: a bound on memory, not on correctness


class AgentMessages:
    """The agents of the day's platforms: their clean banks, the packs' examples and one deck each."""

    def __init__(self, rulesets: Mapping[str, Ruleset], seed: int, violation_rate: float):
        self.rulesets = rulesets
        self.violation_rate = violation_rate
        self._judged: dict[tuple[str, str, str, tuple[tuple[str, Any], ...]], tuple[str, ...]] = {}
        self.clean_rejected = self._check_banks()
        self._bank = {p: {t: tuple(x for x in AGENT_PHRASES[t] if (p, x) not in self.clean_rejected)
                          for t in TOPICS} for p in rulesets}
        self._examples = self._violation_pool()
        self._decks: dict[str, list[str]] = {p: [] for p in rulesets}
        self._deck_rng = {p: random.Random(f"{seed}/deck/{p}") for p in rulesets}
        self.evasions: dict[str, int] = {}  # injected violations by evasion family ("plain": none)

    # ---- set-up --------------------------------------------------------------------------------

    def _check_banks(self) -> set[tuple[str, str]]:
        """(platform, phrase) pairs of the banks some rule finds something in, under any meta the
        generator uses: left out of generation (the tests require there are none)."""
        bad = set()
        for platform, rs in self.rulesets.items():
            for topic in TOPICS:
                for text in AGENT_PHRASES[topic]:
                    if any(rs.judge(text, "agent", m) for m in _META_VARIANTS):
                        bad.add((platform, text))
            for text in BOT_PHRASES + BOT_TRANSFER:
                if any(rs.judge(text, "bot", m) for m in _META_VARIANTS):
                    bad.add((platform, text))
        return bad

    def _violation_pool(self) -> dict[str, dict[str, list[Example]]]:
        """platform -> category -> hit examples: every hit example of the platform's rules for an
        agent's message that the ruleset does find as that category."""
        pool: dict[str, dict[str, list[Example]]] = {}
        for platform, rs in self.rulesets.items():
            cats: dict[str, list[Example]] = {}
            for rule in rs.rules:
                for ex in rule.hit_examples:
                    if ex.role != "agent":  # injected in place of an agent's message
                        continue
                    meta = dict(ex.meta) or None
                    if rule.category in self.categories(platform, ex.text, ex.role, meta):
                        cats.setdefault(rule.category, []).append(ex)
            pool[platform] = {c: cats[c] for c in sorted(cats)}
        return pool

    # ---- judging and writing -------------------------------------------------------------------

    def categories(self, platform: str, text: str, sender: str, meta: Meta | None) -> tuple[str, ...]:
        """The categories the platform's ruleset finds in a message, sorted."""
        key = (platform, text, sender, tuple(sorted(meta.items())) if meta else ())
        found = self._judged.get(key)
        if found is None:
            found = tuple(sorted({f.rule.category for f in self.rulesets[platform].judge(text, sender, meta)}))
            if len(self._judged) < _JUDGED_CACHE_LIMIT:
                self._judged[key] = found
        return found

    def message(self, platform: str, topic: str, rng: random.Random,
                conv_meta: Meta | None) -> tuple[str, Meta | None, tuple[str, ...] | None]:
        """(text, meta, categories) of an agent's message on a topic: the meta is None for the
        conversation's own, the categories None for a clean phrase."""
        if rng.random() < self.violation_rate and self._examples[platform]:
            return self._violation(platform, rng, conv_meta)
        bank = self._bank[platform][topic] or self._bank[platform]["closing"]
        return rng.choice(bank), None, None

    def _violation(self, platform: str, rng: random.Random,
                   conv_meta: Meta | None) -> tuple[str, Meta | None, tuple[str, ...]]:
        """An injected violation: the next category of the platform's deck, one of its hit
        examples, maybe disguised and embedded, judged to be sure."""
        deck = self._decks[platform]
        if not deck:
            deck.extend(self._examples[platform])
            self._deck_rng[platform].shuffle(deck)
        category = deck.pop()
        ex = rng.choice(self._examples[platform][category])
        merged = dict(conv_meta or {})
        merged.update(ex.meta)
        meta = merged or None
        plain = ex.text
        evaded, family = plain, None
        if rng.random() < 0.55:
            evaded, family = self._evade(platform, rng, plain, category, meta)
        embedded = evaded
        if rng.random() < 0.4:
            r = rng.random()
            if r < 0.35:
                prefix = rng.choice(EMBED_PREFIX)
                embedded = evaded if evaded.startswith(prefix[0]) else prefix + evaded
            elif r < 0.7:
                embedded = evaded + rng.choice(EMBED_SUFFIX)
            else:
                filler = rng.choice(self._bank[platform][rng.choice(TOPICS[1:])] or ("亲",))
                embedded = f"{filler}，{evaded}" if rng.random() < 0.5 else f"{evaded}，{filler}"
        for text, fam in ((embedded, family), (evaded, family), (plain, None)):
            cats = self.categories(platform, text, "agent", meta)
            if category in cats:
                self.evasions[fam or "plain"] = self.evasions.get(fam or "plain", 0) + 1
                return text, meta, cats
        # the example's own meta (the conversation's could only add conditions): always a hit
        own = dict(ex.meta) or None
        return plain, own, self.categories(platform, plain, "agent", own)

    def _evade(self, platform: str, rng: random.Random, text: str, category: str,
               meta: Meta | None) -> tuple[str, str | None]:
        """(text, family): the text with the hit of `category` disguised by one family of evasions,
        when the ruleset still finds it; else the text unchanged and None."""
        spans = [s for f in self.rulesets[platform].judge(text, "agent", meta) if f.rule.category == category
                 for s in f.spans]
        if not spans:
            return text, None
        start, end = spans[0]
        hit = text[start:end]
        families = [f for f in SPAN_EVASIONS if applies(f, hit)]
        if not families:
            return text, None
        family = rng.choice(families)
        changed = text[:start] + disguise(family, hit, rng) + text[end:]
        if changed != text and category in self.categories(platform, changed, "agent", meta):
            return changed, family
        return text, None

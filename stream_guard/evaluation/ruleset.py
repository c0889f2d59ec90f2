"""A platform's pack compiled for evaluation: one native matcher for all its phrases, then
`any`, `near`, `unless`, `when`, role filters and detectors per rule.

Every phrase of every rule (any, unless, near groups, detector context) goes into one Matcher, so
a message is scanned once whatever the number of rules; the per-rule work below only runs for
rules whose phrases hit, plus the detector rules, which gate themselves on cheap checks.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from stream_guard.evaluation import detectors
from stream_guard.evaluation.detectors import MIN_NUMBER_DIGITS, SHORT_MESSAGE
from stream_guard.evaluation.matcher import (
    FLAG_AT,
    FLAG_LINK,
    FLAG_NUMBER,
    FLAG_SHORT,
    FLAG_SYMBOL,
    Matcher,
    census_flags,
    census_flags_batch,
    fold_codepoint_py,
)
from stream_guard.evaluation.packs import Detector, Pack, Rule

Span = tuple[int, int]


class Meta(Protocol):
    """What a rule's `when` conditions read of an event's `meta`: a dict, or the engine's
    decoded-on-demand view of one."""

    def get(self, key: str, /) -> Any: ...


# What a phrase is to a rule: slot kinds
ANY, UNLESS, NEAR, CONTEXT = "any", "unless", "near", "context"


@dataclass(frozen=True)
class Finding:
    rule: Rule
    spans: tuple[Span, ...]


@dataclass
class Decision:
    """Why a rule fired or not, for `rules explain`."""
    rule: Rule
    fired: bool
    reason: str
    spans: tuple[Span, ...] = ()
    cancelled: list[tuple[Span, Span]] = field(default_factory=list)  # (hit, covering allow phrase)


class _RuleHits:
    """A rule's phrase hits in one message, by slot: spans of `any`, `unless` and detector
    `context` phrases, and of `near` phrases by (clause, group). A plain class, made for every
    rule a message hits: the __init__ a dataclass generates runs interpreted, where this one is
    compiled with the module."""
    __slots__ = ("any", "unless", "near", "context")

    def __init__(self):
        self.any, self.unless, self.context = [], [], []
        self.near = defaultdict(list)


# the hits of a rule that had none (a detector rule woken by the census): read, never added to
_NO_HITS = _RuleHits()


def _only_symbols(phrase: str) -> bool:
    kinds = [fold_codepoint_py(ord(ch))[0] for ch in phrase]
    return 1 in kinds and all(k in (0, 1) for k in kinds)  # separators, maybe spaces


def _covered(span: Span, allowed: list[Span]) -> Span | None:
    for a in allowed:
        if a[0] <= span[0] and span[1] <= a[1]:
            return a
    return None


def _near_match(groups: list[list[Span]], within: int) -> list[Span]:
    """Spans where one hit of every group lies within `within` characters (first start to last
    end). Anchored on each hit of the first group, the nearest hit of each other group that does
    not overlap the anchor (the + inside 微+信 is not a 加 next to 微信)."""
    found = []
    for anchor in groups[0]:
        chosen = [anchor]
        for other in groups[1:]:
            apart = [h for h in other if h[1] <= anchor[0] or h[0] >= anchor[1]]
            best = min(apart, key=lambda h: max(h[1], anchor[1]) - min(h[0], anchor[0]), default=None)
            if best is None:
                break
            chosen.append(best)
        if len(chosen) < len(groups):
            continue
        start, end = min(c[0] for c in chosen), max(c[1] for c in chosen)
        if end - start <= within:
            found.append((start, end))
    return found


class Ruleset:
    """One platform's compiled pack. Immutable once built; share it freely."""

    def __init__(self, pack: Pack):
        self.pack = pack
        self.platform = pack.platform
        self.version = pack.version
        self.rules = pack.rules
        # senders some rule judges: other messages need no matching at all
        self.roles = frozenset().union(*(r.roles for r in self.rules))
        self.role_names = tuple(sorted(self.roles))  # the same, for the engine's native routing
        phrase_ids: dict[str, int] = {}
        owners: list[list[tuple[int, str, tuple[int, int] | None]]] = []

        def add(phrase: str, rule_index: int, slot: str, where=None) -> None:
            pid = phrase_ids.setdefault(phrase, len(phrase_ids))
            if pid == len(owners):
                owners.append([])
            owners[pid].append((rule_index, slot, where))

        for ri, rule in enumerate(self.rules):
            for p in rule.any:
                add(p, ri, ANY)
            for p in rule.unless:
                add(p, ri, UNLESS)
            for ci, clause in enumerate(rule.near):
                for gi, group in enumerate(clause.groups):
                    for p in group:
                        add(p, ri, NEAR, (ci, gi))
            if rule.detector:
                for p in rule.detector.context:
                    add(p, ri, CONTEXT)
        self.phrases = tuple(phrase_ids)
        self._owners = tuple(tuple(o) for o in owners)
        # Phrases made only of symbols ("+", "@@") would make those symbols significant in the
        # matcher, and 微+信 would stop matching 微信; they are found by a plain search of the
        # width-folded text instead, and the matcher gets an empty phrase in their place.
        self._symbol_phrases = tuple(
            (pid, p.translate(detectors.ASCII_FOLD)) for pid, p in enumerate(self.phrases) if _only_symbols(p)
        )
        symbol_ids = {pid for pid, _ in self._symbol_phrases}
        # characters whose width-folded form starts a symbol phrase: the cheap test before a search
        starts = {phrase[0] for _, phrase in self._symbol_phrases}
        self._symbol_starts = tuple(sorted(set(starts) | {
            chr(code) for code, folded in detectors.ASCII_FOLD.items() if folded[:1] in starts
        }))
        # symbol phrases are looked for when the census sees their first (ASCII) character, or
        # always when one starts with another symbol
        self._symbol_ascii = "".join(sorted(c for c in starts if ord(c) < 128))
        self._symbol_starts_other = any(ord(c) >= 128 for c in starts)

        # Numerals fold to digits in phrases and text alike, so 第一 also finds 第1 and phone
        # numbers spelt in Chinese numerals meet the same phrases.
        self.matcher = Matcher(["" if pid in symbol_ids else p for pid, p in enumerate(self.phrases)],
                               fold_numbers=True)
        # Detector rules by the cheap question that must be yes before their scanner runs;
        # rules whose detector needs context phrases run only when those phrases hit.
        gated: defaultdict[int, list[int]] = defaultdict(list)
        for i, r in enumerate(self.rules):
            if r.detector and not r.detector.context:
                gated[detectors.GATES[r.detector.name]].append(i)
        self._gated_rules = tuple((gate, tuple(rules)) for gate, rules in gated.items())
        filler_chars = {ch for r in self.rules if r.detector and r.detector.name == "short_filler"
                        for w in r.detector.words for ch in w}
        self._filler_strip = detectors.EDGE_NOISE + "".join(sorted(filler_chars))
        self._find = self.matcher.find
        # census flags that send a message without phrase hits on to _judge
        self._wake_flags = (FLAG_SYMBOL if self._symbol_ascii else 0) | (
            FLAG_SHORT if filler_chars else 0)
        for gate, _ in self._gated_rules:
            self._wake_flags |= {detectors.NUMBER: FLAG_NUMBER, detectors.LINK: FLAG_LINK,
                                 detectors.EMAIL: FLAG_AT, detectors.SHORT: 0}[gate]

    def allowed_everywhere(self, rule: Rule) -> tuple[str, ...]:
        """Phrases of a rule that can never fire: an allowed phrase of the rule normalises to the
        same text, so it covers every hit."""
        # Compared with runs kept: 你妈妈 (a run of two) does not cover every hit of 你妈.
        spell = Matcher((), fold_numbers=True, fold_repeats=False).normalize
        allowed = {spell(p) for p in rule.unless}
        return tuple(p for p in rule.any if spell(p) in allowed)

    def _symbol_hits(self, text: str) -> list[tuple[int, int, int]]:
        folded = detectors.ASCII_FOLD_MAP.translate(text)
        found = []
        for pid, phrase in self._symbol_phrases:
            at = folded.find(phrase)
            while at != -1:
                found.append((pid, at, at + len(phrase)))
                at = folded.find(phrase, at + 1)
        return found

    # ---- evaluation ------------------------------------------------------------------------

    def judge_batch(self, messages: Iterable[tuple[str, str, Meta | None]]) -> list[list[Finding]]:
        """Findings for (text, sender, meta) triples, with one native call for the batch."""
        messages = list(messages)
        texts = [m[0] for m in messages]
        all_hits = self.matcher.find_batch(texts)
        all_flags = census_flags_batch(texts, MIN_NUMBER_DIGITS, SHORT_MESSAGE, self._symbol_ascii)
        wake, judge_message = self._wake_flags, self._judge_message
        # most messages have no hit and wake no detector: for them, no call at all
        return [judge_message(text, sender, meta, hits, flags) if hits or flags & wake else []
                for (text, sender, meta), hits, flags in zip(messages, all_hits, all_flags, strict=True)]

    def judge(self, text: str, sender: str = "agent", meta: Mapping[str, Any] | None = None) -> list[Finding]:
        return self._judge_message(text, sender, meta, self._find(text), self._flags_of(text))

    def _flags_of(self, text: str) -> int:
        return census_flags(text, MIN_NUMBER_DIGITS, SHORT_MESSAGE, self._symbol_ascii)

    def _judge_message(self, text: str, sender: str, meta, hits, flags: int) -> list[Finding]:
        """Findings of one message, given its phrase hits and census flags."""
        if not hits and not self._may_hold_something(text, flags):
            return []
        return self._judge(detectors.TextView(text, flags), sender, meta, hits, None)

    def _may_hold_something(self, text: str, flags: int) -> bool:
        """The common message, with no phrase hit, stops here: after one native census (`flags`),
        nothing a detector could find (no long number, a.b, @, symbol phrase or curt filler)."""
        woken = flags & self._wake_flags
        return bool(woken) and not (woken == FLAG_SHORT and text.strip(self._filler_strip))

    def explain(self, text: str, sender: str = "agent", meta: Mapping[str, Any] | None = None):
        """(hits, decisions): every phrase hit, and for every rule that had a hit or a detector,
        whether it fired and why."""
        hits = tuple(self.matcher.find(text)) + tuple(self._symbol_hits(text))
        decisions: list[Decision] = []
        self._judge(detectors.TextView(text, self._flags_of(text)), sender, meta, hits, decisions)
        return hits, decisions

    def _judge(self, view: detectors.TextView, sender, meta, hits, decisions: list[Decision] | None) -> list[Finding]:
        text, flags = view.text, view.flags
        if flags & FLAG_SYMBOL or self._symbol_starts_other:
            for start in self._symbol_starts:  # `in` on a str is a C scan
                if start in text:
                    hits = list(hits) + self._symbol_hits(text)
                    break
        # Which detectors could find anything (indexed by detectors.NUMBER, LINK, EMAIL, SHORT);
        # a curt filler is a short message made only of filler characters and punctuation.
        gates = (flags & FLAG_NUMBER, flags & FLAG_LINK, flags & FLAG_AT,
                 flags & FLAG_SHORT and not text.strip(self._filler_strip))
        gated = [rules for gate, rules in self._gated_rules if gates[gate]]
        if not hits and not gated:
            return []
        per_rule: dict[int, _RuleHits] = {}
        for pid, start, end in hits:
            for ri, slot, where in self._owners[pid]:
                rh = per_rule.get(ri)
                if rh is None:
                    rh = per_rule[ri] = _RuleHits()
                if slot == NEAR:
                    rh.near[where].append((start, end))
                else:
                    getattr(rh, slot).append((start, end))
        candidates = set(per_rule)
        for rule_indexes in gated:
            candidates.update(rule_indexes)
        findings = []
        for ri in sorted(candidates):
            rule = self.rules[ri]
            rh = per_rule.get(ri, _NO_HITS)
            decision = Decision(rule, False, "") if decisions is not None else None
            spans = self._rule_spans(rule, rh, sender, meta, view, decision)
            if spans:
                findings.append(Finding(rule, tuple(sorted(set(spans)))))
            if decision is not None and decisions is not None:
                decision.fired = bool(spans)
                decision.spans = tuple(sorted(set(spans)))
                if decision.fired or rh.any or rh.near or decision.reason:
                    decisions.append(decision)
        return findings

    def _rule_spans(self, rule: Rule, rh: _RuleHits, sender, meta, view, decision) -> list[Span]:
        if sender not in rule.roles:
            if decision:
                decision.reason = f"sender {sender!r} is not judged by this rule ({', '.join(sorted(rule.roles))})"
            return []
        for key, wanted in rule.when:
            meta = meta or {}
            if meta.get(key) != wanted:
                if decision:
                    decision.reason = f"when: meta {key}={meta.get(key)!r}, rule needs {wanted!r}"
                return []
        spans = []
        for hit in rh.any:
            cover = _covered(hit, rh.unless)
            if cover is None:
                spans.append(hit)
            elif decision:
                decision.cancelled.append((hit, cover))
        for ci, clause in enumerate(rule.near):
            groups = []
            for gi in range(len(clause.groups)):
                kept = []
                for hit in rh.near.get((ci, gi), ()):
                    cover = _covered(hit, rh.unless)
                    if cover is None:
                        kept.append(hit)
                    elif decision:
                        decision.cancelled.append((hit, cover))
                groups.append(kept)
            if all(groups):
                spans += _near_match(groups, clause.within)
        if rule.detector:
            spans += self._detect(rule.detector, rh, view)
        if decision and not spans and not decision.reason:
            decision.reason = "every hit was cancelled by an allowed phrase" if decision.cancelled else "no hit"
        elif decision and spans:
            decision.reason = "fired"
        return spans

    def _detect(self, d: Detector, rh: _RuleHits, view: detectors.TextView) -> list[Span]:
        name = d.name
        if name == "mobile_phone":
            found = detectors.mobile_phone(view)
        elif name == "bank_card":
            found = detectors.bank_card(view)
        elif name == "id_card":
            return detectors.id_card(view)
        elif name == "email":
            return detectors.email(view)
        elif name == "url":
            return detectors.url(view, self.pack.allow_domains)
        elif name == "qq_number":
            return detectors.qq_number(view, rh.context, d.within)
        elif name == "wechat_id":
            return detectors.wechat_id(view, rh.context, d.within)
        else:  # short_filler
            return detectors.short_filler(view.text, d.words, d.max_chars)
        if d.context:  # optional context for phone and card numbers
            found = [s for s in found if detectors.within_reach(s, rh.context, d.within)]
        return found

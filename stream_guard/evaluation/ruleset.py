"""A platform's pack compiled for evaluation: one native matcher for all its phrases, then
`any`, `near`, `unless`, `when`, role filters and detectors per rule.

Every phrase of every rule (any, unless, near groups, detector context) goes into one Matcher, so
a message is scanned once whatever the number of rules; the per-rule work below only runs for
rules whose phrases hit, plus the detector rules, which gate themselves on cheap checks.
"""
from __future__ import annotations

import heapq
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Protocol

from stream_guard.evaluation import detectors, folds
from stream_guard.evaluation.detectors import MIN_NUMBER_DIGITS, SHORT_MESSAGE, Reach
from stream_guard.evaluation.matcher import (
    FLAG_AT,
    FLAG_LINK,
    FLAG_NUMBER,
    FLAG_SHORT,
    FLAG_SYMBOL,
    Conjunctions,
    Matcher,
    census_flags,
    census_flags_batch,
    fold_codepoint_py,
)
from stream_guard.evaluation.packs import NUMBER_FIRST, Detector, Near, Pack, Rule

Span = tuple[int, int]


class Meta(Protocol):
    """What a rule's `when` conditions read of an event's `meta`: a dict, or the engine's
    decoded-on-demand view of one."""

    def get(self, key: str, /) -> Any: ...


# What a phrase is to a rule: slot kinds
ANY, UNLESS, NEAR, CONTEXT, BEFORE, AFTER, CROSS = "any", "unless", "near", "context", "before", "after", "cross"
FIRING_SLOTS = (ANY, NEAR, CONTEXT)  # the slots whose phrases can make a rule fire

# Where a clause ends, whatever the width of the mark: the parts of one near match, and a match
# and the guard phrases that cancel it, stay inside one clause.
CLAUSE_END = re.compile(r"[，,。｡！!？?；;\n\r]+")
QUESTION_MARKS = "?？"
QUESTION_ENDINGS = ("吗", "么", "嘛")
QUESTION_WINDOW = 16  # characters before a clause mark where its question particle is looked for
# A finding lists the MAX_SPANS matches that end first (a message of 不开发票 repeated holds
# thousands, and one is enough to act on); `truncated` says there were more.
MAX_SPANS = 32
# A message with more phrase hits than this is judged first on the hits of its beginning: a rule
# that matches more than MAX_SPANS times there is settled without the rest (see _settle_dense).
DENSE_HITS = 256


@dataclass(frozen=True)
class Finding:
    rule: Rule
    spans: tuple[Span, ...]  # sorted; at most MAX_SPANS
    truncated: bool = False  # the rule matched more often than the spans listed


def _finding(rule: Rule, spans: set[Span]) -> Finding:
    """The finding of a rule's matches: the MAX_SPANS that end first, in text order."""
    if len(spans) <= MAX_SPANS:
        return Finding(rule, tuple(sorted(spans)))
    first = heapq.nsmallest(MAX_SPANS, spans, key=_by_end)
    return Finding(rule, tuple(sorted(first)), truncated=True)


def _by_end(span: Span) -> tuple[int, int]:
    return span[1], span[0]


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
    __slots__ = ("any", "unless", "near", "context", "before", "after", "cross")

    def __init__(self):
        self.any, self.unless, self.context, self.before, self.after, self.cross = [], [], [], [], [], []
        self.near = defaultdict(list)


# the hits of a rule that had none (a detector rule woken by the census): read, never added to
_NO_HITS = _RuleHits()


def _add_hit(rh: _RuleHits, slots, span: Span) -> None:
    for slot, where in slots:
        if slot == NEAR:
            rh.near[where].append(span)
        else:
            getattr(rh, slot).append(span)


def _kept(hits, cover: Reach | None, crossings: Reach | None, decision: Decision | None) -> list[Span]:
    """The hits no allowed phrase covers and no dictionary word crosses; the others go to the
    decision's cancelled list (with what covered them, or themselves when crossed)."""
    kept = []
    for hit in hits:
        covering = cover.covering(hit) if cover is not None else None
        if covering is None and crossings is not None and crossings.crosses(hit):
            covering = hit
        if covering is None:
            kept.append(hit)
        elif decision:
            decision.cancelled.append((hit, covering))
    return kept


def _only_symbols(phrase: str) -> bool:
    kinds = [fold_codepoint_py(ord(ch))[0] for ch in phrase]
    return 1 in kinds and all(k in (0, 1) for k in kinds)  # separators, maybe spaces


class _Clauses:
    """Where the clauses of a message end: the runs of clause marks, found by one regex scan."""
    __slots__ = ("text", "starts", "ends", "asks")

    def __init__(self, text: str):
        self.text = text
        runs = [m.span() for m in CLAUSE_END.finditer(text)]
        self.starts = [r[0] for r in runs]
        self.ends = [r[1] for r in runs]
        self.asks: dict[int, bool] = {}  # run index -> whether its marks hold a question mark

    def together(self, left: int, right: int) -> bool:
        """No clause mark between offsets left and right (left <= right)."""
        if left >= right:
            return True
        i = bisect_right(self.ends, left)
        return i == len(self.ends) or self.starts[i] >= right

    def is_question(self, span: Span) -> bool:
        """The clause holding the span asks: the marks that end it hold a question mark, or its
        last word before them is a question particle (吗, 么, 嘛)."""
        i = bisect_right(self.ends, span[1])
        end = self.starts[i] if i < len(self.starts) else len(self.text)
        if i < len(self.starts):
            asks = self.asks.get(i)
            if asks is None:
                marks = self.text[self.starts[i]:self.ends[i]]
                asks = self.asks[i] = any(q in marks for q in QUESTION_MARKS)
            if asks:
                return True
        # the clause's last word, read from a bounded window so that many matches in one long
        # clause stay linear
        tail = self.text[max(span[1], end - QUESTION_WINDOW):max(end, span[1])]
        return tail.rstrip().endswith(QUESTION_ENDINGS)


class _Nearest:
    """One group's hits, ready for 'the nearest hit left of x' and 'right of x' in O(log n)."""
    __slots__ = ("by_end", "ends", "left_best", "by_start", "starts", "right_best")

    def __init__(self, hits: list[Span]):
        self.by_end = sorted(hits, key=lambda h: (h[1], h[0]))
        self.ends = [h[1] for h in self.by_end]
        # left_best[i]: of by_end[:i+1], the hit starting last (the nearest to a point after them)
        self.left_best: list[Span] = []
        for h in self.by_end:
            self.left_best.append(h if not self.left_best or h[0] >= self.left_best[-1][0] else self.left_best[-1])
        self.by_start = sorted(hits)
        self.starts = [h[0] for h in self.by_start]
        # right_best[i]: of by_start[i:], the hit ending first
        self.right_best: list[Span] = [self.by_start[-1]] * len(self.by_start) if hits else []
        for i in range(len(self.by_start) - 2, -1, -1):
            h, later = self.by_start[i], self.right_best[i + 1]
            self.right_best[i] = h if h[1] <= later[1] else later

    def left_of(self, at: int) -> Span | None:
        """The hit ending at or before `at` that starts last."""
        i = bisect_right(self.ends, at)
        return self.left_best[i - 1] if i else None

    def right_of(self, at: int) -> Span | None:
        """The hit starting at or after `at` that ends first."""
        i = bisect_left(self.starts, at)
        return self.right_best[i] if i < len(self.right_best) else None


def _near_match(groups: Sequence[list[Span]], near: Near, clauses: _Clauses) -> list[Span]:
    """Spans where one hit of every group lies within `near.within` characters (first start to
    last end), in the groups' order when the clause is ordered, inside one clause unless its
    scope is the message. Anchored on each hit of the first group, the nearest hit of each other
    group that does not overlap what is chosen so far (the + inside 微+信 is not a 加 next to 微信).
    Each step is a bisection, so a message dense in hits stays linear."""
    others = [_Nearest(g) for g in groups[1:]]
    in_clause = near.scope == "clause"
    found = []
    for anchor in groups[0]:
        start, end = anchor
        chosen = [anchor]
        for other in others:
            right = other.right_of(end)
            if near.ordered:
                best = right
            else:
                left = other.left_of(start)
                best = left if right is None or (left is not None and end - left[0] <= right[1] - start) else right
            if best is None:
                break
            chosen.append(best)
            start, end = min(start, best[0]), max(end, best[1])
            if end - start > near.within:
                break
        else:
            if not in_clause or _one_clause(chosen, clauses):
                found.append((start, end))
    return found


def _one_clause(parts: list[Span], clauses: _Clauses) -> bool:
    """No clause mark between the parts of a match (a mark inside one part is a separator the
    matcher skipped: 微，信 is still one word)."""
    ordered = sorted(parts)
    return all(clauses.together(a[1], b[0]) for a, b in pairwise(ordered))


class _GuardHits:
    """A guard's phrase hits in one message, sorted once: is one of them just before (or after) a
    match, in its clause? A guard phrase may overlap the match (哪有不 in 哪有不给开发票)."""
    __slots__ = ("reach", "ends", "back")

    def __init__(self, hits: list[Span]):
        self.reach = Reach(hits)
        by_end = sorted(hits, key=lambda h: (h[1], h[0]))
        self.ends = [h[1] for h in by_end]
        self.back: list[Span] = list(by_end)  # back[i]: of by_end[i:], the hit starting first
        for i in range(len(by_end) - 2, -1, -1):
            if self.back[i + 1][0] < self.back[i][0]:
                self.back[i] = self.back[i + 1]

    def before(self, span: Span, within: int, clauses: _Clauses) -> bool:
        reach = self.reach.furthest(span[0])
        if reach is None:
            return False
        end = reach[1]
        return end >= span[0] - within and (end >= span[0] or clauses.together(end, span[0]))

    def after(self, span: Span, within: int, clauses: _Clauses) -> bool:
        i = bisect_right(self.ends, span[1])
        if i == len(self.ends):
            return False
        start = self.back[i][0]
        return start <= span[1] + within and (start <= span[1] or clauses.together(span[1], start))


class _LazyClauses:
    """A message's clauses, worked out only when a rule asks."""
    __slots__ = ("text", "clauses")

    def __init__(self, text: str):
        self.text = text
        self.clauses: _Clauses | None = None

    def get(self) -> _Clauses:
        if self.clauses is None:
            self.clauses = _Clauses(self.text)
        return self.clauses


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
            for guard, slot in ((rule.unless_before, BEFORE), (rule.unless_after, AFTER)):
                for p in guard.phrases if guard else ():
                    add(p, ri, slot)
            for ci, clause in enumerate(rule.near):
                for gi, group in enumerate(clause.groups):
                    for p in group:
                        add(p, ri, NEAR, (ci, gi))
            if rule.detector:
                for p in rule.detector.context:
                    add(p, ri, CONTEXT)
            if rule.whole_terms:
                terms = {p for p in rule.any} | {p for n in rule.near for g in n.groups for p in g}
                for word in sorted({w for t in terms for w in folds.crossing_words(t)}):
                    add(word, ri, CROSS)
        self.phrases = tuple(phrase_ids)
        # what each phrase is to the rules that have it: {rule index: ((slot, where), ...)}
        by_rule: list[dict[int, list[tuple[str, tuple[int, int] | None]]]] = []
        for o in owners:
            slots: dict[int, list[tuple[str, tuple[int, int] | None]]] = {}
            for ri, slot, where in o:
                slots.setdefault(ri, []).append((slot, where))
            by_rule.append(slots)
        self._owners_by_rule = tuple({ri: tuple(v) for ri, v in d.items()} for d in by_rule)
        # Phrases made only of symbols ("+", "@@") would make those symbols significant in the
        # matcher, and 微+信 would stop matching 微信; they are found by a plain search of the
        # width-folded text instead, and the matcher gets an empty phrase in their place. Spaces
        # around one are dropped, as they are around any phrase (the census does not see spaces).
        self._symbol_phrases = tuple(
            (pid, p.strip().translate(detectors.ASCII_FOLD)) for pid, p in enumerate(self.phrases) if _only_symbols(p)
        )
        symbol_ids = {pid for pid, _ in self._symbol_phrases}
        # the characters whose width-folded form starts a symbol phrase: the census looks for
        # them, and symbol phrases are searched for only in a message that has one
        starts = {phrase[0] for _, phrase in self._symbol_phrases}
        self._symbol_census = "".join(sorted(starts | {
            chr(code) for code, folded in detectors.ASCII_FOLD.items() if folded[:1] in starts
        }))

        # Two matchers over the one phrase numbering (each gets an empty phrase for the other's):
        # the phrases that can make a rule fire (any, near, context), which every message meets,
        # and the phrases that only cancel or guard a match (unless, guards, crossing words),
        # looked for only in a message where some rule that has them can fire. Numerals fold to
        # digits in phrases and text alike, so 第一 also finds 第1 and phone numbers spelt in
        # Chinese numerals meet the same phrases.
        firing = [pid not in symbol_ids and any(slot in FIRING_SLOTS for _, slot, _ in o)
                  for pid, o in enumerate(owners)]
        self.matcher = Matcher([p if firing[pid] else "" for pid, p in enumerate(self.phrases)],
                               fold_numbers=True)
        self._guard_matcher = Matcher(
            ["" if firing[pid] or pid in symbol_ids else p for pid, p in enumerate(self.phrases)], fold_numbers=True)
        self._guarded = frozenset(ri for pid, o in enumerate(owners) if not firing[pid] and pid not in symbol_ids
                                  for ri, _, _ in o)
        # Detector rules by the cheap question that must be yes before their scanner runs;
        # a WeChat id rule, whose context is rarer than its ids, runs only when its context hits.
        gated: defaultdict[int, list[int]] = defaultdict(list)
        for i, r in enumerate(self.rules):
            if r.detector and (not r.detector.context or r.detector.name in NUMBER_FIRST):
                gated[detectors.GATES[r.detector.name]].append(i)
        self._gated_rules = tuple((gate, tuple(rules)) for gate, rules in gated.items())
        filler_chars = {ch for r in self.rules if r.detector and r.detector.name == "short_filler"
                        for w in r.detector.words for ch in w}
        self._filler_strip = detectors.EDGE_NOISE + "".join(sorted(filler_chars))
        # census flags that send a message without phrase hits on to _judge
        self._wake_flags = (FLAG_SYMBOL if self._symbol_census else 0) | (
            FLAG_SHORT if filler_chars else 0)
        for gate, _ in self._gated_rules:
            self._wake_flags |= {detectors.NUMBER: FLAG_NUMBER, detectors.LINK: FLAG_LINK,
                                 detectors.EMAIL: FLAG_AT, detectors.SHORT: 0}[gate]
        self._conjunctions = self._conjunctions_of({i for _, rules in self._gated_rules for i in rules})
        # How far right of a match the hits that decide it can start: a near clause's window, a
        # guard's window after it (allowed phrases and crossing words overlap what they cancel).
        self._reach = max([c.within for r in self.rules for c in r.near]
                          + [g.within for r in self.rules for g in (r.unless_before, r.unless_after) if g] + [0])

    def _conjunctions_of(self, gated: set[int]) -> Conjunctions:
        """What a hit of each phrase counts for towards firing a rule: an `any` phrase, or the
        context a waiting detector needs, fires its rule alone; a near group's phrase is one group
        of its clause, whose window is the clause's `within`. Unless phrases, guards and crossing
        words never make a rule fire."""
        clause_ids: dict[tuple[int, int], int] = {}
        clauses: list[tuple[int, int, int]] = []
        for ri, rule in enumerate(self.rules):
            for ci, clause in enumerate(rule.near):
                clause_ids[(ri, ci)] = len(clauses)
                clauses.append((ri, len(clause.groups), clause.within))
        entries = []
        for owners in self._owners_by_rule:
            counts: list[int | tuple[int, int]] = []
            for ri, slots in owners.items():
                for slot, where in slots:
                    if slot == ANY or (slot == CONTEXT and ri not in gated):
                        counts.append(ri)
                    elif slot == NEAR and where is not None:
                        counts.append((clause_ids[(ri, where[0])], where[1]))
            entries.append(tuple(dict.fromkeys(counts)))
        return Conjunctions(entries, clauses)

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
        all_flags = census_flags_batch(texts, MIN_NUMBER_DIGITS, SHORT_MESSAGE, self._symbol_census)
        # a message the census says a detector or a symbol phrase may complete a rule in
        wake, may_hold = self._wake_flags, self._may_hold_something
        woken = [bool(flags & wake) and may_hold(text, flags) for text, flags in zip(texts, all_flags, strict=True)]
        # hits, and the rules they can fire, only of the messages they can fire a rule in, or
        # woken (None for the others: their hits are common words that count only beside others,
        # and become no objects)
        found = self.matcher.find_batch(texts, gate=self._conjunctions, keep=woken)
        judge = self._judge
        return [judge(detectors.TextView(text, flags), sender, meta, hits_and_rules[0], hits_and_rules[1], None)
                if hits_and_rules is not None and (hits_and_rules[0] or wakes) else []
                for (text, sender, meta), hits_and_rules, flags, wakes
                in zip(messages, found, all_flags, woken, strict=True)]

    def judge(self, text: str, sender: str = "agent", meta: Mapping[str, Any] | None = None) -> list[Finding]:
        flags = self._flags_of(text)
        [found] = self.matcher.find_batch((text,), gate=self._conjunctions, keep=(True,))
        assert found is not None, "a kept text always gets its hits"
        hits, rules = found
        if not hits and not self._may_hold_something(text, flags):
            return []
        return self._judge(detectors.TextView(text, flags), sender, meta, hits, rules, None)

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """Every phrase hit in a text, by (start, end, phrase id): those of both matchers and of
        the symbol phrases."""
        hits = list(self.matcher.find(text)) + list(self._guard_matcher.find(text)) + self._symbol_hits(text)
        return sorted(hits, key=lambda h: (h[1], h[2], h[0]))

    def _flags_of(self, text: str) -> int:
        return census_flags(text, MIN_NUMBER_DIGITS, SHORT_MESSAGE, self._symbol_census)

    def _may_hold_something(self, text: str, flags: int) -> bool:
        """The common message, with no phrase hit, stops here: after one native census (`flags`),
        nothing a detector could find (no long number, a.b, @, symbol phrase or curt filler)."""
        woken = flags & self._wake_flags
        return bool(woken) and not (woken == FLAG_SHORT and text.strip(self._filler_strip))

    def explain(self, text: str, sender: str = "agent", meta: Mapping[str, Any] | None = None):
        """(hits, decisions): every phrase hit, and for every rule that had a hit or a detector,
        whether it fired and why."""
        hits = tuple(self.find(text))
        decisions: list[Decision] = []
        self._judge(detectors.TextView(text, self._flags_of(text)), sender, meta, hits, (), decisions)
        return hits, decisions

    def _judge(self, view: detectors.TextView, sender, meta, hits, fireable: tuple[int, ...],
               decisions: list[Decision] | None) -> list[Finding]:
        """Findings of one message given its hits: of the firing phrases when judging, with
        `fireable`, the rules the native gate says they can fire (the guard phrases are looked for
        here, when a rule that has them can fire); of every phrase when explaining (`decisions`
        then collects why each rule fired or not)."""
        text, flags = view.text, view.flags
        # Which detectors could find anything (indexed by detectors.NUMBER, LINK, EMAIL, SHORT);
        # a curt filler is a short message made only of filler characters and punctuation.
        gates = (flags & FLAG_NUMBER, flags & FLAG_LINK, flags & FLAG_AT,
                 flags & FLAG_SHORT and not text.strip(self._filler_strip))
        gated = [rules for gate, rules in self._gated_rules if gates[gate]]
        if decisions is not None:  # explaining: every rule a hit belongs to, and the woken ones
            per_rule = self._hits_of_every_rule(hits)
            explained = self._findings(set(per_rule).union(*gated), per_rule, sender, meta, view,
                                       _LazyClauses(text), decisions)
            return [explained[ri] for ri in sorted(explained)]
        symbol_hits = self._symbol_hits(text) if flags & FLAG_SYMBOL else None
        if symbol_hits:  # they count towards the rules too
            hits = list(hits) + symbol_hits
            fireable = self._conjunctions.rules(hits)
        # the rules that can fire: an any hit, every group of a near clause, a detector's context
        # (the native gate says which), or a woken detector; a rule with only guard or
        # allowed-phrase hits cannot
        candidates = set(fireable)
        for rule_indexes in gated:
            candidates.update(rule_indexes)
        if not candidates:
            return []
        if not self._guarded.isdisjoint(candidates):
            hits = list(hits) + list(self._guard_matcher.find(text))
        clauses = _LazyClauses(text)
        found = self._settle_dense(hits, candidates, sender, meta, view, clauses) if len(hits) > DENSE_HITS else {}
        candidates.difference_update(found)
        if candidates:  # those the beginning did not settle
            found.update(self._findings(candidates, self._hits_of_rules(hits, candidates), sender, meta, view,
                                        clauses, None))
        return [found[ri] for ri in sorted(found)]

    def _findings(self, rules: set[int], per_rule: dict[int, _RuleHits], sender, meta, view,
                  clauses: _LazyClauses, decisions: list[Decision] | None) -> dict[int, Finding]:
        """The findings of the given rules, by rule index (and when explaining, their decisions,
        in rule order)."""
        found = {}
        for ri in sorted(rules):
            rule = self.rules[ri]
            rh = per_rule.get(ri, _NO_HITS)
            decision = Decision(rule, False, "") if decisions is not None else None
            spans = set(self._rule_spans(rule, rh, sender, meta, view, clauses, decision))
            if spans:
                found[ri] = _finding(rule, spans)
            if decision is not None and decisions is not None:
                decision.fired = bool(spans)
                decision.spans = tuple(sorted(spans))
                if decision.fired or rh.any or rh.near or decision.reason:
                    decisions.append(decision)
        return found

    def _settle_dense(self, hits, candidates: set[int], sender, meta, view,
                      clauses: _LazyClauses) -> dict[int, Finding]:
        """The findings of the rules a message dense in hits settles in its beginning, from the
        hits there: those that match more than MAX_SPANS times, each match ending where no later
        hit can change it, so the whole message's work is that of its beginning.

        The beginning holds every hit that starts before `frontier`. What decides a match (its
        parts, the allowed phrases and crossing words over them, the guards before and after, a
        near clause's nearest partners) starts at most `_reach` characters after it ends, so a
        match ending before frontier - _reach is found there exactly as in the whole message; its
        MAX_SPANS first matches are then the whole message's. Detector rules read every context
        hit and are left to the whole message."""
        # any frontier is exact; the main matcher's hits come first, by start, so this one leaves
        # DENSE_HITS of them in the beginning
        frontier = hits[DENSE_HITS][1]
        beginning = [h for h in hits if h[1] < frontier]
        limit = frontier - self._reach
        rules = {ri for ri in candidates if not self.rules[ri].detector}
        per_rule = self._hits_of_rules(beginning, rules)
        settled = {}
        for ri in rules:
            rule = self.rules[ri]
            sure = {span for span in self._rule_spans(rule, per_rule[ri], sender, meta, view, clauses, None)
                    if span[1] < limit}
            if len(sure) > MAX_SPANS:
                settled[ri] = _finding(rule, sure)
        return settled

    def _hits_of_rules(self, hits, rules: set[int]) -> dict[int, _RuleHits]:
        """The hits of the given rules, by slot."""
        per_rule = {ri: _RuleHits() for ri in rules}
        by_rule = self._owners_by_rule
        for pid, start, end in hits:
            owned = by_rule[pid]
            for ri in rules:
                slots = owned.get(ri)
                if slots is not None:
                    _add_hit(per_rule[ri], slots, (start, end))
        return per_rule

    def _hits_of_every_rule(self, hits) -> dict[int, _RuleHits]:
        """The hits of every rule that has one, by slot."""
        per_rule: dict[int, _RuleHits] = {}
        for pid, start, end in hits:
            for ri, slots in self._owners_by_rule[pid].items():
                rh = per_rule.get(ri)
                if rh is None:
                    rh = per_rule[ri] = _RuleHits()
                _add_hit(rh, slots, (start, end))
        return per_rule

    def _rule_spans(self, rule: Rule, rh: _RuleHits, sender, meta, view, clauses: _LazyClauses,
                    decision) -> list[Span]:
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
        cover = Reach(rh.unless) if rh.unless else None
        crossings = Reach(rh.cross) if rh.cross else None
        spans = _kept(rh.any, cover, crossings, decision)
        for ci, clause in enumerate(rule.near):
            groups = [_kept(rh.near.get((ci, gi), ()), cover, crossings, decision) for gi in range(len(clause.groups))]
            if all(groups):
                spans += _near_match(groups, clause, clauses.get())
        if spans and (rh.before or rh.after or rule.skip_questions):
            spans = self._unguarded(rule, rh, spans, clauses.get(), decision)
        if rule.detector:
            spans += self._detect(rule.detector, rh, view)
        if decision and not spans and not decision.reason:
            decision.reason = "every hit was cancelled by an allowed phrase" if decision.cancelled else "no hit"
        elif decision and spans:
            decision.reason = "fired"
        return spans

    def _unguarded(self, rule: Rule, rh: _RuleHits, spans: list[Span], clauses: _Clauses, decision) -> list[Span]:
        """The matches no guard cancels: no guard phrase right before or after them in their
        clause, and not in a question when the rule skips questions."""
        before = _GuardHits(rh.before) if rh.before and rule.unless_before else None
        after = _GuardHits(rh.after) if rh.after and rule.unless_after else None
        kept = []
        for span in spans:
            if before is not None and rule.unless_before and before.before(span, rule.unless_before.within, clauses):
                why = "a guard phrase before it"
            elif after is not None and rule.unless_after and after.after(span, rule.unless_after.within, clauses):
                why = "a guard phrase after it"
            elif rule.skip_questions and clauses.is_question(span):
                why = "a question"
            else:
                kept.append(span)
                continue
            if decision:
                decision.cancelled.append((span, span))
                decision.reason = decision.reason or f"cancelled by {why}"
        return kept

    def _detect(self, d: Detector, rh: _RuleHits, view: detectors.TextView) -> list[Span]:
        name = d.name
        if name == "mobile_phone":
            found = detectors.mobile_phone(view)
        elif name == "bank_card":
            found = detectors.bank_card(view)
        elif name == "id_card":
            return detectors.id_card(view, rh.context, d.within)
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
            found = detectors.in_reach(found, rh.context, d.within)
        return found

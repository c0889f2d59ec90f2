"""A pure-Python reference for the native matcher.

It folds with the same definition the native table is generated from (`_native/fold_spec.py`),
then searches by brute force: every pattern key compared at every key-stream position. Slow and
obvious on purpose; the property tests require the native matcher to agree with it exactly.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

_SPEC_PATH = Path(__file__).resolve().parents[1] / "_native" / "fold_spec.py"
_spec = importlib.util.spec_from_file_location("fold_spec", _SPEC_PATH)
fold_spec = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fold_spec)

WHITESPACE, SEPARATOR, CHARS = fold_spec.WHITESPACE, fold_spec.SEPARATOR, fold_spec.CHARS


@dataclass
class Element:
    char: str
    start: int
    end: int
    run: int = 1


BARRIER = None  # stands in the key stream where more than max_gap separators were skipped


def fold(ch: str, fold_numbers: bool) -> tuple[int, str]:
    kind, folded = fold_spec.fold_char(ch)
    if kind == CHARS and fold_numbers:
        folded = "".join(fold_spec.NUMERALS.get(c, c) for c in folded)
    return kind, folded


def significant_separators(patterns, fold_numbers: bool) -> set[str]:
    """Separators a pattern spells out: every one of a pattern made only of separators, and the
    pictographs of any pattern."""
    found = set()
    for p in patterns:
        folds = [fold(ch, fold_numbers) for ch in p]
        kept = [f for kind, f in folds if kind != WHITESPACE]
        if kept and all(kind != CHARS for kind, _ in folds):
            found.update(kept)
        found.update(f for kind, f in folds if kind == SEPARATOR and fold_spec.pictograph(f))
    return found


def pattern_key(pattern, significant, fold_numbers, fold_repeats) -> list[tuple[str, int]]:
    chars = []
    for ch in pattern:
        kind, folded = fold(ch, fold_numbers)
        if kind == WHITESPACE or (kind == SEPARATOR and folded not in significant):
            continue
        chars.extend(folded)
    key: list[list] = []
    for c in chars:
        if fold_repeats and key and key[-1][0] == c:
            key[-1][1] += 1
        else:
            key.append([c, 1])
    return [(c, run) for c, run in key]


def key_stream(text, significant, fold_numbers, fold_repeats, max_gap) -> list:
    elements: list = []
    is_open = False
    gap = 0
    for i, ch in enumerate(text):
        kind, folded = fold(ch, fold_numbers)
        if kind == WHITESPACE or (kind == SEPARATOR and folded not in significant):
            if is_open:
                gap += 1
                if gap > max_gap:
                    elements.append(BARRIER)
                    is_open = False
            continue
        for c in folded:
            gap = 0
            if fold_repeats and is_open and elements[-1].char == c:
                elements[-1].end = i + 1
                elements[-1].run += 1
            else:
                elements.append(Element(c, i, i + 1))
                is_open = True
    return elements


def char_class_at(text, index, fold_numbers, last: bool) -> int:
    kind, folded = fold(text[index], fold_numbers)
    if kind != CHARS:
        return 0
    return fold_spec.char_class(folded[-1] if last else folded[0])


def find(patterns, text, *, fold_numbers=False, fold_repeats=True, whole_words=True,
         max_gap=8, longest=False) -> tuple[tuple[int, int, int], ...]:
    significant = significant_separators(patterns, fold_numbers)
    stream = key_stream(text, significant, fold_numbers, fold_repeats, max_gap)
    hits = set()
    for pid, pattern in enumerate(patterns):
        key = pattern_key(pattern, significant, fold_numbers, fold_repeats)
        if not key:
            continue
        first_class = fold_spec.char_class(key[0][0])
        last_class = fold_spec.char_class(key[-1][0])
        for j in range(len(stream) - len(key) + 1):
            window = stream[j:j + len(key)]
            if any(e is BARRIER for e in window):
                continue
            if any(e.char != c or e.run < run for e, (c, run) in zip(window, key, strict=True)):
                continue
            start, end = window[0].start, window[-1].end
            if whole_words:
                if first_class and start > 0 and \
                        char_class_at(text, start - 1, fold_numbers, last=True) == first_class:
                    continue
                if last_class and end < len(text) and \
                        char_class_at(text, end, fold_numbers, last=False) == last_class:
                    continue
            hits.add((pid, start, end))
    if not longest:
        return tuple(sorted(hits, key=lambda h: (h[1], h[2], h[0])))
    chosen, reach = [], -1
    for hit in sorted(hits, key=lambda h: (h[1], -h[2], h[0])):
        if hit[1] >= reach:
            chosen.append(hit)
            reach = hit[2]
    return tuple(chosen)


# ---- rule constructs: the definitions the rule evaluation's bisections must agree with ---------

CLAUSE_MARKS = set("，,。｡！!？?；;\n\r")


def together(text: str, left: int, right: int) -> bool:
    """No clause mark at any offset in [left, right)."""
    return not any(text[i] in CLAUSE_MARKS for i in range(left, min(right, len(text))))


def nearest_left(hits, at):
    """Of the hits ending at or before `at`, the one starting last (the later end on a tie)."""
    fits = [h for h in hits if h[1] <= at]
    return max(fits, key=lambda h: (h[0], h[1])) if fits else None


def nearest_right(hits, at):
    """Of the hits starting at or after `at`, the one ending first (the earlier start on a tie)."""
    fits = [h for h in hits if h[0] >= at]
    return min(fits, key=lambda h: (h[1], h[0])) if fits else None


def near_match(text, groups, within, ordered, in_clause):
    """For each hit of the first group, grow the match by the nearest hit of each other group
    outside it (to the right only when ordered; the left one on a tie); a match is kept when it
    spans at most `within` characters and, when in_clause, no clause mark lies between its parts."""
    found = []
    for anchor in groups[0]:
        start, end = anchor
        chosen = [anchor]
        for other in groups[1:]:
            right = nearest_right(other, end)
            left = None if ordered else nearest_left(other, start)
            if left is not None and (right is None or end - left[0] <= right[1] - start):
                best = left
            else:
                best = right
            if best is None:
                break
            chosen.append(best)
            start, end = min(start, best[0]), max(end, best[1])
            if end - start > within:
                break
        else:
            parts = sorted(chosen)
            if not in_clause or all(together(text, a[1], b[0]) for a, b in zip(parts, parts[1:], strict=False)):
                found.append((start, end))
    return found


def covered(span, allowed) -> bool:
    return any(a[0] <= span[0] and span[1] <= a[1] for a in allowed)


def crossed(hit, words) -> bool:
    """A dictionary word starts before the term's hit and ends after its start (whole_terms)."""
    return any(w[0] < hit[0] < w[1] for w in words)


def guarded_before(text, span, hits, within) -> bool:
    """A guard hit starting before the span ends at most `within` before it (or inside it), with
    no clause mark between."""
    return any(h[0] < span[0] and h[1] >= span[0] - within and (h[1] >= span[0] or together(text, h[1], span[0]))
               for h in hits)


def guarded_after(text, span, hits, within) -> bool:
    return any(h[1] > span[1] and h[0] <= span[1] + within and (h[0] <= span[1] or together(text, span[1], h[0]))
               for h in hits)

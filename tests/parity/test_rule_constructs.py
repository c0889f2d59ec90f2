"""The rule constructs' bisections agree with their brute-force definitions (tests/oracle.py):
near matches (ordered or not, in one clause or not), covering allowed phrases, guards before and
after a match, crossing dictionary words, and clause boundaries, on random texts and hit lists."""
from __future__ import annotations

import oracle
from hypothesis import given
from hypothesis import strategies as st

from stream_guard.evaluation.detectors import Reach
from stream_guard.evaluation.packs import Near
from stream_guard.evaluation.ruleset import _Clauses, _GuardHits, _near_match

LENGTH = 40
texts = st.text(alphabet="发票不开，。？?!；\n 吗a", min_size=LENGTH, max_size=LENGTH)


@st.composite
def spans(draw, max_size=8):
    found = []
    for _ in range(draw(st.integers(0, max_size))):
        start = draw(st.integers(0, LENGTH - 1))
        found.append((start, draw(st.integers(start + 1, min(LENGTH, start + 6)))))
    return found


@given(texts, st.lists(spans(), min_size=2, max_size=4), st.integers(1, 20), st.booleans(), st.booleans())
def test_near_matches_are_the_definitions(text, groups, within, ordered, in_clause):
    near = Near(within, tuple(() for _ in groups), ordered, "clause" if in_clause else "message")
    assert _near_match(groups, near, _Clauses(text)) == oracle.near_match(text, groups, within, ordered, in_clause)


@given(spans(), spans(max_size=12))
def test_a_hit_is_covered_exactly_when_an_allowed_span_holds_it(hits, allowed):
    cover = Reach(allowed) if allowed else None
    for hit in hits:
        found = cover.covering(hit) if cover else None
        assert (found is not None) == oracle.covered(hit, allowed)
        assert found is None or (found in allowed and found[0] <= hit[0] and hit[1] <= found[1])


@given(spans(), spans(max_size=12))
def test_a_term_is_crossed_exactly_when_a_word_ends_inside_it(hits, words):
    crossings = Reach(words) if words else None
    for hit in hits:
        assert bool(crossings and crossings.crosses(hit)) == oracle.crossed(hit, words)


@given(texts, spans(), spans(max_size=12), st.integers(0, 6))
def test_guards_are_the_definitions(text, matches, guard_hits, within):
    clauses = _Clauses(text)
    guards = _GuardHits(guard_hits) if guard_hits else None
    for span in matches:
        assert bool(guards and guards.before(span, within, clauses)) == oracle.guarded_before(
            text, span, guard_hits, within)
        assert bool(guards and guards.after(span, within, clauses)) == oracle.guarded_after(
            text, span, guard_hits, within)


@given(texts, st.integers(0, LENGTH), st.integers(0, LENGTH))
def test_clause_boundaries_are_the_marks(text, a, b):
    left, right = min(a, b), max(a, b)
    assert _Clauses(text).together(left, right) == oracle.together(text, left, right)

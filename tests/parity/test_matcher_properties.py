"""The native matcher agrees with the brute-force oracle on random texts and pattern sets; its
character maps, batch census, number runs and rule gate agree with their Python definitions."""
import itertools
import random

import oracle
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_guard.evaluation import detectors
from stream_guard.evaluation.matcher import (
    FLAG_AT,
    FLAG_LINK,
    FLAG_NUMBER,
    FLAG_SHORT,
    FLAG_SYMBOL,
    CharMap,
    Conjunctions,
    DigitRuns,
    Matcher,
    census,
    census_flags,
    census_flags_batch,
)

# Characters that exercise every folding path: ASCII, full-width, enclosed and circled forms,
# super/subscripts, traditional and simplified, numerals, separators, zero-width, emoji, astral
# characters, expansions (⑳, ß) and combining marks.
ALPHABET = (
    "abcvxyzAV019 ＡＦｆⒻⓤ⒦①⑴⒈㈠㊄¹₂發紅发红微信薇一二三两幺壹〇零哈嘻"
    ".@-+【]，。_\u200b\u200d\u202e\u0301😀🙂𠀀𝐀ß⑳½"
)

texts = st.text(alphabet=ALPHABET, max_size=60)
options = st.fixed_dictionaries({
    "fold_numbers": st.booleans(),
    "fold_repeats": st.booleans(),
    "whole_words": st.booleans(),
    "max_gap": st.integers(min_value=0, max_value=4),
})


@st.composite
def patterns_and_text(draw):
    text = draw(texts)
    n = draw(st.integers(min_value=0, max_value=6))
    patterns = []
    for _ in range(n):
        if text and draw(st.booleans()):
            i = draw(st.integers(min_value=0, max_value=len(text) - 1))
            j = draw(st.integers(min_value=i, max_value=min(len(text), i + 6)))
            patterns.append(text[i:j])  # a piece of the text: hits are likely
        else:
            patterns.append(draw(st.text(alphabet=ALPHABET, max_size=5)))
    if patterns and draw(st.booleans()):
        # prefixes, suffixes and repeats of other patterns
        base = draw(st.sampled_from(patterns))
        patterns += [base[:-1], base[1:], base * 2]
    return patterns, text


@st.composite
def gates(draw, n_patterns):
    """Conjunctions arguments over n_patterns pattern ids: clauses of rules, and what each
    pattern's hit counts for (a rule alone, or a group of a clause)."""
    n_rules = draw(st.integers(min_value=1, max_value=5))
    clauses = draw(st.lists(st.tuples(st.integers(0, n_rules - 1), st.integers(1, 4), st.integers(0, 12)),
                            max_size=4))
    counts = st.integers(0, n_rules - 1)
    if clauses:
        counts = counts | st.integers(0, len(clauses) - 1).flatmap(
            lambda c: st.tuples(st.just(c), st.integers(0, clauses[c][1] - 1)))
    entries = draw(st.lists(st.lists(counts, max_size=3), min_size=n_patterns, max_size=n_patterns))
    return entries, clauses


def python_gate_rules(entries, clauses, hits) -> tuple[int, ...]:
    """The rules the hits can fire: a pattern that fires its rule alone, or one hit of every group
    of one of the rule's clauses, all of them within its window from the first start to the last
    end (patterns beyond `entries` count for nothing)."""
    fired = set()
    by_group: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for pid, start, end in hits:
        for entry in entries[pid] if pid < len(entries) else ():
            if isinstance(entry, int):
                fired.add(entry)
            else:
                by_group.setdefault(entry, []).append((start, end))
    for clause, (rule, groups, window) in enumerate(clauses):
        choices = [by_group.get((clause, g), []) for g in range(groups)]
        if any(max(h[1] for h in pick) - min(h[0] for h in pick) <= window for pick in itertools.product(*choices)):
            fired.add(rule)
    return tuple(sorted(fired))


@given(st.integers(0, 6).flatmap(lambda n: st.tuples(gates(n), st.lists(
    st.tuples(st.integers(0, n + 1), st.integers(0, 9), st.integers(0, 9)), max_size=12))))
def test_gate_rules_are_the_python_definition(case):
    (entries, clauses), hits = case
    gate = Conjunctions(entries, clauses)
    expected = python_gate_rules(entries, clauses, hits)
    assert gate.rules(hits) == expected
    assert gate.fires(hits) == bool(expected)
    assert gate.fires_batch([hits, []]) == [bool(expected), False]


@given(patterns_and_text().flatmap(lambda case: st.tuples(
    st.just(case), gates(len(case[0])), st.lists(st.booleans(), min_size=3, max_size=3))))
def test_gated_batch_is_find_or_none(case):
    (patterns, text), (entries, clauses), keep = case
    matcher, gate = Matcher(patterns), Conjunctions(entries, clauses)
    batch = [text, text[::-1], text + text]
    got = matcher.find_batch(batch, gate=gate, keep=keep)
    for one, kept, found in zip(batch, keep, got, strict=True):
        full = matcher.find(one)
        rules = gate.rules(full)
        assert found == ((full, rules) if kept or rules else None)


def test_gate_refuses_what_is_not_a_gate():
    with pytest.raises(ValueError):
        Conjunctions([[(0, 2)]], [(0, 2, 5)])  # no group 2 in a clause of two
    with pytest.raises(ValueError):
        Conjunctions([[-1]], [])  # not a rule index
    with pytest.raises(ValueError):
        Conjunctions([], [(0, 65, 5)])  # more groups than the mask holds
    with pytest.raises(ValueError):
        Conjunctions([], [(0, 2, -1)])  # not a window
    with pytest.raises(ValueError):
        Matcher(["a"]).find_batch(["a", "b"], gate=Conjunctions([[0]], []), keep=[True])


def check(patterns, text, opts):
    matcher = Matcher(patterns, **opts)
    for longest in (False, True):
        expected = oracle.find(patterns, text, longest=longest, **opts)
        got = matcher.find(text, longest=longest)
        assert got == expected, f"{patterns!r} {text!r} {opts!r} longest={longest}"


@given(patterns_and_text(), options)
def test_native_agrees_with_oracle(case, opts):
    patterns, text = case
    check(patterns, text, opts)


@given(st.lists(texts, max_size=8), st.lists(st.text(alphabet=ALPHABET, max_size=4), max_size=5))
def test_batch_equals_single_calls(batch, patterns):
    matcher = Matcher(patterns)
    for longest in (False, True):
        assert matcher.find_batch(batch, longest) == [matcher.find(t, longest) for t in batch]


def test_long_text_agrees_with_oracle():
    rng = random.Random(20261123)
    text = "".join(rng.choice(ALPHABET) for _ in range(100_000))
    patterns = [text[i:i + rng.randint(1, 6)] for i in rng.sample(range(len(text) - 6), 40)]
    patterns += ["", "微信", "哈哈", "@@", "a v", "一三"]
    for opts in ({}, {"fold_numbers": True, "whole_words": False, "max_gap": 2}):
        check(patterns, text, opts)


def test_empty_inputs():
    assert Matcher([]).find("微信") == ()
    assert Matcher(["微信"]).find("") == ()
    matcher = Matcher(["", "  ", "微信"])
    assert matcher.unreachable == (0, 1)
    assert matcher.find("加微信") == ((2, 1, 3),)


@given(st.text(alphabet=ALPHABET + "".join(map(chr, detectors.ASCII_FOLD)), max_size=40) | st.text(max_size=20),
       st.sampled_from(["ascii", "random"]), st.randoms(use_true_random=False))
def test_char_map_translates_as_str_translate(text, which, rnd):
    if which == "random":  # any one-to-one table, any code points on either side
        table = {ord(rnd.choice(text or "a")): chr(rnd.randrange(0x110000 - 0x800)) for _ in range(3)}
    else:
        table = detectors.ASCII_FOLD
    assert CharMap(table).translate(text) == text.translate(table)


def test_char_map_refuses_tables_that_are_not_one_to_one():
    for table in ({ord("a"): "bc"}, {ord("a"): None}, {ord("a"): ""}):
        with pytest.raises(ValueError):
            CharMap(table)


# every class the census counts, in the forms that fold to it, and what ends or breaks a run
CENSUS_ALPHABET = "09０９①⑳一二贰貳〇aZＡｚⅫ.。．｡@＠+＋#＃ \t\u3000\u00a0中发發😀½_-x➕🐧❤\u2764"
CENSUS_SYMBOLS = ["", "+", "+@#", "-_", "➕🐧", "+＋❤", "发😀"]


@given(st.lists(texts, max_size=5), st.sampled_from(CENSUS_SYMBOLS))
def test_census_flags_batch_is_census_flags_of_each(batch, symbols):
    assert census_flags_batch(batch, 5, 3, symbols) == [census_flags(t, 5, 3, symbols) for t in batch]


def python_census(text: str, symbols: str = "") -> tuple[int, int, int, int, int]:
    """(digits, Latin letters, dots between two letters or digits, at signs, given symbols),
    counted on each character's first folded character (numerals folded; a symbol beyond ASCII
    also as written); whitespace ends a letter-or-digit run: the definition the native census
    keeps."""
    digits = letters = dots = ats = marked = 0
    prev_alnum = dot_after_alnum = False
    for ch in text:
        kind, folded = oracle.fold(ch, fold_numbers=True)
        if kind == oracle.WHITESPACE:
            prev_alnum = dot_after_alnum = False
            continue
        c = folded[0]
        alnum = "0" <= c <= "9" or "a" <= c <= "z"
        digits += "0" <= c <= "9"
        letters += "a" <= c <= "z"
        ats += c == "@"
        marked += c in symbols if ord(c) < 128 else (c in symbols or ch in symbols)
        dots += alnum and dot_after_alnum
        dot_after_alnum = prev_alnum and c in ".。"
        prev_alnum = alnum
    return digits, letters, dots, ats, marked


@given(st.text(alphabet=CENSUS_ALPHABET, max_size=30) | st.text(max_size=12), st.sampled_from(CENSUS_SYMBOLS))
def test_census_counts_are_the_python_definitions(text, symbols):
    digits, letters, dots, ats, marked = python_census(text, symbols)
    assert census(text) == (digits, letters, dots, ats)
    expected = ((FLAG_NUMBER if digits >= 5 else 0) | (FLAG_LINK if letters and dots else 0)
                | (FLAG_AT if ats else 0) | (FLAG_SYMBOL if marked else 0) | (FLAG_SHORT if len(text) <= 3 else 0))
    assert census_flags(text, 5, 3, symbols) == expected


def python_digit_runs(ascii_view: str, glue: str, max_gap: int) -> tuple[tuple[int, int, str], ...]:
    """DigitRuns(glue, max_gap).find(ascii_view) in Python, on a shape view of the text (d a digit,
    s what the matcher skips: whitespace and separators, x anything else): the definition the
    native one keeps."""
    shape_view = "".join("d" if c in "0123456789" else "s" if oracle.fold(c, False)[0] != oracle.CHARS else "x"
                         for c in ascii_view)
    runs = []
    n = len(shape_view)
    i = shape_view.find("d")
    while i != -1:
        start = i
        digits = [ascii_view[i]]
        j = i + 1
        while j < n:
            if shape_view[j] == "d":
                digits.append(ascii_view[j])
                j += 1
                continue
            window = shape_view[j:j + max_gap]
            gap = len(window) - len(window.lstrip("s"))
            if gap and j + gap < n and shape_view[j + gap] == "d":
                j += gap
            else:
                break
        if j < n and ascii_view[j] in "xX":
            digits.append("X")
            j += 1
        embedded = (start > 0 and ascii_view[start - 1] in glue) or (j < n and ascii_view[j] in glue)
        if not embedded:
            runs.append((start, j, "".join(digits)))
        i = shape_view.find("d", j)
    return tuple(runs)


# digits of every form the ascii view folds, separators (beyond ASCII too), dots, x, glue, text
NUMBER_ALPHABET = "0123456789０９①⑨一二三八幺两壹 -\t\u00a0\u3000—·.。，,、xXa_/=ZＸ中号：@😀📞\ufe0f\n"


@given(st.text(alphabet=NUMBER_ALPHABET, max_size=40))
def test_number_runs_of_a_text_are_the_python_definitions(text):
    view = detectors.TextView(text)
    every_run = python_digit_runs(view.ascii, detectors.TOKEN_GLUE, detectors.MAX_NUMBER_GAP) \
        if census(text)[0] >= detectors.MIN_NUMBER_DIGITS else ()
    expected = tuple(run for run in every_run if len(run[2]) >= detectors.MIN_NUMBER_DIGITS)
    assert view.number_runs == expected
    # the view keeps the census's FLAG_NUMBER only for a run of MIN_NUMBER_DIGITS digits or more
    assert bool(view.flags & FLAG_NUMBER) == bool(expected)
    flags = census_flags(text, detectors.MIN_NUMBER_DIGITS, detectors.SHORT_MESSAGE)
    assert view.flags | FLAG_NUMBER == flags | FLAG_NUMBER


@given(st.text(alphabet="07.-xX_a中😀· ，/\n", max_size=30), st.sampled_from(["", "_", "_/a7"]), st.integers(1, 4))
def test_digit_runs_with_any_glue_and_gap_are_the_python_definitions(ascii_view, glue, max_gap):
    assert DigitRuns(glue, max_gap).find(ascii_view) == python_digit_runs(ascii_view, glue, max_gap)


def test_digit_runs_take_a_gap_of_one_or_more():
    assert DigitRuns("", 1).find("1·2") == ((0, 3, "12"),)
    assert DigitRuns("", 1).find("1··2") == ((0, 1, "1"), (3, 4, "2"))
    with pytest.raises(ValueError):
        DigitRuns("", 0)

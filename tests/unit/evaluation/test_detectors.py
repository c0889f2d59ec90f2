"""The context detectors against brute-force definitions written here: `ContextReach` of every
context span, and the WeChat id scan of each context's window character by character.

The detectors index the context spans once and find id tokens in C; these references scan
everything for every candidate, so they are obviously right and quadratic."""
from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from stream_guard.evaluation import detectors
from stream_guard.evaluation.detectors import ALNUM, WECHAT_CHARS, ContextReach, TextView, in_reach

Span = tuple[int, int]


def reaches_brute(span: Span, context: list[Span], within: int) -> bool:
    """At most `within` characters between the span and some context span: every pair compared."""
    return any(max(span[0] - c[1], c[0] - span[1]) <= within for c in context)


def qq_brute(view: TextView, context: list[Span], within: int) -> list[Span]:
    return [(r.start, r.end) for r in view.number_runs
            if 5 <= len(r.digits) <= 11 and r.digits.isdigit() and r.digits[0] != "0"
            and reaches_brute((r.start, r.end), context, within)]


def wechat_brute(view: TextView, context: list[Span], within: int) -> list[Span]:
    """Every context span's window (within + 20 characters each side) scanned character by
    character for tokens: a letter or digit after a non-id character, then id characters."""
    if not context:
        return []
    found = [s for s in detectors.mobile_phone(view) if reaches_brute(s, context, within)]
    text = view.ascii
    n = len(text)
    for c_start, c_end in context:
        i = max(0, c_start - within - 20)
        while i < min(n, c_end + within + 20):
            if text[i] in ALNUM and (i == 0 or text[i - 1] not in WECHAT_CHARS):
                j = i
                while j < n and text[j] in WECHAT_CHARS:
                    j += 1
                token = text[i:j]
                if token[0].isalpha() and 6 <= len(token) <= 20 and \
                        any(ch.isdigit() or ch in "_-" for ch in token) and \
                        reaches_brute((i, j), [(c_start, c_end)], within):
                    found.append((i, j))
                i = j
            else:
                i += 1
    return sorted(set(found))


spans = st.tuples(st.integers(0, 200), st.integers(0, 12)).map(lambda t: (t[0], t[0] + t[1]))
contexts = st.lists(spans, max_size=12)
withins = st.integers(0, 30)
# the characters that matter to ids, numbers and their separators, and a few that do not
pieces = st.sampled_from(["a", "Z", "x", "X", "1", "3", "8", "0", "_", "-", " ", ".", "@", "微信", "v", "ｖ",
                          "１", "①", "一", "幺", "，", "：", "\n", "很", "138", "1381234567", "shop_20"])
texts = st.lists(pieces, max_size=60).map("".join)


@given(span=spans, context=contexts, within=withins)
def test_context_reach_is_every_pair_compared(span, context, within):
    assert ContextReach(context, within).reaches(span) == reaches_brute(span, context, within)


@given(candidates=st.lists(spans, max_size=12), context=contexts, within=withins)
def test_in_reach_keeps_the_reachable_spans_in_order(candidates, context, within):
    assert in_reach(candidates, context, within) == [s for s in candidates if reaches_brute(s, context, within)]


def _context_in(text: str, data) -> list[Span]:
    n = len(text)
    return data.draw(st.lists(st.tuples(st.integers(0, n), st.integers(0, 4)).map(
        lambda t: (t[0], min(n, t[0] + t[1]))), max_size=8))


@given(text=texts, within=withins, data=st.data())
@example(text="微信 abc_1234 哦", within=8, data=None)
def test_wechat_id_and_qq_number_match_the_brute_force_scan(text, within, data):
    context = [(0, 2)] if data is None else _context_in(text, data)
    view = TextView(text)
    assert detectors.wechat_id(view, context, within) == wechat_brute(view, context, within)
    assert detectors.qq_number(view, context, within) == qq_brute(view, context, within)


def test_wechat_id_edges():
    v = TextView
    assert detectors.wechat_id(v("shop_2024a 微信"), [(11, 13)], 8) == [(0, 10)]  # an id at the very start
    assert detectors.wechat_id(v("微信 shop_2024a"), [(0, 2)], 8) == [(3, 13)]  # ... and at the very end
    assert detectors.wechat_id(v("微信 a1234"), [(0, 2)], 8) == []  # five characters: too short
    assert detectors.wechat_id(v("微信 a1234567890123456789"), [(0, 2)], 8) == [(3, 23)]  # 20: the longest
    assert detectors.wechat_id(v("微信 a12345678901234567890"), [(0, 2)], 8) == []  # 21: too long
    assert detectors.wechat_id(v("微信 a12345"), [(0, 2)], 8) == [(3, 9)]  # 6: the shortest
    assert detectors.wechat_id(v("微信 _abc123"), [(0, 2)], 8) == []  # a run must start with a letter
    assert detectors.wechat_id(v("微信 ｓｈｏｐ＿２０２４"), [(0, 2)], 8) == [(3, 12)]  # full-width forms


def test_dense_context_finds_every_number():
    """8,000 context spans (each one five times) and 1,600 numbers."""
    text = "qq 12345，" * 1600
    context = [(i, i + 2) for i in range(0, len(text), 9)] * 5
    view = TextView(text)
    found = detectors.qq_number(view, context, 8)
    assert len(found) == 1600
    assert detectors.wechat_id(view, context, 8) == []

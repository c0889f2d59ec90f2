"""The native multi-pattern matcher: the one typed entry point to `_native/`.

    Matcher(patterns, *, fold_numbers=False, fold_repeats=True, whole_words=True, max_gap=8)
    .find(text, longest=False) -> tuple[(pattern_id, start, end), ...]
    .find_batch(texts, longest=False, gate=None) -> list[tuple[(pattern_id, start, end), ...]]
        (with a gate: (hits, the rules they can fire), or None when they can fire none)
    .normalize(text) -> str
census(text) -> (digits, latin letters, dots between letters/digits, at signs), on folded text
census_flags(text, min_digits, short_len, symbols="") -> FLAG_* bits, the rule engine's cheap
    first question (could a detector find anything here?) in one native pass
census_flags_batch(texts, min_digits, short_len, symbols="") -> [FLAG_* bits], one per text
CharMap(table).translate(text) -> text.translate(table), for a one-to-one table, in C
DigitRuns(glue, max_gap).find(ascii_view) -> ((start, end, digits), ...), the detectors' number runs
Conjunctions(entries, clauses): which rules a message's hits can fire (a phrase that fires its
    rule alone, or every group of one of a rule's clauses); .rules(hits) -> rule indexes,
    .fires(hits) / .fires_batch(all_hits) -> whether any

Offsets are code points of the original text, end exclusive. There is deliberately no pure-Python
fallback: a silently 50x slower matcher is worse than a clear error at import.
"""
from __future__ import annotations

try:
    from stream_guard._matcher import (
        FLAG_AT,
        FLAG_LINK,
        FLAG_NUMBER,
        FLAG_SHORT,
        FLAG_SYMBOL,
        UNIDATA_VERSION,
        CharMap,
        Conjunctions,
        DigitRuns,
        Matcher,
        census,
        census_flags,
        census_flags_batch,
        fold_codepoint_py,
    )
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "stream_guard's native matcher (stream_guard._matcher) is not built. "
        "Build it with `pip install .` (or `pip install -e .` in a checkout, or `make build`); "
        "it needs a C compiler and Cython. Original error: " + str(exc)
    ) from exc

Hit = tuple[int, int, int]

__all__ = [
    "FLAG_AT", "FLAG_LINK", "FLAG_NUMBER", "FLAG_SHORT", "FLAG_SYMBOL", "CharMap", "Conjunctions", "DigitRuns",
    "Hit", "Matcher", "UNIDATA_VERSION", "census", "census_flags", "census_flags_batch", "fold_codepoint_py",
]

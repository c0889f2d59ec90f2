"""Type stubs for the native matcher (`_native/_matcher.pyx`); Python code reaches it through
`stream_guard.evaluation.matcher`."""
from collections.abc import Callable, Iterable, Sequence
from typing import Final, TypedDict, overload

from typing_extensions import disjoint_base

_Hit = tuple[int, int, int]  # (pattern id, start, end): code-point offsets, end exclusive

class _Options(TypedDict):
    fold_numbers: bool
    fold_repeats: bool
    whole_words: bool
    max_gap: int

UNIDATA_VERSION: Final[str]
"""The Unicode version the build-time fold table was made from."""

FLAG_NUMBER: Final[int]
FLAG_LINK: Final[int]
FLAG_AT: Final[int]
FLAG_SYMBOL: Final[int]
FLAG_SHORT: Final[int]

def fold_codepoint_py(cp: int, fold_numbers: bool = False) -> tuple[int, str]:
    """(kind, folded) for one code point: kind 0 whitespace, 1 separator, 2 characters."""

def census(text: str) -> tuple[int, int, int, int]:
    """(digits, Latin letters, dots between letters or digits, at signs), on the folded text."""

def census_flags(text: str, min_digits: int, short_len: int, symbols: str = "") -> int:
    """The census as FLAG_* bits; FLAG_SYMBOL for any of `symbols` (at most 256 beyond ASCII)."""

def census_flags_batch(texts: Iterable[str], min_digits: int, short_len: int, symbols: str = "") -> list[int]:
    """census_flags() of each text."""

@disjoint_base
class Matcher:
    """A compiled, immutable set of patterns; pattern id = index in `patterns`."""

    def __new__(
        cls,
        patterns: Iterable[str],
        *,
        fold_numbers: bool = False,
        fold_repeats: bool = True,
        whole_words: bool = True,
        max_gap: int = 8,
    ) -> Matcher: ...
    @property
    def patterns(self) -> tuple[str, ...]: ...
    @property
    def unreachable(self) -> tuple[int, ...]:
        """Ids of the patterns that fold to nothing and so can never hit."""
    @property
    def memory_bytes(self) -> int: ...
    @property
    def options(self) -> _Options: ...
    @property
    def state_count(self) -> int: ...
    def find(self, text: str, longest: bool = False) -> tuple[_Hit, ...]:
        """Hits by (start, end, pattern id); longest=True: leftmost-longest, non-overlapping."""
    @overload
    def find_batch(self, texts: Iterable[str], longest: bool = False, gate: None = None,
                   keep: None = None) -> list[tuple[_Hit, ...]]:
        """find() of each text."""
    @overload
    def find_batch(self, texts: Iterable[str], longest: bool = False, *,
                   gate: Conjunctions, keep: Sequence[object] | None = None
                   ) -> list[tuple[tuple[_Hit, ...], tuple[int, ...]] | None]:
        """(find() of each text, gate.rules of its hits); None for a text whose hits cannot fire
        a rule by the gate, unless `keep` is true at its index."""
    def normalize(self, text: str) -> str:
        """The folded key stream this matcher searches."""
    def __reduce__(self) -> tuple[Callable[[tuple[str, ...], _Options], Matcher], tuple[tuple[str, ...], _Options]]: ...

@disjoint_base
class CharMap:
    """`str.translate` in C for a table mapping single characters to single characters."""

    def __new__(cls, table: dict[int, str]) -> CharMap: ...
    def translate(self, text: str) -> str: ...

@disjoint_base
class Conjunctions:
    """Which rules a message's hits can fire: a hit of a pattern that fires its rule alone
    (`entries[pattern]` holds the rule index), or one hit of every group of one of a rule's clauses
    within its window (`entries[pattern]` holds (clause, group); `clauses[clause]` is (rule, number
    of groups, window in characters from the first start to the last end))."""

    def __new__(cls, entries: Sequence[Sequence[int | tuple[int, int]]],
                clauses: Sequence[tuple[int, int, int]]) -> Conjunctions: ...
    def rules(self, hits: Sequence[tuple[int, int, int]]) -> tuple[int, ...]:
        """The rule indexes the hits can fire, ascending."""
    def fires(self, hits: Sequence[tuple[int, int, int]]) -> bool: ...
    def fires_batch(self, all_hits: Iterable[Sequence[tuple[int, int, int]]]) -> list[bool]: ...

@disjoint_base
class DigitRuns:
    """The maximal runs of ASCII digits in a message's ascii view."""

    def __new__(cls, glue: str, max_gap: int) -> DigitRuns: ...
    def find(self, ascii_view: str) -> tuple[tuple[int, int, str], ...]:
        """(start, end, digits) of each run; `digits` is the run's digits, then X."""

"""The competitor's pre-pass: what a user of a raw Aho-Corasick library has to write in Python to get
the matcher's normalisation.

For each text it builds the folded key string (every character folded with `_native/fold_spec.py`,
whitespace and separators dropped, runs of one folded character collapsed, a barrier where more
than `max_gap` separators were skipped in a row) and, per key character, the original start and
end offsets of the run it stands for. Patterns go through the same fold, so the peer automaton is
built on folded, collapsed keys; a hit on the key string maps back to original code-point offsets.

Written to be fast, not naive: the key string comes from `str.translate` (a per-code-point table
filled on demand) and two regular expressions; the offset map needs a per-character Python loop,
so it is built only for texts where the peer found something.

What the pre-pass does NOT do (the native matcher does): whole-word checks for Latin/digit patterns
and min-run checks for patterns with doubled characters. `HitFilter` adds both, for the
correctness comparison only; it is not part of the timed path.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load_fold_spec():
    spec = importlib.util.spec_from_file_location("fold_spec", ROOT / "_native" / "fold_spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fold_spec = _load_fold_spec()
WHITESPACE, SEPARATOR, CHARS = fold_spec.WHITESPACE, fold_spec.SEPARATOR, fold_spec.CHARS

# Stands in the key string where more than max_gap separators were skipped: U+0000 is a control
# character (a separator), so it is never part of a key unless a separator-only pattern spells it.
BARRIER = "\x00"
# Marks a skipped character in the translated text before gaps are resolved (U+0001, also a
# control character).
_SKIP = "\x01"


class Prepass:
    """Folds patterns and texts the way the native matcher does (default options)."""

    def __init__(self, patterns, *, max_gap: int = 8):
        self.max_gap = max_gap
        self.significant = self._significant_separators(patterns)
        self._cache: dict[str, str] = {}  # char -> folded chars kept in the key ("" = skipped)
        self._table = _TranslateTable(self)
        self._gap = re.compile(_SKIP + f"{{{max_gap + 1},}}")
        # Unique non-empty keys; several patterns may fold to one key (繁/简, case, ...).
        self.keys: list[str] = []
        self.key_pids: list[tuple[int, ...]] = []
        index: dict[str, int] = {}
        pids: list[list[int]] = []
        for pid, pattern in enumerate(patterns):
            key = self.pattern_key(pattern)
            if not key:
                continue
            k = index.get(key)
            if k is None:
                k = index[key] = len(self.keys)
                self.keys.append(key)
                pids.append([])
            pids[k].append(pid)
        self.key_pids = [tuple(p) for p in pids]

    @staticmethod
    def _significant_separators(patterns) -> frozenset[str]:
        found = set()
        for p in patterns:
            folds = [fold_spec.fold_char(ch) for ch in p]
            kept = [f for kind, f in folds if kind != WHITESPACE]
            if kept and all(kind != CHARS for kind, _ in folds):
                found.update(kept)
        return frozenset(found)

    def _fold(self, ch: str) -> str:
        kind, folded = fold_spec.fold_char(ch)
        if kind == WHITESPACE or (kind == SEPARATOR and folded not in self.significant):
            folded = ""
        self._cache[ch] = folded
        return folded

    def pattern_key(self, pattern: str) -> str:
        out: list[str] = []
        cache = self._cache
        for ch in pattern:
            folded = cache.get(ch)
            if folded is None:
                folded = self._fold(ch)
            for c in folded:
                if not out or out[-1] != c:
                    out.append(c)
        return "".join(out)

    def key(self, text: str) -> str:
        """The key string alone: C-speed string operations, no offsets.

        Skipped characters translate to a marker; a run of more than max_gap markers becomes a
        barrier, the others vanish; then runs of one character collapse.
        """
        key = text.translate(self._table)
        if _SKIP in key:
            key = self._gap.sub(BARRIER, key).replace(_SKIP, "")
            if key.startswith(BARRIER):
                key = key[1:]
        if _REPEAT.search(key):
            key = _RUNS.sub(_first, key)
        return key

    def normalise(self, text: str) -> tuple[str, list[int], list[int]]:
        """(key string, start offset per key char, end offset per key char).

        The same key string as `key()`, built character by character to keep the offsets; the
        engines call it only for the texts that have hits.
        """
        cache = self._cache
        fold = self._fold
        max_gap = self.max_gap
        out: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        prev = None  # last key char, None at the start and after a barrier
        gap = 0
        i = 0
        for ch in text:
            folded = cache.get(ch)
            if folded is None:
                folded = fold(ch)
            if not folded:
                if prev is not None:
                    gap += 1
                    if gap > max_gap:
                        out.append(BARRIER)
                        starts.append(i)
                        ends.append(i)
                        prev = None
            else:
                gap = 0
                for c in folded:
                    if c == prev:
                        ends[-1] = i + 1
                    else:
                        out.append(c)
                        starts.append(i)
                        ends.append(i + 1)
                        prev = c
            i += 1
        return "".join(out), starts, ends


class _TranslateTable(dict):
    """str.translate table filled on demand: code point -> folded chars, or the skip marker."""

    def __init__(self, prepass: Prepass):
        super().__init__()
        self._prepass = prepass

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        folded = self._prepass._cache.get(ch)
        if folded is None:
            folded = self._prepass._fold(ch)
        value = self[cp] = folded or _SKIP
        return value


def _first(match) -> str:
    return match.group(1)


_REPEAT = re.compile(r"(.)\1", re.S)
_RUNS = re.compile(r"(.)\1+", re.S)


# ---- peers behind the pre-pass: each returns list[(pattern_id, start, end)] per text ------------


class PrepassPyAhoCorasick:
    name = "prepass+pyahocorasick"

    def __init__(self, patterns, *, max_gap: int = 8):
        import ahocorasick

        self.pre = Prepass(patterns, max_gap=max_gap)
        self.automaton = ahocorasick.Automaton()
        for k, key in enumerate(self.pre.keys):
            self.automaton.add_word(key, (len(key), self.pre.key_pids[k]))
        self.automaton.make_automaton()

    def find(self, text):
        found = list(self.automaton.iter(self.pre.key(text)))
        if not found:
            return found
        _, starts, ends = self.pre.normalise(text)
        hits = []
        for last, (length, pids) in found:
            start, end = starts[last - length + 1], ends[last]
            for pid in pids:
                hits.append((pid, start, end))
        return hits


class PrepassAhoCorasickRs:
    name = "prepass+ahocorasick-rs"

    def __init__(self, patterns, *, max_gap: int = 8):
        import ahocorasick_rs

        self.pre = Prepass(patterns, max_gap=max_gap)
        self.automaton = ahocorasick_rs.AhoCorasick(
            self.pre.keys, matchkind=ahocorasick_rs.MATCHKIND_STANDARD
        )

    def find(self, text):
        found = self.automaton.find_matches_as_indexes(self.pre.key(text), overlapping=True)
        if not found:
            return found
        _, starts, ends = self.pre.normalise(text)
        key_pids = self.pre.key_pids
        hits = []
        for k, s, e in found:
            start, end = starts[s], ends[e - 1]
            for pid in key_pids[k]:
                hits.append((pid, start, end))
        return hits


class PrepassHyperscan:
    name = "prepass+hyperscan"

    def __init__(self, patterns, *, max_gap: int = 8):
        import hyperscan

        self.pre = Prepass(patterns, max_gap=max_gap)
        encoded = [k.encode("utf-8") for k in self.pre.keys]
        self.key_bytes = [len(b) for b in encoded]
        self.db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self.db.compile(expressions=encoded, ids=list(range(len(encoded))),
                        elements=len(encoded), flags=0, literal=True)

    def find(self, text):
        data = self.pre.key(text).encode("utf-8")
        found = []
        self.db.scan(data, match_event_handler=_collect, context=found)
        if not found:
            return found
        _, starts, ends = self.pre.normalise(text)
        key_bytes, key_pids = self.key_bytes, self.pre.key_pids
        hits = []
        for k, end_byte in found:
            # Byte offsets -> key-char offsets (only for the rare texts with hits).
            s = len(data[:end_byte - key_bytes[k]].decode("utf-8"))
            e = s + len(self.pre.keys[k])
            start, end = starts[s], ends[e - 1]
            for pid in key_pids[k]:
                hits.append((pid, start, end))
        return hits


def _collect(pid, _from, to, _flags, found):
    found.append((pid, to))


PREPASS_ENGINES = {
    "prepass+pyahocorasick": PrepassPyAhoCorasick,
    "prepass+ahocorasick-rs": PrepassAhoCorasickRs,
    "prepass+hyperscan": PrepassHyperscan,
}


# ---- correctness only: the checks the native matcher adds on top ------------------------------


class HitFilter:
    """Applies the native matcher's whole-word and min-run rules to pre-pass hits."""

    def __init__(self, prepass: Prepass, patterns):
        self.pre = prepass
        self.patterns = patterns
        self._req: dict[int, tuple[int, int, tuple[int, ...]]] = {}

    def _requirements(self, pid):
        req = self._req.get(pid)
        if req is None:
            chars: list[str] = []
            cache = self.pre._cache
            for ch in self.patterns[pid]:
                folded = cache.get(ch)
                if folded is None:
                    folded = self.pre._fold(ch)
                chars.extend(folded)
            runs: list[int] = []
            for j, c in enumerate(chars):
                if j and chars[j - 1] == c:
                    runs[-1] += 1
                else:
                    runs.append(1)
            req = (fold_spec.char_class(chars[0]), fold_spec.char_class(chars[-1]), tuple(runs))
            self._req[pid] = req
        return req

    def _runs(self, text):
        """Run length (in folded characters) of every key character, in key order."""
        cache = self.pre._cache
        runs: list[int] = []
        prev = None
        gap = 0
        for ch in text:
            folded = cache.get(ch)
            if folded is None:
                folded = self.pre._fold(ch)
            if not folded:
                if prev is not None:
                    gap += 1
                    if gap > self.pre.max_gap:
                        runs.append(0)
                        prev = None
                continue
            gap = 0
            for c in folded:
                if c == prev:
                    runs[-1] += 1
                else:
                    runs.append(1)
                    prev = c
        return runs

    @staticmethod
    def _class_at(text, index, last):
        kind, folded = fold_spec.fold_char(text[index])
        if kind != CHARS:
            return 0
        return fold_spec.char_class(folded[-1] if last else folded[0])

    def filter(self, text, hits):
        if not hits:
            return set()
        key, starts, ends = self.pre.normalise(text)
        runs = self._runs(text)
        start_index = {}
        for j, s in enumerate(starts):
            start_index.setdefault(s, j)
        kept = set()
        for pid, start, end in hits:
            first_class, last_class, need = self._requirements(pid)
            if first_class and start > 0 and self._class_at(text, start - 1, True) == first_class:
                continue
            if last_class and end < len(text) and self._class_at(text, end, False) == last_class:
                continue
            # Key position of the hit: the first key char starting at `start` whose span ends
            # the hit after len(need) chars.
            j = None
            for cand in range(start_index[start], len(starts)):
                if starts[cand] != start:
                    break
                last = cand + len(need) - 1
                if last < len(ends) and ends[last] == end:
                    j = cand
                    break
            if j is None or any(runs[j + q] < r for q, r in enumerate(need)):
                continue
            kept.add((pid, start, end))
        return kept

"""The engines the benchmarks compare, each with `find_batch(texts) -> list[list[(pattern_id, start, end)]]`.

- stream-guard: the native matcher (normalises and matches in one pass);
- raw peers (no normalisation): pyahocorasick, ahocorasick-rs, hyperscan (literal database);
- prepass+peer: the same peers behind the Python normalisation pre-pass (`normalise_prepass.py`).
"""
from __future__ import annotations

import normalise_prepass

SETS = ("5k", "108k")
ENGINES = ("stream-guard", "pyahocorasick", "ahocorasick-rs", "hyperscan",
           "prepass+pyahocorasick", "prepass+ahocorasick-rs", "prepass+hyperscan")


class RawPyAhoCorasick:
    def __init__(self, patterns):
        import ahocorasick

        self.automaton = ahocorasick.Automaton()
        for pid, p in enumerate(patterns):
            self.automaton.add_word(p, (pid, len(p)))
        self.automaton.make_automaton()

    def find_batch(self, texts):
        out = []
        for text in texts:
            out.append([(pid, last - n + 1, last + 1) for last, (pid, n) in self.automaton.iter(text)])
        return out


class RawAhoCorasickRs:
    def __init__(self, patterns):
        import ahocorasick_rs

        self.automaton = ahocorasick_rs.AhoCorasick(patterns, matchkind=ahocorasick_rs.MATCHKIND_STANDARD)

    def find_batch(self, texts):
        find = self.automaton.find_matches_as_indexes
        return [find(text, overlapping=True) for text in texts]


class RawHyperscan:
    """Literal database over the UTF-8 patterns; offsets are UTF-8 byte offsets (no SOM needed for literals)."""

    def __init__(self, patterns):
        import hyperscan

        encoded = [p.encode("utf-8") for p in patterns]
        self.lengths = [len(b) for b in encoded]
        self.db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self.db.compile(expressions=encoded, ids=list(range(len(encoded))), elements=len(encoded),
                        flags=0, literal=True)

    def find_batch(self, texts):
        out = []
        scan, lengths = self.db.scan, self.lengths
        for text in texts:
            found = []
            scan(text.encode("utf-8"), match_event_handler=_hs_collect, context=found)
            out.append([(pid, end - lengths[pid], end) for pid, end in found])
        return out


def _hs_collect(pid, _from, to, _flags, found):
    found.append((pid, to))


class PrepassBatch:
    def __init__(self, engine):
        self.engine = engine

    def find_batch(self, texts):
        find = self.engine.find
        return [find(text) for text in texts]


def build_engine(name, patterns, corpus):
    if name == "stream-guard":
        from stream_guard.evaluation.matcher import Matcher

        return Matcher(patterns)
    if name == "pyahocorasick":
        return RawPyAhoCorasick(patterns)
    if name == "ahocorasick-rs":
        return RawAhoCorasickRs(patterns)
    if name == "hyperscan":
        return RawHyperscan(patterns)
    engine = normalise_prepass.PREPASS_ENGINES[name](patterns)
    # Fill the per-character fold cache for the corpus' alphabet, so no timed round pays for it.
    engine.pre.key("".join(set("".join(corpus))))
    return PrepassBatch(engine)

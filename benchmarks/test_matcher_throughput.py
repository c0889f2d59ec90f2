"""Whole-corpus matching throughput: stream-guard against raw peers and peers behind a Python pre-pass.

Groups "match-5k" and "match-108k" put every engine side by side. One round = one pass over the
whole corpus; every engine reports all (overlapping) matches, stream-guard also in longest mode.
The sanity tests at the end check that the engines do comparable work (not timing).
"""
from __future__ import annotations

import os
import random

import pytest
from figures import record
from normalise_prepass import HitFilter
from peers import ENGINES, SETS

# Budgets, reported beside the figures, never asserted: on 108k patterns a message costs at most
# BUDGET_108K_US_PER_MSG; on 5k, normalising and matching together are no slower than this peer
# matching the raw text.
BUDGET_108K_US_PER_MSG = 2.0
BUDGET_5K_PEER = "ahocorasick-rs"
# a whole-corpus pass is cheap for the native engines; the Python pre-pass takes about a second
ROUNDS = {"stream-guard": 5, "stream-guard-longest": 5, "pyahocorasick": 5, "ahocorasick-rs": 5, "hyperscan": 5}
PREPASS_ROUNDS = 3
SANITY_SAMPLE = int(os.environ.get("STREAM_GUARD_SANITY_SAMPLE", "2000"))  # 0: the whole corpus


@pytest.mark.parametrize("engine", ENGINES[:1] + ("stream-guard-longest",) + ENGINES[1:])
@pytest.mark.parametrize("pattern_set", SETS)
def test_match(benchmark, run_timed, engines, corpus, pattern_set, engine):
    if engine == "stream-guard-longest":
        m = engines("stream-guard", pattern_set)

        def target():
            return m.find_batch(corpus, longest=True)
    elif engine == "stream-guard":
        m = engines("stream-guard", pattern_set)

        def target():
            return m.find_batch(corpus)
    else:
        target_engine = engines(engine, pattern_set)

        def target():
            return target_engine.find_batch(corpus)

    out = run_timed(group=f"match-{pattern_set}", engine=engine, pattern_set=pattern_set,
                    target=target, n_messages=len(corpus), rounds=ROUNDS.get(engine, PREPASS_ROUNDS))
    hits = sum(map(len, out))
    benchmark.extra_info["hits"] = hits
    assert len(out) == len(corpus)


def _sample(corpus):
    if SANITY_SAMPLE <= 0 or SANITY_SAMPLE >= len(corpus):
        return list(corpus)
    return random.Random(7).sample(corpus, SANITY_SAMPLE)


@pytest.mark.parametrize("pattern_set", SETS)
def test_sanity_comparable_work(engines, corpus, pattern_sets, results, pattern_set):
    """Not timing: the engines find the same things, so the timings compare like with like.

    - the pre-pass' fast key string (str.translate + re) equals the offset-keeping loop's;
    - the three pre-pass peers find exactly the same (pattern, start, end) hits, and some;
    - the raw peers find the same (pattern, text) pairs as each other;
    - stream-guard's hits are a subset of the pre-pass hits (the pre-pass has no whole-word and
      no min-run checks), and equal them exactly once those two checks are applied (HitFilter);
    - longest mode keeps a subset of the overlapping hits.
    """
    patterns = pattern_sets[pattern_set]
    texts = _sample(corpus)
    ours_engine = engines("stream-guard", pattern_set)
    ours = [set(h) for h in ours_engine.find_batch(texts)]
    longest = ours_engine.find_batch(texts, longest=True)

    pre_results = {}
    prepass = None
    for name in ("prepass+pyahocorasick", "prepass+ahocorasick-rs", "prepass+hyperscan"):
        try:
            engine = engines(name, pattern_set)
        except pytest.skip.Exception:
            continue
        prepass = engine.engine.pre
        pre_results[name] = [set(h) for h in engine.find_batch(texts)]
    assert pre_results, "no pre-pass peer available"

    bad_keys = [t for t in texts if prepass.key(t) != prepass.normalise(t)[0]]
    assert not bad_keys, f"fast key string differs from the offset loop's: {bad_keys[:3]!r}"

    reference_name, reference = next(iter(pre_results.items()))
    for name, found in pre_results.items():
        differ = [i for i, (a, b) in enumerate(zip(found, reference, strict=True)) if a != b]
        assert not differ, f"{name} and {reference_name} differ on {texts[differ[0]]!r}"
    pre_hits = sum(map(len, reference))
    assert pre_hits > 0

    raw_pairs = {}
    for name in ("pyahocorasick", "ahocorasick-rs", "hyperscan"):
        try:
            engine = engines(name, pattern_set)
        except pytest.skip.Exception:
            continue
        raw_pairs[name] = {(i, pid) for i, hits in enumerate(engine.find_batch(texts)) for pid, _s, _e in hits}
    assert len({frozenset(p) for p in raw_pairs.values()}) <= 1, "raw peers disagree"

    hit_filter = HitFilter(prepass, patterns)
    not_subset, mismatches, filtered_hits = [], [], 0
    for i, text in enumerate(texts):
        if not ours[i] <= reference[i]:
            not_subset.append(i)
        expected = hit_filter.filter(text, reference[i])
        filtered_hits += len(expected)
        if ours[i] != expected:
            mismatches.append((text, sorted(ours[i] - expected), sorted(expected - ours[i])))
    for text, extra, missing in mismatches[:10]:
        print(f"MISMATCH {text!r}: stream-guard only {[(patterns[p], text[s:e]) for p, s, e in extra]}, "
              f"pre-pass only {[(patterns[p], text[s:e]) for p, s, e in missing]}")

    ours_pairs = {(i, pid) for i, hits in enumerate(ours) for pid, _s, _e in hits}
    pre_pairs = {(i, pid) for i, hits in enumerate(reference) for pid, _s, _e in hits}
    results["sanity"][pattern_set] = {
        "messages": len(texts),
        "stream-guard hits": sum(map(len, ours)),
        "pre-pass hits": pre_hits,
        "stream-guard (text,pattern) pairs": len(ours_pairs),
        "pre-pass pairs": len(pre_pairs),
        "raw-peer pairs": len(next(iter(raw_pairs.values()), ())),
        "pre-pass hits after whole-word+min-run": filtered_hits,
        "mismatching messages": len(mismatches),
    }
    assert all(set(lo) <= o for lo, o in zip(longest, ours, strict=True))
    assert not not_subset, f"stream-guard hits not found by the pre-pass in {len(not_subset)} messages"
    assert not mismatches, f"{len(mismatches)} messages where stream-guard != filtered pre-pass (see stdout)"


def benchmark_tables(res: dict) -> list[dict]:
    match, skipped = res["match"], res["skipped"]
    rows = []
    for pattern_set in SETS:
        ours = match.get((pattern_set, "stream-guard"))
        if ours is None:
            continue
        peers = {e: match[(pattern_set, e)]["us"] if (pattern_set, e) in match else None for e in ENGINES[1:]
                 if (pattern_set, e) in match or (pattern_set, e) in skipped}
        budget = (("<=", peers.get(BUDGET_5K_PEER), f"{BUDGET_5K_PEER}, raw") if pattern_set == "5k"
                  else ("<=", BUDGET_108K_US_PER_MSG))
        passes = f"median of {ours['rounds']} passes over {res['n_messages']:,} messages"
        missing = "".join(f"; {e}: {skipped[(pattern_set, e)]}" for e in peers if peers[e] is None)
        rows.append(record(f"{pattern_set} patterns", "normalise and match, all overlapping hits", ours["us"],
                           "us/msg", budget=budget, peers=peers, note=passes + missing))
        longest = match.get((pattern_set, "stream-guard-longest"))
        if longest is not None:
            rows.append(record(f"{pattern_set} patterns", "normalise and match, longest hits only", longest["us"],
                               "us/msg", note=f"median of {longest['rounds']} whole-corpus passes"))
    sanity = [record(f"{pattern_set} patterns", what, count, "count")
              for pattern_set, info in sorted(res["sanity"].items()) for what, count in info.items()]
    return [
        {"name": "matcher", "title": "Matching throughput",
         "about": "The native matcher over the whole corpus of customer-service messages, per message,"
                  " against raw Aho-Corasick and Hyperscan peers (no normalisation) and the same"
                  " peers behind the Python normalisation pre-pass (prepass+).",
         "records": rows},
        {"name": "matcher_agreement", "title": "Matcher agreement (not timing)",
         "about": "On a sample of the corpus: the engines find comparable hits, so the timings compare like "
                  "with like.",
         "records": sanity},
    ]

"""Rule evaluation on adversarial messages: texts up to the 16 KiB limit of a message, as dense in
hits as text can be (tests/adversarial_texts.py: one character, separators, a phrase's prefix,
hit-dense phrases for every construct of the packs), against ordinary agent text.

Each family's text is judged by every platform's ruleset; the figure is its time per character
over the ordinary text's time per character on the same ruleset, for the platform where that is
worst. Budget: 10x, so no message, however dense in hits, costs much more per character than the
common one (a path quadratic in the number of hits shows as hundreds or thousands). Reported beside
the figures, never asserted; tests/unit/evaluation/test_linear_time.py asserts the growth.

The quick run (--benchmark-disable) judges every family once on one platform's ruleset; the rows
are the same, the other platforms' reference rows have no figure.
"""
from __future__ import annotations

import math
import time

import pytest
from adversarial_texts import FAMILIES, ordinary_text, repeated
from figures import record

from stream_guard.evaluation.packs import PLATFORMS, default_rules_dir
from stream_guard.evaluation.registry import compile_rulesets

BUDGET_RATIO = 10.0
ROUNDS = 3
ROUND_S = 0.005  # a round of the ordinary text lasts at least this long
SLOW_S = 0.5  # one judgement this slow is measured once: repeating it only costs time
QUICK_PLATFORM = "pinduoduo"  # the pack with the most rules besides the common ones


def _quick(config) -> bool:
    return bool(config.getoption("benchmark_disable", False))


@pytest.fixture(scope="module")
def rulesets():
    return compile_rulesets(default_rules_dir()).rulesets


@pytest.fixture(scope="module")
def platforms(pytestconfig) -> tuple[str, ...]:
    return (QUICK_PLATFORM,) if _quick(pytestconfig) else PLATFORMS


def _best_seconds(judge, text: str, rounds: int) -> float:
    """Best time of one judgement over `rounds` rounds, each of enough calls to last ROUND_S."""
    t0 = time.perf_counter()
    judge(text)
    once = time.perf_counter() - t0
    if once >= SLOW_S:
        return once
    calls = max(1, math.ceil(ROUND_S / max(once, 1e-9)))
    best = once
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            judge(text)
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


@pytest.fixture(scope="module")
def ordinary(rulesets, platforms, pytestconfig, results) -> dict[str, float]:
    """Seconds per character of ordinary 16 KiB agent text, by platform."""
    text = ordinary_text(rulesets.values())
    rounds = 1 if _quick(pytestconfig) else ROUNDS
    per_char = {p: _best_seconds(rulesets[p].judge, text, rounds) / len(text) for p in platforms}
    results.setdefault("adversarial_ordinary", {}).update(
        {p: {"ns_per_char": s * 1e9, "chars": len(text)} for p, s in per_char.items()})
    return per_char


@pytest.mark.parametrize("family", list(FAMILIES))
def test_adversarial_family(benchmark, rulesets, platforms, ordinary, pytestconfig, results, family):
    text = repeated(FAMILIES[family])
    rounds = 1 if _quick(pytestconfig) else ROUNDS

    def judge_everywhere():
        return {p: _best_seconds(rulesets[p].judge, text, rounds) for p in platforms}

    benchmark.group = "rules adversarial"
    seconds = benchmark.pedantic(judge_everywhere, rounds=1, iterations=1)
    ratios = {p: s / len(text) / ordinary[p] for p, s in seconds.items()}
    worst = max(ratios, key=ratios.__getitem__)
    benchmark.extra_info.update({"worst_platform": worst, "worst_ratio": round(ratios[worst], 1),
                                 "chars": len(text), "ms": round(seconds[worst] * 1e3, 2)})
    results.setdefault("adversarial", {})[family] = {
        "ratio": ratios[worst], "platform": worst, "chars": len(text), "ms": seconds[worst] * 1e3}
    print(f"\n{family}: {ratios[worst]:.1f}x ordinary text's time per character on {worst}")


def benchmark_tables(res: dict) -> list[dict]:
    families = res.get("adversarial", {})
    if not families:
        return []
    ordinary = res.get("adversarial_ordinary", {})
    rows = []
    for platform in PLATFORMS:
        measured = ordinary.get(platform)
        rows.append(record(
            "ordinary agent text", f"judge time per character, {platform}",
            measured["ns_per_char"] if measured else None, "ns/char",
            note=f"{measured['chars']} characters" if measured else "not measured in the quick run"))
    for family, r in families.items():
        rows.append(record(family, "time per character / ordinary text's, worst platform", r["ratio"], "x",
                           budget=("<=", BUDGET_RATIO),
                           note=f"{r['platform']}: {r['chars']} characters in {r['ms']:.3g} ms"))
    worst = max(families, key=lambda f: families[f]["ratio"])
    rows.append(record("worst family", "time per character / ordinary text's", families[worst]["ratio"], "x",
                       budget=("<=", BUDGET_RATIO), note=f"{worst} on {families[worst]['platform']}"))
    return [{"name": "rules_adversarial", "title": "Rule evaluation on adversarial messages",
             "about": "Messages up to the 16 KiB limit as dense in hits as text can be (one character, "
                      "separators, a phrase's prefix, hit-dense phrases for every construct of the packs: "
                      "tests/adversarial_texts.py), each judged by every platform's rules: the time per "
                      "character over that of ordinary agent text (the packs' clean examples without a phrase "
                      "hit), on the platform where it is worst. A path quadratic in the hits shows as hundreds.",
             "records": rows}]

"""Rule evaluation on top of matching, per message, on the real corpus.

For each platform: the bare matcher of its pack (`Ruleset.matcher.find`) against the whole rule
evaluation (`Ruleset.judge`: matching, any/near/unless/when, detectors), each message timed on
its own with perf_counter_ns, so the median and p99 per message are real per-message figures.
Budget (issue 3): rules add no more than 1 us/msg median over the bare matcher. Reported in the
summary, never asserted.
"""
from __future__ import annotations

import statistics
import time

import pytest

from stream_guard.evaluation.packs import PLATFORMS, default_rules_dir
from stream_guard.evaluation.registry import compile_rulesets

BUDGET_RULES_US = 1.0


def _per_message_ns(func, texts) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    for text in texts:
        t0 = clock()
        func(text)
        out.append(clock() - t0)
    return out


def _quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@pytest.fixture(scope="session")
def rulesets():
    return compile_rulesets(default_rules_dir()).rulesets


@pytest.mark.parametrize("platform", PLATFORMS)
def test_rules_per_message(benchmark, rulesets, corpus, results, platform):
    ruleset = rulesets[platform]
    find, judge = ruleset.matcher.find, ruleset.judge
    _per_message_ns(judge, corpus[:2000])  # warm up

    def both():
        return _per_message_ns(find, corpus), _per_message_ns(judge, corpus)

    benchmark.group = "rules"
    bare, full = benchmark.pedantic(both, rounds=1, iterations=1)
    row = {
        "bare_median": statistics.median(bare) / 1e3, "bare_p99": _quantile(bare, 0.99) / 1e3,
        "rules_median": statistics.median(full) / 1e3, "rules_p99": _quantile(full, 0.99) / 1e3,
        "rules": len(ruleset.rules), "phrases": len(ruleset.phrases),
    }
    row["added_median"] = row["rules_median"] - row["bare_median"]
    benchmark.extra_info.update({k: round(v, 3) for k, v in row.items()})
    results.setdefault("rules", {})[platform] = row


def print_rules_summary(write, rows: dict) -> None:
    write("")
    write(f"rules on the corpus, per message (us): budget: rules add <= {BUDGET_RULES_US} us median over the bare matcher")
    write(f"{'platform':<10} {'rules':>5} {'phrases':>7} {'bare med':>8} {'bare p99':>8} "
          f"{'rules med':>9} {'rules p99':>9} {'added med':>9}  budget")
    for platform, r in rows.items():
        ok = "ok" if r["added_median"] <= BUDGET_RULES_US else "OVER"
        write(f"{platform:<10} {r['rules']:>5} {r['phrases']:>7} {r['bare_median']:>8.2f} {r['bare_p99']:>8.2f} "
              f"{r['rules_median']:>9.2f} {r['rules_p99']:>9.2f} {r['added_median']:>9.2f}  {ok}")

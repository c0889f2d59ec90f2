"""Rule evaluation on top of matching, per message, on the real corpus.

For each platform: the bare matcher of its pack (`Ruleset.matcher.find`) against the whole rule
evaluation (`Ruleset.judge`: matching, any/near/unless/when, detectors), each message timed on
its own with perf_counter_ns, so the median and p99 per message are real per-message figures.
Budget: rules add no more than 1 us/msg median over the bare matcher. Reported beside the
figures, never asserted.
"""
from __future__ import annotations

import statistics
import time

import pytest
from figures import record

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


def benchmark_tables(res: dict) -> list[dict]:
    rows = []
    for platform, r in res.get("rules", {}).items():
        size = f"{r['rules']} rules, {r['phrases']} phrases"
        rows += [
            record(platform, "bare matcher of the pack, median", r["bare_median"], "us/msg", note=size),
            record(platform, "whole rule evaluation (judge), median", r["rules_median"], "us/msg"),
            record(platform, "whole rule evaluation (judge), p99", r["rules_p99"], "us/msg"),
            record(platform, "added by the rules, median", r["added_median"], "us/msg",
                   budget=("<=", BUDGET_RULES_US)),
        ]
    return [{"name": "rules", "title": "Rule evaluation per message",
             "about": "Each platform's pack on every corpus message, each message timed on its own: the bare "
                      "matcher of the pack against the whole rule evaluation (matching, any/near/unless/when, "
                      "detectors).",
             "records": rows}]

"""Data fixtures, the engine cache, the real Kafka broker (tests/kafka_broker.py) and the summary table
for the benchmark suite (engines: peers.py).

Data: `../shared/data/` beside the project root (override with STREAM_GUARD_SHARED):
- cs_utterances.tsv: `role<TAB>text`; the corpus is every text (`corpus_lines`: with its role);
- sensitive_words.txt: pattern set "108k" (every non-blank line, sorted); "5k" is
  random.Random(42).sample of the sorted list.

Benchmarks report, they never fail on timing. Every timed call is also measured here with
perf_counter, so the summary printed at the end of `pytest benchmarks/` has figures even with
`--benchmark-disable` (one run each).
"""
from __future__ import annotations

import gc
import os
import random
import statistics
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))  # the real broker fixture and the worker harness

# the session-scoped real Kafka broker (scripts/kafka_local.py), for the worker benchmark
pytest_plugins = ["kafka_broker"]

from peers import SETS, build_engine  # noqa: E402

SHARED = Path(os.environ.get("STREAM_GUARD_SHARED") or ROOT.parent / "shared" / "data")
CORPUS_FILE = SHARED / "cs_utterances.tsv"
WORDS_FILE = SHARED / "sensitive_words.txt"
SUBSET_SIZE = 5000

# Budgets the issue names: reported beside the figures, never asserted.
BUDGET_108K_US_PER_MSG = 2.0
BUDGET_108K_BUILD_S = 1.5
BUDGET_108K_RSS_MB = 150.0
BUDGET_5K_PEER = "ahocorasick-rs"  # 5k: normalise+match must be no slower than this peer, raw
HYPERSCAN_COMPILE_LIMIT_S = 60.0

RESULTS = pytest.StashKey[dict]()


# ---- data -----------------------------------------------------------------------------------


def _require(path: Path) -> None:
    """Skip, naming every missing data file and where it was looked for."""
    missing = [p for p in (CORPUS_FILE, WORDS_FILE) if not p.is_file()]
    if path in missing:
        source = ("from STREAM_GUARD_SHARED" if os.environ.get("STREAM_GUARD_SHARED")
                  else "default: ../shared/data beside the project root; override with STREAM_GUARD_SHARED")
        pytest.skip("benchmark data missing: " + ", ".join(f"{p.name} (looked for {p})" for p in missing)
                    + f" [data directory {SHARED}, {source}]")


@pytest.fixture(scope="session")
def corpus_lines() -> list[tuple[str, str]]:
    """(role, text) of every non-blank line, in file order."""
    _require(CORPUS_FILE)
    lines = []
    with CORPUS_FILE.open(encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            role, _, text = line.partition("\t")
            lines.append((role, text))
    return lines


@pytest.fixture(scope="session")
def corpus(corpus_lines) -> list[str]:
    return [text for _role, text in corpus_lines]


@pytest.fixture(scope="session")
def pattern_sets() -> dict[str, list[str]]:
    _require(WORDS_FILE)
    words = sorted({w.strip() for w in WORDS_FILE.read_text(encoding="utf-8").splitlines() if w.strip()})
    return {"5k": random.Random(42).sample(words, min(SUBSET_SIZE, len(words))), "108k": words}


# ---- results registry -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def results(pytestconfig) -> dict:
    return pytestconfig.stash.setdefault(RESULTS, {"match": {}, "build": {}, "memory": {}, "skipped": {},
                                                   "sanity": {}, "n_messages": 0})


@pytest.fixture
def run_timed(benchmark, results):
    """run_timed(group=, engine=, pattern_set=, target=, n_messages=, rounds=) -> target's result."""

    def run(**kwargs):
        return _run_timed(benchmark, results, **kwargs)

    return run


def _run_timed(benchmark, results, *, group, engine, pattern_set, target, n_messages, rounds):
    """benchmark.pedantic over `target`, timing every round ourselves as well."""
    times: list[float] = []

    def timed():
        t0 = time.perf_counter()
        out = target()
        times.append(time.perf_counter() - t0)
        return out

    benchmark.group = group
    out = benchmark.pedantic(timed, rounds=rounds, iterations=1, warmup_rounds=0)
    median = statistics.median(times)
    us = median / n_messages * 1e6
    benchmark.extra_info.update({
        "messages": n_messages, "rounds_measured": len(times), "median_s": round(median, 4),
        "us_per_message": round(us, 3), "messages_per_s": round(n_messages / median),
    })
    results["match"][(pattern_set, engine)] = {"median_s": median, "us": us, "msgs_s": n_messages / median,
                                               "rounds": len(times)}
    results["n_messages"] = n_messages
    return out


# ---- engines ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def engines(pattern_sets, corpus, results):
    """get(name, set) -> built engine, built once per session; the build time is recorded."""
    cache: dict = {}

    def get(name, pattern_set):
        key = (pattern_set, name)
        if key in results["skipped"]:
            pytest.skip(results["skipped"][key])
        if key not in cache:
            gc.collect()
            t0 = time.perf_counter()
            try:
                cache[key] = build_engine(name, pattern_sets[pattern_set], corpus)
            except Exception as exc:  # e.g. a hyperscan compile error: report, don't fail the suite
                if "hyperscan" not in name:
                    raise
                results["skipped"][key] = f"{name} compile failed for {pattern_set}: {type(exc).__name__}: {exc}"
                pytest.skip(results["skipped"][key])
            elapsed = time.perf_counter() - t0
            results["build"].setdefault(key, {"median_s": elapsed, "rounds": 1, "how": "first build"})
            if "hyperscan" in name and elapsed > HYPERSCAN_COMPILE_LIMIT_S:
                results["skipped"][key] = f"{name} compile took {elapsed:.1f} s for {pattern_set} (> {HYPERSCAN_COMPILE_LIMIT_S:.0f} s)"
                del cache[key]
                pytest.skip(results["skipped"][key])
        return cache[key]

    return get


# ---- summary ----------------------------------------------------------------------------------

ENGINE_ORDER = ("stream-guard", "stream-guard-longest", "pyahocorasick", "ahocorasick-rs", "hyperscan",
                "prepass+pyahocorasick", "prepass+ahocorasick-rs", "prepass+hyperscan")


def _fmt(value, spec, missing="-"):
    return missing if value is None else format(value, spec)


def _verdict(ok):
    return "ok" if ok else "OVER"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    res = config.stash.get(RESULTS, None)
    if not res or not (res["match"] or res["build"] or res["memory"] or res.get("rules") or res.get("scan")
                       or res.get("replies") or res.get("worker")):
        return
    w = terminalreporter.write_line
    terminalreporter.section("stream-guard benchmark summary")
    n = res["n_messages"]
    if n:
        w(f"corpus: {n} messages; us/msg = median over rounds of a whole-corpus pass / messages; "
          f"ratio = engine time / stream-guard (overlapping) time; RSS = resident growth of a fresh process "
          f"building the engine. Budgets are reported, never asserted.")
    header = (f"{'set':<5} {'engine':<23} {'us/msg':>8} {'msgs/s':>10} {'ratio':>6} {'rounds':>6} "
              f"{'build s':>8} {'RSS MB':>7} {'native MB':>9}  {'budget us/msg':<34} {'budget build':<15} "
              f"{'budget RSS':<14}")
    for pattern_set in SETS:
        rows = [e for e in ENGINE_ORDER if (pattern_set, e) in res["match"] or (pattern_set, e) in res["build"]
                or (pattern_set, e) in res["skipped"] or (pattern_set, e) in res["memory"]]
        if not rows:
            continue
        w("")
        w(header)
        w("-" * len(header))
        ours = res["match"].get((pattern_set, "stream-guard"))
        peer = res["match"].get((pattern_set, BUDGET_5K_PEER))
        for engine in rows:
            key = (pattern_set, engine)
            if key in res["skipped"] and key not in res["match"]:
                w(f"{pattern_set:<5} {engine:<23} skipped: {res['skipped'][key]}")
                continue
            m = res["match"].get(key)
            b = res["build"].get(key if engine != "stream-guard-longest" else (pattern_set, "stream-guard"))
            mem = res["memory"].get(key)
            ratio = m["median_s"] / ours["median_s"] if (m and ours) else None
            budget_us = budget_build = budget_rss = ""
            if engine == "stream-guard" and pattern_set == "5k" and m and peer:
                budget_us = f"<= {peer['us']:.2f} ({BUDGET_5K_PEER} raw) {_verdict(m['us'] <= peer['us'])}"
            if engine == "stream-guard" and pattern_set == "108k":
                if m:
                    budget_us = f"<= {BUDGET_108K_US_PER_MSG:.1f} {_verdict(m['us'] <= BUDGET_108K_US_PER_MSG)}"
                if b:
                    budget_build = f"<= {BUDGET_108K_BUILD_S} {_verdict(b['median_s'] <= BUDGET_108K_BUILD_S)}"
                if mem:
                    budget_rss = f"<= {BUDGET_108K_RSS_MB:.0f} {_verdict(mem['rss_mb'] <= BUDGET_108K_RSS_MB)}"
            w(f"{pattern_set:<5} {engine:<23} {_fmt(m and m['us'], '8.3f'):>8} "
              f"{_fmt(m and m['msgs_s'], ',.0f'):>10} {_fmt(ratio, '6.2f'):>6} {_fmt(m and m['rounds'], 'd'):>6} "
              f"{_fmt(b and b['median_s'], '8.3f') if engine != 'stream-guard-longest' else '':>8} "
              f"{_fmt(mem and mem['rss_mb'], '7.1f'):>7} {_fmt(mem and mem.get('native_mb'), '9.1f'):>9}  "
              f"{budget_us:<34} {budget_build:<15} {budget_rss:<14}")
        if ours:
            ratios = ", ".join(f"{e} {res['match'][(pattern_set, e)]['median_s'] / ours['median_s']:.2f}x"
                               for e in ENGINE_ORDER[2:] if (pattern_set, e) in res["match"])
            w(f"{pattern_set}: peer time / stream-guard time: {ratios}")
    builds = [f"{s} {res['build'][(s, 'stream-guard')]['median_s']:.3f} s ({res['build'][(s, 'stream-guard')]['how']})"
              for s in SETS if (s, "stream-guard") in res["build"]]
    if builds:
        w("stream-guard build: " + "; ".join(builds))
    for pattern_set, info in sorted(res["sanity"].items()):
        w(f"sanity {pattern_set}: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    if res.get("rules"):
        from test_rules_throughput import print_rules_summary
        print_rules_summary(w, res["rules"])
    if res.get("scan"):
        from test_scan_throughput import print_scan_summary
        print_scan_summary(w, res["scan"])
    if res.get("replies"):
        from test_replies_throughput import print_replies_summary
        print_replies_summary(w, res["replies"])
    if res.get("worker"):
        from test_worker_throughput import print_worker_summary
        print_worker_summary(w, res["worker"])

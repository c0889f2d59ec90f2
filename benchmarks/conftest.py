"""Data fixtures, the engine cache, the real Kafka broker (tests/kafka_broker.py) and the figures'
JSON for the benchmark suite (engines: peers.py).

Data: `../shared/data/` beside the project root (override with STREAM_GUARD_SHARED):
- cs_utterances.tsv: `role<TAB>text`; the corpus is every text (`corpus_lines`: with its role);
- sensitive_words.txt: pattern set "108k" (every non-blank line, sorted); "5k" is
  random.Random(42).sample of the sorted list.

Benchmarks report, they never fail on timing. Every timed call is also measured here with
perf_counter, so there are figures even with `--benchmark-disable` (one quick run each). Each
benchmark module turns what its tests put in the `results` registry into tables of records
(`benchmark_tables(results)`, records made by `figures.record`); at the end of the session they go to
build/bench/results.json with the machine's description, are printed as the summary, and
scripts/perf_tables.py renders docs/performance.md from that file.
"""
from __future__ import annotations

import datetime
import gc
import importlib.util
import json
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

from figures import machine  # noqa: E402
from peers import build_engine  # noqa: E402

SHARED = Path(os.environ.get("STREAM_GUARD_SHARED") or ROOT.parent / "shared" / "data")
CORPUS_FILE = SHARED / "cs_utterances.tsv"
WORDS_FILE = SHARED / "sensitive_words.txt"
SUBSET_SIZE = 5000

HYPERSCAN_COMPILE_LIMIT_S = 60.0

RESULTS = pytest.StashKey[dict]()
TABLES = pytest.StashKey[list]()
BENCH_JSON = ROOT / "build" / "bench" / "results.json"
PERF_TABLES = ROOT / "scripts" / "perf_tables.py"
# the modules whose `benchmark_tables(results)` give the figures, in the order they are shown
TABLE_MODULES = ("test_matcher_throughput", "test_build", "test_rules_throughput", "test_rules_adversarial",
                 "test_scan_throughput", "test_replies_throughput", "test_worker_throughput")


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
                results["skipped"][key] = (f"{name} compile took {elapsed:.1f} s for {pattern_set} "
                                           f"(> {HYPERSCAN_COMPILE_LIMIT_S:.0f} s)")
                del cache[key]
                pytest.skip(results["skipped"][key])
        return cache[key]

    return get


# ---- figures ----------------------------------------------------------------------------------


def pytest_sessionfinish(session, exitstatus):
    """Every module's tables of this session to build/bench/results.json (when any benchmark ran)."""
    res = session.config.stash.get(RESULTS, None)
    if not res:
        return
    tables = []
    for name in TABLE_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            tables += [t for t in module.benchmark_tables(res) if t["records"]]
    if not tables:
        return
    quick = bool(session.config.getoption("benchmark_disable", False))
    data = {"format": 1, "quick": quick,
            "run_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "benchmarks": tables}
    BENCH_JSON.parent.mkdir(parents=True, exist_ok=True)
    BENCH_JSON.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    session.config.stash[TABLES] = [data]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    written = config.stash.get(TABLES, None)
    if not written:
        return
    spec = importlib.util.spec_from_file_location("perf_tables", PERF_TABLES)
    assert spec and spec.loader
    perf_tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(perf_tables)
    terminalreporter.section("stream-guard benchmark figures")
    for line in perf_tables.render_tables(written[0]).splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"figures written to {BENCH_JSON}; render docs/performance.md with "
                                f".venv/bin/python scripts/perf_tables.py")

"""Build time of the native matcher, and resident memory of every built engine.

Memory is measured in a fresh interpreter per engine (resident set before and after the build,
after the engine's library and the pattern list are loaded), so nothing else in this session
pollutes the figure. Budgets for 108k patterns, reported, never asserted: the build within
BUDGET_108K_BUILD_S, the resident growth within BUDGET_108K_RSS_MB.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from figures import record
from peers import ENGINES, SETS

from stream_guard.evaluation.matcher import Matcher

HERE = Path(__file__).resolve().parent
BUDGET_108K_BUILD_S = 1.5
BUDGET_108K_RSS_MB = 150.0
MEMORY_ENGINES = ("stream-guard", "pyahocorasick", "ahocorasick-rs", "hyperscan")


@pytest.mark.parametrize("pattern_set", SETS)
def test_build_matcher(benchmark, pattern_sets, results, pattern_set):
    patterns = pattern_sets[pattern_set]
    times: list[float] = []

    def build():
        t0 = time.perf_counter()
        m = Matcher(patterns)
        times.append(time.perf_counter() - t0)
        return m

    benchmark.group = f"build-{pattern_set}"
    m = benchmark.pedantic(build, rounds=3, iterations=1)
    median = statistics.median(times)
    benchmark.extra_info.update({
        "patterns": len(patterns), "states": m.state_count, "memory_bytes": m.memory_bytes,
        "build_s_median": round(median, 4), "rounds_measured": len(times),
    })
    results["build"][(pattern_set, "stream-guard")] = {
        "median_s": median, "rounds": len(times), "how": f"median of {len(times)}",
    }
    assert m.state_count > 0 and m.memory_bytes > 0 and not m.unreachable


_MEMORY_PROBE = r"""
import gc, json, os, resource, sys, time
sys.path.insert(0, sys.argv[3])
import peers
engine, path = sys.argv[1], sys.argv[2]
if engine == "stream-guard":
    from stream_guard.evaluation.matcher import Matcher as build
else:
    build = {"pyahocorasick": peers.RawPyAhoCorasick, "ahocorasick-rs": peers.RawAhoCorasickRs,
             "hyperscan": peers.RawHyperscan}[engine]
    __import__({"pyahocorasick": "ahocorasick", "ahocorasick-rs": "ahocorasick_rs",
                "hyperscan": "hyperscan"}[engine])

def rss():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

patterns = [line for line in open(path, encoding="utf-8").read().split("\n") if line]
gc.collect()
before = rss()
t0 = time.perf_counter()
built = build(patterns)
elapsed = time.perf_counter() - t0
gc.collect()
after = rss()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rss_bytes": after - before, "peak_bytes": peak - before, "build_s": elapsed,
                  "native_bytes": getattr(built, "memory_bytes", None)}))
"""


@pytest.mark.parametrize("engine", MEMORY_ENGINES)
@pytest.mark.parametrize("pattern_set", SETS)
def test_resident_memory(tmp_path_factory, pattern_sets, results, pattern_set, engine):
    path = tmp_path_factory.getbasetemp() / f"patterns-{pattern_set}.txt"
    if not path.exists():
        path.write_text("\n".join(pattern_sets[pattern_set]) + "\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, engine, str(path), str(HERE)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        if engine == "hyperscan":
            results["skipped"].setdefault((pattern_set, engine), f"memory probe failed: {proc.stderr[-300:]}")
            pytest.skip(f"hyperscan memory probe failed for {pattern_set}: {proc.stderr[-300:]}")
        raise AssertionError(proc.stderr)
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    results["memory"][(pattern_set, engine)] = {
        "rss_mb": info["rss_bytes"] / 2**20, "peak_mb": info["peak_bytes"] / 2**20,
        "native_mb": info["native_bytes"] / 2**20 if info["native_bytes"] is not None else None,
        "fresh_build_s": info["build_s"],
    }
    assert info["rss_bytes"] >= 0


def benchmark_tables(res: dict) -> list[dict]:
    build, memory = res["build"], res["memory"]
    builds, rss = [], []
    for pattern_set in SETS:
        ours = build.get((pattern_set, "stream-guard"))
        if ours is not None:
            peers = {e: build[(pattern_set, e)]["median_s"] for e in ENGINES[1:] if (pattern_set, e) in build}
            budget = ("<=", BUDGET_108K_BUILD_S) if pattern_set == "108k" else None
            builds.append(record(f"{pattern_set} patterns", "build the matcher", ours["median_s"], "s",
                                 budget=budget, peers=peers,
                                 note=ours["how"] + ("; peers: their first build" if peers else "")))
        ours = memory.get((pattern_set, "stream-guard"))
        if ours is not None:
            peers = {e: memory[(pattern_set, e)]["rss_mb"] for e in MEMORY_ENGINES[1:] if (pattern_set, e) in memory}
            budget = ("<=", BUDGET_108K_RSS_MB) if pattern_set == "108k" else None
            rss.append(record(f"{pattern_set} patterns", "resident growth of a fresh process building it",
                              ours["rss_mb"], "MB", budget=budget, peers=peers))
            rss.append(record(f"{pattern_set} patterns", "the matcher's native tables", ours["native_mb"], "MB"))
    return [
        {"name": "build", "title": "Matcher build time",
         "about": "Compiling the pattern set into the native matcher, beside the peers' first build in the "
                  "same session.",
         "records": builds},
        {"name": "memory", "title": "Matcher memory",
         "about": "Resident set growth of a fresh interpreter while it builds one engine (nothing else of the "
                  "session in it), and the size of the matcher's own tables.",
         "records": rss},
    ]

"""The figures' format: the records every benchmark module's `benchmark_tables(results)` returns,
which conftest.py writes to build/bench/results.json and scripts/perf_tables.py renders.

A table is {"name", "title", "about", "records"}; `record` makes one row.
"""
from __future__ import annotations

import os
import platform


def record(case: str, measure: str, figure: float | None, unit: str, *, budget: tuple | None = None,
           peers: dict | None = None, note: str = "") -> dict:
    """One figure of a benchmark table (the format scripts/perf_tables.py reads).

    `case` and `measure` name the row and must not depend on the run's scale (the quick run and
    the full run give tables of the same rows); `figure` is None when the run could not measure
    it (`note` says why); `budget` is (op, value) or (op, value, what the value is), op "<=" or
    ">=", reported beside the figure, never asserted; `peers` are other engines' figures of the
    same measure in the same session, on the same data, for a side-by-side comparison.
    """
    record: dict = {"case": case, "measure": measure, "figure": _plain(figure), "unit": unit}
    if budget is not None:
        op, value, *of = budget
        record["budget"] = {"op": op, "value": _plain(value), **({"of": of[0]} if of else {})}
    if peers:
        record["peers"] = {name: _plain(value) for name, value in peers.items()}
    if note:
        record["note"] = note
    return record


def _plain(value):
    return None if value is None else float(value)


def machine() -> dict:
    """What the figures were measured on."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_count": os.cpu_count(), "usable_cpus": usable, "cpu_model": model or platform.processor(),
            "python": platform.python_version(), "implementation": platform.python_implementation(),
            "system": f"{platform.system()} {platform.release()} {platform.machine()}"}

"""scripts/perf_tables.py: the tables it renders from the benchmarks' JSON, --check, and bad input."""
from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "perf_tables.py"
_spec = importlib.util.spec_from_file_location("perf_tables", SCRIPT)
assert _spec and _spec.loader
perf_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(perf_tables)

FIGURES: dict[str, Any] = {
    "format": 1, "quick": False, "run_at": "2030-01-02 03:04 UTC",
    "machine": {"cpu_count": 2, "usable_cpus": 2, "cpu_model": "Test CPU", "python": "3.11.7",
                "implementation": "CPython", "system": "Linux x86_64"},
    "benchmarks": [
        {"name": "matcher", "title": "Matching throughput", "about": "The matcher over the corpus.",
         "records": [
             {"case": "5k patterns", "measure": "normalise and match", "figure": 0.25, "unit": "us/msg",
              "budget": {"op": "<=", "value": 0.5, "of": "ahocorasick-rs, raw"},
              "peers": {"ahocorasick-rs": 0.5, "hyperscan": None}, "note": "median of 5 passes"},
             {"case": "108k patterns", "measure": "normalise and match", "figure": 2.5, "unit": "us/msg",
              "budget": {"op": "<=", "value": 2.0}},
         ]},
        {"name": "worker", "title": "The worker", "about": "Records per second.",
         "records": [
             {"case": "day", "measure": "worker | rate", "figure": 123456.0, "unit": "records/s",
              "budget": {"op": ">=", "value": 100000}},
             {"case": "day", "measure": "agent", "figure": None, "unit": "records/s", "note": "too short"},
         ]},
    ],
}


def _write(tmp_path: Path, data, name: str = "results.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _rows(text: str, title: str) -> list[list[str]]:
    """The body rows of the table under `## title`, as cells."""
    lines = text.splitlines()
    start = lines.index(f"## {title}")
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("| ") and not line.startswith("| case |"):
            rows.append([cell.strip() for cell in perf_tables._split_row(line)])
    return rows


def test_tables_hold_every_record_with_budget_verdict_and_peer_ratios():
    text = perf_tables.render_tables(FIGURES)
    assert "Test CPU, 2 of 2 CPUs usable, CPython 3.11.7" in text and "2030-01-02 03:04 UTC" in text
    assert "Quick run" not in text
    assert "The matcher over the corpus." in text
    assert _rows(text, "Matching throughput") == [
        ["5k patterns", "normalise and match", "0.250", "us/msg", "≤ ahocorasick-rs, raw", "yes",
         "ahocorasick-rs 0.500 (2.00x); hyperscan -", "median of 5 passes"],
        ["108k patterns", "normalise and match", "2.50", "us/msg", "≤ 2", "no", "", ""],
    ]
    assert _rows(text, "The worker") == [
        ["day", "worker \\| rate", "123,456", "records/s", "≥ 100,000", "yes", "", ""],
        ["day", "agent", "-", "records/s", "", "", "", "too short"],
    ]


def test_quick_figures_are_marked():
    quick = dict(FIGURES, quick=True)
    assert "Quick run (--benchmark-disable)" in perf_tables.render_tables(quick)


def test_written_document_checks_clean_and_keeps_the_intro(tmp_path):
    figures, doc = _write(tmp_path, FIGURES), tmp_path / "docs" / "performance.md"
    assert perf_tables.main(["--json", str(figures), "--doc", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Performance") and "make bench" in text
    assert text.index(perf_tables.BEGIN) < text.index("## Matching throughput") < text.index(perf_tables.END)
    assert perf_tables.main(["--json", str(figures), "--doc", str(doc), "--check"]) == 0
    assert perf_tables.main(["--json", str(figures), "--doc", str(doc), "--check", "--exact"]) == 0


def test_check_detects_a_stale_structure(tmp_path, capsys):
    doc = tmp_path / "performance.md"
    perf_tables.main(["--json", str(_write(tmp_path, FIGURES)), "--doc", str(doc)])
    grown = copy.deepcopy(FIGURES)
    grown["benchmarks"][1]["records"].append({"case": "day", "measure": "engine alone", "figure": 1.0,
                                              "unit": "records/s"})
    assert perf_tables.main(["--json", str(_write(tmp_path, grown, "grown.json")), "--doc", str(doc),
                             "--check"]) == 1
    assert "stale" in capsys.readouterr().err
    renamed = copy.deepcopy(FIGURES)
    renamed["benchmarks"][0]["records"][1]["budget"]["value"] = 1.0
    assert perf_tables.main(["--json", str(_write(tmp_path, renamed, "renamed.json")), "--doc", str(doc),
                             "--check"]) == 1


def test_check_ignores_new_figures_unless_exact(tmp_path):
    doc = tmp_path / "performance.md"
    perf_tables.main(["--json", str(_write(tmp_path, FIGURES)), "--doc", str(doc)])
    rerun = copy.deepcopy(FIGURES)
    rerun.update(quick=True, run_at="2030-02-03 04:05 UTC")
    rerun["benchmarks"][0]["records"][0].update(figure=0.75, note="median of 1 pass")
    rerun["benchmarks"][0]["records"][0]["peers"]["hyperscan"] = 0.4
    path = _write(tmp_path, rerun, "rerun.json")
    assert perf_tables.main(["--json", str(path), "--doc", str(doc), "--check"]) == 0
    assert perf_tables.main(["--json", str(path), "--doc", str(doc), "--check", "--exact"]) == 1


def test_document_without_markers_is_an_error(tmp_path, capsys):
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nhand-written tables\n", encoding="utf-8")
    assert perf_tables.main(["--json", str(_write(tmp_path, FIGURES)), "--doc", str(doc), "--check"]) == 2
    assert "no generated tables" in capsys.readouterr().err


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file; run the benchmarks first"),
    ("{not json", "not JSON"),
    ("[]", "expected an object"),
    (json.dumps(dict(FIGURES, benchmarks=[])), "benchmarks: expected a non-empty list"),
    (json.dumps(dict(FIGURES, benchmarks=[dict(FIGURES["benchmarks"][0], records=[
        {"case": "c", "measure": "m", "figure": "fast", "unit": "s"}])])), "benchmarks[0].records[0].figure"),
    (json.dumps(dict(FIGURES, benchmarks=[dict(FIGURES["benchmarks"][0], records=[
        {"case": "c", "measure": "m", "figure": 1, "unit": "s", "budget": {"op": "<", "value": 1}}])])),
     "records[0].budget.op"),
])
def test_missing_or_invalid_figures_give_a_clear_error(tmp_path, capsys, content, message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    doc = tmp_path / "performance.md"
    assert perf_tables.main(["--json", str(path), "--doc", str(doc)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err
    assert not doc.exists()

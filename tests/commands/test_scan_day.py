"""`scan` on the bundled generated day, scored against the generator's labels (ground truth)."""
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from stream_guard.gen import GenConfig, generate

ROOT = Path(__file__).resolve().parents[2]
DAY = ROOT / "examples" / "day.jsonl.gz"
LABELS = json.loads((ROOT / "examples" / "day.labels.json").read_text(encoding="utf-8"))
# what `make examples` runs (Makefile EXAMPLE_GEN)
EXAMPLE_CONFIG = GenConfig(seed=1, shops=15, events=10_000)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    out = tmp_path_factory.mktemp("scan")
    done = subprocess.run(
        [sys.executable, "-m", "stream_guard", "scan", str(DAY), "--out", str(out / "violations.jsonl"),
         "--rejects", str(out / "rejects.jsonl"), "--report", str(out / "report.json"), "--quiet"],
        capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()

    def read(name):
        return [json.loads(line) for line in (out / name).read_text(encoding="utf-8").splitlines()]

    return read("violations.jsonl"), read("rejects.jsonl"), json.loads((out / "report.json").read_text())


def test_the_bundled_day_is_what_the_generator_makes_now():
    """Rule packs or the generator changed without `make examples`: the labels would be stale."""
    fresh = b"".join(line + b"\n" for line in generate(EXAMPLE_CONFIG).lines())
    assert gzip.decompress(DAY.read_bytes()) == fresh, "examples/ is stale: run `make examples`"


def test_every_labelled_violation_is_found_with_its_category_and_nothing_else(scanned):
    violations, _, _ = scanned
    found: dict[str, set] = {}
    for v in violations:
        found.setdefault(v["event_id"], set()).add(v["category"])
    expected = {event_id: set(categories) for event_id, categories in LABELS["violations"].items()}
    assert found == expected
    assert len(expected) > 50


def test_rejects_are_the_bad_lines_with_their_reasons(scanned):
    _, rejects, report = scanned
    assert [(r["line"], r["reason"]) for r in rejects] == [(r["line"], r["reason"]) for r in LABELS["rejects"]]
    assert report["rejects"]["total"] == len(LABELS["rejects"]) > 5


@pytest.mark.parametrize("platform", ["taobao", "tmall", "pinduoduo", "jd", "douyin"])
def test_per_shop_reply_figures_equal_the_labels(scanned, platform):
    _, _, report = scanned
    keys = ("platform", "shop_id", "day", "consults", "valid", "penalty_risk")
    got = sorted(tuple(r[k] for k in keys) for r in report["shops"] if r["platform"] == platform)
    want = sorted(tuple(r[k] for k in keys) for r in LABELS["shops"] if r["platform"] == platform)
    assert got == want and want


def test_the_day_has_a_shop_at_penalty_risk(scanned):
    _, _, report = scanned
    assert [r["shop_id"] for r in report["shops"] if r["penalty_risk"]]

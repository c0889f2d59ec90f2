"""The package as a user installs it: the sdist, the wheel built from it, and a fresh virtualenv.

`python -m build` makes the sdist and then the wheel from the unpacked sdist, so a file the sdist
forgets fails the wheel's build. The installed command then runs from a folder outside the checkout,
where nothing of the checkout is importable, and must give what the checkout gives.
"""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAY = ROOT / "examples" / "day.jsonl.gz"
PACKS = sorted(path.name for path in (ROOT / "rules").glob("*.toml"))
NATIVE = ("_matcher", "_events", "_replies")

pytest.importorskip("build", reason="the `build` package (test extra) makes the sdist and the wheel")


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{argv} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would point the installed command at the checkout."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYTHONPATH", "STREAM_GUARD_RULES_DIR", "VIRTUAL_ENV")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=out, env=clean_env())
    return out


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> Path:
    """The bin folder of a fresh virtualenv holding the built wheel and its dependencies."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=True)
    (wheel,) = dist.glob("*.whl")
    run([str(home / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], cwd=home, env=clean_env())
    return home / "bin"


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A working folder outside the checkout."""
    assert ROOT not in tmp_path.parents
    return tmp_path


def test_the_sdist_carries_what_the_wheel_is_built_from(dist):
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    needed = {f"_native/{path.name}" for path in (ROOT / "_native").iterdir() if path.is_file()}
    needed |= {f"rules/{name}" for name in PACKS} | {"setup.py", "pyproject.toml", "README.md"}
    assert needed <= names, sorted(needed - names)
    assert not {name for name in names if name.endswith(".so")}


def test_the_wheel_ships_the_packs_the_stubs_and_the_compiled_modules(dist):
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"stream_guard/bundled_rules/{name}" for name in PACKS} <= names
    assert {f"stream_guard/{module}.pyi" for module in NATIVE} | {"stream_guard/py.typed"} <= names
    compiled = {name.split("/")[-1].split(".")[0] for name in names if name.endswith(".so")}
    assert set(NATIVE) | {"ruleset", "detectors", "violations"} <= compiled
    assert not {name for name in names if name.startswith(("tests/", "benchmarks/", "rules/"))}


def test_the_installed_scan_finds_what_the_checkout_finds(installed, elsewhere):
    run([str(installed / "stream-guard"), "scan", str(EXAMPLE_DAY), "--quiet",
         "--out", "violations.jsonl", "--outcomes", "outcomes.jsonl"], cwd=elsewhere, env=clean_env())
    run([sys.executable, "-m", "stream_guard", "scan", str(EXAMPLE_DAY), "--quiet",
         "--out", str(elsewhere / "checkout.jsonl"), "--outcomes", str(elsewhere / "checkout-outcomes.jsonl")],
        cwd=ROOT, env=clean_env())
    found = (elsewhere / "violations.jsonl").read_bytes()
    assert found and found == (elsewhere / "checkout.jsonl").read_bytes()
    assert (elsewhere / "outcomes.jsonl").read_bytes() == (elsewhere / "checkout-outcomes.jsonl").read_bytes()


def test_the_installed_rules_test_runs_every_bundled_example(installed, elsewhere):
    tested = run([str(installed / "stream-guard"), "rules", "test"], cwd=elsewhere, env=clean_env())
    in_checkout = run([sys.executable, "-m", "stream_guard", "rules", "test"], cwd=ROOT, env=clean_env())
    summary = tested.stdout.strip().splitlines()[-1]
    assert summary.endswith(" passed, 0 failed") and not summary.startswith("0 ")
    assert summary == in_checkout.stdout.strip().splitlines()[-1]
    run([str(installed / "stream-guard"), "rules", "check"], cwd=elsewhere, env=clean_env())


def test_the_installed_gen_makes_the_day_the_checkout_makes(installed, elsewhere):
    options = ["gen", "--seed", "3", "--shops", "4", "--events", "800", "--quiet"]
    run([str(installed / "stream-guard"), *options, "--out", "day.jsonl.gz"], cwd=elsewhere, env=clean_env())
    run([sys.executable, "-m", "stream_guard", *options, "--out", str(elsewhere / "checkout.jsonl.gz")],
        cwd=ROOT, env=clean_env())
    made = gzip.decompress((elsewhere / "day.jsonl.gz").read_bytes())
    assert made.count(b"\n") > 100 and made == gzip.decompress((elsewhere / "checkout.jsonl.gz").read_bytes())


def test_the_rules_directory_setting_overrides_the_bundled_packs(installed, elsewhere):
    (elsewhere / "packs").mkdir()
    refused = subprocess.run([str(installed / "stream-guard"), "scan", str(EXAMPLE_DAY), "--quiet"], cwd=elsewhere,
                             env=clean_env(STREAM_GUARD_RULES_DIR=str(elsewhere / "packs")),
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "missing: every platform needs a pack" in refused.stderr

"""The package's layout as its imports draw it: subpackages by role, in layers, each documented.

A lower layer never imports a higher one, and the subpackages of one layer do not import each
other: rule evaluation cannot reach into the worker, and `scan` and `worker` share only what sits
below them. Python reaches the native modules only through their facades.
"""
from __future__ import annotations

import ast
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "stream_guard"
LAYERS = (
    ("observe",),
    ("tracking",),
    ("evaluation",),
    ("engine",),
    ("config", "kafka"),
    ("scan", "worker", "gen"),
    ("cli",),
)
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}
FACADES = {
    "stream_guard._matcher": "stream_guard.evaluation.matcher",
    "stream_guard._events": "stream_guard.engine.events",
    "stream_guard._replies": "stream_guard.tracking.replies",
}
TOP_LEVEL = {"pyproject.toml", "setup.py", "MANIFEST.in", "Makefile", "README.md", "CHANGELOG.md", "LICENSE",
             ".gitignore", ".ci", "stream_guard", "_native", "rules", "deploy", "tests", "benchmarks", "docs",
             "examples", "scripts"}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, module: str) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return imported(path.read_text(encoding="utf-8"), package)


def imported(source: str, package: str) -> set[str]:
    """The stream_guard modules a source imports, at any depth (lazy imports count too)."""
    named = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            named |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).rstrip(".")
            named |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in named if name.split(".")[0] == "stream_guard"}


def subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYER_OF else None


def test_every_subpackage_has_a_layer_and_every_module_says_what_it_owns():
    subpackages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert subpackages == set(LAYER_OF)
    undocumented = [name for name, path in modules().items()
                    if not (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").strip()]
    assert undocumented == []
    for name in subpackages:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8"))) or ""
        assert "import" in doc, f"stream_guard/{name}/__init__.py must say what the subpackage may import"


def test_lower_layers_never_import_higher_ones_nor_their_neighbours():
    crossings = []
    for module, path in modules().items():
        own = subpackage(module)
        if own is None:
            continue
        for target in imports(path, module):
            other = subpackage(target)
            if other is not None and other != own and LAYER_OF[other] >= LAYER_OF[own]:
                crossings.append(f"{module} imports {target}")
    assert crossings == []


def test_the_native_modules_are_reached_only_through_their_facades():
    for module, path in modules().items():
        for native in imports(path, module) & set(FACADES):
            assert FACADES[native] == module, f"{module} imports {native}; use {FACADES[native]}"


def test_the_layer_check_sees_a_crossing():
    """The checks above read real import statements: a forbidden one is found."""
    source = "def later():\n    from ..worker import app\nimport stream_guard._matcher\n"
    assert {"stream_guard.worker.app", "stream_guard._matcher"} <= imported(source, "stream_guard.evaluation")


def test_every_subpackage_is_installed():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(project["tool"]["setuptools"]["packages"])
    assert listed == {"stream_guard", "stream_guard.bundled_rules"} | {f"stream_guard.{name}" for name in LAYER_OF}


def test_the_top_level_folders_are_the_projects():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert {line.split("/")[0] for line in tracked.splitlines()} <= TOP_LEVEL

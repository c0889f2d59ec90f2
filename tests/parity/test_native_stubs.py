"""The native modules' type stubs (`stream_guard/_*.pyi`) declare exactly what the compiled
modules expose: the same public names, and for each class the same public methods and
properties; and, where mypy is installed, stubtest finds their signatures consistent. Within the
package, each native module is imported by its facade only."""
from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "stream_guard"
NATIVE = ("_matcher", "_events", "_replies")
FACADES = {"_matcher": "evaluation/matcher.py", "_events": "engine/events.py", "_replies": "tracking/replies.py"}
# what Cython adds to every compiled module and class, and no caller uses
STUBTEST_ALLOWLIST = r"""
stream_guard\._(matcher|events|replies)\.(\w+\.)?__(reduce|setstate)_cython__
stream_guard\._(matcher|events|replies)\.__test__
"""


def _public(name: str) -> bool:
    return not name.startswith("_")


def _stub_names(tree: ast.Module) -> tuple[set[str], dict[str, set[str]]]:
    """The public names a stub declares at module level, and each public class's public members."""
    names: set[str] = set()
    classes: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            target = node.name
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target = node.target.id
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
        else:
            continue
        if not _public(target):
            continue
        names.add(target)
        if isinstance(node, ast.ClassDef):
            classes[target] = {member.name for member in node.body
                               if isinstance(member, ast.FunctionDef) and _public(member.name)}
    return names, classes


def _runtime_names(module: types.ModuleType) -> set[str]:
    """The module's public names, less what it imports: modules, and classes or functions
    defined elsewhere (`datetime`, `Mapping`)."""
    names = set()
    for name in dir(module):
        value = getattr(module, name)
        if not _public(name) or isinstance(value, types.ModuleType):
            continue
        if getattr(value, "__module__", module.__name__) != module.__name__:
            continue
        names.add(name)
    return names


@pytest.mark.parametrize("name", NATIVE)
def test_stub_declares_the_module_public_names(name):
    module = importlib.import_module(f"stream_guard.{name}")
    declared, classes = _stub_names(ast.parse((PACKAGE / f"{name}.pyi").read_text(encoding="utf-8")))
    assert declared == _runtime_names(module)
    for class_name, members in classes.items():
        runtime = {attr for attr in vars(getattr(module, class_name)) if _public(attr)}
        assert members == runtime, class_name


def test_stubs_are_shipped_with_the_typed_marker():
    assert (PACKAGE / "py.typed").is_file()


def test_stubtest_finds_the_stubs_consistent(tmp_path):
    pytest.importorskip("mypy.stubtest", reason="mypy is not installed")
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text(STUBTEST_ALLOWLIST, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--allowlist", str(allowlist),
                          *(f"stream_guard.{name}" for name in NATIVE)],
                         cwd=PACKAGE.parent, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def _native_imports(tree: ast.Module) -> set[str]:
    """The native modules a module imports, however it spells the import."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.rpartition(".")[2] for alias in node.names
                         if alias.name.startswith("stream_guard."))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("stream_guard."):
                found.add(node.module.rpartition(".")[2])
            elif node.module == "stream_guard":
                found.update(alias.name for alias in node.names)
    return found & set(NATIVE)


def test_only_the_facades_import_the_native_modules():
    importers = {name: set() for name in NATIVE}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in _native_imports(ast.parse(path.read_text(encoding="utf-8"))):
            importers[name].add(path.relative_to(PACKAGE).as_posix())
    assert importers == {name: {facade} for name, facade in FACADES.items()}

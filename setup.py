"""Builds the native matcher, the native event decoding and the native reply tracker. Metadata lives in pyproject.toml.

The fold table (`fold_table.h`) is generated at build time from `_native/fold_spec.py`
(Python's Unicode database plus the shipped traditional -> simplified table), so the build needs
no network and no OpenCC, and is deterministic for a given Python version.
"""
import importlib.util
import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent
NATIVE = ROOT / "_native"
GENERATED = ROOT / "build" / "native-generated"


def generate_fold_table() -> None:
    header = GENERATED / "fold_table.h"
    inputs = [NATIVE / "fold_spec.py", NATIVE / "t2s.tsv"]
    if header.exists() and all(header.stat().st_mtime >= p.stat().st_mtime for p in inputs):
        return
    GENERATED.mkdir(parents=True, exist_ok=True)
    spec = importlib.util.spec_from_file_location("fold_spec", NATIVE / "fold_spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_header(header)


generate_fold_table()

extensions = [
    Extension(
        "stream_guard._matcher",
        [os.path.relpath(NATIVE / "_matcher.pyx", ROOT)],
        include_dirs=[os.path.relpath(GENERATED, ROOT)],
        extra_compile_args=["-O3"],
    ),
    Extension(
        "stream_guard._events",
        [os.path.relpath(NATIVE / "_events.pyx", ROOT)],
        extra_compile_args=["-O3"],
    ),
    Extension(
        "stream_guard._replies",
        [os.path.relpath(NATIVE / "_replies.pyx", ROOT)],
        extra_compile_args=["-O3"],
    ),
]

# Rule evaluation stays plain Python, and is compiled as it is: on the real corpus, where most
# messages are judged and one in eight goes through the per-rule Python path, compiling these two
# modules cut the time of `Ruleset.judge_batch` by about a third. The violation records that
# follow a finding (violations.py) are built the same way. The sources stay the definition:
# tests/parity/test_compiled.py requires the compiled modules to judge, and build violations, as the
# sources run by the interpreter do.
COMPILED_PYTHON = [
    "stream_guard/evaluation/ruleset.py",
    "stream_guard/evaluation/detectors.py",
    "stream_guard/evaluation/violations.py",
]

setup(
    ext_modules=cythonize(
        extensions + COMPILED_PYTHON,
        compiler_directives={"language_level": "3"},
        include_path=[str(NATIVE)],  # _unicode.pxd, shared by the modules
        build_dir=str(GENERATED.relative_to(ROOT)),
    )
)

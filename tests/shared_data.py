"""Where the shared data lives (beside the project root), and a clear skip when it is absent."""
import os
from pathlib import Path

import pytest

# The same variable the benchmarks read: the data directory itself.
SHARED_DATA = Path(os.environ.get("STREAM_GUARD_SHARED") or Path(__file__).resolve().parents[2] / "shared" / "data")


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"missing {path}: the shared data set is expected in ../shared/data beside the "
                    f"project root, or in STREAM_GUARD_SHARED")
    return path


def corpus_lines(roles=("agent", "unknown")) -> list[str]:
    with shared_file("cs_utterances.tsv").open(encoding="utf-8") as fh:
        rows = (line.rstrip("\n").split("\t", 1) for line in fh)
        return [row[1] for row in rows if len(row) == 2 and row[0] in roles and row[1]]

"""The shipped fold tables are what their pinned sources give (scripts/gen_fold_tables.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_fold_tables.py"


def test_the_shipped_tables_are_the_sources():
    pytest.importorskip("pypinyin", reason="pypinyin (test extra) is the readings' source")
    pytest.importorskip("jieba", reason="jieba (test extra) is the word list's source")
    pytest.importorskip("confusable_homoglyphs", reason="confusable_homoglyphs (test extra) is the look-alikes' source")
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_changed_table_is_found(tmp_path, monkeypatch):
    pytest.importorskip("pypinyin")
    pytest.importorskip("jieba")
    pytest.importorskip("confusable_homoglyphs")
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import gen_fold_tables as tables
    finally:
        sys.path.remove(str(SCRIPT.parent))
    stale = tmp_path / "words.txt"
    stale.write_text(tables.WORD_LIST.read_text(encoding="utf-8").replace("南京\n", ""), encoding="utf-8")
    monkeypatch.setattr(tables, "WORD_LIST", stale)
    monkeypatch.setattr(sys, "argv", ["gen_fold_tables.py", "--check"])
    assert tables.main() == 1

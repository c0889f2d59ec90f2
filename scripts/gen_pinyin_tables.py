"""Regenerate the rule language's fold tables from pypinyin's and jieba's data (both MIT).

`stream_guard/evaluation/data/pinyin.tsv`: every GB2312 character with its toneless readings
(all of them, for polyphones; pypinyin's usual one first), for the `pinyin` and `homophones`
fold profiles.
`stream_guard/evaluation/data/words.txt`: the two- and three-character words of jieba's
dictionary seen at least 20 times in its corpus, for the guard against a short term read across a
word boundary (京东 in 南京东路).

The derived tables are shipped so that neither the build nor the run time needs pypinyin or
jieba; this script is how they were made and how to refresh them, and
tests/parity/test_fold_tables.py checks them against the pinned packages (test extra):

    .venv/bin/python scripts/gen_pinyin_tables.py          # from the installed pypinyin
    .venv/bin/python scripts/gen_pinyin_tables.py --check  # exit 1 when the shipped tables differ
"""
from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from importlib import resources
from pathlib import Path

PYPINYIN_VERSION = "0.55.0"
JIEBA_VERSION = "0.42.1"
MIN_WORD_COUNT = 20
DATA = Path(__file__).resolve().parent.parent / "stream_guard" / "evaluation" / "data"
PINYIN_TABLE = DATA / "pinyin.tsv"
WORD_LIST = DATA / "words.txt"
WORD_LENGTHS = (2, 3)


def toneless(reading: str) -> str:
    """`lǘ` -> `lv`, `nǚ` -> `nv`, `zhōng` -> `zhong`: the spelling people type."""
    plain = unicodedata.normalize("NFD", reading.replace("ü", "v").replace("ǖ", "v").replace("ǘ", "v")
                                  .replace("ǚ", "v").replace("ǜ", "v"))
    return "".join(c for c in plain if not unicodedata.combining(c)).lower()


def in_gb2312(ch: str) -> bool:
    try:
        return len(ch.encode("gb2312")) == 2
    except UnicodeEncodeError:
        return False


class SourceMissing(Exception):
    """A pinned source package is not installed."""


def _pinned(name: str, version: str):
    try:
        module = __import__(name)
    except ImportError:
        raise SourceMissing(f"{name} is not installed: pip install {name}=={version}") from None
    if module.__version__ != version:
        raise SourceMissing(f"{name} {module.__version__} is installed; the tables are made from {version}")
    return module


def _chinese(word: str) -> bool:
    return all("\u4e00" <= c <= "\u9fff" for c in word)


def source_tables() -> tuple[str, str]:
    """The text of both tables, from the installed pinned packages."""
    _pinned("pypinyin", PYPINYIN_VERSION)
    _pinned("jieba", JIEBA_VERSION)
    readings = json.loads((resources.files("pypinyin") / "pinyin_dict.json").read_text(encoding="utf-8"))
    dictionary = (resources.files("jieba") / "dict.txt").read_text(encoding="utf-8")
    lines = []
    for code, spelled in sorted(readings.items(), key=lambda kv: int(kv[0])):
        ch = chr(int(code))
        if _chinese(ch) and in_gb2312(ch):
            toneless_readings = dict.fromkeys(toneless(r) for r in spelled.split(","))
            lines.append(f"{ch}\t{','.join(toneless_readings)}\n")
    words = set()
    for entry in dictionary.splitlines():
        word, count, *_ = entry.split()
        if len(word) in WORD_LENGTHS and _chinese(word) and int(count) >= MIN_WORD_COUNT:
            words.add(word)
    made_by = "by scripts/gen_pinyin_tables.py"
    word_lines = "".join(w + "\n" for w in sorted(words))
    return (f"# derived from pypinyin {PYPINYIN_VERSION} (MIT licence) {made_by}\n" + "".join(lines),
            f"# derived from jieba {JIEBA_VERSION} (MIT licence) {made_by}\n" + word_lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the shipped tables instead of writing")
    args = parser.parse_args()
    try:
        pinyin, words = source_tables()
    except SourceMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        stale = [path.name for path, text in ((PINYIN_TABLE, pinyin), (WORD_LIST, words))
                 if not path.exists() or path.read_text(encoding="utf-8") != text]
        if stale:
            print(f"stale: {', '.join(stale)}; run scripts/gen_pinyin_tables.py", file=sys.stderr)
            return 1
        print("the fold tables are those pypinyin and jieba give")
        return 0
    DATA.mkdir(parents=True, exist_ok=True)
    PINYIN_TABLE.write_text(pinyin, encoding="utf-8")
    WORD_LIST.write_text(words, encoding="utf-8")
    print(f"wrote {PINYIN_TABLE} ({pinyin.count(chr(10)) - 1} characters) "
          f"and {WORD_LIST} ({words.count(chr(10)) - 1} words)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

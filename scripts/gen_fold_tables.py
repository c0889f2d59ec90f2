"""Regenerate the rule language's fold tables from pypinyin's, jieba's and
confusable_homoglyphs' data (all MIT; the last is Unicode's confusables list).

`stream_guard/evaluation/data/pinyin.tsv`: every GB2312 character with its toneless readings
(all of them, for polyphones; pypinyin's usual one first), for the `pinyin` and `homophones`
fold profiles.
`stream_guard/evaluation/data/words.txt`: the two- and three-character words of jieba's
dictionary seen at least 20 times in its corpus, for the guard against a short term read across a
word boundary (京东 in 南京东路).
`stream_guard/evaluation/data/lookalikes.tsv`: each Latin letter and digit with the Latin, Greek
and Cyrillic letters of the Basic Multilingual Plane that Unicode lists as confusable with it
(either case) and the matcher does not already fold to it (Greek ν, Cyrillic х, small capital ᴠ):
the ones a Chinese input method's symbol keyboard offers; for the `lookalikes` profile.

The derived tables are shipped so that neither the build nor the run time needs these packages;
this script is how they were made and how to refresh them, and tests/parity/test_fold_tables.py
checks them against the pinned packages (test extra):

    .venv/bin/python scripts/gen_fold_tables.py          # from the installed packages
    .venv/bin/python scripts/gen_fold_tables.py --check  # exit 1 when the shipped tables differ
"""
from __future__ import annotations

import argparse
import json
import string
import sys
import unicodedata
from importlib import metadata, resources
from pathlib import Path

PYPINYIN_VERSION = "0.55.0"
JIEBA_VERSION = "0.42.1"
CONFUSABLES_VERSION = "3.3.1"  # confusable_homoglyphs
MIN_WORD_COUNT = 20
DATA = Path(__file__).resolve().parent.parent / "stream_guard" / "evaluation" / "data"
PINYIN_TABLE = DATA / "pinyin.tsv"
WORD_LIST = DATA / "words.txt"
LOOKALIKE_TABLE = DATA / "lookalikes.tsv"
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


def _pinned(name: str, version: str) -> None:
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        raise SourceMissing(f"{name} is not installed: pip install {name}=={version}") from None
    if installed != version:
        raise SourceMissing(f"{name} {installed} is installed; the tables are made from {version}")


def _chinese(word: str) -> bool:
    return all("\u4e00" <= c <= "\u9fff" for c in word)


LOOKALIKE_SCRIPTS = ("LATIN ", "GREEK ", "CYRILLIC ")


def _typed_letter(ch: str) -> bool:
    """A letter of the Latin, Greek or Cyrillic scripts in the Basic Multilingual Plane."""
    return ord(ch) < 0x10000 and unicodedata.category(ch).startswith("L") and \
        unicodedata.name(ch, "").startswith(LOOKALIKE_SCRIPTS)


def lookalike_table() -> str:
    """The text of lookalikes.tsv, from the installed confusable_homoglyphs."""
    from stream_guard.evaluation.matcher import Matcher

    _pinned("confusable-homoglyphs", CONFUSABLES_VERSION)
    source = resources.files("confusable_homoglyphs") / "confusables.json"
    confusables = json.loads(source.read_text(encoding="utf-8"))
    spell = Matcher((), fold_numbers=True).normalize
    lines = []
    for target in string.ascii_lowercase + string.digits:
        found: dict[str, str] = {}  # by the matcher's folded form: one of Α and α
        for key in dict.fromkeys((target, target.upper())):
            for e in confusables.get(key, ()):
                ch = e["c"]
                if len(ch) == 1 and ord(ch) >= 128 and _typed_letter(ch) and spell(ch) not in (target, ""):
                    found.setdefault(spell(ch), ch)
        if found:
            lines.append(f"{target}\t{''.join(found.values())}\n")
    return (f"# derived from confusable_homoglyphs {CONFUSABLES_VERSION} (MIT licence; Unicode's confusables) "
            f"by scripts/gen_fold_tables.py\n" + "".join(lines))


def source_tables() -> dict[Path, str]:
    """The text of every table, from the installed pinned packages."""
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
    made_by = "by scripts/gen_fold_tables.py"
    word_lines = "".join(w + "\n" for w in sorted(words))
    return {
        PINYIN_TABLE: f"# derived from pypinyin {PYPINYIN_VERSION} (MIT licence) {made_by}\n" + "".join(lines),
        WORD_LIST: f"# derived from jieba {JIEBA_VERSION} (MIT licence) {made_by}\n" + word_lines,
        LOOKALIKE_TABLE: lookalike_table(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the shipped tables instead of writing")
    args = parser.parse_args()
    try:
        tables = source_tables()
    except SourceMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        stale = [path.name for path, text in tables.items()
                 if not path.exists() or path.read_text(encoding="utf-8") != text]
        if stale:
            print(f"stale: {', '.join(stale)}; run scripts/gen_fold_tables.py", file=sys.stderr)
            return 1
        print("the fold tables are those pypinyin, jieba and confusable_homoglyphs give")
        return 0
    DATA.mkdir(parents=True, exist_ok=True)
    for path, text in tables.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path} ({text.count(chr(10)) - 1} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

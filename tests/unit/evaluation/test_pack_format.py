"""The pack format's schema and what it gives authors: each key checked for type and shape with
the problem at the key's line, the docs' key tables written from the same schema, phrases that
read as regular expressions warned about, phrases of nothing visible refused."""
from __future__ import annotations

import dataclasses
import importlib.util
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from stream_guard.cli import rules as rules_cli
from stream_guard.evaluation import pack_format
from stream_guard.evaluation.pack_lines import KeyLines
from stream_guard.evaluation.packs import Detector, Guard, Near, default_rules_dir, load_checked

ROOT = Path(__file__).resolve().parents[3]
BUNDLED = default_rules_dir()
_spec = importlib.util.spec_from_file_location("pack_reference", ROOT / "scripts" / "pack_reference.py")
assert _spec and _spec.loader
pack_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pack_reference)

RULE = '''
[[rules]]
id = "jd.written"
category = "contact_diversion"
severity = "high"
source = "TM-CONTACT"
penalty = { points = 6, action = "block" }
any = [PHRASE]
examples.hit = ["加微信吧", "亲加微信", "可以加微信"]
examples.clean = ["微信支付", "加急", "您好"]
'''


def packs_with(tmp_path: Path, phrase: str) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(BUNDLED, rules)
    with (rules / "jd.toml").open("a", encoding="utf-8") as fh:
        fh.write(RULE.replace("PHRASE", f'"加微信", {phrase}'))
    return rules


def key_paths(value, prefix=()):
    """The key paths a parsed file writes, array-of-tables entries by index."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from key_paths(v, (*prefix, k))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            yield from key_paths(v, (*prefix, i))


@pytest.mark.parametrize("name", sorted(p.name for p in BUNDLED.glob("*.toml")))
def test_every_key_of_the_bundled_packs_is_found_at_its_line(name):
    text = (BUNDLED / name).read_text(encoding="utf-8")
    lines = text.splitlines()
    located = KeyLines(text)
    for path in key_paths(tomllib.loads(text)):
        where = located.line(path)
        assert 1 <= where <= len(lines)
        if path in located.lines:  # a key or a header of its own: its name is on that line
            last = [p for p in path if isinstance(p, str)][-1]
            assert last in lines[where - 1], (path, where, lines[where - 1])
    # and every line that writes a key or a header is one the finder found
    written = {n for n, line in enumerate(lines, 1) if re.match(r"\s*(\[|[A-Za-z0-9_\"'-][^=\n]*=)", line)}
    assert written <= set(located.lines.values())


def test_the_line_finder_skips_values_that_look_like_keys():
    text = '\n'.join([
        '[pack]',
        'description = """',
        '[reply]',
        'unit = "x"',
        '"""',
        'include = [',
        '  "a",  # [not] a header',
        '  "b",',
        ']',
        '"quoted.key" = 1',
        '[[rules]]',
        "id = 'r.one'",
        'near = [{ within = 2,',
        '          groups = [["a"], ["b"]] }]',
        '[rules.examples]',
        'hit = ["x"]',
        '[[rules]]',
        'id = "r.two"',
    ])
    located = KeyLines(text)
    assert ("reply",) not in located.lines and ("pack", "unit") not in located.lines
    assert located.line(("pack", "include")) == 6
    assert located.line(("pack", "quoted.key")) == 10
    assert located.rules == {"r.one": 0, "r.two": 1}
    assert located.line(("rules", 0, "near", "groups")) == 13  # inside an inline table: its key's line
    assert located.line(("rules", 0, "examples", "hit")) == 16
    assert located.line(("rules", 1, "id")) == 18
    assert located.line(("nothing",)) == 1


def test_the_docs_key_tables_are_the_schemas():
    text = (ROOT / "docs" / "rule-packs.md").read_text(encoding="utf-8")
    assert pack_reference.rendered(text) == (text, [])
    # and the check sees a row that is not the schema's
    stale = text.replace("| `near.within` | integer >= 1 | `8` |", "| `near.within` | integer >= 1 | `9` |")
    assert stale != text and pack_reference.rendered(stale)[0] == text


def test_the_dataclass_defaults_are_the_schemas():
    for cls, keys in ((Near, pack_format.NEAR), (Guard, pack_format.GUARD), (Detector, pack_format.DETECTOR)):
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                key = next(k for k in keys if k.name == f.name)
                assert key.default == f.default or (key.default == [] and f.default == ()), (cls, f.name)


@pytest.mark.parametrize(("phrase", "hint"), [
    ('"加微.*信"', "a near clause"),
    ('"\\\\d{11}"', "detectors"),
    ('"加[微v]信"', "its own phrase"),
    ('"微信|vx"', "its own phrase"),
    ('"^亲$"', "short_filler"),
    ('"微{2,3}信"', "a run of one character"),
    ('"加{wechat}"', "lexicon names are upper case"),
])
def test_a_phrase_that_reads_as_a_regular_expression_is_a_warning_with_a_hint(tmp_path, phrase, hint):
    rules = packs_with(tmp_path, phrase)
    problems, warnings = rules_cli.check(rules)
    assert problems == []
    written = (rules / "jd.toml").read_text(encoding="utf-8").splitlines()
    line = max(n for n, text in enumerate(written, 1) if text.startswith("any = "))
    assert len(warnings) == 1 and warnings[0].startswith(f"jd.toml:{line}: jd.written: warning: any: phrase ")
    assert hint in warnings[0]


def test_the_bundled_packs_have_no_warnings():
    loaded = load_checked(BUNDLED)
    problems, warnings = loaded.problems, loaded.warnings
    assert (problems, warnings) == ([], [])


@pytest.mark.parametrize("phrase", ['"\\u200b"', '"\\u0301\\u0301"', '"\\ufe0f"', '" \\u200d "'])
def test_a_phrase_of_nothing_visible_is_a_problem(tmp_path, phrase):
    problems = load_checked(packs_with(tmp_path, phrase)).problems
    assert len(problems) == 1 and "is only invisible characters (U+" in problems[0], problems


def test_a_byte_order_mark_is_read_and_a_bad_byte_names_its_line(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(BUNDLED, rules)
    raw = (BUNDLED / "speech.toml").read_bytes()
    (rules / "speech.toml").write_bytes(b"\xef\xbb\xbf" + raw)
    loaded = load_checked(rules)
    packs, problems = loaded.packs, loaded.problems
    assert problems == [] and len(packs) == 5
    third_line = raw.index(b"\n", raw.index(b"\n") + 1) + 1
    (rules / "speech.toml").write_bytes(raw[:third_line] + b"\xff" + raw[third_line:])
    problems = load_checked(rules).problems
    assert f"speech.toml:3: -: not UTF-8: byte {third_line}" in problems


def test_a_value_of_the_wrong_type_is_named_with_the_type_it_should_be(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(BUNDLED, rules)
    text = (rules / "jd.toml").read_text(encoding="utf-8")
    (rules / "jd.toml").write_text(text.replace("threshold_s = 30", "threshold_s = \"30\""), encoding="utf-8")
    line = text.splitlines().index("threshold_s = 30") + 1
    problems = load_checked(rules).problems
    assert problems == [f"jd.toml:{line}: reply: threshold_s must be an integer >= 1, not '30'"]

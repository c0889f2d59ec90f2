"""A careless pack author never gets a traceback: the bundled packs with one value changed to
another type or shape, one key deleted, or the file's bytes damaged, are either loaded or refused
with problems that name a file (`load_all`, which `rules check`, `scan` and the worker use); and
the shapes authors get wrong are named: a string for a list, an include inside an included file
(which works), an include cycle (named)."""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import tomllib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from stream_guard.evaluation.packs import default_rules_dir, load_all

BUNDLED = default_rules_dir()
FILES = sorted(p.name for p in BUNDLED.glob("*.toml"))
PARSED = {name: tomllib.loads((BUNDLED / name).read_text(encoding="utf-8")) for name in FILES}
# what a value may become: every TOML type, and the shapes packs use
REPLACEMENTS = [1, -3, 0.5, True, "x", "", "common", "微.*信", "\\d{11}", "\u200b", [], [1], ["a", 2],
                [{"a": 1}], {}, {"a": 1}, {"phrases": 5}, [[1]]]


def toml_value(value) -> str:
    """One TOML value on one line: inline tables and arrays, JSON-escaped strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(data: dict) -> str:
    return "".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}\n" for k, v in data.items())


def paths(value, prefix=()):
    """Every key path and list index path in a parsed document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):  # a few entries of each list are enough
            yield (*prefix, i)
            yield from paths(v, (*prefix, i))


def mutated(data, path, replacement, delete: bool):
    data = json.loads(json.dumps(data))  # a deep copy
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return data


PROBLEM = re.compile(r"(?P<file>[^:\n]+\.toml):(?P<line>\d+): [^:\s]+: \S")


def check(rules_dir: Path) -> None:
    """Every problem is `file:line: rule: message`, at a line the file has."""
    packs, problems = load_all(rules_dir)
    for problem in problems:
        found = PROBLEM.match(problem)
        assert found, problem
        path = rules_dir / found.group("file")
        lines = path.read_bytes().count(b"\n") + 1 if path.exists() else 1
        assert 1 <= int(found.group("line")) <= lines, problem


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_changed_value_is_loaded_or_refused_with_problems(data):
    name = data.draw(st.sampled_from(FILES))
    path = data.draw(st.sampled_from(sorted(paths(PARSED[name]), key=repr)))
    delete = data.draw(st.booleans())
    replacement = data.draw(st.sampled_from(REPLACEMENTS))
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules"
        shutil.copytree(BUNDLED, rules)
        (rules / name).write_text(toml_document(mutated(PARSED[name], path, replacement, delete)), encoding="utf-8")
        check(rules)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(FILES), at=st.floats(0, 1),
       damage=st.sampled_from([b"\xff", b"\xc3", b"\x00", b"[", b"\"", b""]))
def test_damaged_bytes_are_refused_with_the_file_named(name, at, damage):
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules"
        shutil.copytree(BUNDLED, rules)
        raw = (rules / name).read_bytes()
        cut = int(at * len(raw))
        (rules / name).write_bytes(raw[:cut] + damage + raw[cut + (1 if not damage else 0):])
        check(rules)


def bundled_copy(tmp: str) -> Path:
    rules = Path(tmp) / "rules"
    shutil.copytree(BUNDLED, rules)
    return rules


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_string_where_a_list_belongs_is_named_with_the_list_it_should_be():
    with tempfile.TemporaryDirectory() as tmp:
        rules = bundled_copy(tmp)
        edit(rules / "jd.toml", 'allow_domains = ["jd.com", "3.cn", "jd.hk", "jdpay.com"]', 'allow_domains = "jd.com"')
        _, problems = load_all(rules)
        line = next(n for n, text in enumerate((rules / "jd.toml").read_text().splitlines(), 1)
                    if "allow_domains" in text)
    assert problems == [f"jd.toml:{line}: -: pack.allow_domains must be a list of non-empty strings, not 'jd.com'"
                        ' (a list: allow_domains = ["jd.com"])']


def test_an_included_file_may_include_another():
    with tempfile.TemporaryDirectory() as tmp:
        rules = bundled_copy(tmp)
        edit(rules / "jd.toml", 'include = ["common", "refusals", "orders", "contact", "speech"]',
             'include = ["common", "refusals", "orders", "contact"]')
        edit(rules / "contact.toml", 'description = "contact"', 'description = "contact"\ninclude = ["speech"]')
        packs, problems = load_all(rules)
    assert problems == []
    assert "speech.toml" in packs["jd"].files
    assert {r.id for r in packs["jd"].rules} == {r.id for r in load_all(BUNDLED)[0]["jd"].rules}


def test_an_include_cycle_is_a_problem_naming_the_chain():
    with tempfile.TemporaryDirectory() as tmp:
        rules = bundled_copy(tmp)
        edit(rules / "contact.toml", 'description = "contact"', 'description = "contact"\ninclude = ["speech"]')
        edit(rules / "speech.toml", 'description = "speech"', 'description = "speech"\ninclude = ["contact"]')
        _, problems = load_all(rules)
        line = (rules / "speech.toml").read_text().splitlines().index('include = ["contact"]') + 1
    cycles = [p for p in problems if "circular" in p]
    assert cycles == [f"speech.toml:{line}: -: circular include: contact -> speech -> contact"]

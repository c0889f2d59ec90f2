"""Rule evaluation (`stream_guard.evaluation.ruleset`, `stream_guard.evaluation.detectors`) and the violation records
(`stream_guard.evaluation.violations`) are plain Python that the build compiles with Cython (setup.py,
COMPILED_PYTHON). These tests require that the modules imported are the compiled ones, built from
the sources as they are now, and that the compiled modules judge every message, and build its
violations, exactly as the sources run by the interpreter do."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_data import corpus_lines

import stream_guard.evaluation
from stream_guard.engine.events import SOURCE_FIELDS
from stream_guard.evaluation import detectors, ruleset, violations
from stream_guard.evaluation.packs import PLATFORMS, SENDERS, default_rules_dir, load_pack

COMPILED = (ruleset, detectors, violations)
PACKAGE_DIR = Path(stream_guard.evaluation.__file__).resolve().parent


def _interpreted(name: str):
    """The module `stream_guard.evaluation.<name>` loaded from its .py source, under another name."""
    loader = importlib.machinery.SourceFileLoader(f"stream_guard._interpreted_{name}", str(PACKAGE_DIR / f"{name}.py"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


def _interpreted_rule_modules():
    """(ruleset, detectors, violations) from source, bound to each other: the compiled modules
    they import are swapped for the interpreted ones while they are executed."""
    interpreted_detectors = _interpreted("detectors")
    saved = sys.modules["stream_guard.evaluation.detectors"], sys.modules["stream_guard.evaluation.ruleset"]
    sys.modules["stream_guard.evaluation.detectors"] = stream_guard.evaluation.detectors = interpreted_detectors
    try:
        interpreted_ruleset = _interpreted("ruleset")
        sys.modules["stream_guard.evaluation.ruleset"] = stream_guard.evaluation.ruleset = interpreted_ruleset
        interpreted_violations = _interpreted("violations")
    finally:
        sys.modules["stream_guard.evaluation.detectors"], sys.modules["stream_guard.evaluation.ruleset"] = saved
        stream_guard.evaluation.detectors, stream_guard.evaluation.ruleset = saved
    assert interpreted_ruleset.detectors is interpreted_detectors
    assert interpreted_violations.TextView is interpreted_detectors.TextView
    return interpreted_ruleset, interpreted_detectors, interpreted_violations


INTERPRETED_RULESET, INTERPRETED_DETECTORS, INTERPRETED_VIOLATIONS = _interpreted_rule_modules()
PACKS = {p: load_pack(default_rules_dir(), p) for p in PLATFORMS}
COMPILED_RULESETS = {p: ruleset.Ruleset(pack) for p, pack in PACKS.items()}
INTERPRETED_RULESETS = {p: INTERPRETED_RULESET.Ruleset(pack) for p, pack in PACKS.items()}


@pytest.mark.parametrize("module", COMPILED, ids=lambda m: m.__name__)
def test_the_compiled_module_is_imported_and_current(module):
    built = Path(module.__file__)
    source = PACKAGE_DIR / f"{module.__name__.rsplit('.', 1)[1]}.py"
    assert built.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), \
        f"{module.__name__} was imported from {built}, not compiled: run `make build`"
    assert built.stat().st_mtime >= source.stat().st_mtime, \
        f"{built.name} is older than {source.name}: run `make build` to compile the source as it is"


def _findings(found) -> list[tuple[str, tuple]]:
    return [(f.rule.id, f.spans) for f in found]


def _decisions(decisions) -> list[tuple]:
    return [(d.rule.id, d.fired, d.reason, d.spans, tuple(d.cancelled)) for d in decisions]


def _agree(platform: str, messages: list[tuple[str, str, dict | None]]) -> None:
    compiled, interpreted = COMPILED_RULESETS[platform], INTERPRETED_RULESETS[platform]
    batch_compiled = compiled.judge_batch(messages)
    batch_interpreted = interpreted.judge_batch(messages)
    for (text, sender, meta), got, want in zip(messages, batch_compiled, batch_interpreted, strict=True):
        assert _findings(got) == _findings(want), (platform, text, sender, meta)
        hits_c, decisions_c = compiled.explain(text, sender, meta)
        hits_i, decisions_i = interpreted.explain(text, sender, meta)
        assert hits_c == hits_i and _decisions(decisions_c) == _decisions(decisions_i), (platform, text, sender)
        view_c, view_i = detectors.TextView(text), INTERPRETED_DETECTORS.TextView(text)
        assert detectors.mask_personal_data(view_c) == INTERPRETED_DETECTORS.mask_personal_data(view_i)
        # the fields EventBatch.violation_source gives: build_violations must read no other
        event = dict(zip(SOURCE_FIELDS, ("e1", platform, "s1", "c1", "a1" if sender == "agent" else None, text,
                                         1_763_827_200_000), strict=True))
        assert violations.build_violations(event, got, "v1") == \
            INTERPRETED_VIOLATIONS.build_violations(event, want, "v1")


EXAMPLES = sorted({(e.text, e.role, e.meta) for pack in PACKS.values() for rule in pack.rules
                   for e in rule.hit_examples + rule.clean_examples})


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pack_examples_judged_alike(platform):
    _agree(platform, [(text, role, dict(meta) or None) for text, role, meta in EXAMPLES])


@pytest.mark.parametrize("platform", PLATFORMS)
def test_corpus_sample_judged_alike(platform):
    texts = corpus_lines()
    sample = random.Random(platform).sample(texts, min(3000, len(texts)))
    _agree(platform, [(text, "agent", None) for text in sample])


# fragments that reach every path: the packs' example texts (phrases, allowed phrases, near
# clauses), numbers with separators, links, addresses, fillers, and random characters between
FRAGMENTS = sorted({text for text, _, _ in EXAMPLES}) + [
    "13812345678", "138 1234 5678", "+86-138-1234-5678", "一三八一二三四五六七八", "6222021234567890128",
    "11010519491231002X", "qq 12345678", "vx: abc_123456", "a@b.cn", "https://item.jd.com/100012345678.html",
    "www.example.com", "t.cn/abc", "嗯嗯。", "哦?", "  好的！", "SKU12345678", "0.5", "...",
]
# digit runs of every length a detector weighs, now and then split by a separator
NUMBER = st.lists(st.sampled_from("0123456789") | st.sampled_from(" -.xX"), min_size=5, max_size=20).map("".join)
# and the shapes the detectors look for, any digits: mobile numbers, ID numbers, card numbers
NUMBER |= st.from_regex(r"(\+?86)?1[0-9]{10}|[0-9]{17}[0-9X]|[0-9]{16,19}", fullmatch=True)
MESSAGE = st.lists(st.sampled_from(FRAGMENTS) | NUMBER | st.text(max_size=4), min_size=1, max_size=5).map("".join)
METAS = sorted({meta for _, _, meta in EXAMPLES if meta}) + [()]


@settings(max_examples=300, deadline=None)
@given(platform=st.sampled_from(PLATFORMS), messages=st.lists(
    st.tuples(MESSAGE, st.sampled_from(sorted(SENDERS)), st.sampled_from(METAS)), min_size=1, max_size=8))
def test_generated_messages_judged_alike(platform, messages):
    _agree(platform, [(text, sender, dict(meta) or None) for text, sender, meta in messages])


@settings(max_examples=300, deadline=None)
@given(platform=st.sampled_from(PLATFORMS), text=MESSAGE, sender=st.sampled_from(sorted(SENDERS)))
def test_the_number_gate_loses_no_finding(platform, text, sender):
    """A view keeps the census's FLAG_NUMBER only for a number run of MIN_NUMBER_DIGITS digits or
    more (most texts with that many digits hold order numbers, SKUs or links: no number at all).
    With every number detector the census alone wakes, a message has the same findings."""
    rules = COMPILED_RULESETS[platform]
    census_flags = rules._flags_of(text)
    woken_by_the_census = detectors.TextView(text, census_flags)
    woken_by_the_census.flags = census_flags
    hits = rules.matcher.find(text)
    expected = rules._judge(woken_by_the_census, sender, None, hits, rules._conjunctions.rules(hits), None)
    assert _findings(rules.judge(text, sender)) == _findings(expected)

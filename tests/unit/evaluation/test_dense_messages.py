"""Messages dense in hits: a finding lists the MAX_SPANS matches that end first and says when
there were more, and the shortcut that settles a rule on the beginning of a message
(Ruleset._settle_dense) finds exactly what judging every hit of the whole message finds.

The reference is `explain`, which judges every rule that has a hit with every hit of the message
(guards included) and keeps all of a rule's matches; capped here by the definition, by end."""
from __future__ import annotations

import heapq
from contextlib import contextmanager

from adversarial_texts import FAMILIES
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_guard.evaluation import ruleset
from stream_guard.evaluation.packs import PLATFORMS, default_rules_dir
from stream_guard.evaluation.registry import compile_rulesets
from stream_guard.evaluation.ruleset import DENSE_HITS, MAX_SPANS

RULESETS = compile_rulesets(default_rules_dir()).rulesets
EXAMPLES = sorted({e.text for r in RULESETS["taobao"].rules + RULESETS["pinduoduo"].rules
                   for e in r.hit_examples + r.clean_examples})
# pieces a dense message is made of: the adversarial units, the packs' examples (guards, allowed
# phrases, near clauses), clause marks and questions between them
PIECES = sorted(set(FAMILIES.values())) + EXAMPLES + ["，", "。", "？", "吗", " ", "\n"]


def capped(spans: tuple, max_spans: int) -> tuple[tuple, bool]:
    if len(spans) <= max_spans:
        return tuple(spans), False
    return tuple(sorted(heapq.nsmallest(max_spans, spans, key=lambda s: (s[1], s[0])))), True


def expected_findings(platform: str, text: str, max_spans: int) -> list[tuple]:
    _, decisions = RULESETS[platform].explain(text)
    return [(d.rule.id, *capped(d.spans, max_spans)) for d in decisions if d.fired]


def findings(platform: str, text: str) -> list[tuple]:
    return [(f.rule.id, f.spans, f.truncated) for f in RULESETS[platform].judge(text)]


@contextmanager
def limits(dense_hits: int, max_spans: int):
    """The module's thresholds set lower, so that short texts cross them where it matters: a
    match just before the frontier, a guard or partner just after it."""
    saved = ruleset.DENSE_HITS, ruleset.MAX_SPANS
    ruleset.DENSE_HITS, ruleset.MAX_SPANS = dense_hits, max_spans
    try:
        yield
    finally:
        ruleset.DENSE_HITS, ruleset.MAX_SPANS = saved


@settings(max_examples=300, deadline=None)
@given(platform=st.sampled_from(PLATFORMS),
       pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=6),
       cycles=st.integers(1, 120), tail=st.sampled_from(EXAMPLES),
       thresholds=st.sampled_from([(DENSE_HITS, MAX_SPANS), (4, 1), (8, 2), (16, 3), (40, 5)]))
def test_a_dense_message_is_judged_as_every_hit_of_it_says(platform, pieces, cycles, tail, thresholds):
    text = ("".join(pieces) * cycles)[:4000] + tail  # the tail: a rule that fires only at the end
    with limits(*thresholds):
        assert findings(platform, text) == expected_findings(platform, text, thresholds[1])


def test_a_message_of_one_refusal_repeated_lists_the_first_matches():
    unit = "不开发票，"
    text = unit * 600
    assert len(RULESETS["taobao"].matcher.find(text)) > DENSE_HITS  # settled on the beginning
    [finding] = [f for f in RULESETS["taobao"].judge(text) if f.rule.id == "common.invoice_refusal"]
    assert finding.truncated
    assert len(finding.spans) == MAX_SPANS
    assert finding.spans[0][0] == 0
    assert finding.spans[-1][1] <= len(unit) * (MAX_SPANS + 1)


def test_a_few_matches_are_all_listed():
    text = "不开发票，" * 8
    [finding] = [f for f in RULESETS["taobao"].judge(text) if f.rule.id == "common.invoice_refusal"]
    [decision] = [d for d in RULESETS["taobao"].explain(text)[1] if d.rule.id == "common.invoice_refusal"]
    assert not finding.truncated
    assert finding.spans == decision.spans
    assert 8 <= len(finding.spans) <= MAX_SPANS


def test_a_rule_that_fires_only_after_the_dense_beginning_still_fires():
    text = "第一" * 2000 + "，加我微信聊"
    ids = {f.rule.id for f in RULESETS["pinduoduo"].judge(text)}
    assert "common.contact_add" in ids


def test_a_guard_just_past_the_beginning_still_cancels_a_match_in_it():
    """The beginning ends at the 17th hit here, inside 我们没有 (a guard after 取消了, the order
    closing): the matches ending within the rules' reach of it are left to the whole message."""
    text = "給您關了地址填错我这边直接给您取消了我们没有"
    with limits(16, 3):
        assert findings("douyin", text) == expected_findings("douyin", text, 3) \
            == [("common.order_closing", ((0, 4),), False)]

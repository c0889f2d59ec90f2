"""`stream_guard.gen.agent_messages` and `phrases`: the banks are clean on every platform, an
ordinary agent message is a bank phrase of its topic, and an injected one is a violation the real
ruleset finds, every category dealt in turn."""
import random

import pytest

from stream_guard.evaluation.packs import PLATFORMS, default_rules_dir
from stream_guard.evaluation.registry import compile_rulesets
from stream_guard.gen.agent_messages import AgentMessages
from stream_guard.gen.phrases import AGENT_PHRASES, BOT_PHRASES, BOT_TRANSFER, BUYER_PHRASES, TOPICS

RULES = compile_rulesets(default_rules_dir())
RULESETS = {p: RULES.for_platform(p) for p in PLATFORMS}
METAS = [None, {"free_shipping": True, "cod_enabled": True, "credit_card_enabled": True},
         {"free_shipping": False, "cod_enabled": True, "credit_card_enabled": True}]


def test_the_phrase_banks_are_clean_on_every_platform():
    for platform, rs in RULESETS.items():
        for text in [t for bank in AGENT_PHRASES.values() for t in bank]:
            for meta in METAS:
                assert rs.judge(text, "agent", meta) == [], (platform, text, meta)
        for text in BOT_PHRASES + BOT_TRANSFER:
            for meta in METAS:
                assert rs.judge(text, "bot", meta) == [], (platform, text, meta)
        for text in [t for bank in BUYER_PHRASES.values() for t in bank]:
            assert rs.judge(text, "buyer", METAS[1]) == [], (platform, text)
    assert AgentMessages(RULESETS, seed=1, violation_rate=0.03).clean_rejected == set()
    assert len({t for bank in AGENT_PHRASES.values() for t in bank}) >= 100


def test_at_rate_zero_an_agent_says_a_phrase_of_the_topic():
    agents = AgentMessages(RULESETS, seed=1, violation_rate=0)
    rng = random.Random(1)
    for platform in PLATFORMS:
        for topic in TOPICS:
            text, meta, categories = agents.message(platform, topic, rng, {"item_id": "x"})
            assert text in AGENT_PHRASES[topic] and meta is None and categories is None
    assert agents.evasions == {}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_at_rate_one_every_message_is_a_violation_the_rules_find_each_category_in_turn(platform):
    rs = RULESETS[platform]
    every = {r.category for r in rs.rules}
    agents = AgentMessages(RULESETS, seed=3, violation_rate=1)
    rng = random.Random(3)
    dealt, draws, carried = set(), 3 * len(every), 0
    for n in range(draws):
        conv_meta = {"item_id": "x", "free_shipping": n % 2 == 0} if n % 3 else None
        text, meta, categories = agents.message(platform, "shipping", rng, conv_meta)
        assert categories and list(categories) == sorted({f.rule.category for f in rs.judge(text, "agent", meta)})
        carried += conv_meta is not None and meta is not None and meta.get("item_id") == "x"
        dealt.update(categories)
        if n + 1 == len(every):
            assert dealt == every  # one deck: every category once
    # the conversation's meta carries over, but where a hit needs the example's own meta alone
    assert carried > 0.5 * sum(n % 3 != 0 for n in range(draws))
    assert sum(agents.evasions.values()) > 0.9 * draws  # all but the rare fallback to the example alone

"""`stream_guard.gen.disguise`: each family of evasions applies only where it keeps the meaning, and
the engine's normaliser undoes what it does (so the rules can still find the disguised hit)."""
import random

import pytest

from stream_guard.evaluation.matcher import Matcher
from stream_guard.evaluation.packs import default_rules_dir
from stream_guard.evaluation.registry import compile_rulesets
from stream_guard.gen.disguise import CN_DIGITS, S2T, SPAN_EVASIONS, applies, disguise

NORMALIZE = Matcher([], fold_numbers=False).normalize
HIT_TEXTS = sorted({ex.text for rs in compile_rulesets(default_rules_dir()).rulesets.values()
                    for rule in rs.rules for ex in rule.hit_examples})


def test_the_traditional_table_folds_back():
    normalize = Matcher([], fold_numbers=False).normalize
    assert all(normalize(t) == s and t != s for s, t in S2T.items())


@pytest.mark.parametrize(("family", "applies_to", "not_to"), [
    ("fullwidth", "加wx", "加微信"),
    ("traditional", "转账", "微信"),
    ("separators", "加微信", "加1微"),  # never inside a number or between a letter and a character
    ("spaced_digits", "12345", "1234加"),
    ("cn_numerals", "电话13800138000", "1234"),
    ("circled", "qq", "加微信"),
    ("repeats", "加微信", "13800 138000"),  # a repeated digit would be another number
])
def test_a_family_applies_only_where_it_keeps_the_meaning(family, applies_to, not_to):
    assert applies(family, applies_to) and not applies(family, not_to)


@pytest.mark.parametrize("family", [f for f in SPAN_EVASIONS if f != "cn_numerals"])
def test_the_normaliser_undoes_every_disguise_of_every_hit_example(family):
    tried = 0
    for text in HIT_TEXTS:
        if not applies(family, text):
            continue
        for seed in range(5):
            disguised = disguise(family, text, random.Random(seed))
            assert disguised != text and NORMALIZE(disguised) == NORMALIZE(text), (family, text, disguised)
            tried += 1
    assert tried >= 5, family  # the packs give each family something to disguise


def test_chinese_numerals_replace_the_digits_only():
    ones = set()
    for seed in range(10):
        out = disguise("cn_numerals", "微信13800138000", random.Random(seed))
        assert out[:2] == "微信" and len(out) == 13
        assert out[3:7] == "三八零零" and out[8:] == "三八零零零" and out[2] == out[7]
        ones.add(out[2])
    assert ones == {CN_DIGITS[1], "幺"}  # a one is written either way


def test_separators_and_repeats_touch_chinese_characters_only():
    for seed in range(20):
        rng = random.Random(seed)
        separated = disguise("separators", "加微信abc123", rng)
        assert separated.endswith("信abc123") and len(separated) == len("加微信abc123") + 2
        repeated = disguise("repeats", "加微信abc123", rng)
        assert repeated.endswith("abc123") and len(repeated) == len("加微信abc123") + 2
        assert "".join(dict.fromkeys(repeated[:-6])) == "加微信"

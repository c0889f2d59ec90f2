"""stream_guard/evaluation/folds.py: the spellings the fold profiles add, and crossing words."""
from __future__ import annotations

from stream_guard.evaluation import folds


def test_pinyin_gives_every_reading_and_the_usual_initials():
    assert folds.pinyin_spellings("微信")[:1] == ["weixin"] and "wx" in folds.pinyin_spellings("微信")
    assert {"fapiao", "fp"} <= set(folds.pinyin_spellings("发票"))
    assert {"xinyongka", "xyk"} <= set(folds.pinyin_spellings("信用卡"))
    assert {"zhangda", "changda"} <= set(folds.pinyin_spellings("长大"))  # 长 reads two ways
    assert folds.pinyin_spellings("微") == [] and folds.pinyin_spellings("vx") == []


def test_homophones_swap_for_common_sound_alikes():
    found = set(folds.homophone_spellings("微信"))
    assert {"薇信", "威信", "威芯", "微芯", "维信"} <= found and "微信" not in found
    assert all(len(s) == 2 for s in found)
    long = folds.homophone_spellings("七天无理由退货")  # too many combinations: one character at a time
    assert long and all(sum(a != b for a, b in zip(s, "七天无理由退货", strict=True)) == 1 for s in long)


def test_folded_keeps_the_phrases_first_and_adds_each_spelling_once():
    out = folds.folded(("微信", "vx"), ("pinyin", "homophones"))
    assert out[:2] == ("微信", "vx") and len(out) == len(set(out)) and "weixin" in out and "威芯" in out


def test_crossing_words_end_in_the_first_characters():
    crossing = folds.crossing_words("京东")
    assert {"南京", "北京"} <= set(crossing) and "东路" not in crossing
    assert all("京东" not in w and w.endswith("京") for w in crossing)
    assert "每天" in folds.crossing_words("天猫") and folds.crossing_words("淘宝网站") == ()
    assert "信号" not in folds.crossing_words("微信")  # 微信号 is WeChat's id


def test_homophones_leave_a_single_character_alone():
    assert folds.homophone_spellings("加") == []


def test_lookalikes_write_latin_letters_in_other_scripts():
    found = folds.lookalike_spellings("vx")
    assert {"νx", "vх", "νх"} <= set(found) and "vx" not in found
    assert all(len(s) == 2 for s in found)
    assert folds.lookalike_spellings("微信") == []
    long = folds.lookalike_spellings("alipay")  # too many combinations: one letter at a time
    assert long and all(sum(a != b for a, b in zip(s, "alipay", strict=True)) == 1 for s in long)


def test_stand_ins_swap_words_for_the_symbols_typed_for_them():
    assert "➕我" in folds.stand_in_spellings("加我")
    assert folds.stand_in_spellings("企鹅号") == ["🐧号"]  # the longer word first
    assert "微❤" in folds.stand_in_spellings("微信") and "🐧号" in folds.stand_in_spellings("QQ号")
    assert folds.stand_in_spellings("你好") == []


def test_every_profile_is_folded_once_in_order():
    out = folds.folded(("微信",), folds.PROFILES)
    assert out[0] == "微信" and len(out) == len(set(out))
    assert {"威芯", "weixin", "wеixin", "微❤"} <= set(out)  # wеixin: a Cyrillic е

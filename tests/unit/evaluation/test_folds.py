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


def test_crossing_words_end_in_the_first_characters_or_start_in_the_last():
    crossing = folds.crossing_words("京东")
    assert {"南京", "北京", "东路"} <= set(crossing)
    assert all("京东" not in w for w in crossing)
    assert "每天" in folds.crossing_words("天猫") and folds.crossing_words("淘宝网站") == ()

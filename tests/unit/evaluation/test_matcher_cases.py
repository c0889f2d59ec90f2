"""Table-driven cases: the cases of public test suites of comparable libraries,
the evasions of docs/platform-rules.md, and the edges of each folding rule."""
import pytest

from stream_guard.evaluation.matcher import Matcher

NUM = {"fold_numbers": True}
NO_WORDS = {"whole_words": False}
NO_REPEATS = {"fold_repeats": False}

# (patterns, text, options, longest, expected hits as (pattern, original substring))
CASES = [
    # folding: case, full-width, enclosed and circled, parenthesised
    (["fuck"], "fuCK the bad words.", {}, False, [("fuck", "fuCK")]),
    (["fuck"], "ｆｕｃｋ the bad words.", {}, False, [("fuck", "ｆｕｃｋ")]),
    (["fuck"], "Ⓕⓤc⒦ the bad words.", {}, False, [("fuck", "Ⓕⓤc⒦")]),
    (["fuck"], "ⒻⒻⒻfⓤuⓤ⒰cⓒ⒦ the bad words", {}, False, [("fuck", "ⒻⒻⒻfⓤuⓤ⒰cⓒ⒦")]),
    (["f u c k"], "F.U.C.K!", {}, False, [("f u c k", "F.U.C.K")]),
    (["138"], "①③⑧", {}, False, [("138", "①③⑧")]),
    (["138"], "⑴⑶⑻", {}, False, [("138", "⑴⑶⑻")]),
    (["138"], "⒈⒊⒏", {}, False, [("138", "⒈⒊⒏")]),
    (["138"], "¹³⁸", {}, False, [("138", "¹³⁸")]),
    (["12"], "₁₂", {}, False, [("12", "₁₂")]),
    (["20元"], "⑳元", {}, False, [("20元", "⑳元")]),
    (["一五"], "㈠㊄", {}, False, [("一五", "㈠㊄")]),
    (["15"], "㈠㊄", NUM, False, [("15", "㈠㊄")]),
    (["weixin"], "ｗｅｉｘｉｎ", {}, False, [("weixin", "ｗｅｉｘｉｎ")]),
    # traditional -> simplified, in text and in patterns
    (["五星红旗"], "我爱我的祖国和五星紅旗。", {}, False, [("五星红旗", "五星紅旗")]),
    (["發票"], "没有发票", {}, False, [("發票", "发票")]),
    (["发票"], "開不了發票", {}, False, [("发票", "發票")]),
    # separators between the characters of a pattern
    (["傻冒", "狗东西"], "傻@冒，狗+东西", {}, False, [("傻冒", "傻@冒"), ("狗东西", "狗+东西")]),
    (["傻逼"], "<p>傻逼</p>", {}, False, [("傻逼", "傻逼")]),
    (["傻逼"], "傻@#￥%逼", {}, False, [("傻逼", "傻@#￥%逼")]),
    (["毛主席"], "毛---主---席", {}, False, [("毛主席", "毛---主---席")]),
    (["中国人"], "我是【中]国【人", {}, False, [("中国人", "中]国【人")]),
    (["微信"], "微.信", {}, False, [("微信", "微.信")]),
    (["微信"], "微 信", {}, False, [("微信", "微 信")]),
    (["微信"], "微\u200b信", {}, False, [("微信", "微\u200b信")]),
    (["微信"], "微\u202e信", {}, False, [("微信", "微\u202e信")]),
    (["微信"], "微😀信", {}, False, [("微信", "微😀信")]),
    (["微信"], "微🫨信", {}, False, [("微信", "微🫨信")]),  # emoji newer than the Unicode data
    # the cap on how far a hit may stretch
    (["微信"], "微" + "." * 8 + "信", {}, False, [("微信", "微" + "." * 8 + "信")]),
    (["微信"], "微" + "." * 9 + "信", {}, False, []),
    (["微信"], "微..信", {"max_gap": 1}, False, []),
    # repeated characters
    (["微信"], "微微信信", {}, False, [("微信", "微微信信")]),
    (["微信"], "微微信信", NO_REPEATS, False, [("微信", "微信")]),
    (["嘻嘻哈哈"], "…鸡尾酒嘻嘻哈哈好多…", {}, False, [("嘻嘻哈哈", "嘻嘻哈哈")]),
    (["嘻嘻哈哈"], "…鸡尾酒嘻哈好多…", {}, False, []),
    (["嘻嘻哈哈"], "嘻嘻嘻哈哈哈", {}, False, [("嘻嘻哈哈", "嘻嘻嘻哈哈哈")]),
    (["@@@@"], "邮箱@@@@没有", {}, False, [("@@@@", "@@@@")]),
    (["@@@@"], "邮箱@@@没有", {}, False, []),
    (["@@@@"], "＠＠＠＠", {}, False, [("@@@@", "＠＠＠＠")]),
    # overlapping and leftmost-longest
    (["中国", "国人"], "我是中国人", {}, False, [("中国", "中国"), ("国人", "国人")]),
    (["中国", "国人"], "我是中国人", {}, True, [("中国", "中国")]),
    (["知识产权", "国家知识产权局"], "国家知识产权", {}, False, [("知识产权", "知识产权")]),
    (["ab", "abcabd"], "zzabcabdzz", NO_WORDS, True, [("abcabd", "abcabd")]),
    (["he", "her", "hers", "she"], "he her", NO_WORDS, True, [("he", "he"), ("her", "her")]),
    (["he", "her", "hers", "she"], "he her", NO_WORDS, False,
     [("he", "he"), ("he", "he"), ("her", "her")]),
    # ... and with whole words on, "he" inside "her" is no hit
    (["he", "her", "hers", "she"], "he her", {}, False, [("he", "he"), ("her", "her")]),
    # whole words for Latin and digit patterns
    (["av"], "I have a nice day。", {}, False, []),
    (["sex"], "Middlesex", {}, False, []),
    (["av"], "haveavtest", {}, False, []),
    (["av"], "测av试", {}, False, [("av", "av")]),
    (["av"], "1av2", {}, False, [("av", "av")]),
    (["av"], "_av_", {}, False, [("av", "av")]),
    (["av"], "ＡＶ", {}, False, [("av", "ＡＶ")]),
    (["248"], "A1002481003", {}, False, []),
    (["248"], "编号248号", {}, False, [("248", "248")]),
    (["v信"], "加V信", {}, False, [("v信", "V信")]),
    (["v信"], "tv信号", {}, False, []),
    (["加v"], "加vx", {}, False, []),
    (["加v"], "加v", {}, False, [("加v", "加v")]),
    # number folding, and numeral words that must survive it
    (["下三滥"], "下3滥", NUM, False, [("下三滥", "下3滥")]),
    (["下三滥"], "下3滥", {}, False, []),
    (["三三九乘元功", "一军两策"], "和我练习三三九乘元功、一军两策", NUM, False,
     [("三三九乘元功", "三三九乘元功"), ("一军两策", "一军两策")]),
    (["13812345678"], "幺三八幺二三四五六七八", NUM, False, [("13812345678", "幺三八幺二三四五六七八")]),
    (["138"], "壹叁捌", NUM, False, [("138", "壹叁捌")]),
    (["20"], "贰零", NUM, False, [("20", "贰零")]),
    (["20"], "貳〇", NUM, False, [("20", "貳〇")]),
    (["2"], "兩", NUM, False, [("2", "兩")]),
    (["138"], "一三八", {}, False, []),
]


@pytest.mark.parametrize("patterns,text,options,longest,expected", CASES)
def test_case(patterns, text, options, longest, expected):
    matcher = Matcher(patterns, **options)
    hits = matcher.find(text, longest=longest)
    assert [(patterns[pid], text[start:end]) for pid, start, end in hits] == expected


def test_offsets_are_code_points_of_the_original_text():
    # astral characters before the hit must count as one each
    text = "𠀀😀Ｗｅｉ　ｘｉｎ"
    assert Matcher(["weixin"]).find(text) == ((0, 2, 9),)


def test_normalize_shows_the_folded_stream():
    matcher = Matcher(["x"], fold_numbers=True)
    assert matcher.normalize("微微.信 一三八 Ｆ發") == "微信138f发"
    assert Matcher(["x"], fold_repeats=False).normalize("微微信") == "微微信"


def test_pattern_ids_with_identical_keys_all_hit():
    assert Matcher(["微信", "微 信", "薇信"]).find("微信") == ((0, 0, 2), (1, 0, 2))


def test_bad_arguments():
    with pytest.raises(TypeError):
        Matcher(["ok", 3])
    with pytest.raises(TypeError):
        Matcher(["ok"]).find_batch(["ok", b"bytes"])
    with pytest.raises(ValueError):
        Matcher(["ok"], max_gap=-1)


def test_census_counts_folded_classes():
    from stream_guard.evaluation.matcher import (
        FLAG_AT,
        FLAG_LINK,
        FLAG_NUMBER,
        FLAG_SHORT,
        FLAG_SYMBOL,
        census,
        census_flags,
    )
    # digits (any spelling), Latin letters, dots between letters or digits, at signs
    assert census("电话一三八１２③ abc。com x@y") == (6, 8, 1, 1)
    assert census("好的。谢谢") == (0, 0, 0, 0)
    assert census_flags("一二三四五", 5, 3) == FLAG_NUMBER
    assert census_flags("a.b", 5, 3) == FLAG_LINK | FLAG_SHORT
    assert census_flags("加＋微信，看@我", 5, 3, "+") == FLAG_SYMBOL | FLAG_AT
    assert census_flags("加微信", 5, 3, "+") == FLAG_SHORT

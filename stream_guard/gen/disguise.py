"""The families of evasions a violating agent uses to disguise a hit (full width, traditional
characters, separators, spaced digits, Chinese numerals, circled characters, repeats): which apply
to a hit, and the disguised hit. Whether the rules still find it is `agent_messages`' question."""
from __future__ import annotations

import random
from itertools import pairwise

# Simplified -> traditional for the characters of the rule examples (the engine folds back).
S2T = {s: t for s, t in zip(
    "发开没货转账关给顶级经网买卖单说话这个们号码联系邮费运银线质优价点库脑残猪妈滚东宝猫对区远补钱汇扫让为"
    "电体机时间长门问题欢现处请谢还会员从样认确实无绝独万强国进销业预订帮闭据税气笔证亲两里后么吗与户页图写"
    "换讯络链种务产击赠满减礼饰装颜际经纪卡户标准软够块讲该",
    "發開沒貨轉賬關給頂級經網買賣單說話這個們號碼聯係郵費運銀線質優價點庫腦殘豬媽滾東寶貓對區遠補錢匯掃讓為"
    "電體機時間長門問題歡現處請謝還會員從樣認確實無絕獨萬強國進銷業預訂幫閉據稅氣筆證親兩裡後麼嗎與戶頁圖寫"
    "換訊絡鏈種務產擊贈滿減禮飾裝顏際經紀卡戶標準軟夠塊講該",
    strict=True,
) if s != t}
SEPARATORS = (".", " ", "-", "*", "·", "_", "/", "~")
CN_DIGITS = "零一二三四五六七八九"
SPAN_EVASIONS = ("fullwidth", "traditional", "separators", "spaced_digits", "cn_numerals", "circled", "repeats")
NUMERALS = set("零〇一二三四五六七八九十百千万幺两壹贰叁肆伍陆柒捌玖拾佰仟")


def _cjk(c: str) -> bool:
    """A Chinese character that is not a numeral: repeating it or spacing it out disguises a word
    without changing what it says (a repeated digit would be another number)."""
    return "\u4e00" <= c <= "\u9fff" and c not in NUMERALS


def applies(family: str, hit: str) -> bool:
    """Whether a family of evasions can change this hit without changing what it says."""
    if family == "fullwidth":
        return any("!" <= c <= "~" for c in hit)
    if family == "traditional":
        return any(c in S2T for c in hit)
    if family in ("spaced_digits", "cn_numerals"):
        return sum(c.isdigit() and c.isascii() for c in hit) >= 5
    if family == "circled":
        return any(c.isascii() and c.isalnum() for c in hit)
    if family == "separators":  # between Chinese characters: inside a number or an address it would change it
        return any(_cjk(a) and _cjk(b) for a, b in pairwise(hit))
    return any(_cjk(c) for c in hit)  # repeats: of Chinese characters only, for the same reason


def _circle(c: str) -> str:
    if c.isascii() and c.isdigit() and c != "0":
        return chr(0x2460 + int(c) - 1)
    if c.isascii() and c.isalpha():
        return chr(0x24D0 + ord(c.lower()) - ord("a"))
    return c


def disguise(family: str, hit: str, rng: random.Random) -> str:
    """The hit disguised by a family that `applies` to it."""
    if family == "fullwidth":
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in hit)
    if family == "traditional":
        return "".join(S2T.get(c, c) for c in hit)
    if family == "separators":
        sep = rng.choice(SEPARATORS)
        return "".join(a + sep if _cjk(a) and _cjk(b) else a for a, b in zip(hit, hit[1:] + " ", strict=True))
    if family == "spaced_digits":
        out, run = [], 0
        sep = rng.choice((" ", "-", " "))
        for c in hit:
            if c.isdigit() and c.isascii():
                if run and run % 4 == 3:
                    out.append(sep)
                run += 1
            out.append(c)
        return "".join(out)
    if family == "cn_numerals":
        yao = rng.random() < 0.5
        return "".join(("幺" if yao and c == "1" else CN_DIGITS[int(c)]) if c.isdigit() and c.isascii() else c
                       for c in hit)
    if family == "circled":
        return "".join(_circle(c) for c in hit)
    # repeats: one or two Chinese characters written twice
    chars = list(hit)
    chinese = [i for i, c in enumerate(chars) if _cjk(c)]
    for i in sorted(rng.sample(chinese, min(2, len(chinese))), reverse=True):
        chars.insert(i, chars[i])
    return "".join(chars)

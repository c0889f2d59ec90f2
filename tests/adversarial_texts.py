"""Adversarial agent messages for the rules: texts as dense in hits as a message can be, made by
repeating one short unit up to a byte budget, one family per construct the packs use, and the
ordinary text they are compared with.

Shared by the linear-time test (tests/unit/evaluation/test_linear_time.py: a 4x longer text may
take at most about 4x as long) and the benchmark (benchmarks/test_rules_adversarial.py: time per
character against ordinary text, on texts up to the 16 KiB limit of a message)."""
from __future__ import annotations

from collections.abc import Iterable

from stream_guard.engine.events import Limits

MAX_TEXT_BYTES = Limits.max_text_bytes

# family -> the unit repeated; the name says which construct the unit piles up
FAMILIES: dict[str, str] = {
    # one character, over and over (a run folds to one character in the matcher)
    "one character 加": "加",
    "one character v": "v",
    "one character 1": "1",
    "one character 微": "微",
    "one character @": "@",
    "one character .": ".",
    # separators only (skipped between the characters of a hit)
    "separators: spaces": " ",
    "separators: dashes": "-",
    "separators: 。": "。",
    "separators: mixed": " -·、.,",
    "separators: line breaks": "\n",
    # a phrase's prefix, never completed
    "prefix of 不开发票": "不开发",
    "prefix of 私下转账": "私下转",
    "prefix of 不支持货到付款": "不支持货到付",
    # any phrases
    "any: 不开发票": "不开发票",
    "any: 缺货": "缺货",
    "any: 第一 (many unless phrases)": "第一",
    "any: 淘宝": "淘宝",
    # near groups
    "near: 加 v": "加 v ",
    "near: 加微信": "加微信",
    "near: + vx": "+ vx ",
    # unless phrases covering every hit
    "unless: 你妈妈": "你妈妈",
    "unless: 微信支付": "微信支付",
    "unless: 缺货吗": "缺货吗",
    "unless: 加急": "加急",
    # numbers for the phone, QQ, bank card, ID and WeChat detectors
    "phone numbers": "电话13812345678，",
    "QQ numbers": "qq 12345 ",
    "bank cards": "卡号6222021234567890128 ",
    "ID numbers": "身份证11010519491231002X，",
    "WeChat ids": "微信：shop_2024a ",
    "digit runs: 1 and a space": "1 ",
    "digit runs: 1 and a dash": "1-",
    "circled digits": "①②③④⑤⑥⑦⑧⑨",
    "Chinese numerals": "一二三四五六七八九",
    # links and e-mail addresses
    "links: www.a.com": "www.a.com ",
    "links: bare domains": "a.cn ",
    "e-mail addresses": "a@b.cn ",
    "@ and dots": "@.",
    "letters and @": "a@",
    "letters and dots": "a.",
    # the characters of short fillers
    "short fillers: 哦哦。": "哦哦。",
    "short fillers: 不行！": "不行！",
}


def repeated(unit: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """`unit` repeated as often as fits in `max_bytes` of UTF-8 (at least once)."""
    return unit * units_in(unit, max_bytes)


def units_in(unit: str, max_bytes: int) -> int:
    """How many times `unit` fits in `max_bytes` of UTF-8 (at least once)."""
    return max(1, max_bytes // len(unit.encode("utf-8")))


def ordinary_lines(rulesets: Iterable) -> list[str]:
    """The packs' clean examples that hit no phrase of any pack: what an agent writes all day."""
    rulesets = list(rulesets)
    lines: list[str] = []
    for ruleset in rulesets:
        for rule in ruleset.rules:
            for example in rule.clean_examples:
                text = example.text
                if text not in lines and not any(r.matcher.find(text) for r in rulesets):
                    lines.append(text)
    return lines


def ordinary_text(rulesets: Iterable, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """Ordinary agent text of at most `max_bytes`: the ordinary lines, one after another, a line
    break after each, over again until the budget is spent."""
    lines = ordinary_lines(rulesets)
    if not lines:
        raise ValueError("no clean example of the packs is free of phrase hits")
    out: list[str] = []
    size = 0
    while True:
        for line in lines:
            piece = line + "\n"
            size += len(piece.encode("utf-8"))
            if size > max_bytes:
                return "".join(out)
            out.append(piece)

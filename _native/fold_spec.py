"""What a character folds to: the single definition behind the native tables and the test oracle.

The native matcher never calls this at run time. `setup.py` runs it once per build to emit
`fold_table.h` (a two-level lookup table over all code points), and the tests' pure-Python oracle
uses it to normalise text independently of the native scanner. Keeping both on this one
definition is what makes "native agrees with the oracle" a meaningful property.

Every code point folds to one of three kinds:
- WHITESPACE: skipped between the characters of a hit, never part of a pattern;
- SEPARATOR (punctuation, symbols, emoji, zero-width, bidi and combining marks): skipped between
  the characters of a hit, unless a pattern made only of separators spells it out (`@@@@`), or a
  pattern spells out a pictograph (`🐧号`, `微❤`: see `pictograph`); carries its folded form so
  that `＠` and `@` are the same separator;
- CHARS: one to MAX_EXPANSION folded characters (NFKC, case folding, traditional -> simplified):
  `Ｆ` -> `f`, `Ⓕ` -> `f`, `⑴` -> `1`, `㈠` -> `一`, `發` -> `发`, `⑳` -> `20`.
Chinese numerals fold to digits only in matchers built with number folding (NUMERALS).
"""
from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path

WHITESPACE, SEPARATOR, CHARS = 0, 1, 2
MAX_EXPANSION = 4
MAX_CODEPOINT = 0x10FFFF
LATIN_LIMIT = 0x250  # Basic Latin to Latin Extended-B: the letters whole-word matching guards

_SEPARATOR_CATEGORIES = frozenset(
    "Cc Cf Cs Co Mn Me Pc Pd Ps Pe Pi Pf Po Sm Sc Sk So".split()
)
# Emoji planes: code points newer than this Python's Unicode data are still emoji, not letters.
_EMOJI_PLANE = range(0x1F000, 0x20000)

T2S_PATH = Path(__file__).resolve().parent / "t2s.tsv"

# Chinese and financial numerals -> ASCII digits, applied after the traditional -> simplified
# step (貳 -> 贰 -> 2), only for matchers built with number folding.
NUMERALS = {
    "〇": "0", "零": "0",
    "一": "1", "壹": "1", "幺": "1",
    "二": "2", "两": "2", "贰": "2",
    "三": "3", "叁": "3",
    "四": "4", "肆": "4",
    "五": "5", "伍": "5",
    "六": "6", "陆": "6",
    "七": "7", "柒": "7",
    "八": "8", "捌": "8",
    "九": "9", "玖": "9",
}


def load_t2s(path: Path = T2S_PATH) -> dict[str, str]:
    table = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            trad, simp = line.split("\t")
            table[trad] = simp
    return table


_T2S = load_t2s()


def _is_whitespace(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Zs", "Zl", "Zp")


def _is_separator(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category in _SEPARATOR_CATEGORIES or (category == "Cn" and ord(ch) in _EMOJI_PLANE)


def pictograph(folded: str) -> bool:
    """A folded separator that stands for a word when a pattern spells it (🐧 for 企鹅, ❤ for 信,
    ➕ for 加): a symbol beyond ASCII and General Punctuation, or an emoji not yet in this Python's
    Unicode data. Punctuation and ASCII symbols in a pattern (the % of 100%) are skipped as in
    text. The native matcher's build keeps the same definition."""
    code = ord(folded)
    category = unicodedata.category(folded)
    return code >= 0x2070 and (category in ("Sm", "So") or (category == "Cn" and code in _EMOJI_PLANE))


def _fold_once(ch: str) -> str:
    text = unicodedata.normalize("NFKC", ch).casefold()
    return "".join(_T2S.get(c, c) for c in text)


@cache
def fold_char(ch: str) -> tuple[int, str]:
    """(kind, folded) for one character; `folded` is "" for WHITESPACE."""
    if _is_whitespace(ch):
        return WHITESPACE, ""
    folded = _fold_once(ch)
    core = folded.strip("".join(c for c in folded if _is_separator(c) or _is_whitespace(c)))
    if not core:
        # A separator (or a compatibility form of one, like ＠): keep one folded character.
        if all(_is_whitespace(c) for c in folded):
            return WHITESPACE, ""
        return SEPARATOR, folded if len(folded) == 1 else ch
    if len(core) > MAX_EXPANSION or any(_is_separator(c) or _is_whitespace(c) for c in core):
        # Separators inside the expansion (½ -> 1⁄2, ㏂ -> a.m.) or a long ligature: the
        # expansion would invent words, so the character stands for itself.
        return (SEPARATOR, ch) if _is_separator(ch) else (CHARS, ch)
    # Fold to a fixed point so that folding a folded text changes nothing.
    out = []
    for c in core:
        if c == ch:
            out.append(c)
            continue
        kind, again = fold_char(c)
        out.append(again if kind == CHARS else c)
    result = "".join(out)
    if len(result) > MAX_EXPANSION:
        return CHARS, ch
    return CHARS, result


def char_class(c: str) -> int:
    """0 other, 1 Latin letter, 2 ASCII digit: whole-word matching guards classes 1 and 2."""
    if "0" <= c <= "9":
        return 2
    if ord(c) < LATIN_LIMIT and c.isalpha():
        return 1
    return 0


# ---- header generation (build time) -------------------------------------------------------

KIND_CHAR, KIND_SEPARATOR, KIND_WHITESPACE, KIND_EXPANSION = 0, 1, 2, 3
_PAYLOAD_MASK = (1 << 30) - 1


def _entries():
    """The 32-bit table entry of every code point, and the expansion pool.

    entry >> 30 is the kind; the low 30 bits are, for CHAR and SEPARATOR, (folded - cp) mod 2**30
    so that unchanged code points are 0 and whole blocks of them share one table block; for
    EXPANSION, an index into the pool, where pool[i] is a length and the characters follow.
    """
    pool: list[int] = []
    pool_index: dict[str, int] = {}
    entries = [0] * (MAX_CODEPOINT + 1)
    for cp in range(MAX_CODEPOINT + 1):
        ch = chr(cp)
        if unicodedata.category(ch) == "Cn" and cp not in _EMOJI_PLANE:
            continue  # unassigned: folds to itself, entry 0
        kind, folded = fold_char(ch)
        if kind == WHITESPACE:
            entries[cp] = KIND_WHITESPACE << 30
        elif len(folded) == 1:
            tag = KIND_SEPARATOR if kind == SEPARATOR else KIND_CHAR
            entries[cp] = (tag << 30) | ((ord(folded) - cp) & _PAYLOAD_MASK)
        else:
            if folded not in pool_index:
                pool_index[folded] = len(pool)
                pool.append(len(folded))
                pool.extend(ord(c) for c in folded)
            entries[cp] = (KIND_EXPANSION << 30) | pool_index[folded]
    return entries, pool


def _c_array(ctype: str, name: str, values) -> str:
    values = list(values)
    rows = [", ".join(str(v) for v in values[i:i + 24]) for i in range(0, len(values), 24)]
    return f"static const {ctype} {name}[{len(values)}] = {{\n" + ",\n".join(rows) + "\n};\n"


def write_header(path: Path) -> None:
    entries, pool = _entries()
    stage1, blocks, block_ids = [], [], {}
    for start in range(0, MAX_CODEPOINT + 1, 256):
        block = tuple(entries[start:start + 256])
        if block not in block_ids:
            block_ids[block] = len(blocks)
            blocks.append(block)
        stage1.append(block_ids[block])
    stage2 = [v for block in blocks for v in block]
    numerals = sorted((ord(k), ord(v)) for k, v in NUMERALS.items())
    # one bit per code point of the Basic Multilingual Plane, set for the numerals: the matcher
    # asks this before searching the numeral table, for every CJK character it folds
    assert all(a <= 0xFFFF for a, _ in numerals), "a numeral beyond the BMP needs sg_numeral_bits widened"
    numeral_bits = [0] * 0x2000
    for a, _ in numerals:
        numeral_bits[a >> 3] |= 1 << (a & 7)
    latin = [char_class(chr(c)) for c in range(LATIN_LIMIT)]
    text = [
        "/* Generated by _native/fold_spec.py at build time; do not edit. */",
        "#include <stdint.h>",
        f'#define SG_UNIDATA_VERSION "{unicodedata.unidata_version}"',
        f"#define SG_LATIN_LIMIT {LATIN_LIMIT}",
        f"#define SG_NUMERAL_COUNT {len(numerals)}",
        _c_array("uint16_t", "sg_fold_stage1", stage1),
        _c_array("uint32_t", "sg_fold_stage2", stage2),
        _c_array("uint32_t", "sg_fold_pool", pool or [0]),
        _c_array("uint8_t", "sg_char_class", latin),
        _c_array("uint32_t", "sg_numeral_from", [a for a, _ in numerals]),
        _c_array("uint32_t", "sg_numeral_to", [b for _, b in numerals]),
        _c_array("uint8_t", "sg_numeral_bits", numeral_bits),
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(text), encoding="ascii")
    tmp.replace(path)


if __name__ == "__main__":
    import sys

    write_header(Path(sys.argv[1]))

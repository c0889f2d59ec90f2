"""Built-in detectors: hand-written linear scanners for numbers, ids, links and fillers.

No regular expressions touch message text. Each message gets one `TextView`: a one-to-one
translation (a native `CharMap` of the table below, offsets unchanged) gives its ASCII view
(full-width forms, Chinese numerals and 幺 as digits, 。 as a dot), whose number runs are found
natively (`DigitRuns`). The rule engine asks the native census first (could a detector find
anything here?), so the common message never gets a view at all.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import NamedTuple

from stream_guard.evaluation.matcher import FLAG_AT, FLAG_NUMBER, CharMap, DigitRuns, census_flags

Span = tuple[int, int]

_DIGIT_FORMS = {
    **{chr(0xFF10 + i): str(i) for i in range(10)},          # full-width
    **{chr(0x2460 + i): str(i + 1) for i in range(9)},       # ① .. ⑨
    **{chr(0x2474 + i): str(i + 1) for i in range(9)},       # ⑴ .. ⑼
    **{chr(0x2488 + i): str(i + 1) for i in range(9)},       # ⒈ .. ⒐
    **{chr(0x2776 + i): str(i + 1) for i in range(9)},       # ❶ .. ❾
    "⓪": "0", "⓿": "0",
    **dict(zip("〇零一二三四五六七八九", "00123456789", strict=True)),
    **dict(zip("幺壹贰貳叁參肆伍陆陸柒捌玖两兩", "112233456678922", strict=True)),
}
_ASCII = {
    **{chr(0xFF01 + i): chr(0x21 + i) for i in range(0x5E)},  # full-width ASCII forms
    **_DIGIT_FORMS,
    "。": ".", "｡": ".", "—": "-", "\u3000": " ",
}
ASCII_FOLD = str.maketrans(_ASCII)
ASCII_FOLD_MAP = CharMap(ASCII_FOLD)
# What may stand between two digits of one number: up to this many characters the matcher skips
# (138 1234-5678, 138/1234/5678, 138  1234，5678, an emoji between the groups)
MAX_NUMBER_GAP = 3

ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
HOST_CHARS = ALNUM | {"-"}
EMAIL_LOCAL = ALNUM | set("._%+-")
WECHAT_CHARS = ALNUM | {"_", "-"}
LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
MIN_WECHAT_ID, MAX_WECHAT_ID = 6, 20  # characters
_WECHAT_CLASSES = bytes(ord("w") if chr(b) in WECHAT_CHARS else ord(" ") for b in range(256))
_LONG_RUN = b" " + b"w" * MIN_WECHAT_ID  # the start of a run of id characters long enough for an id
TLDS = frozenset("""com cn net org cc top xyz vip shop io me hk tw info co biz club site online store
app link ltd tech wang ink pub live fun icu mobi asia tv""".split())
URL_SCHEMES = ("http://", "https://", "www.")
TOKEN_GLUE = "".join(sorted(ALNUM | set("/=_&?#%")))  # see TextView.number_runs
NUMBER_RUNS = DigitRuns(TOKEN_GLUE, MAX_NUMBER_GAP)
MOBILE_SECOND_DIGIT = frozenset("3456789")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


class NumberRun(NamedTuple):
    start: int
    end: int
    digits: str


# punctuation and spaces that may surround a curt reply: "嗯嗯。", "哦?", "  不行！"
EDGE_NOISE = " \t\n\u3000.,!?~;:…，。！？～；：、·-—\"'“”‘’()（）[]【】<>《》"
SHORT_MESSAGE = 10  # characters, punctuation included: longer messages are never curt fillers
MIN_NUMBER_DIGITS = 5  # the shortest number a detector looks for (a QQ number)

# detector -> the gate (a census question, see Ruleset) that must be open before its scanner runs
NUMBER, LINK, EMAIL, SHORT = range(4)
GATES = {
    "mobile_phone": NUMBER, "bank_card": NUMBER, "id_card": NUMBER, "qq_number": NUMBER,
    "wechat_id": NUMBER, "url": LINK, "email": EMAIL, "short_filler": SHORT,
}


class TextView:
    """The views of one message the detectors share, each computed at most once.

    The rule engine asks its cheap questions (census_flags) before it builds one of these."""

    __slots__ = ("text", "flags", "number_runs", "_ascii")

    def __init__(self, text: str, flags: int | None = None):
        """`flags`: the text's census_flags with MIN_NUMBER_DIGITS, when the caller has them.

        `number_runs`: maximal runs of MIN_NUMBER_DIGITS digits or more (no detector looks at a
        shorter one, and a text of 第一 repeated holds thousands), where up to MAX_NUMBER_GAP
        characters the matcher skips (spaces, punctuation, emoji) may stand between two digits:
        138 1234 5678, 138/1234/5678, 138，1234，5678, 一三八.一二三四...
        A run followed by x/X keeps it (ID numbers end in X). Digits glued to a word or a link
        (item.jd.com/100012345678.html, SKU12345678) are part of that token, not a number anyone
        could dial or pay into.

        `flags` keeps FLAG_NUMBER only when a run has MIN_NUMBER_DIGITS digits or more: the
        census counts every digit, and most texts it flags (order numbers, links, SKUs) have
        none, so the number detectors are not woken for them."""
        self.text = text
        self._ascii: str | None = None
        self.number_runs: tuple[NumberRun, ...] = ()
        if flags is None:
            flags = census_flags(text, MIN_NUMBER_DIGITS, SHORT_MESSAGE)
        if flags & FLAG_NUMBER:
            self._ascii = ASCII_FOLD_MAP.translate(text)
            self.number_runs = tuple(
                NumberRun._make(run) for run in NUMBER_RUNS.find(self._ascii) if len(run[2]) >= MIN_NUMBER_DIGITS)
            if not self.number_runs:
                flags &= ~FLAG_NUMBER
        self.flags = flags

    @property
    def ascii(self) -> str:
        if self._ascii is None:
            self._ascii = ASCII_FOLD_MAP.translate(self.text)
        return self._ascii


class Reach:
    """Spans sorted by start, with the one reaching furthest right among each prefix: which span
    that starts before a point (or at it) reaches furthest past it, by bisection. Whether a
    context word is within reach of a number, an allowed phrase covers a hit, a guard phrase ends
    just before a match, or a dictionary word crosses a term's start is each one such question,
    so a message dense in hits stays linear."""
    __slots__ = ("starts", "best")

    def __init__(self, spans: list[Span]):
        ordered = sorted(spans)
        self.starts = [a[0] for a in ordered]
        # best[i]: of the first i+1 spans by start, the one reaching furthest right
        self.best: list[Span] = []
        for a in ordered:
            self.best.append(a if not self.best or a[1] > self.best[-1][1] else self.best[-1])

    def furthest(self, at: int, *, starting_at: bool = False) -> Span | None:
        """Of the spans starting before `at` (or at it, with starting_at), the one ending last."""
        i = (bisect_right if starting_at else bisect_left)(self.starts, at)
        return self.best[i - 1] if i else None

    def covering(self, span: Span) -> Span | None:
        """A span holding `span`: it starts at or before it and ends at or after it."""
        reach = self.furthest(span[0], starting_at=True)
        return reach if reach is not None and reach[1] >= span[1] else None

    def crosses(self, hit: Span) -> bool:
        """A span starts before the hit and ends after its start. The word list holds no word with
        the whole term in it, so for a term's crossing words this is one ending inside the hit."""
        reach = self.furthest(hit[0])
        return reach is not None and reach[1] > hit[0]


class ContextReach:
    """Context spans indexed once, so that asking whether a span is within reach of one of them
    costs a bisection, not a pass over every context span: a message dense in context words and
    numbers stays linear in its hits.

    A span (s, e) is within reach of a context span (cs, ce) when cs <= e + within and
    ce >= s - within: among the context spans starting early enough, the one ending furthest
    decides."""

    __slots__ = ("_reach", "_within")

    def __init__(self, context: Iterable[Span], within: int):
        self._reach = Reach(list(context))
        self._within = within

    def reaches(self, span: Span) -> bool:
        furthest = self._reach.furthest(span[1] + self._within, starting_at=True)
        return furthest is not None and furthest[1] >= span[0] - self._within


def in_reach(spans: Iterable[Span], context: list[Span], within: int) -> list[Span]:
    """The spans within reach of some context span, in their order."""
    if not context:
        return []
    reaches = ContextReach(context, within).reaches
    return [span for span in spans if reaches(span)]


MOBILE_DIGITS = 11
GLUED_NUMERALS = 4  # Chinese numerals a run of written digits may have taken from the words around it


def _mobile(digits: str) -> bool:
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return len(digits) == 11 and digits[0] == "1" and digits[1] in MOBILE_SECOND_DIGIT


def _written_digits(view: TextView, run: NumberRun) -> NumberRun:
    """A run of written digits without the Chinese numerals glued to its ends: 一 in
    18627351094一直 is the first character of a word, not a twelfth digit. A run written all in
    Chinese numerals (一三八…) is left whole."""
    text, start, end = view.text, run.start, run.end
    if not any("0" <= c <= "9" or "０" <= c <= "９" for c in text[start:end]):
        return run
    while start < end and _chinese_numeral(text[start]):
        start += 1
    while end > start and _chinese_numeral(text[end - 1]):
        end -= 1
    if (start, end) == (run.start, run.end):
        return run
    return NumberRun(start, end, "".join(c for c in view.ascii[start:end] if c.isdigit()))


def _chinese_numeral(ch: str) -> bool:
    return ch == "〇" or ("\u4e00" <= ch <= "\u9fff" and ASCII_FOLD.get(ord(ch), "").isdigit())


def mobile_phone(view: TextView) -> list[Span]:
    found = []
    for run in view.number_runs:
        if not _mobile(run.digits) and MOBILE_DIGITS < len(run.digits) <= MOBILE_DIGITS + GLUED_NUMERALS:
            run = _written_digits(view, run)
        if _mobile(run.digits):
            found.append((run.start, run.end))
    return found


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def bank_card(view: TextView) -> list[Span]:
    return [(r.start, r.end) for r in view.number_runs
            if 13 <= len(r.digits) <= 19 and r.digits.isdigit() and r.digits[0] != "0"
            and luhn_valid(r.digits)]


def id_card_shaped(number: str) -> bool:
    """18 characters, 17 digits and a digit or X, a birth date that can be one."""
    if len(number) != 18 or not number[:17].isdigit() or not (number[17].isdigit() or number[17] in "xX"):
        return False
    month, day = int(number[10:12]), int(number[12:14])
    return 1 <= month <= 12 and 1 <= day <= 31 and number[6:8] in ("18", "19", "20")


def id_card_valid(number: str) -> bool:
    if not id_card_shaped(number):
        return False
    check = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS, strict=True)) % 11
    return ID_CHECK[check] == number[17].upper()


def id_card(view: TextView, context: list[Span], within: int) -> list[Span]:
    """ID numbers with a valid check digit anywhere; next to a context word (身份证), any number of
    an ID's shape: a leaked number with a typo in it is still a leaked number."""
    reaches = ContextReach(context, within).reaches if context else None
    return [(r.start, r.end) for r in view.number_runs
            if id_card_valid(r.digits) or (reaches is not None and id_card_shaped(r.digits)
                                           and reaches((r.start, r.end)))]


def qq_number(view: TextView, context: list[Span], within: int) -> list[Span]:
    return in_reach(((r.start, r.end) for r in view.number_runs
                     if 5 <= len(r.digits) <= 11 and r.digits.isdigit() and r.digits[0] != "0"), context, within)


def wechat_id(view: TextView, context: list[Span], within: int) -> list[Span]:
    """An id (a letter, then 5-19 letters, digits, _ or -) or a mobile number, within `within`
    characters after or before a WeChat word.

    An id is a whole run of id characters (letters, digits, _ and -) that starts with a letter.
    The runs of six or more are found in C on a one-byte-per-character class string of the text,
    so a text full of WeChat words and short tokens costs no Python step per character."""
    if not context:
        return []
    reaches = ContextReach(context, within).reaches
    found = [span for span in mobile_phone(view) if reaches(span)]  # the glued numerals left off, as there
    text = view.ascii
    # b"w" for an id character, b" " for anything else (non-ASCII characters encode to "?"); the
    # leading space makes a run at the very start look like any other
    classes = b" " + text.encode("ascii", "replace").translate(_WECHAT_CLASSES)
    run = classes.find(_LONG_RUN)
    while run != -1:
        i = run  # the run's first character, in text offsets (classes has one byte more)
        j = classes.find(b" ", run + 1)
        j = len(text) if j == -1 else j - 1
        if j - i <= MAX_WECHAT_ID and text[i] in LETTERS and not text[i:j].isalpha() and reaches((i, j)):
            found.append((i, j))
        run = classes.find(_LONG_RUN, j + 1)
    return sorted(set(found))


def email(view: TextView) -> list[Span]:
    if not view.flags & FLAG_AT:
        return []
    text = view.ascii
    found = []
    n = len(text)
    at = text.find("@")
    while at != -1:
        i = at
        while i > 0 and text[i - 1] in EMAIL_LOCAL:
            i -= 1
        j = at + 1
        while j < n and (text[j] in HOST_CHARS or (text[j] == "." and j + 1 < n and text[j + 1] in ALNUM)):
            j += 1
        host = text[at + 1:j].lower()
        if i < at and "." in host and host.rsplit(".", 1)[1].isalpha() and len(host.rsplit(".", 1)[1]) >= 2:
            found.append((i, j))
        at = text.find("@", j)
    return found


def _allowed(host: str, allow: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in allow)


def url(view: TextView, allow_domains: tuple[str, ...]) -> list[Span]:
    """Links with a scheme or www., and bare domains ending in a common top-level domain,
    whose host is not one of the platform's own."""
    text = view.ascii
    if "." not in text:
        return []
    lower = text.lower()
    n = len(lower)
    found = []
    dot = lower.find(".")
    consumed = -1
    while dot != -1:
        if dot > consumed and 0 < dot < n - 1 and lower[dot - 1] in HOST_CHARS and lower[dot + 1] in ALNUM:
            i = dot
            while i > 0 and (lower[i - 1] in HOST_CHARS or (lower[i - 1] == "." and i > 1 and lower[i - 2] in ALNUM)):
                i -= 1
            j = dot + 1
            while j < n and (lower[j] in HOST_CHARS or (lower[j] == "." and j + 1 < n and lower[j + 1] in ALNUM)):
                j += 1
            host = lower[i:j]
            tld = host.rsplit(".", 1)[1]
            start = i
            for scheme in URL_SCHEMES[:2]:
                if lower.endswith(scheme, 0, i):
                    start = i - len(scheme)
            end = j
            while end < n and lower[end] not in " \t\n，。；;、）)\"'<>" and ord(lower[end]) < 128:
                end += 1  # path and query of a link
            has_scheme = start < i or host.startswith("www.")
            if (has_scheme or tld in TLDS) and (i == 0 or lower[i - 1] not in "@") \
                    and not _allowed(host.removeprefix("www."), allow_domains) and any(c.isalpha() for c in tld):
                found.append((start, end))
            consumed = end
        dot = lower.find(".", dot + 1)
    return found


def short_filler(text: str, words: tuple[str, ...], max_chars: int) -> list[Span]:
    """The whole message, when it is shorter than max_chars once punctuation, symbols and spaces
    are set aside, and is made only of filler words."""
    if len(text) > SHORT_MESSAGE:
        return []
    core = "".join(ch for ch in text if ch.isalnum())
    if not core or len(core) >= max_chars:
        return []
    # can `core` be cut into words? (a tiny dynamic programme: core has < max_chars characters)
    reachable = [True] + [False] * len(core)
    for i in range(len(core)):
        if reachable[i]:
            for w in words:
                if core.startswith(w, i):
                    reachable[i + len(w)] = True
    return [(0, len(text))] if reachable[-1] else []


def star(chars: list[str], folded: str, span: Span, only: frozenset[str] | None = None) -> bool:
    """Replace chars[start:end] by `*` where the ascii-folded character is one of `only` (every
    one when None); whether any was. The length stays, so spans stay valid."""
    starred = False
    for k in range(span[0], span[1]):
        if only is None or folded[k] in only:
            chars[k] = "*"
            starred = True
    return starred


def mask_phone_numbers(text: str) -> str:
    """The text with the digits of each mobile number in it as `*` (an id that is a phone number)."""
    view = TextView(text)
    chars = list(text)
    starred = [star(chars, view.ascii, span, ALNUM) for span in mobile_phone(view)]
    return "".join(chars) if any(starred) else text


def mask_personal_data(view: TextView) -> str:
    """The text with every digit of a number run (MIN_NUMBER_DIGITS or more), and the local part of
    e-mail addresses, replaced by `*` (same length, so spans stay valid)."""
    chars = list(view.text)
    masked = False
    for run in view.number_runs:
        masked |= star(chars, view.ascii, (run.start, run.end), ALNUM)  # digits and the X, not the separators
    for start, _end in email(view):
        masked |= star(chars, view.ascii, (start, view.ascii.find("@", start)))
    return "".join(chars) if masked else view.text

"""Fold profiles and the word list: spellings a rule's phrases stand for beyond what the matcher
folds for every rule, and the words a short term must not be read across.

A rule opts in with `fold = ["pinyin", "homophones"]`; its phrases are then expanded when the pack
is loaded, so the spellings go into the platform's one matcher and a message is still scanned once.

- `pinyin`: the toneless syllables of a phrase of two or more Chinese characters, every reading of
  a polyphone (微信 -> weixin), and the initials of their usual readings (微信 -> wx, 发票 -> fp,
  信用卡 -> xyk).
- `homophones`: the phrase with its characters replaced by common characters whose usual reading
  is the same (微信 -> 薇信, 威芯, 微芯 ...): every combination for a short phrase, one character at
  a time for a long one. Common: in GB2312 (6,763 characters, the table's), the ones people type
  when they swap a character for a sound-alike. A profile this wide needs a cue in the rule
  (a `near` group: 加, 号, a colon) to keep its precision.

The word list (jieba's dictionary) serves rules with `whole_terms = true`: a two- or three-character term hit is
cancelled when a dictionary word crosses its edge (京东 in 南京东路: 南京 ends inside it).

The tables are derived from pypinyin's and jieba's data (both MIT) by scripts/gen_pinyin_tables.py
and shipped in `data/`; nothing here needs either package at run time.
"""
from __future__ import annotations

import itertools
from functools import cache
from importlib import resources

PROFILES = ("pinyin", "homophones")
MAX_READINGS = 16  # spellings of one phrase in pinyin: polyphones multiply
MAX_HOMOPHONES = 2500  # all sound-alike combinations of a phrase, while there are no more
TERM_LENGTHS = (2, 3)


def _lines(name: str) -> list[str]:
    text = (resources.files("stream_guard.evaluation") / "data" / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@cache
def readings() -> dict[str, tuple[str, ...]]:
    """Character -> its toneless readings."""
    table = {}
    for line in _lines("pinyin.tsv"):
        ch, spelled = line.split("\t")
        table[ch] = tuple(spelled.split(","))
    return table


@cache
def sound_alikes() -> dict[str, tuple[str, ...]]:
    """Toneless reading -> the characters whose usual reading (pypinyin's first) it is."""
    by_reading: dict[str, list[str]] = {}
    for ch, spelled in readings().items():
        by_reading.setdefault(spelled[0], []).append(ch)
    return {reading: tuple(chars) for reading, chars in by_reading.items()}


@cache
def words() -> frozenset[str]:
    return frozenset(_lines("words.txt"))


def _chinese(phrase: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in phrase)


def pinyin_spellings(phrase: str) -> list[str]:
    """Syllables and initials of a phrase of two or more Chinese characters; none otherwise."""
    table = readings()
    if len(phrase) < 2 or not _chinese(phrase) or any(ch not in table for ch in phrase):
        return []
    combinations = itertools.islice(itertools.product(*(table[ch] for ch in phrase)), MAX_READINGS)
    found = dict.fromkeys("".join(syllables) for syllables in combinations)
    # initials of the usual readings only: two letters stand for too much to take every reading
    found["".join(table[ch][0][0] for ch in phrase)] = None
    return list(found)


def homophone_spellings(phrase: str) -> list[str]:
    """The phrase with its Chinese characters swapped for common sound-alikes: every combination
    while there are at most MAX_HOMOPHONES of them (微信 -> 威芯), else one character at a time."""
    table, alikes = readings(), sound_alikes()
    options = [(ch, *(o for o in alikes.get(table.get(ch, ("",))[0], ()) if o != ch)) for ch in phrase]
    count = 1
    for choice in options:
        count *= len(choice)
    if count <= MAX_HOMOPHONES:
        spellings = ("".join(combination) for combination in itertools.product(*options))
    else:
        spellings = (phrase[:i] + other + phrase[i + 1:] for i, choice in enumerate(options) for other in choice[1:])
    return [s for s in dict.fromkeys(spellings) if s != phrase]


def folded(phrases: tuple[str, ...], profiles: tuple[str, ...]) -> tuple[str, ...]:
    """The phrases and every spelling the profiles add, in a stable order, without repeats."""
    out = dict.fromkeys(phrases)
    for phrase in phrases:
        if "homophones" in profiles:
            out.update(dict.fromkeys(homophone_spellings(phrase)))
        if "pinyin" in profiles:
            out.update(dict.fromkeys(pinyin_spellings(phrase)))
    return tuple(out)


@cache
def _words_by_edge() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The words by their first character, and by their last."""
    by_first: dict[str, list[str]] = {}
    by_last: dict[str, list[str]] = {}
    for word in words():
        by_first.setdefault(word[0], []).append(word)
        by_last.setdefault(word[-1], []).append(word)
    return by_first, by_last


@cache
def crossing_words(term: str) -> tuple[str, ...]:
    """Dictionary words that cross the edge of a short Chinese term: a word ending with the
    term's first characters (南京 for 京东) or starting with its last ones (东路). Words holding
    the whole term are not crossings."""
    if len(term) not in TERM_LENGTHS or not _chinese(term):
        return ()
    by_first, by_last = _words_by_edge()
    crossing: set[str] = set()
    for k in range(1, len(term)):
        head, tail = term[:k], term[k:]
        crossing.update(w for w in by_last.get(head[-1], ()) if w.endswith(head) and len(w) > k and term not in w)
        crossing.update(w for w in by_first.get(tail[0], ()) if w.startswith(tail) and len(w) > len(tail)
                        and term not in w)
    return tuple(sorted(crossing))

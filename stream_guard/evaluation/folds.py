"""Fold profiles and the word list: spellings a rule's phrases stand for beyond what the matcher
folds for every rule, and the words a short term must not be read across.

A rule opts in with `fold = ["pinyin", "homophones", "lookalikes", "stand_ins"]` (any of them);
its phrases are then expanded when the pack is loaded, so the spellings go into the platform's one
matcher and a message is still scanned once.

- `pinyin`: the toneless syllables of a phrase of two or more Chinese characters, every reading of
  a polyphone (微信 -> weixin), and the initials of their usual readings (微信 -> wx, 发票 -> fp,
  信用卡 -> xyk).
- `homophones`: the phrase with its characters replaced by common characters whose usual reading
  is the same (微信 -> 薇信, 威芯, 微芯 ...): every combination for a short phrase, one character at
  a time for a long one; a phrase of one character is left alone (its sound-alikes are other
  words, not spellings of it). Common: in GB2312 (6,763 characters, the table's), the ones people
  type when they swap a character for a sound-alike. A profile this wide needs a cue in the rule
  (a `near` group: 加, 号, a colon) to keep its precision.
- `lookalikes`: the Latin letters and digits of a phrase, and of its pinyin spellings, written with
  Greek, Cyrillic or Latin-extension letters that look the same (vx -> νх, qq -> ԛq): every
  combination while there are few, else one letter at a time.
- `stand_ins`: the words and syllables of a phrase written as the emoji or symbol agents type for
  them (加 -> ➕, 企鹅 -> 🐧, 信 -> ❤, 淘 -> 🍑).

The word list (jieba's dictionary) serves rules with `whole_terms = true`: a two- or three-character
term hit is cancelled when a dictionary word ends inside its first characters (京东 in 南京东路:
南京 ends inside it).

The pinyin, word and look-alike tables are derived from pypinyin's, jieba's and
confusable_homoglyphs' data (all MIT; the last is Unicode's confusables list) by
scripts/gen_fold_tables.py and shipped in `data/`; nothing here needs those packages at run time.
The stand-in table (`data/stand_ins.tsv`) is the project's own.
"""
from __future__ import annotations

import itertools
from functools import cache
from importlib import resources

PROFILES = ("pinyin", "homophones", "lookalikes", "stand_ins")
MAX_READINGS = 16  # spellings of one phrase in pinyin: polyphones multiply
MAX_HOMOPHONES = 2500  # all sound-alike combinations of a phrase, while there are no more
MAX_LOOKALIKES = 256  # all look-alike combinations of a phrase, while there are no more
MAX_STAND_INS = 64  # all stand-in combinations of a phrase, while there are no more
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
def lookalikes() -> dict[str, str]:
    """Latin letter or digit -> the letters that look like it."""
    return dict(line.split("\t") for line in _lines("lookalikes.tsv"))


@cache
def stand_ins() -> dict[str, tuple[str, ...]]:
    """Word or syllable -> the emoji and symbols typed for it."""
    table: dict[str, list[str]] = {}
    for line in _lines("stand_ins.tsv"):
        symbol, text = line.split("\t")
        table.setdefault(text, []).append(symbol)
    return {text: tuple(symbols) for text, symbols in table.items()}


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


def _spellings(phrase: str, options: list[tuple[str, ...]], most: int) -> list[str]:
    """The phrase's pieces (`options[i]`: the piece as written first, then what may stand for it)
    in every combination while there are at most `most`, else one piece at a time; the phrase
    itself left out."""
    count = 1
    for choice in options:
        count *= len(choice)
    if count <= most:
        spellings = ("".join(combination) for combination in itertools.product(*options))
    else:
        spellings = ("".join(c[0] for c in options[:i]) + other + "".join(c[0] for c in options[i + 1:])
                     for i, choice in enumerate(options) for other in choice[1:])
    return [s for s in dict.fromkeys(spellings) if s != phrase]


def homophone_spellings(phrase: str) -> list[str]:
    """The phrase with its Chinese characters swapped for common sound-alikes: every combination
    while there are at most MAX_HOMOPHONES of them (微信 -> 威芯), else one character at a time.
    None for a single character."""
    if len(phrase) < 2:
        return []
    table, alikes = readings(), sound_alikes()
    options = [(ch, *(o for o in alikes.get(table.get(ch, ("",))[0], ()) if o != ch)) for ch in phrase]
    return _spellings(phrase, options, MAX_HOMOPHONES)


def lookalike_spellings(phrase: str) -> list[str]:
    """The phrase with its Latin letters and digits swapped for look-alike letters (vx -> νх)."""
    table = lookalikes()
    options = [(ch, *table.get(ch.lower(), "")) for ch in phrase]
    return _spellings(phrase, options, MAX_LOOKALIKES)


def stand_in_spellings(phrase: str) -> list[str]:
    """The phrase with its words and syllables swapped for the symbols typed for them (加我 ->
    ➕我, 企鹅号 -> 🐧号), the longest word first at each place."""
    table = stand_ins()
    longest = max(map(len, table), default=1)
    options: list[tuple[str, ...]] = []
    i = 0
    while i < len(phrase):
        for size in range(min(longest, len(phrase) - i), 0, -1):
            piece = phrase[i:i + size]
            if piece.lower() in table:
                options.append((piece, *table[piece.lower()]))
                i += size
                break
        else:
            options.append((phrase[i],))
            i += 1
    return _spellings(phrase, options, MAX_STAND_INS)


def folded(phrases: tuple[str, ...], profiles: tuple[str, ...]) -> tuple[str, ...]:
    """The phrases and every spelling the profiles add, in a stable order, without repeats."""
    out = dict.fromkeys(phrases)
    for phrase in phrases:
        spelled = pinyin_spellings(phrase) if "pinyin" in profiles else []
        if "homophones" in profiles:
            out.update(dict.fromkeys(homophone_spellings(phrase)))
        out.update(dict.fromkeys(spelled))
        if "lookalikes" in profiles:
            for latin in (phrase, *spelled):
                out.update(dict.fromkeys(lookalike_spellings(latin)))
        if "stand_ins" in profiles:
            out.update(dict.fromkeys(stand_in_spellings(phrase)))
    return tuple(out)


@cache
def _words_by_last() -> dict[str, list[str]]:
    """The words by their last character."""
    by_last: dict[str, list[str]] = {}
    for word in words():
        by_last.setdefault(word[-1], []).append(word)
    return by_last


@cache
def crossing_words(term: str) -> tuple[str, ...]:
    """Dictionary words that end inside a short Chinese term, in its first characters: 南京 for
    京东 (南京东路), 每天 for 天猫 (每天猫砂), 稍微 for 微信. Only the term's start is guarded: what
    follows a name is most often a compound of it (微信号, 京东自营, 淘宝店), so a word across its
    end (信号) says little. Words holding the whole term are not crossings."""
    if len(term) not in TERM_LENGTHS or not _chinese(term):
        return ()
    by_last = _words_by_last()
    crossing: set[str] = set()
    for k in range(1, len(term)):
        head = term[:k]
        crossing.update(w for w in by_last.get(head[-1], ()) if w.endswith(head) and len(w) > k and term not in w)
    return tuple(sorted(crossing))

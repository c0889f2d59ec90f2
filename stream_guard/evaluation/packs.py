"""Rule packs: read `rules/*.toml`, validate them, resolve includes and overrides.

Everything a pack says is checked here (its shape against `pack_format`, the rest by the loader),
so the evaluator can trust what it gets. Problems are collected, not raised one by one, as
`file:line: rule: message` lines, the form `rules check` prints; warnings the same way.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time as dt_time
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stream_guard.evaluation import folds
from stream_guard.evaluation.detectors import SHORT_MESSAGE
from stream_guard.evaluation.pack_format import (
    CATEGORIES,
    DEFAULT_ROLES,
    DETECTOR,
    DETECTOR_PARAMS,
    EXAMPLE,
    GUARD,
    INCLUDED_FILE,
    MIN_EXAMPLES,
    NEAR,
    PENALTY,
    PLATFORM_FILE,
    PLATFORMS,
    REPLY,
    REPLY_PENALTY,
    RULE,
    SENDERS,
    conform,
    value_of,
)
from stream_guard.evaluation.pack_lines import KeyLines
from stream_guard.tracking.replies import ReplyProfile

__all__ = ["CATEGORIES", "PLATFORMS", "SENDERS", "Example", "Pack", "PackError", "Rule", "default_rules_dir",
           "load_all", "load_checked", "load_pack"]

LEXICON_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
LEXICON_REF = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
MAX_EXPANSIONS = 4096  # phrases one templated phrase may stand for
NEEDS_CONTEXT = {"qq_number", "wechat_id"}
# detectors that run on every message with a long number, context or not: the number is the rarer
# of the two (context words such as 打, 联系 are common), and for id_card the context widens what
# is found (an ID-shaped number next to 身份证) instead of narrowing it
NUMBER_FIRST = {"id_card", "mobile_phone", "bank_card", "qq_number"}


BUNDLED_RULES = "stream_guard.bundled_rules"


def default_rules_dir() -> Path:
    """STREAM_GUARD_RULES_DIR, else the packs installed with the package (`rules/` in a checkout)."""
    env = os.environ.get("STREAM_GUARD_RULES_DIR")
    if env:
        return Path(env)
    bundled = resources.files(BUNDLED_RULES)
    if not isinstance(bundled, Path):  # an import from a zip archive: tomllib needs real files
        raise PackError([f"{bundled}:1: -: the bundled rule packs are not files on disk; set STREAM_GUARD_RULES_DIR"])
    return bundled


@dataclass(frozen=True)
class Example:
    text: str
    meta: tuple[tuple[str, Any], ...] = ()
    role: str = "agent"


@dataclass(frozen=True)
class Near:
    """Phrase groups that must all hit within `within` characters (first start to last end): in
    the groups' order when `ordered`, and inside one clause unless `scope` is "message"."""
    within: int
    groups: tuple[tuple[str, ...], ...]
    ordered: bool = False
    scope: str = "clause"


@dataclass(frozen=True)
class Guard:
    """Phrases that cancel a match when they end (`unless_before`) or start (`unless_after`) at
    most `within` characters from it, in the same clause."""
    phrases: tuple[str, ...]
    within: int = 2


@dataclass(frozen=True)
class Detector:
    name: str
    context: tuple[str, ...] = ()
    within: int = 8
    words: tuple[str, ...] = ()
    max_chars: int = 5


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    severity: str
    source: str
    points: int
    fine_cny: int
    action: str
    origin: str  # the file the rule was written in
    entry: int = -1  # its index among the [[rules]] tables there
    roles: frozenset[str] = frozenset(DEFAULT_ROLES)
    platforms: tuple[str, ...] = PLATFORMS  # the platforms whose packs keep the rule
    description: str = ""
    any: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    unless_before: Guard | None = None
    unless_after: Guard | None = None
    skip_questions: bool = False
    near: tuple[Near, ...] = ()
    when: tuple[tuple[str, Any], ...] = ()
    detector: Detector | None = None
    hit_examples: tuple[Example, ...] = ()
    clean_examples: tuple[Example, ...] = ()
    fold: tuple[str, ...] = ()
    whole_terms: bool = False
    written: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)  # the TOML table


@dataclass(frozen=True)
class Pack:
    platform: str
    rules: tuple[Rule, ...]
    allow_domains: tuple[str, ...]
    version: str
    files: tuple[str, ...] = field(default=())
    reply: ReplyProfile | None = None  # None only in a pack with problems (`load_all` lists those)

    @property
    def reply_profile(self) -> ReplyProfile:
        """The reply profile of a pack `load_pack` accepted, which always has one."""
        if self.reply is None:
            raise PackError([f"{self.platform}.toml:1: reply: missing [reply]: every platform needs a reply profile"])
        return self.reply


class PackError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _Problems(list):
    """Problems as `file:line: rule: message` lines, warnings the same way in `warnings`. The
    texts of the files read are kept, and where each writes its keys is worked out only when a
    line is wanted: scanning a text costs about a tenth of loading the packs, which need none."""

    def __init__(self):
        super().__init__()
        self.texts: dict[str, str] = {}
        self._lines: dict[str, KeyLines] = {}
        self.warnings: list[str] = []
        # phrases `_check_phrase` found nothing in: each platform's pack reads the files it
        # includes again, and most phrases are in all five
        self.plain_phrases: set[str] = set()

    def key_lines(self, file: str) -> KeyLines | None:
        if file not in self._lines and file in self.texts:
            self._lines[file] = KeyLines(self.texts[file])
        return self._lines.get(file)

    def place(self, file: str, rule: str = "-", base: tuple | None = None) -> _Place:
        """Where the problems of one table go: `base` is its key path in the file (found from the
        rule's id when not given)."""
        return _Place(self, file, rule, base)

    def rule_place(self, rule: Rule) -> _Place:
        """Where the problems of a loaded rule go: its table in the file it was written in."""
        return _Place(self, rule.origin, rule.id, ("rules", rule.entry))

    def add(self, file: str, rule: str, message: str, key: str | tuple = "", line: int | None = None) -> None:
        self.place(file, rule).add(message, key, line)


@dataclass(frozen=True)
class _Place:
    problems: _Problems
    file: str
    rule: str
    base: tuple | None

    def line(self, key: str | tuple = "") -> int:
        lines = self.problems.key_lines(self.file)
        if lines is None:
            return 1
        base = lines.rule_base(self.rule) if self.base is None else self.base
        path = tuple(p for p in key.split(".") if p) if isinstance(key, str) else key
        return lines.line((*base, *path))

    def add(self, message: str, key: str | tuple = "", line: int | None = None) -> None:
        self.problems.append(f"{self.file}:{line or self.line(key)}: {self.rule}: {message}")

    def warn(self, message: str, key: str = "") -> None:
        self.problems.warnings.append(f"{self.file}:{self.line(key)}: {self.rule}: warning: {message}")

    def report(self, key: str, message: str) -> None:
        """The `pack_format.Report` of this place."""
        self.add(message, key)


class _Reader:
    """The packs' files parsed once per load: five platform packs include the same files, and TOML
    parsing is most of the load's time. The parsed tables are read, never changed."""

    def __init__(self, problems: _Problems):
        self.problems = problems
        self.parsed: dict[Path, dict | None] = {}

    def __call__(self, path: Path) -> dict | None:
        if path not in self.parsed:
            self.parsed[path] = _read(path, self.problems)
        return self.parsed[path]


def _read(path: Path, problems: _Problems) -> dict | None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.add(path.name, "-", f"cannot read: {exc.strerror}")
        return None
    try:
        # a byte-order mark is what some editors put first in a UTF-8 file; TOML does not take it
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        problems.add(path.name, "-", f"not UTF-8: byte {exc.start}", line=raw.count(b"\n", 0, exc.start) + 1)
        return None
    problems.texts[path.name] = text
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        problems.add(path.name, "-", f"invalid TOML: {exc}", line=int(found.group(1)) if found else 1)
        return None


# what a phrase written as a regular expression means to say instead, by the syntax it uses
REGEX_HINTS = (
    (re.compile(r"\.[*+?]|\.\{\d"),
     'for words apart, a near clause: near = [{ groups = [["微"], ["信"]], within = 4 }]'),
    (re.compile(r"\\[dDwWsSbB]|\[0-9\]"), "numbers and ids are the detectors' (mobile_phone, qq_number, wechat_id, "
                                           "bank_card, id_card), and separators inside a hit are skipped already"),
    (re.compile(r"\[[^\]]+\]|\|"), "each spelling is its own phrase, or a [lexicons] list named once"),
    (re.compile(r"\{\d+(?:,\d*)?\}"), "a run of one character already matches as one"),
    (re.compile(r"^\^|(?<!\\)\$$"), "phrases match anywhere; a whole short message is the short_filler detector's"),
)
LOWER_CASE_REF = re.compile(r"\{[a-z_][A-Za-z0-9_]*\}")
SYNTAX = frozenset(".\\[]|{}^$")  # a phrase with none of these matches no hint above
INVISIBLE = {"Cf", "Mn", "Me", "Cc", "Zs", "Zl", "Zp"}


def _check_phrase(phrase: str, place: _Place, key: str) -> None:
    """A phrase of nothing visible is a problem; one that reads as a regular expression or a
    lower-case lexicon reference is matched as written, with a warning."""
    if phrase in place.problems.plain_phrases:
        return
    if all(unicodedata.category(ch) in INVISIBLE for ch in phrase):
        points = ", ".join(f"U+{ord(ch):04X}" for ch in dict.fromkeys(phrase) if not ch.isspace())
        place.add(f"{key}: phrase {phrase!r} is only invisible characters ({points}): it can never "
                  f"match what a person reads, and the matcher skips them inside words", key)
        return
    hints = [hint for pattern, hint in REGEX_HINTS if pattern.search(phrase)] if not SYNTAX.isdisjoint(phrase) else []
    refs = LOWER_CASE_REF.findall(phrase)
    if hints:
        place.warn(f"{key}: phrase {phrase!r} looks like a regular expression; phrases are literal "
                   f"text: " + "; ".join(hints), key)
    for ref in refs:
        place.warn(f"{key}: phrase {phrase!r} has {ref}, which is matched as written: lexicon "
                   f"names are upper case (A-Z, 0-9, _)", key)
    if not hints and not refs:
        place.problems.plain_phrases.add(phrase)


def _strings(value, place: _Place, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        place.add(f"{key} must be a list of strings", key)
        return ()
    for v in value:
        if v.strip():
            _check_phrase(v, place, key)
        else:
            place.add(f"{key} has an empty phrase", key)
    return tuple(v for v in value if v.strip())


Lexicons = dict[str, tuple[str, ...]]


def _expand(phrase: str, lexicons: Lexicons, place: _Place, key: str) -> list[str]:
    """A phrase with `{NAME}` references stands for every phrase its lexicons spell."""
    parts = LEXICON_REF.split(phrase)
    if len(parts) == 1:
        return [phrase]
    choices: list[tuple[str, ...]] = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            choices.append((part,))
        elif part in lexicons:
            choices.append(lexicons[part])
        else:
            place.add(f"{key}: unknown lexicon {{{part}}}", key)
            return []
    count = 1
    for options in choices:
        count *= len(options)
    if count > MAX_EXPANSIONS:
        place.add(f"{key}: {phrase!r} stands for {count} phrases, over {MAX_EXPANSIONS}", key)
        return []
    return ["".join(combination) for combination in itertools.product(*choices)]


def _phrases(value, lexicons: Lexicons, place: _Place, key: str) -> tuple[str, ...]:
    """A list of phrases, each expanded through the lexicons; a lone `"{NAME}"` is the lexicon."""
    if isinstance(value, str) and LEXICON_REF.fullmatch(value):
        value = [value]
    out: dict[str, None] = {}
    for phrase in _strings(value, place, key):
        out.update(dict.fromkeys(_expand(phrase, lexicons, place, key)))
    return tuple(out)


def _lexicons(data: dict, place: _Place, known: Lexicons) -> Lexicons:
    """The [lexicons] of one file (conformed: a table), added to those already `known` (a name is
    defined once); a lexicon may use the lexicons defined before it."""
    merged = dict(known)
    for name, value in data.get("lexicons", {}).items():
        if not LEXICON_NAME.fullmatch(name):
            place.add(f"{name!r}: lexicon names are upper case (A-Z, 0-9, _)", name)
            continue
        if name in merged:
            place.add(f"{name} is defined twice", name)
            continue
        phrases = _phrases(value, merged, place, name)
        if not phrases:
            place.add(f"{name} is empty", name)
        merged[name] = phrases
    return merged


def _guard(got: dict | None, lexicons: Lexicons, place: _Place, key: str) -> Guard | None:
    if got is None or "phrases" not in got:
        return None
    phrases = _phrases(got["phrases"], lexicons, place, key)
    return Guard(phrases, value_of(got, GUARD, "within")) if phrases else None


def _examples(items: list, place: _Place, key: str) -> tuple[Example, ...]:
    where = f"examples.{key}"
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(Example(item))
        elif isinstance(item, dict):
            got = conform(item, EXAMPLE, place.report, where + ".")
            if "text" in got:
                meta = value_of(got, EXAMPLE, "meta")
                out.append(Example(got["text"], tuple(sorted(meta.items())), value_of(got, EXAMPLE, "role")))
        else:
            place.add(f"{where}: {item!r} is neither a string nor a table with text", where)
    if len(out) < MIN_EXAMPLES:
        place.add(f"needs at least {MIN_EXAMPLES} {key} examples, has {len(out)}", where)
    return tuple(out)


def _detector(spec: dict | None, lexicons: Lexicons, place: _Place) -> Detector | None:
    if spec is None or "name" not in spec:
        return None
    name = spec["name"]
    extra = set(spec) - {"name"} - DETECTOR_PARAMS[name]
    if extra:
        place.add(f"detector {name}: unknown parameters {sorted(extra)}", "detector")
    context = _phrases(value_of(spec, DETECTOR, "context"), lexicons, place, "detector.context")
    if name in NEEDS_CONTEXT and not context:
        place.add(f"detector {name} needs context phrases", "detector")
    detector = Detector(
        name=name, context=context, within=value_of(spec, DETECTOR, "within"),
        words=_strings(value_of(spec, DETECTOR, "words"), place, "detector.words"),
        max_chars=value_of(spec, DETECTOR, "max_chars"),
    )
    if name == "short_filler" and not detector.words:
        place.add("detector short_filler needs words", "detector")
    if name == "short_filler" and detector.max_chars > SHORT_MESSAGE:
        place.add(f"detector short_filler: max_chars over {SHORT_MESSAGE} would never be reached",
                     "detector")
    return detector


def _parse_rule(raw: dict, place: _Place, lexicons: Lexicons) -> Rule:
    """A rule from its table (its id already checked): every key conformed to the schema, its
    phrases expanded and folded."""
    got = conform(raw, RULE.keys, place.report)
    rid = place.rule

    def field_(name: str):
        return value_of(got, RULE.keys, name)

    penalty = field_("penalty") or {}
    near = [
        Near(value_of(clause, NEAR, "within"),
             tuple(_phrases(g, lexicons, place, "near.groups") for g in clause["groups"]),
             value_of(clause, NEAR, "ordered"), value_of(clause, NEAR, "scope"))
        for clause in field_("near") if "groups" in clause
    ]
    detector = _detector(field_("detector"), lexicons, place)
    phrases = _phrases(field_("any"), lexicons, place, "any")
    profiles = tuple(field_("fold"))
    if profiles:
        phrases = folds.folded(phrases, profiles)
        near = [replace(n, groups=tuple(folds.folded(g, profiles) for g in n.groups)) for n in near]
    if not phrases and not near and detector is None:
        place.add("needs any, near or detector", "id")
    examples = field_("examples") or {}
    return Rule(
        id=rid, category=field_("category"), severity=field_("severity"), source=field_("source") or "",
        points=value_of(penalty, PENALTY, "points"), fine_cny=value_of(penalty, PENALTY, "fine_cny"),
        action=penalty.get("action", "log"), origin=place.file,
        entry=place.base[1] if place.base is not None and place.base[:1] == ("rules",) else -1,
        roles=frozenset(field_("roles")), platforms=tuple(field_("platforms")),
        description=field_("description"),
        any=phrases, unless=_phrases(field_("unless"), lexicons, place, "unless"),
        unless_before=_guard(field_("unless_before"), lexicons, place, "unless_before"),
        unless_after=_guard(field_("unless_after"), lexicons, place, "unless_after"),
        skip_questions=field_("skip_questions"),
        near=tuple(near), when=tuple(sorted(field_("when").items())), detector=detector,
        hit_examples=_examples(examples["hit"], place, "hit") if "hit" in examples else (),
        clean_examples=_examples(examples["clean"], place, "clean") if "clean" in examples else (),
        fold=profiles, whole_terms=field_("whole_terms"), written=raw,
    )


def _rules_of(file: str, raw_rules: list, problems: _Problems, lexicons: Lexicons) -> list[Rule]:
    rules = []
    for index, raw in enumerate(raw_rules):
        if not isinstance(raw, dict):
            problems.add(file, "-", f"a rule must be a table ([[rules]]), not {raw!r}", ("rules", index))
            continue
        rid = raw.get("id")
        if not isinstance(rid, str) or not rid.strip():
            problems.add(file, "-", "a rule without an id", ("rules", index))
            continue
        rules.append(_parse_rule(raw, problems.place(file, rid, ("rules", index)), lexicons))
    return rules


def _apply_override(rule: Rule, raw: dict, file: str, problems: _Problems, lexicons: Lexicons) -> Rule:
    if "id" in raw:
        problems.add(file, rule.id, "an override cannot change id", "id")
        return rule
    # the rule as written, with the override's keys over it: lexicons and folds expand once
    merged = _parse_rule({**rule.written, **raw}, problems.place(file, rule.id), lexicons)
    return replace(merged, origin=rule.origin, entry=rule.entry)


def load_pack(directory: Path, platform: str) -> Pack:
    """The resolved pack of one platform; PackError lists every problem found."""
    problems = _Problems()
    pack = _load(Path(directory), platform, problems, _Reader(problems))
    if problems:
        raise PackError(problems)
    return pack


def load_all(directory: Path) -> tuple[dict[str, Pack], list[str]]:
    """Every platform pack in a directory, and all problems (each reported once)."""
    loaded = load_checked(directory)
    return loaded.packs, loaded.problems


@dataclass
class Loaded:
    """What `load_checked` found: the packs, the problems and the warnings."""
    packs: dict[str, Pack]
    problems: list[str]
    warnings: list[str]
    _found: _Problems = field(repr=False)

    def rule_line(self, rule: Rule) -> int:
        """The line of a rule's id in its file, for a problem found after loading."""
        return self._found.rule_place(rule).line("id")


def load_checked(directory: Path) -> Loaded:
    """`load_all` with the warnings too: what the packs say that is probably not what they mean
    (a phrase that reads as a regular expression), which does not stop them loading."""
    problems = _Problems()
    read = _Reader(problems)
    packs = {}
    directory = Path(directory)
    if not directory.is_dir():
        return Loaded({}, [f"{directory}:1: -: not a directory of rule packs"], [], problems)
    for platform in PLATFORMS:
        if not (directory / f"{platform}.toml").exists():
            problems.add(f"{platform}.toml", "-", "missing: every platform needs a pack")
            continue
        packs[platform] = _load(directory, platform, problems, read)
    included = {name for pack in packs.values() for name in pack.files}
    for path in sorted(directory.glob("*.toml")):
        if path.stem not in PLATFORMS and path.name not in included:
            data = read(path)  # a pack no platform includes is still checked
            if data is not None:
                got = _included_file(path.name, data, problems)
                lexicons = _lexicons(got, problems.place(path.name, "lexicons"), {})
                _rules_of(path.name, got.get("rules", []), problems, lexicons)
    return Loaded(packs, list(dict.fromkeys(problems)), list(dict.fromkeys(problems.warnings)), problems)


def _included_file(file: str, data: dict, problems: _Problems) -> dict:
    """An included file's tables, conformed."""
    return conform(data, INCLUDED_FILE.keys, problems.place(file).report)


def _included(directory: Path, names: tuple[str, ...], chain: tuple[Path, ...], read: _Reader,
              problems: _Problems) -> list[tuple[Path, dict]]:
    """The files a pack includes (conformed), each once, those an included file includes before
    it; a file that includes itself through others is a problem naming the chain."""
    out: dict[Path, dict] = {}
    for name in names:
        inc = directory / f"{name}.toml"
        if inc in chain:  # the cycle alone, the same from whichever platform pack it is reached
            cycle = (*chain[chain.index(inc):], inc)
            problems.add(chain[-1].name, "-", "circular include: " + " -> ".join(p.stem for p in cycle), "pack.include")
            continue
        inc_data = read(inc)
        if inc_data is None or inc in out:
            continue
        got = _included_file(inc.name, inc_data, problems)
        nested = tuple(got.get("pack", {}).get("include", []))
        for nested_path, nested_data in _included(directory, nested, (*chain, inc), read, problems):
            out.setdefault(nested_path, nested_data)
        out.setdefault(inc, got)
    return list(out.items())


def _parse_reply(raw: dict, platform: str, file: str, problems: _Problems) -> ReplyProfile:
    """The [reply] table of a platform pack (conformed): how that platform counts valid replies."""
    report = problems.place(file, "reply").report
    got = conform(raw, REPLY.keys, report)

    def field_(name: str):
        return value_of(got, REPLY.keys, name)

    zone = field_("timezone")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        report("timezone", f"unknown timezone {zone!r}")
        zone = REPLY.key("timezone").default
    start, end = (dt_time.fromisoformat(h) for h in field_("service_hours"))
    penalty = field_("penalty") or {}
    return ReplyProfile(
        platform=platform, unit=field_("unit"), session_rule=field_("session_rule"),
        threshold_s=field_("threshold_s"), service_start=start, service_end=end, timezone=zone,
        session_gap_s=field_("session_gap_s"),
        penalty_min_consults=value_of(penalty, REPLY_PENALTY, "min_consults"),
        penalty_max_rate=float(value_of(penalty, REPLY_PENALTY, "max_rate")),
        penalty_fine_cny=value_of(penalty, REPLY_PENALTY, "fine_cny"), has_penalty="penalty" in got,
        count_by_start=field_("count_by_start"), bots_count=field_("bots_count"),
        handoff_starts_clock=field_("handoff_starts_clock"),
    )


def _load(directory: Path, platform: str, problems: _Problems, read: _Reader) -> Pack:
    path = directory / f"{platform}.toml"
    file = path.name
    data = read(path)
    got = conform(data, PLATFORM_FILE.keys, problems.place(file).report) if data is not None else {}
    head = got.get("pack", {})
    if head.get("platform", platform) != platform:
        problems.add(file, "-", f"[pack] platform must be {platform!r}", "pack.platform")

    # the included files' lexicons, in include order, then the platform's own: a rule reads them all
    files = [path]
    included = _included(directory, tuple(head.get("include", [])), (path,), read, problems)
    lexicons: Lexicons = {}
    for inc, inc_got in included:
        files.append(inc)
        lexicons = _lexicons(inc_got, problems.place(inc.name, "lexicons"), lexicons)
    lexicons = _lexicons(got, problems.place(file, "lexicons"), lexicons)
    rules: list[Rule] = []
    for inc, inc_got in included:
        rules += _rules_of(inc.name, inc_got.get("rules", []), problems, lexicons)
    # a rule written for some platforms only is not part of the others' packs
    rules = [r for r in rules if platform in r.platforms]
    excluded = set(head.get("exclude", []))
    for rid in sorted(excluded - {r.id for r in rules}):
        problems.add(file, rid, "exclude names no included rule", "pack.exclude")
    rules = [r for r in rules if r.id not in excluded]
    by_id = {r.id: i for i, r in enumerate(rules)}
    for rid, raw in got.get("overrides", {}).items():
        if rid not in by_id:
            problems.add(file, rid, "override names no included rule")
        elif not isinstance(raw, dict):
            problems.add(file, rid, "override must be a table")
        else:
            rules[by_id[rid]] = _apply_override(rules[by_id[rid]], raw, file, problems, lexicons)
    rules += _rules_of(file, got.get("rules", []), problems, lexicons)

    seen: dict[str, str] = {}
    for rule in rules:
        if rule.id in seen:
            problems.rule_place(rule).add(f"duplicate rule id (also in {seen[rule.id]})", "id")
        seen[rule.id] = rule.origin
    digest = hashlib.sha256()
    for f in sorted(files):
        digest.update(f.name.encode() + b"\0")
        try:
            digest.update(f.read_bytes())
        except OSError:
            pass
    return Pack(
        platform=platform,
        rules=tuple(rules),
        allow_domains=tuple(d.lower().lstrip(".") for d in head.get("allow_domains", [])),
        version=f"{platform}-{digest.hexdigest()[:12]}",
        files=tuple(f.name for f in files),
        reply=_parse_reply(got["reply"], platform, file, problems) if "reply" in got else None,
    )

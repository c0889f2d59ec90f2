"""Rule packs: read `rules/*.toml`, validate them, resolve includes and overrides.

Everything a pack says is checked here, so the evaluator can trust what it gets. Problems are
collected (not raised one by one) as `file:rule: message` lines, the form `rules check` prints.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time as dt_time
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stream_guard.evaluation import folds
from stream_guard.evaluation.detectors import SHORT_MESSAGE
from stream_guard.tracking.replies import SESSION_RULES, UNITS, ReplyProfile

CATEGORIES = (
    "invoice_refusal", "free_shipping_breach", "out_of_stock", "payment_refusal",
    "off_platform_payment", "contact_diversion", "competitor_platform", "absolute_claim",
    "abuse", "privacy_leak", "curt_reply", "order_closing", "return_refusal",
)
SEVERITIES = ("critical", "high", "medium", "low")
ACTIONS = ("block", "review", "log")
SENDERS = ("buyer", "agent", "bot", "system")
PLATFORMS = ("taobao", "tmall", "pinduoduo", "jd", "douyin")
DEFAULT_ROLES = ("agent", "bot")
MIN_EXAMPLES = 3

PACK_KEYS = {"platform", "include", "exclude", "allow_domains", "description"}
INCLUDED_KEYS = {"pack", "rules", "lexicons"}
INCLUDED_PACK_KEYS = {"include", "description"}
RULE_KEYS = {
    "id", "category", "severity", "source", "penalty", "roles", "description",
    "any", "unless", "unless_before", "unless_after", "skip_questions", "near", "when", "detector",
    "examples", "platforms", "fold", "whole_terms",
}
PENALTY_KEYS = {"points", "fine_cny", "action"}
NEAR_KEYS = {"within", "groups", "ordered", "scope"}
SCOPES = ("clause", "message")
GUARD_KEYS = {"phrases", "within"}
LEXICON_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
LEXICON_REF = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
MAX_EXPANSIONS = 4096  # phrases one templated phrase may stand for
EXAMPLE_KEYS = {"text", "meta", "role"}
# detector name -> the parameters it takes
DETECTOR_PARAMS = {
    "mobile_phone": {"context", "within"},
    "qq_number": {"context", "within"},
    "wechat_id": {"context", "within"},
    "url": set(),
    "email": set(),
    "bank_card": {"context", "within"},
    "id_card": {"context", "within"},
    "short_filler": {"words", "max_chars"},
}
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
        raise PackError([f"{bundled}:-: the bundled rule packs are not files on disk; set STREAM_GUARD_RULES_DIR"])
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
            raise PackError([f"{self.platform}:reply: missing [reply]: every platform needs a reply profile"])
        return self.reply


REPLY_KEYS = {
    "unit", "threshold_s", "service_hours", "timezone", "count_by_start", "session_gap_s",
    "session_rule", "bots_count", "handoff_starts_clock", "penalty",
}
REPLY_PENALTY_KEYS = {"min_consults", "max_rate", "fine_cny"}


def _parse_reply(raw, platform: str, file: str, problems: _Problems) -> ReplyProfile | None:
    """The [reply] table of a platform pack: how that platform counts valid replies."""
    if not isinstance(raw, dict):
        problems.add(file, "reply", "[reply] must be a table")
        return None
    if set(raw) - REPLY_KEYS:
        problems.add(file, "reply", f"unknown keys {sorted(set(raw) - REPLY_KEYS)}")
    unit = raw.get("unit", "turn")
    if unit not in UNITS:
        problems.add(file, "reply", f"unit must be one of {', '.join(UNITS)}")
    session_rule = raw.get("session_rule", "first_reply")
    if session_rule not in SESSION_RULES:
        problems.add(file, "reply", f"session_rule must be one of {', '.join(SESSION_RULES)}")
    hours = raw.get("service_hours", ["08:00", "23:00"])
    try:
        start, end = (dt_time.fromisoformat(h) for h in hours)
    except (TypeError, ValueError):
        problems.add(file, "reply", "service_hours must be two HH:MM times, the end exclusive")
        start, end = dt_time(8), dt_time(23)
    zone = raw.get("timezone", "Asia/Shanghai")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        problems.add(file, "reply", f"unknown timezone {zone!r}")
        zone = "Asia/Shanghai"
    penalty = raw.get("penalty", {})
    if not isinstance(penalty, dict) or set(penalty) - REPLY_PENALTY_KEYS:
        problems.add(file, "reply", f"penalty takes {sorted(REPLY_PENALTY_KEYS)}")
        penalty = {}
    max_rate = penalty.get("max_rate", 0.5)
    if not isinstance(max_rate, (int, float)) or not 0 <= max_rate <= 1:
        problems.add(file, "reply", "penalty.max_rate must be a rate between 0 and 1")
        max_rate = 0.5
    flags = {}
    for key in ("count_by_start", "bots_count", "handoff_starts_clock"):
        value = raw.get(key, key == "count_by_start")
        if not isinstance(value, bool):
            problems.add(file, "reply", f"{key} must be true or false")
            value = False
        flags[key] = value
    return ReplyProfile(
        platform=platform, unit=unit, session_rule=session_rule,
        threshold_s=_int(raw.get("threshold_s", 180), file, "reply", "threshold_s", problems, 1),
        service_start=start, service_end=end, timezone=zone,
        session_gap_s=_int(raw.get("session_gap_s", 600), file, "reply", "session_gap_s", problems, 1),
        penalty_min_consults=_int(penalty.get("min_consults", 101), file, "reply", "penalty.min_consults", problems),
        penalty_max_rate=float(max_rate),
        penalty_fine_cny=_int(penalty.get("fine_cny", 0), file, "reply", "penalty.fine_cny", problems),
        **flags,
    )


class PackError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _Problems(list):
    def add(self, file: str, rule: str, message: str) -> None:
        self.append(f"{file}:{rule}: {message}")


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
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        problems.add(path.name, "-", f"cannot read: {exc.strerror}")
    except tomllib.TOMLDecodeError as exc:
        problems.add(path.name, "-", f"invalid TOML: {exc}")
    except UnicodeDecodeError as exc:
        problems.add(path.name, "-", f"not UTF-8: byte {exc.start}")
    return None


def _table(value, file: str, what: str, problems: _Problems) -> dict:
    """A TOML table, or {} with a problem."""
    if isinstance(value, dict):
        return value
    problems.add(file, "-", f"{what} must be a table")
    return {}


def _names(value, file: str, key: str, problems: _Problems) -> tuple[str, ...]:
    """A list of names (files, rule ids, domains), or () with a problem."""
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    hint = f' (a list: {key} = ["{value}"])' if isinstance(value, str) else ""
    problems.add(file, "-", f"{key} must be a list of non-empty strings{hint}")
    return ()


def _strings(value, file, rule, key, problems) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(file, rule, f"{key} must be a list of strings")
        return ()
    for v in value:
        if not v.strip():
            problems.add(file, rule, f"{key} has an empty phrase")
    return tuple(v for v in value if v.strip())


Lexicons = dict[str, tuple[str, ...]]


def _expand(phrase: str, lexicons: Lexicons, file: str, rule: str, key: str, problems: _Problems) -> list[str]:
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
            problems.add(file, rule, f"{key}: unknown lexicon {{{part}}}")
            return []
    count = 1
    for options in choices:
        count *= len(options)
    if count > MAX_EXPANSIONS:
        problems.add(file, rule, f"{key}: {phrase!r} stands for {count} phrases, over {MAX_EXPANSIONS}")
        return []
    return ["".join(combination) for combination in itertools.product(*choices)]


def _phrases(value, lexicons: Lexicons, file: str, rule: str, key: str, problems: _Problems) -> tuple[str, ...]:
    """A list of phrases, each expanded through the lexicons; a lone `"{NAME}"` is the lexicon."""
    if isinstance(value, str) and LEXICON_REF.fullmatch(value):
        value = [value]
    out: dict[str, None] = {}
    for phrase in _strings(value, file, rule, key, problems):
        out.update(dict.fromkeys(_expand(phrase, lexicons, file, rule, key, problems)))
    return tuple(out)


def _lexicons(data: dict, file: str, problems: _Problems, known: Lexicons) -> Lexicons:
    """The [lexicons] of one file, added to those already `known` (a name is defined once);
    a lexicon may use the lexicons defined before it."""
    raw = data.get("lexicons", {})
    if not isinstance(raw, dict):
        problems.add(file, "lexicons", "[lexicons] must be a table of phrase lists")
        return known
    merged = dict(known)
    for name, value in raw.items():
        if not LEXICON_NAME.fullmatch(name):
            problems.add(file, "lexicons", f"{name!r}: lexicon names are upper case (A-Z, 0-9, _)")
            continue
        if name in merged:
            problems.add(file, "lexicons", f"{name} is defined twice")
            continue
        phrases = _phrases(value, merged, file, "lexicons", name, problems)
        if not phrases:
            problems.add(file, "lexicons", f"{name} is empty")
        merged[name] = phrases
    return merged


def _guard(value, lexicons: Lexicons, file: str, rule: str, key: str, problems: _Problems) -> Guard | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - GUARD_KEYS or "phrases" not in value:
        problems.add(file, rule, f"{key} must be a table with phrases (and within)")
        return None
    phrases = _phrases(value["phrases"], lexicons, file, rule, key, problems)
    return Guard(phrases, _int(value.get("within", 2), file, rule, f"{key}.within", problems)) if phrases else None


def _int(value, file, rule, key, problems, minimum=0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        problems.add(file, rule, f"{key} must be an integer >= {minimum}")
        return minimum
    return value


def _examples(value, file, rule, key, problems) -> tuple[Example, ...]:
    if not isinstance(value, list):
        problems.add(file, rule, f"examples.{key} must be a list")
        return ()
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(Example(item))
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            unknown = set(item) - EXAMPLE_KEYS
            if unknown:
                problems.add(file, rule, f"examples.{key}: unknown keys {sorted(unknown)}")
            meta = item.get("meta", {})
            role = item.get("role", "agent")
            if not isinstance(meta, dict) or role not in SENDERS:
                problems.add(file, rule, f"examples.{key}: bad meta or role in {item!r}")
                continue
            out.append(Example(item["text"], tuple(sorted(meta.items())), role))
        else:
            problems.add(file, rule, f"examples.{key}: {item!r} is neither a string nor a table with text")
    return tuple(out)


def _parse_rule(raw: dict, file: str, problems: _Problems, lexicons: Lexicons) -> Rule | None:
    if not isinstance(raw, dict):
        problems.add(file, "-", f"a rule must be a table ([[rules]]), not {raw!r}")
        return None
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        problems.add(file, "-", "a rule without an id")
        return None
    unknown = set(raw) - RULE_KEYS
    if unknown:
        problems.add(file, rid, f"unknown keys {sorted(unknown)}")
    # as the pack spells them: a value that is not one of the names is a problem reported here
    category: Any = raw.get("category")
    if category not in CATEGORIES:
        problems.add(file, rid, f"unknown category {category!r}")
    severity: Any = raw.get("severity")
    if severity not in SEVERITIES:
        problems.add(file, rid, f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    source = raw.get("source")
    if not isinstance(source, str) or not source:
        problems.add(file, rid, "source (an id of docs/platform-rules.md) is missing")
    penalty = raw.get("penalty", {})
    if not isinstance(penalty, dict):
        problems.add(file, rid, "penalty must be a table")
        penalty = {}
    if set(penalty) - PENALTY_KEYS:
        problems.add(file, rid, f"penalty: unknown keys {sorted(set(penalty) - PENALTY_KEYS)}")
    action = penalty.get("action")
    if action not in ACTIONS:
        problems.add(file, rid, f"penalty.action must be one of {', '.join(ACTIONS)}, not {action!r}")
    platforms = raw.get("platforms", list(PLATFORMS))
    if not isinstance(platforms, list) or not platforms or any(p not in PLATFORMS for p in platforms):
        problems.add(file, rid, f"platforms must be a non-empty list of {', '.join(PLATFORMS)}")
        platforms = list(PLATFORMS)
    roles = raw.get("roles", list(DEFAULT_ROLES))
    if not isinstance(roles, list) or not roles or any(r not in SENDERS for r in roles):
        problems.add(file, rid, f"roles must be a non-empty list of {', '.join(SENDERS)}")
        roles = list(DEFAULT_ROLES)

    near = []
    clauses = raw.get("near", [])
    if not isinstance(clauses, list):
        problems.add(file, rid, "near must be a list of clauses (near = [{ groups = [...] }])")
        clauses = []
    for clause in clauses:
        if not isinstance(clause, dict) or set(clause) - NEAR_KEYS or "groups" not in clause:
            problems.add(file, rid, f"near clause {clause!r} takes groups and {sorted(NEAR_KEYS - {'groups'})}")
            continue
        groups = clause["groups"]
        if not isinstance(groups, list) or len(groups) < 2:
            problems.add(file, rid, "near needs at least two groups")
            continue
        ordered, scope = clause.get("ordered", False), clause.get("scope", "clause")
        if not isinstance(ordered, bool):
            problems.add(file, rid, "near.ordered must be true or false")
            ordered = False
        if scope not in SCOPES:
            problems.add(file, rid, f"near.scope must be one of {', '.join(SCOPES)}")
            scope = "clause"
        near.append(Near(
            _int(clause.get("within", 8), file, rid, "near.within", problems, minimum=1),
            tuple(_phrases(g, lexicons, file, rid, "near.groups", problems) for g in groups),
            ordered, scope,
        ))

    detector = None
    if "detector" in raw:
        spec = raw["detector"]
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str) or name not in DETECTOR_PARAMS:
            problems.add(file, rid, f"unknown detector {name!r}")
        else:
            params = set(spec) - {"name"}
            if params - DETECTOR_PARAMS[name]:
                problems.add(file, rid, f"detector {name}: unknown parameters {sorted(params - DETECTOR_PARAMS[name])}")
            context = _phrases(spec.get("context", []), lexicons, file, rid, "detector.context", problems)
            if name in NEEDS_CONTEXT and not context:
                problems.add(file, rid, f"detector {name} needs context phrases")
            detector = Detector(
                name=name,
                context=context,
                within=_int(spec.get("within", 8), file, rid, "detector.within", problems, 1),
                words=_strings(spec.get("words", []), file, rid, "detector.words", problems),
                max_chars=_int(spec.get("max_chars", 5), file, rid, "detector.max_chars", problems, 1),
            )
            if name == "short_filler" and not detector.words:
                problems.add(file, rid, "detector short_filler needs words")
            if name == "short_filler" and detector.max_chars > SHORT_MESSAGE:
                problems.add(file, rid, f"detector short_filler: max_chars over {SHORT_MESSAGE} would never be reached")

    phrases = _phrases(raw.get("any", []), lexicons, file, rid, "any", problems)
    skip_questions = raw.get("skip_questions", False)
    if not isinstance(skip_questions, bool):
        problems.add(file, rid, "skip_questions must be true or false")
        skip_questions = False
    whole_terms = raw.get("whole_terms", False)
    if not isinstance(whole_terms, bool):
        problems.add(file, rid, "whole_terms must be true or false")
        whole_terms = False
    fold = raw.get("fold", [])
    if not isinstance(fold, list) or any(f not in folds.PROFILES for f in fold):
        problems.add(file, rid, f"fold must be a list of {', '.join(folds.PROFILES)}")
        fold = []
    profiles = tuple(fold)
    if profiles:
        phrases = folds.folded(phrases, profiles)
        near = [replace(n, groups=tuple(folds.folded(g, profiles) for g in n.groups)) for n in near]
    if not phrases and not near and detector is None:
        problems.add(file, rid, "needs any, near or detector")
    when = raw.get("when", {})
    if not isinstance(when, dict):
        problems.add(file, rid, "when must be a table of meta conditions")
        when = {}
    examples = raw.get("examples", {})
    if not isinstance(examples, dict) or set(examples) - {"hit", "clean"}:
        problems.add(file, rid, "examples must be a table with hit and clean")
        examples = {}
    hits = _examples(examples.get("hit", []), file, rid, "hit", problems)
    cleans = _examples(examples.get("clean", []), file, rid, "clean", problems)
    return Rule(
        id=rid, category=category, severity=severity, source=source or "",
        points=_int(penalty.get("points", 0), file, rid, "penalty.points", problems),
        fine_cny=_int(penalty.get("fine_cny", 0), file, rid, "penalty.fine_cny", problems),
        action=action or "log", origin=file, roles=frozenset(roles), platforms=tuple(platforms),
        description=str(raw.get("description", "")),
        any=phrases, unless=_phrases(raw.get("unless", []), lexicons, file, rid, "unless", problems),
        unless_before=_guard(raw.get("unless_before"), lexicons, file, rid, "unless_before", problems),
        unless_after=_guard(raw.get("unless_after"), lexicons, file, rid, "unless_after", problems),
        skip_questions=skip_questions,
        near=tuple(near), when=tuple(sorted(when.items())), detector=detector,
        hit_examples=hits, clean_examples=cleans, fold=profiles, whole_terms=whole_terms, written=raw,
    )


def _check_example_counts(rule: Rule, problems: _Problems) -> None:
    for kind, examples in (("hit", rule.hit_examples), ("clean", rule.clean_examples)):
        if len(examples) < MIN_EXAMPLES:
            problems.add(rule.origin, rule.id, f"needs at least {MIN_EXAMPLES} {kind} examples, has {len(examples)}")


def _rules_of(path: Path, data: dict, problems: _Problems, lexicons: Lexicons) -> list[Rule]:
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        problems.add(path.name, "-", "rules must be an array of tables ([[rules]])")
        return []
    rules = [r for r in (_parse_rule(raw, path.name, problems, lexicons) for raw in raw_rules) if r]
    for rule in rules:
        _check_example_counts(rule, problems)
    return rules


def _apply_override(rule: Rule, raw: dict, file: str, problems: _Problems, lexicons: Lexicons) -> Rule:
    if "id" in raw or set(raw) - RULE_KEYS:
        problems.add(file, rule.id, f"override: unknown or fixed keys {sorted(set(raw) - (RULE_KEYS - {'id'}))}")
        return rule
    # the rule as written, with the override's keys over it: lexicons and folds expand once
    merged = _parse_rule({**rule.written, **raw}, file, problems, lexicons)
    return replace(merged, origin=rule.origin) if merged else rule


def load_pack(directory: Path, platform: str) -> Pack:
    """The resolved pack of one platform; PackError lists every problem found."""
    problems = _Problems()
    pack = _load(Path(directory), platform, problems, _Reader(problems))
    if problems:
        raise PackError(problems)
    return pack


def load_all(directory: Path) -> tuple[dict[str, Pack], list[str]]:
    """Every platform pack in a directory, and all problems (each reported once)."""
    problems = _Problems()
    read = _Reader(problems)
    packs = {}
    directory = Path(directory)
    if not directory.is_dir():
        return {}, [f"{directory}:-: not a directory of rule packs"]
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
                _rules_of(path, data, problems, _lexicons(data, path.name, problems, {}))
    return packs, list(dict.fromkeys(problems))


def _included(directory: Path, names: tuple[str, ...], chain: tuple[Path, ...], read: _Reader,
              problems: _Problems) -> list[tuple[Path, dict]]:
    """The files a pack includes, each once, those an included file includes before it; a file
    that includes itself through others is a problem naming the chain."""
    out: dict[Path, dict] = {}
    for name in names:
        inc = directory / f"{name}.toml"
        if inc in chain:
            problems.add(chain[-1].name, "-", "circular include: " + " -> ".join(p.stem for p in (*chain, inc)))
            continue
        inc_data = read(inc)
        if inc_data is None or inc in out:
            continue
        if set(inc_data) - INCLUDED_KEYS:
            problems.add(inc.name, "-", f"unknown top-level keys {sorted(set(inc_data) - INCLUDED_KEYS)}")
        head = _table(inc_data.get("pack", {}), inc.name, "[pack]", problems)
        if set(head) - INCLUDED_PACK_KEYS:
            problems.add(inc.name, "-", f"[pack]: unknown keys {sorted(set(head) - INCLUDED_PACK_KEYS)} "
                                        f"(an included file has {sorted(INCLUDED_PACK_KEYS)})")
        nested = _names(head.get("include", []), inc.name, "include", problems)
        for nested_path, nested_data in _included(directory, nested, (*chain, inc), read, problems):
            out.setdefault(nested_path, nested_data)
        out.setdefault(inc, inc_data)
    return list(out.items())


def _load(directory: Path, platform: str, problems: _Problems, read: _Reader) -> Pack:
    path = directory / f"{platform}.toml"
    data = read(path) or {}
    head = _table(data.get("pack", {}), path.name, "[pack]", problems)
    if set(head) - PACK_KEYS:
        problems.add(path.name, "-", f"[pack]: unknown keys {sorted(set(head) - PACK_KEYS)}")
    if head.get("platform") != platform:
        problems.add(path.name, "-", f"[pack] platform must be {platform!r}")
    unknown_top = set(data) - {"pack", "rules", "overrides", "reply", "lexicons"}
    if unknown_top:
        problems.add(path.name, "-", f"unknown top-level keys {sorted(unknown_top)}")

    # the included files' lexicons, in include order, then the platform's own: a rule reads them all
    files = [path]
    included = _included(directory, _names(head.get("include", []), path.name, "include", problems),
                         (path,), read, problems)
    lexicons: Lexicons = {}
    for inc, inc_data in included:
        files.append(inc)
        lexicons = _lexicons(inc_data, inc.name, problems, lexicons)
    lexicons = _lexicons(data, path.name, problems, lexicons)
    rules: list[Rule] = []
    for inc, inc_data in included:
        rules += _rules_of(inc, inc_data, problems, lexicons)
    # a rule written for some platforms only is not part of the others' packs
    rules = [r for r in rules if platform in r.platforms]
    excluded = set(_names(head.get("exclude", []), path.name, "exclude", problems))
    for rid in excluded - {r.id for r in rules}:
        problems.add(path.name, rid, "exclude names no included rule")
    rules = [r for r in rules if r.id not in excluded]
    by_id = {r.id: i for i, r in enumerate(rules)}
    for rid, raw in _table(data.get("overrides", {}), path.name, "[overrides]", problems).items():
        if rid not in by_id:
            problems.add(path.name, rid, "override names no included rule")
            continue
        if not isinstance(raw, dict):
            problems.add(path.name, rid, "override must be a table")
            continue
        rules[by_id[rid]] = _apply_override(rules[by_id[rid]], raw, path.name, problems, lexicons)
    rules += _rules_of(path, data, problems, lexicons)

    seen: dict[str, str] = {}
    for rule in rules:
        if rule.id in seen:
            problems.add(rule.origin, rule.id, f"duplicate rule id (also in {seen[rule.id]})")
        seen[rule.id] = rule.origin
    reply = None
    if "reply" in data:
        reply = _parse_reply(data["reply"], platform, path.name, problems)
    else:
        problems.add(path.name, "reply", "missing [reply]: every platform needs a reply profile")
    allow = _names(head.get("allow_domains", []), path.name, "allow_domains", problems)
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
        allow_domains=tuple(d.lower().lstrip(".") for d in allow),
        version=f"{platform}-{digest.hexdigest()[:12]}",
        files=tuple(f.name for f in files),
        reply=reply,
    )

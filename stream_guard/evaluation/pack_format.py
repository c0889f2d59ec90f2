"""The rule-pack format as data: every table and key, its type, default and meaning.

One description serves two readers. `conform` checks a parsed TOML table against it (unknown
keys, types, shapes, choices, bounds) and keeps only the values that passed, so the loader reads
values it can trust; `reference` renders the key tables of docs/rule-packs.md, which a test
compares with the file, so the documentation and the checks cannot drift apart. What the schema
cannot say (lexicon references, includes, detector parameters per detector, example counts) the
loader checks itself.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import time as dt_time
from typing import Any

from stream_guard.evaluation import folds
from stream_guard.evaluation.detectors import SHORT_MESSAGE
from stream_guard.tracking.replies import SESSION_RULES, UNITS

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
SCOPES = ("clause", "message")
MIN_EXAMPLES = 3
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

REQUIRED = object()  # a key's default when the table must have it


def _listing(options: tuple[str, ...]) -> str:
    quoted = [f"`{o}`" for o in options]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Kind:
    """A type of value: what the docs call it, and the test a value must pass."""
    name: str
    test: Callable[[Any], bool]
    wants: str  # the problem's words: "<key> must be <wants>"


def text(nonempty: bool = False) -> Kind:
    if nonempty:
        return Kind("string", lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string")
    return Kind("string", lambda v: isinstance(v, str), "a string")


def integer(minimum: int = 0) -> Kind:
    return Kind(f"integer >= {minimum}", lambda v: _is_int(v) and v >= minimum, f"an integer >= {minimum}")


def rate() -> Kind:
    return Kind("number 0-1", lambda v: (_is_int(v) or isinstance(v, float)) and 0 <= v <= 1,
                "a rate between 0 and 1")


def flag() -> Kind:
    return Kind("boolean", lambda v: isinstance(v, bool), "true or false")


def choice(options: tuple[str, ...]) -> Kind:
    return Kind("string", lambda v: isinstance(v, str) and v in options, f"one of {', '.join(options)}")


def choices(options: tuple[str, ...], nonempty: bool) -> Kind:
    return Kind("list of strings",
                lambda v: isinstance(v, list) and (bool(v) or not nonempty)
                and all(isinstance(o, str) and o in options for o in v),
                f"a {'non-empty ' if nonempty else ''}list of {', '.join(options)}")


def names() -> Kind:
    return Kind("list of strings", lambda v: isinstance(v, list) and all(isinstance(o, str) and o.strip() for o in v),
                "a list of non-empty strings")


def strings() -> Kind:
    return Kind("list of strings", lambda v: isinstance(v, list) and all(isinstance(o, str) for o in v),
                "a list of strings")


def _is_phrases(value) -> bool:
    return isinstance(value, str) and value.startswith("{") and value.endswith("}") or (
        isinstance(value, list) and all(isinstance(o, str) for o in value))


def phrases() -> Kind:
    return Kind("phrases", _is_phrases, 'a list of phrases, or a lone "{NAME}" lexicon')


def table(kind_name: str = "table") -> Kind:
    return Kind(kind_name, lambda v: isinstance(v, dict), "a table")


def tables() -> Kind:
    return Kind("list of tables", lambda v: isinstance(v, list), "a list of tables")


def _is_times(value) -> bool:
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        return False
    try:
        for v in value:
            dt_time.fromisoformat(v)
    except ValueError:
        return False
    return True


def times() -> Kind:
    return Kind("two HH:MM strings", _is_times, "two HH:MM times, the end exclusive")


def groups() -> Kind:
    return Kind("list of phrase lists", lambda v: isinstance(v, list) and len(v) >= 2 and all(map(_is_phrases, v)),
                'at least two groups, each a list of phrases or a lone "{NAME}"')


def examples() -> Kind:
    return Kind("list", lambda v: isinstance(v, list), "a list")


@dataclass(frozen=True)
class Key:
    name: str
    kind: Kind
    what: str
    default: Any = None  # REQUIRED, a value, or None: absent means not set
    keys: tuple[Key, ...] = ()  # the keys of a table value (of each table, for a list of tables)
    shown_default: str = ""  # the docs' words for a default that is not a literal
    missing: str = ""  # the problem when a required key is missing, if not "<key> is missing"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def default_cell(self) -> str:
        if self.shown_default:
            return self.shown_default
        if self.required:
            return "required"
        if self.default is None:
            return ""
        return f"`{_toml(self.default)}`"


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    return str(value)


@dataclass(frozen=True)
class Table:
    """A table of the format: where it appears, and its keys."""
    name: str  # the name of its table in the docs' markers: "rule", "reply", ...
    keys: tuple[Key, ...]

    def key(self, name: str) -> Key:
        return key_named(self.keys, name)


def key_named(keys: tuple[Key, ...], name: str) -> Key:
    return next(k for k in keys if k.name == name)


PENALTY = (
    Key("points", integer(), "the points the platform deducts", 0),
    Key("fine_cny", integer(), "the fine in CNY", 0),
    Key("action", choice(ACTIONS), f"what the shop should do with the message: {_listing(ACTIONS)}", REQUIRED),
)
GUARD = (
    Key("phrases", phrases(), "the phrases that cancel the match", REQUIRED),
    Key("within", integer(), "the most characters between them and the match", 2),
)
NEAR = (
    Key("groups", groups(),
        'the groups, at least two: each a list of phrases or a lone `"{NAME}"` lexicon; one hit of '
        "every group is needed", REQUIRED),
    Key("within", integer(1), "all parts within this many characters, from the first start to the last end", 8),
    Key("ordered", flag(), "the groups' hits in the groups' order", False),
    Key("scope", choice(SCOPES), "`clause`: no clause mark between the parts; `message`: anywhere in the message",
        "clause"),
)
DETECTOR = (
    Key("name", choice(tuple(DETECTOR_PARAMS)), "the built-in detector ([Detectors](#detectors))", REQUIRED),
    Key("context", phrases(), "phrases the finding must be near (`qq_number` and `wechat_id` need them)", []),
    Key("within", integer(1), "the most characters between the finding and a context phrase", 8),
    Key("words", strings(), "`short_filler`: the filler words a whole message may be made of", []),
    Key("max_chars", integer(1), f"`short_filler`: a message shorter than this, without punctuation "
        f"(at most {SHORT_MESSAGE})", 5),
)
EXAMPLES = (
    Key("hit", examples(), f"messages the rule must fire on, at least {MIN_EXAMPLES}", REQUIRED),
    Key("clean", examples(), f"messages the rule must not fire on, at least {MIN_EXAMPLES}: the near misses "
        "that matter", REQUIRED),
)
EXAMPLE = (
    Key("text", text(), "the message", REQUIRED),
    Key("meta", table(), "the event's `meta`, for a rule with `when`", {}),
    Key("role", choice(SENDERS), "the sender", "agent"),
)
RULE = Table("rule", (
    Key("id", text(nonempty=True), "unique across the pack and its includes", REQUIRED),
    Key("category", choice(CATEGORIES), f"one of {_listing(CATEGORIES)}", REQUIRED),
    Key("platforms", choices(PLATFORMS, nonempty=True),
        "the platforms whose packs keep the rule: a rule of an included file that another platform's rules "
        "do not have", list(PLATFORMS), shown_default="all five"),
    Key("severity", choice(SEVERITIES), _listing(SEVERITIES), REQUIRED),
    Key("source", text(nonempty=True), "the platform rule the rule implements: an id of "
        "[platform-rules.md](platform-rules.md)", REQUIRED),
    Key("penalty", table(), "what a violation costs", REQUIRED, PENALTY),
    Key("roles", choices(SENDERS, nonempty=True), f"the senders the rule judges, among {_listing(SENDERS)}",
        list(DEFAULT_ROLES)),
    Key("description", text(), "what the rule catches, for people", ""),
    Key("any", phrases(), "phrases: any one found fires the rule (a rule needs `any`, `near` or `detector`)", []),
    Key("unless", phrases(), "allowed phrases: a hit of `any` or `near` that lies inside a hit of an allowed "
        "phrase is cancelled", []),
    Key("unless_before", table(), "a match is cancelled when one of these phrases ends at most `within` "
        "characters before it (or overlaps its start), in its clause: double negatives (`哪有` before "
        "`不给开发票`), reassurance", None, GUARD),
    Key("unless_after", table(), "the same after the match: the agent declining the violation itself "
        "(`不加了` after `微信`)", None, GUARD),
    Key("fold", choices(folds.PROFILES, nonempty=False),
        "fold profiles for the rule's `any` and `near` phrases, expanded when the pack loads (so still one "
        "matcher pass): `pinyin` adds the toneless syllables of every reading and the usual initials "
        "(微信 -> `weixin`, `wx`; 发票 -> `fp`); `homophones` adds the phrase with its characters swapped for "
        "sound-alikes (微信 -> 薇信, 威芯; a one-character phrase is left alone); `lookalikes` writes the "
        "Latin letters of a phrase and of its pinyin with Greek, Cyrillic or Latin-extension letters that "
        "look the same (`wx` -> `ԝх`); `stand_ins` writes its words as the emoji and symbols typed for them "
        "(加 -> ➕, 企鹅 -> 🐧, 信 -> ❤). The wide profiles want a cue: put the widened words in one `near` "
        "group and the cue (`加`) in another, with a small `within` (`common.contact_add_spelled`)", []),
    Key("whole_terms", flag(), "a two- or three-character Chinese term of the rule is cancelled where a "
        "dictionary word ends inside its first characters: 京东 in 南京东路 (南京), 天猫 in 每天猫砂 (每天), "
        "微信 in 稍微信号 (稍微). A word across the term's end does not cancel it: what follows a name is "
        "most often a compound of it (微信号, 京东自营). The words are jieba's dictionary", False),
    Key("skip_questions", flag(), "a match in a clause that ends with `？`/`?`, or with `吗`, `么` or `嘛`, "
        "is cancelled: asking the buyer is not refusing", False),
    Key("near", tables(), "clauses: each finds one hit of every group close together", [], NEAR),
    Key("when", table(), "conditions on the event's `meta`: every key must be present and equal to its "
        "value, or the rule does not fire", {}),
    Key("detector", table(), "a built-in detector and its parameters", None, DETECTOR),
    Key("examples", table(), "the rule's examples; an example is a string (an agent's message with no "
        "`meta`) or a table", REQUIRED, EXAMPLES),
))
EXAMPLE_TABLE = Table("example", EXAMPLE)
PLATFORM_HEAD = (
    Key("platform", choice(PLATFORMS), "the file's platform: its stem", REQUIRED),
    Key("include", names(), "the files whose rules and lexicons this pack takes: file stems, no `.toml`", []),
    Key("exclude", names(), "included rules this platform does not use, by id", []),
    Key("allow_domains", names(), "the platform's own sites, for the `url` detector (their subdomains too)", []),
    Key("description", text(), "what the pack is, for people", ""),
)
INCLUDED_HEAD = tuple(k for k in PLATFORM_HEAD if k.name in ("include", "description"))
PLATFORM_FILE = Table("platform-file", (
    Key("pack", table(), "the pack's own settings", REQUIRED, PLATFORM_HEAD),
    Key("lexicons", table("table of phrase lists"), "named phrase lists, used as `{NAME}` in phrases", {}),
    Key("overrides", table("table of tables"), 'changes to included rules: `[overrides."<rule id>"]` takes '
        "any rule key but `id`", {}),
    Key("rules", tables(), "the platform's own rules, after the included ones", []),
    Key("reply", table(), "how the platform counts valid replies ([Reply profiles](#reply-profiles))", REQUIRED,
        missing="missing [reply]: every platform needs a reply profile"),
))
INCLUDED_FILE = Table("included-file", (
    Key("pack", table(), "a description and the file's own includes", {}, INCLUDED_HEAD),
    PLATFORM_FILE.key("lexicons"),
    Key("rules", tables(), "the file's rules", []),
))
REPLY_PENALTY = (
    Key("min_consults", integer(), "a day is at risk with at least this many consults", 101),
    Key("max_rate", rate(), "and a valid-reply rate under this", 0.5),
    Key("fine_cny", integer(), "what a day at risk costs", 0),
)
REPLY = Table("reply", (
    Key("unit", choice(UNITS), f"what one consult is: {_listing(UNITS)}", "turn"),
    Key("threshold_s", integer(1), "seconds within which a reply is valid", 180),
    Key("service_hours", times(), "local start and end (exclusive) of the hours in which consults count",
        ["08:00", "23:00"]),
    Key("timezone", text(nonempty=True), "the IANA time zone of local days and service hours", "Asia/Shanghai"),
    Key("count_by_start", flag(), "with `unit = \"session\"`: a session counts by its start time, not each turn's",
        True),
    Key("session_gap_s", integer(1), "with `unit = \"session\"`: a buyer's message after this many seconds of "
        "silence starts a new session", 600),
    Key("session_rule", choice(SESSION_RULES), "with `unit = \"session\"`: `first_reply` (the first turn "
        "decides) or `all_replies` (every turn must be valid)", "first_reply"),
    Key("bots_count", flag(), "whether a `bot` message counts as a reply", False),
    Key("handoff_starts_clock", flag(), "whether turns open only after a `handoff` event (the clock starts at "
        "the hand-off)", False),
    Key("penalty", table(), "the platform's penalty of a shop's day, if it has one: without this table no "
        "day is at penalty risk", None, REPLY_PENALTY),
))
DOCUMENTED = (PLATFORM_FILE, INCLUDED_FILE, RULE, EXAMPLE_TABLE, REPLY)


Report = Callable[[str, str], None]  # (key, message): a problem at a key


def conform(value: dict, keys: tuple[Key, ...], report: Report, prefix: str = "") -> dict:
    """The keys of a table that are known and well-typed (tables of known keys conformed in turn),
    each problem reported at its key; required keys that are missing are reported too."""
    known = {k.name: k for k in keys}
    unknown = sorted(set(value) - set(known))
    if unknown:
        label = f"{prefix.rstrip('.')}: " if prefix else ""
        report(prefix + unknown[0], f"{label}unknown keys {unknown} (known: {', '.join(known)})")
    out: dict = {}
    for key in keys:
        where = prefix + key.name
        if key.name not in value:
            if key.required:
                report(where, key.missing or f"{where} is missing")
            continue
        got = value[key.name]
        if not key.kind.test(got):
            wants_list = isinstance(got, str) and key.kind.name.startswith("list")
            hint = f' (a list: {key.name} = ["{got}"])' if wants_list else ""
            report(where, f"{where} must be {key.kind.wants}, not {_shown(got)}{hint}")
            continue
        if key.keys and isinstance(got, dict):
            got = conform(got, key.keys, report, where + ".")
        elif key.keys and isinstance(got, list):
            kept = []
            for item in got:
                if isinstance(item, dict):
                    kept.append(conform(item, key.keys, report, where + "."))
                else:
                    report(where, f"{where}: {_shown(item)} is not a table (takes {', '.join(known_of(key))})")
            got = kept
        out[key.name] = got
    return out


def known_of(key: Key) -> list[str]:
    return [k.name for k in key.keys]


def _shown(value) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def value_of(got: dict, keys: tuple[Key, ...], name: str):
    """A conformed table's value of a key, or the key's default (None for a required key)."""
    if name in got:
        return got[name]
    key = key_named(keys, name)
    return None if key.required else key.default


def reference(table_: Table) -> str:
    """The docs' table of a pack table's keys: a row per key, a sub-table's keys as dotted rows."""
    rows = ["| key | type | default | what |", "|---|---|---|---|"]

    def add(keys: tuple[Key, ...], prefix: str) -> None:
        for key in keys:
            rows.append(f"| `{prefix}{key.name}` | {key.kind.name} | {key.default_cell()} | {key.what} |")
            add(key.keys, f"{prefix}{key.name}.")

    add(table_.keys, "")
    return "\n".join(rows)

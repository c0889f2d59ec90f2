"""Decoding chat events: every way a record can be bad has its reason, and nothing raises."""
import json

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from stream_guard import _events
from stream_guard._events import route
from stream_guard.engine.events import (
    _MAX_TS,
    _MIN_TS,
    DEFAULT_LIMITS,
    KINDS,
    REJECT_REASONS,
    Limits,
    Reject,
    _check,
    decode,
    decode_batch,
)
from stream_guard.evaluation.packs import PLATFORMS, SENDERS

NOW = 1_763_900_000_000
GOOD = {"event_id": "e1", "platform": "jd", "shop_id": "s1", "conversation_id": "c1", "buyer_id": "b1",
        "sender": "agent", "agent_id": "a1", "text": "您好", "ts": NOW - 1000, "meta": {"free_shipping": True}}


def run(raw: bytes, limits: Limits = DEFAULT_LIMITS):
    return decode(raw, limits, NOW, frozenset(PLATFORMS))


def with_(**changes) -> bytes:
    event = {k: v for k, v in GOOD.items() if k not in changes or changes[k] is not ...}
    event.update({k: v for k, v in changes.items() if v is not ...})
    return orjson.dumps(event)


def test_a_good_event_decodes_with_its_kind_defaulted():
    event = run(orjson.dumps(GOOD))
    assert isinstance(event, dict) and event["kind"] == "message" and event["text"] == "您好"


def test_unknown_fields_are_ignored():
    assert isinstance(run(with_(extra={"x": 1}, channel="app")), dict)


@pytest.mark.parametrize("raw, reason, detail", [
    (b'{"event_id": "e1"', "invalid_json", None),
    (b"not json at all", "invalid_json", None),
    (b'{"text": "\xff\xfe"}', "invalid_utf8", "byte 10"),
    (b"[1, 2, 3]", "not_an_object", "list"),
    (b'"a string"', "not_an_object", "str"),
    (b"null", "not_an_object", "NoneType"),
    (with_(event_id=...), "missing_field", "event_id"),
    (with_(event_id=""), "missing_field", "event_id"),
    (with_(shop_id=None), "missing_field", "shop_id"),
    (with_(buyer_id=...), "missing_field", "buyer_id"),
    (with_(ts=...), "missing_field", "ts"),
    (with_(text=...), "missing_field", "text"),
    (with_(ts="1763900000000"), "wrong_type", "ts"),
    (with_(ts=1.5e12), "wrong_type", "ts"),
    (with_(ts=True), "wrong_type", "ts"),
    (with_(shop_id=42), "wrong_type", "shop_id"),
    (with_(text=["a"]), "wrong_type", "text"),
    (with_(meta=[1]), "wrong_type", "meta"),
    (with_(kind=3), "wrong_type", "kind"),
    (with_(platform="amazon"), "unknown_platform", "amazon"),
    (with_(sender="robot"), "unknown_sender", "robot"),
    (with_(kind="typing"), "unknown_kind", "typing"),
    (with_(text="好" * 5462), "text_too_long", None),  # 16,386 bytes
    (with_(ts=NOW + 25 * 3600 * 1000), "ts_in_future", None),
    (with_(ts=-5), "ts_out_of_range", "-5"),
    (with_(ts=10**17), "ts_out_of_range", None),
    (b" " * (1024 * 1024 + 1), "record_too_large", None),
])
def test_bad_records_are_rejected_with_their_reason(raw, reason, detail):
    got = run(raw)
    assert isinstance(got, Reject) and got.reason == reason, got
    assert reason in REJECT_REASONS
    if detail is not None:
        assert got.detail == detail


def test_limits_are_inclusive_and_configurable():
    assert isinstance(run(with_(text="好" * 5461)), dict)  # 16,383 bytes
    assert isinstance(run(with_(text="a" * 16384)), dict)
    assert run(with_(text="a" * 16385)).reason == "text_too_long"
    assert run(with_(text="a" * 11), Limits(max_text_bytes=10)).reason == "text_too_long"
    assert isinstance(run(with_(ts=NOW + 24 * 3600 * 1000)), dict)


def test_a_far_future_allowance_still_ends_at_the_latest_time_the_tracker_places():
    """However far ahead the limits allow, an event time past `_MAX_TS` (the reply tracker's
    range) is out of range, in the one-record decode and in the native batch decoder alike."""
    far = Limits(max_future_ms=10**16)
    assert isinstance(run(with_(ts=_MAX_TS), far), dict)
    assert run(with_(ts=_MAX_TS + 1), far).reason == "ts_out_of_range"
    batch, rejects = decode_batch([with_(ts=_MAX_TS), with_(ts=_MAX_TS + 1)], far, NOW, frozenset(PLATFORMS))
    assert batch.ts == [_MAX_TS] and [(i, r.reason) for i, r in rejects] == [(1, "ts_out_of_range")]


def test_system_events_may_leave_text_out():
    event = run(with_(sender="system", kind="buyer_reported", text=...))
    assert isinstance(event, dict) and event["text"] == ""


@given(st.binary(max_size=300))
def test_no_bytes_raise(raw):
    got = run(raw)
    assert isinstance(got, (dict, Reject))
    if isinstance(got, Reject):
        assert got.reason in REJECT_REASONS


@given(st.dictionaries(st.sampled_from(sorted(GOOD) + ["kind"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                                 st.lists(st.integers(), max_size=2),
                                 st.dictionaries(st.text(max_size=2), st.integers())),
                       max_size=12))
def test_no_object_raises(partial):
    got = run(json.dumps({**GOOD, **partial}).encode())
    assert isinstance(got, (dict, Reject))


@given(st.dictionaries(st.sampled_from(sorted(GOOD) + ["kind"]),
                       st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**63 - 1),
                                 st.sampled_from(["", "jd", "amazon", "agent", "buyer", "message", "handoff", "x"]),
                                 st.text(max_size=3), st.lists(st.integers(0, 9), max_size=1),
                                 st.dictionaries(st.text(max_size=2), st.integers(0, 9), max_size=1)),
                       max_size=12),
       st.booleans())
def test_the_fast_path_agrees_with_the_field_by_field_checks(partial, drop_all):
    event = {**({} if drop_all else GOOD), **partial}
    assert run(orjson.dumps(event)) == _check(dict(event), Limits(), NOW, frozenset(PLATFORMS))


# field values around every boundary the native fast path checks: empty ids, kinds, senders and
# platforms known or not, event times at the edges of the range and of the future limit, texts
# at the text limit, non-str keys' look-alikes
FIELD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from(["", "jd", "amazon", "agent", "buyer", "bot", "system", "message", "handoff", "x", "好" * 4,
                     "a" * 17]),
    st.sampled_from([_MIN_TS - 1, _MIN_TS, NOW, NOW + 24 * 3600 * 1000, NOW + 24 * 3600 * 1000 + 1, _MAX_TS + 1]),
    st.text(max_size=3), st.lists(st.integers(0, 9), max_size=1),
    st.dictionaries(st.text(max_size=2), st.integers(0, 9), max_size=1))
FIELDS = st.sampled_from(sorted(GOOD) + ["kind"])
RECORDS = st.one_of(
    # a good event with one or two fields changed: each boundary on its own
    st.builds(lambda partial: json.dumps({**GOOD, **partial}).encode(),
              st.dictionaries(FIELDS, FIELD_VALUES, max_size=2)),
    st.builds(lambda partial, drop_all: json.dumps({**({} if drop_all else GOOD), **partial}).encode(),
              st.dictionaries(FIELDS, FIELD_VALUES, max_size=12), st.booleans()),
    st.binary(max_size=40), st.sampled_from([b"[1]", b"null", b'{"a": 1', b'{"text": "\xff"}', b" " * 70]))


# JSON as other producers write it, for the native scanner: any spacing, key order, escapes,
# repeated keys, nested and odd values, big and fractional numbers, and damage to the bytes
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4),
              st.sampled_from(["\\", '"', "\n", "\u2028", "é好", "\x7f"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=8)
SPACING = st.sampled_from(["", " ", "\n", "\t ", "\r\n  "])
# keys that are not the known ones but start like them (the scanner compares known names at once)
NEAR_KEYS = ["extra", "tèxt", "", "t", "te", "texts", "tsx", "shop_idx", "shop", "sender_", "meta2", "kin", "buyer",
             "event_id ", "conversation_i", "agent", "platforms", "Platform"]


@st.composite
def json_records(draw) -> bytes:
    fields = list(GOOD.items())
    for key, value in draw(st.lists(st.tuples(st.sampled_from(sorted(GOOD) + ["kind"] + NEAR_KEYS),
                                              st.one_of(FIELD_VALUES, JSON_VALUES)), max_size=3)):
        if draw(st.booleans()):  # a repeated key, or one replaced in place
            fields.append((key, value))
        else:
            fields = [(k, value if k == key else v) for k, v in fields] + ([] if key in GOOD else [(key, value)])
    fields = draw(st.permutations(fields))
    ascii_only = draw(st.booleans())
    space = draw(SPACING)
    members = [json.dumps(k, ensure_ascii=ascii_only) + space + ":" + draw(SPACING)
               + json.dumps(v, ensure_ascii=ascii_only) for k, v in fields]
    raw = (draw(SPACING) + "{" + space + ("," + space).join(members) + space + "}" + draw(SPACING)).encode()
    damage = draw(st.sampled_from(["none", "none", "cut", "byte"]))
    if damage == "cut":
        raw = raw[:draw(st.integers(0, len(raw)))]
    elif damage == "byte":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xe5", b"\\", b'"', b",", b"}", b"\x00"])) + raw[at:]
    return raw


BATCH_LIMITS = st.sampled_from([Limits(), Limits(max_text_bytes=16, max_record_bytes=64)])


def assert_batch_is_decode(records, limits):
    """decode_batch gives what decode gives, record by record, in its columns and in full."""
    platforms = frozenset(PLATFORMS)
    expected = [decode(raw, limits, NOW, platforms) for raw in records]
    batch, rejects = decode_batch(records, limits, NOW, platforms)
    assert rejects == [(i, e) for i, e in enumerate(expected) if type(e) is Reject]
    events = [(i, e) for i, e in enumerate(expected) if type(e) is dict]
    assert len(batch) == len(events) and batch.index == [i for i, _ in events]
    for column in ("platform", "shop_id", "buyer_id", "event_id", "sender", "kind", "text", "ts"):
        got = getattr(batch, column)
        assert got == [e[column] for _, e in events] and [type(v) for v in got] == [type(e[column]) for _, e in events]
    assert [batch.meta(i) == e.get("meta") for i, (_, e) in enumerate(events)] == [True] * len(events)
    assert [batch.meta(i) is None for i in range(len(events))] == [e.get("meta") is None for _, e in events]
    assert [batch.event(i) for i in range(len(events))] == [e for _, e in events]
    assert [batch.violation_source(i) for i in range(len(events))] == \
        [{name: e.get(name) for name in _events.SOURCE_FIELDS} for _, e in events]
    for outside in (-1, len(events)):
        for accessor in (batch.event, batch.meta, batch.violation_source):
            with pytest.raises(IndexError):
                accessor(outside)


@given(st.lists(RECORDS, max_size=12), BATCH_LIMITS)
def test_decode_batch_agrees_with_decode(records, limits):
    assert_batch_is_decode(records, limits)


@given(st.lists(json_records(), max_size=6), BATCH_LIMITS)
# a repeated field whose first value is not UTF-8: the last one counts, and the record is still bad
@example([b'{"event_id":"e1","platform":"jd","shop_id":"s1","conversation_id":"c1","buyer_id":"b1",'
          b'"sender":"agent","ts":1763899999000,"text":"\xff\xe6\x82\xa8","text":""}'], DEFAULT_LIMITS)
def test_decode_batch_agrees_with_decode_on_any_json(records, limits):
    assert_batch_is_decode(records, limits)


# a text's bytes as a producer may send them, for the scanner's own UTF-8 decoder: characters of
# every width (one to four bytes), and sequences that are not UTF-8 (overlong forms, surrogates,
# code points past U+10FFFF, cut sequences, stray continuation bytes)
TEXT_CHARACTERS = st.characters(min_codepoint=0x20, blacklist_characters='"\\', blacklist_categories=("Cs",))
NOT_UTF8 = [b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
            b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf0\x9f\x98", b"\xe5\xa5", b"\xa5", b"\xc2", b"\xff"]
TEXT_BYTES = st.one_of(st.text(TEXT_CHARACTERS, max_size=4).map(str.encode), st.sampled_from(NOT_UTF8))


@given(st.lists(TEXT_BYTES, max_size=8), st.sampled_from([1, 1, 1, 700, 1366]))
def test_a_text_decodes_as_decode_reads_it(pieces, repeat):
    """Valid or not, short or longer than the scanner decodes itself (4096 bytes), a text's bytes
    give what `decode` (orjson) gives: the same characters in a str of the same width (str
    equality compares widths). A valid text is decoded by the scanner, not the slow path."""
    text = b"".join(pieces) * repeat
    raw = orjson.dumps({**GOOD, "text": "\x00"}).replace(b'"\\u0000"', b'"' + text + b'"')
    assert_batch_is_decode([raw], Limits(max_text_bytes=1 << 20, max_record_bytes=1 << 22))
    try:
        expected = text.decode("utf-8")
    except UnicodeDecodeError:
        return
    asked = []
    batch, _ = _events.decode_batch([raw], asked.append, 1 << 22, 1 << 20, _MIN_TS, NOW + 1, tuple(PLATFORMS),
                                    tuple(SENDERS), KINDS)
    assert asked == [] and batch.text == [expected]


@pytest.mark.parametrize("raw", [
    orjson.dumps(GOOD),
    json.dumps(GOOD, ensure_ascii=False, indent=2).encode(),
    with_(meta=..., agent_id=None, kind="message", extra=[1.5, {"a": [True, None]}]),
    with_(meta={"deep": {"er": [1, 2, {"x": "好"}]}, "price": -0.25}),
    with_(kind="handoff", sender="system", text=...),
    with_(kind="buyer_reported", sender="system"),
    with_(agent_id="客服7", conversation_id="会话-1"),
    with_(agent_id="", conversation_id=""),
    with_(agent_id=...),
])
def test_a_well_formed_event_is_read_without_the_slow_path(raw):
    """The scanner takes the common shapes itself: the agreement above is not met by sending
    everything to `decode`."""
    asked = []
    batch, rejects = _events.decode_batch([raw], asked.append, 1 << 20, 16384, _MIN_TS, NOW + 1, tuple(PLATFORMS),
                                          tuple(SENDERS), KINDS)
    assert asked == [] and rejects == [] and batch.text == [orjson.loads(raw).get("text", "")]
    assert batch.meta(0) == orjson.loads(raw).get("meta")
    decoded = decode(raw, Limits(), NOW, frozenset(PLATFORMS))
    assert batch.violation_source(0) == {name: decoded.get(name) for name in _events.SOURCE_FIELDS}


def route_by_definition(events, roles):
    """What `route` must give: the messages with text each platform's rules judge, in order."""
    judged = {}
    for position, e in enumerate(events):
        if e["kind"] == "message" and e["text"] and e["sender"] in roles[e["platform"]]:
            positions, messages = judged.setdefault(e["platform"], ([], []))
            positions.append(position)
            messages.append((e["text"], e["sender"], e.get("meta")))
    return judged


@given(st.lists(RECORDS, max_size=12), st.fixed_dictionaries({p: st.sets(st.sampled_from(SENDERS)) for p in PLATFORMS}))
def test_route_agrees_with_its_definition(records, roles):
    batch, _ = decode_batch(records, Limits(), NOW, frozenset(PLATFORMS))
    events = [batch.event(i) for i in range(len(batch))]
    roles = {p: tuple(sorted(names)) for p, names in roles.items()}
    got = route(batch, roles)
    assert got == route_by_definition(events, roles) and list(got) == list(route_by_definition(events, roles))

"""Decoding and validating chat events (the contract in docs/design.md) from raw bytes.

A record that is not a usable event becomes a `Reject` with a machine-readable reason from
REJECT_REASONS and a short detail (a field name, a limit), never an exception: the worker sends it
to the dead-letter topic, `scan` to its rejects file, and both count it by reason.

This module is the facade over the native batch decoder and router (`stream_guard._events`): the
rest of the package reaches them only through it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from stream_guard._events import SOURCE_FIELDS, EventBatch, route
from stream_guard._events import decode_batch as _decode_batch
from stream_guard.evaluation.packs import SENDERS
from stream_guard.tracking.replies import EVENT_TS_MAX

__all__ = [
    "DEFAULT_LIMITS", "KINDS", "REJECT_REASONS", "SOURCE_FIELDS", "TOMBSTONE", "EventBatch", "Limits", "Reject",
    "decode", "decode_batch", "misrouted", "route",
]

KINDS = ("message", "buyer_reported", "buyer_blocked", "handoff")

REJECT_REASONS = (
    "invalid_utf8", "invalid_json", "not_an_object", "missing_field", "wrong_type",
    "unknown_platform", "unknown_sender", "unknown_kind", "text_too_long", "record_too_large",
    "ts_in_future", "ts_out_of_range",
    # the worker's, from the Kafka record around the event: in another shop's partition, the
    # shop's reply state would be split in two
    "key_mismatch", "missing_key",
)

# required string fields; `text` is required for messages only, system events may leave it out
_REQUIRED_STRINGS = ("event_id", "platform", "shop_id", "conversation_id", "buyer_id", "sender")
_OPTIONAL_STRINGS = ("agent_id", "kind")
# nothing real is before 2000; the latest is what the reply tracker's clock can place (the end
# of year 9999, less two days for zones and lateness): an event past it would stop its shop
_MIN_TS = 946_684_800_000
_MAX_TS = EVENT_TS_MAX
_SENDERS = frozenset(SENDERS)
_SENDER_NAMES = tuple(sorted(SENDERS))


@dataclass(frozen=True)
class Limits:
    max_text_bytes: int = 16 * 1024
    # a record this large is rejected unread, so one huge line cannot stall a batch
    max_record_bytes: int = 1024 * 1024
    # how far ahead of the wall clock an event time may be: a bad clock on one client must not
    # push a shop's watermark ahead and make every real event of that shop late
    max_future_ms: int = 24 * 3600 * 1000


DEFAULT_LIMITS = Limits()


class Reject(NamedTuple):
    reason: str
    detail: str = ""


TOMBSTONE = Reject("tombstone", "a record with no value")  # skipped, with a count: not bad input


MISROUTED_REASONS = ("missing_key", "key_mismatch")  # an event in the wrong partition, by its key


def misrouted(events: EventBatch, kept: Sequence[int], keys: Sequence[bytes | None]) -> list[tuple[int, Reject]]:
    """The events whose Kafka record key is not their shop id (or is missing), as (record index,
    Reject); `kept[k]` is the record index of event k."""
    wrong = []
    for index, shop in zip(kept, events.shop_id, strict=True):
        key = keys[index]
        if key is None:
            wrong.append((index, Reject("missing_key", "the record has no key; events are keyed by shop_id")))
        elif key != shop.encode():
            wrong.append((index, Reject("key_mismatch", "the record's key is not the event's shop_id")))
    return wrong


def decode(raw: bytes, limits: Limits, now_ms: int, platforms) -> dict | Reject:
    """The event dict, or why the record is not one. `platforms` is what the engine serves."""
    if len(raw) > limits.max_record_bytes:
        return Reject("record_too_large", f"over {limits.max_record_bytes} bytes")
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Reject("invalid_utf8", f"byte {bad.start}")
        return Reject("invalid_json", str(exc)[:200])
    if type(event) is not dict:
        return Reject("not_an_object", type(event).__name__)
    # The common case, a well-formed message, in one expression: a single pass of type checks
    # costs a fraction of the field-by-field checks below, which find the reason for the rest.
    get = event.get
    text, ts, kind, platform, sender = get("text"), get("ts"), get("kind"), get("platform"), get("sender")
    agent_id, meta = get("agent_id"), get("meta")
    if (type(text) is str and type(ts) is int and (kind is None or kind == "message")
            and type(platform) is str and platform in platforms and type(sender) is str and sender in _SENDERS
            and type(get("event_id")) is str and type(get("shop_id")) is str and type(get("buyer_id")) is str
            and type(get("conversation_id")) is str and (agent_id is None or type(agent_id) is str)
            and (meta is None or type(meta) is dict) and event["event_id"] and event["shop_id"] and event["buyer_id"]
            and len(text) * 4 <= limits.max_text_bytes and _MIN_TS <= ts <= _latest_ts(limits, now_ms)):
        event["kind"] = "message"
        return event
    return _check(event, limits, now_ms, platforms)


def decode_batch(records: Sequence[bytes], limits: Limits, now_ms: int,
                 platforms) -> tuple[EventBatch, list[tuple[int, Reject]]]:
    """`decode` of each record: (the events in order, by columns, [(index of the record, Reject)]).
    The common record, a well-formed event, is read natively (`_native/_events.pyx`) straight
    into the columns; every other one goes through `decode`."""
    return _decode_batch(records if type(records) is list else list(records),
                         lambda raw: decode(raw, limits, now_ms, platforms), limits.max_record_bytes,
                         limits.max_text_bytes, _MIN_TS, _latest_ts(limits, now_ms), tuple(platforms),
                         _SENDER_NAMES, KINDS)


def _latest_ts(limits: Limits, now_ms: int) -> int:
    """The latest event time taken without a closer look: the checks of `_check` give the reason
    for a later one (out of range, or in the future)."""
    return min(_MAX_TS, now_ms + limits.max_future_ms)


def _check(event: dict, limits: Limits, now_ms: int, platforms) -> dict | Reject:
    """Field by field: the first problem found is the reason."""
    for name in _REQUIRED_STRINGS:
        value = event.get(name)
        if type(value) is not str:
            return Reject("missing_field" if value is None else "wrong_type", name)
        if not value and name != "conversation_id":
            return Reject("missing_field", name)
    for name in _OPTIONAL_STRINGS:
        value = event.get(name)
        if value is not None and type(value) is not str:
            return Reject("wrong_type", name)
    ts = event.get("ts")
    if type(ts) is not int:  # bool is a subclass of int; type() keeps it out
        return Reject("missing_field" if ts is None else "wrong_type", "ts")
    meta = event.get("meta")
    if meta is not None and type(meta) is not dict:
        return Reject("wrong_type", "meta")
    if event["platform"] not in platforms:
        return Reject("unknown_platform", event["platform"][:40])
    if event["sender"] not in SENDERS:
        return Reject("unknown_sender", event["sender"][:40])
    kind = event.get("kind") or "message"
    if kind not in KINDS:
        return Reject("unknown_kind", kind[:40])
    text = event.get("text")
    if text is None:
        if kind == "message":
            return Reject("missing_field", "text")
        event["text"] = ""
    elif type(text) is not str:
        return Reject("wrong_type", "text")
    # four bytes per code point at most: only a long text needs encoding to be measured
    elif len(text) * 4 > limits.max_text_bytes and len(text.encode("utf-8", "surrogatepass")) > limits.max_text_bytes:
        return Reject("text_too_long", f"limit {limits.max_text_bytes} bytes")
    if not _MIN_TS <= ts <= _MAX_TS:
        return Reject("ts_out_of_range", str(ts))
    if ts > now_ms + limits.max_future_ms:
        return Reject("ts_in_future", f"{(ts - now_ms) // 1000} s ahead")
    event["kind"] = kind
    return event

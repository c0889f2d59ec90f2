"""Bad records, one per reason a line is not a usable event: invalid JSON or UTF-8, not an object,
a missing or mistyped field, an unknown platform, a text over 16 KiB."""
from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import orjson

from stream_guard.gen.phrases import AGENT_PHRASES, BUYER_PHRASES
from stream_guard.gen.shops import PREFIX, Shop

BAD_REASONS = ("invalid_json", "invalid_utf8", "not_an_object", "missing_field", "wrong_type",
               "unknown_platform", "text_too_long")
TEXT_LIMIT_BYTES = 16 * 1024


def bad_record(rng: random.Random, line: int, seed: int, shops: Sequence[Shop], day_start: int) -> tuple[str, bytes]:
    """(reason, line) of a bad record at a line number: an event of one of the shops, spoilt."""
    reason = rng.choice(BAD_REASONS)
    shop = rng.choice(shops)
    ev: dict[str, Any] = {
        "event_id": f"bad-{seed}-{line:08d}", "platform": shop.platform, "shop_id": shop.shop_id,
        "conversation_id": f"{shop.shop_id}-cbad{line}", "buyer_id": f"{PREFIX[shop.platform]}_ubad{line}",
        "sender": rng.choice(("buyer", "agent")), "text": rng.choice(BUYER_PHRASES["shipping"]),
        "ts": day_start + rng.randrange(86_400_000)}
    if reason == "invalid_json":
        raw = orjson.dumps(ev).decode()
        variant = rng.randrange(4)
        if variant == 0:
            raw = raw[:rng.randrange(1, len(raw) - 1)]  # cut short
        elif variant == 1:
            raw = raw[:-1] + ',}'  # trailing comma
        elif variant == 2:
            raw = raw.replace('"', "'")  # single quotes
        else:
            raw = raw.replace('"ts":', '"ts":NaN,"x":')
        return reason, raw.encode()
    if reason == "invalid_utf8":
        dumped = orjson.dumps(ev)
        text = ev["text"].encode()
        broken = rng.choice((b"\xff\xfe", text[:1], b"\xc3(", b"\xed\xa0\x80"))  # stray, cut, bad, surrogate
        return reason, dumped.replace(text, text[:3] + broken + text[3:], 1)
    if reason == "not_an_object":
        return reason, orjson.dumps(rng.choice(([ev], [ev, ev], ev["text"], 42, None)))
    if reason == "missing_field":
        name = rng.choice(("event_id", "platform", "shop_id", "buyer_id", "sender", "ts", "text"))
        if name in ("event_id", "shop_id") and rng.random() < 0.3:
            ev[name] = ""  # an empty required string counts as missing
        else:
            del ev[name]
        return reason, orjson.dumps(ev)
    if reason == "wrong_type":
        name = rng.choice(("ts", "ts", "shop_id", "meta", "text"))
        if name == "ts":
            ev["ts"] = str(ev["ts"])
        elif name == "shop_id":
            ev["shop_id"] = shop.no
        elif name == "meta":
            ev["meta"] = ["free_shipping"]
        else:
            ev["text"] = 12345
        return reason, orjson.dumps(ev)
    if reason == "unknown_platform":
        ev["platform"] = rng.choice(("kuaishou", "xianyu", "vipshop", "Taobao", "amazon"))
        return reason, orjson.dumps(ev)
    # text_too_long: a pasted wall of text over 16 KiB of UTF-8
    phrase = rng.choice(AGENT_PHRASES["product"])
    ev["sender"] = "agent"
    ev["text"] = phrase * (TEXT_LIMIT_BYTES // len(phrase.encode()) + 1 + rng.randrange(20))
    return reason, orjson.dumps(ev)

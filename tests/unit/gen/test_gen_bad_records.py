"""`stream_guard.gen.bad_records`: every bad record is bad for exactly the reason it is labelled
with, by an independent reading (json and utf-8 here) and by the scan's decoder."""
import json
import random

from stream_guard.engine.events import Limits, decode
from stream_guard.evaluation.packs import PLATFORMS
from stream_guard.gen import GenConfig, generate
from stream_guard.gen.bad_records import BAD_REASONS, bad_record
from stream_guard.gen.shops import plan_shops

REQUIRED = ("event_id", "platform", "shop_id", "conversation_id", "buyer_id", "sender")


def no_constants(name):
    raise ValueError(f"{name} is not JSON")


def reason_of(raw: bytes) -> str | None:
    """Why a line is not a usable event, worked out here with json and utf-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    try:
        record = json.loads(text, parse_constant=no_constants)  # NaN is not JSON
    except ValueError:
        return "invalid_json"
    if not isinstance(record, dict):
        return "not_an_object"
    for name in REQUIRED + ("ts",):
        if record.get(name) in (None, ""):
            return "missing_field"
    if any(not isinstance(record[name], str) for name in REQUIRED) or type(record["ts"]) is not int \
            or not isinstance(record.get("meta", {}), dict):
        return "wrong_type"
    if record["platform"] not in PLATFORMS:
        return "unknown_platform"
    if "text" not in record:
        return "missing_field"
    if not isinstance(record["text"], str):
        return "wrong_type"
    if len(record["text"].encode("utf-8")) > 16 * 1024:
        return "text_too_long"
    return None


def decoder_reason(raw: bytes, now: int) -> str | None:
    decoded = decode(raw, Limits(), now, frozenset(PLATFORMS))
    return None if isinstance(decoded, dict) else decoded.reason


def test_every_bad_record_is_bad_for_its_reason():
    config = GenConfig(shops=10)
    shops, day_start = plan_shops(config), config.day_start_ms
    now = day_start + 2 * 86_400_000
    seen = set()
    for line in range(1, 3000):
        reason, raw = bad_record(random.Random(line), line, config.seed, shops, day_start)
        assert b"\n" not in raw
        assert reason_of(raw) == reason == decoder_reason(raw, now), (line, raw[:200])
        seen.add(reason)
    assert seen == set(BAD_REASONS)


def test_the_labels_name_every_bad_line_of_a_day():
    gen = generate(GenConfig(seed=4, shops=12, events=5000, bad_rate=0.05))
    lines = list(gen.lines())
    bad = {r["line"]: r["reason"] for r in gen.labels["rejects"]}
    assert list(bad) == sorted(bad) and set(bad.values()) == set(BAD_REASONS)
    now = gen.day_start + 2 * 86_400_000
    for n, raw in enumerate(lines, 1):
        assert reason_of(raw) == bad.get(n) == decoder_reason(raw, now), (n, raw[:200])


def test_no_bad_lines_at_rate_zero():
    gen = generate(GenConfig(events=2000, bad_rate=0))
    lines = list(gen.lines())
    assert gen.labels["rejects"] == [] and all(reason_of(line) is None for line in lines)

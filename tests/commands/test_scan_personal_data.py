"""`--personal-data masked`: rejects keep the record with its personal data as `*`, and a buyer id
that is a phone number is masked in the outcomes; by default (`raw`) both are as they came, so an
operator can replay a reject."""
from __future__ import annotations

import json

from stream_guard.cli.main import main
from stream_guard.engine.events import Reject
from stream_guard.evaluation.detectors import mask_record
from stream_guard.worker.outputs import dead_letter_record

PHONE = "13812345678"


def day() -> bytes:
    buyer = json.dumps({"event_id": "e1", "platform": "jd", "shop_id": "s1", "conversation_id": "c1",
                        "buyer_id": PHONE, "sender": "buyer", "text": "在吗", "ts": 1_763_600_000_000})
    # a record the engine rejects (no text), holding a phone number, an ID number and an e-mail
    broken = json.dumps({"event_id": "e2", "platform": "jd", "shop_id": "s1", "conversation_id": "c1",
                         "buyer_id": "b1", "sender": "agent", "note": "138/1234/5678 11010519491231002X a.b@qq.com",
                         "ts": 1_763_600_001_000}, ensure_ascii=False)
    return (buyer + "\n" + broken + "\n").encode()


def scan(tmp_path, *extra) -> tuple[list[dict], list[dict]]:
    source, rejects, outcomes = tmp_path / "day.jsonl", tmp_path / "rejects.jsonl", tmp_path / "outcomes.jsonl"
    source.write_bytes(day())
    assert main(["scan", str(source), "--out", str(tmp_path / "v.jsonl"), "--rejects", str(rejects),
                 "--outcomes", str(outcomes), "--quiet", *extra]) == 0
    read = lambda p: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]  # noqa: E731
    return read(rejects), read(outcomes)


def test_raw_by_default_masked_when_asked(tmp_path):
    rejects, outcomes = scan(tmp_path)
    assert "138/1234/5678" in rejects[0]["record"] and "a.b@qq.com" in rejects[0]["record"]
    assert outcomes[0]["buyer_id"] == PHONE
    rejects, outcomes = scan(tmp_path, "--personal-data", "masked")
    record = rejects[0]["record"]
    assert "***/****/****" in record and "***@qq.com" in record
    assert "*" * 18 in record and "11010519491231002X" not in record
    assert "e2" in record and '"jd"' in record  # what is not personal stays readable
    assert outcomes[0]["buyer_id"] == "*" * len(PHONE)


def test_a_masked_dead_letter_keeps_bytes_that_are_not_utf8():
    value = b'{"text": "\xff call 13812345678"}'
    _, kept, _ = dead_letter_record(b"s1", value, Reject("invalid_utf8"), "t/0/1")
    _, masked, _ = dead_letter_record(b"s1", value, Reject("invalid_utf8"), "t/0/1", masked=True)
    assert kept == value
    assert masked == b'{"text": "\xff call ***********"}' == mask_record(value)

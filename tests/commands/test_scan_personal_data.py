"""`--personal-data masked`: rejects keep the record with its personal data as `*`, and a buyer id
that is a phone number is masked in the outcomes; by default (`raw`) both are as they came, so an
operator can replay a reject."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from stream_guard.cli.main import main
from stream_guard.engine.events import Reject
from stream_guard.evaluation.packs import default_rules_dir
from stream_guard.evaluation.registry import compile_rulesets
from stream_guard.evaluation.violations import mask_record
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


RULESETS = compile_rulesets(default_rules_dir()).rulesets.values()


def mask(raw: bytes) -> bytes:
    return mask_record(raw, RULESETS)


def test_a_masked_dead_letter_keeps_bytes_that_are_not_utf8():
    value = b'{"text": "\xff call 13812345678"}'
    _, kept, _ = dead_letter_record(b"s1", value, Reject("invalid_utf8"), "t/0/1")
    _, masked, _ = dead_letter_record(b"s1", value, Reject("invalid_utf8"), "t/0/1", mask=mask)
    assert kept == value
    assert masked == b'{"text": "\xff call ***********"}' == mask(value)


def test_a_wechat_id_in_a_rejected_record_is_masked_by_the_words_that_mark_it():
    value = '{"event_id": "evt_2024x", "text": 5, "note": "加我微信 shop_2024 哦"}'.encode()
    masked = mask(value).decode()
    assert "shop_2024" not in masked and "*********" in masked
    assert "evt_2024x" in masked  # an id-shaped token with no WeChat word near it is not personal


# personal data as agents and buyers spell it: numbers split by what the matcher skips, ids after
# the words that mark them
SPLITS = st.sampled_from([" ", "  ", "-", "/", "_", "，", "·", "😀", ""])
MOBILE = st.builds(lambda d, g: f"1{d[0]}{d[1:3]}{g}{d[3:7]}{g}{d[7:]}", st.text("3456789", min_size=1, max_size=1)
                   .flatmap(lambda first: st.text("0123456789", min_size=9, max_size=9).map(lambda r: first + r)),
                   SPLITS)
ID_NUMBER = st.builds(lambda g: f"110105{g}19491231{g}002X", SPLITS)
CARD = st.builds(lambda g: g.join(["6222", "0212", "3456", "7890", "128"]), SPLITS)
QQ = st.text("123456789", min_size=6, max_size=10).map(lambda n: f"qq {n}")
WECHAT = st.text("abcdefghjk", min_size=3, max_size=6).map(lambda w: f"微信 {w}_2024")
PERSONAL = st.one_of(MOBILE, ID_NUMBER, CARD, QQ, WECHAT)


def token(spelled: str) -> str:
    """What must not survive: the letters and digits of the number or id, joined."""
    kept = "".join(ch for ch in spelled if ch.isascii() and (ch.isalnum() or ch == "_"))
    return kept.removeprefix("qq")


@settings(max_examples=15, deadline=None)
@given(items=st.lists(st.tuples(PERSONAL, st.sampled_from(["agent", "buyer"]), st.booleans()), min_size=1, max_size=6))
def test_no_personal_number_survives_in_any_output(items):
    lines = []
    for n, (spelled, sender, broken) in enumerate(items):
        event = {"event_id": f"e{n}", "platform": "taobao", "shop_id": "s1", "conversation_id": "c1",
                 "buyer_id": "b1", "sender": sender, "text": f"亲，加我 {spelled} 联系", "ts": 1_763_600_000_000 + n}
        if broken:  # a reject that holds it
            event["text"] = 5
            event["note"] = spelled
        lines.append(json.dumps(event, ensure_ascii=False))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "day.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        outputs = {name: root / f"{name}.jsonl" for name in ("out", "rejects", "outcomes", "report")}
        assert main(["scan", str(root / "day.jsonl"), "--quiet", "--personal-data", "masked",
                     *(arg for name, path in outputs.items() for arg in (f"--{name}", str(path)))]) == 0
        written = {name: path.read_text(encoding="utf-8") for name, path in outputs.items()}
    for spelled, _, _ in items:
        secret = token(spelled)
        for name, text in written.items():
            joined = "".join(ch for ch in text if ch.isascii() and (ch.isalnum() or ch == "_"))
            assert secret not in joined, (name, spelled)

"""`stream-guard scan`: inputs, outputs, rejects and exit codes, in a subprocess as users run it."""
import gzip
import json
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def ts(clock: str) -> int:
    return int(datetime.fromisoformat(f"2026-11-20 {clock}").replace(tzinfo=SHANGHAI).timestamp() * 1000)


def event(n, platform, sender, text, clock, buyer="b1", shop="s1", **extra):
    return {"event_id": f"e{n}", "platform": platform, "shop_id": shop, "conversation_id": f"c-{buyer}",
            "buyer_id": buyer, "sender": sender, "text": text, "ts": ts(clock), **extra}


DAY = [
    event(1, "pinduoduo", "buyer", "在吗？这个有货吗", "10:00:00"),
    event(2, "pinduoduo", "agent", "亲，有货的，加个微信吧", "10:01:00", agent_id="a1"),
    event(3, "pinduoduo", "buyer", "能开发票吗", "10:02:00", buyer="b2"),
    event(4, "pinduoduo", "agent", "不开发票的哦", "10:07:00", buyer="b2", agent_id="a1"),
    event(5, "jd", "buyer", "什么时候发货", "10:00:00", shop="j1"),
    event(6, "jd", "agent", "今天下午发出", "10:00:20", shop="j1", agent_id="a2"),
    event(7, "jd", "buyer", "好的谢谢", "10:30:00", buyer="b3", shop="j1"),
]
EXPECTED_VIOLATIONS = {("e2", "contact_diversion"), ("e4", "invoice_refusal")}
EXPECTED_SHOPS = {("jd", "j1", "2026-11-20", 2, 1), ("pinduoduo", "s1", "2026-11-20", 2, 1)}


def jsonl(events) -> bytes:
    return b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in events)


def scan(*args, stdin: bytes | None = None):
    return subprocess.run([sys.executable, "-m", "stream_guard", "scan", *map(str, args)],
                          input=stdin, capture_output=True, timeout=120)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def outputs(tmp_path, source, *extra, stdin=None):
    report, rejects = tmp_path / "report.json", tmp_path / "rejects.jsonl"
    done = scan(source, "--report", report, "--rejects", rejects, *extra, stdin=stdin)
    assert done.returncode == 0, done.stderr.decode()
    violations = [json.loads(line) for line in done.stdout.decode().splitlines()]
    return violations, read_jsonl(rejects), json.loads(report.read_text())


def found(violations):
    return {(v["event_id"], v["category"]) for v in violations}


def shop_rows(report):
    return {(r["platform"], r["shop_id"], r["day"], r["consults"], r["valid"]) for r in report["shops"]}


def test_file_stdin_and_gzip_give_the_same_results(tmp_path):
    plain = tmp_path / "day.jsonl"
    plain.write_bytes(jsonl(DAY))
    packed = tmp_path / "day.jsonl.gz"  # detected by content, not by name
    packed.write_bytes(gzip.compress(jsonl(DAY)))
    runs = [outputs(tmp_path, plain), outputs(tmp_path, "-", stdin=jsonl(DAY)), outputs(tmp_path, packed)]
    for violations, rejects, report in runs:
        assert {(e, c) for e, c in found(violations) if c in {"contact_diversion", "invoice_refusal"}} \
            == EXPECTED_VIOLATIONS
        assert rejects == []
        assert shop_rows(report) == EXPECTED_SHOPS
        assert report["events"] == len(DAY)
        assert report["violations"]["total"] == len(violations)
    assert runs[0][0] == runs[1][0] == runs[2][0]


def test_bad_lines_are_rejects_with_line_numbers_and_the_rest_is_processed(tmp_path):
    big_text = "很" * (4 * 1024 * 1024)  # a 12 MB line
    lines = [
        jsonl(DAY[:2]),
        b'[{"event_id": "x"}]\n',                                   # line 3: an array
        b'{"event_id": "e9", "text": "\xff\xfe bad"}\n',            # line 4: invalid UTF-8
        b"\n",                                                       # line 5: blank, skipped
        json.dumps(event(10, "jd", "agent", big_text, "11:00:00")).encode() + b"\n",  # line 6
        json.dumps(event(11, "jd", "agent", "好" * 6000, "11:00:00")).encode() + b"\n",  # line 7: 18 KB
        jsonl(DAY[2:4]),                                             # lines 8-9
        json.dumps(event(12, "amazon", "agent", "hi", "11:00:00")).encode() + b"\n",  # line 10
        b'{"event_id": "e13", "platform": "jd", "shop_id": "j1", "te',  # line 11: cut off, no newline
    ]
    source = tmp_path / "bad.jsonl"
    source.write_bytes(b"".join(lines))
    violations, rejects, report = outputs(tmp_path, source)
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (3, "not_an_object"), (4, "invalid_utf8"), (6, "record_too_large"), (7, "text_too_long"),
        (10, "unknown_platform"), (11, "invalid_json")]
    assert all(len(r["record"]) <= 1000 for r in rejects)
    assert EXPECTED_VIOLATIONS <= found(violations)
    assert report["rejects"] == {"total": 6, "by_reason": {
        "invalid_json": 1, "invalid_utf8": 1, "not_an_object": 1, "record_too_large": 1,
        "text_too_long": 1, "unknown_platform": 1}}
    assert report["records"] == 10 and report["events"] == 4


def test_violation_records_follow_the_contract(tmp_path):
    source = tmp_path / "day.jsonl"
    source.write_bytes(jsonl(DAY))
    violations, _, _ = outputs(tmp_path, source)
    keys = {"violation_id", "event_id", "shop_id", "platform", "conversation_id", "agent_id", "rule_id",
            "category", "severity", "penalty_points", "fine_cny", "action", "spans", "spans_truncated", "excerpt",
            "pack_version", "ts"}
    for v in violations:
        assert keys <= set(v)
        text = next(e["text"] for e in DAY if e["event_id"] == v["event_id"])
        for start, end in v["spans"]:
            assert 0 <= start < end <= len(text)
    assert len({v["violation_id"] for v in violations}) == len(violations)


def test_report_counts_and_reply_outcomes(tmp_path):
    source = tmp_path / "day.jsonl"
    source.write_bytes(jsonl(DAY))
    outcomes = tmp_path / "outcomes.jsonl"
    _, _, report = outputs(tmp_path, source, "--outcomes", outcomes)
    kinds = sorted((o["kind"], o["buyer_id"]) for o in read_jsonl(outcomes))
    # b1 answered in 60 s, b2 in 300 s (overdue first), j1's b1 in 20 s, b3 never (end of input)
    assert kinds == [("late", "b2"), ("missed", "b3"), ("reply_missed", "b2"), ("valid", "b1"), ("valid", "b1")]
    assert report["replies"]["turns"] == {"valid": 2, "late": 1, "missed": 1}
    assert report["replies"]["reply_missed_notices"] == 1
    assert report["violations"]["by_category"]["invoice_refusal"] == 1


def test_late_events_are_counted_and_reported(tmp_path):
    late = event(20, "jd", "buyer", "还在吗", "09:58:00", buyer="b9", shop="j1")  # 32 min behind j1
    source = tmp_path / "late.jsonl"
    source.write_bytes(jsonl(DAY + [late]))
    outcomes = tmp_path / "outcomes.jsonl"
    _, _, report = outputs(tmp_path, source, "--outcomes", outcomes)
    assert report["replies"]["late_events"] == 1
    assert [o["event_id"] for o in read_jsonl(outcomes) if o["kind"] == "late_event"] == ["e20"]
    # with a lateness that covers it, it counts
    _, _, report = outputs(tmp_path, source, "--allowed-lateness", 3600)
    assert report["replies"]["late_events"] == 0


def test_summary_names_the_worst_shops_and_rejects(tmp_path):
    source = tmp_path / "day.jsonl"
    source.write_bytes(jsonl(DAY) + b"[]\n")
    done = scan(source, "--summary", "--out", tmp_path / "v.jsonl")
    assert done.returncode == 0
    summary = done.stderr.decode()
    assert "worst shops by valid-reply rate" in summary
    assert "pinduoduo" in summary and "50.0% (1/2)" in summary
    assert "not_an_object 1" in summary
    assert done.stdout == b""


@pytest.mark.parametrize("args, code, message", [
    (["/no/such/file.jsonl"], 1, "cannot read /no/such/file.jsonl"),
    (["-", "--rules", "/no/such/rules"], 1, "rule packs in /no/such/rules are invalid"),
    (["-", "--platforms", "amazon"], 2, "no rule pack for platform(s) amazon"),
])
def test_cannot_run_exits_non_zero_with_one_line(args, code, message):
    done = scan(*args, stdin=b"")
    assert done.returncode == code
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_bad_arguments_exit_2():
    assert scan("-", "--batch-size", "0", stdin=b"").returncode == 2
    assert scan("-", "--allowed-lateness", "-1", stdin=b"").returncode == 2


def test_an_unreadable_gzip_is_a_one_line_error(tmp_path):
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(jsonl(DAY))[:60])
    done = scan(broken)
    assert done.returncode == 1
    assert "cannot read" in done.stderr.decode()


def test_invalid_pack_is_refused(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "jd.toml").write_text('[pack]\nplatform = "jd"\n[[rules]]\nid = "x"\n', encoding="utf-8")
    done = scan("-", "--rules", rules, stdin=b"")
    assert done.returncode == 1 and "invalid" in done.stderr.decode()

"""No line is lost: for any input, lines read = records + blank lines and records = events +
rejects, through `scan` (its report, its rejects file, its exit status) and through
Engine.process_batch; a stream that breaks off still gets the lines before the break judged and
reported, then exit 1 naming the line and byte."""
from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from stream_guard.cli.main import main
from stream_guard.engine.pipeline import Engine
from stream_guard.evaluation.packs import default_rules_dir
from stream_guard.scan.files import BOM, GZIP_MAGIC

ENGINE = Engine(default_rules_dir())


def event_line(n: int, sender: str, text: str) -> bytes:
    return json.dumps({"event_id": f"e{n}", "platform": "jd", "shop_id": "s1", "conversation_id": "c1",
                       "buyer_id": "b1", "sender": sender, "text": text, "ts": 1_763_600_000_000 + n * 1000},
                      ensure_ascii=False).encode()


RECORDS = st.one_of(
    st.builds(event_line, st.integers(0, 50), st.sampled_from(["buyer", "agent"]),
              st.sampled_from(["在吗", "加我微信聊", "不开发票的哦", "好的"])),
    st.binary(max_size=40),
    st.sampled_from([b"", b" ", b"\x0c", b"\x0b", b"{}", b"[]", b"null", b'{"event_id": 1}', b"\xff\xfe"]),
)
LINE_ENDS = st.sampled_from([b"\n", b"\r\n", b"\r"])


@settings(max_examples=200, deadline=None)
@given(records=st.lists(RECORDS, max_size=30))
def test_every_record_is_an_event_or_a_reject(records):
    result = ENGINE.process_batch(records)
    assert result.events + len(result.rejects) == len(records)
    assert sorted(i for i, _ in result.rejects) == sorted({i for i, _ in result.rejects})  # once each


def scan_of(data: bytes, suffix: str) -> tuple[int, dict, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        source, report, rejects = Path(tmp, "day" + suffix), Path(tmp, "report.json"), Path(tmp, "rejects.jsonl")
        source.write_bytes(data)
        code = main(["scan", str(source), "--out", str(Path(tmp, "violations.jsonl")), "--report", str(report),
                     "--rejects", str(rejects), "--quiet"])
        return (code, json.loads(report.read_text(encoding="utf-8")),
                [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()])


@settings(max_examples=12, deadline=None)
@given(lines=st.lists(st.tuples(RECORDS, LINE_ENDS), max_size=25), bom=st.booleans(),
       packing=st.sampled_from(["plain", "gzip", "truncated gzip"]))
def test_scan_accounts_for_every_line_of_any_stream(lines, bom, packing):
    data = (BOM if bom else b"") + b"".join(body + end for body, end in lines)
    if packing != "plain":
        packed = gzip.compress(data)
        data = packed[:max(10, len(packed) * 2 // 3)] if packing == "truncated gzip" else packed
    code, report, rejects = scan_of(data, ".gz" if packing != "plain" else ".jsonl")
    assert report["lines"] == report["records"] + report["blank_lines"]
    assert report["records"] == report["events"] + report["rejects"]["total"]
    assert len(rejects) == report["rejects"]["total"]
    assert (code == 1) == (report["read_error"] is not None)
    if packing == "plain" and not data.startswith(GZIP_MAGIC):
        assert code == 0
        assert report["lines"] == len(data.removeprefix(BOM).splitlines())  # LF, CRLF, CR


def test_a_truncated_gzip_is_judged_up_to_the_break_and_exits_1(tmp_path, capsys):
    day = b"".join(event_line(n, "agent" if n % 2 else "buyer", "不开发票的哦" if n % 2 else "在吗") + b"\n"
                   for n in range(4000))
    packed = gzip.compress(day)
    code, report, _ = scan_of(packed[:len(packed) * 3 // 4], ".gz")
    assert code == 1
    broke = report["read_error"]
    assert 0 < broke["line"] < 4000 and broke["offset"] > 0
    assert f"after line {broke['line']}" in capsys.readouterr().err
    assert report["records"] == broke["line"]  # the last, cut short, is a record too
    assert report["events"] >= broke["line"] - 1
    assert report["violations"]["total"] >= (broke["line"] - 1) // 2
    assert sum(report["replies"]["turns"].values()) > 0  # open turns were decided


def test_a_repeated_event_is_counted_and_its_violations_written_once(tmp_path):
    refusal = event_line(1, "agent", "不开发票的哦")
    data = b"\n".join([event_line(0, "buyer", "能开发票吗"), refusal, refusal, event_line(2, "agent", "好的"), refusal])
    source, report_path, out = tmp_path / "day.jsonl", tmp_path / "report.json", tmp_path / "violations.jsonl"
    source.write_bytes(data)
    assert main(["scan", str(source), "--out", str(out), "--report", str(report_path), "--quiet"]) == 0
    report = json.loads(report_path.read_text(encoding="utf-8"))
    violations = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert report["duplicate_events"] == 2
    assert report["events"] == 5  # judged all the same
    assert [v["event_id"] for v in violations] == ["e1"]
    assert report["violations"]["total"] == 1

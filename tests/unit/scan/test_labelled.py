"""Scoring a labelled set: line validation, the events built, judging through the engine, the
figures and the thresholds, span marking, masking and the JSON report."""
import json

import orjson
import pytest
from labelled_packs import line, write_labelled, write_packs

from stream_guard.engine.events import DEFAULT_LIMITS, Reject, decode
from stream_guard.engine.pipeline import Engine
from stream_guard.evaluation.packs import CATEGORIES
from stream_guard.scan import labelled
from stream_guard.scan.labelled import BadLine, Fired, Judged, LabelledLine


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return Engine(write_packs(tmp_path_factory.mktemp("packs")))


def parsed(raw: str):
    return labelled.parse_line(7, raw.encode())


def test_a_good_line_is_parsed_with_optional_meta_and_note():
    got = parsed(line("tmall", "不包邮", "free_shipping_breach", meta={"free_shipping": True}, note="n"))
    assert got == LabelledLine(7, "tmall", "不包邮", {"free_shipping": True}, ("free_shipping_breach",), "n")
    assert parsed('{"platform": "jd", "text": "您好", "expect": []}') == LabelledLine(7, "jd", "您好", {}, ())
    assert parsed('{"platform": "jd", "text": "x", "expect": ["abuse", "abuse"], "meta": null}').expect == ("abuse",)


@pytest.mark.parametrize(("raw", "reason"), [
    ("{not json", "invalid JSON"),
    ("\"a string\"", "not a JSON object but str"),
    ('{"text": "x"}', "missing platform, expect"),
    ('{"platform": "jd", "text": null, "expect": []}', "missing text"),
    ('{"platform": "ebay", "text": "x", "expect": []}', "unknown platform 'ebay'"),
    ('{"platform": 3, "text": "x", "expect": []}', "unknown platform 3"),
    ('{"platform": "jd", "text": "  ", "expect": []}', "text is not a non-empty string"),
    ('{"platform": "jd", "text": 5, "expect": []}', "text is not a non-empty string"),
    ('{"platform": "jd", "text": "x", "expect": "abuse"}', "expect is not a list of category names"),
    ('{"platform": "jd", "text": "x", "expect": ["abuse", "rudeness"]}', "unknown category 'rudeness' in expect"),
    ('{"platform": "jd", "text": "x", "expect": [], "meta": []}', "meta is not a JSON object"),
    ('{"platform": "jd", "text": "x", "expect": [], "note": 1}', "note is not a string"),
])
def test_a_bad_line_says_why(raw, reason):
    got = parsed(raw)
    assert isinstance(got, BadLine) and got.number == 7
    assert got.reason.startswith(reason), got.reason


def test_invalid_utf8_and_personal_numbers_in_a_bad_line():
    assert parsed("x").reason.startswith("invalid JSON")
    got = labelled.parse_line(1, b'{"text": "\xff"}')
    assert isinstance(got, BadLine) and got.reason.startswith("invalid JSON")
    got = parsed('{"platform": "jd", "text": "call 13812345678"}')
    assert isinstance(got, BadLine) and "13812345678" not in got.start and "***********" in got.start


def test_only_the_platforms_served_are_known():
    raw = line("jd", "x").encode()
    assert isinstance(labelled.parse_line(1, raw, ("tmall",)), BadLine)
    assert isinstance(labelled.parse_line(1, raw, ("jd",)), LabelledLine)


def test_read_labelled_keeps_line_numbers_and_ignores_blank_lines(tmp_path):
    path = write_labelled(tmp_path / "l.jsonl", [line("jd", "a"), "", "  ", "oops", line("jd", "b", "abuse")])
    lines, bad = labelled.read_labelled(path)
    assert [(g.number, g.text) for g in lines] == [(1, "a"), (5, "b")]
    assert [(b.number, b.start) for b in bad] == [(4, "oops")]


def test_the_event_of_a_line_is_a_valid_agent_message():
    now_ms = labelled.EVENT_TS_MS + 3_600_000
    event = decode(labelled.event_record(LabelledLine(12, "jd", "您好", {"cod_enabled": True}, ())),
                   DEFAULT_LIMITS, now_ms, ("jd",))
    assert not isinstance(event, Reject), event
    assert event["sender"] == "agent" and event["platform"] == "jd" and event["text"] == "您好"
    assert event["meta"] == {"cod_enabled": True} and event["event_id"] == "labelled-12"


def test_judge_keeps_every_line_to_its_own_event_across_batches(engine, monkeypatch):
    monkeypatch.setattr(labelled, "BATCH_LINES", 2)
    lines = [LabelledLine(n, "taobao", text, {}, ()) for n, text in
             enumerate(["您好", "加微信", "笨蛋", "您好", "不开发票"], start=1)]
    judged, rejected = labelled.judge(engine, lines)
    assert rejected == []
    assert [(j.line.number, [f.rule_id for f in j.fired]) for j in judged] == [
        (1, []), (2, ["common.add_wechat"]), (3, ["common.abuse"]), (4, []), (5, ["common.invoice"])]
    assert judged[1].fired[0] == Fired("common.add_wechat", "contact_diversion", ((0, 3),))


def test_a_line_the_engine_rejects_is_a_bad_line(engine):
    lines = [LabelledLine(1, "jd", "长" * 6000, {}, ()), LabelledLine(2, "jd", "您好", {}, ())]
    judged, rejected = labelled.judge(engine, lines)
    assert [j.line.number for j in judged] == [2]
    assert [(b.number, b.reason) for b in rejected] == [
        (1, "rejected by the engine: text_too_long (limit 16384 bytes)")]


def judged(platform: str, expect: tuple[str, ...], *categories: str, number: int = 1) -> Judged:
    fired = tuple(Fired(f"x.{c}", c, ((0, 1),)) for c in categories)
    return Judged(LabelledLine(number, platform, "文本", {}, expect), fired)


def test_caught_and_kept():
    assert judged("jd", ("abuse",), "abuse").correct
    assert judged("jd", ("abuse", "curt_reply"), "curt_reply").correct
    assert not judged("jd", ("abuse",), "privacy_leak").correct
    assert not judged("jd", ("abuse",)).correct
    assert judged("jd", ()).correct
    assert not judged("jd", (), "abuse").correct


def test_score_per_platform_category_and_overall():
    lines = [
        judged("tmall", ("abuse",), "abuse"),
        judged("tmall", ("abuse", "curt_reply"), "curt_reply"),
        judged("tmall", (), "abuse", "abuse", "privacy_leak"),
        judged("jd", ("invoice_refusal",)),
        judged("jd", ()),
        judged("taobao", ()),
    ]
    bad = [BadLine(9, "invalid JSON", "x"), BadLine(3, "missing text", "{}")]
    ev = labelled.score(lines, bad, {"jd": "jd-1"})
    assert [b.number for b in ev.bad] == [3, 9]
    assert list(ev.by_platform) == ["taobao", "tmall", "jd"]  # the platforms' order, not the file's
    assert ev.by_platform["tmall"].as_dict() == {"violations": 2, "caught": 2, "recall": 1.0, "clean": 1,
                                                 "kept": 0, "clean_kept": 0.0}
    assert ev.by_platform["taobao"].recall is None and ev.by_platform["taobao"].clean_kept == 1.0
    assert ev.overall.as_dict() == {"violations": 3, "caught": 2, "recall": 2 / 3, "clean": 3, "kept": 2,
                                    "clean_kept": 2 / 3}
    assert list(ev.by_category) == [c for c in CATEGORIES if c in {"invoice_refusal", "abuse", "privacy_leak",
                                                                     "curt_reply"}]
    # a false alarm counts once per category however many of its rules fired
    assert ev.by_category["abuse"].as_dict(3) == {"violations": 2, "caught": 2, "recall": 1.0, "false_alarms": 1,
                                                  "clean_kept": 2 / 3}
    assert ev.by_category["privacy_leak"].recall is None and ev.by_category["privacy_leak"].false_alarms == 1
    assert [j.line.expect for j in ev.misses] == [("invoice_refusal",)]
    assert [j.line.platform for j in ev.false_alarms] == ["tmall"]


def test_below_names_platforms_and_ignores_what_a_platform_has_none_of():
    ev = labelled.score([judged("tmall", ("abuse",), "abuse"), judged("tmall", ("abuse",)),
                         judged("jd", (), "abuse"), judged("taobao", ())], [], {})
    assert ev.below(None, None) == []
    assert ev.below(0.5, None) == []
    assert ev.below(0.51, None) == ["tmall: recall 0.500 < 0.510"]
    assert ev.below(None, 1.0) == ["jd: clean-kept 0.000 < 1.000"]
    assert ev.below(1.0, 0.0) == ["tmall: recall 0.500 < 1.000"]


def test_mark_spans_merges_overlapping_and_touching_spans():
    assert labelled.mark_spans("abcdef", [(1, 2)]) == "a【b】cdef"
    assert labelled.mark_spans("abcdef", [(4, 5), (0, 2), (1, 3)]) == "【abc】d【e】f"
    assert labelled.mark_spans("abcdef", [(0, 2), (2, 4)]) == "【abcd】ef"
    assert labelled.mark_spans("abcdef", []) == "abcdef"


def test_shown_text_masks_numbers_and_mail_keeping_length():
    text = "电话 138-1234-5678，邮箱 shop@example.com，订单4321"
    shown = labelled.shown_text(text)
    assert len(shown) == len(text)
    assert "1234" not in shown and "shop@" not in shown and "4321" in shown


def test_evaluate_and_report_from_a_file(tmp_path):
    packs = write_packs(tmp_path / "packs")
    path = write_labelled(tmp_path / "l.jsonl", [
        line("pinduoduo", "去天猫买，电话13812345678", "competitor_platform"),
        line("jd", "加微信", "invoice_refusal"),
        line("jd", "您好，笨蛋"),
        "{bad",
    ])
    ev = labelled.evaluate(path, packs)
    assert set(ev.pack_versions) == {"taobao", "tmall", "pinduoduo", "jd", "douyin"}
    data = labelled.report(ev, "l.jsonl", "packs", min_recall=0.9)
    assert json.loads(orjson.dumps(data)) == data  # JSON as it stands
    assert data["lines"] == 4 and data["overall"]["caught"] == 1 and data["overall"]["kept"] == 0
    assert data["misses"] == [{"line": 2, "platform": "jd", "expect": ["invoice_refusal"], "text": "加微信",
                               "meta": {}, "note": "", "fired": [
                                   {"rule_id": "common.add_wechat", "category": "contact_diversion",
                                    "spans": [[0, 3]], "marked": "【加微信】"}]}]
    assert data["false_alarms"][0]["fired"][0]["marked"] == "您好，【笨蛋】"
    assert data["bad_lines"] == [{"line": 4, "reason": data["bad_lines"][0]["reason"], "start": "{bad"}]
    assert data["thresholds"] == {"min_recall": 0.9, "min_clean": None, "below": ["jd: recall 0.000 < 0.900"]}
    assert "13812345678" not in orjson.dumps(data).decode()

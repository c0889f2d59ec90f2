"""Incidents: the violations of one category on one message are one incident, counted once, with
the largest of its violations' points and fines; in the violation records, the metrics and the
scan report."""
from __future__ import annotations

import json

from stream_guard.cli.main import main
from stream_guard.evaluation.packs import default_rules_dir, load_pack
from stream_guard.evaluation.ruleset import Ruleset
from stream_guard.evaluation.violations import build_violations, incidents
from stream_guard.observe.metrics import Metrics

PDD = Ruleset(load_pack(default_rules_dir(), "pinduoduo"))
TEXT = "加我微信 abc12345 聊"  # three contact rules and one competitor-platform rule


def event(event_id: str, text: str = TEXT) -> dict:
    return {"event_id": event_id, "shop_id": "s1", "platform": "pinduoduo", "conversation_id": "c1",
            "agent_id": "a1", "ts": 1, "text": text}


def violations_of(e: dict) -> list[dict]:
    return build_violations(e, PDD.judge(e["text"]), PDD.version)


def test_one_category_on_one_message_is_one_incident_with_its_largest_fine():
    vs = violations_of(event("e1"))
    by_category: dict[str, list[dict]] = {}
    for v in vs:
        by_category.setdefault(v["category"], []).append(v)
    assert len(by_category["contact_diversion"]) >= 2 and len(vs) > len(by_category)
    found = incidents(vs)
    assert sorted(i.category for i in found) == sorted(by_category)
    for i in found:
        mine = by_category[i.category]
        assert {v["incident_id"] for v in mine} == {i.id}
        assert (i.points, i.fine_cny) == (max(v["penalty_points"] for v in mine), max(v["fine_cny"] for v in mine))
    assert sum(i.fine_cny for i in found) < sum(v["fine_cny"] for v in vs)  # 100,000 CNY once, not three times
    other = incidents(violations_of(event("e2")))
    assert {i.id for i in other}.isdisjoint({i.id for i in found})


def test_the_metrics_count_incidents_and_their_fines_once():
    vs = violations_of(event("e1"))
    m = Metrics()
    m.record_batch(1, 1, [], vs, incidents(vs), [], 0.001)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in m.registry.collect() for s in f.samples}
    contact = (("category", "contact_diversion"), ("platform", "pinduoduo"))
    assert samples[("stream_guard_incidents_total", contact)] == 1
    assert samples[("stream_guard_incident_fines_cny_total", (("platform", "pinduoduo"),))] == sum(
        i.fine_cny for i in incidents(vs))


def test_the_scan_report_adds_up_incidents_not_violations(tmp_path):
    day = tmp_path / "day.jsonl"
    events = [{**event(f"e{n}"), "sender": "agent", "buyer_id": "b1", "ts": 1_763_600_000_000 + n} for n in range(3)]
    day.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")
    assert main(["scan", str(day), "--quiet", "--out", str(tmp_path / "v.jsonl"),
                 "--report", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    one = incidents(violations_of(event("e0")))
    assert report["incidents"]["total"] == 3 * len(one)
    assert report["incidents"]["fine_cny"] == 3 * sum(i.fine_cny for i in one)
    assert report["incidents"]["by_platform"]["pinduoduo"]["points"] == 3 * sum(i.points for i in one)

"""Prometheus metrics: names and values as exported, bounded per-shop series."""
import urllib.request

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from stream_guard.observe.metrics import Metrics
from stream_guard.tracking.replies import Outcome


def samples(metrics: Metrics) -> dict:
    out = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics, name, **labels):
    return samples(metrics).get((name, tuple(sorted(labels.items()))))


def row(platform, shop, day, consults, valid, risk=False):
    return {"platform": platform, "shop_id": shop, "day": day, "consults": consults, "valid": valid,
            "rate": valid / consults if consults else 0.0, "penalty_risk": risk}


def outcome(kind, opened, replied=None, platform="jd"):
    return Outcome(kind, platform, "s1", "b1", "2026-11-20", opened, replied, True, "")


def test_a_batch_is_counted_by_label_set():
    m = Metrics()
    violations = [{"platform": "jd", "category": "abuse", "severity": "high", "rule_id": "common.abuse"}] * 3
    outcomes = [outcome("valid", 0, 20_000), outcome("valid", 0, 170_000), outcome("late", 0, 400_000),
                outcome("reply_missed", 0), outcome("missed", 0), outcome("late_event", 0)]
    m.record_batch(10, 8, ["invalid_json", "invalid_json"], violations, [], outcomes, 0.004)
    assert value(m, "stream_guard_events_consumed_total") == 10
    assert value(m, "stream_guard_events_processed_total") == 8
    assert value(m, "stream_guard_dead_letters_total", reason="invalid_json") == 2
    assert value(m, "stream_guard_violations_total", platform="jd", category="abuse", severity="high",
                 rule="common.abuse") == 3
    assert value(m, "stream_guard_reply_turns_total", platform="jd", outcome="valid") == 2
    assert value(m, "stream_guard_reply_turns_total", platform="jd", outcome="late") == 1
    assert value(m, "stream_guard_reply_turns_total", platform="jd", outcome="missed") == 1
    assert value(m, "stream_guard_reply_missed_notices_total", platform="jd") == 1
    assert value(m, "stream_guard_late_events_total", platform="jd") == 1
    # response times 20 s, 170 s, 400 s: the 180 s bucket holds two, +Inf three
    assert value(m, "stream_guard_reply_response_seconds_bucket", platform="jd", le="180.0") == 2
    assert value(m, "stream_guard_reply_response_seconds_bucket", platform="jd", le="+Inf") == 3
    assert value(m, "stream_guard_reply_response_seconds_sum", platform="jd") == 590
    # ten events waited 4 ms each
    assert value(m, "stream_guard_processing_seconds_count") == 10
    assert value(m, "stream_guard_processing_seconds_bucket", le="0.0025") == 0
    assert value(m, "stream_guard_processing_seconds_bucket", le="0.005") == 10


def test_per_shop_series_are_capped_worst_first_and_idle_shops_go():
    m = Metrics(shop_series_cap=5)
    rows = [row("pinduoduo", f"s{i:03}", "2026-11-20", 100, i) for i in range(50)]
    rows += [row("jd", "idle", "2026-11-18", 10, 0)]          # two days behind the newest day: gone
    rows += [row("jd", "yesterday", "2026-11-19", 10, 0)]     # the day before: kept
    rows += [row("pinduoduo", "big", "2026-11-20", 150, 1, risk=True)]
    rows += [row("taobao", "quiet", "2026-11-20", 0, 0)]      # no consults: nothing to show
    m.publish_shops(rows, open_turns=7)
    shops = {dict(k[1])["shop_id"] for k in samples(m) if k[0] == "stream_guard_shop_reply_rate"}
    assert shops == {"s000", "yesterday", "big", "s001", "s002"}  # rates 0, 0, .007, .01, .02
    assert value(m, "stream_guard_shop_consults", platform="pinduoduo", shop_id="big") == 150
    assert value(m, "stream_guard_shop_valid_replies", platform="pinduoduo", shop_id="big") == 1
    assert value(m, "stream_guard_shops_at_penalty_risk", platform="pinduoduo") == 1
    assert value(m, "stream_guard_shop_penalty_risk", platform="pinduoduo", shop_id="big") == 1
    assert value(m, "stream_guard_shop_penalty_risk", platform="pinduoduo", shop_id="s000") == 0
    assert value(m, "stream_guard_shops_at_penalty_risk", platform="jd") == 0
    assert value(m, "stream_guard_shop_series_dropped") == 47
    assert value(m, "stream_guard_reply_open_turns") == 7
    m.publish_shops([], open_turns=0)
    assert not [k for k in samples(m) if k[0] == "stream_guard_shop_reply_rate"]


def test_pack_versions_replace_each_other():
    m = Metrics()
    m.set_pack_versions({"jd": "jd-1"}, "v2")
    m.set_pack_versions({"jd": "jd-2"}, "v2")
    assert value(m, "stream_guard_rule_pack_info", platform="jd", version="jd-2", contract="v2") == 1
    assert value(m, "stream_guard_rule_pack_info", platform="jd", version="jd-1", contract="v2") is None


def test_served_over_http():
    m = Metrics()
    m.record_batch(3, 3, [], [], [], [], 0.001)
    server, thread = m.serve(0)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5).read().decode()
    finally:
        server.shutdown()
    assert "stream_guard_events_consumed_total 3.0" in body

"""deploy/grafana: the dashboard has its panels and variables, and provisioning finds it and Prometheus."""
import re
from urllib.parse import urlsplit

import pytest
from deploy_tools import (
    DASHBOARD,
    GRAFANA_PROVISIONING,
    PROMETHEUS_CONFIG,
    compose,
    compose_mounts,
    dashboard,
    dashboard_panels,
    load_yaml,
    metric_names,
    substitute,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# What the issue lists -> (panel types that can show it, a metric its queries must read, the
# labels one query must group by ("" for none)).
REQUIRED_PANELS = {
    "per-shop reply rate table": ({"table"}, "stream_guard_shop_reply_rate", ""),
    "worst-N shops by reply rate": ({"bargauge", "table"}, "stream_guard_shop_reply_rate", "bottomk"),
    "consults": ({"timeseries", "table"}, "stream_guard_shop_consults", ""),
    "valid replies": ({"timeseries", "table"}, "stream_guard_shop_valid_replies", ""),
    "response-time distribution": ({"heatmap"}, "stream_guard_reply_response_seconds_bucket", "le"),
    "response time by platform": ({"timeseries"}, "stream_guard_reply_response_seconds_bucket", "platform, le"),
    "violations by category over time": ({"timeseries"}, "stream_guard_violations_total", "category"),
    "violations by platform over time": ({"timeseries"}, "stream_guard_violations_total", "platform"),
    "violations by severity over time": ({"timeseries"}, "stream_guard_violations_total", "severity"),
    "top rules": ({"bargauge", "table"}, "stream_guard_violations_total", "topk"),
    "throughput": ({"timeseries"}, "stream_guard_events_consumed_total", ""),
    "latency": ({"timeseries"}, "stream_guard_processing_seconds_bucket", ""),
    "dead letters": ({"timeseries"}, "stream_guard_dead_letters_total", "reason"),
    "consumer lag": ({"timeseries"}, "stream_guard_consumer_lag", "topic, partition"),
    "rule pack version": ({"table"}, "stream_guard_rule_pack_info", ""),
}


def groups_by(expr: str, labels: str) -> bool:
    if labels in ("bottomk", "topk"):
        return f"{labels}(" in expr
    return not labels or re.search(rf"\bby \({re.escape(labels)}\)", expr) is not None


@pytest.mark.parametrize("what", REQUIRED_PANELS)
def test_the_dashboard_shows(what):
    kinds, metric, labels = REQUIRED_PANELS[what]
    assert [panel["title"] for panel in dashboard_panels() if panel["type"] in kinds
            and any(metric in metric_names(substitute(t["expr"])) and groups_by(t["expr"], labels)
                    for t in panel["targets"])], f"no {'/'.join(sorted(kinds))} panel for {what}"


def test_every_panel_and_query_uses_the_datasource_variable():
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in dashboard_panels():
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"] and all(t["datasource"] == DATASOURCE for t in panel["targets"]), panel["title"]


def test_panels_have_unique_ids_and_do_not_overlap():
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = {}
    for panel in panels:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[x, y] = panel["title"]


def test_provisioning_loads_the_dashboard_directory_compose_mounts():
    grafana = compose()["services"]["grafana"]
    mounts = compose_mounts(grafana)
    assert mounts[GRAFANA_PROVISIONING] == "/etc/grafana/provisioning"
    (provider,) = load_yaml(GRAFANA_PROVISIONING / "dashboards" / "stream-guard.yml")["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == mounts[DASHBOARD.parent]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{mounts[DASHBOARD.parent]}/{DASHBOARD.name}"


def test_the_provisioned_datasource_is_the_compose_prometheus():
    (source,) = load_yaml(GRAFANA_PROVISIONING / "datasources" / "prometheus.yml")["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"]  # what the dashboard's variable picks
    url = urlsplit(source["url"])
    prometheus = compose()["services"]["prometheus"]
    container_ports = {str(p).split(":")[-1] for p in prometheus.get("ports", []) + prometheus.get("expose", [])}
    assert url.hostname == "prometheus" and str(url.port) in container_ports
    # Grafana's $__rate_interval is at least four of these: it must be the real scrape interval
    assert source["jsonData"]["timeInterval"] == load_yaml(PROMETHEUS_CONFIG)["global"]["scrape_interval"]

"""A real Prometheus (Debian's package) on loopback scraping a real `stream-guard scan` of a
generated day, with deploy/prometheus/prometheus.yml's job and the real alerts.yml. Every PromQL
expression of the dashboard and of the alerts goes through its HTTP API: each must parse, and
each dashboard expression must return data unless it reads a metric only the worker fills."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from deploy_tools import (
    ALERTS,
    PROMETHEUS_CONFIG,
    SCRAPE_JOB,
    alert_rules,
    dashboard_queries,
    exported_metric_names,
    free_port,
    load_yaml,
    metric_names,
    substitute,
    tool,
)

# Labelled metrics only the worker sets a child of: scan exports no sample of them, so an
# expression over them can only be checked to parse here (the worker's end-to-end test, on the
# real broker, covers their data). The worker's unlabelled gauges and counters
# (assigned_partitions, state_restored_shops_total) are exported by scan as 0 and so do return
# data. test_worker_only_metrics_are_exported_and_absent_from_scan keeps this set exact.
WORKER_ONLY_METRICS = frozenset({"stream_guard_consumer_lag", "stream_guard_rule_reloads_total"})

SCRAPE_INTERVAL = "1s"
SCRAPES_AFTER_THE_INPUT = 3   # rate() and increase() need two samples in their window
SCAN_LINGER_S = 300           # longer than the module's tests; the fixture stops scan
START_TIMEOUT_S = 30
SCRAPE_TIMEOUT_S = 45


class PrometheusAPI:
    def __init__(self, address: str):
        self.base = f"http://{address}"

    def get(self, path: str, **params) -> dict:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:  # a bad query is a 400 with a JSON error body
            return json.load(exc)

    def query(self, expr: str) -> dict:
        return self.get("/api/v1/query", query=expr)

    def value(self, expr: str) -> float | None:
        result = self.query(expr)["data"]["result"]
        return float(result[0]["value"][1]) if result else None


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _start_scan(stack: ExitStack, day: Path, work: Path) -> int:
    """`stream-guard scan` serving metrics on a free port it picks; returns the port."""
    log = work / "scan.log"
    # --allowed-lateness 1: the generated day's 5 s jitter then makes late events, so the
    # late-events query has data too
    process = subprocess.Popen(
        [sys.executable, "-m", "stream_guard", "scan", str(day), "--metrics-port", "0",
         "--metrics-linger", str(SCAN_LINGER_S), "--allowed-lateness", "1", "--out", os.devnull, "--quiet"],
        stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    stack.callback(_stop, process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            record = json.loads(line) if line.startswith("{") else {}
            if record.get("event") == "metrics_serving":
                return record["port"]
        if process.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"scan did not serve metrics:\n{log.read_text(errors='replace')}", pytrace=False)


def _e2e_config(scan_port: int) -> dict:
    """deploy/prometheus/prometheus.yml with its stream-guard job pointed at the scan, scraping
    every second, and its alert rules from the real alerts.yml."""
    config = load_yaml(PROMETHEUS_CONFIG)
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == SCRAPE_JOB]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{scan_port}"]}]
    config["scrape_configs"] = [job]  # not the self-scrape: nothing here may depend on :9090
    config["global"] = {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL}
    config["rule_files"] = [str((PROMETHEUS_CONFIG.parent / f).resolve()) for f in config["rule_files"]]
    assert config["rule_files"] == [str(ALERTS)]
    return config


def _start_prometheus(stack: ExitStack, work: Path, scan_port: int) -> PrometheusAPI:
    config = work / "prometheus.yml"
    config.write_text(yaml.safe_dump(_e2e_config(scan_port)), encoding="utf-8")
    address = f"127.0.0.1:{free_port()}"
    log = work / "prometheus.log"
    process = subprocess.Popen(
        [tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
         f"--web.listen-address={address}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    stack.callback(_stop, process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://{address}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return PrometheusAPI(address)
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"prometheus did not become ready on {address}:\n{log.read_text(errors='replace')}", pytrace=False)


def _wait_for_scrapes(api: PrometheusAPI, records: int) -> None:
    """Until Prometheus has scraped the scan's final figures a few times and evaluated every rule."""
    deadline = time.monotonic() + SCRAPE_TIMEOUT_S
    scrapes = f'count_over_time(up{{job="{SCRAPE_JOB}"}}[5m])'
    done_at = None
    while time.monotonic() < deadline:
        if done_at is None and api.value("stream_guard_events_consumed_total") == records:
            done_at = api.value(scrapes)
        rules = [r for g in api.get("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
        evaluated = rules and all(not r["lastEvaluation"].startswith("0001") for r in rules)
        if done_at is not None and evaluated and api.value(scrapes) >= done_at + SCRAPES_AFTER_THE_INPUT:
            return
        time.sleep(0.5)
    pytest.fail(f"no {SCRAPES_AFTER_THE_INPUT} scrapes of the whole day's figures within {SCRAPE_TIMEOUT_S} s "
                f"(events consumed: {api.value('stream_guard_events_consumed_total')} of {records})", pytrace=False)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory) -> PrometheusAPI:
    tool("prometheus")  # fail at once, with the install hint, before generating anything
    work = tmp_path_factory.mktemp("prometheus-e2e")
    day = work / "day.jsonl"
    subprocess.run([sys.executable, "-m", "stream_guard", "gen", "--seed", "8", "--shops", "12",
                    "--events", "3000", "--out", str(day), "--quiet"], check=True, timeout=120)
    records = sum(1 for _ in day.open("rb"))
    with ExitStack() as stack:
        scan_port = _start_scan(stack, day, work)
        api = _start_prometheus(stack, work, scan_port)
        _wait_for_scrapes(api, records)
        yield api


def _succeeds(api: PrometheusAPI, expr: str) -> list:
    answer = api.query(expr)
    assert answer["status"] == "success", f"{expr}\n-> {answer.get('errorType')}: {answer.get('error')}"
    return answer["data"]["result"]


DASHBOARD_QUERIES = dashboard_queries()


@pytest.mark.parametrize("expr", [expr for _, expr in DASHBOARD_QUERIES], ids=[w for w, _ in DASHBOARD_QUERIES])
def test_dashboard_query_parses_and_returns_data(prometheus, expr):
    promql = substitute(expr)
    result = _succeeds(prometheus, promql)
    if not metric_names(promql) & WORKER_ONLY_METRICS:
        assert result, f"no data from a scan's metrics for {promql}"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_expression_parses(prometheus, rule):
    _succeeds(prometheus, rule["expr"])


def test_alert_rules_load_and_evaluate_without_errors(prometheus):
    rules = {r["name"]: r for g in prometheus.get("/api/v1/rules")["data"]["groups"] for r in g["rules"]}
    assert set(rules) == {rule["alert"] for rule in alert_rules()}
    assert {name: r["lastError"] for name, r in rules.items() if r["health"] != "ok"} == {}


def _scraped_names(api: PrometheusAPI) -> set[str]:
    return {name for name in api.get("/api/v1/label/__name__/values")["data"] if name.startswith("stream_guard_")}


def test_every_scraped_metric_is_an_exported_name(prometheus):
    """The names derived from the code's registry are the ones a real scrape has."""
    scraped = _scraped_names(prometheus)
    assert len(scraped) > 20 and scraped <= exported_metric_names(), sorted(scraped - exported_metric_names())


def test_worker_only_metrics_are_exported_and_absent_from_scan(prometheus):
    assert WORKER_ONLY_METRICS <= exported_metric_names()
    assert not WORKER_ONLY_METRICS & _scraped_names(prometheus), "scan exports these now: drop them from the set"

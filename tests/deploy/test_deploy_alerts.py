"""deploy/prometheus: promtool's own checks and unit tests, and what they cannot see themselves."""
import re
import subprocess

import pytest
from deploy_tools import ALERT_TESTS, ALERTS, PROMETHEUS_CONFIG, RULES, alert_rules, load_yaml, tool

from stream_guard.evaluation.packs import load_all


def promtool(*args) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command, path", [
    (("check", "config"), PROMETHEUS_CONFIG),   # also checks the rule files it names
    (("check", "rules"), ALERTS),
    (("test", "rules"), ALERT_TESTS),
], ids=["check config", "check rules", "test rules"])
def test_promtool_passes(command, path):
    done = promtool(*command, path)
    assert done.returncode == 0, f"promtool {' '.join(command)} {path.name}:\n{done.stdout}{done.stderr}"


def test_promtool_catches_a_broken_alert_test(tmp_path):
    """The unit tests really run: the same tests against alerts whose lag alert counts a partition
    twice (no `max by partition`) must fail."""
    broken = ALERTS.read_text(encoding="utf-8").replace(
        "max by (topic, partition) (stream_guard_consumer_lag)", "stream_guard_consumer_lag")
    assert broken != ALERTS.read_text(encoding="utf-8")
    (tmp_path / ALERTS.name).write_text(broken, encoding="utf-8")
    (tmp_path / ALERT_TESTS.name).write_text(ALERT_TESTS.read_text(encoding="utf-8"), encoding="utf-8")
    done = promtool("test", "rules", tmp_path / ALERT_TESTS.name)
    assert done.returncode != 0 and "counts once" in done.stdout + done.stderr


def test_every_alert_has_a_firing_and_a_not_firing_unit_test():
    firing, silent = set(), set()
    for case in load_yaml(ALERT_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else silent).add(check["alertname"])
    alerts = {rule["alert"] for rule in alert_rules()}
    assert not (firing | silent) - alerts, "alerts.test.yml tests alerts that alerts.yml does not have"
    assert alerts - firing == set(), "alerts with no firing unit test"
    assert alerts - silent == set(), "alerts with no not-firing unit test"


def test_every_alert_says_how_bad_and_what_happened():
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_the_penalty_alert_leaves_the_line_to_the_packs():
    """The line is each platform's [reply.penalty], applied by the worker: the alert draws none of
    its own, and only the packs with one can put a day at risk."""
    (rule,) = [r for r in alert_rules() if r["alert"] == "StreamGuardShopAtPenaltyRisk"]
    assert "stream_guard_shop_penalty_risk == 1" in rule["expr"]
    assert not re.search(r"[<>]\s*[\d.]+", rule["expr"].replace("== 1", "")), rule["expr"]
    packs, problems = load_all(RULES)
    assert not problems
    assert {p for p, pack in packs.items() if pack.reply is not None and pack.reply.has_penalty} == {"pinduoduo"}

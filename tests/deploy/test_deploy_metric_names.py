"""Every metric the dashboard and the alerts use is one the code exports; every Grafana variable
they use has a value in the end-to-end test."""
import pytest
from deploy_tools import (
    PROMETHEUS_OWN_SERIES,
    alert_rules,
    dashboard,
    dashboard_queries,
    exported_metric_names,
    grafana_variables_in,
    metric_names,
    substitute,
    variable_queries,
    variable_query_metric_names,
)


@pytest.mark.parametrize("expr, names", [
    ('sum by (platform, le) (rate(stream_guard_reply_response_seconds_bucket{platform=~"$platform", le="180.0"}[5m]))',
     {"stream_guard_reply_response_seconds_bucket"}),
    ("(a_rate < 0.5) and on (platform, shop_id) (b_consults > 1e2) unless ignoring(x) c offset 5m",
     {"a_rate", "b_consults", "c"}),
    ('histogram_quantile(0.99, sum(rate(x_bucket[1m])) by (le)) / scalar(y) * bool z',
     {"x_bucket", "y", "z"}),
    ('absent(up{job="stream-guard"}) or label_replace(vector(1), "dst", "$1", "src", "(.*)")', {"up"}),
    ("max_over_time(deriv(lag[10m:1m])[1h:]) > inf", {"lag"}),
])
def test_metric_names_are_read_from_promql(expr, names):
    assert metric_names(expr) == names


def test_exported_names_carry_their_type_suffixes():
    exported = exported_metric_names()
    assert {"stream_guard_events_consumed_total", "stream_guard_processing_seconds_bucket",
            "stream_guard_reply_response_seconds_count", "stream_guard_shop_reply_rate"} <= exported
    assert "stream_guard_events_consumed" not in exported  # a counter is only read with _total


def used_metric_names() -> dict[str, set[str]]:
    """Where each expression is -> the metric names it uses."""
    used = {f"alert {rule['alert']}": metric_names(rule["expr"]) for rule in alert_rules()}
    used |= {f"panel {where}": metric_names(substitute(expr)) for where, expr in dashboard_queries()}
    used |= {f"variable query {query}": variable_query_metric_names(query) for query in variable_queries()}
    return used


def test_every_metric_used_is_exported():
    known = exported_metric_names() | PROMETHEUS_OWN_SERIES
    unknown = {where: sorted(names - known) for where, names in used_metric_names().items() if names - known}
    assert not unknown, f"metric names the code does not export: {unknown}"


def test_every_expression_selects_some_metric():
    """An expression with no metric name found means the name reader missed it."""
    assert not [where for where, names in used_metric_names().items() if not names]


def test_every_variable_the_queries_use_is_defined_and_has_a_test_value():
    defined = {v["name"] for v in dashboard()["templating"]["list"]}
    used = set().union(*(grafana_variables_in(expr) for _, expr in dashboard_queries()))
    built_in = {name for name in used if name.startswith("__")}
    assert used - built_in <= defined, "queries use variables the dashboard does not define"
    for _, expr in dashboard_queries():
        assert "$" not in substitute(expr)

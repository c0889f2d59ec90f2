"""Shared by tests/deploy/test_deploy_*.py: the files under deploy/, the PromQL they hold, the metric
names the code exports, and the Prometheus tools from Debian's `prometheus` package."""
from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import socket
from functools import cache
from pathlib import Path, PurePosixPath

import pytest
import yaml

from stream_guard.cli.main import build_parser
from stream_guard.config.argtypes import readable_file, secret_file
from stream_guard.observe.metrics import Metrics
from stream_guard.worker.config import ENV_VARS, SETTINGS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "stream-guard.json"
GRAFANA_PROVISIONING = DEPLOY / "grafana" / "provisioning"
K8S = DEPLOY / "k8s"
RULES = ROOT / "rules"

INSTALL_SCRIPT = "scripts/install_tools.sh"
# the job name the alerts and the dashboard select (up{job="stream-guard"})
SCRAPE_JOB = "stream-guard"
DEFAULTS = {s.env: s.default_for("worker") for s in SETTINGS}


def tool(name: str) -> str:
    """The path of a Prometheus tool; a missing one fails the test (CI must install it)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: run `bash {INSTALL_SCRIPT}` (installs Debian's "
                    f"prometheus package, which has prometheus and promtool)", pytrace=False)
    return path


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_documents(path: Path) -> list:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the worker ---------------------------------------------------------------------------

FILE_PARSERS = (readable_file, secret_file)


def refused_settings(env: dict[str, str]) -> dict[str, str]:
    """Variables of a worker's environment the worker would refuse at start, with why: names
    not in ENV_VARS, and values its own parsers reject. A file's path names a file in the
    container, which is not here: it must be absolute."""
    parsers = {s.env: s.parse for s in SETTINGS}
    refused = {}
    for name, value in env.items():
        if name not in ENV_VARS:
            refused[name] = "not a setting of the worker (stream_guard/worker/config.py)"
            continue
        if parsers[name] in FILE_PARSERS:
            if not PurePosixPath(str(value)).is_absolute():
                refused[name] = f"{value} is not an absolute path in the container"
            continue
        try:
            parsers[name](str(value))
        except (ValueError, argparse.ArgumentTypeError) as exc:
            refused[name] = str(exc)
    return refused


def runs_the_worker(argv: list[str]) -> bool:
    """Whether `stream-guard ARGV` is the worker command with flags it has."""
    try:
        return build_parser().parse_args(argv).command == "worker"
    except SystemExit:  # argparse's answer to an unknown command or flag, after its message
        return False


def metrics_port(env: dict[str, str]) -> int:
    """The port a worker with this environment serves /metrics, /healthz and /readyz on."""
    return int(env.get("STREAM_GUARD_METRICS_PORT", DEFAULTS["STREAM_GUARD_METRICS_PORT"]))


# ---- alerts -------------------------------------------------------------------------------

def alert_rules() -> list[dict]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"] if "alert" in rule]


# ---- the dashboard ------------------------------------------------------------------------

# A value for every variable the dashboard's queries use, as Grafana would put it in: the
# built-in intervals as durations, $platform as its "All" value, $top as its default.
GRAFANA_VARIABLES = {"__rate_interval": "1m", "__range": "5m", "__interval": "15s",
                     "platform": ".*", "top": "10"}
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")


def grafana_variables_in(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in _VARIABLE.finditer(text)}


def substitute(expr: str) -> str:
    """The PromQL Grafana would send for `expr`; KeyError for a variable with no value here."""
    return _VARIABLE.sub(lambda m: GRAFANA_VARIABLES[next(g for g in m.groups() if g)], expr)


@cache
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_panels() -> list[dict]:
    """Every panel but rows, including those inside collapsed rows."""
    out = []
    for panel in dashboard()["panels"]:
        out += panel.get("panels", []) if panel["type"] == "row" else [panel]
    return out


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title and refId, PromQL as written) of every query target of the dashboard."""
    return [(f"{panel['title']} [{target['refId']}]", target["expr"])
            for panel in dashboard_panels() for target in panel.get("targets", [])]


def variable_queries() -> list[str]:
    """Queries of the dashboard's query variables, e.g. label_values(metric, label)."""
    out = []
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            out.append(query["query"] if isinstance(query, dict) else query)
    return out


# ---- metric names -------------------------------------------------------------------------

# Series Prometheus itself writes for every target, which expressions may use besides ours.
PROMETHEUS_OWN_SERIES = frozenset({"up"})
# What each metric type is exported as (the Prometheus text format's suffixes).
_SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count", "_created"),
             "summary": ("", "_sum", "_count", "_created"), "info": ("_info",), "stateset": ("",),
             "gaugehistogram": ("_bucket", "_gsum", "_gcount"), "unknown": ("",)}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.$])[A-Za-z_:][\w:]*")
_LABEL_VALUES = re.compile(r"label_values\(\s*([^,)]+?)\s*,\s*\w+\s*\)")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions,
    keywords, label names (in matchers and grouping clauses) or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # strings (label values)
    text = re.sub(r"\{[^}]*\}", " ", text)   # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group()
        if text[match.end():].lstrip().startswith("(") or word.lower() in _KEYWORDS:
            continue  # a function or an aggregation, or an operator
        names.add(word)
    return names


def variable_query_metric_names(query: str) -> set[str]:
    """Metric names a Grafana variable query uses: label_values(<selector>, label)."""
    return {name for selector in _LABEL_VALUES.findall(query) for name in metric_names(selector)}


@cache
def exported_metric_names() -> frozenset[str]:
    """Every sample name the worker's and scan's Metrics can export, from its registry's metric
    families and their types (a family with no labelled child yet has no sample to read)."""
    names = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return frozenset(names)


# ---- the Dockerfile -------------------------------------------------------------------------

def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's build stages, each a list of (INSTRUCTION, arguments), with line
    continuations joined and comments dropped, as Docker reads them."""
    stages: list[list[tuple[str, str]]] = []
    logical = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        logical += line.rstrip()
        if logical.endswith("\\"):
            logical = logical[:-1] + " "
            continue
        instruction, _, arguments = logical.strip().partition(" ")
        logical = ""
        if instruction.upper() == "FROM":
            stages.append([])
        elif not stages:
            continue  # ARG before the first FROM
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def dockerfile_env() -> dict[str, str]:
    """The ENV of the image's final stage (KEY=value form)."""
    env = {}
    for instruction, arguments in dockerfile_stages()[-1]:
        if instruction == "ENV":
            env.update(token.split("=", 1) for token in shlex.split(arguments))
    return env


# ---- compose --------------------------------------------------------------------------------

def compose() -> dict:
    return load_yaml(COMPOSE)


def stream_guard_services() -> dict[str, dict]:
    """Compose services running the stream-guard image (built from deploy/Dockerfile)."""
    return {name: service for name, service in compose()["services"].items()
            if service.get("build", {}).get("dockerfile") == str(DOCKERFILE.relative_to(ROOT))}


def worker_services() -> dict[str, dict]:
    return {name: service for name, service in stream_guard_services().items()
            if service.get("command", [None])[0] == "worker"}


def compose_mounts(service: dict) -> dict[Path, str]:
    """Bind mounts of a compose service: host path (resolved from deploy/) -> container path."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            out[(DEPLOY / source).resolve()] = target
    return out


# ---- Kubernetes -----------------------------------------------------------------------------

@cache
def k8s_objects() -> list[dict]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in load_yaml_documents(path)]


def k8s_object(kind: str) -> dict:
    found = [o for o in k8s_objects() if o.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind} in {K8S.relative_to(ROOT)}, found {len(found)}"
    return found[0]

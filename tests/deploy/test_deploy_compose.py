"""deploy/docker-compose.yml: what the workers are told is what they read, and the pieces point
at each other (there is no Docker engine here to start it)."""
import re
from pathlib import Path

from deploy_tools import (
    DEPLOY,
    DOCKERFILE,
    PROMETHEUS_CONFIG,
    ROOT,
    SCRAPE_JOB,
    compose,
    compose_mounts,
    dockerfile_env,
    load_yaml,
    metrics_port,
    refused_settings,
    runs_the_worker,
    stream_guard_services,
    worker_services,
)
from kafka_broker import kafka_local

from stream_guard.cli.main import build_parser
from stream_guard.worker.config import SETTINGS


def worker_env() -> dict[str, str]:
    """The environment both workers share (they must agree: one consumer group)."""
    envs = [service["environment"] for service in worker_services().values()]
    assert all(env == envs[0] for env in envs[1:])
    return envs[0]


def setting(env: dict, name: str) -> str:
    (s,) = [s for s in SETTINGS if s.name == name]
    return str(env.get(s.env, s.default_for("worker")))


def test_two_workers_in_one_consumer_group_built_from_the_dockerfile():
    workers = worker_services()
    assert len(workers) == 2 and all(runs_the_worker(w["command"]) for w in workers.values())
    assert setting(worker_env(), "group_id")
    for service in stream_guard_services().values():
        assert (DEPLOY / service["build"]["context"]).resolve() == ROOT
        assert (ROOT / service["build"]["dockerfile"]).resolve() == DOCKERFILE


def test_stream_guard_services_set_only_variables_the_worker_reads_with_values_it_takes():
    for name, service in stream_guard_services().items():
        assert refused_settings(service.get("environment", {})) == {}, name


def test_workers_expose_their_metrics_port_and_have_time_to_commit():
    for name, service in worker_services().items():
        assert service["expose"] == [str(metrics_port(service["environment"]))], name
        assert int(service["stop_grace_period"].rstrip("s")) >= 30, name


def test_kafka_is_a_single_kraft_node_of_the_tests_version_at_the_workers_broker_address():
    service = compose()["services"]["kafka"]
    assert service["image"] == f"apache/kafka:{kafka_local.DEFAULT_VERSION}"
    kafka = service["environment"]
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "zookeeper" not in str(kafka).lower()
    advertised = {listener.split("://")[1] for listener in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    assert setting(worker_env(), "broker") in advertised


def test_the_generator_is_an_optional_load_that_gen_accepts_and_feeds_the_workers():
    generator = compose()["services"]["generator"]
    assert generator["profiles"] == ["load"]
    args = build_parser().parse_args(generator["command"])  # exits on an option gen does not have
    env = worker_env()
    assert args.command == "gen" and args.broker == setting(env, "broker")
    assert args.topic == setting(env, "input_topic")
    assert str(args.partitions) == setting(env, "partitions")
    assert args.rules == dockerfile_env()["STREAM_GUARD_RULES_DIR"]


def test_prometheus_scrapes_each_worker_on_its_metrics_port_with_the_config_and_alerts():
    config = load_yaml(PROMETHEUS_CONFIG)
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == SCRAPE_JOB]
    targets = {t for static in job["static_configs"] for t in static["targets"]}
    assert targets == {f"{service.get('hostname', name)}:{metrics_port(service['environment'])}"
                       for name, service in worker_services().items()}
    prometheus = compose()["services"]["prometheus"]
    config_file = next(a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file="))
    mounted = compose_mounts(prometheus)[PROMETHEUS_CONFIG.parent]
    assert Path(config_file).parent == Path(mounted)   # alerts.yml comes along, beside it


def test_the_sasl_ssl_override_gives_the_workers_credentials_as_files():
    override = load_yaml(DEPLOY / "docker-compose.sasl-ssl.yml")
    assert set(override["services"]) == set(worker_services())
    for name, service in override["services"].items():
        env = {**worker_services()[name]["environment"], **service["environment"]}
        # compose fills ${VAR:?...} from the caller's environment: an example value here
        filled = {k: re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: EXAMPLE[m.group(1)], str(v)) for k, v in env.items()}
        assert refused_settings(filled) == {}, name
        assert filled["STREAM_GUARD_SECURITY_PROTOCOL"] == "SASL_SSL" and "STREAM_GUARD_SASL_PASSWORD" not in filled
        secrets = {f"/run/secrets/{s}": override["secrets"][s]["file"] for s in service["secrets"]}
        for variable in ("STREAM_GUARD_SASL_PASSWORD_FILE", "STREAM_GUARD_SSL_CAFILE"):
            assert filled[variable] in secrets, variable
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert all(str((DEPLOY / f).relative_to(ROOT).parent) + "/" in ignored for f in secrets.values())


EXAMPLE = {"KAFKA_BOOTSTRAP": "broker-1.example.com:9093", "KAFKA_USERNAME": "stream-guard"}

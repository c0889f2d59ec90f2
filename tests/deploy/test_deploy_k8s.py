"""deploy/k8s: the manifests parse, the worker is told only what it reads, and the probes, the
Service and the ServiceMonitor all reach its one port (there is no cluster here to apply them)."""
from pathlib import PurePosixPath

from deploy_tools import (
    ALERTS,
    K8S,
    RULES,
    SCRAPE_JOB,
    dockerfile_stages,
    k8s_object,
    load_yaml,
    load_yaml_documents,
    metrics_port,
    refused_settings,
    runs_the_worker,
)

REGENERATE = "stale: run `python3 scripts/gen_k8s_manifests.py`"


def pod_spec() -> dict:
    return k8s_object("Deployment")["spec"]["template"]["spec"]


def worker() -> dict:
    (container,) = pod_spec()["containers"]
    return container


def worker_env() -> dict[str, str]:
    return {item["name"]: item.get("value") for item in worker().get("env", [])}


def container_port(port) -> int:
    """A probe's or Service's port: a number, or the name of one of the worker's ports."""
    named = {p["name"]: p["containerPort"] for p in worker()["ports"]}
    return named[port] if isinstance(port, str) else port


def test_every_manifest_parses_and_the_kustomization_lists_them():
    files = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    for name in files:
        for obj in load_yaml_documents(K8S / name):
            assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"], name
    assert set(load_yaml(K8S / "kustomization.yaml")["resources"]) == files


def test_generated_manifests_hold_the_rule_packs_and_the_alerts():
    packs = {path.name: path.read_text(encoding="utf-8") for path in RULES.glob("*.toml")}
    assert k8s_object("ConfigMap")["data"] == packs, REGENERATE
    assert k8s_object("PrometheusRule")["spec"] == load_yaml(ALERTS), REGENERATE


def test_the_worker_is_told_only_what_it_reads_with_values_it_takes():
    assert refused_settings(worker_env()) == {}
    assert "command" not in worker() and runs_the_worker(worker()["args"])  # after the image's `stream-guard`


def test_ports_and_probes_are_the_metrics_port():
    port = metrics_port(worker_env())
    assert [p["containerPort"] for p in worker()["ports"]] == [port]
    probes = {kind: worker()[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")
              if kind in worker()}
    assert probes["livenessProbe"]["path"] == "/healthz" and probes["readinessProbe"]["path"] == "/readyz"
    assert {container_port(probe["port"]) for probe in probes.values()} == {port}


def test_graceful_termination_and_resources():
    assert 30 <= pod_spec()["terminationGracePeriodSeconds"] <= 120
    resources = worker()["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]


def test_runs_as_the_images_user_with_writable_state_and_tmp_only():
    (user,) = [args for name, args in dockerfile_stages()[-1] if name == "USER"]
    security = pod_spec()["securityContext"]
    assert security["runAsNonRoot"] and str(security["runAsUser"]) == user.split(":")[0]
    assert worker()["securityContext"]["readOnlyRootFilesystem"]
    writable = {m["mountPath"] for m in worker()["volumeMounts"] if not m.get("readOnly")}
    assert writable == {worker_env()["STREAM_GUARD_STATE_DIR"], "/tmp"}


def test_rule_packs_come_from_the_configmap_at_the_rules_dir_and_reload():
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    (mount,) = [m for m in worker()["volumeMounts"]
                if volumes[m["name"]].get("configMap", {}).get("name") == k8s_object("ConfigMap")["metadata"]["name"]]
    assert mount["mountPath"] == worker_env()["STREAM_GUARD_RULES_DIR"] and mount["readOnly"]
    assert float(worker_env()["STREAM_GUARD_RELOAD_POLL"]) > 0  # 0 would mean SIGHUP only


def labels_match(selector: dict, labels: dict) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def test_service_and_servicemonitor_reach_the_metrics_port_as_job_stream_guard():
    pod_labels = k8s_object("Deployment")["spec"]["template"]["metadata"]["labels"]
    service, monitor = k8s_object("Service"), k8s_object("ServiceMonitor")
    assert labels_match(service["spec"]["selector"], pod_labels)
    ports = {p["name"]: container_port(p["targetPort"]) for p in service["spec"]["ports"]}
    # the Prometheus Operator names the job after the Service (no jobLabel): the alerts' job
    assert service["metadata"]["name"] == SCRAPE_JOB and "jobLabel" not in monitor["spec"]
    assert labels_match(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    for endpoint in monitor["spec"]["endpoints"]:
        assert ports[endpoint["port"]] == metrics_port(worker_env()) and endpoint["path"] == "/metrics"


def test_no_more_workers_than_partitions_and_drains_take_one_at_a_time():
    deployment = k8s_object("Deployment")
    assert deployment["spec"]["replicas"] <= int(worker_env()["STREAM_GUARD_PARTITIONS"])
    budget = k8s_object("PodDisruptionBudget")["spec"]
    assert budget["maxUnavailable"] == 1
    assert labels_match(budget["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"])


def test_the_kafka_credentials_come_from_the_secret_the_password_as_a_file():
    secret = k8s_object("Secret")
    env = {item["name"]: item for item in worker()["env"]}
    assert env["STREAM_GUARD_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert "STREAM_GUARD_SASL_PASSWORD" not in env  # a file, so the password is in no environment
    ref = env["STREAM_GUARD_SASL_USERNAME"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    mounts = {m["mountPath"]: (volumes[m["name"]], m.get("readOnly")) for m in worker()["volumeMounts"]}
    for variable in ("STREAM_GUARD_SASL_PASSWORD_FILE", "STREAM_GUARD_SSL_CAFILE"):
        path = PurePosixPath(env[variable]["value"])
        volume, read_only = mounts[str(path.parent)]
        assert volume["secret"]["secretName"] == secret["metadata"]["name"] and read_only
        (item,) = [i for i in volume["secret"]["items"] if i["path"] == path.name]
        assert item["key"] in secret["stringData"]

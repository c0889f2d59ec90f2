"""deploy/Dockerfile, read as Docker reads it (there is no Docker engine here to build it)."""
import json
import re
import subprocess
import sys
import tomllib

from deploy_tools import (
    DEFAULTS,
    DOCKERFILE,
    ROOT,
    dockerfile_env,
    dockerfile_stages,
    free_port,
    metrics_port,
    refused_settings,
    runs_the_worker,
)

from stream_guard.observe.metrics import Health, Metrics


def final_stage(instruction: str) -> list[str]:
    return [arguments for name, arguments in dockerfile_stages()[-1] if name == instruction]


def test_multi_stage_with_no_compiler_in_the_image():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    builders = {arguments.split()[-1] for name, arguments in (stage[0] for stage in stages[:-1])}
    assert any(re.match(rf"--from=({'|'.join(builders)})\s", copy) for copy in final_stage("COPY"))
    assert not [run for run in final_stage("RUN") if re.search(r"\b(gcc|build-essential|cython)\b", run, re.I)]


def test_runs_as_a_numeric_non_root_user():
    # numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd
    user = final_stage("USER")[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_entrypoint_and_command_run_the_worker():
    (entrypoint,), (command,) = final_stage("ENTRYPOINT"), final_stage("CMD")
    argv = json.loads(entrypoint) + json.loads(command)  # exec form: the worker is PID 1 and gets SIGTERM
    assert argv[0] == "stream-guard" and runs_the_worker(argv[1:])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert argv[0] in scripts


def test_environment_is_what_the_worker_reads_and_the_rules_are_where_it_looks():
    env = dockerfile_env()
    assert refused_settings({name: value for name, value in env.items() if name.startswith("STREAM_GUARD_")}) == {}
    assert final_stage("EXPOSE") == [str(metrics_port(env))]
    copied_rules = [copy for copy in final_stage("COPY") if copy.startswith("rules/")]
    assert [copy.split()[-1].rstrip("/") for copy in copied_rules] == [env["STREAM_GUARD_RULES_DIR"]]


def healthcheck_argv() -> list[str]:
    (healthcheck,) = final_stage("HEALTHCHECK")
    argv = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert argv[0] == "python" and "/healthz" in argv[-1]
    return [sys.executable, *argv[1:]]


def test_healthcheck_passes_on_a_healthy_metrics_port_and_fails_without_one():
    """The image's own health-check command, run here against the real /healthz server on the
    port the worker's STREAM_GUARD_METRICS_PORT says (defaulting as the worker does)."""
    assert f"'{DEFAULTS['STREAM_GUARD_METRICS_PORT']}'" in healthcheck_argv()[-1]
    server, _ = Metrics().serve(0, health=Health())
    try:
        env = {"STREAM_GUARD_METRICS_PORT": str(server.server_port)}
        assert subprocess.run(healthcheck_argv(), env=env, timeout=30).returncode == 0
    finally:
        server.shutdown()
    env = {"STREAM_GUARD_METRICS_PORT": str(free_port())}
    assert subprocess.run(healthcheck_argv(), env=env, capture_output=True, timeout=30).returncode != 0


def test_the_build_context_keeps_every_file_copy_reads():
    ignore = (DOCKERFILE.parent / (DOCKERFILE.name + ".dockerignore")).read_text(encoding="utf-8").splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore  # everything else stays out (.venv, .git, the Kafka jars in .cache)
    sources = [path for stage in dockerfile_stages() for name, arguments in stage if name == "COPY"
               and not arguments.startswith("--from") for path in arguments.split()[:-1]]
    assert sources and {path.split("/")[0] for path in sources} <= kept

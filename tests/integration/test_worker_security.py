"""The worker through the broker's SASL_SSL listener (certificates made by openssl when the broker
first starts, SCRAM users created when its storage is formatted): the full round trip, and a
restart that restores the reply state, over TLS with SCRAM; and the ways a client gets it wrong
(a wrong password, a CA that did not sign the broker, plaintext to the TLS port), each a one-line
reason and a non-zero exit in seconds, with the password never written anywhere."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from worker_harness import (
    Topics,
    assert_same_as_scan,
    committed_lag,
    day_with_closing_events,
    kill_started_workers,
    observe,
    produce,
    scan_expected,
    start_worker,
    wait_for,
)

from stream_guard.kafka.security import KafkaSecurity

pytestmark = pytest.mark.kafka


@pytest.fixture(autouse=True)
def no_worker_left_behind():
    yield
    kill_started_workers()


def secure_flags(secure, password_file, mechanism="SCRAM-SHA-512", ca_file=None) -> list[str]:
    return ["--security-protocol", "SASL_SSL", "--sasl-mechanism", mechanism, "--sasl-username", secure.user,
            "--sasl-password-file", str(password_file), "--ssl-cafile", str(ca_file or secure.ca_file)]


@pytest.fixture
def password_file(kafka_broker, tmp_path):
    path = tmp_path / "password"
    path.write_text(kafka_broker.secure.password + "\n", encoding="utf-8")
    return path


def test_the_round_trip_and_a_restart_through_sasl_ssl(kafka_broker, password_file, tmp_path):
    secure = kafka_broker.secure
    lines = day_with_closing_events(seed=5, shops=6, events=3000)
    expected = scan_expected(lines, tmp_path)
    topics = Topics.fresh("sasl")
    half = len(lines) // 2
    producer = KafkaSecurity(protocol="SASL_SSL", mechanism="SCRAM-SHA-256", username=secure.user,
                             password=secure.password, cafile=secure.ca_file)
    produce(secure.bootstrap, topics.input, lines[:half], security=producer)
    flags = [*secure_flags(secure, password_file), "--commit-interval", "0.5"]
    first = start_worker(secure.bootstrap, topics, tmp_path, *flags)
    wait_for(lambda: first.consumed() >= half and first.caught_up(), 120, "the first half handled", first)
    assert first.stop() == 0, first.log()[-3000:]
    produce(secure.bootstrap, topics.input, lines[half:], security=producer)
    second = start_worker(secure.bootstrap, topics, tmp_path, *flags)  # its reply state from the changelog
    wait_for(lambda: committed_lag(kafka_broker.bootstrap, topics.input, topics.group) == 0, 120,
             "the whole input committed", second, every=0.5)
    scraped = "\n".join(f"{k} {v}" for k, v in second.metrics().items())
    assert second.stop() == 0, second.log()[-3000:]
    assert_same_as_scan(observe(kafka_broker.bootstrap, topics, set(expected.rows)), expected)
    for written in (first.log(), second.log(), scraped):
        assert secure.password not in written


def run_to_exit(bootstrap: str, tmp_path, *flags: str, timeout: float = 60) -> subprocess.CompletedProcess:
    topics = Topics.fresh("refused")
    return subprocess.run(
        [sys.executable, "-m", "stream_guard", "worker", "--broker", bootstrap, "--input-topic", topics.input,
         "--group-id", topics.group, "--metrics-port", "0", "--state-dir", str(tmp_path / "state"), *flags],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize(("case", "reason"), [
    ("wrong password", "refused the user name or password"),
    ("unknown CA", "not signed by a trusted CA (--ssl-cafile)"),
    ("plaintext to the TLS port", "a TLS listener? (--security-protocol is PLAINTEXT)"),
    ("TLS to the plaintext port", "a plaintext listener? (--security-protocol is SASL_SSL)"),
])
def test_a_client_that_gets_it_wrong_gets_one_line(kafka_broker, password_file, tmp_path, case, reason):
    secure = kafka_broker.secure
    bootstrap, flags = secure.bootstrap, secure_flags(secure, password_file)
    if case == "wrong password":
        password_file.write_text("not-the-password", encoding="utf-8")
    elif case == "unknown CA":
        flags = secure_flags(secure, password_file, ca_file=secure.other_ca_file)
    elif case == "plaintext to the TLS port":
        flags = []
    else:
        bootstrap = kafka_broker.bootstrap
    done = run_to_exit(bootstrap, tmp_path, *flags)
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.startswith(f"stream-guard: cannot connect to Kafka at {bootstrap}") and reason in done.stderr
    assert secure.password not in done.stderr + done.stdout


def test_a_busy_metrics_port_is_one_line_naming_it(kafka_broker, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_to_exit(kafka_broker.bootstrap, tmp_path, "--metrics-port", str(port), "--metrics-addr", "127.0.0.1")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert done.stderr == (f"stream-guard: cannot serve metrics on 127.0.0.1:{port} (--metrics-port, --metrics-addr): "
                           "Address already in use\n")

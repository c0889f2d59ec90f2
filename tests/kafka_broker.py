"""pytest plugin: a real single-node Kafka broker, started once per test session.

Use it by loading this module as a plugin, in tests/conftest.py::

    pytest_plugins = ["kafka_broker"]

(tests/ is on sys.path there), then ask for the fixture::

    @pytest.mark.kafka
    def test_something(kafka_broker):
        kafka_broker.bootstrap      # "127.0.0.1:PORT"
        kafka_broker.restart()      # same port, same data: "broker restarted under the worker"
        kafka_broker.secure         # its SASL_SSL listener: .bootstrap, .user, .password, .ca_file

The broker comes from scripts/kafka_local.py (jars fetched from Maven Central with `mvn`
into .cache/kafka/, then `java -cp ... kafka.Kafka`). When `java` or `mvn` is missing the
fixture FAILS with instructions instead of skipping: CI has to install them.

Environment: KAFKA_LOCAL_START_TIMEOUT (seconds, default 120); the ones kafka_local.py reads.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "kafka_local.py"


def _load_kafka_local():
    if "kafka_local" in sys.modules:
        return sys.modules["kafka_local"]
    spec = importlib.util.spec_from_file_location("kafka_local", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["kafka_local"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


kafka_local = _load_kafka_local()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "kafka: needs the real local Kafka broker (java 17+ and mvn; see tests/kafka_broker.py)",
    )


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """A running broker (kafka_local.Broker): .bootstrap, .pid, .restart(), .stop(), ..."""
    problems = kafka_local.missing_tools(need_mvn=True)
    if problems:
        pytest.fail(
            "the kafka_broker fixture needs a JDK and Maven: " + "; ".join(problems), pytrace=False
        )
    run_dir = tmp_path_factory.mktemp("kafka")
    timeout = float(os.environ.get("KAFKA_LOCAL_START_TIMEOUT", "120"))
    try:
        broker = kafka_local.start_broker(run_dir, timeout=timeout, secure=True)
    except kafka_local.KafkaLocalError as exc:
        pytest.fail(f"could not start the local Kafka broker: {exc}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# The oracle lives beside the tests; make it importable as a plain module.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# `make test` runs the default profile; HYPOTHESIS_PROFILE=thorough digs much deeper.
settings.register_profile(
    "default", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# the session-scoped real Kafka broker (scripts/kafka_local.py) and the `kafka` marker
pytest_plugins = ["kafka_broker"]

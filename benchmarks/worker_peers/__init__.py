"""The readers `test_worker_throughput.py` sets beside the worker, each run as its own process.

- `aiokafka_consumer.py`: a plain aiokafka `getmany()` loop, the ceiling of consuming in Python;
- `faust_agent.py`: a plain Faust agent (`async for event in stream`), the naive baseline;
- `engine_rate.py`: `Engine.process_batch` on a generated day without Kafka, the engine's own rate.

Each prints one `RESULT {json}` line (`measure.emit`); `run_peer` runs one and returns that JSON.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .measure import RESULT_PREFIX

HERE = Path(__file__).resolve().parent


def run_peer(script: str, args: list[str], timeout: float = 900) -> dict:
    """Run one peer script as its own process: its RESULT, or {"error": the end of its stderr}."""
    proc = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True,
                          timeout=timeout)
    for line in proc.stdout.splitlines():
        if RESULT_PREFIX in line:  # Faust's worker may put terminal control codes before it
            return json.loads(line.split(RESULT_PREFIX, 1)[1])
    return {"error": f"{script} exited {proc.returncode}: {(proc.stderr or '')[-500:]}"}

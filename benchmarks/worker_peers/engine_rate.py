"""The engine alone on a generated day, no Kafka: what the worker's process can do at best per event
besides consuming. `Engine.process_batch` over the day's lines in batches as the worker takes them,
after `tune_gc` as the worker runs; the rate is lines / seconds over all the batches.

    .venv/bin/python benchmarks/worker_peers/engine_rate.py --seed 11 --shops 5000 --events 250000
"""
from __future__ import annotations

import argparse
import time

from measure import emit

from stream_guard.engine.pipeline import Engine, tune_gc
from stream_guard.evaluation.packs import default_rules_dir
from stream_guard.gen import GenConfig, generate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--shops", type=int, required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--batch", type=int, default=10_000, help="records per batch (the worker's batch_size)")
    a = p.parse_args()
    lines = list(generate(GenConfig(seed=a.seed, shops=a.shops, events=a.events)).lines())
    engine = Engine(default_rules_dir())
    tune_gc()
    batches = [lines[i:i + a.batch] for i in range(0, len(lines), a.batch)]
    t0 = time.perf_counter()
    for batch in batches:
        engine.process_batch(batch)
    engine.finish()
    seconds = time.perf_counter() - t0
    emit({"reader": "Engine.process_batch, no Kafka", "messages": len(lines), "seconds": round(seconds, 3),
          "msgs_per_s": round(len(lines) / seconds)})


if __name__ == "__main__":
    main()

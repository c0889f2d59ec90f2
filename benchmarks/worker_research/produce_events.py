"""Create the benchmark topics and fill the input topic with N ~280-byte JSON chat events.

    .venv/bin/python benchmarks/worker_research/produce_events.py --bootstrap 127.0.0.1:PORT \
        [--count 1000000] [--recreate]

Also creates the output topic (4 partitions). Reports the produce rate of the fill (aiokafka
send() futures with linger, lz4-free, acks=1).
"""

from __future__ import annotations

import asyncio
import random
import time

import common
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def ensure_topics(bootstrap: str, names: list[str], partitions: int, recreate: bool,
                        configs: dict | None = None) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        if recreate:
            gone = [n for n in names if n in existing]
            if gone:
                await admin.delete_topics(gone)
                await asyncio.sleep(2)
                existing -= set(gone)
        new = [NewTopic(n, partitions, 1, topic_configs=configs or {}) for n in names if n not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


async def main() -> None:
    p = common.base_parser(__doc__)
    p.add_argument("--count", type=int, default=1_000_000)
    p.add_argument("--recreate", action="store_true")
    a = p.parse_args()
    await ensure_topics(a.bootstrap, [a.topic, common.OUT_TOPIC], common.PARTITIONS, a.recreate)
    rnd = random.Random(42)
    prod = AIOKafkaProducer(bootstrap_servers=a.bootstrap, linger_ms=20,
                            max_batch_size=256 * 1024, acks=1)
    await prod.start()
    t0 = time.perf_counter()
    nbytes = 0
    try:
        futs = []
        for i in range(a.count):
            k, v = common.make_event(i, rnd)
            nbytes += len(v)
            futs.append(await prod.send(a.topic, v, key=k))
            if len(futs) >= 20_000:
                await asyncio.gather(*futs)
                futs.clear()
        await asyncio.gather(*futs)
    finally:
        await prod.stop()
    dt = time.perf_counter() - t0
    common.emit({"approach": "fill input topic (aiokafka send futures)", "messages": a.count,
                 "seconds": round(dt, 2), "msgs_per_s": round(a.count / dt),
                 "avg_value_bytes": round(nbytes / a.count)})


if __name__ == "__main__":
    asyncio.run(main())

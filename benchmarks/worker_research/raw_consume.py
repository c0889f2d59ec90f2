"""Ceiling: a plain aiokafka getmany() loop over the whole topic with a fresh group.

    .venv/bin/python benchmarks/worker_research/raw_consume.py --bootstrap 127.0.0.1:PORT \
        [--decode] [--max-records 10000] [--uvloop]
"""

from __future__ import annotations

import asyncio
import time

import common
import orjson
from aiokafka import AIOKafkaConsumer


async def run(a) -> dict:
    c = AIOKafkaConsumer(
        a.topic, bootstrap_servers=a.bootstrap, group_id=common.fresh_group("raw"),
        auto_offset_reset="earliest", enable_auto_commit=False,
        max_partition_fetch_bytes=a.partition_fetch_mb * 1024 * 1024,
        fetch_max_bytes=a.fetch_mb * 1024 * 1024,
        max_poll_records=a.max_records,
    )
    await c.start()
    prod = None
    if a.full:
        from aiokafka import AIOKafkaProducer
        prod = AIOKafkaProducer(bootstrap_servers=a.bootstrap, linger_ms=5, acks="all")
        await prod.start()
    counts: dict = {}
    futs: list = []
    clock = common.Clock()
    loads = orjson.loads
    nbytes = 0
    try:
        deadline = time.monotonic() + a.timeout
        while clock.n < a.expect and time.monotonic() < deadline:
            batch = await c.getmany(timeout_ms=500, max_records=a.max_records)
            for tp, recs in batch.items():
                if a.full:
                    out = []
                    for r in recs:
                        loads(r.value)
                        key = r.key.decode()
                        counts[key] = counts.get(key, 0) + 1
                        if r.offset % 33 == 0:
                            out.append((r.key, orjson.dumps({"violation_id": f"{tp.partition}-{r.offset}",
                                        "shop_id": key, "rule_id": "invoice_refusal.1",
                                        "category": "invoice_refusal", "severity": "high",
                                        "spans": [[3, 7]], "excerpt": "x" * 120})))
                    if out:
                        b = prod.create_batch()
                        for k, v in out:
                            if b.append(key=k, value=v, timestamp=None) is None:
                                b.close()
                                futs.append(await prod.send_batch(b, common.OUT_TOPIC, partition=tp.partition))
                                b = prod.create_batch()
                                b.append(key=k, value=v, timestamp=None)
                        b.close()
                        futs.append(await prod.send_batch(b, common.OUT_TOPIC, partition=tp.partition))
                elif a.decode:
                    for r in recs:
                        loads(r.value)
                clock.add(len(recs))
        if a.commit:
            await c.commit()
        if futs:
            await asyncio.gather(*futs)
    finally:
        await c.stop()
        if prod is not None:
            await prod.stop()
    name = "raw aiokafka getmany" + (" + orjson.loads" if a.decode else "") + (
        " + full work (decode, counts, 3% send_batch)" if a.full else "")
    return clock.result(approach=name + (" [uvloop]" if a.uvloop else ""),
                        max_records=a.max_records)


def main() -> None:
    p = common.base_parser(__doc__)
    p.add_argument("--decode", action="store_true", help="orjson.loads every value")
    p.add_argument("--max-records", type=int, default=10_000)
    p.add_argument("--partition-fetch-mb", type=int, default=4)
    p.add_argument("--fetch-mb", type=int, default=50)
    p.add_argument("--commit", action="store_true")
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--full", action="store_true",
                   help="same work as faust_bench --decode --produce deferred --table: decode, per-shop "
                        "dict counts, 3%% violations via create_batch/send_batch (no Faust)")
    a = p.parse_args()
    if a.uvloop:
        import uvloop
        uvloop.install()
    common.emit(asyncio.run(run(a)))


if __name__ == "__main__":
    main()

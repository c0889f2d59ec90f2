"""A plain aiokafka consumer: `getmany()` over the topic with a fresh group, nothing done with the
records. What consuming alone costs a Python process: the ceiling any Python worker stays under.

    .venv/bin/python benchmarks/worker_peers/aiokafka_consumer.py --bootstrap 127.0.0.1:PORT \
        --topic TOPIC --expect N
"""
from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer
from measure import Clock, consumer_parser, emit, fresh_group

# as large as the worker's own fetches, so the ceiling is not set by smaller round trips
MAX_RECORDS = 10_000
PARTITION_FETCH_BYTES = 4 << 20
FETCH_BYTES = 50 << 20


async def consume(bootstrap: str, topic: str, expect: int, timeout: float) -> dict:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=fresh_group("peer-aiokafka"), auto_offset_reset="earliest",
        enable_auto_commit=False, max_partition_fetch_bytes=PARTITION_FETCH_BYTES, fetch_max_bytes=FETCH_BYTES,
        max_poll_records=MAX_RECORDS)
    await consumer.start()
    clock = Clock()
    try:
        deadline = time.monotonic() + timeout
        while clock.n < expect and time.monotonic() < deadline:
            fetched = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
            for records in fetched.values():
                clock.add(len(records))
    finally:
        await consumer.stop()
    return clock.result(reader="aiokafka getmany")


def main() -> None:
    a = consumer_parser(__doc__).parse_args()
    emit(asyncio.run(consume(a.bootstrap, a.topic, a.expect, a.timeout)))


if __name__ == "__main__":
    main()

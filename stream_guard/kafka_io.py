"""Small Kafka helpers on aiokafka: create topics that are missing, produce raw records keyed by shop.

Keys are shop ids (DESIGN.md): a shop's events stay in one partition, in order. A record that is
not a JSON object with a string `shop_id` (a bad record, on purpose or not) is produced without
a key, so it still reaches the worker, which dead-letters it.
"""
from __future__ import annotations

import asyncio
from typing import Iterable

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

PRODUCE_CHUNK = 10_000  # records in flight before waiting for their acknowledgements


async def ensure_topic(bootstrap: str, topic: str, partitions: int, config: dict | None = None) -> bool:
    """Create the topic when it does not exist; True when it was created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topic in await admin.list_topics():
            return False
        try:
            await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=config or {})])
        except TopicAlreadyExistsError:
            return False  # created by someone else meanwhile
        return True
    finally:
        await admin.close()


def shop_key(record: bytes) -> bytes | None:
    try:
        event = orjson.loads(record)
    except orjson.JSONDecodeError:
        return None
    shop = event.get("shop_id") if type(event) is dict else None
    return shop.encode() if type(shop) is str else None


async def produce_records(bootstrap: str, topic: str, records: Iterable[bytes]) -> int:
    """Produce every record, keyed by shop, waiting for all acknowledgements; the count."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=1 << 20, compression_type=None)
    await producer.start()
    sent = 0
    try:
        pending = []
        for record in records:
            pending.append(await producer.send(topic, record, key=shop_key(record)))
            if len(pending) >= PRODUCE_CHUNK:
                await asyncio.gather(*pending)
                sent += len(pending)
                pending = []
        await asyncio.gather(*pending)
        sent += len(pending)
    finally:
        await producer.stop()
    return sent

"""Small Kafka helpers on aiokafka: create topics that are missing, produce raw records keyed by shop,
send records grouped by partition as whole producer batches.

Keys are shop ids (docs/design.md): a shop's events stay in one partition, in order. A record that is
not a JSON object with a string `shop_id` (a bad record, on purpose or not) is produced without
a key, so it still reaches the worker, which dead-letters it.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from stream_guard.kafka.connect import started
from stream_guard.kafka.security import KafkaSecurity

DESCRIBE_ATTEMPTS = 50
PRODUCE_CHUNK = 10_000  # records in flight before waiting for their acknowledgements


async def prepare_topics(bootstrap: str, wanted: dict[str, tuple[int, int, dict]],
                         security: KafkaSecurity) -> dict[str, int]:
    """Create each topic of `wanted` (name -> (partitions, replication, config)) that is missing;
    the partition count of every one of them, as it is on the broker."""
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.client_arguments())
    async with started(client, bootstrap, security) as admin:
        existing = await admin.list_topics()
        missing = [NewTopic(name, partitions, replication, topic_configs=config)
                   for name, (partitions, replication, config) in wanted.items() if name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another worker created them meanwhile
        counts: dict[str, int] = {}
        for attempt in range(DESCRIBE_ATTEMPTS):  # a topic just created takes a moment to be known
            for described in await admin.describe_topics([t for t in wanted if t not in counts]):
                if not described["error_code"]:
                    counts[described["topic"]] = len(described["partitions"])
                elif described["error_code"] != UnknownTopicOrPartitionError.errno or attempt == DESCRIBE_ATTEMPTS - 1:
                    raise RuntimeError(f"cannot describe topic {described['topic']}: error {described['error_code']}")
            if len(counts) == len(wanted):
                return counts
            await asyncio.sleep(0.2)
        raise RuntimeError("topics not known to the broker after creation: " + ", ".join(set(wanted) - set(counts)))


def shop_key(record: bytes) -> bytes | None:
    try:
        event = orjson.loads(record)
    except orjson.JSONDecodeError:
        return None
    shop = event.get("shop_id") if type(event) is dict else None
    return shop.encode() if type(shop) is str else None


async def produce_records(bootstrap: str, topic: str, records: Iterable[bytes], security: KafkaSecurity) -> int:
    """Produce every record, keyed by shop, waiting for all acknowledgements; the count."""
    client = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1 << 20,
                              compression_type=None, **security.client_arguments())
    sent = 0
    async with started(client, bootstrap, security) as producer:
        pending = []
        for record in records:
            pending.append(await producer.send(topic, record, key=shop_key(record)))
            if len(pending) >= PRODUCE_CHUNK:
                await asyncio.gather(*pending)
                sent += len(pending)
                pending = []
        await asyncio.gather(*pending)
        sent += len(pending)
    return sent


async def send_batches(producer: AIOKafkaProducer, records: dict[tuple[str, int], list]) -> list:
    """Queue `records` ({(topic, partition): [(key, value, headers)]}) with the producer, one
    `create_batch`/`send_batch` per partition and batch size; the futures of the acknowledgements.
    Faust's `Producer.send` costs about 140 us a record and aiokafka's `send` computes murmur2 in
    Python: with the partition given, a whole batch costs a few microseconds a record."""
    futures = []
    for (topic, partition), batch_records in records.items():
        batch = producer.create_batch()
        for key, value, headers in batch_records:
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                batch.close()
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)
        batch.close()
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures

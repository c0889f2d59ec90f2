"""The local Kafka broker (scripts/kafka_local.py) works with a real client, across a restart.

Needs java, mvn and aiokafka; fails (does not skip) when one is missing.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

try:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError
except ImportError:  # reported by the `aiokafka_available` fixture
    AIOKafkaProducer = None

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("aiokafka_available")]

PARTITIONS = 4


@pytest.fixture
def aiokafka_available():
    if AIOKafkaProducer is None:
        pytest.fail("aiokafka is not installed: add it to the test dependencies", pytrace=False)


def run(coro, timeout: float = 90.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def new_topic_name(prefix: str) -> str:
    return f"sg-{prefix}-{uuid.uuid4().hex[:8]}"


async def create_topic(bootstrap: str, name: str, partitions: int = PARTITIONS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)]
        )
        errors = [(topic, code) for topic, code, *_ in response.topic_errors if code != 0]
        assert not errors, f"create_topics failed: {errors}"
        (described,) = await admin.describe_topics([name])
        assert described["error_code"] == 0, described
        assert len(described["partitions"]) == partitions
    finally:
        await admin.close()


async def produce(producer, topic: str, batch: str, count: int) -> dict[int, list[bytes]]:
    """Send `count` messages round-robin over the partitions; return what went where."""
    sent: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
    for i in range(count):
        partition = i % PARTITIONS
        value = f"{batch}-{i}".encode()
        meta = await producer.send_and_wait(topic, value, key=f"k{i}".encode(), partition=partition)
        assert meta.partition == partition
        sent[partition].append(value)
    return sent


async def consume(consumer, expected: int, timeout: float = 30.0) -> dict[int, list[bytes]]:
    got: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
    n = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while n < expected:
        assert loop.time() < deadline, f"consumed {n} of {expected} messages: {got}"
        batches = await consumer.getmany(timeout_ms=500)
        for tp, records in batches.items():
            got[tp.partition].extend(r.value for r in records)
            n += len(records)
    assert n == expected, f"consumed {n} messages, expected {expected}: {got}"
    return got


def test_broker_answers_metadata(kafka_broker):
    host, port = kafka_broker.bootstrap.split(":")
    assert host == "127.0.0.1" and int(port) == kafka_broker.port
    answer = kafka_broker.probe()
    assert answer["cluster_id"] == kafka_broker.cluster_id
    assert answer["brokers"] == [{"node_id": 1, "host": "127.0.0.1", "port": kafka_broker.port}]
    assert kafka_broker.is_running()


def test_topics_are_not_auto_created(kafka_broker):
    async def scenario():
        topic = new_topic_name("absent")
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, request_timeout_ms=2000)
        await producer.start()
        try:
            with pytest.raises(KafkaError):
                await producer.send_and_wait(topic, b"lost")
        finally:
            await producer.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
        await admin.start()
        try:
            assert topic not in await admin.list_topics()
        finally:
            await admin.close()

    run(scenario())


def test_produce_and_consume_over_four_partitions(kafka_broker):
    async def scenario():
        topic = new_topic_name("roundtrip")
        await create_topic(kafka_broker.bootstrap, topic)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
        await producer.start()
        try:
            sent = await produce(producer, topic, "a", 40)
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_broker.bootstrap,
            group_id=f"{topic}-group",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            assert consumer.partitions_for_topic(topic) == set(range(PARTITIONS))
            got = await consume(consumer, expected=40)
            await consumer.commit()
            for p in range(PARTITIONS):
                assert await consumer.committed(TopicPartition(topic, p)) == 10
        finally:
            await consumer.stop()
        assert got == sent  # every message, in order within its partition

    run(scenario())


def test_data_survives_a_restart_and_clients_reconnect(kafka_broker):
    async def scenario():
        topic = new_topic_name("restart")
        group = f"{topic}-group"
        await create_topic(kafka_broker.bootstrap, topic)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_broker.bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await producer.start()
        await consumer.start()
        try:
            before = await produce(producer, topic, "before", 20)
            assert await consume(consumer, expected=20) == before
            await consumer.commit()

            # The broker goes away under the live clients and comes back on the same port;
            # the event loop keeps running meanwhile, as it would in the worker.
            old_pid, bootstrap = kafka_broker.pid, kafka_broker.bootstrap
            await asyncio.to_thread(kafka_broker.restart)
            assert kafka_broker.bootstrap == bootstrap
            assert kafka_broker.pid != old_pid and kafka_broker.is_running()

            # The same producer and consumer reconnect by themselves.
            after = await produce(producer, topic, "after", 20)
            assert await consume(consumer, expected=20) == after
            await consumer.commit()
        finally:
            await consumer.stop()
            await producer.stop()

        # Everything written before the restart is still on disk ...
        reader = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_broker.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
        )
        await reader.start()
        try:
            everything = await consume(reader, expected=40)
        finally:
            await reader.stop()
        assert everything == {p: before[p] + after[p] for p in range(PARTITIONS)}

        # ... and so are the group's committed offsets (__consumer_offsets).
        checker = AIOKafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, group_id=group)
        await checker.start()
        try:
            for p in range(PARTITIONS):
                assert await checker.committed(TopicPartition(topic, p)) == 10
        finally:
            await checker.stop()

    run(scenario(), timeout=150)

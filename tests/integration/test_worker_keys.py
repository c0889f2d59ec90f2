"""The worker on records keyed wrong, not keyed, or with no value: the first two are dead letters
with their own reasons (or, when asked, re-keyed to their shop's partition), the tombstone is
skipped and counted; the well-keyed events around them
are judged as ever. And its figures after traffic stops: every partition has a lag, the per-shop
gauges are the last batch's."""
from __future__ import annotations

import asyncio
import re
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from worker_harness import (
    INPUT_PARTITIONS,
    Topics,
    kill_started_workers,
    partition_of,
    produce,
    read_topic,
    start_worker,
    wait_for,
)

from stream_guard.gen import GenConfig, generate

pytestmark = pytest.mark.kafka
T0 = 1_792_461_600_000


@pytest.fixture(autouse=True)
def no_worker_left_behind():
    yield
    kill_started_workers()


def event(n: int, shop: str) -> bytes:
    return orjson.dumps({"event_id": f"e{n}", "platform": "taobao", "shop_id": shop, "conversation_id": "c1",
                         "buyer_id": "b1", "sender": "agent", "text": "不开发票", "ts": T0 + n})


def send(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for key, value in records:
                await producer.send_and_wait(topic, value, key=key, partition=0)
        finally:
            await producer.stop()

    asyncio.run(run())


def test_misrouted_records_are_dead_letters_and_tombstones_are_counted(kafka_broker, tmp_path):
    topics = Topics.fresh("keys")
    produce(kafka_broker.bootstrap, topics.input, [])  # the topic, with its partitions
    send(kafka_broker.bootstrap, topics.input, [(b"s1", event(0, "s1")), (b"s2", event(1, "s1")),
                                                (None, event(2, "s1")), (b"s1", None), (b"s1", event(4, "s1"))])
    worker = start_worker(kafka_broker.bootstrap, topics, tmp_path, "--commit-interval", "0.5")
    wait_for(lambda: worker.consumed() >= 5 and worker.caught_up(), 60, "the five records handled", worker)
    metrics = worker.metrics()
    assert worker.stop() == 0, worker.log()[-3000:]
    dead = {orjson.loads(r.value)["event_id"]: dict(r.headers)["reason"].decode()
            for r in read_topic(kafka_broker.bootstrap, topics.dead_letters)}
    assert dead == {"e1": "key_mismatch", "e2": "missing_key"}
    judged = {orjson.loads(r.value)["event_id"] for r in read_topic(kafka_broker.bootstrap, topics.violations)}
    assert judged == {"e0", "e4"}
    assert metrics['stream_guard_skipped_records_total{reason="tombstone"}'] == 1


def test_a_scrape_in_a_lull_after_a_burst_reads_the_bursts_figures(kafka_broker, tmp_path):
    """The per-shop gauges equal the reply rows the worker wrote, a few seconds after the last
    record, with no record since: they are published when the traffic stops, not at the next batch."""
    topics = Topics.fresh("lull")
    lines = list(generate(GenConfig(seed=3, shops=6, events=6000)).lines())
    produce(kafka_broker.bootstrap, topics.input, [])
    worker = start_worker(kafka_broker.bootstrap, topics, tmp_path, "--commit-interval", "0.5", "--batch-size", "500")
    produce(kafka_broker.bootstrap, topics.input, lines)
    wait_for(lambda: worker.consumed() >= len(lines) and worker.caught_up(), 120, "the burst handled", worker)
    time.sleep(3)  # the lull: the heartbeat publishes within a second, the rows are committed
    scraped = worker.metrics()
    latest: dict[tuple[str, str], dict] = {}
    for record in read_topic(kafka_broker.bootstrap, topics.reply_metrics):
        row = orjson.loads(record.value)
        key = (row["platform"], row["shop_id"])
        if key not in latest or row["day"] >= latest[key]["day"]:
            latest[key] = row
    shown = {(labels["platform"], labels["shop_id"]): value
             for labels, value in gauge(scraped, "stream_guard_shop_consults")}
    assert shown and all(shown[key] == latest[key]["consults"] for key in shown), (shown, latest)
    assert worker.stop() == 0


def gauge(samples: dict[str, float], name: str):
    for key, value in samples.items():
        if key.startswith(name + "{"):
            yield dict(re.findall(r'(\w+)="([^"]*)"', key)), value


def test_misrouted_records_are_rekeyed_to_their_shops_partition_when_asked(kafka_broker, tmp_path):
    """With `--misrouted-records repartition`, events written to the wrong partition (a wrong key,
    or none) go through the repartition topic to their shop's partition: judged and tracked there,
    no dead letter. A copy of a re-keyed record (a re-keying repeated after a crash) is judged
    again but not tracked: it is not even a late event; a copy without its source is."""
    topics = Topics.fresh("rekey")
    produce(kafka_broker.bootstrap, topics.input, [])
    shops = [s for s in (f"shop{i}" for i in range(40)) if partition_of(s, INPUT_PARTITIONS) != 0][:3]
    records = []
    for n, shop in enumerate(shops):
        key = None if n == 0 else b"not-" + shop.encode()
        records += [(key, message(10 * n, shop, "buyer", "能开发票吗", 0)),
                    (key, message(10 * n + 1, shop, "agent", "不开发票", 30_000)),
                    (key, message(10 * n + 2, shop, "buyer", "好吧", 120_000))]  # moves the watermark on
    send(kafka_broker.bootstrap, topics.input, records)
    worker = start_worker(kafka_broker.bootstrap, topics, tmp_path, "--commit-interval", "0.5",
                          "--misrouted-records", "repartition")
    repartition = f"{topics.group}-{topics.input}-shop_id-repartition"
    wait_for(lambda: worker.consumed() >= 2 * len(records), 60, "every record and its re-keyed copy", worker)

    def rows():
        return {orjson.loads(r.value)["shop_id"]: orjson.loads(r.value)
                for r in read_topic(kafka_broker.bootstrap, topics.reply_metrics)}

    wait_for(lambda: all(rows().get(shop, {}).get("valid") == 1 for shop in shops), 30, "the reply rows", worker)
    assert read_topic(kafka_broker.bootstrap, topics.dead_letters) == []
    violations = read_topic(kafka_broker.bootstrap, topics.violations)
    assert sorted((r.key.decode(), r.partition) for r in violations) == sorted(
        (shop, partition_of(shop, INPUT_PARTITIONS)) for shop in shops)
    rekeyed = read_topic(kafka_broker.bootstrap, repartition)
    assert sorted((r.key.decode(), r.partition) for r in rekeyed) == sorted(
        (shop, partition_of(shop, INPUT_PARTITIONS)) for shop in shops for _ in range(3))
    metrics = worker.metrics()
    assert metrics['stream_guard_rekeyed_records_total{reason="missing_key"}'] == 3
    assert metrics['stream_guard_rekeyed_records_total{reason="key_mismatch"}'] == 6
    assert all((row["consults"], row["valid"]) == (1, 1) for row in rows().values())

    first = next(r for r in rekeyed if orjson.loads(r.value)["event_id"] == "e0")
    copy_to(kafka_broker.bootstrap, repartition, first, keep_source=True)
    wait_for(lambda: worker.consumed() >= 2 * len(records) + 1, 30, "the copy", worker)
    assert worker.metrics().get('stream_guard_late_events_total{platform="taobao"}', 0) == 0
    copy_to(kafka_broker.bootstrap, repartition, first, keep_source=False)
    wait_for(lambda: worker.metrics().get('stream_guard_late_events_total{platform="taobao"}', 0) == 1, 30,
             "the copy without a source, a late event", worker)
    assert worker.stop() == 0, worker.log()[-3000:]


def message(n: int, shop: str, sender: str, text: str, after_ms: int) -> bytes:
    return orjson.dumps({"event_id": f"e{n}", "platform": "taobao", "shop_id": shop, "conversation_id": "c1",
                         "buyer_id": "b1", "sender": sender, "text": text, "ts": T0 + after_ms})


def copy_to(bootstrap: str, topic: str, record, keep_source: bool) -> None:
    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, record.value, key=record.key, partition=record.partition,
                                         headers=list(record.headers) if keep_source else None)
        finally:
            await producer.stop()

    asyncio.run(run())

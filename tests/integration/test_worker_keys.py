"""The worker on records keyed wrong, not keyed, or with no value: the first two are dead letters
with their own reasons, the tombstone is skipped and counted; the well-keyed events around them
are judged as ever. And its figures after traffic stops: every partition has a lag, the per-shop
gauges are the last batch's."""
from __future__ import annotations

import asyncio
import re
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from worker_harness import Topics, kill_started_workers, produce, read_topic, start_worker, wait_for

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

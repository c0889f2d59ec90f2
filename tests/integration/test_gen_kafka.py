"""`stream-guard gen --broker`: the day lands in a real Kafka topic, keyed by shop, in order."""
import asyncio
import json
import subprocess
import sys
import uuid
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer

from stream_guard.gen import GenConfig, generate
from stream_guard.kafka.io import shop_key

pytestmark = pytest.mark.kafka


async def consume_all(bootstrap: str, topic: str, expected: int) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    records = []
    try:
        while len(records) < expected:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 60)
            for messages in batch.values():
                records += messages
    finally:
        await consumer.stop()
    return records


def test_gen_produces_the_day_keyed_by_shop_in_order(kafka_broker, tmp_path):
    topic = f"sg-gen-{uuid.uuid4().hex[:8]}"
    args = ["--seed", "3", "--shops", "12", "--events", "3000", "--bad-rate", "0.01"]
    done = subprocess.run([sys.executable, "-m", "stream_guard", "gen", *args, "--broker", kafka_broker.bootstrap,
                           "--topic", topic, "--partitions", "3", "--labels", str(tmp_path / "labels.json"),
                           "--quiet"], capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()
    lines = list(generate(GenConfig(seed=3, shops=12, events=3000, bad_rate=0.01)).lines())
    records = asyncio.run(consume_all(kafka_broker.bootstrap, topic, len(lines)))
    assert sorted(r.value for r in records) == sorted(lines)
    assert {r.partition for r in records} == {0, 1, 2}
    # each shop's records are in one partition, in the generator's order
    by_key = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key[r.key].append((r.partition, r.value))
    expected = defaultdict(list)
    for line in lines:
        expected[shop_key(line)].append(line)
    for key, produced in by_key.items():
        if key is not None:
            assert len({p for p, _ in produced}) == 1
        assert sorted(v for _, v in produced) == sorted(expected[key])
        if key is not None:
            assert [v for _, v in produced] == expected[key]
    assert None in by_key  # the bad lines went too, without a key
    labels = json.loads((tmp_path / "labels.json").read_text())
    # a record without a shop key is one of the labelled bad lines
    unkeyed = {number for number, line in enumerate(lines, 1) if shop_key(line) is None}
    assert unkeyed and unkeyed <= {r["line"] for r in labels["rejects"]}

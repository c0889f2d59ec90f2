"""`stream-guard worker` on the real broker, beside a plain aiokafka consumer and a plain Faust agent.

One run, one broker (`scripts/kafka_local.py`, the `kafka_broker` fixture), one input topic of 4
partitions holding a generated day (`stream_guard.gen`: buyers, agents, bots, violations, reply
turns and bad lines, keyed by shop), each reader a separate process with a fresh consumer group
(the peers are in `worker_peers/`):
- raw: aiokafka `getmany()` over the whole topic (`worker_peers/aiokafka_consumer.py`): the ceiling;
- agent: a plain Faust agent, `async for event in stream` (`worker_peers/faust_agent.py`), on the
  first records only since it is slow: the naive baseline;
- worker: `stream-guard worker` (tests/worker_harness.py starts it) from its first to its last
  record, by its `stream_guard_events_consumed_total` sampled every 0.5 s (between the first and
  the last sample taken while it was under way); "to committed" is records / the time from the
  first sample with records consumed until the group's committed offsets reach the topic's end.
- engine: `Engine.process_batch` on the same day's lines, no Kafka (`worker_peers/engine_rate.py`).
  With the raw rate it bounds what one process can reach: consuming a record costs it 1/raw and
  judging it 1/engine, so no worker process gets past 1/(1/raw + 1/engine), produce and commit
  not even counted; the figures show that bound beside the budget of 50% of raw.
Each reports its rate from its first to its last record (start-up and group join excluded).

Latency: another worker on a topic of its own, at its end, gets a second generated day (more
violations, for samples) produced at a paced rate: 1k/s, 10k/s and `MAX_LOAD_SHARE` of the rate
the worker reached above (the maximum sustained). The time each record is handed to the producer
is kept by event id; the violations topic is read in the same process, and latency = the time a
violation is read - the time its event was produced (first violation of each event).

Budgets, reported, never asserted: worker >= 50% of the raw getmany rate and >= 100k events/s
per process; p99 <= 250 ms at 10k/s. With --benchmark-disable (the `make test` smoke run) the
days are about ten thousand records and each load lasts half a second.
"""
from __future__ import annotations

import asyncio
import math
import time
import urllib.request
from collections import defaultdict

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import murmur2
from figures import record
from worker_harness import Topics, committed_lag, produce, start_worker, topic_partitions, wait_for
from worker_peers import run_peer

from stream_guard.gen import GenConfig, generate
from stream_guard.kafka.io import prepare_topics, send_batches
from stream_guard.kafka.security import KafkaSecurity

pytestmark = pytest.mark.kafka

BUDGET_SHARE_OF_RAW = 0.5
BUDGET_EVENTS_PER_S = 100_000
BUDGET_P99_AT_10K_S = 0.250
PARTITIONS = 4
DAY_SEED = 11
MAX_LOAD_SHARE = 0.8  # the "maximum sustained" load: this share of the worker's measured rate
SAMPLE_EVERY_S = 0.5  # each /metrics scrape costs the worker CPU: at 10 a second, about 20%

FULL = {"day_events": 250_000, "shops": 5_000, "agent_records": 60_000,
        "latency_events": 150_000, "latency_shops": 2_000, "load_seconds": 10.0, "max_load_seconds": 5.0}
SMOKE = {"day_events": 10_000, "shops": 40, "agent_records": 1_000,
         "latency_events": 10_000, "latency_shops": 40, "load_seconds": 0.5, "max_load_seconds": 0.5}


def _smoke(config) -> bool:
    return bool(config.getoption("benchmark_disable", False))


@pytest.fixture(scope="module")
def scale(pytestconfig) -> dict:
    return SMOKE if _smoke(pytestconfig) else FULL


@pytest.fixture(scope="module")
def worker_results(results) -> dict:
    return results.setdefault("worker", {})


@pytest.fixture(scope="module")
def day_topic(kafka_broker, scale, worker_results) -> Topics:
    """A generated day (about 2 lines per target event) produced to a fresh input topic."""
    lines = list(generate(GenConfig(seed=DAY_SEED, shops=scale["shops"], events=scale["day_events"])).lines())
    topics = Topics.fresh("bench")
    produce(kafka_broker.bootstrap, topics.input, lines, partitions=PARTITIONS)
    worker_results["records"] = len(lines)
    worker_results["shops"] = scale["shops"]
    return topics


def test_raw_getmany(kafka_broker, day_topic, worker_results):
    worker_results["raw"] = _consumer_rate("aiokafka_consumer.py", kafka_broker.bootstrap, day_topic.input,
                                           worker_results["records"])


def test_faust_agent(kafka_broker, day_topic, worker_results, scale):
    expect = min(scale["agent_records"], worker_results["records"])
    worker_results["agent"] = _consumer_rate("faust_agent.py", kafka_broker.bootstrap, day_topic.input, expect)


def test_core_alone(day_topic, worker_results, scale):
    """The engine on the same day without Kafka: with the raw rate, the bound of one process."""
    result = run_peer("engine_rate.py", ["--seed", str(DAY_SEED), "--shops", str(scale["shops"]),
                                         "--events", str(scale["day_events"])])
    assert "error" not in result, result
    assert result["messages"] == worker_results["records"], result
    worker_results["core"] = _rate(result)


def _consumer_rate(script: str, bootstrap: str, topic: str, expect: int) -> dict:
    result = run_peer(script, ["--bootstrap", bootstrap, "--topic", topic, "--expect", str(expect),
                               "--timeout", "600"])
    assert "error" not in result and not result.get("timed_out"), result
    assert result["messages"] >= expect, result
    return _rate(result)


def _rate(result: dict) -> dict:
    return {"records": result["messages"], "seconds": result["seconds"], "rate": result["msgs_per_s"]}


def test_worker_day(kafka_broker, day_topic, worker_results, tmp_path):
    bootstrap, total = kafka_broker.bootstrap, worker_results["records"]
    worker = start_worker(bootstrap, day_topic, tmp_path)
    try:
        samples = []  # (monotonic time, records consumed)
        deadline = time.monotonic() + 600
        while (not samples or samples[-1][1] < total) and time.monotonic() < deadline:
            samples.append((time.monotonic(), worker.consumed()))
            assert worker.process.poll() is None, worker.log()[-3000:]
            time.sleep(SAMPLE_EVERY_S)
        assert samples and samples[-1][1] >= total, worker.log()[-3000:]
        wait_for(lambda: committed_lag(bootstrap, day_topic.input, day_topic.group) == 0, 120,
                 "the committed offsets at the end", worker, every=0.2)
        committed_at = time.monotonic()
        assert worker.stop() == 0, worker.log()[-3000:]
    finally:
        if worker.process.poll() is None:
            worker.kill()
    # samples taken in the middle of the run only: the counter moves a batch at a time, and a
    # sample at either end would count the wait before the first record or after the last
    inside = [(t, c) for t, c in samples if 0 < c < total]
    (t_first, c_first), (t_last, c_last) = (inside[0], inside[-1]) if inside else (samples[-1], samples[-1])
    first_seen = next(t for t, c in samples if c)
    worker_results["worker"] = {
        "records": total, "seconds": round(t_last - t_first, 3),
        # None: the run was over within two samples (the smoke run)
        "rate": round((c_last - c_first) / (t_last - t_first)) if len(inside) >= 2 else None,
        "to_committed_rate": round(total / (committed_at - first_seen)),
    }


# ---- latency ----------------------------------------------------------------------------------------


def test_latency(kafka_broker, scale, worker_results, tmp_path):
    bootstrap = kafka_broker.bootstrap
    lines = list(generate(GenConfig(seed=12, shops=scale["latency_shops"], events=scale["latency_events"],
                                    violation_rate=0.15)).lines())
    topics = Topics.fresh("latency")
    asyncio.run(prepare_topics(bootstrap, {topics.input: (PARTITIONS, 1, {})}, KafkaSecurity()))
    worker = start_worker(bootstrap, topics, tmp_path)
    try:
        wait_for(lambda: _ready(worker.metrics_port), 60, "the worker to be ready", worker)
        measured = (worker_results.get("worker") or {}).get("rate") or 10_000
        loads = [("1k/s", 1_000, scale["load_seconds"]), ("10k/s", 10_000, scale["load_seconds"]),
                 ("max", round(MAX_LOAD_SHARE * measured), scale["max_load_seconds"])]
        rows = asyncio.run(_measure_loads(bootstrap, topics, lines, loads, worker))
        assert worker.stop() == 0, worker.log()[-3000:]
    finally:
        if worker.process.poll() is None:
            worker.kill()
    worker_results["latency"] = rows


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


class Lines:
    """The day's lines with what pacing them needs: key, partition (Kafka's default partitioner,
    so a shop stays in one partition) and event id."""

    def __init__(self, lines: list[bytes]):
        self.values = lines
        self.keys, self.partitions, self.event_ids = [], [], []
        partition_of: dict[bytes, int] = {}
        for index, line in enumerate(lines):
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                event = None
            ok = type(event) is dict
            shop, event_id = (event.get("shop_id"), event.get("event_id")) if ok else (None, None)
            key = shop.encode() if type(shop) is str else None
            if key is not None and key not in partition_of:
                partition_of[key] = (murmur2(key) & 0x7FFFFFFF) % PARTITIONS
            self.keys.append(key)
            self.partitions.append(partition_of[key] if key is not None else index % PARTITIONS)
            self.event_ids.append(event_id if type(event_id) is str else None)


async def _measure_loads(bootstrap: str, topics: Topics, raw_lines: list[bytes], loads: list, worker) -> list:
    lines = Lines(raw_lines)
    sent_at: dict[str, float] = {}   # event id -> when it was handed to the producer
    latency: dict[str, float] = {}   # event id -> seconds to its first violation being read
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0, max_batch_size=1 << 20)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    await producer.start()
    await reader.start()
    stop = asyncio.Event()
    try:
        partitions = await topic_partitions(reader, topics.violations)
        reader.assign(partitions)
        await reader.seek_to_end(*partitions)
        reading = asyncio.create_task(_read_violations(reader, sent_at, latency, stop))
        rows, start = [], 0
        for name, rate, seconds in loads:
            end = min(len(raw_lines), start + max(1, round(rate * seconds)))
            offered = await _paced(producer, topics.input, lines, start, end, rate, sent_at)
            consumed_by_then = await asyncio.to_thread(worker.consumed)
            caught_up = await _settle(worker, end, latency)
            samples = sorted(latency[e] for e in lines.event_ids[start:end] if e in latency)
            rows.append({"load": name, "target_rate": rate, "offered_rate": round(offered),
                         "records": end - start, "violations": len(samples),
                         "kept_up": caught_up, "behind_at_end": max(0, end - int(consumed_by_then)),
                         **{f"p{label}": _percentile(samples, q) for label, q in
                            (("50", 0.50), ("99", 0.99), ("999", 0.999))},
                         "max": samples[-1] if samples else None})
            start = end
            if start >= len(raw_lines):
                break
        stop.set()
        await reading
    finally:
        await reader.stop()
        await producer.stop()
    return rows


async def _paced(producer, topic: str, lines: Lines, start: int, end: int, rate: float, sent_at: dict) -> float:
    """Produce lines[start:end] at `rate` a second in 2 ms steps; the rate actually offered."""
    began, index, futures = time.perf_counter(), start, []
    while index < end:
        due = min(end, start + int((time.perf_counter() - began) * rate) + 1)
        if due > index:
            records = defaultdict(list)
            now = time.perf_counter()
            for i in range(index, due):
                records[topic, lines.partitions[i]].append((lines.keys[i], lines.values[i], []))
                if lines.event_ids[i] is not None:
                    sent_at[lines.event_ids[i]] = now
            futures += await send_batches(producer, records)
            index = due
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - began
    await asyncio.gather(*futures)
    return (end - start) / elapsed if elapsed > 0 else float(end - start)


async def _settle(worker, consumed_target: int, latency: dict, quiet_s: float = 1.0, timeout: float = 120) -> bool:
    """Wait until the worker consumed everything produced so far and no violation arrived for
    `quiet_s`; whether it caught up within the timeout."""
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(worker.consumed) < consumed_target:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    seen = -1
    while seen != len(latency) and time.monotonic() < deadline:
        seen = len(latency)
        await asyncio.sleep(quiet_s)
    return True


async def _read_violations(reader, sent_at: dict, latency: dict, stop: asyncio.Event) -> None:
    while not stop.is_set():
        fetched = await reader.getmany(timeout_ms=100)
        now = time.perf_counter()
        for records in fetched.values():
            for message in records:
                event_id = orjson.loads(message.value)["event_id"]
                if event_id in sent_at and event_id not in latency:
                    latency[event_id] = now - sent_at[event_id]


def _percentile(ordered: list[float], q: float) -> float | None:
    """Nearest rank."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# ---- figures ---------------------------------------------------------------------------------------


def benchmark_tables(res: dict) -> list[dict]:
    res = res.get("worker") or {}  # this module's part of the results (`worker_results`)
    raw, agent, ours, core = (res.get(k) for k in ("raw", "agent", "worker", "core"))
    rate = {name: r["rate"] for name, r in (("aiokafka getmany", raw), ("Faust agent", agent),
                                            ("engine alone", core)) if r}
    case = "generated day, 4 partitions"
    rows = []
    if raw:
        rows.append(record(case, "plain aiokafka getmany (the ceiling)", raw["rate"], "records/s",
                           note=f"{raw['records']:,} records of {res['shops']:,} shops"))
    if agent:
        rows.append(record(case, "plain Faust agent (the baseline)", agent["rate"], "records/s",
                           note=f"the first {agent['records']:,} records"))
    if core:
        rows.append(record(case, "the engine alone, no Kafka", core["rate"], "records/s"))
    if raw and core and raw["rate"] and core["rate"]:
        rows.append(record(case, "bound of one process: 1/(1/raw + 1/engine)",
                           1 / (1 / raw["rate"] + 1 / core["rate"]), "records/s"))
    if ours:
        short = "" if ours["rate"] else "too short to measure (quick run)"
        rows.append(record(case, "stream-guard worker", ours["rate"], "records/s",
                           budget=(">=", BUDGET_EVENTS_PER_S), peers=rate, note=short))
        share = ours["rate"] / raw["rate"] if ours["rate"] and raw and raw["rate"] else None
        rows.append(record(case, "stream-guard worker / aiokafka getmany", share, "x",
                           budget=(">=", BUDGET_SHARE_OF_RAW), note=short))
        rows.append(record(case, "stream-guard worker, to the last offset committed", ours["to_committed_rate"],
                           "records/s"))
    latency = []
    for r in res.get("latency") or []:
        load = f"{r['load']} load"
        kept = "kept up" if r["kept_up"] else "fell behind"
        latency += [record(load, f"produce to violation, {label}", r[key] and 1000 * r[key], "ms",
                           budget=("<=", BUDGET_P99_AT_10K_S * 1000) if key == "p99" and r["load"] == "10k/s"
                           else None,
                           note=(f"offered {r['offered_rate']:,}/s, {r['violations']:,} violations, {kept}"
                                 if key == "p50" else ""))
                    for key, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max"))]
    return [
        {"name": "worker", "title": "The worker on a real broker",
         "about": "Records per second from the first record to the last, each reader its own process with a "
                  "fresh consumer group on the same topic of a generated day.",
         "records": rows},
        {"name": "worker_latency", "title": "The worker's produce-to-violation latency",
         "about": "A paced producer at each load; latency is the time a violation is read minus the time its "
                  "event was handed to the producer (first violation of each event).",
         "records": latency},
    ]

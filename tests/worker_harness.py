"""Running `stream-guard worker` processes against the real broker, and what scan says they must give.

A test makes a generated day (plus one closing event per shop two days later, so every shop's day
is closed and its reply row final, as it would be in a live stream), produces it keyed by shop,
runs workers as real processes (killed with SIGKILL or stopped with SIGTERM), reads the output
topics back and compares them with `stream-guard scan` on the same lines.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_guard.gen import GenConfig, generate
from stream_guard.kafka.io import prepare_topics, produce_records
from stream_guard.kafka.security import KafkaSecurity
from stream_guard.worker.outputs import key_partition

PLAINTEXT = KafkaSecurity()

DAY_MS = 86_400_000
INPUT_PARTITIONS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PLATFORMS = ("taobao", "tmall", "pinduoduo", "jd", "douyin")


def generated_day(seed: int, shops: int, events: int) -> list[bytes]:
    return list(generate(GenConfig(seed=seed, shops=shops, events=events)).lines())


def day_with_closing_events(seed: int, shops: int, events: int) -> list[bytes]:
    """A generated day's lines, then one system event per shop two days on: it moves each shop's
    watermark past the day, so the day is closed and decided in the worker as in scan."""
    lines = generated_day(seed, shops, events)
    return lines + closing_events(lines, [shop for shop, _ in shops_of(lines)])


def day_closed_by_partition_time(seed: int, shops: int, events: int,
                                 partitions: int = INPUT_PARTITIONS) -> list[bytes]:
    """A generated day's lines, then one system event two days on for one shop of each input
    partition: the partition's time closes the day of every shop in it."""
    lines = generated_day(seed, shops, events)
    first_of: dict[int, str] = {}
    for shop_id, _ in shops_of(lines):
        first_of.setdefault(partition_of(shop_id, partitions), shop_id)
    return lines + closing_events(lines, list(first_of.values()))


def partition_of(shop_id: str, partitions: int) -> int:
    """The input partition a shop's events go to (the producer's default partitioner)."""
    return key_partition(shop_id.encode(), partitions)


def shops_of(lines: list[bytes]) -> list[tuple[str, str]]:
    """(shop_id, platform) of the lines' events on tracked platforms, sorted."""
    shop_platform: dict[str, str] = {}
    for event in _events(lines):
        if event.get("platform") in PLATFORMS:
            shop_platform.setdefault(event["shop_id"], event["platform"])
    return sorted(shop_platform.items())


def closing_events(lines: list[bytes], shops: list[str]) -> list[bytes]:
    """A system event for each of `shops`, two days after the lines' last event."""
    closing_ts = max(event["ts"] for event in _events(lines)) + 2 * DAY_MS
    platform_of = dict(shops_of(lines))
    return [orjson.dumps({"event_id": f"closing-{shop_id}", "platform": platform_of[shop_id], "shop_id": shop_id,
                          "conversation_id": "closing", "buyer_id": "closing", "sender": "system", "text": "",
                          "ts": closing_ts})
            for shop_id in shops]


def _events(lines: list[bytes]):
    """The lines that are events with a time and a shop (the generated day has bad records too)."""
    for line in lines:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if type(event) is dict and type(event.get("ts")) is int and type(event.get("shop_id")) is str:
            yield event


@dataclass
class Topics:
    name: str  # unique per test: topics and group do not meet other tests'

    @property
    def input(self) -> str:
        return f"{self.name}-events"

    @property
    def violations(self) -> str:
        return f"{self.name}-violations"

    @property
    def dead_letters(self) -> str:
        return f"{self.name}-dead-letters"

    @property
    def reply_metrics(self) -> str:
        return f"{self.name}-reply-metrics"

    @property
    def group(self) -> str:
        return f"{self.name}-group"

    @classmethod
    def fresh(cls, label: str) -> Topics:
        return cls(f"{label}-{uuid.uuid4().hex[:8]}")



def produce(bootstrap: str, topic: str, lines: list[bytes], partitions: int = INPUT_PARTITIONS,
            security: KafkaSecurity = PLAINTEXT) -> None:
    asyncio.run(prepare_topics(bootstrap, {topic: (partitions, 1, {})}, security))
    assert asyncio.run(produce_records(bootstrap, topic, lines, security)) == len(lines)


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    metrics_port: int
    log_path: Path

    def metrics(self) -> dict[str, float]:
        """Samples of the worker's /metrics: 'name{labels}' -> value ({} when it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as reply:
                text = reply.read().decode()
        except OSError:
            return {}
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def consumed(self) -> float:
        return self.metrics().get("stream_guard_events_consumed_total", 0.0)

    def caught_up(self, partitions: int = INPUT_PARTITIONS) -> bool:
        """Every input partition handled to its end: a consumer lag of 0 on each. (Records
        consumed can reach the input's count sooner: a rebalance replays a partition from its
        committed offset, and the replayed records count again.)"""
        lags = [v for k, v in self.metrics().items() if k.startswith("stream_guard_consumer_lag{")]
        return len(lags) == partitions and not any(lags)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait: the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


_started: list[WorkerProcess] = []


def kill_started_workers() -> None:
    """SIGKILL every worker this process started that still runs: a failed test leaves none behind."""
    while _started:
        worker = _started.pop()
        if worker.process.poll() is None:
            worker.kill()


def start_worker(bootstrap: str, topics: Topics, workdir: Path, *extra: str) -> WorkerProcess:
    port = free_port()
    log_path = workdir / f"worker-{port}.log"
    args = [sys.executable, "-m", "stream_guard", "worker", "--broker", bootstrap,
            "--input-topic", topics.input, "--violations-topic", topics.violations,
            "--dead-letter-topic", topics.dead_letters, "--reply-metrics-topic", topics.reply_metrics,
            "--group-id", topics.group, "--metrics-port", str(port), "--metrics-addr", "127.0.0.1",
            "--state-dir", str(workdir / f"state-{port}"),
            # the generated days lie in the past and some tests produce them in pieces: a quiet
            # partition's time must not jump to the wall clock between two pieces, unless a test
            # asks for it (a later flag wins)
            "--partition-idle-after", "0", *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_GUARD_")}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    worker = WorkerProcess(process, port, log_path)
    _started.append(worker)
    wait_for(lambda: worker.metrics() or process.poll() is not None, 60, "the worker's /metrics", worker)
    assert process.poll() is None, worker.log()[-3000:]
    return worker


def wait_for(condition, timeout: float, what: str, *workers: WorkerProcess, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    logs = "\n".join(w.log()[-4000:] for w in workers)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")


def read_topic(bootstrap: str, topic: str) -> list:
    """Every record of the topic, from the beginning to its current end."""

    async def read():
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            partitions = await topic_partitions(consumer, topic)
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            records = []
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for batch in (await consumer.getmany(timeout_ms=1000)).values():
                    records.extend(batch)
            return records
        finally:
            await consumer.stop()

    return asyncio.run(read())


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    known = consumer.partitions_for_topic(topic)
    if not known:
        await consumer._client.force_metadata_update()
        known = consumer.partitions_for_topic(topic) or ()
    return [TopicPartition(topic, p) for p in sorted(known)]


def committed_lag(bootstrap: str, topic: str, group: str) -> int:
    """Records of the topic past the group's committed offsets."""

    async def lag():
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = await topic_partitions(consumer, topic)
            ends = await consumer.end_offsets(partitions)
            behind = 0
            for tp in partitions:
                behind += ends[tp] - ((await consumer.committed(tp)) or 0)
            return behind
        finally:
            await consumer.stop()

    return asyncio.run(lag())


@dataclass
class Expected:
    """What scan gives on the lines."""
    violations: dict[str, dict]           # violation_id -> record
    rejects: Counter                      # (record bytes, reason) -> count
    rows: dict[bytes, dict]               # reply row key -> row, the generated day only


@dataclass
class Observed:
    violations: dict[str, dict]
    violation_records: int
    rejects: Counter = field(default_factory=Counter)
    rows: dict[bytes, dict] = field(default_factory=dict)


def scan_expected(lines: list[bytes], workdir: Path) -> Expected:
    day = workdir / "day.jsonl"
    day.write_bytes(b"\n".join(lines) + b"\n")
    out, rejects, report = workdir / "scan-violations.jsonl", workdir / "scan-rejects.jsonl", workdir / "report.json"
    subprocess.run([sys.executable, "-m", "stream_guard", "scan", str(day), "--quiet", "--out", str(out),
                    "--rejects", str(rejects), "--report", str(report)], check=True)
    violations = {v["violation_id"]: v for v in map(orjson.loads, out.read_bytes().splitlines())}
    rejected = Counter((lines[r["line"] - 1], r["reason"])
                       for r in map(orjson.loads, rejects.read_bytes().splitlines()))
    first_day = min(row["day"] for row in orjson.loads(report.read_bytes())["shops"])
    rows = {f"{r['shop_id']}/{r['platform']}/{r['day']}".encode(): r
            for r in orjson.loads(report.read_bytes())["shops"] if r["day"] == first_day}
    return Expected(violations, rejected, rows)


def observe(bootstrap: str, topics: Topics, rows_of_day: set[bytes]) -> Observed:
    records = read_topic(bootstrap, topics.violations)
    violations = {}
    for record in records:
        violation = orjson.loads(record.value)
        violations[violation["violation_id"]] = violation
    observed = Observed(violations, len(records))
    by_source = {}  # a redelivered dead letter has the same source offset
    for record in read_topic(bootstrap, topics.dead_letters):
        headers = dict(record.headers)
        by_source[headers["source"]] = (record.value, headers["reason"].decode())
    observed.rejects = Counter(by_source.values())
    for record in read_topic(bootstrap, topics.reply_metrics):  # in order: the latest value wins
        if record.key in rows_of_day:
            observed.rows[record.key] = orjson.loads(record.value)
    return observed


def final_rows(bootstrap: str, topics: Topics, keys: set[bytes]) -> bool:
    """Whether the latest reply row of every key is final."""
    latest = {}
    for record in read_topic(bootstrap, topics.reply_metrics):
        if record.key in keys:
            latest[record.key] = orjson.loads(record.value)
    return latest.keys() == keys and all(row["final"] for row in latest.values())


def assert_same_as_scan(observed: Observed, expected: Expected) -> None:
    missing = expected.violations.keys() - observed.violations.keys()
    extra = observed.violations.keys() - expected.violations.keys()
    assert not missing and not extra, f"{len(missing)} violations missing, {len(extra)} unexpected"
    assert observed.violations == expected.violations
    assert observed.rejects == expected.rejects
    assert observed.rows.keys() == expected.rows.keys()
    differing = {key: (observed.rows[key], expected.rows[key]) for key in expected.rows
                 if observed.rows[key] != expected.rows[key]}
    assert not differing, f"{len(differing)} reply rows differ (worker, scan): {differing}"

"""`stream-guard worker`: the engine on the Kafka chat stream, as a Faust app.

The same `Engine` as `scan` judges the records; this module only moves bytes and state:

    chat-events --(BatchConsumer: whole fetched batches per partition)--> Engine.process_batch
        -> violations (chat-violations) and dead letters (chat-dead-letters), per batch
        -> reply rows (chat-reply-metrics) and shop snapshots (the reply_state changelog), per commit
        -> misrouted events, with `misrouted_records = repartition`: the repartition topic, which
           comes back in as a second input, to the shop's partition
    once a second: each partition's shops moved to the partition's time (partition_time.py)

Delivery is at least once with idempotent outputs: a batch's input offsets are marked for commit
only when all of its outputs are acknowledged, strictly in batch order; before each commit the
reply rows and the snapshots of the shops that changed are written and acknowledged, so committed
offsets never run ahead of the state (stream_guard/worker/state.py explains the replay rule).

Why batches below Faust's stream: Faust's per-message path caps an agent near 5k messages/s,
whatever the agent does; `BatchConsumer` (stream_guard/worker/consumer.py) keeps the Faust worker,
group, recovery and commit machinery and hands whole fetches to this module, fetching the next
batch while the engine judges the current one. Outputs are written with the producer's
`create_batch`/`send_batch`, one batch per topic and partition, with the partition given
(Faust's `Producer.send` costs about 140 us a record).

Where a worker's time goes (`benchmarks/test_worker_throughput.py` measures it against raw
`getmany()` on the same topic). Everything shares one GIL: the engine, about 5 us an event on the
decoded columns (`_native/_events.pyx`); aiokafka's Python `ConsumerRecord` for every record, made
in Faust's consumer thread, which is the raw ceiling's own cost (about 3-4 us a record); the
per-commit state, each changed shop's snapshot (about 36 us) written to the changelog, about 1 us
an event at 5,000 busy shops and a commit every 2 s; and metrics. So one process that consumes at
raw's cost and judges at the engine's reaches at most 1/(1/raw + 1/engine) (the benchmark prints
that bound): half of raw only when the engine alone is as fast as raw consumption.

Operations: `/metrics`, `/healthz`, `/readyz` on the metrics port; SIGHUP, or a change in the
rules directory, recompiles the packs aside and swaps them between batches; SIGTERM finishes the
batch in hand, writes its outputs and state, commits and leaves the group.
"""
from __future__ import annotations

import asyncio
import collections
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import faust
from aiokafka.errors import KafkaError
from faust.sensors.monitor import Monitor

from stream_guard.engine.pipeline import Engine, tune_gc
from stream_guard.kafka.io import prepare_topics, send_batches
from stream_guard.observe.log import JsonLogFormatter, log
from stream_guard.observe.metrics import Health, Metrics
from stream_guard.worker.config import WorkerConfig
from stream_guard.worker.consumer import BatchConsumer
from stream_guard.worker.outputs import (
    Outbox,
    dead_letter_record,
    key_partition,
    misrouted_shop,
    rekeyed_record,
    reply_row_record,
    source_of,
    violation_record,
)
from stream_guard.worker.partition_time import PartitionTimes
from stream_guard.worker.state import ReplyState

if TYPE_CHECKING:
    from faust.stores.memory import Store as MemoryStore
    from faust.transport.drivers.aiokafka import Producer as FaustKafkaProducer

STATE_TABLE = "reply_state"
HEARTBEAT_S = 1.0
LAG_EVERY_S = 5.0


class TopicMismatch(Exception):
    """Topics on the broker that cannot serve together: the message is the one line."""


class QuietMonitor(Monitor):
    """Faust's monitor without its per-message, per-event and per-send bookkeeping: the batch
    path bypasses those hooks anyway, and our own metrics count events per batch."""

    def on_message_in(self, tp, offset, message):
        pass

    def on_stream_event_in(self, tp, offset, stream, event):
        return None

    def on_stream_event_out(self, tp, offset, stream, event, state=None):
        pass

    def on_message_out(self, tp, offset, message):
        pass

    def on_send_initiated(self, producer, topic, message, keysize, valsize):
        return None

    def on_send_completed(self, producer, state, metadata):
        pass


def rules_fingerprint(directory: Path) -> tuple:
    """Names, sizes and modification times of the pack files: a change means reload."""
    files = ((path.name, path.stat()) for path in directory.glob("*.toml"))
    return tuple(sorted((name, stat.st_size, stat.st_mtime_ns) for name, stat in files))


class Worker:
    def __init__(self, config: WorkerConfig, partition_counts: dict[str, int]):
        self.config = config
        self.counts = partition_counts
        self.input_partitions = partition_counts[config.input_topic]
        self.metrics = Metrics(shop_series_cap=config.shop_series_cap)
        self.health = Health(stale_after_s=30.0)
        self.health.set_ready(False, "starting")
        self.engine = Engine(config.rules_dir, config.platform_list or None,
                             allowed_lateness_ms=round(config.allowed_lateness * 1000), metrics=self.metrics)
        self.app = self._build_app()
        store = cast("MemoryStore", self.table.data)  # store="memory://"
        self.state = ReplyState(self.engine.tracker, store, store._key_partition)
        self._pending: collections.deque = collections.deque()  # (outputs future, {TP: next offset})
        self._assigned: set = set()
        self._reload_wanted = False
        self._reloading = False
        self._rules_seen = rules_fingerprint(config.rules_dir)
        self._lag_at = 0.0
        self._positions: dict = {}  # TP -> next offset to process
        self._lag: dict = {}  # TP -> records behind the partition's end, as last seen
        self.partition_times = PartitionTimes(config.partition_idle_after)

    # ---- the Faust app ---------------------------------------------------------------------------

    def _build_app(self) -> faust.App:
        c = self.config
        app = faust.App(
            c.group_id,
            broker=[f"kafka://{host}" for host in c.broker.split(",")],
            broker_credentials=c.security.faust_credentials(),
            monitor=QuietMonitor(),
            key_serializer="raw",
            value_serializer="raw",
            store="memory://",
            topic_partitions=self.input_partitions,
            topic_replication_factor=c.replication_factor,
            topic_allow_declare=True,  # the state changelog
            # no leader topic: nothing here runs on the leader only, and it would be one more
            # topic to create and to grant (docs/operations.md#security)
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            broker_max_poll_records=c.batch_size,
            broker_commit_interval=c.commit_interval,
            broker_session_timeout=c.session_timeout,
            broker_heartbeat_interval=min(1.0, c.session_timeout / 3),
            producer_max_batch_size=512 * 1024,
            producer_linger_ms=5,
            web_enabled=False,  # /metrics and health are ours, on the metrics port
            datadir=str(c.state_dir / c.group_id),
        )
        consumer_class = type("StreamGuardConsumer", (BatchConsumer,), {
            "batch_topics": frozenset(self.input_topics),
            "handler": staticmethod(self._handle_batch),
            "pre_commit": staticmethod(self._pre_commit),
            "wait_outputs": staticmethod(self._wait_outputs),
        })
        # this app's transport only (Faust declares the class on the transport's type)
        app.transport.Consumer = consumer_class  # type: ignore[misc]
        # the repartition topic has the input's partition count: Faust's assignor gives partition
        # p of both to the same worker, beside the state's changelog partition p
        for topic in self.input_topics:
            app.topics.add(app.topic(topic, key_serializer="raw", value_serializer="raw"))
        # key and value types declared: Faust recovers a table only through them
        self.table = app.Table(STATE_TABLE, default=None, key_type=bytes, value_type=bytes,
                               schema=faust.Schema(key_type=bytes, value_type=bytes,
                                                   key_serializer="raw", value_serializer="raw"),
                               partitions=self.input_partitions)
        app.on_partitions_assigned.connect(self._on_assigned)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.timer(HEARTBEAT_S)(self._heartbeat)
        if c.reload_poll > 0:
            app.timer(c.reload_poll)(self._watch_rules)
        app.task(self._install_sighup)
        return app

    @property
    def input_topics(self) -> list[str]:
        """The topics the worker consumes: the input, and the repartition topic when misrouted
        records are re-keyed."""
        repartition = self.config.repartition_topic
        return [self.config.input_topic] if repartition is None else [self.config.input_topic, repartition]

    @property
    def producer(self):
        """aiokafka's producer under the app's, for send_batch."""
        return cast("FaustKafkaProducer", self.app.producer)._ensure_producer()

    @property
    def consumer(self) -> BatchConsumer:
        """The app's consumer: the transport makes it of the class `_build_app` gives it."""
        return cast(BatchConsumer, self.app.consumer)

    # ---- the hot path ------------------------------------------------------------------------------

    async def _handle_batch(self, batch: dict) -> None:
        outbox = Outbox(self.counts, self.input_partitions)
        done = {}
        for tp, records in batch.items():
            self._ensure_restored(tp.partition)
            if tp.topic == self.config.input_topic:
                replayed = self.state.replayed(tp.partition, [r.offset for r in records])
                shops = self._judge(outbox, tp, records, replayed)
                self.state.tracked(tp.partition, shops, records[-1].offset + 1)
            else:
                self._judge_rekeyed(outbox, tp, records)
            done[tp] = records[-1].offset + 1
        sent = await self._send(outbox.records)
        outputs = asyncio.gather(*sent) if sent else _resolved()
        self._pending.append((outputs, done))
        outputs.add_done_callback(self._mark_acknowledged)
        self._update_lag(done)

    def _judge(self, outbox: Outbox, tp, records: list, replayed: int) -> set[tuple[str, str]]:
        """Judge and track records of one partition (all but the first `replayed`); put their
        violations, dead letters and re-keyed records in `outbox`. The shops they changed."""
        partition, config = tp.partition, self.config
        result = self.engine.process_batch([r.value for r in records], keys=[r.key for r in records],
                                           replayed=replayed)
        decoded = result.decoded
        self.partition_times.carried(partition, max(decoded.ts) if decoded is not None and decoded.ts else None,
                                     time.monotonic())
        for violation in result.violations:
            outbox.add(config.violations_topic, partition, violation_record(violation))
        mask = self.engine.mask_record if config.personal_data == "masked" else None
        # only input records are re-keyed: a misrouted record of the repartition topic is a dead letter
        repartition = config.repartition_topic if tp.topic == config.input_topic else None
        for index, reject in result.rejects:
            record = records[index]
            source = f"{tp.topic}/{partition}/{record.offset}"
            shop_id = misrouted_shop(reject, record.value) if repartition is not None else None
            if repartition is not None and shop_id is not None:
                outbox.add(repartition, key_partition(shop_id.encode(), self.input_partitions),
                           rekeyed_record(shop_id, record.value, source))
                self.metrics.rekeyed_records.labels(reject.reason).inc()
            else:
                outbox.add(config.dead_letter_topic, partition,
                           dead_letter_record(record.key, record.value, reject, source, mask))
        return result.shops

    def _judge_rekeyed(self, outbox: Outbox, tp, records: list) -> None:
        """Records of the repartition topic, in runs of those the state already includes (judged,
        not tracked) and new ones (stream_guard/worker/state.py gives the rule)."""
        partition = tp.partition
        known = self.state.rekeyed_sources(partition)  # source partition -> next source offset
        runs: list[tuple[bool, list]] = []
        for record in records:
            source = source_of(record.headers)
            seen = source is not None and source[1] < known.get(source[0], 0)
            if source is not None and not seen:
                known[source[0]] = source[1] + 1
            if not runs or runs[-1][0] != seen:
                runs.append((seen, []))
            runs[-1][1].append(record)
        shops: set[tuple[str, str]] = set()
        for seen, run in runs:
            changed = self._judge(outbox, tp, run, replayed=len(run) if seen else 0)
            if not seen:
                shops |= changed
        self.state.rekeyed_tracked(partition, shops, known)

    async def _send(self, records: dict) -> list:
        """Queue every record ({(topic, partition): [(key, value, headers)]}) with the producer;
        the futures of their acknowledgements."""
        return await send_batches(self.producer, records)

    def _ensure_restored(self, partition: int) -> None:
        if not self.state.is_restored(partition):
            self.metrics.state_restored_shops.inc(self.state.restore(partition))
            self.partition_times.reached(partition, self.state.latest_time(partition))

    def _mark_acknowledged(self, _future=None) -> None:
        """Mark input offsets of acknowledged batches, strictly in batch order."""
        consumer = self.consumer
        while self._pending and self._pending[0][0].done():
            outputs, done = self._pending.popleft()
            failure = outputs.exception() if not outputs.cancelled() else asyncio.CancelledError()
            if failure is not None:
                # never commit past outputs that were not written: stop; a restart replays them
                log("outputs_failed", level="error", error=repr(failure))
                self._pending.clear()
                asyncio.ensure_future(consumer.crash(failure))
                return
            for tp, next_offset in done.items():
                consumer.mark_processed(tp, next_offset)

    async def _wait_outputs(self) -> None:
        if self._pending:
            await asyncio.gather(*(outputs for outputs, _ in list(self._pending)), return_exceptions=True)
        self._mark_acknowledged()

    async def _pre_commit(self) -> None:
        """Reply rows, then the state they come from, acknowledged before offsets are committed.
        Rows first: a crash between the two replays the records, and the replay (which does not
        track records already in the state) could not produce those rows again."""
        rows = Outbox(self.counts, self.input_partitions)
        rows_topic = self.config.reply_metrics_topic
        partition_of = self.state.partition_of
        tracker = self.engine.tracker
        for row in tracker.drain_closed_rows():
            rows.add(rows_topic, partition_of[row["platform"], row["shop_id"]], reply_row_record(row))
        for (platform, shop_id), partition in self.state.dirty_shops().items():
            for row in tracker.shop_rows(platform, shop_id):
                rows.add(rows_topic, partition, reply_row_record(row))
        # the state these rows come from, taken at once: a batch or a move of partition time
        # while the rows are sent changes shops whose rows this commit has not written
        changes = self.state.take_changes()
        if len(rows):
            await asyncio.gather(*await self._send(rows.records))
        if changes:  # the changelog is co-partitioned with the input: same partition numbers
            changelog: dict[tuple[str, int], list] = {
                (self.changelog_topic, partition): [(key, value, []) for key, value in records]
                for partition, records in changes.items()}
            await asyncio.gather(*await self._send(changelog))

    @property
    def changelog_topic(self) -> str:
        return self.table.changelog_topic.get_topic_name()

    # ---- partitions, lag, health ------------------------------------------------------------------

    # Faust's signal receivers, called as (sender, partitions, signal=...)
    async def _on_assigned(self, sender: Any = None, assigned: Any = None, /, *args: Any, **kwargs: Any) -> None:
        self._assigned = {tp for tp in assigned or () if tp.topic == self.config.input_topic}
        for tp in self._assigned:
            self.partition_times.assigned(tp.partition, time.monotonic())
        self.metrics.assigned_partitions.set(len(self._assigned))
        log("partitions_assigned", partitions=sorted(tp.partition for tp in self._assigned))

    async def _on_revoked(self, sender: Any = None, revoked: Any = None, /, *args: Any, **kwargs: Any) -> None:
        # BatchConsumer committed the batch in hand and the state before Faust calls this
        ours = {tp for tp in revoked or () if tp.topic in self.input_topics}
        self.state.forget({tp.partition for tp in ours})
        for tp in ours:
            self._positions.pop(tp, None)
            self._lag.pop(tp, None)
            self.partition_times.revoked(tp.partition)
            try:
                self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
            except KeyError:
                pass
        self.health.set_ready(False, "rebalancing")
        log("partitions_revoked", partitions=sorted(tp.partition for tp in ours))

    def _update_lag(self, positions: dict) -> None:
        self._positions.update(positions)
        consumer = self.app.consumer
        for tp, next_offset in positions.items():
            end = consumer.highwater(tp)
            if end is not None:
                self._set_lag(tp, end - next_offset)

    def _set_lag(self, tp, behind: int) -> None:
        self._lag[tp] = max(behind, 0)
        self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(self._lag[tp])

    async def _heartbeat(self) -> None:
        self.health.beat()
        app = self.app
        if not self.consumer.ready_for_input():
            self.health.set_ready(False, "rebalancing" if app.rebalancing else "recovering state")
            return
        for tp in self._assigned:  # partitions with nothing to read yet still show their shops
            self._ensure_restored(tp.partition)
        self.health.set_ready(True, f"serving {len(self._assigned)} partition(s)")
        self._advance_partitions()
        self.engine.refresh_shop_figures()
        if time.monotonic() - self._lag_at >= LAG_EVERY_S:  # idle partitions' ends move too
            self._lag_at = time.monotonic()
            self._update_lag({tp: self._positions[tp] for tp in self._assigned if tp in self._positions})
            await self._lag_of_unread()

    def _advance_partitions(self) -> None:
        """Move each partition's shops to the partition's time (stream_guard/worker/partition_time.py):
        a quiet shop's waiting buyers and old days are decided without an event of its own."""
        now, wall_ms = time.monotonic(), time.time_ns() // 1_000_000
        for tp in self._assigned:
            partition = tp.partition
            caught_up = tp in self._lag and not any(
                behind for read, behind in self._lag.items() if read.partition == partition)
            ts = self.partition_times.time(partition, now, wall_ms, caught_up=caught_up)
            if ts is not None:
                self.state.advanced(partition, self.engine.advance_shops(self.state.shops_in(partition), ts))

    async def _lag_of_unread(self) -> None:
        """A lag for every assigned partition, those no record has come from since the assignment
        too: their lag counts from the consumer's position (the committed offset, until a fetch)."""
        for tp in self._assigned - self._positions.keys():
            try:
                position = await self.consumer.position(tp)
            except KafkaError:  # the partition went in a rebalance meanwhile
                continue
            end = self.app.consumer.highwater(tp)
            if position is not None and end is not None:
                self._set_lag(tp, end - position)
        if self._reload_wanted and not self._reloading:
            await self._reload("sighup")

    # ---- rule reloads ------------------------------------------------------------------------------

    async def _install_sighup(self) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._want_reload)

    def _want_reload(self) -> None:
        self._reload_wanted = True

    async def _watch_rules(self) -> None:
        try:
            seen = rules_fingerprint(self.config.rules_dir)
        except OSError as exc:
            log("rules_unreadable", level="error", error=str(exc))
            return
        if seen != self._rules_seen and not self._reloading:
            self._rules_seen = seen
            await self._reload("file_change")

    async def _reload(self, cause: str) -> None:
        """Compile aside in a thread, swap between batches (Registry.reload swaps one reference;
        a batch takes the rulesets once), so no event is lost or judged twice."""
        self._reload_wanted, self._reloading = False, True
        try:
            problems = await asyncio.get_running_loop().run_in_executor(None, self.engine.reload_rules)
        finally:
            self._reloading = False
        if problems:
            self.metrics.rule_reloads.labels("rejected").inc()
            log("rules_reload_rejected", level="error", cause=cause, problems=problems[:20])
        else:
            self.metrics.rule_reloads.labels("swapped").inc()
            log("rules_reloaded", cause=cause, versions=self.engine.pack_versions())

    # ---- running --------------------------------------------------------------------------------------

    def run(self) -> int:
        c = self.config
        (c.state_dir / c.group_id).mkdir(parents=True, exist_ok=True)
        server, _ = self.metrics.serve(c.metrics_port, c.metrics_addr, health=self.health)
        log("worker_starting", group=c.group_id, input=c.input_topic, partitions=self.input_partitions,
            metrics_port=server.server_port, versions=self.engine.pack_versions())
        tune_gc()
        worker = faust.Worker(self.app, loglevel=c.log_level.upper(), quiet=True, redirect_stdouts=False,
                              logging_config=_logging_config(c.log_level))
        try:
            worker.execute_from_commandline()
        except SystemExit as exit_:
            # mode's worker exits with a status number; a message (never seen) is a failure
            code = exit_.code if isinstance(exit_.code, int) else int(bool(exit_.code))
        else:
            code = 0
        finally:
            server.shutdown()
        log("worker_stopped", exit_code=code)
        return code


def _resolved() -> asyncio.Future:
    future = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


def _logging_config(level: str) -> dict:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLogFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
    }


def start(config: WorkerConfig) -> int:
    input_only: dict[str, tuple[int, int, dict]] = {
        config.input_topic: (config.partitions, config.replication_factor, {})}
    security = config.security
    counts = asyncio.run(prepare_topics(config.broker, input_only, security))
    partitions = counts[config.input_topic]
    outputs = {
        config.violations_topic: (partitions, config.replication_factor, {}),
        config.dead_letter_topic: (partitions, config.replication_factor, {}),
        config.reply_metrics_topic: (partitions, config.replication_factor, {"cleanup.policy": "compact"}),
    }
    if config.repartition_topic is not None:
        outputs[config.repartition_topic] = (partitions, config.replication_factor, {})
    counts.update(asyncio.run(prepare_topics(config.broker, outputs, security)))
    if config.repartition_topic is not None and counts[config.repartition_topic] != partitions:
        raise TopicMismatch(f"--misrouted-records repartition: topic {config.repartition_topic} has "
                              f"{counts[config.repartition_topic]} partitions, the input topic {partitions}; "
                              "they must be the same")
    return Worker(config, counts).run()

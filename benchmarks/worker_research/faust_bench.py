"""Faust (faust-streaming 0.15.3) consume-path benchmark: one mode per process run.

    .venv/bin/python benchmarks/worker_research/faust_bench.py --bootstrap 127.0.0.1:PORT \
        --mode {agent,take,conductor,task,drain} [--decode] [--produce {none,strict,deferred}]
        [--table] [--uvloop] [--quiet-monitor] [--poll-records N] [--expect 1000000]

Modes (all are a real ``faust.Worker``: worker lifecycle, consumer group + Faust assignor,
aiohttp web server, Fetcher/commit/livelock services, the consumer thread):

* ``agent``     plain ``async for event in stream`` (value_serializer='raw').
* ``take``      ``async for batch in stream.take(N, within=W)``.
* ``conductor`` (4a) the Conductor's per-TP callback for our topic is replaced
                (``Conductor._update_callback_map``) by one that appends the ``ConsumerMessage`` to a
                batch buffer; the batch is processed by our code and every message is acked with
                ``Consumer.ack`` so Faust's own commit machinery commits. ``Consumer._drain_messages``
                (per message ``wait_first``) is still in the path.
* ``task``      (4b) an ``app.task`` pulls our topic's partitions itself through the consumer thread
                (``AIOKafkaConsumerThread.getmany``); Faust's Fetcher keeps fetching every other
                partition (changelogs) because ``Consumer._getmany`` is filtered to exclude our topic.
* ``drain``     (4c) ``BatchConsumer`` (subclass of ``faust.transport.drivers.aiokafka.Consumer``,
                installed as ``app.transport.Consumer``) overrides ``_drain_messages``: records of our
                topic go to the batch handler as whole ``getmany`` batches of aiokafka
                ``ConsumerRecord``s; all other partitions (table changelogs during recovery, other
                agents) keep Faust's per-message path.

In ``task``/``drain`` offsets are tracked per batch (``BatchConsumer.mark_processed``) and committed by
Faust's own commit service through the ``_filter_tps_with_pending_acks``/``_new_offset`` overrides;
``--produce strict`` marks a batch only after its produce futures resolved (and blocks the next
batch), ``--produce deferred`` marks it from a done-callback, in order, without blocking.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import common
import orjson

from stream_guard.worker.app import QuietMonitor  # the worker's: no per-message monitor bookkeeping
from stream_guard.worker.kafka_io import send_batches

# Faust is imported after the optional uvloop install in main().


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse():
    p = common.base_parser(__doc__)
    p.add_argument("--mode", required=True, choices=["agent", "take", "conductor", "task", "drain"])
    p.add_argument("--take", type=int, default=2000)
    p.add_argument("--within", type=float, default=0.5)
    p.add_argument("--batch", type=int, default=2000, help="conductor mode: buffer size")
    p.add_argument("--poll-records", type=int, default=None, help="broker_max_poll_records")
    p.add_argument("--fetch-mb", type=int, default=4, help="consumer_max_fetch_size (MiB)")
    p.add_argument("--decode", action="store_true", help="orjson.loads every value")
    p.add_argument("--produce", choices=["none", "strict", "deferred"], default="none")
    p.add_argument("--produce-path", choices=["faust", "aiokafka", "batch"], default="batch",
                   help="faust: app.producer.send per record; aiokafka: the underlying "
                        "AIOKafkaProducer.send per record; batch: create_batch/send_batch per partition")
    p.add_argument("--send-tasks", action="store_true",
                   help="batch path: do not await send_batch() inline (it waits until the previous "
                        "batch of that partition left the accumulator); run it as a task instead")
    p.add_argument("--violation-every", type=int, default=33, help="1 in N events -> violation (3%%)")
    p.add_argument("--table", action="store_true", help="changelog-backed per-shop counter table")
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--quiet-monitor", action="store_true")
    p.add_argument("--group", default=None, help="fixed app id / group id (default: fresh)")
    p.add_argument("--no-stop", action="store_true", help="keep running after --expect")
    p.add_argument("--web-port", type=int, default=0)
    p.add_argument("--datadir", default=None)
    p.add_argument("--log-level", default="warning")
    p.add_argument("--label", default="")
    p.add_argument("--switch-interval", type=float, default=None,
                   help="sys.setswitchinterval (GIL hand-over between main and consumer thread)")
    p.add_argument("--gc-tune", action="store_true",
                   help="gc.freeze() the start-up heap and raise gen0 threshold to 50000")
    p.add_argument("--batch-sleep", type=float, default=0.0, help="slow processing down (rebalance tests)")
    p.add_argument("--recover-report", action="store_true",
                   help="after table recovery finished: report table contents and stop")
    return p.parse_args()


def build(a):
    import faust
    from faust.transport.drivers import aiokafka as fk

    class BatchConsumer(fk.Consumer):
        """aiokafka Consumer whose batch topics bypass the per-message path."""

        batch_topics: frozenset = frozenset()
        #: async (Dict[TP, List[ConsumerRecord]]) -> None ; must call mark_processed (maybe later)
        batch_handler: Callable | None = None
        #: awaited before each commit (e.g. flush coalesced table writes to the changelog)
        pre_commit: Callable | None = None
        #: awaitable returning when every deferred batch is marked (used before revoke commits)
        drain_pending: Callable | None = None
        #: mode task: hide batch topics from Faust's own Fetcher
        exclude_batch_topics_from_fetcher = False

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._done_offsets: dict = {}
            self._batch_idle = asyncio.Event()
            self._batch_idle.set()

        # -- offsets -------------------------------------------------------------------
        def mark_processed(self, tp, next_offset: int) -> None:
            cur = self._done_offsets.get(tp)
            if cur is None or next_offset > cur:
                self._done_offsets[tp] = next_offset

        def _filter_tps_with_pending_acks(self, topics=None):
            seen = set()
            for tp in list(super()._filter_tps_with_pending_acks(topics)):
                seen.add(tp)
                yield tp
            for tp in list(self._done_offsets):
                if tp not in seen and (topics is None or tp in topics or tp.topic in topics):
                    yield tp

        def _new_offset(self, tp):
            off = self._done_offsets.pop(tp, None)
            if off is not None:
                return off
            return super()._new_offset(tp)

        async def force_commit(self, topics=None, start_new_transaction=True):
            if self.pre_commit is not None:
                await self.pre_commit()
            return await super().force_commit(topics, start_new_transaction=start_new_transaction)

        # -- rebalance / shutdown ------------------------------------------------------
        async def _finish_inflight(self) -> None:
            await self._batch_idle.wait()
            if self.drain_pending is not None:
                await self.drain_pending()

        async def on_partitions_revoked(self, revoked):
            # Faust's own Consumer.on_partitions_revoked drops pending acks of the revoked
            # partitions *before* app._on_partitions_revoked commits (wait_empty), so progress
            # since the last interval commit would be re-processed by the next owner.  Stop the
            # flow, let the in-flight batch finish and commit our offsets first.
            if self._done_offsets or not self._batch_idle.is_set():
                self.stop_flow()
                await self._finish_inflight()
                # commit() returns without committing if another commit is running: wait first.
                await self.maybe_wait_for_commit_to_finish()
                await self.commit()
            await super().on_partitions_revoked(revoked)
            for tp in revoked:
                self._done_offsets.pop(tp, None)

        async def wait_empty(self) -> None:
            await self._finish_inflight()
            await super().wait_empty()

        # -- fetch paths -----------------------------------------------------------------
        async def _getmany(self, active_partitions, timeout):
            if self.exclude_batch_topics_from_fetcher and active_partitions is not None:
                bt = self.batch_topics
                active_partitions = {tp for tp in active_partitions if tp.topic not in bt}
            return await super()._getmany(active_partitions, timeout)

        async def run_batch(self, gen: int, fast: dict) -> None:
            if gen != self.app.consumer_generation_id or not self.flow_active:
                return  # rebalanced since fetch: re-read from committed offsets later
            self._batch_idle.clear()
            try:
                await self.batch_handler(fast)
            finally:
                self._batch_idle.set()
            now = time.monotonic()
            inbound = self.app.monitor.stream_inbound_time
            for tp, recs in fast.items():
                self._read_offset[tp] = recs[-1].offset
                inbound[tp] = now  # keeps the livelock detector quiet

        async def _drain_messages(self, fetcher) -> None:
            if self.exclude_batch_topics_from_fetcher or not self.batch_topics:
                return await super()._drain_messages(fetcher)
            callback = self.callback
            to_message = self._to_message
            batch_topics = self.batch_topics
            get_read_offset = self._read_offset.__getitem__
            set_read_offset = self._read_offset.__setitem__
            consumer_should_stop = self._stopped.is_set
            fetcher_should_stop = fetcher._stopped.is_set
            try:
                while not (consumer_should_stop() or fetcher_should_stop()):
                    gen = self.app.consumer_generation_id
                    records, active = await self._wait_next_records(1.0)
                    if not records or self.should_stop:
                        await asyncio.sleep(0)
                        continue
                    if not self.flow_active:
                        await self.perform_seek()  # as Consumer.getmany does
                        continue
                    fast = {}
                    for tp, recs in records.items():
                        if active is not None and tp not in active and tp not in self._buffered_partitions:
                            continue
                        if tp.topic in batch_topics:
                            fast[tp] = recs
                            continue
                        # Faust's per-message path (table changelogs, other agents).
                        for rec in recs:
                            if gen != self.app.consumer_generation_id or not self.flow_active:
                                break
                            r_offset = get_read_offset(tp)
                            if r_offset is None or rec.offset >= r_offset:
                                await self.wait_first(
                                    callback(to_message(tp, rec)), self.suspend_flow.wait()
                                )
                                set_read_offset(tp, rec.offset)
                    if fast:
                        await self.run_batch(gen, fast)
            except self.consumer_stopped_errors:
                if self.transport.app.should_stop:
                    return
                raise
            except asyncio.CancelledError:
                if self.transport.app.should_stop:
                    return
                raise

    monitor = QuietMonitor() if a.quiet_monitor else None
    app_id = a.group or common.fresh_group(f"wr-{a.mode}")
    web_port = a.web_port or free_port()
    settings = dict(
        broker=f"kafka://{a.bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        consumer_auto_offset_reset="earliest",
        consumer_max_fetch_size=a.fetch_mb * 1024 * 1024,
        web_port=web_port,
        web_host="127.0.0.1",
        store="memory://",
        topic_partitions=common.PARTITIONS,
        topic_allow_declare=True,  # for the table changelog; input/output topics exist
        producer_linger_ms=5,
        datadir=a.datadir or f"/tmp/wr-faust-data/{app_id}",
    )
    os.makedirs(settings["datadir"], exist_ok=True)  # Faust creates only the last level
    if a.poll_records:
        settings["broker_max_poll_records"] = a.poll_records
    app = faust.App(app_id, monitor=monitor, **settings)
    if a.mode in ("task", "drain"):
        app.transport.Consumer = BatchConsumer

    topic = app.topic(a.topic, value_serializer="raw", key_serializer="raw")
    out_topic = common.OUT_TOPIC
    clock = common.Clock()
    state: dict = {"stopping": False, "violations": 0, "worker": None}
    loads = orjson.loads
    dumps = orjson.dumps
    vio_every = a.violation_every
    table = None
    dirty: dict = {}
    if a.table:
        table = app.Table("wr_shop_counts", default=int, partitions=common.PARTITIONS,
                          key_type=str, value_type=int)

    async def pre_commit() -> None:
        """Coalesced table writes: one changelog record per dirty key per commit.

        Written with the underlying AIOKafkaProducer (create_batch/send_batch per changelog
        partition, keys/values encoded like the table's json serializers) and awaited here, so
        the input offsets committed right after never run ahead of the table's changelog.
        Faust's own path (Table.send_changelog -> Topic.send_soon -> ProducerBuffer) costs
        ~0.5 ms per record and made each commit take 3-4 s with 10k dirty keys.
        """
        if table is None or not dirty:
            return
        items = list(dirty.items())
        dirty.clear()
        data = table.data
        prod = app.producer._ensure_producer()
        topic_name = table.changelog_topic.get_topic_name()
        by_part: dict = {}
        for key, part in items:
            by_part.setdefault((topic_name, part), []).append((dumps(key), dumps(data[key]), []))
        await asyncio.gather(*await send_batches(prod, by_part))

    def maybe_done() -> None:
        if clock.n >= a.expect and not state["stopping"]:
            state["stopping"] = True
            common.emit(clock.result(
                approach=label(a), violations=state["violations"],
                table_keys=(len(table.data) if table is not None else None)))
            if not a.no_stop:
                os.kill(os.getpid(), signal.SIGTERM)

    async def process(batches: dict) -> list:
        """The stand-in for Engine.process_batch: decode, pick ~3% violations, produce them."""
        out: dict = {}  # partition -> [(key, value)]
        for tp, recs in batches.items():
            part = tp.partition
            for r in recs:
                if a.decode:
                    loads(r.value)
                if table is not None:
                    key = r.key.decode()
                    data = table.data
                    data[key] = data.get(key, 0) + 1 if key in data else 1
                    dirty[key] = part
                if a.produce != "none" and r.offset % vio_every == 0:
                    v = dumps({"violation_id": f"{tp.partition}-{r.offset}", "shop_id": r.key.decode(),
                               "rule_id": "invoice_refusal.1", "category": "invoice_refusal",
                               "severity": "high", "spans": [[3, 7]], "excerpt": "x" * 120})
                    # same key, same partition count, same (murmur2) partitioner as the input
                    out.setdefault(part, []).append((r.key, v))
            clock.add(len(recs))
        futs = []
        if out:
            n = sum(len(x) for x in out.values())
            state["violations"] += n
            path = a.produce_path
            if path == "faust":
                send = app.producer.send
                for part, kvs in out.items():
                    for k, v in kvs:
                        futs.append(await send(out_topic, k, v, part, None, None))
            else:
                prod = app.producer._ensure_producer()  # aiokafka.AIOKafkaProducer
                if path == "aiokafka":
                    for part, kvs in out.items():
                        for k, v in kvs:
                            futs.append(await prod.send(out_topic, v, key=k, partition=part))
                elif a.send_tasks:
                    async def _send(b, part):
                        return await (await prod.send_batch(b, out_topic, partition=part))
                    for part, kvs in out.items():
                        batch = prod.create_batch()
                        for k, v in kvs:
                            if batch.append(key=k, value=v, timestamp=None) is None:
                                batch.close()
                                futs.append(asyncio.ensure_future(_send(batch, part)))
                                batch = prod.create_batch()
                                batch.append(key=k, value=v, timestamp=None)
                        batch.close()
                        futs.append(asyncio.ensure_future(_send(batch, part)))
                else:
                    futs += await send_batches(prod, {(out_topic, part): [(k, v, []) for k, v in kvs]
                                                      for part, kvs in out.items()})
        return futs

    pending: collections.deque = collections.deque()

    async def drain_pending() -> None:
        if pending:
            await asyncio.gather(*(f for f, _ in list(pending)), return_exceptions=True)
        _advance_pending()

    def _advance_pending(_f=None) -> None:
        consumer = app.consumer
        while pending and pending[0][0].done():
            fut, offsets = pending.popleft()
            if fut.cancelled() or fut.exception() is not None:
                # produce failed: do not mark; crash the consumer (at-least-once on restart)
                asyncio.ensure_future(consumer.crash(fut.exception() or RuntimeError("cancelled")))
                pending.clear()
                return
            for tp, off in offsets.items():
                consumer.mark_processed(tp, off)

    async def batch_handler(batches: dict) -> None:
        futs = await process(batches)
        if a.batch_sleep:
            await asyncio.sleep(a.batch_sleep)
        offsets = {tp: recs[-1].offset + 1 for tp, recs in batches.items()}
        consumer = app.consumer
        if a.produce == "deferred" and futs:
            g = asyncio.gather(*futs)
            pending.append((g, offsets))
            g.add_done_callback(_advance_pending)
        elif pending:  # keep order behind deferred batches
            g = asyncio.get_running_loop().create_future()
            g.set_result(None)
            pending.append((g, offsets))
            _advance_pending()
        else:
            if futs:
                await asyncio.gather(*futs)
            for tp, off in offsets.items():
                consumer.mark_processed(tp, off)
        maybe_done()

    if a.mode == "agent":
        @app.agent(topic)
        async def agent(stream):
            async for ev in stream:
                if a.decode:
                    loads(ev)
                clock.add(1)
                maybe_done()

    elif a.mode == "take":
        @app.agent(topic)
        async def agent(stream):
            async for batch in stream.take(a.take, within=a.within):
                if a.decode:
                    for ev in batch:
                        loads(ev)
                clock.add(len(batch))
                maybe_done()

    elif a.mode == "conductor":
        app.topics.add(topic)
        buf: list = []
        lock = asyncio.Lock()

        async def flush_buf() -> None:
            async with lock:
                if not buf:
                    return
                msgs = buf[:]
                buf.clear()
                by_tp: dict = {}
                for m in msgs:
                    by_tp.setdefault(m.tp, []).append(m)
                futs = await process(by_tp)
                if futs:
                    await asyncio.gather(*futs)
                ack = app.consumer.ack
                for m in msgs:
                    ack(m)
                maybe_done()

        async def on_our_message(message) -> None:
            buf.append(message)
            if len(buf) >= a.batch:
                await flush_buf()

        conductor = app.topics
        orig_update = conductor._update_callback_map

        def patched_update() -> None:
            orig_update()
            for tp in list(conductor._tp_to_callback):
                if tp.topic == a.topic:
                    conductor._tp_to_callback[tp] = on_our_message

        conductor._update_callback_map = patched_update

        @app.timer(0.2)
        async def flush_timer():
            await flush_buf()

        def install_conductor_commit_hook() -> None:
            c = app.consumer
            orig = c.force_commit

            async def force_commit(*args, **kw):
                await pre_commit()
                return await orig(*args, **kw)

            c.force_commit = force_commit

        state["install"] = install_conductor_commit_hook

    elif a.mode in ("task", "drain"):
        app.topics.add(topic)
        BatchConsumer.batch_topics = frozenset([a.topic])
        BatchConsumer.batch_handler = staticmethod(batch_handler)
        BatchConsumer.pre_commit = staticmethod(pre_commit)
        BatchConsumer.drain_pending = staticmethod(drain_pending)
        BatchConsumer.exclude_batch_topics_from_fetcher = a.mode == "task"

        if a.mode == "task":
            @app.task
            async def pump():
                consumer = app.consumer
                thread = consumer._thread
                while not app.should_stop:
                    if app.rebalancing or not consumer.flow_active:
                        await asyncio.sleep(0.05)
                        continue
                    try:
                        active = {tp for tp in consumer._get_active_partitions() if tp.topic == a.topic}
                    except Exception:
                        active = set()
                    if not active:
                        await asyncio.sleep(0.05)
                        continue
                    gen = app.consumer_generation_id
                    records = await thread.getmany(active, 1.0)
                    if records:
                        await consumer.run_batch(gen, records)

    @app.on_partitions_assigned.connect
    async def _assigned(sender=None, assigned=None, **kw):
        ours = sorted(tp.partition for tp in (assigned or ()) if tp.topic == a.topic)
        print(f"EVENT assigned {ours} t={time.time():.3f}", file=sys.stderr, flush=True)

    @app.on_partitions_revoked.connect
    async def _revoked(sender=None, revoked=None, **kw):
        ours = sorted(tp.partition for tp in (revoked or ()) if tp.topic == a.topic)
        print(f"EVENT revoked {ours} t={time.time():.3f}", file=sys.stderr, flush=True)

    if a.recover_report:
        @app.timer(0.5)
        async def _recovered():
            if state["stopping"] or app.rebalancing:
                return
            rec = app.tables.recovery
            if rec.completed.is_set():
                state["stopping"] = True
                await asyncio.sleep(1.0)
                vals = list(table.data.values()) if table is not None else []
                common.emit({"approach": "recovery report", "table_keys": len(vals),
                             "table_sum": sum(vals), "processed_after_start": clock.n})
                os.kill(os.getpid(), signal.SIGTERM)

    import atexit

    @atexit.register
    def _final_stats():
        print("STATS " + orjson.dumps({"processed": clock.n, "violations": state["violations"]}).decode(),
              flush=True)

    return app, clock, state


def label(a) -> str:
    parts = [{"agent": "faust agent (async for)", "take": f"faust stream.take({a.take})",
              "conductor": "4a conductor callback -> batch buffer (Consumer.ack)",
              "task": "4b app.task pulls via consumer thread getmany",
              "drain": "4c BatchConsumer._drain_messages batches"}[a.mode]]
    if a.decode:
        parts.append("decode")
    if a.produce != "none":
        parts.append(f"produce 3% ({a.produce}, {a.produce_path}{', send tasks' if a.send_tasks else ''})")
    if a.table:
        parts.append("table")
    if a.uvloop:
        parts.append("uvloop")
    if a.quiet_monitor:
        parts.append("quiet monitor")
    if a.poll_records:
        parts.append(f"max_poll_records={a.poll_records}")
    if a.gc_tune:
        parts.append("gc tuned")
    if a.switch_interval:
        parts.append(f"switchinterval={a.switch_interval}")
    if a.label:
        parts.append(a.label)
    return " + ".join(parts)


def main() -> None:
    a = parse()
    if a.uvloop:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if a.switch_interval:
        sys.setswitchinterval(a.switch_interval)
    app, clock, state = build(a)
    import faust

    if a.gc_tune:
        import gc

        @app.on_after_configured.connect
        def _noop(*args, **kw):
            pass

        gc.set_threshold(50_000, 20, 100)

        @app.on_partitions_assigned.connect
        async def _freeze(*args, **kw):
            gc.collect()
            gc.freeze()

    worker = faust.Worker(app, loglevel=a.log_level, quiet=True, redirect_stdouts=False)
    state["worker"] = worker
    if "install" in state:
        # consumer is created lazily; install before the worker starts it.
        state["install"]()

    def watchdog() -> None:
        if not state["stopping"]:
            common.emit(clock.result(approach=label(a) + " [TIMEOUT]", violations=state["violations"]))
            os.kill(os.getpid(), signal.SIGTERM)

    worker.loop.call_later(a.timeout, watchdog)
    try:
        worker.execute_from_commandline()
    except SystemExit:
        pass


if __name__ == "__main__":
    main()

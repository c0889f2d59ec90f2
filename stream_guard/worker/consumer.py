"""A Faust consumer that hands whole fetched batches of the input topic to the worker.

Faust's own path costs per message: a `ConsumerMessage`, a task to wait for the callback or a
flow suspension, the Conductor's lock, then `ack` bookkeeping; it caps a Faust agent near 5k
messages/s, whatever the agent does. This subclass
keeps everything else Faust (the worker, the consumer group and its assignor, table recovery, the
commit and livelock timers, the producer) and replaces only what happens between a fetch and a
commit for the batch topics:

- `_drain_messages` hands each partition's fetched records of a batch topic to `handler` as
  lists of aiokafka `ConsumerRecord`s, in offset order; every other partition (table changelogs
  during recovery) still takes Faust's per-message path;
- the next fetch is started before the handler runs, so Faust's consumer thread fetches and
  unpacks the next records while the engine (synchronous CPU work on the event loop) judges these:
  otherwise the loop waits 15-40 ms for every fetch and is idle about two thirds of the time
  (`benchmarks/test_worker_throughput.py` measures the worker). One fetch is in flight at a
  time, and batches are handled in fetch order. A fetch that comes back after a rebalance (another
  generation, or the flow stopped) is dropped, and the next fetch first seeks to the committed
  offsets: the consumer's position is already past the dropped records;
- the handler marks offsets with `mark_processed` once the batch's outputs are acknowledged,
  and Faust's own commit path commits them (`_filter_tps_with_pending_acks`, `_new_offset`);
- `pre_commit` runs before every commit (the worker writes its state changelog there), so the
  committed input offsets never run ahead of the state;
- a revocation first lets the batch in hand finish, its outputs be acknowledged and the offsets
  be committed: Faust drops the pending acks of revoked partitions before it commits, which
  would replay up to a commit interval on every rebalance;
- input is handled only once a rebalance is over and the tables are recovered. Faust pauses the
  input partitions meanwhile, but a fetch in flight still brings records back (the partitions
  are active for a moment after an assignment, and again before recovery's final seek), and a
  batch handled then would restore its partition's reply state from part of the table, and
  lose reply figures after a crash. Such records are put back: their partitions are
  sought to the first of them (committed offsets would not do in a group that has committed
  nothing yet: aiokafka does not seek to offset 0).

It relies on faust-streaming 0.15.3 internals (`_drain_messages`, `_wait_next_records`,
`_new_offset`, `_filter_tps_with_pending_acks`, `_read_offset`), which is why that version is
pinned; the worker's tests on the real broker cover each of them.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as faust_aiokafka

if TYPE_CHECKING:
    from faust.tables.manager import TableManager

NOT_READY_PAUSE_S = 0.05


class BatchConsumer(faust_aiokafka.Consumer):
    # set by the worker before the app's consumer is created
    batch_topics: frozenset = frozenset()
    handler: Callable[[dict], Awaitable[None]] | None = None  # {TP: [ConsumerRecord]}
    pre_commit: Callable[[], Awaitable[None]] | None = None
    wait_outputs: Callable[[], Awaitable[None]] | None = None  # until every handled batch is marked

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._done_offsets: dict = {}  # TP -> next offset to commit
        self._held_marks: dict = {}  # marks made while a commit runs, for the next commit
        self._commits_running = 0
        self._batch_idle = asyncio.Event()
        self._batch_idle.set()
        self._reread_committed = False  # a fetch was dropped: seek to the committed offsets first

    # ---- offsets ---------------------------------------------------------------------------------

    def mark_processed(self, tp, next_offset: int) -> None:
        # during a commit, marks wait for the next one: the state that commit writes may not
        # include their records
        marks = self._held_marks if self._commits_running else self._done_offsets
        if next_offset > marks.get(tp, -1):
            marks[tp] = next_offset

    def _filter_tps_with_pending_acks(self, topics=None):
        seen = set()
        for tp in list(super()._filter_tps_with_pending_acks(topics)):
            seen.add(tp)
            yield tp
        for tp in list(self._done_offsets):
            if tp not in seen and (topics is None or tp in topics or tp.topic in topics):
                yield tp

    def _new_offset(self, tp):
        offset = self._done_offsets.pop(tp, None)
        return offset if offset is not None else super()._new_offset(tp)

    async def force_commit(self, topics=None, start_new_transaction=True):
        """Write the state (pre_commit), then commit the offsets marked before it was taken.
        A batch can be handled and acknowledged while pre_commit awaits its writes; committing
        its offset then would put the committed offset past the state just written, and a crash
        would lose its records from the state (the replay rule skips only what the state has)."""
        self._commits_running += 1
        try:
            if self.pre_commit is not None:
                await self.pre_commit()
            return await super().force_commit(topics, start_new_transaction=start_new_transaction)
        finally:
            self._commits_running -= 1
            if not self._commits_running:
                held, self._held_marks = self._held_marks, {}
                for tp, next_offset in held.items():
                    self.mark_processed(tp, next_offset)

    # ---- rebalance and shutdown --------------------------------------------------------------------

    async def _finish_in_hand(self) -> None:
        await self._batch_idle.wait()
        if self.wait_outputs is not None:
            await self.wait_outputs()

    async def _commit_everything_done(self) -> None:
        """Commit every offset handled so far. commit() returns without committing while another
        commit runs, and the offsets marked during that one are held until it ends: wait for it,
        then commit what it left."""
        await self.maybe_wait_for_commit_to_finish()
        await self.commit()

    async def on_partitions_revoked(self, revoked) -> None:
        self.stop_flow()
        await self._finish_in_hand()
        await self._commit_everything_done()
        await super().on_partitions_revoked(revoked)
        for tp in revoked:
            self._done_offsets.pop(tp, None)
            self._held_marks.pop(tp, None)

    async def wait_empty(self) -> None:
        await self._finish_in_hand()
        await super().wait_empty()
        await self._commit_everything_done()  # the last commit above may have been skipped

    # ---- fetching ------------------------------------------------------------------------------------

    def ready_for_input(self) -> bool:
        """No rebalance under way and the tables recovered: input may be handled, and the reply
        state restored from the table (the worker's readiness too)."""
        app = self.app
        tables = cast("TableManager", app.tables)  # the app's table manager: AppT types only its interface
        return not app.rebalancing and not app.in_recovery and tables.recovery.completed.is_set()

    async def _put_back(self, batch: dict) -> None:
        """Read these records again later: each partition back to the first of them."""
        for tp, records in batch.items():
            try:
                await self.seek(tp, records[0].offset)
            except IllegalStateError:
                pass  # no longer assigned here: its new owner reads it from the committed offset
        await asyncio.sleep(NOT_READY_PAUSE_S)  # recovery is not over: no hurry to fetch again

    async def _handle(self, batch: dict) -> None:
        handler = self.handler
        if handler is None:
            raise RuntimeError("BatchConsumer.handler is not set: the worker sets it before the consumer is made")
        self._batch_idle.clear()
        try:
            await handler(batch)
        finally:
            self._batch_idle.set()
        now = time.monotonic()
        inbound = self.app.monitor.stream_inbound_time
        for tp, records in batch.items():
            self._read_offset[tp] = records[-1].offset
            inbound[tp] = now  # Faust's livelock check warns about partitions without inbound events

    async def _fetch(self) -> tuple:
        """The next records with the generation they were fetched in; after a dropped fetch,
        first back to the committed offsets (once the flow runs again), as Consumer.getmany does.
        The generation is read once the flow runs: a fetch waiting out a rebalance belongs to the
        generation that resumes it."""
        if not self.flow_active:
            await self.wait(self.can_resume_flow.wait())
        if self._reread_committed:
            self._reread_committed = False
            await self.perform_seek()
        generation = self.app.consumer_generation_id
        records, active = await self._wait_next_records(1.0)
        return generation, records, active

    async def _drain_messages(self, fetcher) -> None:
        callback, to_message = self.callback, self._to_message
        read_offset = self._read_offset
        fetching = None
        try:
            while not (self._stopped.is_set() or fetcher._stopped.is_set()):
                if fetching is None:
                    fetching = asyncio.ensure_future(self._fetch())
                generation, records, active = await fetching
                fetching = None
                # Faust's per-message path keeps Faust's rule: records count for the generation in
                # which they arrive. Recovery seeks and resumes the changelog partitions while a
                # fetch can be in flight, and the records that fetch brings back are the ones
                # recovery waits for: dropped, recovery would wait for ever (their offsets are
                # already behind the consumer's position)
                arrived_in = self.app.consumer_generation_id
                if not records or self.should_stop:
                    await asyncio.sleep(0)
                    continue
                batch = {}
                for tp, tp_records in records.items():
                    if active is not None and tp not in active and tp not in self._buffered_partitions:
                        continue
                    if tp.topic in self.batch_topics:
                        batch[tp] = tp_records
                        continue
                    for record in tp_records:  # Faust's per-message path
                        if arrived_in != self.app.consumer_generation_id or not self.flow_active:
                            break
                        seen = read_offset.get(tp)
                        if seen is None or record.offset >= seen:
                            await self.wait_first(callback(to_message(tp, record)), self.suspend_flow.wait())
                            read_offset[tp] = record.offset
                if not batch:
                    continue
                if generation != self.app.consumer_generation_id or not self.flow_active:
                    # rebalanced since the fetch: the consumer's position is past records nobody
                    # processed, so they are read again from the committed offsets
                    self._reread_committed = True
                    continue
                if not self.ready_for_input():
                    await self._put_back(batch)
                    continue
                # the consumer thread fetches the next records while the engine works on these; the
                # yield lets the fetch reach the thread before the engine holds the loop
                fetching = asyncio.ensure_future(self._fetch())
                await asyncio.sleep(0)
                await self._handle(batch)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            if fetching is not None:
                fetching.cancel()

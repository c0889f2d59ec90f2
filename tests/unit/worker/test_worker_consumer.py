"""BatchConsumer's fetch loop without a broker: which fetched records it hands on, and in which
generation, when a rebalance lands while a fetch is in flight. (The real broker tests in
tests/integration/test_worker.py hit these races only now and then.)"""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import faust
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from stream_guard.worker.consumer import BatchConsumer

INPUT = TP("chat-events", 0)
CHANGELOG = TP("group-reply_state-changelog", 0)


def records(tp: TP, first: int, count: int) -> list:
    return [ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])
            for offset in range(first, first + count)]


def run_loop(fetches) -> tuple:
    """Runs `_drain_messages` over scripted fetches: each is a function called when the fetch
    returns (what happened meanwhile, e.g. a rebalance) and giving the records it brings back.
    Returns what went the per-message way, the batches handled and the seeks made."""
    async def main():
        app = faust.App("consumer-test", broker="kafka://127.0.0.1:1")
        app.consumer_generation_id = 1
        app.tables.recovery.completed.set()  # the tables are recovered unless a step says otherwise
        per_message, batches, events = [], [], []

        async def callback(message):
            per_message.append((message.topic, message.offset))

        async def ignore(*args, **kwargs):
            pass

        consumer = BatchConsumer(app.transport, callback=callback, on_partitions_revoked=ignore,
                                 on_partitions_assigned=ignore)
        consumer.batch_topics = frozenset({INPUT.topic})
        fetcher = SimpleNamespace(_stopped=asyncio.Event())
        scripted = iter(fetches)

        async def wait_next_records(timeout):
            events.append(("fetch", app.consumer_generation_id))
            await asyncio.sleep(0)
            step = next(scripted, None)
            if step is None:
                fetcher._stopped.set()
                return {}, None
            return step(app), None

        async def perform_seek():
            events.append(("seek to committed", app.consumer_generation_id))

        async def seek(tp, offset):
            events.append(("seek", tp.partition, offset))

        async def handler(batch):
            batches.append({tp: [r.offset for r in rs] for tp, rs in batch.items()})

        consumer._wait_next_records = wait_next_records
        consumer.perform_seek = perform_seek
        consumer.seek = seek
        consumer.handler = handler
        await consumer._drain_messages(fetcher)
        return per_message, batches, events

    return asyncio.run(main())


def rebalanced_then(result):
    def step(app):
        app.consumer_generation_id += 1
        return result
    return step


def test_changelog_records_arriving_after_a_rebalance_reach_recovery():
    # recovery seeks the changelog and resumes it while the fetch is in flight: what the fetch
    # brings back is what recovery waits for (dropping it once stalled recovery for ever)
    per_message, batches, _ = run_loop([rebalanced_then({CHANGELOG: records(CHANGELOG, 0, 3)})])
    assert per_message == [(CHANGELOG.topic, 0), (CHANGELOG.topic, 1), (CHANGELOG.topic, 2)]
    assert batches == []


def test_input_fetched_across_a_rebalance_is_read_again_from_the_committed_offsets():
    per_message, batches, events = run_loop([
        rebalanced_then({INPUT: records(INPUT, 10, 2), CHANGELOG: records(CHANGELOG, 5, 1)}),
        lambda app: {INPUT: records(INPUT, 7, 5)},
    ])
    assert per_message == [(CHANGELOG.topic, 5)]
    assert batches == [{INPUT: [7, 8, 9, 10, 11]}]  # not the dropped 10, 11 first
    assert events[:3] == [("fetch", 1), ("seek to committed", 2), ("fetch", 2)]


def test_batches_of_one_generation_are_handled_in_fetch_order():
    per_message, batches, events = run_loop([
        lambda app: {INPUT: records(INPUT, 0, 3)},
        lambda app: {INPUT: records(INPUT, 3, 2), CHANGELOG: records(CHANGELOG, 0, 1)},
    ])
    assert batches == [{INPUT: [0, 1, 2]}, {INPUT: [3, 4]}]
    assert per_message == [(CHANGELOG.topic, 0)]
    assert ("seek to committed", 1) not in events


def test_input_is_put_back_until_the_rebalance_is_over_and_the_tables_are_recovered():
    """A fetch in flight brings input back while recovery still fills the table: handled then,
    its partition's reply state would be restored from part of it. The records are read again
    from the first of them, and handled once the worker is ready."""
    def during(flag, value, changelog_offset):
        def step(app):
            if flag == "completed":
                app.tables.recovery.completed.clear()
            else:
                setattr(app, flag, value)
            return {INPUT: records(INPUT, 0, 3), CHANGELOG: records(CHANGELOG, changelog_offset, 1)}
        return step

    def ready(app):
        app.rebalancing = app.in_recovery = False
        app.tables.recovery.completed.set()
        return {INPUT: records(INPUT, 0, 3)}

    per_message, batches, events = run_loop([during("rebalancing", True, 0), during("in_recovery", True, 1),
                                             during("completed", False, 2), ready])
    assert batches == [{INPUT: [0, 1, 2]}]  # once, when ready
    assert [e for e in events if e[0] == "seek"] == [("seek", 0, 0)] * 3
    assert per_message == [(CHANGELOG.topic, 0), (CHANGELOG.topic, 1), (CHANGELOG.topic, 2)]  # recovery goes on

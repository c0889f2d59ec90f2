"""`stream-guard worker` on the real broker: what scan gives, through crashes, failover and a broker
restart; rule reloads; a clean SIGTERM. Workers run as real processes (tests/worker_harness.py)."""
from __future__ import annotations

import shutil
import signal

import pytest
from worker_harness import (
    Topics,
    assert_same_as_scan,
    committed_lag,
    day_closed_by_partition_time,
    day_with_closing_events,
    final_rows,
    generated_day,
    kill_started_workers,
    observe,
    produce,
    scan_expected,
    start_worker,
    wait_for,
)

from stream_guard.evaluation.packs import default_rules_dir

pytestmark = pytest.mark.kafka

SHOPS, EVENTS = 24, 30_000


@pytest.fixture(autouse=True)
def no_worker_left_behind():
    yield
    kill_started_workers()


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """The lines of a generated day with its closing events, and what scan gives on them."""
    workdir = tmp_path_factory.mktemp("day")
    lines = day_with_closing_events(seed=11, shops=SHOPS, events=EVENTS)
    return lines, scan_expected(lines, workdir)


def finish_and_compare(kafka_broker, topics: Topics, worker, expected) -> None:
    """Wait until the group has committed the whole input, stop the worker (SIGTERM: exit 0) and
    compare the output topics with scan's results."""
    wait_for(lambda: committed_lag(kafka_broker.bootstrap, topics.input, topics.group) == 0, 180,
             "the whole input committed", worker, every=0.5)
    assert worker.stop() == 0, worker.log()[-3000:]
    assert_same_as_scan(observe(kafka_broker.bootstrap, topics, set(expected.rows)), expected)


def test_worker_gives_what_scan_gives_and_stops_cleanly(kafka_broker, day, tmp_path):
    lines, expected = day
    topics = Topics.fresh("equal")
    produce(kafka_broker.bootstrap, topics.input, lines)
    worker = start_worker(kafka_broker.bootstrap, topics, tmp_path, "--commit-interval", "0.5")
    wait_for(lambda: worker.consumed() >= len(lines) and worker.caught_up(), 120, "every record handled", worker)
    assert worker.stop() == 0, worker.log()[-3000:]
    assert '"worker_stopped","exit_code":0' in worker.log()
    # SIGTERM committed everything it had processed
    assert committed_lag(kafka_broker.bootstrap, topics.input, topics.group) == 0
    observed = observe(kafka_broker.bootstrap, topics, set(expected.rows))
    assert_same_as_scan(observed, expected)
    assert observed.violation_records == len(expected.violations)  # no crash: no duplicate


def without_final(rows: dict[bytes, dict]) -> dict[bytes, dict]:
    return {key: {k: v for k, v in row.items() if k != "final"} for key, row in rows.items()}


@pytest.mark.parametrize("closed_by", ["partition_time", "idle_partitions"])
def test_quiet_shops_close_their_day_without_an_event_of_their_own(kafka_broker, tmp_path, closed_by):
    """No shop writes again after its day. `partition_time`: one shop of each partition writes
    two days later, and the partition's time closes every shop's day in it; `idle_partitions`:
    nobody writes again, and once the partitions have been quiet and caught up for the idle delay,
    their time follows the wall clock. Either way every reply row ends final, with scan's figures."""
    if closed_by == "partition_time":
        lines, idle_after = day_closed_by_partition_time(seed=23, shops=12, events=6000), "0"
    else:
        lines, idle_after = generated_day(seed=23, shops=12, events=6000), "2"
    expected = scan_expected(lines, tmp_path)
    topics = Topics.fresh(closed_by.replace("_", "-"))
    produce(kafka_broker.bootstrap, topics.input, lines)
    worker = start_worker(kafka_broker.bootstrap, topics, tmp_path, "--commit-interval", "0.5",
                          "--partition-idle-after", idle_after)
    wait_for(lambda: final_rows(kafka_broker.bootstrap, topics, set(expected.rows)), 120,
             "every shop's reply rows final", worker, every=1.0)
    assert worker.stop() == 0, worker.log()[-3000:]
    observed = observe(kafka_broker.bootstrap, topics, set(expected.rows))
    assert all(row["final"] for row in observed.rows.values())
    # scan's rows are not final: its input ended, no watermark closed the day; the figures are the same
    assert without_final(observed.rows) == without_final(expected.rows)
    assert observed.violations == expected.violations and observed.rejects == expected.rejects


def test_kill_9_at_several_points_loses_nothing(kafka_broker, day, tmp_path):
    """SIGKILL the worker three times while it works; each restart recovers its offsets and reply
    state: the outputs, deduplicated, equal scan's, and the reply rows are the crash-free ones."""
    lines, expected = day
    topics = Topics.fresh("kill")
    produce(kafka_broker.bootstrap, topics.input, lines)
    slow = ("--batch-size", "300", "--commit-interval", "0.3")  # many batches and commits to land between
    done = 0.0
    for fraction in (0.2, 0.5, 0.8):
        worker = start_worker(kafka_broker.bootstrap, topics, tmp_path, *slow)
        # consumed counts this process only: replays after a crash start it from the committed offset
        target = fraction * len(lines) - done * 0.9
        wait_for(lambda worker=worker, target=target: worker.consumed() >= max(target, 1), 120,
                 f"{fraction:.0%} of the day", worker, every=0.01)
        worker.kill()
        assert committed_lag(kafka_broker.bootstrap, topics.input, topics.group) > 0, "killed after the end"
        done = fraction * len(lines)
    worker = start_worker(kafka_broker.bootstrap, topics, tmp_path, *slow)
    finish_and_compare(kafka_broker, topics, worker, expected)


def test_two_workers_share_partitions_and_one_takes_over(kafka_broker, day, tmp_path):
    lines, expected = day
    topics = Topics.fresh("pair")
    half = len(lines) // 2
    produce(kafka_broker.bootstrap, topics.input, [])  # the topic, with its 4 partitions
    slow = ("--batch-size", "500", "--commit-interval", "0.3")
    first = start_worker(kafka_broker.bootstrap, topics, tmp_path, *slow)
    second = start_worker(kafka_broker.bootstrap, topics, tmp_path, *slow)

    def owned(w):
        return w.metrics().get("stream_guard_assigned_partitions", 0)

    wait_for(lambda: owned(first) >= 1 and owned(second) >= 1 and owned(first) + owned(second) == 4, 90,
             "both workers own partitions", first, second)
    produce(kafka_broker.bootstrap, topics.input, lines[:half])
    wait_for(lambda: first.consumed() > 0 and second.consumed() > 0, 90, "both workers consume", first, second)
    second.kill()  # in the middle of its share, or just after it: its state moves over either way
    produce(kafka_broker.bootstrap, topics.input, lines[half:])
    wait_for(lambda: owned(first) == 4, 120, "the survivor owns every partition", first)
    finish_and_compare(kafka_broker, topics, first, expected)


def test_broker_restart_under_the_worker(kafka_broker, day, tmp_path):
    lines, expected = day
    topics = Topics.fresh("restart")
    half = len(lines) // 2
    produce(kafka_broker.bootstrap, topics.input, lines[:half])
    worker = start_worker(kafka_broker.bootstrap, topics, tmp_path, "--commit-interval", "0.5")
    wait_for(lambda: worker.consumed() >= half, 120, "the first half consumed", worker)
    kafka_broker.restart()
    produce(kafka_broker.bootstrap, topics.input, lines[half:])
    finish_and_compare(kafka_broker, topics, worker, expected)  # it survived the restart


def test_rules_reload_on_sighup_and_on_file_change(kafka_broker, tmp_path):
    """A changed pack is swapped in without a restart (SIGHUP, or the directory watch); a broken
    pack is refused and the old rules stay; the events before and after are each processed once."""
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    topics = Topics.fresh("reload")
    lines = day_with_closing_events(seed=5, shops=6, events=3000)
    produce(kafka_broker.bootstrap, topics.input, lines)
    worker = start_worker(kafka_broker.bootstrap, topics, tmp_path, "--rules-dir", str(rules),
                          "--reload-poll", "0.5")
    wait_for(lambda: worker.consumed() >= len(lines), 120, "the first records", worker)

    def versions():
        return {k for k in worker.metrics() if k.startswith("stream_guard_rule_pack_info{")}

    def reloads(result):
        return worker.metrics().get(f'stream_guard_rule_reloads_total{{result="{result}"}}', 0)

    before = versions()

    pack = rules / "taobao.toml"
    pack.write_text(pack.read_text() + "\n# a comment changes the pack's content hash\n")
    wait_for(lambda: reloads("swapped") >= 1, 30, "the file-change reload", worker)
    assert versions() != before

    pack.write_text(pack.read_text() + "\n[[rule]]\nid = \n")  # not TOML: refused
    wait_for(lambda: reloads("rejected") >= 1, 30, "the broken pack refused", worker)
    swapped = versions()
    pack.write_text(pack.read_text().replace("\n[[rule]]\nid = \n", ""))
    wait_for(lambda: reloads("swapped") >= 2, 30, "the repaired pack swapped in", worker)

    worker.process.send_signal(signal.SIGHUP)
    wait_for(lambda: reloads("swapped") >= 3, 30, "the SIGHUP reload", worker)
    assert versions() == swapped  # same files: same versions
    produce(kafka_broker.bootstrap, topics.input, lines)
    wait_for(lambda: worker.consumed() >= 2 * len(lines), 120, "the second pass", worker)
    assert worker.consumed() == 2 * len(lines)  # nothing lost or judged twice across the swaps
    assert worker.stop() == 0
    assert worker.metrics() == {}  # stopped: nothing answers any more
    assert '"event":"rules_reload_rejected"' in worker.log()

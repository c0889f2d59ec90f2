"""Reply tracking alone: the native tracker on a generated marketplace day, against its oracle.

The day is built here with a seeded random (no shared data): 10k shops over the five platforms
(shop sizes skewed), 1M events in conversations spread over one Asia/Shanghai day, busier in the
daytime: buyers ask (sometimes twice), bots answer first where a platform has them, Douyin hands
buyers over to a human, agents reply after a skewed delay (most within 60 s, some within the
threshold, a tail beyond 180 s, some never), buyers come back with another question, a few are
reported or blocked. Events arrive in order of time plus a jitter of up to 20 s (inside the
60 s allowed lateness), so the tracker holds and reorders as it would on a topic. The day is kept
as JSON records; each batch is decoded (`events.decode_batch`, not timed) just before it is
observed, as the engine does, so the tracker meets fresh columns and strings as in the worker.

Figures (all reported, never asserted; budget: <= 1 us per event at the median):
- batch: `observe_decoded` (the engine's call) over batches of 1000 decoded events, each batch
  timed; per event = batch time / 1000; median and p99 over the batches, events/s over the day;
  the day is run three times with a fresh tracker each, and the batches of all three are pooled
  (on a shared machine a single run's median moves by 20% or so from one run to the next);
- single: `observe` of each event of a sample (the first 100k events, fed in order to a fresh
  tracker), each call timed with perf_counter_ns (its own cost, measured, included);
- oracle: the pure-Python tracker (`tests/reply_oracle.py`, `observe_batch` of event dicts) on
  the first 100k events in batches: the ratio is oracle time / native time on the same events;
- memory, by tracemalloc (it sees every allocation of the tracker: Python objects and the heaps,
  which are PyMem blocks): bytes per open turn = growth while N buyers of one shop ask once and
  are not answered, divided by the open turns (the ids belong to the events, built beforehand,
  so they are not counted); bytes per shop-day = growth while 1000 shops' events of the day are
  fed (the end of the day, before `finish`: units, sessions, open turns, held events), divided
  by the shops;
- the machine's memory latency, for reading the figures: a random dict lookup in 1M keys (100k
  in the smoke run; the mean of one just before and one just after the timed day) against one
  in a small dict. The tracker is bound by such misses, so its median divided by that lookup is
  the figure that carries over between machines: the same build costs about the same number of
  such lookups an event on a machine with fast memory as on one with slow memory, while its
  time per event differs by their memory latency;
- every figure here is taken under the engine's collector settings (`tune_gc`, as scan and the
  worker run): at Python's default threshold a collection every 700 allocations would walk the
  young state of the day, and now and then all of it, which no process of ours does (the
  oracle, which allocates far more, would be timed mostly collecting);
- current_rows with every shop of the day (what Prometheus asks every 15 s), shop_days,
  and snapshot_shop of every shop.
With --benchmark-disable (the `make test` smoke run) the day is cut to 20k events and 200 shops.
"""
from __future__ import annotations

import gc
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import orjson
import pytest
from figures import record

from stream_guard.engine.events import Limits, decode_batch
from stream_guard.engine.pipeline import tune_gc
from stream_guard.evaluation.packs import PLATFORMS, default_rules_dir, load_pack
from stream_guard.tracking.replies import ReplyTracker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import reply_oracle  # noqa: E402

BUDGET_US_PER_EVENT = 1.0
BATCH = 1000
FULL = {"events": 1_000_000, "shops": 10_000, "rounds": 3, "sample": 100_000, "oracle": 100_000,
        "memory_shops": 1000, "probe_keys": 1_000_000}
SMOKE = {"events": 20_000, "shops": 200, "rounds": 1, "sample": 5_000, "oracle": 5_000, "memory_shops": 50,
         "probe_keys": 100_000}
DAY_START_MS = 1_763_827_200_000  # 2025-11-23 00:00 Asia/Shanghai
DAY_MS = 86_400_000
LATENESS_MS = 60_000
# share of conversations starting in each local hour: quiet at night, busy from 9 to 23
HOURLY = [2, 1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 9, 10, 10, 9, 9, 9, 10, 11, 11, 9, 5]


def _smoke(config) -> bool:
    return bool(config.getoption("benchmark_disable", False))


def generate_day(n_events: int, n_shops: int, seed: int = 11) -> list[dict]:
    rnd = random.Random(seed)
    shops = [(PLATFORMS[i % len(PLATFORMS)], f"shop{i:05d}") for i in range(n_shops)]
    senders = {s: s for s in ("buyer", "agent", "bot", "system")}  # one string object each
    sent: list[tuple[int, dict]] = []
    n = 0

    def emit(platform, shop, buyer, sender, ts, kind="message"):
        nonlocal n
        n += 1
        event = {"event_id": f"e{n:07d}", "platform": platform, "shop_id": shop, "buyer_id": buyer,
                 "conversation_id": buyer, "sender": senders[sender], "kind": kind, "text": "好", "ts": ts}
        sent.append((ts + rnd.randrange(20_000), event))

    while n < n_events:
        platform, shop = shops[int(n_shops * rnd.random() ** 2)]  # a few big shops, many small
        buyer = f"{shop}-b{rnd.randrange(400)}"
        hour = rnd.choices(range(24), HOURLY)[0]
        t = DAY_START_MS + hour * 3_600_000 + rnd.randrange(3_600_000)
        for _question in range(2 if rnd.random() < 0.3 else 1):
            for _ in range(rnd.choice((1, 1, 2, 3))):
                emit(platform, shop, buyer, "buyer", t)
                t += rnd.randrange(1_000, 15_000)
            if platform in ("douyin", "taobao", "tmall") and rnd.random() < 0.6:
                emit(platform, shop, buyer, "bot", t + rnd.randrange(500, 3_000))
            if platform == "douyin":
                if rnd.random() < 0.3:
                    break  # the bot was enough: never handed over
                t += rnd.randrange(3_000, 30_000)
                emit(platform, shop, buyer, "system", t, "handoff")
            r = rnd.random()
            if r < 0.08:
                break  # never answered
            if r < 0.75:
                delay = min(60_000, int(rnd.expovariate(1 / 20_000)))
            elif r < 0.9:
                delay = rnd.randrange(60_000, 180_000)
            else:
                delay = rnd.randrange(180_000, 900_000)
            t += delay
            emit(platform, shop, buyer, "agent", t)
            t += rnd.randrange(10_000, 300_000)
        if rnd.random() < 0.005:
            emit(platform, shop, buyer, "system", t + 60_000, rnd.choice(("buyer_reported", "buyer_blocked")))
    sent.sort(key=lambda x: x[0])
    return [e for _, e in sent[:n_events]]


def _quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _decoded(records):
    """The records BATCH at a time, decoded just before they are observed, as the engine does
    (not timed): the tracker meets fresh columns and strings, as it will in the worker."""
    now_ms = DAY_START_MS + 2 * DAY_MS
    for i in range(0, len(records), BATCH):
        batch, rejects = decode_batch(records[i:i + BATCH], Limits(), now_ms, PLATFORMS)
        assert not rejects, rejects[:1]
        yield batch


def _dicts(batch) -> list[dict]:
    return [batch.event(i) for i in range(len(batch))]


def _batches(observe, batches) -> tuple[list[float], int]:
    """observe(batch) for each batch: ns per event of each batch, and ns in all."""
    clock = time.perf_counter_ns
    per_event, total = [], 0
    for batch in batches:
        t0 = clock()
        observe(batch)
        took = clock() - t0
        per_event.append(took / len(batch))
        total += took
    return per_event, total


def _singles(tracker, records) -> list[int]:
    clock = time.perf_counter_ns
    observe = tracker.observe
    out = []
    for batch in _decoded(records):
        for event in _dicts(batch):
            t0 = clock()
            observe(event)
            out.append(clock() - t0)
    return out


def _timer_ns() -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        t0 = clock()
        samples.append(clock() - t0)
    return statistics.median(samples)


def _lookup_ns(n_keys: int, lookups: int = 200_000) -> float:
    """ns per lookup of a random key in a dict of n_keys strings, loop included: with a large
    dict nearly every lookup misses the caches, so this shows what a miss costs on this machine
    (the tracker at 10k shops is bound by such misses; compare it with a small, cached dict)."""
    keys = [f"key{i}" for i in range(n_keys)]
    table = dict.fromkeys(keys)
    rnd = random.Random(3)
    order = [keys[rnd.randrange(n_keys)] for _ in range(lookups)]
    t0 = time.perf_counter_ns()
    for key in order:
        table[key]
    return (time.perf_counter_ns() - t0) / lookups


def _traced(feed) -> tuple[int, object]:
    """Bytes newly allocated and still held after feed() (which returns what it built)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    kept = feed()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return grown, kept


@pytest.fixture(scope="module", autouse=True)
def engine_gc():
    """The module's figures under the engine's collector settings, as scan and the worker run;
    Python's are put back after, for the benchmarks that share the process."""
    threshold = gc.get_threshold()
    tune_gc()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    gc.collect()


@pytest.fixture(scope="module")
def profiles():
    return {p: load_pack(default_rules_dir(), p).reply for p in PLATFORMS}


@pytest.fixture(scope="module")
def scale(pytestconfig):
    return SMOKE if _smoke(pytestconfig) else FULL


@pytest.fixture(scope="module")
def records(scale):
    """The day as JSON records only: a worker does not keep the events it has seen."""
    return [orjson.dumps(e) for e in generate_day(scale["events"], scale["shops"])]


def test_replies_throughput(benchmark, profiles, scale, records, results):
    def run():
        """The day `scale["rounds"]` times, a fresh tracker each: the batches of all runs."""
        per_event, total_ns = [], 0
        for _ in range(scale["rounds"]):
            tracker = ReplyTracker(profiles, allowed_lateness_ms=LATENESS_MS)
            per_round, round_ns = _batches(tracker.observe_decoded, _decoded(records))
            tracker.finish()
            per_event += per_round
            total_ns += round_ns
        return tracker, per_event, total_ns

    _batches(ReplyTracker(profiles, allowed_lateness_ms=LATENESS_MS).observe_decoded, _decoded(records[:20_000]))
    benchmark.group = "replies"
    # the memory probe on both sides of the timed day: the machine's latency moves by the hour
    lookup_before_ns = _lookup_ns(scale["probe_keys"])
    tracker, per_event, total_ns = benchmark.pedantic(run, rounds=1, iterations=1)
    lookup_big_ns = (lookup_before_ns + _lookup_ns(scale["probe_keys"])) / 2

    sample = records[:scale["sample"]]
    singles = _singles(ReplyTracker(profiles, allowed_lateness_ms=LATENESS_MS), sample)
    subset = records[:scale["oracle"]]
    native_subset = _batches(ReplyTracker(profiles, allowed_lateness_ms=LATENESS_MS).observe_decoded,
                             _decoded(subset))[1]
    oracle_batches = [_dicts(batch) for batch in _decoded(subset)]
    oracle_subset = _batches(reply_oracle.ReplyTracker(profiles, allowed_lateness_ms=LATENESS_MS).observe_batch,
                             oracle_batches)[1]

    rows = tracker.shop_days()
    row = {
        "events": len(records), "shops": tracker.shop_count(), "shop_days": len(rows),
        "consults": sum(r["consults"] for r in rows),
        "batch_median_us": statistics.median(per_event) / 1e3, "batch_p99_us": _quantile(per_event, 0.99) / 1e3,
        "events_per_s": len(records) * scale["rounds"] / total_ns * 1e9, "rounds": scale["rounds"],
        "single_median_us": statistics.median(singles) / 1e3, "single_p99_us": _quantile(singles, 0.99) / 1e3,
        "timer_us": _timer_ns() / 1e3, "sample": len(sample),
        "oracle_ratio": oracle_subset / native_subset, "oracle_us": oracle_subset / len(subset) / 1e3,
        "oracle_events": len(subset),
        "lookup_cached_ns": _lookup_ns(1000), "lookup_big_ns": lookup_big_ns,
        "median_in_lookups": statistics.median(per_event) / lookup_big_ns,
        "probe_keys": scale["probe_keys"],
    }
    benchmark.extra_info.update({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
    results.setdefault("replies", {}).update(row)


def test_replies_queries(profiles, records, results):
    """current_rows, shop_days and snapshots with every shop of the day in the tracker."""
    tracker = ReplyTracker(profiles, allowed_lateness_ms=LATENESS_MS)
    keys = set()
    for batch in _decoded(records):  # not timed
        tracker.observe_decoded(batch)
        keys.update(zip(batch.platform, batch.shop_id, strict=True))
    clock = time.perf_counter
    times = []
    for _ in range(5):
        t0 = clock()
        current = tracker.current_rows()
        times.append(clock() - t0)
    t0 = clock()
    tracker.shop_days()
    shop_days_s = clock() - t0
    t0 = clock()
    snapshots = [tracker.snapshot_shop(*key) for key in sorted(keys)]
    snapshot_s = clock() - t0
    assert current and len(snapshots) == tracker.shop_count()
    results.setdefault("replies", {}).update({
        "current_rows_ms": statistics.median(times) * 1e3, "current_rows": len(current),
        "query_shops": tracker.shop_count(), "shop_days_ms": shop_days_s * 1e3,
        "snapshot_us_per_shop": snapshot_s / len(keys) * 1e6,
        "snapshot_bytes_per_shop": sum(map(len, snapshots)) / len(snapshots),
    })


def test_replies_memory(profiles, scale, records, results):
    n = 20_000
    per_turn = {}
    for platform in PLATFORMS:
        asks = [{"event_id": f"m{i}", "platform": platform, "shop_id": "one", "buyer_id": f"buyer{i}",
                 "sender": "buyer", "kind": "message", "ts": DAY_START_MS + 10 * 3_600_000 + i}
                for i in range(n)]
        if platform == "douyin":  # its clock starts at the hand-over
            asks = [dict(e, sender="system", kind="handoff") for e in asks]

        def feed(asks=asks):
            tracker = ReplyTracker(profiles, allowed_lateness_ms=0)
            tracker.observe_batch(asks)
            return tracker

        grown, tracker = _traced(feed)
        per_turn[platform] = grown / tracker.open_turn_count()

    day = [e for batch in _decoded(records) for e in _dicts(batch)]
    subset = set(sorted({(e["platform"], e["shop_id"]) for e in day})[:scale["memory_shops"]])
    events = [e for e in day if (e["platform"], e["shop_id"]) in subset]
    del day

    def feed_day():
        tracker = ReplyTracker(profiles, allowed_lateness_ms=LATENESS_MS)
        tracker.observe_batch(events)
        return tracker

    grown, tracker = _traced(feed_day)
    results.setdefault("replies", {}).update({
        "bytes_per_open_turn": per_turn, "bytes_per_shop_day": grown / tracker.shop_count(),
        "memory_shops": tracker.shop_count(), "memory_events": len(events),
        "consults_per_shop_day": sum(r["consults"] for r in tracker.shop_days()) / tracker.shop_count(),
    })


def benchmark_tables(res: dict) -> list[dict]:
    r = res.get("replies", {})
    day, rows = "generated day", []
    if "batch_median_us" in r:
        scale = (f"{r['events']:,} events, {r['shops']:,} shops, {r['consults']:,} consults; "
                 f"batches of {BATCH}, runs of the day: {r['rounds']}")
        rows += [
            record(day, "observe_decoded per event, median over batches", r["batch_median_us"], "us/event",
                   budget=("<=", BUDGET_US_PER_EVENT), note=scale),
            record(day, "observe_decoded per event, p99 over batches", r["batch_p99_us"], "us/event"),
            record(day, "observe_decoded over the day", r["events_per_s"], "events/s"),
            record(day, "observe, one call timed, median", r["single_median_us"], "us/event",
                   note=f"{r['sample']:,} events; the timer alone {r['timer_us']:.3f} us"),
            record(day, "observe, one call timed, p99", r["single_p99_us"], "us/event"),
            record(day, "pure-Python oracle per event", r["oracle_us"], "us/event",
                   note=f"{r['oracle_events']:,} events"),
            record(day, "oracle time / native time, same events", r["oracle_ratio"], "x"),
            record("this machine", "dict lookup, in cache", r["lookup_cached_ns"], "ns"),
            record("this machine", "dict lookup at random, out of cache", r["lookup_big_ns"], "ns",
                   note=f"{r['probe_keys']:,} keys, before and after the timed day"),
            record(day, "observe_decoded median / random lookup", r["median_in_lookups"], "lookups",
                   note="the figure that carries over between machines"),
        ]
    if "current_rows_ms" in r:
        shops = f"{r['query_shops']:,} shops"
        rows += [
            record(day, "current_rows, every shop of the day", r["current_rows_ms"], "ms",
                   note=f"{shops}, {r['current_rows']:,} rows"),
            record(day, "shop_days, every shop of the day", r["shop_days_ms"], "ms", note=shops),
            record(day, "snapshot_shop, per shop", r["snapshot_us_per_shop"], "us"),
            record(day, "snapshot size, per shop", r["snapshot_bytes_per_shop"], "bytes"),
        ]
    if "bytes_per_open_turn" in r:
        rows += [record(platform, "memory per open turn", size, "bytes")
                 for platform, size in r["bytes_per_open_turn"].items()]
        rows.append(record(day, "memory per shop-day", r["bytes_per_shop_day"], "bytes",
                           note=f"{r['memory_shops']} shops, {r['memory_events']:,} events, "
                                f"{r['consults_per_shop_day']:.1f} consults per shop-day"))
    return [{"name": "replies", "title": "Reply tracking",
             "about": "The native reply tracker alone on a generated day of conversations (events out of order "
                      "within the allowed lateness), against its pure-Python oracle; memory by tracemalloc; "
                      "the machine's memory latency alongside, since the tracker is bound by cache misses.",
             "records": rows}]

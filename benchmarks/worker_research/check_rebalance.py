"""Correctness check of a batch mode under a real consumer-group rebalance and a table recovery.

    .venv/bin/python benchmarks/worker_research/check_rebalance.py --bootstrap 127.0.0.1:PORT \
        [--mode drain] [--produce deferred] [--second-after 3]

1. worker A (fixed group G, --table --decode --produce ..., slowed with --batch-sleep) starts on the
   whole input topic; after --second-after seconds worker B joins G -> Faust rebalance (eager:
   every partition revoked, then re-assigned across A and B, table recovery on the new owners);
2. waits until G's committed offsets equal the topic's end offsets, then SIGTERMs A and B;
3. reads the violations produced during the run: total vs unique violation ids (duplicates =
   at-least-once re-processing after the rebalance), expected = 1 per 33 offsets;
4. worker C (same group) starts with nothing left to consume, recovers the changelog-backed table
   and reports its contents: the per-shop counts must sum to exactly the number of input events
   when table flushes and offset commits are consistent (no double counting, nothing lost).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import common
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

HERE = Path(__file__).resolve().parent
PY = sys.executable


def spawn(a, group: str, *extra: str, log: str) -> subprocess.Popen:
    cmd = [PY, str(HERE / "faust_bench.py"), "--bootstrap", a.bootstrap, "--mode", a.mode,
           "--group", group, "--table", "--decode", "--produce", a.produce,
           "--poll-records", "2000", *extra]
    return subprocess.Popen(cmd, stdout=open(log + ".out", "w"), stderr=open(log + ".err", "w"))


async def end_offsets(bootstrap: str, topic: str) -> dict:
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap)
    await c.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(common.PARTITIONS)]
        return await c.end_offsets(tps)
    finally:
        await c.stop()


async def committed(bootstrap: str, group: str, tps) -> dict:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        return {tp: await c.committed(tp) for tp in tps}
    finally:
        await c.stop()


async def read_range(bootstrap: str, start: dict, end: dict) -> list:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await c.start()
    out = []
    try:
        c.assign(list(end))
        for tp, off in start.items():
            c.seek(tp, off)
        left = {tp for tp in end if end[tp] > start[tp]}
        while left:
            batch = await c.getmany(timeout_ms=1000, max_records=10000)
            for tp, recs in batch.items():
                for r in recs:
                    if r.offset < end[tp]:
                        out.append(r.value)
                if c_pos := await c.position(tp):
                    if c_pos >= end[tp]:
                        left.discard(tp)
    finally:
        await c.stop()
    return out


def events(log: str) -> list:
    return [ln.strip() for ln in open(log + ".err") if ln.startswith("EVENT")]


def result_lines(log: str) -> list:
    out = []
    for ln in open(log + ".out"):
        for tag in ("RESULT ", "STATS "):
            if tag in ln:
                out.append(json.loads(ln.split(tag, 1)[1]))
    return out


async def main() -> None:
    p = common.base_parser(__doc__)
    p.add_argument("--mode", default="drain", choices=["drain", "task"])
    p.add_argument("--produce", default="deferred", choices=["strict", "deferred"])
    p.add_argument("--second-after", type=float, default=3.0)
    p.add_argument("--batch-sleep", type=float, default=0.01)
    p.add_argument("--logdir", default="/tmp/wr-check")
    a = p.parse_args()
    os.makedirs(a.logdir, exist_ok=True)
    group = common.fresh_group(f"wr-check-{a.mode}")
    in_end = await end_offsets(a.bootstrap, a.topic)
    total_in = sum(in_end.values())
    out_start = await end_offsets(a.bootstrap, common.OUT_TOPIC)

    t0 = time.time()
    la, lb, lc = (f"{a.logdir}/{x}" for x in "ABC")
    pa = spawn(a, group, "--no-stop", "--batch-sleep", str(a.batch_sleep), log=la)
    await asyncio.sleep(a.second_after)
    pb = spawn(a, group, "--no-stop", "--batch-sleep", str(a.batch_sleep), log=lb)
    done = False
    while time.time() - t0 < a.timeout:
        await asyncio.sleep(2)
        com = await committed(a.bootstrap, group, list(in_end))
        if all((com.get(tp) or 0) >= in_end[tp] for tp in in_end):
            done = True
            break
        if pa.poll() is not None and pb.poll() is not None:
            break
    took = time.time() - t0
    for pr in (pa, pb):
        if pr.poll() is None:
            pr.send_signal(signal.SIGTERM)
    for pr in (pa, pb):
        try:
            pr.wait(60)
        except subprocess.TimeoutExpired:
            pr.kill()

    out_end = await end_offsets(a.bootstrap, common.OUT_TOPIC)
    vals = await read_range(a.bootstrap, out_start, out_end)
    ids = [orjson.loads(v)["violation_id"] for v in vals]
    expected_vio = sum(len(range(0, in_end[tp], 33)) for tp in in_end)

    pc = spawn(a, group, "--recover-report", log=lc)
    try:
        pc.wait(120)
    except subprocess.TimeoutExpired:
        pc.kill()
    rec = [r for r in result_lines(lc) if r.get("approach") == "recovery report"]

    report = {
        "mode": a.mode, "produce": a.produce, "group": group,
        "all_offsets_committed": done, "seconds_to_commit_all": round(took, 1),
        "input_events": total_in,
        "processed_by_A_B": [r.get("processed") for r in result_lines(la) + result_lines(lb) if "processed" in r],
        "events_A": events(la), "events_B": events(lb),
        "violations_expected": expected_vio, "violations_produced": len(ids),
        "violations_unique": len(set(ids)),
        "recovery_C": rec[0] if rec else None,
        "table_sum_equals_input": bool(rec) and rec[0]["table_sum"] == total_in,
        "exit_codes": [pa.returncode, pb.returncode, pc.returncode],
    }
    print(json.dumps(report, indent=1))
    common.emit({"approach": f"check_rebalance {a.mode}/{a.produce}", **{k: report[k] for k in (
        "all_offsets_committed", "violations_expected", "violations_produced", "violations_unique",
        "table_sum_equals_input")}})


if __name__ == "__main__":
    asyncio.run(main())

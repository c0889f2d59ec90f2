"""Run every approach as its own process against the same broker/topic and tabulate msgs/s.

    .venv/bin/python benchmarks/worker_research/run_all.py --bootstrap 127.0.0.1:PORT \
        [--out benchmarks/worker_research/results.json] [--quick]

The input topic must already hold the events (produce_events.py). The ceiling is the first
"raw aiokafka getmany" run; ratios are msgs/s divided by it. agent/take/conductor are slow
(~5-9k/s), so they consume only the first 200k/300k messages of the topic (steady-state rate).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import common

HERE = Path(__file__).resolve().parent
F = "faust_bench.py"
R = "raw_consume.py"
FULL = ["--decode", "--produce", "deferred", "--table"]

RUNS = [
    ("1", R, []),
    ("1", R, ["--max-records", "2000"]),
    ("1", R, ["--decode"]),
    ("1", R, ["--full"]),
    ("2", F, ["--mode", "agent", "--expect", "200000"]),
    ("3", F, ["--mode", "take", "--take", "2000", "--within", "0.5", "--expect", "200000"]),
    ("4a", F, ["--mode", "conductor", "--expect", "300000"]),
    ("4b", F, ["--mode", "task"]),
    ("4c", F, ["--mode", "drain"]),
    ("4c", F, ["--mode", "drain", "--decode"]),
    ("4b", F, ["--mode", "task", *FULL]),
    ("4c", F, ["--mode", "drain", *FULL]),
    ("4c", F, ["--mode", "drain", "--decode", "--produce", "strict", "--table"]),
    ("4c", F, ["--mode", "drain", *FULL, "--poll-records", "500"]),
    ("5", F, ["--mode", "drain", *FULL, "--uvloop"]),
    ("5", F, ["--mode", "drain", *FULL, "--quiet-monitor"]),
    ("5", F, ["--mode", "drain", *FULL, "--uvloop", "--quiet-monitor", "--gc-tune"]),
    ("5", F, ["--mode", "drain", "--uvloop", "--quiet-monitor"]),
    ("P", F, ["--mode", "drain", "--produce", "strict", "--produce-path", "faust"]),
    ("P", F, ["--mode", "drain", "--produce", "strict", "--produce-path", "aiokafka"]),
    ("P", F, ["--mode", "drain", "--produce", "strict", "--produce-path", "batch"]),
    ("P", F, ["--mode", "drain", "--produce", "deferred", "--produce-path", "batch"]),
    ("1", R, []),
]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--out", default=str(HERE / "results.json"))
    p.add_argument("--quick", action="store_true", help="skip the slow agent/take/conductor runs")
    a = p.parse_args()
    rows = []
    for step, script, args in RUNS:
        if a.quick and "--mode" in args and args[args.index("--mode") + 1] in ("agent", "take", "conductor"):
            continue
        res = common.run_script(script, ["--bootstrap", a.bootstrap, *args])
        res["step"] = step
        res["cmd"] = f"{script} {' '.join(args)}"
        rows.append(res)
        print(json.dumps(res), flush=True)
    ceiling = next(r["msgs_per_s"] for r in rows if r.get("approach") == "raw aiokafka getmany")
    lines = ["| step | approach | messages | msgs/s | ratio to raw ceiling |", "|---|---|---|---|---|"]
    for r in rows:
        mps = r.get("msgs_per_s")
        ratio = f"{mps / ceiling:.2f}" if mps else "-"
        lines.append(f"| {r['step']} | {r.get('approach')} | {r.get('messages', '-')} | "
                     f"{mps or r.get('error', '-')} | {ratio} |")
    Path(a.out).write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

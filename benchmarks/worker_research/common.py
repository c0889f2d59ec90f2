"""Shared helpers for the worker research benchmarks (research code, not part of the package).

Every benchmark prints exactly one JSON line prefixed with ``RESULT `` on stdout, so that
``run_all.py`` and ``benchmarks/test_worker_throughput.py`` can collect the numbers of separate
processes (``run_script``) into one table.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

IN_TOPIC = "wr-chat-events"
OUT_TOPIC = "wr-chat-violations"
PARTITIONS = 4
N_SHOPS = 10_000

PLATFORMS = ["taobao", "tmall", "pinduoduo", "jd", "douyin"]
TEXTS = [
    "亲，您好，有什么可以帮您的呢",
    "有发票的，随货寄出，请放心购买哦亲",
    "亲亲，这款今天下单明天就能发货的",
    "好的亲，我这边帮您备注一下颜色尺码",
    "亲，加个微.信吧，方便沟通",
]


def base_parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--bootstrap", required=True, help="host:port of the broker")
    p.add_argument("--topic", default=IN_TOPIC)
    p.add_argument("--expect", type=int, default=1_000_000,
                   help="messages to consume before stopping (the whole topic)")
    p.add_argument("--timeout", type=float, default=600.0)
    return p


def make_event(i: int, rnd: random.Random) -> tuple[bytes, bytes]:
    """One ~280-byte JSON chat event; key = shop id (10k shops)."""
    shop = f"shop-{rnd.randrange(N_SHOPS):05d}"
    ev = {
        "event_id": uuid.UUID(int=rnd.getrandbits(128)).hex,
        "platform": PLATFORMS[i % 5],
        "shop_id": shop,
        "conversation_id": f"c-{rnd.randrange(10**9):09d}",
        "buyer_id": f"b-{rnd.randrange(10**8):08d}",
        "sender": "agent" if i % 2 else "buyer",
        "agent_id": f"a-{rnd.randrange(10**4):04d}",
        "text": TEXTS[i % len(TEXTS)],
        "ts": 1_700_000_000_000 + i,
        "meta": {"item_id": rnd.randrange(10**9)},
    }
    v = json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode()
    return shop.encode(), v


def emit(result: dict) -> None:
    print("RESULT " + json.dumps(result), flush=True)


class Clock:
    """Wall clock from the first consumed message to the last (excludes start-up and join)."""

    def __init__(self) -> None:
        self.t_start_process = time.perf_counter()
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.n = 0

    def add(self, n: int) -> None:
        now = time.perf_counter()
        if self.t_first is None:
            self.t_first = now
        self.n += n
        self.t_last = now

    def result(self, **extra) -> dict:
        dt = (self.t_last or 0) - (self.t_first or 0)
        r = {
            "messages": self.n,
            "seconds": round(dt, 3),
            "msgs_per_s": round(self.n / dt) if dt > 0 else None,
            "startup_s": round((self.t_first or 0) - self.t_start_process, 3),
        }
        r.update(extra)
        return r


def run_script(script: str, args: list[str], timeout: float = 900) -> dict:
    """Run one of these scripts as its own process: its RESULT, or the end of its stderr."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve().parent / script), *args],
                          capture_output=True, text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if "RESULT " in line:  # Faust's worker may put terminal control codes before it
            return json.loads(line.split("RESULT ", 1)[1])
    return {"approach": " ".join(args), "error": (proc.stderr or "")[-500:]}


def fresh_group(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def die(msg: str) -> None:
    print(msg, file=sys.stderr)
    sys.exit(2)

"""`stream-guard gen`: its flags, its run (to a file, standard output or a Kafka topic) and its
summary line."""
from __future__ import annotations

import argparse
import sys
import time
from datetime import date

from stream_guard.config import settings
from stream_guard.config.argtypes import positive_int, rate
from stream_guard.evaluation.packs import PLATFORMS
from stream_guard.gen import GenConfig, generation, produce, write
from stream_guard.gen.config import DEFAULT_DAY, MAX_JITTER_MS


def cmd_gen(args: argparse.Namespace) -> int:
    platforms = tuple(p for p in args.platforms.split(",") if p) if args.platforms else PLATFORMS
    config = GenConfig(seed=args.seed, shops=args.shops, events=args.events, buyers_per_shop=args.buyers_per_shop,
                       day=args.day, violation_rate=args.violation_rate, bad_rate=args.bad_rate,
                       jitter_ms=args.jitter_ms, platforms=platforms, rules_dir=args.rules)
    started = time.perf_counter()
    if args.broker:
        from stream_guard.kafka.connect import KafkaUnreachable  # the Kafka client only for --broker
        from stream_guard.kafka.security import KafkaSecurity

        security = KafkaSecurity.from_settings(settings.resolve(args, "gen"))
        try:
            labels = produce(config, args.broker, args.topic, args.partitions, args.labels, security)
        except KafkaUnreachable as exc:
            print(f"stream-guard: {exc}", file=sys.stderr)
            return 1
    else:
        labels = write(config, args.out, args.labels)
    elapsed = time.perf_counter() - started
    if not args.quiet:
        c = labels["counts"]
        risk = [r for r in labels["shops"] if r["penalty_risk"]]
        rate_per_s = c["events"] / max(elapsed, 1e-9)
        sys.stderr.write(
            f"{c['events']:,} events ({c['bad_records']:,} bad lines more) from {c['buyers']:,} buyers in "
            f"{config.shops} shops on {config.day}; {c['violations']:,} violations; "
            f"{len(risk)} shop-day(s) at penalty risk; {elapsed:.1f} s ({rate_per_s:,.0f} events/s)\n")
    return 0


def _jitter(text: str) -> int:
    value = int(text)
    if not 0 <= value < MAX_JITTER_MS:
        raise argparse.ArgumentTypeError(f"{text} must be at least 0 and below {MAX_JITTER_MS} (the allowed lateness)")
    return value


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not a YYYY-MM-DD date") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    gen = sub.add_parser("gen", allow_abbrev=False,
                         help="generate a deterministic marketplace day of chat events, with labels",
                         description=generation.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    gen.add_argument("--seed", type=int, default=1, help="random seed (default 1): same seed, same bytes")
    gen.add_argument("--shops", type=positive_int, default=60, help="shops, spread over the platforms (default 60)")
    size = gen.add_mutually_exclusive_group()
    size.add_argument("--events", type=positive_int, default=100_000,
                      help="about how many valid events to make (default 100000)")
    size.add_argument("--buyers-per-shop", type=positive_int, help="mean buyers per shop, instead of --events")
    gen.add_argument("--day", type=_day, default=DEFAULT_DAY, help=f"local day, Asia/Shanghai (default {DEFAULT_DAY})")
    gen.add_argument("--violation-rate", type=rate, default=0.03,
                     help="share of agent messages that break a rule (default 0.03)")
    gen.add_argument("--bad-rate", type=rate, default=0.002, help="share of lines that are bad records (default 0.002)")
    gen.add_argument("--jitter-ms", type=_jitter, default=5000,
                     help="events arrive up to this much out of time order (default 5000, below 60000)")
    gen.add_argument("--platforms", help=f"comma-separated platforms (default: {','.join(PLATFORMS)})")
    gen.add_argument("--rules", help="rule packs directory (default: $STREAM_GUARD_RULES_DIR or the bundled rules/)")
    target = gen.add_mutually_exclusive_group()
    target.add_argument("--out", help="events JSONL ('-' or absent: stdout; a .gz name: gzip)")
    target.add_argument("--broker", help="produce the events to Kafka at this bootstrap address instead")
    gen.add_argument("--topic", default="chat-events", help="topic for --broker (default chat-events)")
    gen.add_argument("--partitions", type=positive_int, default=4,
                     help="partitions when --broker creates the topic (default 4)")
    gen.add_argument("--labels", help="labels JSON: config, violations, rejects, true per-shop reply figures")
    gen.add_argument("--quiet", action="store_true", help="no summary line on standard error")
    settings.add_arguments(gen, "gen")  # with --broker: how to reach it (docs/operations.md)
    gen.set_defaults(run=cmd_gen)

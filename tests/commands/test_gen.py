"""`stream-guard gen` and `stream_guard.gen` as a whole: determinism, the files and the command,
labels that are ground truth, reply figures that agree with the reply tracker, bad lines at their
rate, and a day that looks like one. The parts have their own tests: test_gen_<module>.py."""
import gzip
import json
import statistics
from collections import Counter, defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from stream_guard.cli import main as cli
from stream_guard.engine.events import Limits, decode
from stream_guard.evaluation.packs import PLATFORMS, default_rules_dir, load_pack
from stream_guard.evaluation.registry import compile_rulesets
from stream_guard.gen import GenConfig, generate, write
from stream_guard.gen.bad_records import BAD_REASONS
from stream_guard.gen.config import MAX_JITTER_MS
from stream_guard.tracking.replies import ReplyTracker

SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = compile_rulesets(default_rules_dir())
PROFILES = {p: load_pack(default_rules_dir(), p).reply for p in PLATFORMS}


def run(config: GenConfig):
    """(lines, labels) of one generated day."""
    gen = generate(config)
    lines = list(gen.lines())
    return lines, gen.labels


class Day:
    """A default day (60 shops, the default size), parsed by the test itself."""

    def __init__(self):
        self.config = GenConfig()
        self.lines, self.labels = run(self.config)
        self.bad = {r["line"]: r["reason"] for r in self.labels["rejects"]}
        self.events = [json.loads(raw) for n, raw in enumerate(self.lines, 1) if n not in self.bad]


@pytest.fixture(scope="module")
def day():
    return Day()


def local(ts: int) -> datetime:
    return datetime.fromtimestamp(ts / 1000, SHANGHAI)


# ---- determinism ------------------------------------------------------------------------------

def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    config = GenConfig(seed=5, events=3000)
    first, labels = run(config)
    again, labels_again = run(config)
    assert first == again and labels == labels_again
    other, _ = run(GenConfig(seed=6, events=3000))
    assert other != first
    # the files, plain and gzip, byte for byte (gzip without a name or time in its header)
    paths = [tmp_path / name for name in ("a.jsonl", "b.jsonl", "a.jsonl.gz", "b.jsonl.gz")]
    for path in paths:
        write(config, str(path), str(path) + ".labels.json")
    assert paths[0].read_bytes() == paths[1].read_bytes() == b"".join(line + b"\n" for line in first)
    assert paths[2].read_bytes() == paths[3].read_bytes()
    assert gzip.decompress(paths[2].read_bytes()) == paths[0].read_bytes()
    assert (tmp_path / "a.jsonl.labels.json").read_bytes() == (tmp_path / "b.jsonl.gz.labels.json").read_bytes()


def test_standard_output_gets_the_same_lines(capsysbinary):
    config = GenConfig(seed=5, events=3000)
    first, labels = run(config)
    assert write(config, "-", None) == labels
    assert capsysbinary.readouterr().out == b"".join(line + b"\n" for line in first)


def test_event_ids_are_unique(day):
    ids = [e["event_id"] for e in day.events]
    assert len(ids) == len(set(ids)) == day.labels["counts"]["events"]


def test_cli_writes_events_and_labels(tmp_path, capsys):
    out, labels = tmp_path / "day.jsonl.gz", tmp_path / "labels.json"
    assert cli.main(["gen", "--seed", "3", "--shops", "10", "--events", "2000", "--out", str(out),
                     "--labels", str(labels)]) == 0
    assert "events" in capsys.readouterr().err
    got = json.loads(labels.read_text(encoding="utf-8"))
    assert set(got) >= {"config", "violations", "rejects", "shops"}
    assert got["config"]["seed"] == 3 and got["config"]["shops"] == 10
    assert set(got["shops"][0]) == {"platform", "shop_id", "day", "consults", "valid", "rate", "penalty_risk"}
    lines = gzip.decompress(out.read_bytes()).splitlines()
    assert len(lines) == got["counts"]["lines"]
    with pytest.raises(SystemExit):
        cli.main(["gen", "--jitter-ms", str(MAX_JITTER_MS)])


# ---- labels are the ground truth --------------------------------------------------------------

def test_every_category_of_every_platform_appears_at_the_default_rate():
    gen = generate(GenConfig(seed=2, events=10_000))
    platform_of = {e["event_id"]: e["platform"] for e in gen.events()}
    found = defaultdict(set)
    for eid, categories in gen.labels["violations"].items():
        found[platform_of[eid]].update(categories)
    for platform in PLATFORMS:
        assert found[platform] == {r.category for r in RULES.for_platform(platform).rules}, platform


def test_labels_are_exactly_what_the_rules_find(day):
    labelled = day.labels["violations"]
    judged = 0
    evasions = Counter()
    for e in day.events:
        if e["sender"] not in ("agent", "bot") or e.get("kind", "message") != "message":
            assert e["event_id"] not in labelled
            continue
        found = sorted({f.rule.category for f in RULES.for_platform(e["platform"]).judge(
            e["text"], e["sender"], e.get("meta"))})
        assert found == labelled.get(e["event_id"], []), e  # recall and precision
        judged += 1
    agent_messages = sum(e["sender"] == "agent" for e in day.events)
    assert 0.02 < len(labelled) / agent_messages < 0.04  # the default rate, 3%
    evasions = day.labels["counts"]["evasions"]
    assert {"fullwidth", "traditional", "separators", "spaced_digits", "cn_numerals", "circled",
            "repeats"} <= set(evasions) and evasions["plain"] < sum(evasions.values()) * 0.7
    assert judged > 30_000


# ---- reply figures ----------------------------------------------------------------------------

@pytest.mark.parametrize("platform", PLATFORMS)
def test_reply_figures_equal_the_trackers(day, platform):
    tracker = ReplyTracker(PROFILES)
    for e in day.events:
        tracker.observe(e)
    tracker.finish()
    keys = ("platform", "shop_id", "day", "consults", "valid", "rate", "penalty_risk")
    got = [{k: r[k] for k in keys} for r in tracker.shop_days() if r["platform"] == platform]
    want = [r for r in day.labels["shops"] if r["platform"] == platform]
    assert got and got == want


def test_penalty_risk_at_the_default_size(day):
    pdd = [r for r in day.labels["shops"] if r["platform"] == "pinduoduo"]
    assert any(r["penalty_risk"] for r in pdd)
    assert any(r["consults"] > 100 and not r["penalty_risk"] for r in pdd)
    assert all(r["consults"] > 100 and r["rate"] < 0.5 for r in pdd if r["penalty_risk"])


# ---- bad records (each one's reason: test_gen_bad_records.py) --------------------------------

def test_bad_lines_at_the_default_rate_of_every_reason(day):
    assert set(day.bad.values()) == set(BAD_REASONS)
    assert 0.001 < len(day.bad) / len(day.lines) < 0.003  # the default rate, 0.2%
    assert all(b"\n" not in raw for raw in day.lines)
    now = day.events[-1]["ts"] + 86_400_000
    for n, raw in enumerate(day.lines, 1):  # the scan decoder agrees with the labels
        decoded = decode(raw, Limits(), now, frozenset(PLATFORMS))
        assert (decoded.reason if not isinstance(decoded, dict) else None) == day.bad.get(n), (n, raw[:200])


# ---- the shape of the day ---------------------------------------------------------------------

def conversations(events):
    by = defaultdict(list)
    for e in events:
        by[e["conversation_id"]].append(e)
    return [sorted(es, key=lambda e: e["ts"]) for es in by.values()]


def test_arrivals_peak_at_10_11_and_20_22_with_some_at_night(day):
    hours = Counter(local(es[0]["ts"]).hour for es in conversations(day.events))
    afternoon = statistics.mean(hours[h] for h in (14, 15, 16))
    assert min(hours[10], hours[11]) > 1.2 * afternoon
    assert min(hours[20], hours[21], hours[22]) > 1.2 * afternoon
    assert max(hours, key=hours.get) in (10, 11, 20, 21, 22)
    assert 0 < sum(hours[h] for h in range(8)) < 0.05 * sum(hours.values())
    assert hours[23] > 0


def test_turns_replies_sessions_bots_and_system_events(day):
    kinds = Counter(e.get("kind", "message") for e in day.events)
    assert kinds["handoff"] and kinds["buyer_reported"] and kinds["buyer_blocked"]
    assert {e["platform"] for e in day.events if e.get("kind") == "handoff"} == {"douyin"}
    responses, unanswered, bursts, gaps, bot_first = [], 0, Counter(), Counter(), 0
    for es in conversations(day.events):
        if es[0]["platform"] == "douyin":
            continue
        opened, run_, last = None, 0, None
        for e in es:
            if e["sender"] == "buyer":
                if opened is None:
                    opened, run_ = e, 0
                    if last is not None:
                        gaps["under 10 min" if e["ts"] - last < 600_000 else "over 10 min"] += 1
                run_ += 1
                last = e["ts"]
            elif e["sender"] == "bot" and opened is not None:
                bot_first += 1
            elif e["sender"] == "agent" and e.get("kind", "message") == "message":
                if opened is not None and 8 <= local(opened["ts"]).hour < 23:
                    responses.append((e["ts"] - opened["ts"]) / 1000)
                    bursts[min(run_, 4)] += 1
                opened = None
                last = e["ts"]
        unanswered += opened is not None
    responses.sort()
    assert statistics.median(responses) < 60
    assert sum(r < 60 for r in responses) > 0.6 * len(responses)
    assert 0.02 < sum(r > 180 for r in responses) / len(responses) < 0.25  # the long tail
    assert unanswered > 0
    assert all(bursts[k] > 0 for k in (1, 2, 3, 4)) and bursts[1] > bursts[4]
    assert gaps["under 10 min"] and gaps["over 10 min"] and bot_first
    metas = Counter(k for e in day.events for k, v in (e.get("meta") or {}).items() if v is True)
    assert metas["free_shipping"] and metas["cod_enabled"] and metas["credit_card_enabled"]


def test_arrival_order_jitter_stays_within_its_bound(day):
    newest, worst, swapped = 0, 0, 0
    for e in day.events:
        if e["ts"] < newest:
            swapped += 1
            worst = max(worst, newest - e["ts"])
        newest = max(newest, e["ts"])
    assert swapped and worst <= day.config.jitter_ms < MAX_JITTER_MS
    calm = [e["ts"] for e in generate(GenConfig(events=2000, jitter_ms=0)).events()]
    assert calm == sorted(calm)

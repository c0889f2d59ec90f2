"""What a scan counts and reports: the tally of one run, the JSON report and the summary people read."""
from __future__ import annotations

from collections import Counter

from stream_guard.engine.pipeline import Engine
from stream_guard.evaluation.detectors import mask_phone_numbers
from stream_guard.observe.metrics import TURN_OUTCOMES
from stream_guard.scan.files import Input, ReadError

WORST_SHOPS_SHOWN = 10
VIOLATIONS_COUNTED_BY = ("platform", "category", "severity", "rule_id")


class Tally:
    """What the report and the summary count."""

    def __init__(self):
        self.records = 0
        self.events = 0
        self.violations: dict[str, Counter[str]] = {key: Counter() for key in VIOLATIONS_COUNTED_BY}
        self.violation_count = 0
        self.incidents: Counter[str] = Counter()  # by platform
        self.points: Counter[str] = Counter()
        self.fines: Counter[str] = Counter()
        self.rejects: Counter[str] = Counter()
        self.turns: Counter[str] = Counter()

    def add(self, result) -> None:
        self.events += result.events
        self.violation_count += len(result.violations)
        for v in result.violations:
            for key, counter in self.violations.items():
                counter[v[key]] += 1
        for incident in result.incidents:
            self.incidents[incident.platform] += 1
            self.points[incident.platform] += incident.points
            self.fines[incident.platform] += incident.fine_cny
        for _, reject in result.rejects:
            self.rejects[reject.reason] += 1
        self.add_outcomes(result.outcomes)

    def add_outcomes(self, outcomes) -> None:
        for o in outcomes:
            self.turns[o.kind] += 1


def outcome_record(o, masked: bool = False) -> dict:
    """An outcome as scan writes it; `masked`: a buyer id that is a phone number as *."""
    return {"kind": o.kind, "platform": o.platform, "shop_id": o.shop_id,
            "buyer_id": mask_phone_numbers(o.buyer_id) if masked else o.buyer_id,
            "day": o.day, "opened_ts": o.opened_ts, "replied_ts": o.replied_ts,
            "response_s": o.response_s, "counted": o.counted, "event_id": o.event_id or None}


def build_report(engine: Engine, tally: Tally, source: Input, elapsed: float, broke_off: ReadError | None,
                 duplicate_events: int) -> dict:
    """The report of a scan. Every line read is accounted for: lines = records + blank lines,
    records = events + rejects; `read_error` says where the input broke off, if it did."""
    shops = [{k: row[k] for k in ("platform", "shop_id", "day", "consults", "valid", "rate", "penalty_risk",
                                  "penalty_fine_cny", "final")}
             for row in engine.tracker.shop_days()]
    return {
        "source": source.name,
        "lines": source.lines_read,
        "blank_lines": source.blank_lines,
        "records": tally.records,
        "events": tally.events,
        "duplicate_events": duplicate_events,
        "read_error": None if broke_off is None else {
            "line": broke_off.line, "offset": broke_off.offset, "reason": broke_off.reason},
        "seconds": round(elapsed, 3),
        "pack_versions": engine.pack_versions(),
        "violations": {
            "total": tally.violation_count,
            **{f"by_{key.removesuffix('_id')}": dict(sorted(counter.items()))
               for key, counter in tally.violations.items()},
        },
        "incidents": {
            "total": sum(tally.incidents.values()),
            "points": sum(tally.points.values()),
            "fine_cny": sum(tally.fines.values()),
            "by_platform": {p: {"incidents": n, "points": tally.points[p], "fine_cny": tally.fines[p]}
                            for p, n in sorted(tally.incidents.items())},
        },
        "rejects": {"total": sum(tally.rejects.values()), "by_reason": dict(sorted(tally.rejects.items()))},
        "replies": {
            "turns": {kind: tally.turns[kind] for kind in TURN_OUTCOMES},
            "reply_missed_notices": tally.turns["reply_missed"],
            "late_events": tally.turns["late_event"],
        },
        "shops": shops,
    }


def render_summary(report: dict) -> str:
    """The report for people: what a newcomer reads after `make demo`."""
    lines = [f"stream-guard scan of {report['source']}"]
    seconds = max(report["seconds"], 1e-9)
    lines.append(f"  events      {report['records']:,} records, {report['events']:,} valid, "
                 f"{report['rejects']['total']:,} rejected; {report['seconds']:.2f} s "
                 f"({report['records'] / seconds:,.0f} events/s)"
                 + (f"; {report['duplicate_events']:,} repeated event ids" if report["duplicate_events"] else ""))
    if report["read_error"]:
        broke = report["read_error"]
        lines.append(f"  INPUT BROKE OFF after line {broke['line']:,} (byte {broke['offset']:,}): {broke['reason']}")
    v = report["violations"]
    lines.append(f"  violations  {v['total']:,}")
    for category, n in sorted(v["by_category"].items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"      {category:<22} {n:>7,}")
    if v["by_severity"]:
        lines.append("  by severity " + ", ".join(f"{s} {n:,}" for s, n in v["by_severity"].items()))
    i = report["incidents"]
    lines.append(f"  incidents   {i['total']:,} (a category on a message, counted once): {i['points']:,} points, "
                 f"{i['fine_cny']:,} CNY in fines")
    r = report["replies"]
    lines.append("  replies     turns " + ", ".join(f"{k} {n:,}" for k, n in r["turns"].items())
                 + f"; {r['reply_missed_notices']:,} buyers waited past the deadline"
                 + (f"; {r['late_events']:,} events too late to count" if r["late_events"] else ""))
    shops = [s for s in report["shops"] if s["consults"]]
    if shops:
        lines.append(f"  worst shops by valid-reply rate ({len(shops):,} shop-days):")
        for s in sorted(shops, key=lambda s: (s["rate"], -s["consults"]))[:WORST_SHOPS_SHOWN]:
            risk = f"  PENALTY RISK {s['penalty_fine_cny']:,} CNY" if s["penalty_risk"] else ""
            lines.append(f"      {s['platform']:<10} {s['shop_id']:<14} {s['day']}  {100 * s['rate']:5.1f}% "
                         f"({s['valid']:,}/{s['consults']:,}){risk}")
    at_risk = [s for s in shops if s["penalty_risk"]]
    lines.append(f"  at penalty risk: {len(at_risk)} shop-day(s)"
                 + (": " + ", ".join(f"{s['platform']}/{s['shop_id']} {s['day']}" for s in at_risk[:10])
                    if at_risk else ""))
    rejects = report["rejects"]["by_reason"]
    if rejects:
        lines.append("  rejects     " + ", ".join(f"{k} {n:,}" for k, n in rejects.items()))
    return "\n".join(lines) + "\n"

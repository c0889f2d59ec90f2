"""Violation records (the contract in docs/design.md) built from findings."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stream_guard.evaluation.detectors import ASCII_FOLD_MAP, WECHAT_CHARS, TextView, mask_personal_data, star
from stream_guard.evaluation.ruleset import Finding, Ruleset

EXCERPT_CHARS = 200
# The version of the violation record's contract (docs/design.md): it goes up with an incompatible
# change, such as a new category, and is exported beside the pack versions.
CONTRACT_VERSION = "v2"


def violation_id(event_id: str, rule_id: str) -> str:
    """Deterministic: a redelivered event gives the same id, so consumers dedupe on it."""
    return hashlib.blake2b(f"{event_id}\x1f{rule_id}".encode(), digest_size=16).hexdigest()


def incident_id(event_id: str, category: str) -> str:
    """One category on one message is one incident, however many of its rules fire: what a
    platform penalises once. Deterministic, as violation ids are."""
    return hashlib.blake2b(f"{event_id}\x1e{category}".encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Incident:
    id: str
    platform: str
    category: str
    points: int  # the most of its violations' points and fines: the one penalty it costs
    fine_cny: int


def incidents(violations: Iterable[Mapping[str, Any]]) -> list[Incident]:
    """The incidents of violation records, each once, in the order they first appear."""
    found: dict[str, Incident] = {}
    for v in violations:
        seen = found.get(v["incident_id"])
        points, fine = v["penalty_points"], v["fine_cny"]
        if seen is not None:
            points, fine = max(points, seen.points), max(fine, seen.fine_cny)
        found[v["incident_id"]] = Incident(v["incident_id"], v["platform"], v["category"], points, fine)
    return list(found.values())


def excerpt(text: str, findings: list[Finding]) -> str:
    """The message with phone, card and id numbers, e-mail local parts and the WeChat ids a rule
    found masked, cut to EXCERPT_CHARS around the first hit when it is longer."""
    masked = _mask_ids(mask_personal_data(TextView(text)), findings)
    if len(masked) <= EXCERPT_CHARS:
        return masked
    first = min(span[0] for f in findings for span in f.spans)
    start = max(0, min(first - EXCERPT_CHARS // 4, len(masked) - EXCERPT_CHARS))
    return ("…" if start else "") + masked[start:start + EXCERPT_CHARS] + "…"


def mask_record(raw: bytes, rulesets: Iterable[Ruleset]) -> bytes:
    """A raw record (a reject, a dead letter) with its personal data masked as an excerpt's is:
    numbers and e-mail local parts, and the WeChat ids the wechat_id rule of any of the rulesets
    finds in it, read as an agent's message (no rule judged the record, and its platform may be
    what was wrong with it). Bytes that are not UTF-8 are kept as they are."""
    text = raw.decode("utf-8", "surrogateescape")
    findings = [f for ruleset in rulesets for f in ruleset.judge(text)]
    return _mask_ids(mask_personal_data(TextView(text)), findings).encode("utf-8", "surrogateescape")


def _mask_ids(text: str, findings: list[Finding]) -> str:
    """The WeChat ids of the findings of a wechat_id detector as `*` (their letters, digits, _ and -):
    an id, unlike a number, is only told from a word by the context that found it."""
    spans = [span for f in findings if f.rule.detector is not None and f.rule.detector.name == "wechat_id"
             for span in f.spans]
    if not spans:
        return text
    chars, folded = list(text), ASCII_FOLD_MAP.translate(text)  # full-width letters are id characters too
    for span in spans:
        star(chars, folded, span, WECHAT_CHARS)
    return "".join(chars)


def build_violations(event: Mapping[str, Any], findings: list[Finding], pack_version: str) -> list[dict]:
    """The violation records of an event's findings. The event's fields read are those of
    `_events.SOURCE_FIELDS`, which `EventBatch.violation_source` gives."""
    if not findings:
        return []
    shown = excerpt(event["text"], findings)
    return [
        {
            "violation_id": violation_id(event["event_id"], f.rule.id),
            "incident_id": incident_id(event["event_id"], f.rule.category),
            "event_id": event["event_id"],
            "shop_id": event["shop_id"],
            "platform": event["platform"],
            "conversation_id": event.get("conversation_id"),
            "agent_id": event.get("agent_id"),
            "rule_id": f.rule.id,
            "category": f.rule.category,
            "severity": f.rule.severity,
            "penalty_points": f.rule.points,
            "fine_cny": f.rule.fine_cny,
            "action": f.rule.action,
            "source": f.rule.source,
            "spans": [list(s) for s in f.spans],
            "spans_truncated": f.truncated,
            "excerpt": shown,
            "pack_version": pack_version,
            "ts": event["ts"],
        }
        for f in findings
    ]

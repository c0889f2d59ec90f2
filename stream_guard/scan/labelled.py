"""Scoring a labelled set of agent messages (`stream-guard rules eval`): reading it, judging it
through the same engine as `scan`, and the figures, misses and false alarms that come of it.

Owns: the labelled-line format (one JSON object a line: `platform`, `text`, `expect` required,
`meta` and `note` optional), its validation (a bad line is kept with its line number and reason,
never dropped), the chat events built from the lines, the scoring (a line with expected categories
is caught when a violation of one of them fires on it; a line expecting none is kept when nothing
fires on it), the figures per platform and per category, and the JSON report. Printing is the
command's (`stream_guard.cli.rules_eval`); texts leave this module only through `shown_text`, which
masks personal data.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from stream_guard.engine.pipeline import Engine
from stream_guard.evaluation.detectors import TextView, mask_personal_data
from stream_guard.evaluation.packs import CATEGORIES, PLATFORMS

SENDER = "agent"
SHOP_ID = "labelled-set"
BUYER_ID = "labelled-buyer"
# any fixed event time the engine accepts: only the reply tracker reads it, and no figure here does
EVENT_TS_MS = 1_700_000_000_000
BATCH_LINES = 1000
BAD_LINE_CHARS = 80  # how much of a bad line its report shows
REQUIRED_FIELDS = ("platform", "text", "expect")

Span = tuple[int, int]


@dataclass(frozen=True)
class LabelledLine:
    number: int  # 1-based line number in the file
    platform: str
    text: str
    meta: Mapping[str, Any]
    expect: tuple[str, ...]  # acceptable categories; empty: the message must stay clean
    note: str = ""


@dataclass(frozen=True)
class BadLine:
    number: int
    reason: str
    start: str  # the line's start, personal data masked


@dataclass(frozen=True)
class Fired:
    """One violation of a line's event."""

    rule_id: str
    category: str
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class Judged:
    line: LabelledLine
    fired: tuple[Fired, ...]

    @property
    def expects_violation(self) -> bool:
        return bool(self.line.expect)

    @property
    def correct(self) -> bool:
        """Caught (a violation line) or kept (a clean line)."""
        if self.line.expect:
            return any(f.category in self.line.expect for f in self.fired)
        return not self.fired


@dataclass
class Score:
    """Recall and clean-kept over some of the lines."""

    violations: int = 0
    caught: int = 0
    clean: int = 0
    kept: int = 0

    @property
    def recall(self) -> float | None:
        return self.caught / self.violations if self.violations else None

    @property
    def clean_kept(self) -> float | None:
        return self.kept / self.clean if self.clean else None

    def add(self, judged: Judged) -> None:
        if judged.expects_violation:
            self.violations += 1
            self.caught += judged.correct
        else:
            self.clean += 1
            self.kept += judged.correct

    def as_dict(self) -> dict[str, Any]:
        return {"violations": self.violations, "caught": self.caught, "recall": self.recall,
                "clean": self.clean, "kept": self.kept, "clean_kept": self.clean_kept}


@dataclass
class CategoryScore:
    """A category's recall over the lines that accept it (a line accepting several counts under
    each), and its false alarms: the clean lines on which a rule of the category fired."""

    violations: int = 0
    caught: int = 0
    false_alarms: int = 0

    @property
    def recall(self) -> float | None:
        return self.caught / self.violations if self.violations else None

    def as_dict(self, clean_lines: int) -> dict[str, Any]:
        kept = (clean_lines - self.false_alarms) / clean_lines if clean_lines else None
        return {"violations": self.violations, "caught": self.caught, "recall": self.recall,
                "false_alarms": self.false_alarms, "clean_kept": kept}


@dataclass
class Evaluation:
    judged: list[Judged]
    bad: list[BadLine]
    pack_versions: dict[str, str]
    overall: Score = field(default_factory=Score)
    by_platform: dict[str, Score] = field(default_factory=dict)  # in PLATFORMS order
    by_category: dict[str, CategoryScore] = field(default_factory=dict)  # in CATEGORIES order

    @property
    def misses(self) -> list[Judged]:
        return [j for j in self.judged if j.expects_violation and not j.correct]

    @property
    def false_alarms(self) -> list[Judged]:
        return [j for j in self.judged if not j.expects_violation and not j.correct]

    def below(self, min_recall: float | None, min_clean: float | None) -> list[str]:
        """The platforms under a threshold, as `platform: recall 0.912 < 0.970`; a platform with
        no line of the kind a threshold measures is not under it."""
        found = []
        for platform, score in self.by_platform.items():
            for name, value, minimum in (("recall", score.recall, min_recall),
                                         ("clean-kept", score.clean_kept, min_clean)):
                if minimum is not None and value is not None and value < minimum:
                    found.append(f"{platform}: {name} {value:.3f} < {minimum:.3f}")
        return found


def shown_text(text: str) -> str:
    """The text as it may be shown: every digit of a run of five or more digits and the local
    part of e-mail addresses replaced by `*`, length kept, so spans still point into it."""
    return mask_personal_data(TextView(text))


def parse_line(number: int, raw: bytes, platforms: Iterable[str] = PLATFORMS) -> LabelledLine | BadLine:
    """One line of a labelled file, or why it is not one."""
    served = set(platforms)

    def bad(reason: str) -> BadLine:
        start = raw.rstrip(b"\r\n")[:BAD_LINE_CHARS * 4].decode("utf-8", "replace")[:BAD_LINE_CHARS]
        return BadLine(number, reason, shown_text(start))

    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return bad(f"invalid JSON: {str(exc)[:120]}")
    if not isinstance(data, dict):
        return bad(f"not a JSON object but {type(data).__name__}")
    missing = [name for name in REQUIRED_FIELDS if data.get(name) is None]
    if missing:
        return bad("missing " + ", ".join(missing))
    platform, text, expect = data["platform"], data["text"], data["expect"]
    meta = {} if data.get("meta") is None else data["meta"]
    note = "" if data.get("note") is None else data["note"]
    if not isinstance(platform, str) or platform not in served:
        return bad(f"unknown platform {platform!r}: one of {', '.join(sorted(served))}")
    if not isinstance(text, str) or not text.strip():
        return bad("text is not a non-empty string")
    if not isinstance(expect, list) or not all(isinstance(c, str) for c in expect):
        return bad("expect is not a list of category names")
    unknown = [c for c in expect if c not in CATEGORIES]
    if unknown:
        return bad(f"unknown category {', '.join(map(repr, unknown))} in expect")
    if not isinstance(meta, dict):
        return bad("meta is not a JSON object")
    if not isinstance(note, str):
        return bad("note is not a string")
    return LabelledLine(number, platform, text, meta, tuple(dict.fromkeys(expect)), note)


def read_labelled(path: Path, platforms: Iterable[str] = PLATFORMS) -> tuple[list[LabelledLine], list[BadLine]]:
    """Every line of the file, parsed; lines holding only whitespace are not lines of the set."""
    served = tuple(platforms)
    lines: list[LabelledLine] = []
    bad: list[BadLine] = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            parsed = parse_line(number, raw, served)
            if isinstance(parsed, LabelledLine):
                lines.append(parsed)
            else:
                bad.append(parsed)
    return lines, bad


def event_record(line: LabelledLine) -> bytes:
    """The chat event (design.md, chat event in) a labelled line stands for."""
    return orjson.dumps({
        "event_id": f"labelled-{line.number}", "platform": line.platform, "shop_id": SHOP_ID,
        "conversation_id": "", "buyer_id": BUYER_ID, "sender": SENDER, "text": line.text,
        "ts": EVENT_TS_MS, "meta": dict(line.meta),
    })


def judge(engine: Engine, lines: Sequence[LabelledLine]) -> tuple[list[Judged], list[BadLine]]:
    """Every line through `Engine.process_batch`, as `scan` runs it; a line whose event the
    engine rejects (a text over the size limit, say) becomes a bad line with the engine's reason."""
    judged: list[Judged] = []
    rejected: list[BadLine] = []
    for first in range(0, len(lines), BATCH_LINES):
        batch = lines[first:first + BATCH_LINES]
        result = engine.process_batch([event_record(line) for line in batch])
        refused = {index: reject for index, reject in result.rejects}
        fired: dict[str, list[Fired]] = {}
        for v in result.violations:
            spans = tuple((int(s), int(e)) for s, e in v["spans"])
            fired.setdefault(v["event_id"], []).append(Fired(v["rule_id"], v["category"], spans))
        for index, line in enumerate(batch):
            if index in refused:
                reject = refused[index]
                rejected.append(BadLine(line.number, f"rejected by the engine: {reject.reason} ({reject.detail})",
                                        shown_text(line.text[:BAD_LINE_CHARS])))
            else:
                judged.append(Judged(line, tuple(fired.get(f"labelled-{line.number}", ()))))
    return judged, rejected


def score(judged: list[Judged], bad: list[BadLine], pack_versions: Mapping[str, str]) -> Evaluation:
    evaluation = Evaluation(judged, sorted(bad, key=lambda b: b.number), dict(pack_versions))
    by_platform: dict[str, Score] = {}
    by_category = {category: CategoryScore() for category in CATEGORIES}
    for j in judged:
        evaluation.overall.add(j)
        by_platform.setdefault(j.line.platform, Score()).add(j)
        for category in j.line.expect:
            by_category[category].violations += 1
            by_category[category].caught += j.correct
        if not j.expects_violation:
            for category in dict.fromkeys(f.category for f in j.fired):
                by_category[category].false_alarms += 1
    evaluation.by_platform = {p: by_platform[p] for p in PLATFORMS if p in by_platform}
    evaluation.by_category = {c: s for c, s in by_category.items() if s.violations or s.false_alarms}
    return evaluation


def evaluate(path: Path, rules_dir: Path) -> Evaluation:
    """Read, judge and score a labelled file with the packs of `rules_dir` (PackError when they
    are invalid, OSError when the file cannot be read)."""
    engine = Engine(rules_dir)
    lines, bad = read_labelled(path, engine.platforms)
    judged, rejected = judge(engine, lines)
    return score(judged, bad + rejected, engine.pack_versions())


def _fired_dict(f: Fired, text: str) -> dict[str, Any]:
    return {"rule_id": f.rule_id, "category": f.category, "spans": [list(s) for s in f.spans],
            "marked": mark_spans(shown_text(text), f.spans)}


def mark_spans(text: str, spans: Iterable[Span]) -> str:
    """The text with each span in 【】; overlapping or touching spans are bracketed as one."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out.append(text[pos:start] + "【" + text[start:end] + "】")
        pos = end
    return "".join(out) + text[pos:]


def report(evaluation: Evaluation, source: str, rules_dir: str,
           min_recall: float | None = None, min_clean: float | None = None) -> dict[str, Any]:
    """Everything `rules eval` prints, as JSON-ready data, with the thresholds and the platforms
    under them; texts with personal data masked."""
    clean_lines = evaluation.overall.clean

    def line_dict(j: Judged) -> dict[str, Any]:
        return {"line": j.line.number, "platform": j.line.platform, "expect": list(j.line.expect),
                "text": shown_text(j.line.text), "meta": dict(j.line.meta), "note": j.line.note,
                "fired": [_fired_dict(f, j.line.text) for f in j.fired]}

    return {
        "source": source,
        "rules_dir": rules_dir,
        "pack_versions": evaluation.pack_versions,
        "lines": len(evaluation.judged) + len(evaluation.bad),
        "overall": evaluation.overall.as_dict(),
        "by_platform": {p: s.as_dict() for p, s in evaluation.by_platform.items()},
        "by_category": {c: s.as_dict(clean_lines) for c, s in evaluation.by_category.items()},
        "misses": [line_dict(j) for j in evaluation.misses],
        "false_alarms": [line_dict(j) for j in evaluation.false_alarms],
        "bad_lines": [{"line": b.number, "reason": b.reason, "start": b.start} for b in evaluation.bad],
        "thresholds": {"min_recall": min_recall, "min_clean": min_clean,
                       "below": evaluation.below(min_recall, min_clean)},
    }

"""`stream-guard rules eval FILE.jsonl`: a labelled set scored by the engine, printed for people
and written as JSON; the exit code says whether it meets the thresholds.

The scoring is `stream_guard.scan.labelled`'s; this module parses the flags, prints and decides
the exit code: 2 for bad lines (unless --skip-bad) or unusable packs, 1 for a platform under
--min-recall or --min-clean, 0 otherwise.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from stream_guard.evaluation.packs import PackError, default_rules_dir
from stream_guard.scan import labelled
from stream_guard.scan.labelled import Evaluation, Judged

DESCRIPTION = """\
Score a labelled set of agent messages through the same engine as `scan`.

Each line of FILE is a JSON object: `platform`, `text`, `expect` (the acceptable categories; an
empty list means the message must stay clean on that platform), and optionally `meta` (the
event's meta) and `note`. Every line becomes an agent message on its platform. A violation line is
caught when a rule of one of its categories fires; a clean line is kept when no rule fires.

Printed: recall and clean-kept per platform, per category and overall, then every miss (what fired
instead, if anything), every false alarm (the rule, its category and its span in 【】) and every bad
line with its number. Texts are shown with personal data masked, on the terminal and in the
report: every digit of a run of five or more digits, and the local part of e-mail addresses,
becomes `*`.

Exit codes: 0 all good; 1 a platform is under --min-recall or --min-clean; 2 bad lines (invalid
JSON, a missing field, an unknown platform or category; unless --skip-bad) or unusable packs.
"""


LINE_BREAKS = str.maketrans({"\n": "⏎", "\r": "⏎"})  # a message's own line breaks, shown on its one line


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _fraction(part: int, whole: int) -> str:
    return f"{part}/{whole}" if whole else "-"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned first column, right-aligned figures."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for first, *figures in [header, *rows]:
        cells = [first.ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(figures, widths[1:], strict=True)]
        lines.append("  ".join(cells))
    return lines


def _fired_lines(j: Judged, lead: str) -> list[str]:
    marked = (labelled.mark_spans(labelled.shown_text(j.line.text), f.spans).translate(LINE_BREAKS) for f in j.fired)
    return [f"    {lead}{f.rule_id} ({f.category}): {text}" for f, text in zip(j.fired, marked, strict=True)]


def _heading(j: Judged) -> str:
    expected = f"  expected {' or '.join(j.line.expect)}" if j.line.expect else ""
    note = f"  ({j.line.note})" if j.line.note else ""
    return f"  line {j.line.number}  {j.line.platform}{expected}{note}"


def render(evaluation: Evaluation, source: str, rules_dir: str, skipped: bool) -> str:
    overall = evaluation.overall
    out = [f"{source}: {overall.violations + overall.clean} labelled lines, {overall.violations} violations "
           f"and {overall.clean} clean, judged with the packs in {rules_dir}", ""]
    rows = [[platform, _fraction(s.caught, s.violations), _ratio(s.recall), _fraction(s.kept, s.clean),
             _ratio(s.clean_kept)] for platform, s in [*evaluation.by_platform.items(), ("overall", overall)]]
    out += _table(["platform", "caught", "recall", "kept", "clean-kept"], rows)
    out.append("")
    rows = [[category, _fraction(s.caught, s.violations), _ratio(s.recall), str(s.false_alarms)]
            for category, s in evaluation.by_category.items()]
    out += _table(["category", "caught", "recall", "false alarms"], rows)
    misses, alarms = evaluation.misses, evaluation.false_alarms
    out += ["", f"misses: {len(misses)}"]
    for j in misses:
        out += [_heading(j), f"    {labelled.shown_text(j.line.text).translate(LINE_BREAKS)}"]
        out += _fired_lines(j, "fired instead: ") or ["    nothing fired"]
    out += ["", f"false alarms: {len(alarms)}"]
    for j in alarms:
        out += [_heading(j), *_fired_lines(j, "")]
    if evaluation.bad:
        out += ["", f"bad lines: {len(evaluation.bad)}" + (" (skipped)" if skipped else "")]
        out += [f"  line {b.number}: {b.reason}: {b.start}" for b in evaluation.bad]
    out += ["", f"recall {_ratio(overall.recall)} ({_fraction(overall.caught, overall.violations)}), "
                f"clean-kept {_ratio(overall.clean_kept)} ({_fraction(overall.kept, overall.clean)}); "
                f"{_count(len(misses), 'miss', 'misses')}, {_count(len(alarms), 'false alarm', 'false alarms')}, "
                f"{_count(len(evaluation.bad), 'bad line', 'bad lines')}"]
    return "\n".join(out) + "\n"


def cmd_eval(args: argparse.Namespace) -> int:
    rules_dir = args.rules or default_rules_dir()
    try:
        evaluation = labelled.evaluate(args.file, rules_dir)
    except PackError as exc:
        print(f"stream-guard: rule packs in {rules_dir} are invalid ({len(exc.problems)} problems; "
              f"`stream-guard rules check` lists them): {exc.problems[0]}", file=sys.stderr)
        return 2
    if not evaluation.judged:
        for b in evaluation.bad:
            print(f"line {b.number}: {b.reason}: {b.start}", file=sys.stderr)
        print(f"stream-guard: no usable labelled line in {args.file}", file=sys.stderr)
        return 2
    below = evaluation.below(args.min_recall, args.min_clean)
    if args.report:
        data = labelled.report(evaluation, str(args.file), str(rules_dir), args.min_recall, args.min_clean)
        Path(args.report).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.write(render(evaluation, str(args.file), str(rules_dir), args.skip_bad))
    if evaluation.bad and not args.skip_bad:
        print(f"stream-guard: {_count(len(evaluation.bad), 'bad line', 'bad lines')} in {args.file} (listed above); "
              f"fix them or pass --skip-bad", file=sys.stderr)
        return 2
    if below:
        print("stream-guard: under the threshold on " + "; ".join(below), file=sys.stderr)
        return 1
    return 0


def _fraction_arg(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"a fraction between 0 and 1, not {value}")
    return number


def add_parser(rules_sub: argparse._SubParsersAction) -> None:
    ev = rules_sub.add_parser("eval", help="score a labelled JSONL set: recall, clean-kept, misses, false alarms",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("file", type=Path, help="labelled messages, one JSON object a line")
    ev.add_argument("--rules", type=Path, metavar="DIR",
                    help="the rule packs (default: STREAM_GUARD_RULES_DIR, else the bundled ones)")
    ev.add_argument("--report", metavar="FILE", help="write everything printed as JSON to this file")
    ev.add_argument("--min-recall", type=_fraction_arg, metavar="X",
                    help="exit 1 when a platform's recall is under X (0 to 1)")
    ev.add_argument("--min-clean", type=_fraction_arg, metavar="X",
                    help="exit 1 when a platform's clean-kept share is under X (0 to 1)")
    ev.add_argument("--skip-bad", action="store_true",
                    help="score the good lines when some are bad (still listed and counted) instead of exiting 2")
    ev.set_defaults(run=cmd_eval)

"""`stream-guard rules check|test|explain|eval` (`eval` is `stream_guard.cli.rules_eval`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from stream_guard.cli import rules_eval
from stream_guard.evaluation import checks
from stream_guard.evaluation.packs import PLATFORMS, default_rules_dir, load_all
from stream_guard.evaluation.ruleset import Ruleset


def check(directory: Path) -> tuple[list[str], list[str]]:
    """The problems and the warnings of the packs of a directory (evaluation.checks)."""
    checked = checks.check(directory)
    return checked.problems, checked.warnings


def cmd_check(args) -> int:
    problems, warnings = check(args.dir)
    for line in problems + warnings:
        print(line)
    if problems:
        print(f"{_counted(len(problems), 'problem')}, {_counted(len(warnings), 'warning')}", file=sys.stderr)
        return 1
    print(f"{args.dir}: rule packs are valid" + (f" ({_counted(len(warnings), 'warning')})" if warnings else ""))
    return 0


def _counted(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def cmd_test(args) -> int:
    packs, problems = load_all(args.dir)
    for line in problems:
        print(line, file=sys.stderr)
    rows: list[tuple[str, str, int, int, int, int]] = []
    failures: list[str] = []
    for platform, pack in packs.items():
        tally: dict[str, list[int]] = {}
        for rule, kind, ex, passed in checks.example_results(Ruleset(pack)):
            t = tally.setdefault(rule.id, [0, 0, 0, 0])
            offset = 0 if kind == "hit" else 2
            t[offset] += passed
            t[offset + 1] += 1
            if not passed:
                failures.append(f"FAIL {platform} {rule.id} {kind}: {checks.describe(ex)}")
        rows += [(platform, rid, t[0], t[1], t[2], t[3]) for rid, t in tally.items()]
    width = max((len(r[1]) for r in rows), default=10)
    print(f"{'platform':<10} {'rule':<{width}}  hit    clean  result")
    for platform, rid, hp, ht, cp, ct in rows:
        ok = hp == ht and cp == ct
        print(f"{platform:<10} {rid:<{width}}  {hp}/{ht:<4} {cp}/{ct:<4} {'pass' if ok else 'FAIL'}")
    for line in failures:
        print(line)
    total = sum(r[3] + r[5] for r in rows)
    passing = sum(r[2] + r[4] for r in rows)
    print(f"\n{passing} passed, {total - passing} failed")
    return 1 if failures or problems else 0


def _parse_meta(pairs: list[str]) -> dict:
    meta = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--meta wants key=value, not {pair!r}")
        try:
            meta[key] = json.loads(value)
        except json.JSONDecodeError:
            meta[key] = value
    return meta


def cmd_explain(args) -> int:
    packs, problems = load_all(args.dir)
    if args.platform not in packs:
        print(f"stream-guard: no usable pack for {args.platform}: " + "; ".join(problems[:3]), file=sys.stderr)
        return 2
    ruleset = Ruleset(packs[args.platform])
    text = args.text
    hits, decisions = ruleset.explain(text, args.role, _parse_meta(args.meta))
    print(f"text:       {text}")
    print(f"normalised: {ruleset.matcher.normalize(text)}")
    print(f"pack:       {ruleset.version}")
    print("hits:" if hits else "hits: none")
    for pid, start, end in hits:
        marked = text[:start] + "【" + text[start:end] + "】" + text[end:]
        print(f"  {ruleset.phrases[pid]!r:<14} [{start}, {end})  {marked}")
    print("rules:" if decisions else "rules: none touched")
    for d in decisions:
        state = "FIRES" if d.fired else "no"
        spans = " spans " + ", ".join(f"[{s}, {e})" for s, e in d.spans) if d.spans else ""
        print(f"  {state:<5} {d.rule.id} ({d.rule.category}, {d.rule.severity}){spans}: {d.reason}")
        for (hs, he), (cs, ce) in d.cancelled:
            print(f"        hit {text[hs:he]!r} cancelled by allowed phrase {text[cs:ce]!r}")
    return 0


def add_parser(sub) -> None:
    rules = sub.add_parser("rules", help="validate, test, explain and evaluate rule packs")
    rsub = rules.add_subparsers(dest="rules_command", required=True)
    for name, func, helptext in (("check", cmd_check, "validate packs; non-zero exit on problems"),
                                 ("test", cmd_test, "run every example, print a pass/fail table")):
        p = rsub.add_parser(name, help=helptext)
        p.add_argument("dir", nargs="?", type=Path, default=default_rules_dir())
        p.set_defaults(run=func)
    explain = rsub.add_parser("explain", help="show how a message is normalised and judged")
    explain.add_argument("--platform", required=True, choices=PLATFORMS)
    explain.add_argument("--dir", type=Path, default=default_rules_dir())
    explain.add_argument("--role", default="agent", choices=("buyer", "agent", "bot", "system"))
    explain.add_argument("--meta", action="append", default=[], help="event meta as key=value (JSON values)")
    explain.add_argument("text")
    explain.set_defaults(run=cmd_explain)
    rules_eval.add_parser(rsub)

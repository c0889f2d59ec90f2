"""False alarms of the rule packs on ordinary service talk.

Runs every platform's pack over the agent and unknown-role lines of
../shared/data/cs_utterances.tsv as if each line were sent by an agent on that platform, and
prints the share flagged per platform and category, then a sample of flagged lines (personal
numbers masked) to read.

    .venv/bin/python scripts/rules_corpus_report.py [--sample 5] [--rules DIR] [--corpus FILE]

It needs the package (`make build`), so it runs with the project's virtualenv.
"""
from __future__ import annotations

import argparse
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

try:
    from stream_guard.evaluation.detectors import TextView, mask_personal_data
    from stream_guard.evaluation.packs import default_rules_dir
    from stream_guard.evaluation.registry import compile_rulesets
except ModuleNotFoundError as exc:
    sys.exit(f"{exc}: run this with the project's virtualenv, after `make build`: "
             ".venv/bin/python scripts/rules_corpus_report.py")

HOME_MARKS = ("京东", "jd", "JD", "Jd")  # as in tests/unit/evaluation/test_rule_packs.py
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "cs_utterances.tsv"


def names_home(text: str) -> bool:
    return any(mark in text for mark in HOME_MARKS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=Path, default=default_rules_dir())
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--sample", type=int, default=5, help="flagged lines shown per platform and rule")
    args = parser.parse_args()
    if not args.corpus.is_file():
        print(f"missing corpus {args.corpus}: the shared data set is expected beside the project root "
              f"(../shared/data/cs_utterances.tsv), or pass --corpus", file=sys.stderr)
        return 2
    with args.corpus.open(encoding="utf-8") as fh:
        rows = (line.rstrip("\n").split("\t", 1) for line in fh)
        lines = [r[1] for r in rows if len(r) == 2 and r[0] in ("agent", "unknown") and r[1]]
    snapshot = compile_rulesets(args.rules)
    rng = random.Random(7)
    print(f"{len(lines)} agent/unknown lines from {args.corpus.name}\n")
    neutral = [t for t in lines if not names_home(t)]
    print(f"share*: among the {len(neutral)} lines that do not name JD, the corpus's own marketplace "
          f"(on other platforms those are real violations: competitor names, outside links)\n")
    print(f"{'platform':<10} {'flagged':>8} {'share':>7} {'share*':>8}  by category")
    samples = {}
    for platform, ruleset in snapshot.rulesets.items():
        per_category, per_rule = Counter(), defaultdict(list)
        flagged = 0
        flagged_neutral = 0
        for text, findings in zip(lines, ruleset.judge_batch((t, "agent", {}) for t in lines), strict=True):
            if findings:
                flagged += 1
                flagged_neutral += not names_home(text)
            for f in findings:
                per_category[f.rule.category] += 1
                per_rule[f.rule.id].append((text, f.spans))
        cats = ", ".join(f"{c} {n} ({n / len(lines):.3%})" for c, n in per_category.most_common())
        shares = f"{flagged / len(lines):>7.3%} {flagged_neutral / len(neutral):>8.3%}"
        print(f"{platform:<10} {flagged:>8} {shares}  {cats}")
        samples[platform] = per_rule
    for platform, per_rule in samples.items():
        for rule_id, items in sorted(per_rule.items()):
            print(f"\n[{platform}] {rule_id}: {len(items)} lines, e.g.")
            for text, spans in rng.sample(items, min(args.sample, len(items))):
                masked = mask_personal_data(TextView(text))
                marked = "".join(("【" if any(s == i for s, _ in spans) else "") + ch +
                                 ("】" if any(e == i + 1 for _, e in spans) else "")
                                 for i, ch in enumerate(masked))
                print(f"    {marked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What makes a directory of rule packs fit to serve: the loader's problems, and those only
compiling the packs and running their examples find (a pack that does not compile, a phrase an
allowed phrase of its rule always covers, an example that does not do what it says).

`rules check` prints them; the registry serves packs only when there are none, at start and on
every reload, so what is in force always passed the check an author runs.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stream_guard.evaluation.packs import Example, Rule, load_checked
from stream_guard.evaluation.ruleset import Ruleset


@dataclass
class Checked:
    rulesets: dict[str, Ruleset] = field(default_factory=dict)  # those that compiled
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def example_results(ruleset: Ruleset) -> Iterator[tuple[Rule, str, Example, bool]]:
    """(rule, kind, example, passed) for every example of every rule of a platform."""
    for rule in ruleset.rules:
        for kind, examples in (("hit", rule.hit_examples), ("clean", rule.clean_examples)):
            for ex in examples:
                fired = {f.rule.id for f in ruleset.judge(ex.text, ex.role, dict(ex.meta))}
                yield rule, kind, ex, (rule.id in fired) == (kind == "hit")


def describe(ex: Example) -> str:
    extra = f" meta={dict(ex.meta)}" if ex.meta else ""
    return f"{ex.text!r}{extra}" + (f" role={ex.role}" if ex.role != "agent" else "")


def check(directory: Path) -> Checked:
    loaded = load_checked(directory)
    checked = Checked(problems=list(loaded.problems), warnings=loaded.warnings)

    def at(rule: Rule) -> str:
        return f"{rule.origin}:{loaded.rule_line(rule)}: {rule.id}"

    for platform, pack in loaded.packs.items():
        try:
            ruleset = Ruleset(pack)
        except (TypeError, ValueError) as exc:
            checked.problems.append(f"{platform}.toml:1: -: cannot compile: {exc}")
            continue
        checked.rulesets[platform] = ruleset
        for rule in pack.rules:
            for phrase in ruleset.allowed_everywhere(rule):
                checked.problems.append(f"{at(rule)}: phrase {phrase!r} can never fire: "
                                        f"an allowed phrase of the rule normalises to the same text")
        for rule, kind, ex, passed in example_results(ruleset):
            if not passed:
                verb = "does not fire" if kind == "hit" else "fires"
                checked.problems.append(f"{at(rule)}: on {platform}, {kind} example {verb}: {describe(ex)}")
    checked.problems = list(dict.fromkeys(checked.problems))
    return checked

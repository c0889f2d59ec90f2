"""Judging is linear in a message's length, however dense in hits: for every adversarial family
(tests/adversarial_texts.py) and every platform's pack, a text four times longer takes at most
LIMIT times as long (linear gives 4, quadratic 16).

Timing on a shared machine is noisy; what keeps this robust: time is the process's CPU time, not
the wall clock, each figure is the best of several
rounds (noise only ever adds time), each round calls judge() enough times to last about a
millisecond, a family stops as soon as its best ratio is under the limit (or when its long text
is slow and hopelessly over), and the limit leaves 2.5x room over linear. A quadratic path shows
as 16x on these lengths and cannot hide under it."""
from __future__ import annotations

import math
import time

import pytest
from adversarial_texts import FAMILIES, ordinary_text, units_in

from stream_guard.evaluation.packs import default_rules_dir
from stream_guard.evaluation.registry import compile_rulesets

SHORT_BYTES = 4 * 1024  # the long text is four times as many units: up to the 16 KiB limit
GROWTH = 4
LIMIT = GROWTH * 2.5
ROUNDS = 5
ROUND_S = 0.001  # a round lasts at least this long, so the clock's resolution does not matter
# a long text this slow, and this far over the limit, does not come down with more rounds: stop
# there, so a quadratic family fails in seconds (a fast text always gets every round: one noisy
# round can put it far over)
SLOW_S = 0.2
HOPELESS = 2 * LIMIT


@pytest.fixture(scope="module")
def rulesets():
    return compile_rulesets(default_rules_dir()).rulesets


def _seconds_per_call(judge, text: str, calls: int) -> float:
    # the process's own CPU time: other work on the machine does not count in it
    t0 = time.process_time()
    for _ in range(calls):
        judge(text)
    return (time.process_time() - t0) / calls


def growth(judge, short: str, long: str) -> float:
    """Best time of `long` over best time of `short`, rounds added while the ratio is over LIMIT."""
    judge(short)  # warm: lazy tables, caches
    once = _seconds_per_call(judge, short, 1)
    calls = max(1, math.ceil(ROUND_S / max(once, 1e-9)))
    best_short = min(_seconds_per_call(judge, short, calls) for _ in range(ROUNDS))
    best_long = math.inf
    for _ in range(ROUNDS):
        best_long = min(best_long, _seconds_per_call(judge, long, calls))
        ratio = best_long / best_short
        if ratio < LIMIT or (ratio > HOPELESS and best_long * calls > SLOW_S):
            break
    # the short text once more: a quiet moment later in the run may give it a better best
    best_short = min(best_short, _seconds_per_call(judge, short, calls))
    return best_long / best_short


def _texts(unit: str) -> tuple[str, str]:
    count = units_in(unit, SHORT_BYTES)
    return unit * count, unit * (GROWTH * count)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_judging_grows_linearly(rulesets, family):
    short, long = _texts(FAMILIES[family])
    ratios = {platform: growth(ruleset.judge, short, long) for platform, ruleset in rulesets.items()}
    worst = max(ratios, key=ratios.__getitem__)
    assert ratios[worst] < LIMIT, (
        f"{family!r}: {len(long)} characters take {ratios[worst]:.1f}x the time of {len(short)} on {worst} "
        f"(limit {LIMIT:g}x; linear is {GROWTH}x); by platform: "
        + ", ".join(f"{p} {r:.1f}x" for p, r in ratios.items()))


def test_ordinary_text_grows_linearly(rulesets):
    short = ordinary_text(rulesets.values(), SHORT_BYTES)
    long = short * GROWTH
    for platform, ruleset in rulesets.items():
        ratio = growth(ruleset.judge, short, long)
        assert ratio < LIMIT, f"ordinary text on {platform}: {ratio:.1f}x for {GROWTH}x the length"


def test_growth_tells_quadratic_from_linear():
    """The measure itself: a quadratic function shows over the limit, a linear one under it."""
    def quadratic(text):
        return sum(1 for a in text for b in text if a is b)

    def linear(text):
        return sum(1 for a in text for _ in range(40) if a)

    short, long = "x" * 300, "x" * 1200
    assert growth(quadratic, short, long) > LIMIT
    assert growth(linear, short, long) < LIMIT

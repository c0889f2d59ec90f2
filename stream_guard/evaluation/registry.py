"""The rulesets in force, reloadable without a restart.

`reload()` compiles every pack aside and swaps one reference: a caller takes `current` once per
batch, so every event of the batch is judged by exactly one ruleset version, and an event is
never judged twice or dropped across a swap. Packs are served only when `rules check` would pass
(evaluation.checks, examples included), at start and on reload. A reload is refused, whole, when it
has problems, or when it changes a platform's `[reply]` profile: the tracker counts a day under the
profile it started with, and half a day under each would be neither. The old rulesets stay in
force and the problems are returned; every version in force is then the version of what is
applied.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from stream_guard.evaluation import checks
from stream_guard.evaluation.packs import PackError
from stream_guard.evaluation.ruleset import Ruleset


@dataclass(frozen=True)
class Snapshot:
    rulesets: dict[str, Ruleset]

    @property
    def version(self) -> str:
        return ",".join(r.version for r in self.rulesets.values())

    def for_platform(self, platform: str) -> Ruleset | None:
        return self.rulesets.get(platform)


def compile_rulesets(directory: Path) -> Snapshot:
    """The rulesets of a directory's packs; PackError when `rules check` would find problems."""
    checked = checks.check(directory)
    if checked.problems:
        raise PackError(checked.problems)
    return Snapshot(checked.rulesets)


class Registry:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._lock = threading.Lock()  # one reload at a time; readers never wait
        self._current = compile_rulesets(self.directory)

    @property
    def current(self) -> Snapshot:
        return self._current

    def reload(self) -> list[str]:
        """Compile aside and swap; the problems found (none: swapped)."""
        with self._lock:
            try:
                fresh = compile_rulesets(self.directory)
            except PackError as exc:
                return exc.problems
            changed = [f"{platform}.toml:1: reply: the [reply] profile changed: a running worker keeps the profiles "
                       f"it started with (restart it to apply the change; the rest of the reload is refused too)"
                       for platform, ruleset in fresh.rulesets.items()
                       if platform in self._current.rulesets
                       and ruleset.pack.reply != self._current.rulesets[platform].pack.reply]
            if changed:
                return changed
            self._current = fresh
            return []

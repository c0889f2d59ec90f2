"""The rulesets in force, reloadable without a restart.

`reload()` compiles every pack aside and swaps one reference: a caller takes `current` once per
batch, so every event of the batch is judged by exactly one ruleset version, and an event is
never judged twice or dropped across a swap. A pack with problems is not swapped in; the old
rulesets stay in force and the problems are returned.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from stream_guard.evaluation.packs import PackError, load_all
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
    packs, problems = load_all(directory)
    if problems:
        raise PackError(problems)
    return Snapshot({platform: Ruleset(pack) for platform, pack in packs.items()})


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
            self._current = fresh
            return []

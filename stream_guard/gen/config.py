"""The generator's options (`GenConfig`), their defaults and their checks, and the day they start from."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dt_time
from zoneinfo import ZoneInfo

from stream_guard.evaluation.packs import PLATFORMS

DEFAULT_DAY = "2026-10-20"  # a fixed past day: the output never depends on the wall clock
ZONE = ZoneInfo("Asia/Shanghai")
MAX_JITTER_MS = 60_000  # the tracker's default allowed lateness; jitter must stay below it


@dataclass(frozen=True)
class GenConfig:
    seed: int = 1
    shops: int = 60
    events: int = 100_000          # target count of valid events (approximate)
    buyers_per_shop: int | None = None  # instead of `events`: the mean buyers per shop
    day: str = DEFAULT_DAY         # local day, Asia/Shanghai
    violation_rate: float = 0.03   # share of agent messages that violate a rule
    bad_rate: float = 0.002        # share of output lines that are bad records
    jitter_ms: int = 5000          # events arrive up to this much out of order
    platforms: tuple[str, ...] = PLATFORMS
    rules_dir: str | None = None   # default: the bundled rules

    def check(self) -> None:
        date.fromisoformat(self.day)
        if self.shops < 1:
            raise ValueError("--shops must be at least 1")
        if self.events < 1 or (self.buyers_per_shop is not None and self.buyers_per_shop < 1):
            raise ValueError("the target events and buyers per shop must be positive")
        for name in ("violation_rate", "bad_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a rate between 0 and 1")
        if not 0 <= self.jitter_ms < MAX_JITTER_MS:
            raise ValueError(f"--jitter-ms must be at least 0 and below the allowed lateness ({MAX_JITTER_MS} ms)")
        unknown = set(self.platforms) - set(PLATFORMS)
        if unknown or not self.platforms:
            raise ValueError(f"platforms must be among {', '.join(PLATFORMS)}")

    @property
    def day_start_ms(self) -> int:
        """Local midnight of the day, in epoch milliseconds."""
        return int(datetime.combine(date.fromisoformat(self.day), dt_time(), ZONE).timestamp() * 1000)

"""The day's population: the shops (platform, size, reply quality, bot, agents) and when each of
their buyers arrives, by hour of day."""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from stream_guard.gen.config import GenConfig

EVENTS_PER_BUYER = 10.0  # measured mean, to turn a target event count into buyers
LARGE_SHOP_BUYERS = 180  # forced size of the Pinduoduo shops that exercise the penalty rule
PREFIX = {"taobao": "tb", "tmall": "tm", "pinduoduo": "pdd", "jd": "jd", "douyin": "dy"}

# Buyer arrivals per local hour: quiet nights, a morning peak at 10-11, an evening one at 20-22.
HOUR_WEIGHTS = (0.5, 0.3, 0.15, 0.1, 0.08, 0.12, 0.3, 0.9, 2.6, 4.6, 7.2, 7.0, 4.8, 4.6,
                5.0, 5.0, 4.8, 4.6, 4.6, 5.6, 7.6, 8.2, 7.0, 2.2)
HOUR_CUM = tuple(accumulate(HOUR_WEIGHTS))

QUALITY_MIX = (("good", 0.3), ("ok", 0.6), ("poor", 0.1))  # shares of shops by reply quality
BOT_SHARE = {"taobao": 0.7, "tmall": 0.8, "pinduoduo": 0.5, "jd": 0.6, "douyin": 1.0}


@dataclass
class Shop:
    no: int
    platform: str
    shop_id: str
    buyers: int
    quality: str
    has_bot: bool
    agents: tuple[str, ...]


def pick_index(rng: random.Random, cumulative: Sequence[float]) -> int:
    """An index drawn by cumulative weights."""
    x = rng.random() * cumulative[-1]
    for i, c in enumerate(cumulative):
        if x < c:
            return i
    return len(cumulative) - 1


def plan_shops(config: GenConfig) -> list[Shop]:
    """The day's shops, round the platforms, sized by a skewed draw to the configured total of buyers."""
    rng = random.Random(f"{config.seed}/shops")
    total = (config.buyers_per_shop * config.shops if config.buyers_per_shop
             else max(config.shops * 3, round(config.events / EVENTS_PER_BUYER)))
    weights = [rng.lognormvariate(0.0, 0.9) for _ in range(config.shops)]
    scale = total / sum(weights)
    shops = []
    pdd_seen = 0
    for no in range(config.shops):
        platform = config.platforms[no % len(config.platforms)]
        buyers = max(3, round(weights[no] * scale))
        quality = rng.choices([q for q, _ in QUALITY_MIX], [w for _, w in QUALITY_MIX])[0]
        if platform == "pinduoduo":
            # the penalty rule must be exercised: a large shop that replies badly, and a large
            # one that does well (when the day is big enough to afford them)
            if pdd_seen < 2 and total >= 5 * LARGE_SHOP_BUYERS:
                buyers = max(buyers, LARGE_SHOP_BUYERS)
                quality = ("poor", "good")[pdd_seen]
            pdd_seen += 1
        has_bot = rng.random() < BOT_SHARE[platform]
        shop_id = f"{PREFIX[platform]}-shop-{no:04d}"
        agents = tuple(f"{shop_id}-a{k}" for k in range(1 + min(6, buyers // 60)))
        shops.append(Shop(no, platform, shop_id, buyers, quality, has_bot, agents))
    return shops


def arrivals(shops: list[Shop], seed: int, day_start: int) -> list[tuple[int, int, int]]:
    """(arrival time, shop number, buyer index) of every buyer of the day, in time order."""
    out = []
    for shop in shops:
        rng = random.Random(f"{seed}/arrivals/{shop.no}")
        for idx in range(shop.buyers):
            hour = pick_index(rng, HOUR_CUM)
            out.append((day_start + hour * 3_600_000 + rng.randrange(3_600_000), shop.no, idx))
    out.sort()
    return out

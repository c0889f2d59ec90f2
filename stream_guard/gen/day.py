"""`stream-guard gen`: a deterministic, realistic marketplace day of chat events, with its labels.

Everything comes from one seed: the same options give the same bytes. Shops on the five
platforms, buyers arriving by hour of day (peaks at 10-11 and 20-22, a few at night), turns of
one to four buyer messages, several turns and sessions per buyer, agents answering after a skewed
delay (most within a minute, a long tail, some never), bots answering first within seconds,
Douyin's bot-first service with hand-offs, reported and blocked buyers, item meta.

Agent messages come from a bank of ordinary service phrases; at `--violation-rate` one is
replaced by a hit example of the platform's own rule packs (every category in turn), sometimes
disguised (full width, traditional characters, separators, spaced digits, Chinese numerals,
circled characters, repeats) and embedded in an ordinary phrase. Every injected text is judged by
the real ruleset while generating: a disguise that defeats the rules is dropped for the plain
example, so the labels are the ground truth. At `--bad-rate` a line is a bad record (invalid JSON
or UTF-8, not an object, a missing or mistyped field, an unknown platform, a text over 16 KiB).

Labels (`--labels`): the config, the categories of every violating event, the bad lines with their
reason, and each shop's true reply figures under its platform's profile, worked out from what the
generator knows of every turn it made (not by running the reply tracker).
"""
from __future__ import annotations

import argparse
import gzip
import heapq
import math
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from itertools import accumulate
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from stream_guard.config.argtypes import positive_int, rate
from stream_guard.evaluation.packs import PLATFORMS, default_rules_dir
from stream_guard.evaluation.registry import compile_rulesets

DEFAULT_DAY = "2026-10-20"  # a fixed past day: the output never depends on the wall clock
ZONE = ZoneInfo("Asia/Shanghai")
MAX_JITTER_MS = 60_000  # the tracker's default allowed lateness; jitter must stay below it
EVENTS_PER_BUYER = 10.0  # measured mean, to turn a target event count into buyers
TEXT_LIMIT_BYTES = 16 * 1024
LARGE_SHOP_BUYERS = 180  # forced size of the Pinduoduo shops that exercise the penalty rule

BAD_REASONS = ("invalid_json", "invalid_utf8", "not_an_object", "missing_field", "wrong_type",
               "unknown_platform", "text_too_long")
PREFIX = {"taobao": "tb", "tmall": "tm", "pinduoduo": "pdd", "jd": "jd", "douyin": "dy"}
EXCLUDING = ("buyer_reported", "buyer_blocked")

# Buyer arrivals per local hour: quiet nights, a morning peak at 10-11, an evening one at 20-22.
HOUR_WEIGHTS = (0.5, 0.3, 0.15, 0.1, 0.08, 0.12, 0.3, 0.9, 2.6, 4.6, 7.2, 7.0, 4.8, 4.6,
                5.0, 5.0, 4.8, 4.6, 4.6, 5.6, 7.6, 8.2, 7.0, 2.2)
HOUR_CUM = tuple(accumulate(HOUR_WEIGHTS))

# Agent response per shop quality: (share never answered, median seconds, log spread)
QUALITY = {"good": (0.01, 14.0, 0.9), "ok": (0.03, 28.0, 1.1), "poor": (0.2, 150.0, 1.2)}
QUALITY_MIX = (("good", 0.3), ("ok", 0.6), ("poor", 0.1))
BOT_SHARE = {"taobao": 0.7, "tmall": 0.8, "pinduoduo": 0.5, "jd": 0.6, "douyin": 1.0}
SPEED = {"jd": 0.45}  # JD agents work to a 30-second target

# ---- phrase banks (written for this generator; every phrase is clean on every platform) --------

AGENT_PHRASES: dict[str, tuple[str, ...]] = {
    "greet": (
        "亲，您好，很高兴为您服务",
        "您好，欢迎光临本店，请问有什么可以帮您？",
        "在的亲，请问有什么需要帮忙的呢",
        "亲亲在的哦，您请说",
        "您好，我是客服小雅，请问您想了解哪款商品？",
        "久等了亲，刚刚咨询的人有点多",
        "亲，让您久等了，非常抱歉",
        "您好亲，这边是售后客服，请问遇到什么问题了呢",
        "您好，我看到您咨询的这款了，稍等我帮您确认一下",
        "亲，我在的，您说~",
    ),
    "shipping": (
        "亲，今天下午四点前付款的订单当天就能发出哦",
        "一般情况下四十八小时内发货，请您放心",
        "我们默认发中通快递，江浙沪一般隔天就到",
        "亲，您的包裹已经发出了，物流信息稍后会更新",
        "现在是活动期间，发货可能会稍微慢一点，还请您谅解",
        "偏远地区的话大概需要五到七天才能送到哦",
        "快递已经在派送中了，请您保持手机畅通",
        "亲，物流显示已经到您所在的城市了，明天应该就能送达",
        "这边帮您催一下快递，有消息第一时间通知您",
        "可以指定快递的，您在备注里写上就行",
        "亲，节假日期间快递正常发货的",
        "您下单后我们会尽快安排打包发货",
        "亲，您的订单已经打包好了，等待快递揽收",
        "快递单号在订单详情里可以看到",
        "亲，这款是预售商品，预计十五天左右发货",
        "大件商品是物流送货上门的，会提前联系您",
        "这边已经帮您加急处理了",
    ),
    "size": (
        "亲，您平时穿多大码的呢？可以告诉我身高体重帮您推荐",
        "身高一米六五、体重一百斤左右的话建议选M码",
        "这款是标准尺码，按平时的码数拍就可以",
        "这款版型偏小，建议您拍大一码哦",
        "鞋子是正码的，脚背高的亲可以选大半码",
        "尺码表在商品详情页里，您可以对照一下",
        "裤长是按照身高一米七左右设计的",
        "亲，这款是宽松版型，喜欢修身的可以拍小一码",
        "肩宽和衣长在详情页都有标注，您可以量一下自己的衣服对比",
        "这款有S到XXL五个码，您按平时的尺码选就好",
        "您一米七五、一百四十斤的话，穿L码刚好",
    ),
    "product": (
        "面料是纯棉的，透气性很好，穿着很舒服",
        "这款是今年的新款，上身效果很不错",
        "颜色以实物为准，不同显示器可能会有一点色差",
        "这款可以机洗，建议翻面洗涤，不要暴晒",
        "亲，这款保温杯可以保温十二个小时左右",
        "这个型号适配大部分机型，您可以放心购买",
        "电器类商品享受一年保修服务",
        "这款护肤品的保质期是三年，生产日期都是近期的",
        "食品是当天生产当天发货的，很新鲜",
        "这款零食是独立小包装，方便携带",
        "亲，这款是原装正品，支持专柜验货",
        "包装里有说明书，按照说明书操作就可以了",
        "这款不含酒精，敏感肌也可以用的",
        "充电大概两个小时就能充满",
        "这款有白色、黑色和灰色三种颜色可以选",
        "组合购买更划算哦，两件打九折",
        "这款销量很好，回购的顾客也很多",
        "亲，这款适合送长辈，包装很精致",
        "护肤品建议先在耳后试用一下",
        "家具需要自己安装的，包裹里有安装视频的二维码",
        "亲，生鲜商品签收时请当面检查哦",
        "这款手机壳有防摔气囊，保护效果很好",
        "充电器是原装的，支持快充",
        "赠品是随机发的，请您谅解",
        "这款不起球不掉色，您放心",
    ),
    "stock": (
        "亲，有现货的，今天下单今天发",
        "这个颜色的码数比较全，您放心拍",
        "这款浅蓝色暂时断码了，您看看米白色要不要",
        "新一批货预计下周到，到了第一时间通知您",
        "能正常拍下的颜色和尺码都是有货的",
        "亲，目前这款卖得很火，建议您尽早下单",
        "您可以先收藏，等大促的时候会有更大优惠",
    ),
    "after_sale": (
        "支持七天无理由退换货，请您放心购买",
        "收到货如果不满意，可以直接在订单里申请退货",
        "亲，退货的时候请保持商品吊牌完好哦",
        "退款会原路退回到您的付款账户，一般一到三个工作日到账",
        "您申请一下售后，我这边马上帮您处理",
        "已经帮您登记了，仓库收到退货后会尽快处理",
        "运费险会在退货签收后自动理赔的",
        "非常抱歉给您带来不好的体验，我们一定会改进",
        "麻烦您拍一下商品问题的照片发给我看看",
        "商品有质量问题的话来回运费都由我们承担",
        "换货的话请在订单里申请，备注好要换的尺码",
        "亲，退款已经同意了，请您留意账户",
        "仓库已经收到您的退货了，正在验收中",
        "漏发的商品已经给您补寄了，请注意查收",
        "这个问题我已经反馈给售后主管了，稍后给您回复",
        "您在订单页面点击确认收货就可以了",
    ),
    "invoice": (
        "有发票的亲，随货一起寄出",
        "发票可以在订单详情页申请，开好后会发到您的账户",
        "需要开公司抬头的话，请把税号填在备注里",
        "电子发票会在确认收货后开具",
        "发票会根据您实际付款的金额开具",
    ),
    "payment": (
        "亲，直接在页面下单付款就可以了",
        "支持信用卡付款的亲",
        "这款支持货到付款，您下单时选择就可以",
        "拍下后先不要付款，我帮您改一下价格",
        "优惠券在领券中心可以领取，下单自动抵扣",
        "满两百减二十的活动今天是最后一天了",
        "价格已经改好了，您刷新一下再付款就可以",
        "亲，现在下单还送一份小礼品哦",
        "会员购买可以享受九五折优惠",
        "亲，活动价格以下单页面显示为准",
        "不好意思亲，这个价格已经是活动价了，没办法再便宜了",
        "您拍下后我这边给您备注优先发货",
    ),
    "address": (
        "亲，地址可以修改的，您把新地址发给我",
        "已经帮您修改好收货地址了，请您核对一下",
        "发货前都可以改地址，发货后就需要联系快递了",
        "请您确认一下收货人姓名和地址是否正确",
        "送货上门的话需要您在家签收哦",
    ),
    "closing": (
        "感谢您的支持，祝您生活愉快",
        "不客气的亲，有问题随时联系我们哦",
        "好的亲，收到货满意的话麻烦给个好评哦",
        "亲，还有其他可以帮您的吗",
        "感谢您的耐心等待，祝您购物愉快",
        "好的，那您先看看，有需要再找我",
        "谢谢亲的理解和支持",
        "期待您的再次光临",
        "亲，使用过程中有任何问题都可以随时找我们",
        "好的呢，已经帮您备注好了",
        "嗯嗯，好的亲，马上为您处理",
        "明白了，我这就帮您查一下",
        "请稍等，我帮您查询一下订单状态",
        "这边看到您的订单还没有付款，需要帮您保留吗",
    ),
}

BUYER_PHRASES: dict[str, tuple[str, ...]] = {
    "greet": ("在吗", "你好", "有人吗", "亲在吗", "老板在吗", "在不在", "你好，想问一下"),
    "shipping": ("什么时候发货", "今天能发吗", "发什么快递", "几天能到", "我的快递怎么还没到",
                 "物流好几天没更新了", "能加急吗", "已经拍了，麻烦尽快发货", "到底发没发货"),
    "size": ("我一米七，一百三十斤，穿什么码", "这个尺码偏大还是偏小", "平时穿L码，这款拍什么码",
             "165的个子穿多长合适", "脚长24.5穿多大"),
    "product": ("这个是纯棉的吗", "会起球吗", "掉色吗", "有色差吗", "是正品吗", "保质期多久",
                "能用多久", "可以机洗吗", "怎么安装", "这个和那个有什么区别", "适合送人吗", "有礼盒包装吗"),
    "stock": ("这个还有吗", "黑色还有货吗", "M码什么时候补", "这个颜色还会上吗"),
    "after_sale": ("收到的东西坏了", "少发了一件", "发错颜色了", "怎么退货", "可以换个尺码吗",
                   "退款什么时候到账", "我已经寄回去了", "质量有问题怎么处理"),
    "invoice": ("可以开发票吗", "能开公司抬头的发票吗", "发票什么时候开", "电子发票在哪看"),
    "payment": ("能便宜点吗", "有优惠券吗", "两件能打折吗", "包邮吗", "可以货到付款吗",
                "可以用信用卡吗", "能分期吗", "能送个小礼物吗"),
    "address": ("能改地址吗", "地址写错了", "可以送到公司吗", "收件人填错了"),
    "closing": ("好的", "好的谢谢", "知道了", "谢谢", "行吧", "那我再看看", "收到了，挺好的", "嗯嗯"),
}
BUYER_NUDGES = ("在吗？", "人呢", "怎么还不回复", "？？", "有人吗")
HANDOFF_ASKS = ("转人工", "人工客服", "我要找人工", "机器人说不清楚，转人工")

BOT_PHRASES = (
    "您好，欢迎光临，请问有什么可以帮您？",
    "亲，客服小助手在线为您服务",
    "您好，您的问题已收到，客服马上为您解答，请稍候",
    "亲，发货时间请以商品详情页为准哦",
    "常见问题：下单后四十八小时内发货，支持七天无理由退换",
    "人工客服正在赶来，请稍等片刻",
    "亲，您可以描述一下您的问题，小助手为您解答",
    "您好，当前咨询人数较多，请耐心等待",
    "尺码问题可以参考详情页的尺码表哦",
    "退换货请在订单页面申请售后",
    "物流信息可以在订单详情中查看",
    "亲，优惠券可以在店铺首页领取",
)
BOT_TRANSFER = ("正在为您转接人工客服，请稍候", "好的，马上为您转接人工", "已为您转接人工客服")

TOPICS = tuple(AGENT_PHRASES)
EMBED_PREFIX = ("亲，", "您好，", "亲亲，", "不好意思，", "好的亲，")
EMBED_SUFFIX = ("哦", "呢", "，您看可以吗", "，谢谢理解")

# Simplified -> traditional for the characters of the rule examples (the engine folds back).
S2T = {s: t for s, t in zip(
    "发开没货转账关给顶级经网买卖单说话这个们号码联系邮费运银线质优价点库脑残猪妈滚东宝猫对区远补钱汇扫让为"
    "电体机时间长门问题欢现处请谢还会员从样认确实无绝独万强国进销业预订帮闭据税气笔证亲两里后么吗与户页图写"
    "换讯络链种务产击赠满减礼饰装颜际经纪卡户标准软够块讲该",
    "發開沒貨轉賬關給頂級經網買賣單說話這個們號碼聯係郵費運銀線質優價點庫腦殘豬媽滾東寶貓對區遠補錢匯掃讓為"
    "電體機時間長門問題歡現處請謝還會員從樣認確實無絕獨萬強國進銷業預訂幫閉據稅氣筆證親兩裡後麼嗎與戶頁圖寫"
    "換訊絡鏈種務產擊贈滿減禮飾裝顏際經紀卡戶標準軟夠塊講該",
) if s != t}
SEPARATORS = (".", " ", "-", "*", "·", "_", "/", "~")
CN_DIGITS = "零一二三四五六七八九"
SPAN_EVASIONS = ("fullwidth", "traditional", "separators", "spaced_digits", "cn_numerals", "circled", "repeats")


# ---- configuration -------------------------------------------------------------------------------

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


@dataclass
class _Shop:
    no: int
    platform: str
    shop_id: str
    buyers: int
    quality: str
    has_bot: bool
    agents: tuple[str, ...]
    # truth: unit key -> [counted, valid, decided turns]; (day, buyer) pairs left out
    units: dict = field(default_factory=dict)
    excluded: set = field(default_factory=set)


@dataclass
class _Conv:
    shop: _Shop
    idx: int
    buyer_id: str
    conversation_id: str
    meta: dict | None
    agent_id: str
    items: list = field(default_factory=list)  # [ts, sender, kind, text, session, meta]


class Generation:
    """One generated day. Iterate `events()` (valid event dicts) or `lines()` (every output line
    as bytes, bad records included), once; `labels` is complete after that."""

    def __init__(self, config: GenConfig):
        config.check()
        self.config = config
        rules_dir = Path(config.rules_dir) if config.rules_dir else default_rules_dir()
        snapshot = compile_rulesets(rules_dir)
        self.rulesets = {p: snapshot.for_platform(p) for p in config.platforms}
        self.profiles = {p: rs.pack.reply for p, rs in self.rulesets.items()}
        self.seed = config.seed
        self.day_start = int(datetime.combine(date.fromisoformat(config.day), dt_time(), ZONE).timestamp() * 1000)
        self._local_cache: dict[str, tuple[int, int, str]] = {}
        self._judged: dict[tuple, tuple[str, ...]] = {}
        self.clean_rejected = self._check_banks()
        self._agent_bank = {p: {t: tuple(x for x in AGENT_PHRASES[t] if (p, x) not in self.clean_rejected)
                                for t in TOPICS} for p in config.platforms}
        self._examples = self._violation_pool()
        self._decks: dict[str, list[str]] = {p: [] for p in config.platforms}
        self._deck_rng = {p: random.Random(f"{self.seed}/deck/{p}") for p in config.platforms}
        self.shops = self._plan_shops()
        self.violations: dict[str, list[str]] = {}
        self.rejects: list[dict] = []
        self.counts = {"events": 0, "lines": 0, "buyers": sum(s.buyers for s in self.shops),
                       "violations": 0, "bad_records": 0, "evasions": {}}
        self._done = False
        self._started = False

    # ---- set-up --------------------------------------------------------------------------------

    def _check_banks(self) -> set[tuple[str, str]]:
        """(platform, phrase) pairs of the banks some rule finds something in, under any meta the
        generator uses: left out of generation (the tests require there are none)."""
        bad = set()
        metas = [None] + [m for m in _META_VARIANTS]
        for platform, rs in self.rulesets.items():
            for topic in TOPICS:
                for text in AGENT_PHRASES[topic]:
                    if any(rs.judge(text, "agent", m) for m in metas):
                        bad.add((platform, text))
            for text in BOT_PHRASES + BOT_TRANSFER:
                if any(rs.judge(text, "bot", m) for m in metas):
                    bad.add((platform, text))
        return bad

    def _violation_pool(self) -> dict[str, dict[str, list]]:
        """platform -> category -> hit examples: every hit example of the platform's rules for an
        agent's message that the ruleset does find as that category."""
        pool: dict[str, dict[str, list]] = {}
        for platform, rs in self.rulesets.items():
            cats: dict[str, list] = {}
            for rule in rs.rules:
                for ex in rule.hit_examples:
                    if ex.role != "agent":  # injected in place of an agent's message
                        continue
                    meta = dict(ex.meta) or None
                    if rule.category in self._categories(platform, ex.text, ex.role, meta):
                        cats.setdefault(rule.category, []).append(ex)
            pool[platform] = {c: cats[c] for c in sorted(cats)}
        return pool

    def _categories(self, platform: str, text: str, sender: str, meta: dict | None) -> tuple[str, ...]:
        key = (platform, text, sender, tuple(sorted(meta.items())) if meta else ())
        found = self._judged.get(key)
        if found is None:
            found = tuple(sorted({f.rule.category for f in self.rulesets[platform].judge(text, sender, meta)}))
            if len(self._judged) < 200_000:
                self._judged[key] = found
        return found

    def _plan_shops(self) -> list[_Shop]:
        cfg = self.config
        rng = random.Random(f"{self.seed}/shops")
        total = (cfg.buyers_per_shop * cfg.shops if cfg.buyers_per_shop
                 else max(cfg.shops * 3, round(cfg.events / EVENTS_PER_BUYER)))
        weights = [rng.lognormvariate(0.0, 0.9) for _ in range(cfg.shops)]
        scale = total / sum(weights)
        shops = []
        pdd_seen = 0
        for no in range(cfg.shops):
            platform = cfg.platforms[no % len(cfg.platforms)]
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
            shops.append(_Shop(no, platform, shop_id, buyers, quality, has_bot, agents))
        return shops

    # ---- output --------------------------------------------------------------------------------

    def events(self) -> Iterator[dict]:
        for kind, payload in self._stream():
            if kind == "event":
                yield payload

    def lines(self) -> Iterator[bytes]:
        dumps = orjson.dumps
        for kind, payload in self._stream():
            yield dumps(payload) if kind == "event" else payload

    @property
    def labels(self) -> dict:
        if not self._done:
            raise RuntimeError("labels are complete once the events have all been generated")
        cfg = asdict(self.config)
        cfg["platforms"] = list(cfg["platforms"])
        cfg.pop("rules_dir")
        cfg["pack_versions"] = {p: rs.version for p, rs in self.rulesets.items()}
        return {"config": cfg, "violations": self.violations, "rejects": self.rejects,
                "shops": self.shop_rows(), "counts": self.counts}

    def _stream(self) -> Iterator[tuple[str, object]]:
        if self._started:
            raise RuntimeError("a Generation can be iterated once; make a new one")
        self._started = True
        cfg = self.config
        bad_rng = random.Random(f"{self.seed}/bad")
        bad_rate = cfg.bad_rate
        arrivals = self._arrivals()
        heap: list = []
        next_arrival = 0
        line = 0
        counts = self.counts
        while heap or next_arrival < len(arrivals):
            # a conversation starts when the merge reaches its arrival: its keys are all later
            while next_arrival < len(arrivals) and (not heap or arrivals[next_arrival][0] <= heap[0][0]):
                at, shop_no, idx = arrivals[next_arrival]
                next_arrival += 1
                events = self._conversation(self.shops[shop_no], idx, at)
                heapq.heappush(heap, (events[0][0], events[0][1], 0, events))
            key, eid, pos, events = heap[0]
            if pos + 1 < len(events):
                heapq.heapreplace(heap, (events[pos + 1][0], events[pos + 1][1], pos + 1, events))
            else:
                heapq.heappop(heap)
            if bad_rate and bad_rng.random() < bad_rate:
                line += 1
                reason, raw = self._bad_record(bad_rng, line)
                self.rejects.append({"line": line, "reason": reason})
                counts["bad_records"] += 1
                yield "bad", raw
            line += 1
            counts["events"] += 1
            yield "event", events[pos][2]
        counts["lines"] = line
        self._done = True

    def _arrivals(self) -> list[tuple[int, int, int]]:
        out = []
        for shop in self.shops:
            rng = random.Random(f"{self.seed}/arrivals/{shop.no}")
            for idx in range(shop.buyers):
                hour = _pick(rng, HOUR_CUM)
                out.append((self.day_start + hour * 3_600_000 + rng.randrange(3_600_000), shop.no, idx))
        out.sort()
        return out

    # ---- one buyer's conversation --------------------------------------------------------------

    def _conversation(self, shop: _Shop, idx: int, arrival: int) -> list[tuple[int, str, dict]]:
        """The events of one buyer with one shop, as (output key, event id, event), in output
        order; the shop's true reply figures are updated from the turns made."""
        rng = random.Random((self.seed << 64) + (shop.no << 32) + idx)  # one stream per conversation
        rnd = rng.random
        lognorm = rng.lognormvariate

        def uni(a: int, b: int) -> int:  # rng.randint, without its overhead
            return a + int(rnd() * (b - a + 1))

        def pick(seq):
            return seq[int(rnd() * len(seq))]
        platform = shop.platform
        p = PREFIX[platform]
        meta = None
        if rnd() < 0.7:
            meta = {"item_id": f"{p}-item-{uni(0, 999_999):06d}"}
            r = rnd()
            if r < 0.4:
                meta["free_shipping"] = r < 0.3
            if rnd() < 0.1:
                meta["cod_enabled"] = True
            if rnd() < 0.15:
                meta["credit_card_enabled"] = True
        conv = _Conv(shop, idx, f"{p}_u{shop.no:04d}{idx:05d}", f"{shop.shop_id}-c{idx:05d}", meta,
                     pick(shop.agents))
        douyin = platform == "douyin"
        never, median, spread = QUALITY[shop.quality]
        median *= SPEED.get(platform, 1.0)
        sessions = _pick(rng, (0.72, 0.93, 1.0)) + 1
        last = arrival  # the last buyer or human message (what sessions are measured from)
        t = arrival
        ended = False
        report_at = uni(0, sessions - 1) if rnd() < 0.015 else -1
        agent_spoke = False
        for s in range(sessions):
            if s:
                t = last + uni(660_000, 4 * 3_600_000)  # a new session: over 10 minutes later
            in_human = not douyin
            turns = _pick(rng, (0.35, 0.65, 0.85, 0.95, 1.0)) + 1
            for k in range(turns):
                if k:
                    t = last + min(540_000, 3_000 + int(lognorm(10.4, 1.0)))  # under 10 minutes
                topic = "greet" if (s == 0 and k == 0 and rnd() < 0.45) else pick(TOPICS[1:])
                if k == turns - 1 and k and rnd() < 0.4:
                    topic = "closing"
                # the buyer's burst of one to four messages
                burst = [t]
                for _ in range(_pick(rng, (0.5, 0.78, 0.92, 1.0))):
                    burst.append(burst[-1] + 1_500 + int(lognorm(8.9, 0.7)))
                for i, bt in enumerate(burst):
                    text = pick(BUYER_PHRASES[topic] if i == 0 else BUYER_PHRASES[pick(TOPICS)])
                    self._add(conv, bt, "buyer", "message", text, s)
                last = burst[-1]
                if douyin and not in_human:
                    # the bot serves first; some buyers then ask for a human
                    bt = burst[0] + uni(600, 2_500)
                    self._add(conv, bt, "bot", "message", pick(BOT_PHRASES), s)
                    if rnd() < 0.3:
                        continue  # the bot's answer was enough for this question
                    ask = max(bt, burst[-1]) + uni(4_000, 30_000)
                    self._add(conv, ask, "buyer", "message", pick(HANDOFF_ASKS), s)
                    self._add(conv, ask + uni(500, 1_500), "bot", "message", pick(BOT_TRANSFER), s)
                    start = ask + uni(2_000, 4_000)
                    self._add(conv, start, "system", "handoff", "", s)
                    in_human = True
                    end = start
                else:
                    start, end = burst[0], burst[-1]
                    if shop.has_bot and rnd() < (0.85 if k == 0 else 0.4):
                        self._add(conv, burst[0] + uni(600, 2_500), "bot", "message",
                                  pick(BOT_PHRASES), s)
                # the human reply: after a skewed delay, or never
                hour = ((start - self.day_start) // 3_600_000) % 24
                staffed = 8 <= hour < 23
                if rnd() < (never if staffed else 0.45):
                    if rnd() < 0.5:
                        self._add(conv, last + uni(60_000, 300_000), "buyer", "message",
                                  pick(BUYER_NUDGES), s)
                    ended = True
                    break
                if staffed:
                    delay = 3_000 + int(1000 * lognorm(math.log(median), spread))
                else:
                    delay = 60_000 + int(1000 * lognorm(math.log(420), 0.9))
                if rnd() < 0.004:  # exactly at the threshold, or one millisecond past it
                    delay = self.profiles[platform].threshold_s * 1000 + uni(0, 1)
                reply = max(start + delay, end + uni(1_000, 6_000))
                topic_reply = "greet" if not agent_spoke and topic in ("greet", "closing") else topic
                self._agent(conv, rng, reply, topic_reply, s)
                agent_spoke = True
                last = reply
                if rnd() < 0.3:
                    last = reply + uni(2_000, 20_000)
                    self._agent(conv, rng, last, pick(("closing",) + TOPICS[1:]), s)
            if ended:
                break
            if s == report_at:
                kind = "buyer_reported" if rnd() < 0.7 else "buyer_blocked"
                self._add(conv, last + uni(5_000, 120_000), "system", kind, "", s, extra=True)
                if kind == "buyer_blocked":
                    break
        items = conv.items
        items.sort(key=lambda it: it[0])
        for i in range(1, len(items)):  # strictly increasing times within a conversation
            if items[i][0] <= items[i - 1][0]:
                items[i][0] = items[i - 1][0] + 1
        self._truth(conv)
        return self._finish(conv, rng)

    def _add(self, conv: _Conv, ts: int, sender: str, kind: str, text: str, session: int,
             meta: dict | None = None, extra: bool | tuple = False) -> None:
        """`extra`: True for a system event an agent made, the categories of an injected violation."""
        conv.items.append([ts, sender, kind, text, session, meta if meta is not None else conv.meta, extra])

    def _agent(self, conv: _Conv, rng: random.Random, ts: int, topic: str, session: int) -> None:
        platform = conv.shop.platform
        if rng.random() < self.config.violation_rate and self._examples[platform]:
            text, meta, cats = self._violation(platform, rng, conv.meta)
            self._add(conv, ts, "agent", "message", text, session, meta, extra=cats)
            return
        bank = self._agent_bank[platform][topic] or self._agent_bank[platform]["closing"]
        self._add(conv, ts, "agent", "message", rng.choice(bank), session)

    def _finish(self, conv: _Conv, rng: random.Random) -> list[tuple[int, str, dict]]:
        """Events in output order: strictly increasing times within the conversation, ids, meta,
        and each event's arrival key (its time plus a random delay under the jitter bound)."""
        shop = conv.shop
        jitter = self.config.jitter_ms
        out = []
        base = f"{shop.shop_id}-{conv.idx:05d}-"
        for n, (ts, sender, kind, text, _, meta, extra) in enumerate(conv.items):
            eid = base + f"{n:03d}"
            ev = {"event_id": eid, "platform": shop.platform, "shop_id": shop.shop_id,
                  "conversation_id": conv.conversation_id, "buyer_id": conv.buyer_id, "sender": sender}
            if sender == "agent" or extra:
                ev["agent_id"] = conv.agent_id
            elif sender == "bot":
                ev["agent_id"] = shop.shop_id + "-bot"
            ev["text"] = text
            ev["ts"] = ts
            if kind != "message":
                ev["kind"] = kind
            elif meta:
                ev["meta"] = meta
            if isinstance(extra, tuple):  # the categories of an injected violation
                self.violations[eid] = list(extra)
                self.counts["violations"] += 1
            out.append((ts + int(rng.random() * (jitter + 1)), eid, ev))
        out.sort(key=lambda e: (e[0], e[1]))
        return out

    # ---- violations ----------------------------------------------------------------------------

    def _violation(self, platform: str, rng: random.Random, conv_meta: dict | None):
        """(text, meta, categories) of an injected violation: the next category of the platform's
        deck, one of its hit examples, maybe disguised and embedded, judged to be sure."""
        deck = self._decks[platform]
        if not deck:
            deck.extend(self._examples[platform])
            self._deck_rng[platform].shuffle(deck)
        category = deck.pop()
        ex = rng.choice(self._examples[platform][category])
        meta = dict(conv_meta or {})
        meta.update(ex.meta)
        meta = meta or None
        plain = ex.text
        evaded, family = plain, None
        if rng.random() < 0.55:
            evaded, family = self._evade(platform, rng, plain, category, meta)
        embedded = evaded
        if rng.random() < 0.4:
            r = rng.random()
            if r < 0.35:
                prefix = rng.choice(EMBED_PREFIX)
                embedded = evaded if evaded.startswith(prefix[0]) else prefix + evaded
            elif r < 0.7:
                embedded = evaded + rng.choice(EMBED_SUFFIX)
            else:
                filler = rng.choice(self._agent_bank[platform][rng.choice(TOPICS[1:])] or ("亲",))
                embedded = f"{filler}，{evaded}" if rng.random() < 0.5 else f"{evaded}，{filler}"
        for text, fam in ((embedded, family), (evaded, family), (plain, None)):
            cats = self._categories(platform, text, "agent", meta)
            if category in cats:
                tally = self.counts["evasions"]
                tally[fam or "plain"] = tally.get(fam or "plain", 0) + 1
                return text, meta, cats
        # the example's own meta (the conversation's could only add conditions): always a hit
        meta = dict(ex.meta) or None
        return plain, meta, self._categories(platform, plain, "agent", meta)

    def _evade(self, platform: str, rng: random.Random, text: str, category: str, meta):
        """The text with the hit of `category` disguised by one family of evasions, when the
        ruleset still finds it; else the text unchanged."""
        spans = [s for f in self.rulesets[platform].judge(text, "agent", meta) if f.rule.category == category
                 for s in f.spans]
        if not spans:
            return text, None
        start, end = spans[0]
        hit = text[start:end]
        families = [f for f in SPAN_EVASIONS if _applies(f, hit)]
        if not families:
            return text, None
        family = rng.choice(families)
        changed = text[:start] + _disguise(family, hit, rng) + text[end:]
        if changed != text and category in self._categories(platform, changed, "agent", meta):
            return changed, family
        return text, None

    # ---- bad records ---------------------------------------------------------------------------

    def _bad_record(self, rng: random.Random, line: int) -> tuple[str, bytes]:
        reason = rng.choice(BAD_REASONS)
        shop = rng.choice(self.shops)
        ev = {"event_id": f"bad-{self.seed}-{line:08d}", "platform": shop.platform, "shop_id": shop.shop_id,
              "conversation_id": f"{shop.shop_id}-cbad{line}", "buyer_id": f"{PREFIX[shop.platform]}_ubad{line}",
              "sender": rng.choice(("buyer", "agent")), "text": rng.choice(BUYER_PHRASES["shipping"]),
              "ts": self.day_start + rng.randrange(86_400_000)}
        if reason == "invalid_json":
            raw = orjson.dumps(ev).decode()
            variant = rng.randrange(4)
            if variant == 0:
                raw = raw[:rng.randrange(1, len(raw) - 1)]  # cut short
            elif variant == 1:
                raw = raw[:-1] + ',}'  # trailing comma
            elif variant == 2:
                raw = raw.replace('"', "'")  # single quotes
            else:
                raw = raw.replace('"ts":', '"ts":NaN,"x":')
            return reason, raw.encode()
        if reason == "invalid_utf8":
            raw = orjson.dumps(ev)
            text = ev["text"].encode()
            broken = rng.choice((b"\xff\xfe", text[:1], b"\xc3(", b"\xed\xa0\x80"))  # stray, cut, bad, surrogate
            return reason, raw.replace(text, text[:3] + broken + text[3:], 1)
        if reason == "not_an_object":
            return reason, orjson.dumps(rng.choice(([ev], [ev, ev], ev["text"], 42, None)))
        if reason == "missing_field":
            name = rng.choice(("event_id", "platform", "shop_id", "buyer_id", "sender", "ts", "text"))
            if name in ("event_id", "shop_id") and rng.random() < 0.3:
                ev[name] = ""  # an empty required string counts as missing
            else:
                del ev[name]
            return reason, orjson.dumps(ev)
        if reason == "wrong_type":
            name = rng.choice(("ts", "ts", "shop_id", "meta", "text"))
            if name == "ts":
                ev["ts"] = str(ev["ts"])
            elif name == "shop_id":
                ev["shop_id"] = shop.no
            elif name == "meta":
                ev["meta"] = ["free_shipping"]
            else:
                ev["text"] = 12345
            return reason, orjson.dumps(ev)
        if reason == "unknown_platform":
            ev["platform"] = rng.choice(("kuaishou", "xianyu", "vipshop", "Taobao", "amazon"))
            return reason, orjson.dumps(ev)
        # text_too_long: a pasted wall of text over 16 KiB of UTF-8
        phrase = rng.choice(AGENT_PHRASES["product"])
        ev["sender"] = "agent"
        ev["text"] = phrase * (TEXT_LIMIT_BYTES // len(phrase.encode()) + 1 + rng.randrange(20))
        return reason, orjson.dumps(ev)

    # ---- true reply figures --------------------------------------------------------------------

    def _local(self, ts: int, zone: str) -> tuple[str, int]:
        """(local day, second of day) in a zone."""
        cached = self._local_cache.get(zone)
        if cached and cached[0] <= ts < cached[1]:
            return cached[2], (ts - cached[0]) // 1000
        tz = ZoneInfo(zone)
        local = datetime.fromtimestamp(ts // 1000, tz)
        midnight = datetime.combine(local.date(), dt_time(), tz)
        following = datetime.combine(local.date() + timedelta(days=1), dt_time(), tz)
        if midnight.utcoffset() == following.utcoffset():
            self._local_cache[zone] = (int(midnight.timestamp() * 1000), int(following.timestamp() * 1000),
                                       local.date().isoformat())
        return local.date().isoformat(), local.hour * 3600 + local.minute * 60 + local.second

    def _truth(self, conv: _Conv) -> None:
        """Fold the turns this conversation made into its shop's figures, under the profile.

        What the generator knows: the sessions it made (gaps over 10 minutes between them, under
        between turns), whether the buyer was with the bot or a human (Douyin: each session
        starts with the bot, the clock starts at the hand-off), which senders reply."""
        shop = conv.shop
        prof = self.profiles[shop.platform]
        threshold = prof.threshold_s * 1000
        open_s = prof.service_start.hour * 3600 + prof.service_start.minute * 60 + prof.service_start.second
        close_s = prof.service_end.hour * 3600 + prof.service_end.minute * 60 + prof.service_end.second
        bot_first = prof.handoff_starts_clock
        buyer = conv.buyer_id
        units = shop.units
        state = {"open": None, "session": None, "turns": 0}

        def open_turn(ts: int, session: int) -> None:
            day, second = self._local(ts, prof.timezone)
            if prof.unit == "session":
                if state["session"] is None:
                    state["session"] = ((day, buyer, session), open_s <= second < close_s)
                key, counted = state["session"]
            elif prof.unit == "buyer_day":
                key, counted = (day, buyer), open_s <= second < close_s
            else:
                state["turns"] += 1
                key, counted = (day, buyer, state["turns"]), open_s <= second < close_s
            unit = units.setdefault(key, [False, True, 0])
            unit[0] = unit[0] or counted
            state["open"] = (ts, key, counted)

        def decide(valid: bool) -> None:
            _, key, counted = state["open"]
            state["open"] = None
            if not counted:
                return
            unit = units[key]
            if prof.unit == "session" and prof.session_rule == "first_reply":
                if unit[2] == 0:
                    unit[1] = valid
            else:
                unit[1] = unit[1] and valid
            unit[2] += 1

        items = conv.items  # in time order
        current = None
        with_human = not bot_first
        for ts, sender, kind, _, session, _, _ in items:
            if session != current:
                current = session
                state["session"] = None
                if bot_first:
                    with_human = False
            if kind in EXCLUDING:
                shop.excluded.add((self._local(ts, prof.timezone)[0], buyer))
            elif kind == "handoff":
                with_human = True
                if bot_first and state["open"] is None:
                    open_turn(ts, session)
            elif sender == "buyer":
                if with_human and state["open"] is None:
                    open_turn(ts, session)
            elif sender == "agent" or (sender == "bot" and prof.bots_count):
                if state["open"] is not None:
                    decide(ts - state["open"][0] <= threshold)
        if state["open"] is not None:
            decide(False)

    def shop_rows(self) -> list[dict]:
        rows = []
        for shop in self.shops:
            prof = self.profiles[shop.platform]
            per_day: dict[str, list[int]] = {}
            for key, (counted, valid, decided) in shop.units.items():
                day, buyer = key[0], key[1]
                if not counted or (day, buyer) in shop.excluded:
                    continue
                tally = per_day.setdefault(day, [0, 0])
                tally[0] += 1
                tally[1] += bool(valid and decided)
            for day in sorted(per_day):
                consults, valid = per_day[day]
                rate = valid / consults
                rows.append({"platform": shop.platform, "shop_id": shop.shop_id, "day": day,
                             "consults": consults, "valid": valid, "rate": rate,
                             "penalty_risk": consults >= prof.penalty_min_consults and rate < prof.penalty_max_rate})
        return sorted(rows, key=lambda r: (r["platform"], r["shop_id"], r["day"]))


_META_VARIANTS = [
    {"item_id": "x", "free_shipping": fs, "cod_enabled": True, "credit_card_enabled": True}
    for fs in (True, False)
]


def _pick(rng: random.Random, cumulative) -> int:
    """An index drawn by cumulative weights."""
    x = rng.random() * cumulative[-1]
    for i, c in enumerate(cumulative):
        if x < c:
            return i
    return len(cumulative) - 1


NUMERALS = set("零〇一二三四五六七八九十百千万幺两壹贰叁肆伍陆柒捌玖拾佰仟")


def _cjk(c: str) -> bool:
    """A Chinese character that is not a numeral: repeating it or spacing it out disguises a word
    without changing what it says (a repeated digit would be another number)."""
    return "\u4e00" <= c <= "\u9fff" and c not in NUMERALS


def _applies(family: str, hit: str) -> bool:
    if family == "fullwidth":
        return any("!" <= c <= "~" for c in hit)
    if family == "traditional":
        return any(c in S2T for c in hit)
    if family in ("spaced_digits", "cn_numerals"):
        return sum(c.isdigit() and c.isascii() for c in hit) >= 5
    if family == "circled":
        return any(c.isascii() and c.isalnum() for c in hit)
    if family == "separators":  # between Chinese characters: inside a number or an address it would change it
        return any(_cjk(a) and _cjk(b) for a, b in zip(hit, hit[1:]))
    return any(_cjk(c) for c in hit)  # repeats: of Chinese characters only, for the same reason


def _disguise(family: str, hit: str, rng: random.Random) -> str:
    if family == "fullwidth":
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in hit)
    if family == "traditional":
        return "".join(S2T.get(c, c) for c in hit)
    if family == "separators":
        sep = rng.choice(SEPARATORS)
        return "".join(a + sep if _cjk(a) and _cjk(b) else a for a, b in zip(hit, hit[1:] + " "))
    if family == "spaced_digits":
        out, run = [], 0
        sep = rng.choice((" ", "-", " "))
        for c in hit:
            if c.isdigit() and c.isascii():
                if run and run % 4 == 3:
                    out.append(sep)
                run += 1
            out.append(c)
        return "".join(out)
    if family == "cn_numerals":
        yao = rng.random() < 0.5
        return "".join(("幺" if yao and c == "1" else CN_DIGITS[int(c)]) if c.isdigit() and c.isascii() else c
                       for c in hit)
    if family == "circled":
        def circle(c: str) -> str:
            if c.isascii() and c.isdigit() and c != "0":
                return chr(0x2460 + int(c) - 1)
            if c.isascii() and c.isalpha():
                return chr(0x24D0 + ord(c.lower()) - ord("a"))
            return c
        return "".join(circle(c) for c in hit)
    # repeats: one or two Chinese characters written twice
    chars = list(hit)
    chinese = [i for i, c in enumerate(chars) if _cjk(c)]
    for i in sorted(rng.sample(chinese, min(2, len(chinese))), reverse=True):
        chars.insert(i, chars[i])
    return "".join(chars)


def generate(config: GenConfig | None = None, **options) -> Generation:
    """A generated day: iterate `.events()` or `.lines()` once, then read `.labels`."""
    return Generation(config or GenConfig(**options))


def _write_labels(labels: dict, path: str | None) -> dict:
    if path:
        Path(path).write_bytes(orjson.dumps(labels, option=orjson.OPT_INDENT_2) + b"\n")
    return labels


def write(config: GenConfig, out: str | None, labels_path: str | None) -> dict:
    """Write the events (JSONL, gzip when the name ends in .gz, stdout for None or '-') and the
    labels; returns the labels."""
    gen = Generation(config)
    if out in (None, "-"):
        sink, raw = sys.stdout.buffer, None
    else:
        raw = open(out, "wb")
        sink = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=3) \
            if out.endswith(".gz") else raw
    try:
        chunk: list[bytes] = []
        for line in gen.lines():
            chunk.append(line)
            if len(chunk) >= 4096:
                chunk.append(b"")
                sink.write(b"\n".join(chunk))
                chunk = []
        if chunk:
            chunk.append(b"")
            sink.write(b"\n".join(chunk))
    finally:
        if raw is not None:
            if sink is not raw:
                sink.close()
            raw.close()
        else:
            sink.flush()
    return _write_labels(gen.labels, labels_path)


def produce(config: GenConfig, bootstrap: str, topic: str, partitions: int, labels_path: str | None) -> dict:
    """Produce the day's lines to a Kafka topic (created with `partitions` when missing), keyed by
    shop, in file order; write the labels; returns them. Line numbers in the labels' rejects
    count records in production order."""
    import asyncio

    from stream_guard.worker.kafka_io import prepare_topics, produce_records

    gen = Generation(config)

    async def run() -> None:
        await prepare_topics(bootstrap, {topic: (partitions, 1, {})})
        await produce_records(bootstrap, topic, gen.lines())

    asyncio.run(run())
    return _write_labels(gen.labels, labels_path)


def cmd_gen(args: argparse.Namespace) -> int:
    platforms = tuple(p for p in args.platforms.split(",") if p) if args.platforms else PLATFORMS
    config = GenConfig(seed=args.seed, shops=args.shops, events=args.events, buyers_per_shop=args.buyers_per_shop,
                       day=args.day, violation_rate=args.violation_rate, bad_rate=args.bad_rate,
                       jitter_ms=args.jitter_ms, platforms=platforms, rules_dir=args.rules)
    started = time.perf_counter()
    if args.broker:
        labels = produce(config, args.broker, args.topic, args.partitions, args.labels)
    else:
        labels = write(config, args.out, args.labels)
    elapsed = time.perf_counter() - started
    if not args.quiet:
        c = labels["counts"]
        risk = [r for r in labels["shops"] if r["penalty_risk"]]
        sys.stderr.write(
            f"{c['events']:,} events ({c['bad_records']:,} bad lines more) from {c['buyers']:,} buyers in "
            f"{config.shops} shops on {config.day}; {c['violations']:,} violations; "
            f"{len(risk)} shop-day(s) at penalty risk; {elapsed:.1f} s ({c['events'] / max(elapsed, 1e-9):,.0f} events/s)\n")
    return 0


def _jitter(text: str) -> int:
    value = int(text)
    if not 0 <= value < MAX_JITTER_MS:
        raise argparse.ArgumentTypeError(f"{text} must be at least 0 and below {MAX_JITTER_MS} (the allowed lateness)")
    return value


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not a YYYY-MM-DD date") from None


def add_parser(sub) -> None:
    gen = sub.add_parser("gen", help="generate a deterministic marketplace day of chat events, with labels",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    gen.add_argument("--seed", type=int, default=1, help="random seed (default 1): same seed, same bytes")
    gen.add_argument("--shops", type=positive_int, default=60, help="shops, spread over the platforms (default 60)")
    size = gen.add_mutually_exclusive_group()
    size.add_argument("--events", type=positive_int, default=100_000,
                      help="about how many valid events to make (default 100000)")
    size.add_argument("--buyers-per-shop", type=positive_int, help="mean buyers per shop, instead of --events")
    gen.add_argument("--day", type=_day, default=DEFAULT_DAY, help=f"local day, Asia/Shanghai (default {DEFAULT_DAY})")
    gen.add_argument("--violation-rate", type=rate, default=0.03,
                     help="share of agent messages that break a rule (default 0.03)")
    gen.add_argument("--bad-rate", type=rate, default=0.002, help="share of lines that are bad records (default 0.002)")
    gen.add_argument("--jitter-ms", type=_jitter, default=5000,
                     help="events arrive up to this much out of time order (default 5000, below 60000)")
    gen.add_argument("--platforms", help=f"comma-separated platforms (default: {','.join(PLATFORMS)})")
    gen.add_argument("--rules", help="rule packs directory (default: $STREAM_GUARD_RULES_DIR or the bundled rules/)")
    target = gen.add_mutually_exclusive_group()
    target.add_argument("--out", help="events JSONL ('-' or absent: stdout; a .gz name: gzip)")
    target.add_argument("--broker", help="produce the events to Kafka at this bootstrap address instead")
    gen.add_argument("--topic", default="chat-events", help="topic for --broker (default chat-events)")
    gen.add_argument("--partitions", type=positive_int, default=4,
                     help="partitions when --broker creates the topic (default 4)")
    gen.add_argument("--labels", help="labels JSON: config, violations, rejects, true per-shop reply figures")
    gen.add_argument("--quiet", action="store_true", help="no summary line on standard error")
    gen.set_defaults(run=cmd_gen)

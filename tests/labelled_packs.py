"""Small rule packs and labelled files for the tests of `rules eval`, written into a test's
tmp_path so that every figure the tests expect follows from the phrases below."""
import json
from pathlib import Path

from stream_guard.evaluation.packs import PLATFORMS

COMMON = '''
[pack]
description = "rules eval tests"

[[rules]]
id = "common.invoice"
category = "invoice_refusal"
severity = "high"
source = "TM-INV"
penalty = { points = 6, action = "review" }
any = ["不开发票"]
examples.hit = ["不开发票哦", "我们不开发票", "不开 发票"]
examples.clean = ["发票随货", "开发票", "您好"]

[[rules]]
id = "common.add_wechat"
category = "contact_diversion"
severity = "high"
source = "TM-CONTACT"
penalty = { points = 6, action = "block" }
any = ["加微信"]
examples.hit = ["加微信聊", "加 微 信", "有事加微信"]
examples.clean = ["微信支付", "加急", "您好"]

[[rules]]
id = "common.abuse"
category = "abuse"
severity = "high"
source = "TM-ABUSE"
penalty = { points = 12, action = "block" }
any = ["笨蛋"]
examples.hit = ["笨蛋", "你个笨蛋", "笨 蛋"]
examples.clean = ["笨", "蛋糕", "您好"]
'''

PLATFORM = '''
[pack]
platform = "{platform}"
include = ["common"]

[reply]
unit = "turn"
threshold_s = 180
'''

PINDUODUO_RULES = '''
[[rules]]
id = "pinduoduo.competitor"
category = "competitor_platform"
severity = "high"
source = "PDD-COMPETITOR"
penalty = { points = 6, action = "review" }
any = ["天猫"]
examples.hit = ["去天猫买", "天猫有", "天 猫"]
examples.clean = ["拼多多", "猫粮", "您好"]
'''


def write_packs(directory: Path) -> Path:
    """common (invoice: 不开发票, contact: 加微信, abuse: 笨蛋) on every platform; pinduoduo also
    flags 天猫 as a competitor."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "common.toml").write_text(COMMON, encoding="utf-8")
    for platform in PLATFORMS:
        extra = PINDUODUO_RULES if platform == "pinduoduo" else ""
        (directory / f"{platform}.toml").write_text(PLATFORM.format(platform=platform) + extra, encoding="utf-8")
    return directory


def line(platform: str, text: str, *expect: str, meta: dict | None = None, note: str = "") -> str:
    return json.dumps({"platform": platform, "text": text, "meta": meta or {}, "expect": list(expect),
                       "note": note}, ensure_ascii=False)


def write_labelled(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{text}\n" for text in lines), encoding="utf-8")
    return path

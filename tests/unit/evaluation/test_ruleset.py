"""The rule engine on small packs written here: any/near/unless/when/roles, detectors, the
violation contract, validation problems, and reloading."""

import pytest

from stream_guard.cli import rules as rules_cli
from stream_guard.evaluation import detectors
from stream_guard.evaluation.packs import PLATFORMS, PackError, load_pack
from stream_guard.evaluation.registry import Registry
from stream_guard.evaluation.ruleset import Ruleset
from stream_guard.evaluation.violations import build_violations, violation_id

COMMON = '''
[pack]
description = "test"

[[rules]]
id = "common.invoice"
category = "invoice_refusal"
severity = "high"
source = "TM-INV"
penalty = { points = 6, action = "review" }
any = ["不开发票", "发票"]
unless = ["有发票", "发票随货"]
examples.hit = ["不开發票哦", "没发票", "发 票没有"]
examples.clean = ["有发票的", "发票随货寄出", "您好"]

[[rules]]
id = "common.add_wechat"
category = "contact_diversion"
severity = "high"
source = "TM-CONTACT"
penalty = { points = 6, action = "block" }
near = [{ within = 6, groups = [["加", "+"], ["微信", "vx", "v"]] }]
examples.hit = ["加我微信", "+vx", "加 个 V 吧"]
examples.clean = ["微信支付不了", "加急处理", "vivo手机"]

[[rules]]
id = "common.phone"
category = "privacy_leak"
severity = "medium"
source = "PDD-PHONE"
penalty = { action = "review" }
detector = { name = "mobile_phone" }
examples.hit = ["13812345678", "一三八 一二三四 五六七八", "幺三八幺二三四五六七八"]
examples.clean = ["订单123456789012", "1381234567", "您好"]
'''

PLATFORM = '''
[pack]
platform = "{platform}"
include = ["common"]
allow_domains = ["tmall.com"]

[overrides."common.invoice"]
source = "{platform}-INV"

[reply]
unit = "turn"
threshold_s = 180

[[rules]]
id = "{platform}.free_shipping"
category = "free_shipping_breach"
severity = "medium"
source = "TM-SHIP"
penalty = {{ points = 4, action = "review" }}
any = ["不包邮"]
when = {{ free_shipping = true }}
examples.hit = [
    {{ text = "不包邮", meta = {{ free_shipping = true }} }},
    {{ text = "这款不包 邮", meta = {{ free_shipping = true }} }},
    {{ text = "偏远不包邮", meta = {{ free_shipping = true }} }},
]
examples.clean = [{{ text = "不包邮", meta = {{ free_shipping = false }} }}, "不包邮", "包邮的"]

[[rules]]
id = "{platform}.link"
category = "contact_diversion"
severity = "low"
source = "TM-CONTACT"
penalty = {{ points = 1, action = "review" }}
roles = ["agent"]
detector = {{ name = "url" }}
examples.hit = ["看 www.abc.com", "abc.xyz/item", "http://t.cn/x"]
examples.clean = ["detail.tmall.com/item.htm", "1.5kg", {{ text = "www.abc.com", role = "bot" }}]
'''


def check(directory):
    problems, _ = rules_cli.check(directory)
    return problems


def line_of(text, needle, nth=1):
    """The line number of the nth line of a pack's text that holds `needle`."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return found[nth - 1]


def write_packs(directory, common=COMMON, platform=PLATFORM):
    (directory / "common.toml").write_text(common, encoding="utf-8")
    for p in PLATFORMS:
        (directory / f"{p}.toml").write_text(platform.format(platform=p), encoding="utf-8")
    return directory


@pytest.fixture
def packs_dir(tmp_path):
    return write_packs(tmp_path)


@pytest.fixture
def tmall(packs_dir):
    return Ruleset(load_pack(packs_dir, "tmall"))


def fired(ruleset, text, sender="agent", meta=None):
    return {f.rule.id: [text[s:e] for s, e in f.spans] for f in ruleset.judge(text, sender, meta)}


def test_every_example_passes_and_check_is_clean(packs_dir):
    assert check(packs_dir) == []


def test_any_and_unless(tmall):
    assert fired(tmall, "这个不开發票") == {"common.invoice": ["不开發票", "發票"]}
    assert fired(tmall, "有发票，发票随货寄") == {}
    assert fired(tmall, "有发票，但这单发票不行") == {"common.invoice": ["发票"]}


def test_near_within_window(tmall):
    assert fired(tmall, "加我的微信吧") == {"common.add_wechat": ["加我的微信"]}
    # "+" is a phrase of its own here, yet separators still split nothing: 微+信 is 微信
    assert fired(tmall, "＋微+信") == {"common.add_wechat": ["＋微+信"]}
    assert fired(tmall, "加急处理后可以用微信支付吗") == {}


def test_a_symbol_phrase_is_found_without_the_spaces_around_it(tmp_path):
    spaced = COMMON.replace('groups = [["加", "+"]', 'groups = [["加", " + "]')
    rules = Ruleset(load_pack(write_packs(tmp_path, common=spaced), "tmall"))
    assert fired(rules, "+vx") == {"common.add_wechat": ["+vx"]}


def test_roles_and_when(tmall):
    assert fired(tmall, "不开发票", sender="buyer") == {}
    assert fired(tmall, "不包邮", meta={"free_shipping": True}) == {"tmall.free_shipping": ["不包邮"]}
    assert fired(tmall, "不包邮", meta={}) == {}
    assert fired(tmall, "www.abc.com", sender="bot") == {}


def test_override_changes_only_that_platform(packs_dir):
    assert {r.id: r.source for r in load_pack(packs_dir, "jd").rules}["common.invoice"] == "jd-INV"


def test_violation_contract(tmall):
    event = {"event_id": "e1", "shop_id": "s1", "platform": "tmall", "conversation_id": "c1",
             "agent_id": "a1", "ts": 1, "text": "不开发票，电话13812345678"}
    findings = tmall.judge(event["text"])
    vs = build_violations(event, findings, tmall.version)
    assert {v["rule_id"] for v in vs} == {"common.invoice", "common.phone"}
    for v in vs:
        assert v["violation_id"] == violation_id("e1", v["rule_id"])
        assert v["excerpt"] == "不开发票，电话***********"
        assert v["pack_version"] == tmall.version
    phone = next(v for v in vs if v["rule_id"] == "common.phone")
    assert phone["spans"] == [[7, 18]] and phone["severity"] == "medium"
    assert violation_id("e1", "x") != violation_id("e2", "x")


def test_pack_problems_are_reported_with_file_and_rule(tmp_path):
    bad = COMMON.replace('category = "invoice_refusal"', 'category = "rudeness"')
    bad = bad.replace('id = "common.phone"', 'id = "common.invoice"')
    bad += '\n[[rules]]\nid = "common.x"\ncategory = "abuse"\nseverity = "low"\nsource = "S"\n' \
           'penalty = { action = "log" }\nany = ["  ", "發票"]\nunless = ["发票"]\ncolour = "red"\n' \
           'examples.hit = ["a", "b", "c"]\nexamples.clean = ["d"]\n'
    write_packs(tmp_path, common=bad)
    problems = check(tmp_path)
    text = "\n".join(problems)
    x = line_of(bad, 'id = "common.x"')
    second_invoice = line_of(bad, 'id = "common.invoice"', 2)
    empty, clean = line_of(bad, 'any = ["  "'), line_of(bad, 'examples.clean = ["d"]')
    assert (f"common.toml:{line_of(bad, 'rudeness')}: common.invoice: category must be one of invoice_refusal, "
            f"free_shipping_breach") in text
    assert f"common.toml:{second_invoice}: common.invoice: duplicate rule id" in text
    assert f"common.toml:{line_of(bad, 'colour')}: common.x: unknown keys ['colour'] (known: id, category" in text
    assert f"common.toml:{empty}: common.x: any has an empty phrase" in text
    assert f"common.toml:{clean}: common.x: needs at least 3 clean examples, has 1" in text
    assert f"common.toml:{x}: common.x: phrase '發票' can never fire: an allowed phrase" in text
    assert f"common.toml:{x}: common.x: on tmall, hit example does not fire: 'a'" in text
    with pytest.raises(PackError):
        load_pack(tmp_path, "tmall")


def test_reload_swaps_atomically_and_keeps_old_on_problems(packs_dir):
    registry = Registry(packs_dir)
    before = registry.current
    assert fired(before.for_platform("tmall"), "不开发票")
    (packs_dir / "common.toml").write_text(COMMON.replace('"不开发票", "发票"', '"不开发票", "发票", "收据"'),
                                           encoding="utf-8")
    assert registry.reload() == []
    after = registry.current
    assert after is not before and after.version != before.version
    assert fired(after.for_platform("tmall"), "只能开收据") and not fired(before.for_platform("tmall"), "只能开收据")
    (packs_dir / "common.toml").write_text("not [ toml", encoding="utf-8")
    problems = registry.reload()
    assert problems and problems[0].startswith("common.toml:1: -: invalid TOML")
    assert registry.current is after


def test_a_reload_is_refused_whole_on_a_failing_example_or_a_reply_change(packs_dir):
    registry = Registry(packs_dir)
    before = registry.current
    (packs_dir / "common.toml").write_text(COMMON.replace('examples.hit = ["不开發票哦"', 'examples.hit = ["您好"'),
                                           encoding="utf-8")
    problems = registry.reload()
    assert any("common.invoice: on tmall, hit example does not fire: '您好'" in p for p in problems)
    assert registry.current is before
    (packs_dir / "common.toml").write_text(COMMON, encoding="utf-8")
    faster = PLATFORM.replace("threshold_s = 180", "threshold_s = 60")
    for p in PLATFORMS:
        (packs_dir / f"{p}.toml").write_text(faster.format(platform=p), encoding="utf-8")
    problems = registry.reload()
    assert "tmall.toml:1: reply: the [reply] profile changed: a running worker keeps the profiles it started with" \
        in "\n".join(problems) and registry.current is before
    for p in PLATFORMS:
        (packs_dir / f"{p}.toml").write_text(PLATFORM.format(platform=p) + "\n# a comment\n", encoding="utf-8")
    assert registry.reload() == [] and registry.current is not before


@pytest.mark.parametrize("text,expected", [
    ("电话13812345678", ["13812345678"]),
    ("138-1234-5678", ["138-1234-5678"]),
    ("１３８ １２３４ ５６７８", ["１３８ １２３４ ５６７８"]),
    ("幺三八幺二三四五六七八", ["幺三八幺二三四五六七八"]),
    ("+86 13812345678", ["86 13812345678"]),  # the country code belongs to it
    ("8613812345678", ["8613812345678"]),
    ("订单1381234567890", []),
    ("12812345678", []),
])
def test_mobile_phone(text, expected):
    assert [text[s:e] for s, e in detectors.mobile_phone(detectors.TextView(text))] == expected


def test_numbers_ids_cards_and_links():
    v = detectors.TextView
    assert detectors.id_card(v("身份证11010519491231002X"), [], 8) == [(3, 21)]
    assert detectors.id_card(v("身份证110105194912310021"), [], 8) == []  # bad check digit
    assert detectors.id_card(v("身份证110105194912310021"), [(0, 3)], 8) == [(3, 21)]  # shaped, next to 身份证
    assert detectors.id_card(v("身份证110105194913310021"), [(0, 3)], 8) == []  # no 13th month
    assert detectors.bank_card(v("卡号 6222021234567890128")) == [(3, 22)]
    assert detectors.bank_card(v("卡号 6222021234567890129")) == []  # Luhn fails
    assert detectors.qq_number(v("扣扣 12345678"), [(0, 2)], 8) == [(3, 11)]
    assert detectors.qq_number(v("扣扣" + "很" * 20 + "12345678"), [(0, 2)], 8) == []
    assert detectors.wechat_id(v("微信 abc_1234 哦"), [(0, 2)], 8) == [(3, 11)]
    assert detectors.wechat_id(v("微信 hello 哦"), [(0, 2)], 8) == []  # an English word, not an id
    assert detectors.email(v("发到 a.b@qq.com 吧")) == [(3, 13)]
    allow = ("tmall.com",)
    assert detectors.url(v("去 taobao。com 买"), allow) == [(2, 12)]
    assert detectors.url(v("https://detail.tmall.com/item.htm?id=1"), allow) == []
    assert detectors.url(v("重量1.5kg，版本v1.2"), allow) == []
    assert detectors.short_filler("嗯嗯。", ("嗯", "哦"), 5) == [(0, 3)]
    assert detectors.short_filler("嗯，好的", ("嗯", "哦"), 5) == []


def test_masking_keeps_length():
    view = detectors.TextView("电话 138 1234 5678, 邮箱 ab@qq.com")
    masked = detectors.mask_personal_data(view)
    assert masked == "电话 *** **** ****, 邮箱 **@qq.com" and len(masked) == len(view.text)


def test_reply_profile_problems(tmp_path):
    write_packs(tmp_path, platform=PLATFORM.replace('unit = "turn"', 'unit = "fortnight"\ncolour = 1'))
    text = "\n".join(check(tmp_path))
    written = (tmp_path / "tmall.toml").read_text(encoding="utf-8")
    assert (f"tmall.toml:{line_of(written, 'fortnight')}: reply: unit must be one of turn, session, buyer_day, "
            f"not 'fortnight'") in text
    assert f"tmall.toml:{line_of(written, 'colour = 1')}: reply: unknown keys ['colour']" in text
    write_packs(tmp_path, platform=PLATFORM.replace('[reply]\nunit = "turn"\nthreshold_s = 180\n', ''))
    assert "jd.toml:1: -: missing [reply]: every platform needs a reply profile" in check(tmp_path)


# ---- rule language v2: lexicons, ordered and clause-scoped near, guards, platforms ------------

V2_RULES = '''
[lexicons]
INVOICE = ["发票", "fp"]
NEG = ["不", "没"]
NEG_ISSUE = ["{NEG}开", "开不了"]

[[rules]]
id = "common.invoice_v2"
category = "invoice_refusal"
severity = "high"
source = "TM-INV"
penalty = { points = 6, action = "review" }
near = [{ groups = ["{INVOICE}", "{NEG_ISSUE}"], within = 8, ordered = true }]
any = ["{NEG}{INVOICE}"]
unless_before = { phrases = ["哪有", "不会"], within = 2 }
skip_questions = true
examples.hit = ["发票开不了", "fp不开的哦", "我们这里没发票"]
examples.clean = ["哪有不给开发票的", "发票没有开吗", "开不了就算了，发票"]

[[rules]]
id = "common.wechat_v2"
category = "contact_diversion"
severity = "high"
source = "TM-CONTACT"
penalty = { points = 6, action = "block" }
platforms = ["pinduoduo", "jd"]
near = [{ groups = [["加"], ["微信"]], within = 6, scope = "message" }]
unless_after = { phrases = ["就不加了", "不加了"], within = 1 }
examples.hit = [{ text = "加我，微信号发您" }, "微信加一下", "加个微信"]
examples.clean = ["微信就不加了，这里留言", "加急处理", "微信支付"]
'''


@pytest.fixture
def v2_dir(tmp_path):
    return write_packs(tmp_path, common=COMMON + V2_RULES)


def test_lexicons_expand_into_every_phrase_they_spell(v2_dir):
    rule = next(r for r in load_pack(v2_dir, "tmall").rules if r.id == "common.invoice_v2")
    assert set(rule.any) == {"不发票", "不fp", "没发票", "没fp"}
    assert set(rule.near[0].groups[1]) == {"不开", "没开", "开不了"}


def test_ordered_near_needs_the_groups_in_order(v2_dir):
    rules = Ruleset(load_pack(v2_dir, "tmall"))
    assert "common.invoice_v2" in fired(rules, "发票开不了")
    assert "common.invoice_v2" not in fired(rules, "开不了就发个发票")


def test_near_parts_stay_in_one_clause_unless_the_scope_is_the_message(v2_dir):
    tmall, pdd = Ruleset(load_pack(v2_dir, "tmall")), Ruleset(load_pack(v2_dir, "pinduoduo"))
    assert "common.invoice_v2" not in fired(tmall, "发票，开不了")
    assert "common.invoice_v2" in fired(tmall, "发票 开不了")
    assert fired(pdd, "加我，微信号发您")["common.wechat_v2"] == ["加我，微信"]


def test_guards_cancel_only_next_to_the_match_and_in_its_clause(v2_dir):
    tmall, pdd = Ruleset(load_pack(v2_dir, "tmall")), Ruleset(load_pack(v2_dir, "pinduoduo"))
    assert "common.invoice_v2" not in fired(tmall, "哪有没发票的")
    assert "common.invoice_v2" in fired(tmall, "哪有，没发票的")  # the guard is in another clause
    assert "common.invoice_v2" in fired(tmall, "哪有这种事，我们没发票")  # and not next to it
    assert "common.wechat_v2" not in fired(pdd, "加微信就不加了")
    assert "common.wechat_v2" in fired(pdd, "加微信吧，不加了也行")


def test_questions_are_skipped_when_the_rule_says_so(v2_dir):
    tmall = Ruleset(load_pack(v2_dir, "tmall"))
    for asked in ("发票没有开吗", "您是说发票开不了？", "发票开不了吗 ？"):
        assert "common.invoice_v2" not in fired(tmall, asked), asked
    assert "common.invoice_v2" in fired(tmall, "发票开不了。您还需要吗？")


def test_a_rule_is_kept_to_its_platforms(v2_dir):
    ids = {p: {r.id for r in load_pack(v2_dir, p).rules} for p in PLATFORMS}
    assert {p for p, found in ids.items() if "common.wechat_v2" in found} == {"pinduoduo", "jd"}


WORDS_AND_FOLDS = '''
[[rules]]
id = "common.jd_shop"
category = "contact_diversion"
severity = "medium"
source = "TM-CONTACT"
penalty = { points = 4, action = "review" }
whole_terms = true
any = ["京东", "微信"]
examples.hit = ["去京东下单", "加我微信号", "京东店铺"]
examples.clean = ["南京东路", "稍微信号差", "您好"]

[[rules]]
id = "common.app_spelled"
category = "contact_diversion"
severity = "high"
source = "TM-CONTACT"
penalty = { points = 6, action = "block" }
fold = ["pinyin", "homophones", "lookalikes", "stand_ins"]
near = [{ groups = [["加"], ["微信", "企鹅"]], within = 8 }]
examples.hit = ["加威芯", "加🐧", "加wx"]
examples.clean = ["加急", "为新客户", "微信"]
'''


@pytest.fixture
def words_dir(tmp_path):
    return write_packs(tmp_path, common=COMMON + WORDS_AND_FOLDS)


def test_whole_terms_cancel_a_term_a_dictionary_word_ends_inside(words_dir):
    rules = Ruleset(load_pack(words_dir, "tmall"))
    for ordinary in ("南京东路的门店", "北 京东路", "稍微信号差一点"):  # 南京, 北京, 稍微 end inside the term
        assert "common.jd_shop" not in fired(rules, ordinary), ordinary
    for named in ("去京东下单", "京东西很多", "加我微信号"):  # a word after the term does not cancel it
        assert "common.jd_shop" in fired(rules, named), named
    decisions = rules.explain("南京东路")[1]
    assert any(d.rule.id == "common.jd_shop" and not d.fired and d.cancelled for d in decisions)


def test_fold_profiles_spell_the_phrases_every_way(words_dir):
    rules = Ruleset(load_pack(words_dir, "tmall"))
    for spelt in ("加威芯", "加weixin", "加wx", "加w\u0435ixin", "加\u051d\u0445", "加🐧", "➕微信", "加微❤"):
        assert "common.app_spelled" in fired(rules, spelt), spelt
    for ordinary in ("加急，为新客户", "加油", "微信"):
        assert "common.app_spelled" not in fired(rules, ordinary), ordinary


@pytest.mark.parametrize(("change", "problem"), [
    (("INVOICE = [", "invoice = ["), "'invoice': lexicon names are upper case"),
    (('["{INVOICE}", "{NEG_ISSUE}"]', '["{INVOICES}", "{NEG_ISSUE}"]'), "near.groups: unknown lexicon {INVOICES}"),
    (('NEG_ISSUE = [', 'EMPTY = []\nNEG_ISSUE = ['), "EMPTY is empty"),
    (("ordered = true", "ordered = 1"), "near.ordered must be true or false"),
    (('within = 8, ordered', 'scope = "para", within = 8, ordered'), "near.scope must be one of clause, message"),
    (("within = 2 }", "within = 2, words = [] }"), "unless_before: unknown keys ['words'] (known: phrases, within)"),
    (('platforms = ["pinduoduo", "jd"]', 'platforms = ["ebay"]'), "platforms must be a non-empty list"),
    (("skip_questions = true", "skip_questions = \"yes\""), "skip_questions must be true or false"),
])
def test_v2_problems_are_reported(tmp_path, change, problem):
    write_packs(tmp_path, common=COMMON + V2_RULES.replace(*change))
    assert problem in "\n".join(check(tmp_path))


def test_a_phrase_that_stands_for_too_many_is_refused(tmp_path):
    many = '\n[lexicons]\nDIGIT = ["0","1","2","3","4","5","6","7","8","9"]\n'
    rule = V2_RULES.split("[[rules]]")[1].replace('any = ["{NEG}{INVOICE}"]', 'any = ["{DIGIT}{DIGIT}{DIGIT}{DIGIT}"]')
    write_packs(tmp_path, common=COMMON + many + "\n[[rules]]" + rule.replace("unless_before", "unless_x"))
    problems = "\n".join(check(tmp_path))
    assert "stands for 10000 phrases, over 4096" in problems


def test_a_lexicon_is_defined_once_per_pack(tmp_path):
    twice = PLATFORM.replace("[reply]", '[lexicons]\nNEG = ["无"]\n\n[reply]')
    write_packs(tmp_path, common=COMMON + V2_RULES, platform=twice)
    written = (tmp_path / "tmall.toml").read_text(encoding="utf-8")
    assert f"tmall.toml:{line_of(written, 'NEG = ')}: lexicons: NEG is defined twice" in "\n".join(check(tmp_path))

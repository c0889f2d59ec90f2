"""An excerpt masks what every personal-data detector finds, whatever found it: over messages
made of the spellings people use, each finding of a privacy detector (mobile, QQ, bank card, ID,
WeChat id, e-mail) that a rule reports is starred in the excerpt, its letters and digits (an
e-mail's local part), and the excerpt keeps the text's length."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stream_guard.evaluation.detectors import TextView
from stream_guard.evaluation.packs import PLATFORMS, default_rules_dir, load_pack
from stream_guard.evaluation.ruleset import Ruleset
from stream_guard.evaluation.violations import excerpt

RULESETS = [Ruleset(load_pack(default_rules_dir(), p)) for p in PLATFORMS]
PRIVACY = {"mobile_phone", "qq_number", "bank_card", "id_card", "wechat_id", "email"}
GAPS = st.sampled_from(["", " ", "-", "/", "，", "😀", "  "])
PIECES = st.one_of(
    st.builds(lambda g: f"138{g}1234{g}5678", GAPS),
    st.builds(lambda g: f"110105{g}19491231{g}002X", GAPS),
    st.builds(lambda g: g.join(["6222", "0212", "3456", "7890", "128"]), GAPS),
    st.text("123456789", min_size=6, max_size=10).map(lambda n: f"qq {n}"),
    st.text("abcdefgh", min_size=3, max_size=6).map(lambda w: f"加微信 {w}_2024"),
    st.text("abcdefgh", min_size=2, max_size=6).map(lambda w: f"{w}@qq.com"),
    st.sampled_from(["亲，", "加我", "联系", "扣扣", "vx", "电话", "发到邮箱", "好的", " "]),
)


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(PIECES, min_size=1, max_size=5))
def test_every_privacy_finding_is_starred_in_the_excerpt(pieces):
    text = "".join(pieces)
    for ruleset in RULESETS:
        findings = ruleset.judge(text)
        if not findings:
            continue
        shown = excerpt(text, findings)
        assert len(shown) == len(text)
        folded = TextView(text).ascii
        for finding in findings:
            detector = finding.rule.detector
            if detector is None or detector.name not in PRIVACY:
                continue
            for start, end in finding.spans:
                if detector.name == "email":
                    end = folded.index("@", start)
                secret = [k for k in range(start, end) if folded[k].isascii() and folded[k].isalnum()]
                assert secret and all(shown[k] == "*" for k in secret), (ruleset.version, detector.name, text)

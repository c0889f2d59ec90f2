"""Phone, ID and card numbers however a person splits them: any of the characters the matcher
skips (spaces, punctuation of either width, emoji), up to MAX_NUMBER_GAP of them, between the
digit groups. The detectors find each one and the excerpt masks every one of its digits."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stream_guard.evaluation import detectors
from stream_guard.evaluation.detectors import MAX_NUMBER_GAP, TextView, mask_personal_data

# what people put between digit groups
GAPS = [" ", "  ", "-", "/", "_", "，", ",", "、", "·", ".", "。", "😀", "📞", "☎️", " / ", "\n", "\u3000", "—"]
AROUND = st.sampled_from(["", "加我", "电话", "亲，号码是", "收件人手机 ", "卡号：", "身份证 "])
AFTER = st.sampled_from(["", " 谢谢", "，发顺丰", "哦"])


def split(digits: str, sizes: list[int], gaps: list[str]) -> str:
    out, at = [], 0
    for i, size in enumerate(sizes):
        out.append(digits[at:at + size])
        at += size
        if at < len(digits):
            out.append(gaps[i % len(gaps)])
    return "".join(out) + digits[at:]


MOBILES = st.builds(lambda second, rest: "1" + second + rest, st.sampled_from("3456789"),
                    st.text(alphabet="0123456789", min_size=9, max_size=9))


@given(MOBILES, st.sampled_from([[3, 4, 4], [3, 3, 5], [4, 4, 3], [3, 8], [11]]),
       st.lists(st.sampled_from(GAPS), min_size=1, max_size=3), AROUND, AFTER)
def test_a_split_mobile_number_is_found_and_masked(number, sizes, gaps, before, after):
    spelled = split(number, sizes, gaps)
    text = before + spelled + after
    view = TextView(text)
    assert (len(before), len(before) + len(spelled)) in detectors.mobile_phone(view)
    masked = mask_personal_data(view)
    assert not any(ch.isdigit() for ch in masked[len(before):len(before) + len(spelled)])
    assert len(masked) == len(text)


@given(st.sampled_from(["11010519491231002X", "6222021234567890128"]),
       st.sampled_from([[6, 8, 4], [4, 4, 4, 4, 3], [3, 3, 3, 3, 3, 3]]),
       st.lists(st.sampled_from(GAPS), min_size=1, max_size=3))
def test_split_id_and_card_numbers_are_masked(number, sizes, gaps):
    spelled = split(number, sizes, gaps)
    masked = mask_personal_data(TextView("号码 " + spelled + " 请核对"))
    assert not any(ch.isdigit() for ch in masked)


def test_a_gap_wider_than_the_limit_splits_the_number():
    gap = " " * (MAX_NUMBER_GAP + 1)
    assert detectors.mobile_phone(TextView(f"138{gap}1234{gap}5678")) == []
    assert detectors.mobile_phone(TextView("138" + " " * MAX_NUMBER_GAP + "12345678")) != []

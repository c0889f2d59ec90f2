"""`stream-guard rules eval` as a user runs it: a labelled file and packs written here, so every
figure printed is known exactly."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from labelled_packs import line, write_labelled, write_packs

ROOT = Path(__file__).resolve().parents[2]

# line numbers are the file's; what the packs of labelled_packs do with each line is on its right
LINES = [
    line("taobao", "不开发票哦", "invoice_refusal"),  # 1 caught
    line("taobao", "发票开不了", "invoice_refusal", note="paraphrase"),  # 2 missed, nothing fired
    line("taobao", "有问题加微信"),  # 3 false alarm: common.add_wechat [3, 6)
    line("tmall", "加微信聊", "contact_diversion"),  # 4 caught
    line("tmall", "您好"),  # 5 kept
    line("pinduoduo", "每天猫粮喂一点"),  # 6 false alarm: pinduoduo.competitor [1, 3)
    line("pinduoduo", "去天猫买吧", "competitor_platform"),  # 7 caught
    line("pinduoduo", "笨蛋不开发票", "invoice_refusal", "abuse"),  # 8 caught (both fire)
    line("jd", "你真笨", "abuse"),  # 9 missed
    line("jd", "加微信笨蛋", "invoice_refusal"),  # 10 missed: contact and abuse fired instead
    line("tmall", "电话13812345678"),  # 11 kept: no phone rule
    line("douyin", "打我电话13812345678", "contact_diversion"),  # 12 missed, shown masked
]


def run(*args):
    return subprocess.run([sys.executable, "-m", "stream_guard", "rules", "eval", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.fixture
def packs(tmp_path):
    return write_packs(tmp_path / "packs")


@pytest.fixture
def labelled(tmp_path):
    return write_labelled(tmp_path / "labelled.jsonl", LINES)


def rows(stdout: str, header: str) -> dict[str, list[str]]:
    """The table under `header`: first cell -> the other cells."""
    lines = stdout.splitlines()
    start = next(i for i, text in enumerate(lines) if text.startswith(header))
    table = {}
    for text in lines[start + 1:]:
        if not text.strip():
            break
        first, *cells = text.split()
        table[first] = cells
    return table


def test_figures_per_platform_category_and_overall(packs, labelled):
    out = run(labelled, "--rules", packs)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{labelled}: 12 labelled lines, 8 violations and 4 clean")
    assert rows(out.stdout, "platform") == {
        "taobao": ["1/2", "0.500", "0/1", "0.000"],
        "tmall": ["1/1", "1.000", "2/2", "1.000"],
        "pinduoduo": ["2/2", "1.000", "0/1", "0.000"],
        "jd": ["0/2", "0.000", "-", "-"],
        "douyin": ["0/1", "0.000", "-", "-"],
        "overall": ["4/8", "0.500", "2/4", "0.500"],
    }
    # line 8 accepts both of its categories, so it counts as caught under each
    assert rows(out.stdout, "category") == {
        "invoice_refusal": ["2/4", "0.500", "0"],
        "contact_diversion": ["1/2", "0.500", "1"],
        "competitor_platform": ["1/1", "1.000", "1"],
        "abuse": ["1/2", "0.500", "0"],
    }
    assert out.stdout.splitlines()[-1] == ("recall 0.500 (4/8), clean-kept 0.500 (2/4); "
                                           "4 misses, 2 false alarms, 0 bad lines")


def test_misses_and_false_alarms_are_listed_with_rule_and_span(packs, labelled):
    out = run(labelled, "--rules", packs)
    text = out.stdout
    misses = text[text.index("misses: 4"):text.index("false alarms: 2")]
    assert "  line 2  taobao  expected invoice_refusal  (paraphrase)\n    发票开不了\n    nothing fired\n" in misses
    assert ("  line 10  jd  expected invoice_refusal\n    加微信笨蛋\n"
            "    fired instead: common.add_wechat (contact_diversion): 【加微信】笨蛋\n"
            "    fired instead: common.abuse (abuse): 加微信【笨蛋】\n") in misses
    assert "line 9  jd  expected abuse" in misses and "line 12  douyin" in misses
    alarms = text[text.index("false alarms: 2"):]
    assert "  line 3  taobao\n    common.add_wechat (contact_diversion): 有问题【加微信】\n" in alarms
    assert "  line 6  pinduoduo\n    pinduoduo.competitor (competitor_platform): 每【天猫】粮喂一点\n" in alarms


def test_personal_numbers_are_masked(packs, labelled, tmp_path):
    out = run(labelled, "--rules", packs, "--report", tmp_path / "r.json")
    assert "    打我电话***********\n" in out.stdout
    assert "13812345678" not in out.stdout
    assert "13812345678" not in (tmp_path / "r.json").read_text(encoding="utf-8")


def test_report_holds_everything_printed(packs, labelled, tmp_path):
    out = run(labelled, "--rules", packs, "--report", tmp_path / "r.json", "--min-recall", "0.4")
    assert out.returncode == 1
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["source"] == str(labelled) and report["rules_dir"] == str(packs)
    assert sorted(report["pack_versions"]) == ["douyin", "jd", "pinduoduo", "taobao", "tmall"]
    assert report["lines"] == 12
    assert report["overall"] == {"violations": 8, "caught": 4, "recall": 0.5, "clean": 4, "kept": 2,
                                 "clean_kept": 0.5}
    assert report["by_platform"]["jd"] == {"violations": 2, "caught": 0, "recall": 0.0, "clean": 0, "kept": 0,
                                           "clean_kept": None}
    assert report["by_category"]["contact_diversion"] == {"violations": 2, "caught": 1, "recall": 0.5,
                                                          "false_alarms": 1, "clean_kept": 0.75}
    assert [m["line"] for m in report["misses"]] == [2, 9, 10, 12]
    assert report["false_alarms"][1] == {
        "line": 6, "platform": "pinduoduo", "expect": [], "text": "每天猫粮喂一点", "meta": {}, "note": "",
        "fired": [{"rule_id": "pinduoduo.competitor", "category": "competitor_platform", "spans": [[1, 3]],
                   "marked": "每【天猫】粮喂一点"}],
    }
    assert report["bad_lines"] == []
    assert report["thresholds"] == {"min_recall": 0.4, "min_clean": None,
                                    "below": ["jd: recall 0.000 < 0.400", "douyin: recall 0.000 < 0.400"]}


@pytest.mark.parametrize(("flags", "code", "named"), [
    (("--min-recall", "0.5"), 1, ["jd: recall 0.000 < 0.500", "douyin: recall 0.000 < 0.500"]),
    (("--min-clean", "0.5"), 1, ["taobao: clean-kept 0.000 < 0.500", "pinduoduo: clean-kept 0.000 < 0.500"]),
    (("--min-recall", "0", "--min-clean", "0"), 0, []),
])
def test_thresholds_name_the_platforms_under_them(packs, labelled, flags, code, named):
    out = run(labelled, "--rules", packs, *flags)
    assert out.returncode == code, out.stderr
    for below in named:
        assert below in out.stderr
    assert ("tmall" in out.stderr) is False  # at or above every threshold
    assert ("under the threshold" in out.stderr) == bool(named)


def test_a_threshold_is_a_fraction(packs, labelled):
    out = run(labelled, "--rules", packs, "--min-recall", "97")
    assert out.returncode == 2 and "a fraction between 0 and 1" in out.stderr


BAD = [
    line("taobao", "不开发票哦", "invoice_refusal"),
    "not json",
    "",  # blank: not a line of the set
    line("ebay", "不开发票哦", "invoice_refusal"),
    json.dumps({"platform": "taobao", "text": "您好"}),
    line("taobao", "不开发票哦", "tax_refusal"),
    "[1, 2]",
    line("tmall", "您好"),
]


def test_bad_lines_are_listed_counted_and_fail_unless_skipped(packs, tmp_path):
    labelled = write_labelled(tmp_path / "bad.jsonl", BAD)
    out = run(labelled, "--rules", packs, "--report", tmp_path / "r.json")
    assert out.returncode == 2
    assert "stream-guard: 5 bad lines in" in out.stderr and "--skip-bad" in out.stderr
    listed = out.stdout[out.stdout.index("bad lines: 5\n"):]
    assert "  line 2: invalid JSON" in listed
    assert "  line 4: unknown platform 'ebay'" in listed
    assert "  line 5: missing expect" in listed
    assert "  line 6: unknown category 'tax_refusal' in expect" in listed
    assert "  line 7: not a JSON object but list" in listed
    assert [b["line"] for b in json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["bad_lines"]] == [
        2, 4, 5, 6, 7]

    out = run(labelled, "--rules", packs, "--skip-bad", "--min-recall", "1", "--min-clean", "1")
    assert out.returncode == 0, out.stderr
    assert "bad lines: 5 (skipped)" in out.stdout
    assert out.stdout.splitlines()[-1] == ("recall 1.000 (1/1), clean-kept 1.000 (1/1); "
                                           "0 misses, 0 false alarms, 5 bad lines")


def test_no_usable_line_and_unusable_packs_exit_2(packs, tmp_path):
    out = run(write_labelled(tmp_path / "none.jsonl", ["not json"]), "--rules", packs, "--skip-bad")
    assert out.returncode == 2
    assert "line 1: invalid JSON" in out.stderr and "no usable labelled line" in out.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    out = run(write_labelled(tmp_path / "one.jsonl", LINES[:1]), "--rules", empty)
    assert out.returncode == 2 and "rule packs in" in out.stderr and "are invalid" in out.stderr


def test_default_packs_are_the_bundled_ones(tmp_path):
    out = run(write_labelled(tmp_path / "one.jsonl", [line("tmall", "您好")]))
    assert out.returncode == 0, out.stderr
    assert "clean-kept 1.000 (1/1)" in out.stdout


def test_help_says_texts_are_masked():
    out = subprocess.run([sys.executable, "-m", "stream_guard", "rules", "eval", "--help"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "personal data masked" in out.stdout

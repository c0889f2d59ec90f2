import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "stream_guard", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT)


def test_match_marks_hits_in_the_original_text():
    out = run("match", "--patterns", "examples/demo_patterns.txt", "--fold-numbers",
              "--text", "加个微.信吧", "--text", "号码一三八一二三四五六七八", "--text", "您好")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "HIT  加个【微.信】吧    <- 微信"
    assert lines[1] == "HIT  号码【一三八一二三四五六七八】    <- 13812345678"
    assert lines[2] == "ok   您好"
    assert "3 messages, 2 with hits, 2 hits" in out.stdout


def test_demo_messages_from_stdin():
    messages = (ROOT / "examples/demo_messages.txt").read_text(encoding="utf-8")
    out = run("match", "--patterns", "examples/demo_patterns.txt", "--fold-numbers",
              "--messages", "-", stdin=messages)
    assert out.returncode == 0, out.stderr
    assert "14 messages, 11 with hits" in out.stdout


def test_missing_pattern_file_is_a_one_line_error():
    out = run("match", "--patterns", "no/such/file.txt", "--text", "x")
    assert out.returncode == 2
    assert out.stderr.startswith("stream-guard: ") and out.stderr.count("\n") == 1


def test_rules_check_passes_on_the_shipped_packs_and_fails_on_bad_ones(tmp_path):
    out = run("rules", "check")
    assert out.returncode == 0, out.stdout + out.stderr
    (tmp_path / "common.toml").write_text('[[rules]]\nid = "common.x"\ncategory = "nope"\n', encoding="utf-8")
    out = run("rules", "check", str(tmp_path))
    assert out.returncode == 1
    assert "common.toml:3: common.x: category must be one of invoice_refusal," in out.stdout
    assert "taobao.toml:1: -: missing: every platform needs a pack" in out.stdout


def test_rules_test_prints_a_table():
    out = run("rules", "test")
    assert out.returncode == 0, out.stdout[-2000:]
    assert "pinduoduo  pinduoduo.competitor_platform" in out.stdout and " 0 failed" in out.stdout


def test_rules_explain_shows_spans_and_cancellations():
    out = run("rules", "explain", "--platform", "pinduoduo", "第一次来，我们全网第①")
    assert out.returncode == 0, out.stderr
    assert "normalised: 第1次来我们全网第1" in out.stdout
    assert "FIRES common.absolute_claim" in out.stdout
    assert "hit '第一' cancelled by allowed phrase '第一次'" in out.stdout
    out = run("rules", "explain", "--platform", "tmall", "--meta", "free_shipping=true", "不包邮哦")
    assert "FIRES common.free_shipping_breach" in out.stdout
    out = run("rules", "explain", "--platform", "tmall", "不包邮哦")
    assert "when: meta free_shipping=None, rule needs True" in out.stdout

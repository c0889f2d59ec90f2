import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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

"""The build: the generated fold table, determinism, sharing, and the import guard."""
import pickle
import subprocess
import sys
import textwrap
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import oracle

from stream_guard.evaluation.matcher import UNIDATA_VERSION, Matcher, fold_codepoint_py


def test_native_fold_table_equals_the_spec_for_every_code_point():
    assert UNIDATA_VERSION == unicodedata.unidata_version
    mismatches = []
    for cp in range(0x110000):
        expected = oracle.fold_spec.fold_char(chr(cp))
        if fold_codepoint_py(cp) != expected:
            mismatches.append((hex(cp), fold_codepoint_py(cp), expected))
    assert mismatches == []


def test_fold_spec_examples():
    fold = oracle.fold_spec.fold_char
    assert fold("Ｆ") == (oracle.CHARS, "f")
    assert fold("Ⓕ") == (oracle.CHARS, "f")
    assert fold("⒈") == (oracle.CHARS, "1")
    assert fold("㈠") == (oracle.CHARS, "一")
    assert fold("發") == (oracle.CHARS, "发")
    assert fold("＠") == (oracle.SEPARATOR, "@")
    assert fold("\u3000") == (oracle.WHITESPACE, "")
    assert fold("\u200b")[0] == oracle.SEPARATOR
    assert fold("😀")[0] == oracle.SEPARATOR
    # a separator inside an expansion would invent a number: ½ stays itself
    assert fold("½") == (oracle.CHARS, "½")


def test_folding_is_idempotent():
    for cp in range(0x110000):
        kind, folded = oracle.fold_spec.fold_char(chr(cp))
        if kind == oracle.CHARS:
            assert "".join(oracle.fold_spec.fold_char(c)[1] for c in folded) == folded, hex(cp)


def test_numeral_table_is_reached_by_folding():
    for numeral in oracle.fold_spec.NUMERALS:
        assert fold_codepoint_py(ord(numeral))[1] == numeral  # folded form is itself
        assert fold_codepoint_py(ord(numeral), True)[1].isdigit()


def test_build_is_deterministic_and_pickles():
    words = ["微信", "加v", "发票", "嘻嘻哈哈", "@@", "fuck", "一军两策"]
    a, b = Matcher(words), Matcher(words)
    assert a.state_count == b.state_count and a.memory_bytes == b.memory_bytes
    text = "加V信 微微信 不开發票 嘻嘻哈哈 @@ f.u.c.k"
    clone = pickle.loads(pickle.dumps(a))
    assert clone.find(text) == a.find(text) == b.find(text) != ()
    assert clone.options == a.options


def test_one_matcher_serves_many_threads():
    words = [f"词{i}号" for i in range(500)] + ["微信", "傻逼"]
    texts = [f"第{i}条: 加微.信 词{i % 700}号 傻@逼" for i in range(3000)]
    matcher = Matcher(words)
    expected = matcher.find_batch(texts)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: matcher.find_batch(texts), range(8)))
    assert all(r == expected for r in results)


def test_import_without_the_extension_says_how_to_build():
    program = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "stream_guard._matcher":
                    raise ImportError("blocked for the test")
        sys.meta_path.insert(0, Block())
        try:
            import stream_guard.evaluation.matcher
        except ImportError as exc:
            print(exc)
        else:
            print("imported")
    """)
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert "is not built" in out.stdout and "pip install" in out.stdout

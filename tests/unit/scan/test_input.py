"""The scan's line reader (stream_guard.scan.files.Input) against its definition: after a byte
order mark at the start, lines end at LF, CRLF or a lone CR; a line of JSON whitespace (or
nothing) is blank and every other line is a record, cut to limit+1 bytes; gzip is its 1f 8b 08
header; a stream that breaks off gives every line before the break, then a ReadError."""
from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stream_guard.scan import files
from stream_guard.scan.files import BOM, GZIP_MAGIC, JSON_WHITESPACE, Input, ReadError

LIMIT = 12


def defined_lines(data: bytes, limit: int = LIMIT) -> tuple[list[tuple[int, bytes]], int, int]:
    """(records by line number, lines, blank lines) by the definition, on the whole stream."""
    if data.startswith(BOM):
        data = data[len(BOM):]
    lines = data.splitlines()  # bytes split at LF, CRLF and CR only
    records = [(n, line[:limit + 1]) for n, line in enumerate(lines, 1) if line.strip(JSON_WHITESPACE)]
    return records, len(lines), len(lines) - len(records)


def read_all(path: Path, limit: int = LIMIT) -> tuple[list[tuple[int, bytes]], Input]:
    source = Input(str(path))
    try:
        return list(source.lines(limit)), source
    finally:
        source.close()


def written(data: bytes, suffix: str = "") -> Path:
    with tempfile.NamedTemporaryFile(delete=False, suffix=suffix) as f:
        f.write(data)
    return Path(f.name)


LINE_ENDS = st.sampled_from([b"\n", b"\r\n", b"\r"])
LINE_BODIES = st.one_of(
    st.binary(max_size=30),
    st.sampled_from([b"", b" ", b"\t", b"\x0c", b"\x0b", b" \t ", b'{"a": 1}', b"\xef\xbb\xbf{}", b"x" * 40]),
)
STREAMS = st.tuples(st.booleans(), st.lists(st.tuples(LINE_BODIES, LINE_ENDS), max_size=12), st.booleans()).map(
    lambda case: (BOM if case[0] else b"") + b"".join(body + end for body, end in case[1])
    + (b"tail without an end" if case[2] else b""))


@settings(max_examples=300, deadline=None)
@given(data=STREAMS, chunk=st.sampled_from([1, 2, 3, 5, 8, 64, 1 << 20]), gzipped=st.booleans())
def test_lines_are_the_definition_whatever_the_reads(data, chunk, gzipped):
    assume(gzipped or not data.startswith(GZIP_MAGIC))  # that is a (broken) gzip stream
    path = written(gzip.compress(data) if gzipped else data)
    saved, files.CHUNK = files.CHUNK, chunk
    try:
        got, source = read_all(path)
    finally:
        files.CHUNK = saved
        path.unlink()
    records, lines, blank = defined_lines(data)
    assert got == records
    assert (source.lines_read, source.blank_lines) == (lines, blank)


@pytest.mark.parametrize("data, records", [
    (b"\x0c\n\x0b\n", [(1, b"\x0c"), (2, b"\x0b")]),  # not blank as JSON defines it: records, rejected later
    (BOM + b'{"a":1}\n', [(1, b'{"a":1}')]),
    (b"a\rb\rc", [(1, b"a"), (2, b"b"), (3, b"c")]),
    (b"a\r\n\r\nb", [(1, b"a"), (3, b"b")]),
    (b"\x1f\x8bnot gzip\nb\n", [(1, b"\x1f\x8bnot gzip"), (2, b"b")]),  # only 1f 8b 08 is gzip
])
def test_line_ends_blanks_and_marks(data, records):
    path = written(data)
    try:
        assert read_all(path)[0] == records
    finally:
        path.unlink()


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_the_limit_is_of_the_record_whatever_its_line_end(end):
    path = written(b"x" * LIMIT + end + b"y" * (LIMIT + 1) + end + b"z\n")
    try:
        assert read_all(path)[0] == [(1, b"x" * LIMIT), (2, b"y" * (LIMIT + 1)), (3, b"z")]
    finally:
        path.unlink()


def test_a_long_line_is_cut_and_read_past_across_many_reads(monkeypatch):
    monkeypatch.setattr(files, "CHUNK", 7)
    path = written(b"a\n" + b"x" * 500 + b"\r" + b"b\r\nc")
    try:
        got, source = read_all(path)
    finally:
        path.unlink()
    assert got == [(1, b"a"), (2, b"x" * (LIMIT + 1)), (3, b"b"), (4, b"c")]
    assert source.lines_read == 4


@pytest.mark.parametrize("damage", ["truncated", "trailing garbage"])
def test_a_broken_gzip_gives_every_line_before_the_break_then_the_error(damage):
    data = b"".join(b'{"n": %d}\n' % i for i in range(20_000))
    packed = gzip.compress(data)
    path = written(packed[:len(packed) // 2] if damage == "truncated" else packed + b"garbage", ".gz")
    source = Input(str(path))
    got = []
    try:
        with pytest.raises(ReadError) as error:
            for line in source.lines(1 << 20):
                got.append(line)
    finally:
        source.close()
        path.unlink()
    records, _, _ = defined_lines(data)
    if damage == "trailing garbage":
        assert got == records  # the whole stream before the garbage
    else:
        assert got[:-1] == records[:len(got) - 1]  # a prefix, the last line maybe cut short
        assert records[len(got) - 1][1].startswith(got[-1][1])
    assert error.value.line == len(got)
    assert error.value.offset == sum(len(r) + 1 for _, r in records[:len(got) - 1]) + len(got[-1][1]) + (
        1 if damage == "trailing garbage" else 0)
    assert f"after line {len(got)}" in str(error.value)

"""The files a scan reads and writes: chat events in (plain, gzip or standard input, line by line)
and JSON lines out; a file that cannot be opened or read is a ScanError with the reason."""
from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator
from typing import BinaryIO, cast

import orjson


class ScanError(Exception):
    """The scan cannot run: the message is the one-line reason."""


GZIP_MAGIC = b"\x1f\x8b\x08"  # the two magic bytes and deflate, the one method gzip defines
BOM = b"\xef\xbb\xbf"
JSON_WHITESPACE = b" \t\r\n"  # a line of only these (or nothing) is blank; any other line is a record
CHUNK = 1 << 20


class ReadError(ScanError):
    """The input broke off (a truncated or corrupt gzip stream, an I/O error): every line before
    it was given; `line` is the last line read and `offset` the byte of the stream it broke at
    (of the decompressed stream, for gzip)."""

    def __init__(self, name: str, line: int, offset: int, reason: str):
        super().__init__(f"cannot read {name} after line {line} (byte {offset:,}): {reason}")
        self.line, self.offset, self.reason = line, offset, reason


class Input:
    """A binary line source over a file, a gzip file or stdin, with the compressed bytes read so
    far for the progress bar.

    Lines end at LF, CRLF or a lone CR. A UTF-8 byte order mark at the start of the stream is
    dropped. gzip is recognised by its first three bytes (1f 8b 08); anything else is read as it
    is, so a plain file that happens to start with 1f 8b gives a rejected first record, not a
    refused file."""

    def __init__(self, path: str):
        self.name = "standard input" if path == "-" else path
        try:
            raw: BinaryIO = sys.stdin.buffer if path == "-" else open(path, "rb")
        except OSError as exc:
            raise ScanError(f"cannot read {path}: {exc.strerror or exc}") from None
        self._raw = raw
        self.size = _size_of(raw)
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(io.RawIOBase, raw))
        try:
            gzipped = buffered.peek(3)[:3] == GZIP_MAGIC
        except OSError as exc:
            raise ScanError(f"cannot read {path}: {exc.strerror or exc}") from None
        self.stream: io.BufferedIOBase = gzip.GzipFile(fileobj=buffered) if gzipped else buffered
        self.lines_read = 0  # records and blank lines
        self.blank_lines = 0

    def position(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def lines(self, limit: int) -> Iterator[tuple[int, bytes]]:
        """(line number, record) for every line that is not blank, without its line end; a line
        over `limit` bytes comes as its first limit+1 bytes (enough for the engine to reject it)
        and the rest is read past, never held. A read error ends the lines with a ReadError,
        after the bytes read before it (a last line without its end is a record like any other)."""
        read = self.stream.read1
        offset = 0  # of `pending` in the stream
        pending = b""  # bytes after the last line end seen
        skipping = False  # in the rest of an oversized line, whose record was given
        first = True
        while True:
            error = None
            try:
                chunk = read(CHUNK)
            except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
                chunk, error = b"", exc
            data = pending + chunk
            if first:
                if chunk and len(data) < len(BOM) and BOM.startswith(data):
                    pending = data  # too short yet to tell a byte order mark
                    continue
                first = False
                if data.startswith(BOM):
                    data, offset = data[len(BOM):], len(BOM)
            if chunk:
                parts = data.splitlines(keepends=True)
                # the last part waits for more: no line end yet, or a CR that an LF may follow
                pending = parts.pop() if parts and not parts[-1].endswith(b"\n") else b""
            else:  # the end, or the error: what is left is the last line
                parts, pending = data.splitlines(keepends=True), b""
            for part in parts:
                offset += len(part)
                if skipping:  # this part ends the oversized line
                    skipping = False
                elif self._counted(part):
                    yield self.lines_read, part.rstrip(b"\r\n")[:limit + 1]
            if skipping or len(pending) - pending.endswith(b"\r") > limit:
                if not skipping:  # an oversized line: its record now, the rest read past as it comes
                    skipping = True
                    if self._counted(pending):
                        yield self.lines_read, pending[:limit + 1]
                # a CR is kept: the line may end there (a CR, or a CR LF split between two reads)
                kept = b"\r" if pending.endswith(b"\r") else b""
                offset += len(pending) - len(kept)
                pending = kept
            if not chunk:
                if error is not None:
                    raise ReadError(self.name, self.lines_read, offset, str(error) or type(error).__name__)
                return

    def _counted(self, line: bytes) -> bool:
        """Count a line read; whether it is a record (not blank)."""
        self.lines_read += 1
        if line.strip(JSON_WHITESPACE):
            return True
        self.blank_lines += 1
        return False

    def close(self) -> None:
        if self._raw is not sys.stdin.buffer:
            self._raw.close()


def _size_of(raw) -> int:
    try:
        return os.fstat(raw.fileno()).st_size
    except (OSError, ValueError, io.UnsupportedOperation):
        return 0


class Sink:
    """An output file of JSON lines, or nothing."""

    def __init__(self, target: str | None, default_stdout: bool = False):
        if target == "-" or (target is None and default_stdout):
            self.file = sys.stdout.buffer
        elif target:
            try:
                self.file = open(target, "wb")
            except OSError as exc:
                raise ScanError(f"cannot write {target}: {exc.strerror or exc}") from None
        else:
            self.file = None

    def write(self, record: dict) -> None:
        if self.file is not None:
            self.file.write(orjson.dumps(record) + b"\n")

    def close(self) -> None:
        if self.file is not None and self.file is not sys.stdout.buffer:
            self.file.close()
        elif self.file is not None:
            self.file.flush()

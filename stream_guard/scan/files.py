"""The files a scan reads and writes: chat events in (plain, gzip or standard input, line by line)
and JSON lines out; a file that cannot be opened or read is a ScanError with the reason."""
from __future__ import annotations

import gzip
import io
import os
import sys
from collections.abc import Iterator
from typing import BinaryIO, cast

import orjson


class ScanError(Exception):
    """The scan cannot run: the message is the one-line reason."""


class Input:
    """A binary line source over a file, a gzip file or stdin, with the compressed bytes read so
    far for the progress bar."""

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
            gzipped = buffered.peek(2)[:2] == b"\x1f\x8b"
        except OSError as exc:
            raise ScanError(f"cannot read {path}: {exc.strerror or exc}") from None
        self.stream: io.BufferedIOBase = gzip.GzipFile(fileobj=buffered) if gzipped else buffered

    def position(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def lines(self, limit: int) -> Iterator[tuple[int, bytes]]:
        """(line number, record) for every non-blank line; a line over `limit` bytes comes as
        its first limit+1 bytes (enough for the engine to reject it) and the rest is skipped."""
        readline = self.stream.readline
        number = 0
        while True:
            try:
                line = readline(limit + 1)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise ScanError(f"cannot read {self.name} after line {number}: {exc}") from None
            if not line:
                return
            number += 1
            if len(line) > limit and not line.endswith(b"\n"):
                rest = line
                while rest and not rest.endswith(b"\n"):
                    rest = readline(1 << 20)
                yield number, line
                continue
            record = line.rstrip(b"\r\n")
            if record.strip():
                yield number, record

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

"""Where a generated day goes: a JSONL file (plain or gzip), standard output or a Kafka topic, and
its labels JSON."""
from __future__ import annotations

import asyncio
import gzip
import sys
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from stream_guard.gen.config import GenConfig
from stream_guard.gen.generation import Generation
from stream_guard.kafka.security import KafkaSecurity

_CHUNK_LINES = 4096  # lines joined per write: fewer, larger writes


def write_labels(labels: dict[str, Any], path: str | None) -> dict[str, Any]:
    """Write the labels as indented JSON when there is a path; returns them."""
    if path:
        Path(path).write_bytes(orjson.dumps(labels, option=orjson.OPT_INDENT_2) + b"\n")
    return labels


def _write_lines(sink: BinaryIO | gzip.GzipFile, lines: Iterable[bytes]) -> None:
    chunk: list[bytes] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= _CHUNK_LINES:
            chunk.append(b"")
            sink.write(b"\n".join(chunk))
            chunk = []
    if chunk:
        chunk.append(b"")
        sink.write(b"\n".join(chunk))


def write(config: GenConfig, out: str | None, labels_path: str | None) -> dict[str, Any]:
    """Write the events (JSONL, gzip when the name ends in .gz, stdout for None or '-') and the
    labels; returns the labels."""
    gen = Generation(config)
    with ExitStack() as stack:
        if out is None or out == "-":
            stack.callback(sys.stdout.buffer.flush)
            _write_lines(sys.stdout.buffer, gen.lines())
        else:
            raw = stack.enter_context(open(out, "wb"))
            if out.endswith(".gz"):  # no name and no time in the header: the same day, the same bytes
                _write_lines(stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                               compresslevel=3)), gen.lines())
            else:
                _write_lines(raw, gen.lines())
    return write_labels(gen.labels, labels_path)


def produce(config: GenConfig, bootstrap: str, topic: str, partitions: int, labels_path: str | None,
            security: KafkaSecurity) -> dict[str, Any]:
    """Produce the day's lines to a Kafka topic (created with `partitions` when missing), keyed by
    shop, in file order; write the labels; returns them. Line numbers in the labels' rejects
    count records in production order."""
    # imported here so that writing a file never needs the Kafka client
    from stream_guard.kafka.io import prepare_topics, produce_records

    gen = Generation(config)

    async def run() -> None:
        await prepare_topics(bootstrap, {topic: (partitions, 1, {})}, security)
        await produce_records(bootstrap, topic, gen.lines(), security)

    asyncio.run(run())
    return write_labels(gen.labels, labels_path)

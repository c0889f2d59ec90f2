"""What the worker writes to its output topics, and to which partition.

- violations: key = shop id, value = the violation JSON (the same record `scan --out` writes);
  idempotent by its deterministic `violation_id`;
- dead letters: key = the input record's key, value = the input record's bytes unchanged (or with
  personal data masked, with `personal_data = masked`), and
  headers `reason`, `detail` and `source` (topic/partition/offset) — the Kafka Connect style,
  so the record can be fixed and replayed as it was; a value too big to carry with its headers
  is cut and marked `truncated` with its original size;
- reply rows: key = `<shop_id>/<platform>/<day>`, value = the row JSON (the same rows as
  `scan --report`); the topic is compacted, and the latest value of a key is the figure;
- re-keyed records (`misrouted_records = repartition`): key = the event's shop id, value = the
  input record's bytes, header `source` as on dead letters, to the shop's partition of the
  repartition topic.

Every output record of a shop goes to the partition of the shop's input record when the output
topic has as many partitions as the input (topics the worker creates do); otherwise it is
partitioned by the key with Kafka's default partitioner (murmur2), as a keyed producer would.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import orjson
from aiokafka.partitioner import murmur2

from stream_guard.engine.events import MISROUTED_REASONS, Reject

# room for headers under the broker's default message.max.bytes (1 MiB)
MAX_DEAD_LETTER_VALUE = 1_000_000


def violation_record(violation: dict) -> tuple[bytes, bytes, list]:
    return violation["shop_id"].encode(), orjson.dumps(violation), []


def dead_letter_record(key: bytes | None, value: bytes | None, reject: Reject,
                       source: str, mask: Callable[[bytes], bytes] | None = None) -> tuple[bytes | None, bytes, list]:
    """`mask`: what masks personal data in the value (`personal_data = masked`: Engine.mask_record);
    without it the bytes as they came, to fix and replay."""
    value = value or b""
    if mask is not None:
        value = mask(value)
    headers = [("reason", reject.reason.encode()), ("detail", reject.detail.encode()),
               ("source", source.encode())]
    if len(value) > MAX_DEAD_LETTER_VALUE:
        headers.append(("truncated", str(len(value)).encode()))
        value = value[:MAX_DEAD_LETTER_VALUE]
    return key, value, headers


def rekeyed_record(shop_id: str, value: bytes, source: str) -> tuple[bytes, bytes, list]:
    return shop_id.encode(), value, [("source", source.encode())]


def misrouted_shop(reject: Reject, value: bytes) -> str | None:
    """The shop id of a record rejected only for its key (an event otherwise), else None."""
    if reject.reason not in MISROUTED_REASONS:
        return None
    return orjson.loads(value)["shop_id"]


def source_of(headers) -> tuple[int, int] | None:
    """(partition, offset) of a record's `source` header (`topic/partition/offset`), or None."""
    for name, value in headers or ():
        if name == "source":
            parts = value.rsplit(b"/", 2)
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                return int(parts[1]), int(parts[2])
            return None
    return None


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives a key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def reply_row_key(row: dict) -> bytes:
    return f"{row['shop_id']}/{row['platform']}/{row['day']}".encode()


def reply_row_record(row: dict) -> tuple[bytes, bytes, list]:
    return reply_row_key(row), orjson.dumps(row), []


class Outbox:
    """Output records of one batch (or one commit), grouped by topic and partition."""

    def __init__(self, partition_counts: dict[str, int], input_partitions: int):
        self._counts = partition_counts
        self._input_partitions = input_partitions
        self.records: dict[tuple[str, int], list] = defaultdict(list)

    def add(self, topic: str, input_partition: int, record: tuple) -> None:
        count = self._counts[topic]
        key = record[0]
        if count == self._input_partitions or key is None:
            partition = input_partition % count
        else:
            partition = key_partition(key, count)
        self.records[topic, partition].append(record)

    def __len__(self) -> int:
        return sum(map(len, self.records.values()))

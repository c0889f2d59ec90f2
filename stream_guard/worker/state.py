"""The worker's durable reply state: the tracker's shops, per input partition, in a Faust table.

A shop's state lives in the partition of its key (the shop id), so each worker holds the shops of
the partitions it owns. The table (`reply_state`, bytes keys and values, memory store) is backed
by a compacted changelog topic with the input topic's partition count; Faust recovers it on every
assignment before the partition's records flow. Keys:

- `b"<partition>/<platform>/<shop_id>"`: `ReplyTracker.snapshot_shop` bytes; deleted (tombstone)
  when the tracker no longer holds the shop;
- `b"<partition>/@offset"`: the input offset the partition's snapshots include records up to
  (exclusive);
- `b"<partition>/@rekeyed-from"`: with misrouted records re-keyed through the repartition topic,
  for each input partition they came from, the source offset the snapshots include re-keyed
  records up to (exclusive), as JSON (`{"<source partition>": offset}`).

The worker writes changed shops and the partition's offset in one changelog batch before every
commit of input offsets. A crash between the two leaves snapshots newer than the committed
offset, so the replayed records before `@offset` are judged again (their violations are
idempotent) but not tracked twice. A re-keyed record arrives in the repartition topic in its
source partition's offset order, so one whose source offset is below `@rekeyed-from` is in the
state already: replayed after a crash, or written twice by the source partition's owners (once
before a crash, again after it); it too is judged again but not tracked.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import MutableMapping

import orjson

from stream_guard.tracking.replies import ReplyTracker

OFFSET_KEY = b"@offset"
REKEYED_FROM_KEY = b"@rekeyed-from"


def shop_key(partition: int, platform: str, shop_id: str) -> bytes:
    return f"{partition}/{platform}/{shop_id}".encode()


def offset_key(partition: int) -> bytes:
    return b"%d/%s" % (partition, OFFSET_KEY)


def rekeyed_from_key(partition: int) -> bytes:
    return b"%d/%s" % (partition, REKEYED_FROM_KEY)


class ReplyState:
    def __init__(self, tracker: ReplyTracker, store: MutableMapping[bytes, bytes],
                 key_partition: MutableMapping[bytes, int]):
        self.tracker = tracker
        self.store = store  # the table's data: what recovery filled in, and our writes since
        # the memory store drops the keys of partitions it no longer serves by this map
        self._key_partition = key_partition
        self.partition_of: dict[tuple[str, str], int] = {}  # shops in the tracker
        self._shops_of: dict[int, set[tuple[str, str]]] = {}  # the same, by partition
        self.tracked_to: dict[int, int] = {}  # partition -> offset the tracker has seen up to
        # partition -> {source partition -> source offset its re-keyed records are tracked up to}
        self.rekeyed_from: dict[int, dict[int, int]] = {}
        self._restored: set[int] = set()
        self._dirty: dict[tuple[str, str], int] = {}
        self._dirty_partitions: set[int] = set()

    def is_restored(self, partition: int) -> bool:
        return partition in self._restored

    def restore(self, partition: int) -> int:
        """Load the partition's shops from the table into the tracker; how many."""
        prefix = b"%d/" % partition
        restored = 0
        for key, value in list(self.store.items()):
            if not key.startswith(prefix) or value is None:
                continue
            rest = key[len(prefix):]
            if rest == OFFSET_KEY:
                self.tracked_to[partition] = int(value)
                continue
            if rest == REKEYED_FROM_KEY:
                self.rekeyed_from[partition] = {int(p): offset for p, offset in orjson.loads(value).items()}
                continue
            platform, _, shop_id = rest.decode().partition("/")
            if platform not in self.tracker.profiles:
                continue  # a platform this worker no longer serves: its state stays in the table
            self.tracker.restore_shop(value)
            self._place((platform, shop_id), partition)
            restored += 1
        self._restored.add(partition)
        return restored

    def forget(self, partitions) -> None:
        """Another worker owns these partitions now: drop their shops here (the table keeps them)."""
        partitions = set(partitions)
        for partition in partitions:
            for shop in self._shops_of.pop(partition, ()):
                self.tracker.forget_shop(*shop)
                del self.partition_of[shop]
                self._dirty.pop(shop, None)
            self._restored.discard(partition)
            self.tracked_to.pop(partition, None)
            self.rekeyed_from.pop(partition, None)
            self._dirty_partitions.discard(partition)

    def replayed(self, partition: int, offsets: list[int]) -> int:
        """How many of these (ascending) offsets the restored state already includes."""
        seen_to = self.tracked_to.get(partition)
        if seen_to is None:
            return 0
        return bisect_left(offsets, seen_to)  # ascending: one search instead of a pass per batch

    def tracked(self, partition: int, shops, next_offset: int) -> None:
        """The tracker has seen the partition's records before `next_offset`, changing `shops`."""
        self.advanced(partition, shops)
        self.tracked_to[partition] = max(next_offset, self.tracked_to.get(partition, 0))
        self._dirty_partitions.add(partition)

    def rekeyed_sources(self, partition: int) -> dict[int, int]:
        """For each source partition, the source offset the state includes re-keyed records up
        to (a copy)."""
        return dict(self.rekeyed_from.get(partition, {}))

    def rekeyed_tracked(self, partition: int, shops, sources: dict[int, int]) -> None:
        """The tracker has seen re-keyed records of the partition, changing `shops`; `sources`:
        for each source partition, the offset after the latest of them."""
        self.advanced(partition, shops)
        seen = self.rekeyed_from.setdefault(partition, {})
        for source, next_offset in sources.items():
            seen[source] = max(next_offset, seen.get(source, 0))
        self._dirty_partitions.add(partition)

    def advanced(self, partition: int, shops) -> None:
        """`shops` of the partition changed (by its records, or by its time)."""
        for shop in shops:
            self._place(shop, partition)
            self._dirty[shop] = partition

    def _place(self, shop: tuple[str, str], partition: int) -> None:
        placed = self.partition_of.get(shop)
        if placed != partition:
            if placed is not None:
                self._shops_of[placed].discard(shop)
            self.partition_of[shop] = partition
            self._shops_of.setdefault(partition, set()).add(shop)

    def shops_in(self, partition: int) -> list[tuple[str, str]]:
        """The partition's shops in the tracker."""
        return list(self._shops_of.get(partition, ()))

    def latest_time(self, partition: int) -> int | None:
        """The latest event time any of the partition's shops has reached, or None."""
        times = [t for t in (self.tracker.shop_time(*shop) for shop in self.shops_in(partition)) if t is not None]
        return max(times, default=None)

    def dirty_shops(self) -> dict[tuple[str, str], int]:
        return dict(self._dirty)

    def take_changes(self) -> dict[int, list[tuple[bytes, bytes | None]]]:
        """The changelog records for what changed since the last call, by partition (shops first,
        then the partition's offset), also applied to the table's data."""
        changes: dict[int, list] = {}
        for (platform, shop_id), partition in self._dirty.items():
            key = shop_key(partition, platform, shop_id)
            changes.setdefault(partition, []).append((key, self.tracker.snapshot_shop(platform, shop_id)))
        for partition in self._dirty_partitions:
            records = changes.setdefault(partition, [])
            if partition in self.tracked_to:
                records.append((offset_key(partition), b"%d" % self.tracked_to[partition]))
            if partition in self.rekeyed_from:
                records.append((rekeyed_from_key(partition), orjson.dumps(
                    {str(source): offset for source, offset in sorted(self.rekeyed_from[partition].items())})))
        self._dirty.clear()
        self._dirty_partitions.clear()
        for partition, records in changes.items():
            for key, value in records:
                if value is None:
                    self.store.pop(key, None)
                    self._key_partition.pop(key, None)
                else:
                    self.store[key] = value
                    self._key_partition[key] = partition
        return changes

"""Type stubs for the native batch decoder and router (`_native/_events.pyx`); Python code
reaches it through `stream_guard.engine.events`."""
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

from typing_extensions import disjoint_base

_Reject = TypeVar("_Reject")

SOURCE_FIELDS: Final[tuple[str, ...]]
"""The fields of an event a violation record carries, as `EventBatch.violation_source` gives them."""

@disjoint_base
class LazyMeta:
    """An event's `meta` object, decoded from its record when first read; reads as the dict
    would (registered as a `collections.abc.Mapping`, without the mixin methods)."""

    def __getitem__(self, key: str, /) -> Any: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...

_Meta = dict[str, Any] | LazyMeta | None

@disjoint_base
class EventBatch:
    """The decoded events of a batch by columns: entry i of each column is the i-th event."""

    @property
    def index(self) -> list[int]:
        """Each event's record position in the batch."""
    @property
    def platform(self) -> list[str]: ...
    @property
    def shop_id(self) -> list[str]: ...
    @property
    def buyer_id(self) -> list[str]: ...
    @property
    def event_id(self) -> list[str]: ...
    @property
    def sender(self) -> list[str]: ...
    @property
    def kind(self) -> list[str]: ...
    @property
    def text(self) -> list[str]: ...
    @property
    def ts(self) -> list[int]: ...
    def __len__(self) -> int: ...
    def event(self, i: int) -> dict[str, Any]:
        """The i-th event as `events.decode` gives it."""
    def meta(self, i: int) -> _Meta:
        """The i-th event's `meta`, None when it has none."""
    def violation_source(self, i: int) -> dict[str, Any]:
        """The i-th event's SOURCE_FIELDS."""

def decode_batch(
    records: list[bytes],
    slow: Callable[[bytes], dict[str, Any] | _Reject],
    max_record_bytes: int,
    max_text_bytes: int,
    earliest_ts: int,
    latest_ts: int,
    platforms: tuple[str, ...],
    senders: tuple[str, ...],
    kinds: tuple[str, ...],
) -> tuple[EventBatch, list[tuple[int, _Reject]]]:
    """(the events, [(record index, what `slow` gave instead of an event)]); `slow(raw)` decides
    every record the native scanner does not read itself."""

def route(
    batch: EventBatch, roles: dict[str, tuple[str, ...]]
) -> dict[str, tuple[list[int], list[tuple[str, str, _Meta]]]]:
    """{platform: (positions in `batch`, [(text, sender, meta)])} of the messages each platform's
    rules judge: kind `message`, a text, a sender of `roles[platform]`."""

# cython: language_level=3, boundscheck=False, wraparound=False
"""The engine's batch path through `stream_guard.events`, in C: decoding a batch of records, and
routing the decoded messages to the rules of their platform.

The common record, a well-formed message, is decided here with C-API type checks (the same
conditions as the fast path of `events.decode`); every other record goes to the Python
definition (`events.decode`, called back), so reasons and details come from one place only.
`tests/test_events.py` requires `decode_batch` to agree with `decode` record by record, and
`route` with its Python definition, by hypothesis property tests.
"""
from cpython.dict cimport PyDict_SetItem
from libc.stdint cimport int64_t

import orjson

from _unicode cimport PyUnicode_GET_LENGTH, str_equal

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int*) except? -1

cdef object _loads = orjson.loads
cdef str K_TEXT = "text", K_TS = "ts", K_KIND = "kind", K_PLATFORM = "platform", K_SENDER = "sender"
cdef str K_EVENT_ID = "event_id", K_SHOP_ID = "shop_id", K_BUYER_ID = "buyer_id"
cdef str K_CONVERSATION_ID = "conversation_id", K_AGENT_ID = "agent_id", K_META = "meta"
cdef str MESSAGE = "message"


cdef inline bint _one_of(object value, tuple names):
    """`value` is a str equal to one of `names` (all str)."""
    if type(value) is not str:
        return False
    for name in names:
        if str_equal(<str>name, <str>value):
            return True
    return False


cdef inline bint _id(dict d, str key) except -1:
    """A non-empty str."""
    value = d.get(key)
    return type(value) is str and PyUnicode_GET_LENGTH(value) > 0


cdef bint _well_formed_message(dict e, Py_ssize_t max_text_bytes, int64_t earliest_ts, int64_t latest_ts,
                               tuple platforms, tuple senders) except -1:
    cdef int overflow = 0
    cdef long long ts
    text = e.get(K_TEXT)
    if type(text) is not str or PyUnicode_GET_LENGTH(text) * 4 > max_text_bytes:
        return False
    value = e.get(K_TS)
    if type(value) is not int:
        return False
    ts = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or not earliest_ts <= ts <= latest_ts:
        return False
    value = e.get(K_KIND)
    if value is not None and not _one_of(value, (MESSAGE,)):
        return False
    if not _one_of(e.get(K_PLATFORM), platforms) or not _one_of(e.get(K_SENDER), senders):
        return False
    if not (_id(e, K_EVENT_ID) and _id(e, K_SHOP_ID) and _id(e, K_BUYER_ID)):
        return False
    if type(e.get(K_CONVERSATION_ID)) is not str:
        return False
    value = e.get(K_AGENT_ID)
    if value is not None and type(value) is not str:
        return False
    value = e.get(K_META)
    return value is None or type(value) is dict


def decode_batch(list records, object slow, Py_ssize_t max_record_bytes, Py_ssize_t max_text_bytes,
                 int64_t earliest_ts, int64_t latest_ts, tuple platforms, tuple senders):
    """(events, [(index, reject)]) for `records`: what `slow(raw)` (events.decode with its limits,
    clock and platforms) gives for each record, which is called for every record that is not a
    well-formed message of at most `max_record_bytes` bytes, `max_text_bytes` bytes of text at
    four bytes a character, an event time in [earliest_ts, latest_ts], a platform of `platforms` and a
    sender of `senders`."""
    cdef list events = []
    cdef list rejects = []
    cdef Py_ssize_t index
    for index in range(len(records)):
        raw = records[index]
        event = None
        if type(raw) is bytes and len(<bytes>raw) <= max_record_bytes:
            try:
                event = _loads(raw)
            except ValueError:  # orjson.JSONDecodeError: decode tells invalid UTF-8 from invalid JSON
                event = None
        if type(event) is dict and _well_formed_message(<dict>event, max_text_bytes, earliest_ts, latest_ts, platforms, senders):
            PyDict_SetItem(event, K_KIND, MESSAGE)
            events.append(event)
            continue
        decoded = slow(raw)
        if type(decoded) is dict:
            events.append(decoded)
        else:
            rejects.append((index, decoded))
    return events, rejects


def route(list events, dict roles):
    """The messages each platform's rules judge: {platform: (positions in `events`, [(text, sender,
    meta)])}, platforms in order of first appearance. A message is judged when its kind is
    `message`, its text is not empty, and its sender is one of `roles[platform]` (a tuple of str);
    events are decoded ones (events.decode)."""
    cdef dict judged = {}
    cdef Py_ssize_t position
    cdef dict e
    for position in range(len(events)):
        e = <dict>events[position]
        text = e[K_TEXT]
        if not PyUnicode_GET_LENGTH(text) or not str_equal(<str>e[K_KIND], MESSAGE):
            continue
        platform = e[K_PLATFORM]
        sender = e[K_SENDER]
        if not _one_of(sender, <tuple>roles[platform]):
            continue
        found = judged.get(platform)
        if found is None:
            found = judged[platform] = ([], [])
        (<list>(<tuple>found)[0]).append(position)
        (<list>(<tuple>found)[1]).append((text, sender, e.get(K_META)))
    return judged

# An index from str keys to borrowed objects, for lookups that must not wait on memory.
#
# A dict lookup with a key object it has not seen (every decoded id is a new string) reads the
# dict's index, its entry, then the stored key object to compare hashes and characters: three
# dependent cache misses when the dict and its keys are cold, as the reply tracker's shops and
# buyers are at 10k shops. Here a slot is one cache line holding the hash and, for short
# one-byte-kind keys (the usual ids), the key's characters: a lookup costs one miss, and that
# line can be fetched ahead once the hash is known (index_slot). Longer or wider keys are
# compared with the stored key object.
#
# Open addressing with linear probing, at most half full, power-of-two capacity; removal shifts
# the following entries back (no tombstones). Values and keys are borrowed: the owner holds them
# (in a dict kept beside the index, or by references of its own, as the value holds its key), and
# must remove an entry before dropping it.
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport PyObject
from libc.stdint cimport int32_t
from libc.string cimport memcmp, memcpy, memset

from _unicode cimport PyUnicode_DATA, PyUnicode_GET_LENGTH, PyUnicode_KIND, str_equal

cdef extern from "Python.h":
    Py_ssize_t PyObject_Hash(object o) except -1

cdef enum:
    INLINE_CHARS = 36  # one cache line per slot with the fields below
    INDEX_MIN = 8

ctypedef struct Slot:
    Py_hash_t hash
    PyObject* value   # borrowed; NULL: an empty slot
    PyObject* key     # borrowed: the str the value was added under
    int32_t length    # the key's length when its characters are in `chars`, else -1
    char chars[INLINE_CHARS]

ctypedef struct StrIndex:
    Slot* slots  # NULL until the first add
    Py_ssize_t mask  # capacity - 1
    Py_ssize_t used


cdef inline Py_hash_t str_hash(str key) except -1:
    return PyObject_Hash(key)  # cached in the str once computed


cdef inline int32_t _inline_length(str key):
    """The key's length when its characters can live in a slot, else -1."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(key)
    if PyUnicode_KIND(key) == 1 and n <= INLINE_CHARS:
        return <int32_t>n
    return -1


cdef inline Slot* index_slot(StrIndex* index, Py_hash_t hash):
    """Where a lookup of `hash` starts (for a prefetch); NULL while the index is empty."""
    if index.slots == NULL:
        return NULL
    return &index.slots[<size_t>hash & <size_t>index.mask]


cdef inline PyObject* index_find(StrIndex* index, str key, Py_hash_t hash):
    """The value added under `key` (borrowed), or NULL."""
    cdef Slot* slot
    cdef size_t i
    cdef int32_t length
    if index.slots == NULL:
        return NULL
    length = _inline_length(key)
    i = <size_t>hash & <size_t>index.mask
    while True:
        slot = &index.slots[i]
        if slot.value == NULL:
            return NULL
        if slot.hash == hash:
            if slot.length >= 0:
                # a str has one representation: a one-byte key of other characters, or a wider
                # or longer one, is another string
                if length == slot.length and memcmp(slot.chars, PyUnicode_DATA(key), length) == 0:
                    return slot.value
            elif slot.key == <PyObject*>key or (length < 0 and str_equal(<str>slot.key, key)):
                return slot.value
        i = (i + 1) & <size_t>index.mask


cdef inline void _index_place(StrIndex* index, Slot* entry):
    cdef size_t i = <size_t>entry.hash & <size_t>index.mask
    while index.slots[i].value != NULL:
        i = (i + 1) & <size_t>index.mask
    index.slots[i] = entry[0]


cdef inline int _index_resize(StrIndex* index, Py_ssize_t capacity) except -1:
    cdef Slot* old = index.slots
    cdef Py_ssize_t old_capacity = index.mask + 1 if old != NULL else 0, i
    cdef Slot* slots = <Slot*>PyMem_Malloc(capacity * sizeof(Slot))
    if slots == NULL:
        raise MemoryError()
    memset(slots, 0, capacity * sizeof(Slot))
    index.slots, index.mask = slots, capacity - 1
    for i in range(old_capacity):
        if old[i].value != NULL:
            _index_place(index, &old[i])
    PyMem_Free(old)
    return 0


cdef inline int index_add(StrIndex* index, str key, Py_hash_t hash, PyObject* value) except -1:
    """Add `value` under `key`, which the index must not hold."""
    cdef Slot entry
    if index.slots == NULL:
        _index_resize(index, INDEX_MIN)
    elif (index.used + 1) * 2 > index.mask + 1:
        _index_resize(index, 2 * (index.mask + 1))
    entry.hash, entry.value, entry.key = hash, value, <PyObject*>key
    entry.length = _inline_length(key)
    if entry.length >= 0:
        memcpy(entry.chars, PyUnicode_DATA(key), entry.length)
    _index_place(index, &entry)
    index.used += 1
    return 0


cdef inline void index_remove(StrIndex* index, Py_hash_t hash, PyObject* value):
    """Remove the entry of `value` (added under a key of this hash), if there."""
    cdef size_t mask = <size_t>index.mask, hole, i, home
    if index.slots == NULL:
        return
    hole = <size_t>hash & mask
    while index.slots[hole].value != value:
        if index.slots[hole].value == NULL:
            return
        hole = (hole + 1) & mask
    # shift back each following entry of the run that may move into the hole: one whose home
    # slot is not cyclically within (hole, i]
    i = hole
    while True:
        i = (i + 1) & mask
        if index.slots[i].value == NULL:
            break
        home = <size_t>index.slots[i].hash & mask
        if ((i - home) & mask) >= ((i - hole) & mask):
            index.slots[hole] = index.slots[i]
            hole = i
    index.slots[hole].value = NULL
    index.used -= 1


cdef inline list index_values(StrIndex* index):
    """The values, in slot order (no particular one)."""
    cdef Py_ssize_t i
    cdef list values = []
    if index.slots != NULL:
        for i in range(index.mask + 1):
            if index.slots[i].value != NULL:
                values.append(<object>index.slots[i].value)
    return values


cdef inline void index_free(StrIndex* index):
    PyMem_Free(index.slots)
    index.slots, index.mask, index.used = NULL, 0, 0

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
# The hash is the index's own (index_hash: wyhash's mixing, keyed per process), not str's
# siphash: every event brings fresh id strings whose Python hash is not computed yet, and siphash
# of a shop id and a buyer id per event would be a large share of the reply tracker's work. The key is
# derived from Python's hash secret (index_seed), so PYTHONHASHSEED fixes it as it fixes hash().
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

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* wyhash's multiply-fold and its reads, for keys up to any length (wyhash final 4, public
       domain, by Wang Yi); keyed with sg_index_key */
    static uint64_t sg_index_key = 0x243f6a8885a308d3ULL;  /* wyhash's seed, already mixed */
    static inline uint64_t sg_mix(uint64_t a, uint64_t b) {
        __uint128_t r = (__uint128_t)a * b;
        return (uint64_t)r ^ (uint64_t)(r >> 64);
    }
    static inline uint64_t sg_read8(const uint8_t* p) { uint64_t v; memcpy(&v, p, 8); return v; }
    static inline uint64_t sg_read4(const uint8_t* p) { uint32_t v; memcpy(&v, p, 4); return v; }
    static inline Py_hash_t sg_hash_bytes(const uint8_t* p, size_t length) {
        const uint64_t s0 = 0xa0761d6478bd642fULL, s1 = 0xe7037ed1a0b428dbULL;
        uint64_t seed = sg_index_key, a, b;
        size_t left = length;
        __uint128_t r;
        if (length <= 16) {
            if (length >= 4) {
                size_t step = (length >> 3) << 2;
                a = (sg_read4(p) << 32) | sg_read4(p + step);
                b = (sg_read4(p + length - 4) << 32) | sg_read4(p + length - 4 - step);
            } else if (length > 0) {
                a = ((uint64_t)p[0] << 16) | ((uint64_t)p[length >> 1] << 8) | p[length - 1];
                b = 0;
            } else {
                a = b = 0;
            }
        } else {
            while (left > 16) {
                seed = sg_mix(sg_read8(p) ^ s1, sg_read8(p + 8) ^ seed);
                p += 16;
                left -= 16;
            }
            a = sg_read8(p + left - 16);  /* the last 16 bytes, overlapping what the loop took */
            b = sg_read8(p + left - 8);
        }
        r = (__uint128_t)(a ^ s1) * (b ^ seed);
        Py_hash_t h = (Py_hash_t)sg_mix(((uint64_t)r) ^ s0 ^ length, ((uint64_t)(r >> 64)) ^ s1);
        return h == -1 ? -2 : h;  /* -1 is the error value of hash functions */
    }
    """
    Py_hash_t sg_hash_bytes(const void* p, size_t length) nogil
    unsigned long long sg_mix(unsigned long long a, unsigned long long b) nogil
    unsigned long long sg_index_key


cdef inline void index_seed(unsigned long long key) noexcept:
    """Key the hash (once, when the module starts: hashes already stored would be stale)."""
    global sg_index_key
    sg_index_key = key ^ sg_mix(key ^ 0xa0761d6478bd642fULL, 0xe7037ed1a0b428dbULL)

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


cdef inline Py_hash_t str_hash(str key) noexcept:
    """The index's hash of `key` (never -1). Not cached in the str: a caller that needs it
    twice keeps it. A str has one representation (the narrowest kind that holds it), so equal
    strings have equal bytes."""
    return sg_hash_bytes(PyUnicode_DATA(key), <size_t>PyUnicode_GET_LENGTH(key) * PyUnicode_KIND(key))


cdef inline int32_t _inline_length(str key) noexcept:
    """The key's length when its characters can live in a slot, else -1."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(key)
    if PyUnicode_KIND(key) == 1 and n <= INLINE_CHARS:
        return <int32_t>n
    return -1


cdef inline Slot* index_slot(StrIndex* index, Py_hash_t hash) noexcept:
    """Where a lookup of `hash` starts (for a prefetch); NULL while the index is empty."""
    if index.slots == NULL:
        return NULL
    return &index.slots[<size_t>hash & <size_t>index.mask]


cdef inline PyObject* index_guess(StrIndex* index, Py_hash_t hash) noexcept:
    """The value in the first two slots of a lookup of `hash` whose hash matches, or NULL: a
    guess for prefetching only (the key is not compared; the lines index_slot's prefetch asked
    for are all it reads)."""
    cdef Slot* slot = index_slot(index, hash)
    if slot == NULL:
        return NULL
    if slot.value != NULL and slot.hash == hash:
        return slot.value
    if slot != &index.slots[index.mask] and slot.value != NULL:
        slot += 1
        if slot.value != NULL and slot.hash == hash:
            return slot.value
    return NULL


cdef inline PyObject* index_find(StrIndex* index, str key, Py_hash_t hash) noexcept:
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


cdef inline void _index_place(StrIndex* index, Slot* entry) noexcept:
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


cdef inline void index_remove(StrIndex* index, Py_hash_t hash, PyObject* value) noexcept:
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


cdef inline void index_free(StrIndex* index) noexcept:
    PyMem_Free(index.slots)
    index.slots, index.mask, index.used = NULL, 0, 0

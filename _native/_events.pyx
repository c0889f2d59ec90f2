# cython: language_level=3, boundscheck=False, wraparound=False
"""The engine's batch path through `stream_guard.engine.events`, in C: decoding a batch of records into
columns, and routing the decoded messages to the rules of their platform.

Why columns and a scanner of our own: building a dict of a dozen objects per record (orjson), then
reading it back field by field and freeing it, would be the largest cost of the whole core (about
two fifths of its time per event). The engine needs only a few fields of most events
(platform, shop, buyer, event id, sender, kind, text, time), so the common record, a well-formed
message, is read here straight from its bytes into those columns; the complete event dict is
built only when asked for (`EventBatch.event`, for the few events that become violations), and
`meta` only when a rule's condition reads it (`LazyMeta`).

The scanner accepts only what it can decide exactly: plain JSON with no escape sequence in a
string, known fields of the right JSON types, numbers it can read, at most
MAX_DEPTH levels of nesting. Every other record goes to the Python definition (`events.decode`,
called back), so reasons and details come from one place only. `tests/unit/engine/test_events.py` requires
`decode_batch` to agree with `decode` record by record and column by column, and `route` with its
Python definition, by hypothesis property tests over hand-written and generated JSON.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int64_t, uint32_t
from libc.string cimport memcmp, memcpy

import orjson
from collections.abc import Mapping

from _unicode cimport PyUnicode_DATA, PyUnicode_GET_LENGTH, str_equal

cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    object PyUnicode_FromKindAndData(int kind, const void* buffer, Py_ssize_t size)
    void Py_SET_SIZE(object o, Py_ssize_t size)
    ctypedef unsigned short Py_UCS2
    enum:
        PyUnicode_2BYTE_KIND

cdef extern from *:
    """
    /* UTF-8 of the Basic Multilingual Plane into UCS-2 at `out` (room for n): the number of
       characters; -1 when the bytes hold anything else (a four-byte sequence, an overlong form,
       a surrogate, a cut or stray byte). */
    static Py_ssize_t sg_utf8_bmp(const unsigned char* s, Py_ssize_t n, Py_UCS2* out) {
        const unsigned char* end = s + n;
        Py_ssize_t length = 0;
        Py_UCS4 c;
        while (s < end) {
            c = s[0];
            if (c < 0x80) {
                s += 1;
            } else if (c >= 0xE0 && c < 0xF0) {
                if (end - s < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return -1;
                c = ((c & 0x0F) << 12) | ((Py_UCS4)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
                if (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF)) return -1;
                s += 3;
            } else if (c >= 0xC2 && c < 0xE0) {
                if (end - s < 2 || (s[1] & 0xC0) != 0x80) return -1;
                c = ((c & 0x1F) << 6) | (s[1] & 0x3F);
                s += 2;
            } else {
                return -1;
            }
            out[length++] = (Py_UCS2)c;
        }
        return length;
    }
    """
    Py_ssize_t sg_utf8_bmp(const unsigned char* s, Py_ssize_t n, Py_UCS2* out)

cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif
    /* `p` after an opening quote: just after the closing quote, or NULL for a string this
       scanner does not read (an escape sequence, a raw control character, no end); *ascii: no
       byte of 0x80 or more before where it stopped. Strings are most of a record's bytes, so
       one byte at a time this loop would be most of the scanner's cost (the scanner is about a
       quarter of the core's instructions). With SSE2 (every x86-64) it looks at 16 bytes at
       once; the bytes left, and the one it stopped at, go through the loop below. */
    static inline const char* sg_string_end(const char* p, const char* end, int* ascii) {
        int high = 0;
        unsigned char c;
    #if defined(__SSE2__)
        const __m128i quote = _mm_set1_epi8(0x22), backslash = _mm_set1_epi8(0x5C);
        const __m128i control = _mm_set1_epi8(0x1F);
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i*)p);
            /* a quote, a backslash, or a byte of 0x1F or less (its unsigned max with 0x1F is 0x1F) */
            __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                        _mm_cmpeq_epi8(_mm_max_epu8(v, control), control));
            unsigned stops = (unsigned)_mm_movemask_epi8(stop), highs = (unsigned)_mm_movemask_epi8(v);
            if (stops) {
                unsigned at = (unsigned)__builtin_ctz(stops);
                high |= (highs & ((1u << at) - 1u)) != 0;
                p += at;
                break;
            }
            high |= highs != 0;
            p += 16;
        }
    #endif
        while (p < end) {
            c = (unsigned char)p[0];
            if (c == 0x22) {  /* the closing quote */
                *ascii = !high;
                return p + 1;
            }
            if (c == 0x5C || c < 0x20)  /* a backslash, a control character */
                break;
            high |= c >= 0x80;
            p++;
        }
        *ascii = !high;
        return NULL;
    }
    """
    const char* _string_end "sg_string_end"(const char* p, const char* end, bint* ascii)

cdef str K_TEXT = "text", K_TS = "ts", K_KIND = "kind", K_PLATFORM = "platform", K_SENDER = "sender"
cdef str K_EVENT_ID = "event_id", K_SHOP_ID = "shop_id", K_BUYER_ID = "buyer_id", K_META = "meta"
cdef str MESSAGE = "message"

# the fields the scanner knows, by position in `Scan.at`
cdef enum:
    F_EVENT_ID, F_PLATFORM, F_SHOP_ID, F_CONVERSATION_ID, F_BUYER_ID, F_SENDER, F_AGENT_ID, F_TEXT,
    F_TS, F_KIND, F_META, F_COUNT, F_OTHER = F_COUNT
# deeper `meta` goes to the slow path: orjson has a recursion limit of its own
DEF MAX_DEPTH = 32
# the longest integer read as an event time: 18 digits always fit an int64
DEF MAX_TS_DIGITS = 18
# the longest number skipped in other values; longer ones (and exponents) go to the slow path,
# where orjson decides how it reads them
DEF MAX_SKIPPED_NUMBER = 24
# the longest UTF-8 text, in bytes, _utf8 decodes itself (its buffer is on the stack)
DEF UTF8_BUFFER = 4096

cdef struct Scan:
    # where each known field's value is: [start, end) in the record; start -1 when absent. For
    # a string, the bytes between its quotes.
    Py_ssize_t start[F_COUNT]
    Py_ssize_t end[F_COUNT]
    bint ascii[F_COUNT]  # a string field is all ASCII
    int64_t ts


ctypedef struct Kept:  # a scanned event's fields read only on demand: where they are in its record
    Py_ssize_t meta_start, meta_end  # meta_start -1: no `meta` object
    Py_ssize_t conversation_start, conversation_end
    Py_ssize_t agent_start, agent_end  # agent_start -1: no agent_id (absent or null)
    bint conversation_ascii, agent_ascii


# what violation_source gives (stream_guard.evaluation.violations reads these)
SOURCE_FIELDS = ("event_id", "platform", "shop_id", "conversation_id", "agent_id", "text", "ts")


cdef inline const char* _ws(const char* p, const char* end):
    while p < end and (p[0] == b' ' or p[0] == b'\n' or p[0] == b'\r' or p[0] == b'\t'):
        p += 1
    return p


cdef bint _valid_utf8(const char* s, Py_ssize_t n) except -1:
    try:
        PyUnicode_DecodeUTF8(s, n, NULL)
    except UnicodeDecodeError:
        return False
    return True


cdef const char* _skipped_string(const char* p, const char* end) except? NULL:
    """A string whose value is not kept, checked as orjson would; `p` at its opening quote."""
    cdef bint ascii
    cdef const char* after = _string_end(p + 1, end, &ascii)
    if after != NULL and not ascii and not _valid_utf8(p + 1, after - p - 2):
        return NULL
    return after


cdef const char* _number(const char* p, const char* end, bint* integer):
    """A JSON number at `p`: just after it, or NULL for one this scanner does not read. `integer`:
    no fraction (exponents are never read)."""
    cdef const char* start = p
    integer[0] = True
    if p < end and p[0] == b'-':
        p += 1
    if p >= end or not (b'0' <= p[0] <= b'9'):
        return NULL
    if p[0] == b'0':
        p += 1
    else:
        while p < end and b'0' <= p[0] <= b'9':
            p += 1
    if p < end and p[0] == b'.':
        integer[0] = False
        p += 1
        if p >= end or not (b'0' <= p[0] <= b'9'):
            return NULL
        while p < end and b'0' <= p[0] <= b'9':
            p += 1
    if p < end and (p[0] == b'e' or p[0] == b'E'):
        return NULL
    if p - start > MAX_SKIPPED_NUMBER:
        return NULL
    return p


cdef inline const char* _literal(const char* p, const char* end, const char* word, Py_ssize_t n):
    if end - p >= n and memcmp(p, word, n) == 0:
        return p + n
    return NULL


cdef const char* _skip_value(const char* p, const char* end, int depth) except? NULL:
    """Just after the JSON value at `p`, or NULL when this scanner does not read it."""
    cdef bint integer
    cdef char c, close
    if p >= end:
        return NULL
    c = p[0]
    if c == b'"':
        return _skipped_string(p, end)
    if c == b'{' or c == b'[':
        if depth >= MAX_DEPTH:
            return NULL
        close = (b'}' if c == b'{' else b']')
        p = _ws(p + 1, end)
        if p < end and p[0] == close:
            return p + 1
        while True:
            if c == b'{':
                if p >= end or p[0] != b'"':
                    return NULL
                p = _skipped_string(p, end)
                if p == NULL:
                    return NULL
                p = _ws(p, end)
                if p >= end or p[0] != b':':
                    return NULL
                p = _ws(p + 1, end)
            p = _skip_value(p, end, depth + 1)
            if p == NULL:
                return NULL
            p = _ws(p, end)
            if p >= end:
                return NULL
            if p[0] == close:
                return p + 1
            if p[0] != b',':
                return NULL
            p = _ws(p + 1, end)
    if c == b't':
        return _literal(p, end, "true", 4)
    if c == b'f':
        return _literal(p, end, "false", 5)
    if c == b'n':
        return _literal(p, end, "null", 4)
    return _number(p, end, &integer)


cdef inline int _key_is(const char* k, Py_ssize_t room, const char* name, Py_ssize_t n, int field,
                        const char** after):
    if room >= n and memcmp(k, name, n) == 0:
        after[0] = k + n
        return field
    return -1


cdef inline int _known_key(const char* k, const char* end, const char** after):
    """The known field whose name and closing quote start at `k` (`after`: just past the quote), or
    -1 when the key is anything else (then read as any string is). A key without escapes is a
    known one exactly when its bytes are the name and a quote, so comparing them at once decides;
    it also spares a string scan for each of a record's keys, a cost paid on every field of
    every record."""
    cdef Py_ssize_t room = end - k
    cdef int f
    if room < 3:
        return -1
    if k[0] == b'e':
        return _key_is(k, room, 'event_id"', 9, F_EVENT_ID, after)
    if k[0] == b'p':
        return _key_is(k, room, 'platform"', 9, F_PLATFORM, after)
    if k[0] == b's':
        f = _key_is(k, room, 'shop_id"', 8, F_SHOP_ID, after)
        return f if f >= 0 else _key_is(k, room, 'sender"', 7, F_SENDER, after)
    if k[0] == b'c':
        return _key_is(k, room, 'conversation_id"', 16, F_CONVERSATION_ID, after)
    if k[0] == b'b':
        return _key_is(k, room, 'buyer_id"', 9, F_BUYER_ID, after)
    if k[0] == b'a':
        return _key_is(k, room, 'agent_id"', 9, F_AGENT_ID, after)
    if k[0] == b't':
        f = _key_is(k, room, 'text"', 5, F_TEXT, after)
        return f if f >= 0 else _key_is(k, room, 'ts"', 3, F_TS, after)
    if k[0] == b'k':
        return _key_is(k, room, 'kind"', 5, F_KIND, after)
    if k[0] == b'm':
        return _key_is(k, room, 'meta"', 5, F_META, after)
    return -1


cdef bint _scan(const char* s, Py_ssize_t n, Scan* out) except -1:
    """Read a record that is one JSON object: where each known field is. False when the record is
    not one this scanner reads, or a known field has a JSON type the fast path never accepts
    (strings but for `ts` and `meta`; an integer `ts`; `meta` an object or null; `agent_id` may
    be null); the slow path then decides."""
    cdef const char* p = s
    cdef const char* end = s + n
    cdef const char* key
    cdef const char* value
    cdef bint ascii, integer
    cdef int f, i
    cdef int64_t ts
    cdef uint32_t seen = 0  # the known fields met so far, by bit
    for i in range(F_COUNT):
        out.start[i] = -1
    p = _ws(p, end)
    if p >= end or p[0] != b'{':
        return False
    p = _ws(p + 1, end)
    if p < end and p[0] == b'}':
        return False  # no fields: the slow path names the first missing one
    while True:
        if p >= end or p[0] != b'"':
            return False
        key = p + 1
        f = _known_key(key, end, &p)
        if f < 0:  # any other key, read as a string: a known name would have matched
            f = F_OTHER
            p = _string_end(key, end, &ascii)
            if p == NULL:
                return False
            if not ascii and not _valid_utf8(key, p - 1 - key):
                return False
        p = _ws(p, end)
        if p >= end or p[0] != b':':
            return False
        value = _ws(p + 1, end)
        if value >= end:
            return False
        if f == F_OTHER:
            p = _skip_value(value, end, 1)
        elif seen & (1 << f):
            # a repeated field: the last one counts, as in orjson, but the earlier value would go
            # unchecked (a text's bytes are checked as it is decoded): the slow path decides
            return False
        else:
            seen |= 1 << f
            if f == F_TS:
                p = _number(value, end, &integer)
                if p == NULL or not integer or p - value > MAX_TS_DIGITS:
                    return False
                ts = 0
                for i in range(1 if value[0] == b'-' else 0, p - value):
                    ts = ts * 10 + (value[i] - 48)  # '0'
                out.ts = -ts if value[0] == b'-' else ts
                out.start[f], out.end[f] = value - s, p - s
            elif f == F_META:
                if value[0] == b'n':
                    p = _literal(value, end, "null", 4)
                elif value[0] == b'{':
                    p = _skip_value(value, end, 1)
                else:
                    return False
                if p == NULL:
                    return False
                out.start[f], out.end[f] = value - s, p - s
            elif f == F_AGENT_ID and value[0] == b'n':
                p = _literal(value, end, "null", 4)
                out.start[f] = -1  # as when absent: decode gives None for both
            else:  # the fields whose value is a string
                if value[0] != b'"':
                    return False
                p = _string_end(value + 1, end, &ascii)
                if p == NULL:
                    return False
                out.start[f], out.end[f], out.ascii[f] = value + 1 - s, p - 1 - s, ascii
                if not ascii and f != F_TEXT and not _valid_utf8(value + 1, p - value - 2):
                    return False  # (the text is checked as it is decoded)
        if p == NULL:
            return False
        p = _ws(p, end)
        if p >= end:
            return False
        if p[0] == b'}':
            return _ws(p + 1, end) == end
        if p[0] != b',':
            return False
        p = _ws(p + 1, end)


cdef object _one_of(const char* s, Scan* scan, int f, tuple spelled, tuple names):
    """The name of `names` the field's string equals (`spelled`: their UTF-8), or None."""
    cdef Py_ssize_t n = scan.end[f] - scan.start[f], i
    cdef bytes name
    for i in range(len(spelled)):
        name = <bytes>spelled[i]
        if PyBytes_GET_SIZE(name) == n and memcmp(PyBytes_AS_STRING(name), s + scan.start[f], n) == 0:
            return names[i]
    return None


cdef inline str _str(const char* s, Scan* scan, int f):
    """The field's string (UnicodeDecodeError when it is not UTF-8)."""
    return _span_str(s, scan.start[f], scan.end[f], scan.ascii[f])


cdef inline str _span_str(const char* s, Py_ssize_t start, Py_ssize_t end, bint ascii):
    """The string of the bytes [start, end) of a record. An ASCII one is copied into place: most
    ids are ASCII, and the decoder's checks cost more than the copy."""
    if not ascii:
        return _utf8(<const unsigned char*>s + start, end - start)
    value = PyUnicode_New(end - start, 127)
    memcpy(PyUnicode_DATA(value), s + start, end - start)
    return value


cdef str _utf8(const unsigned char* s, Py_ssize_t n):
    """UTF-8 bytes as a str. Text of the Basic Multilingual Plane (Chinese chat, nearly all of
    it) is decoded here, in C, into a buffer of UCS-2, which CPython copies into a string of the
    width it needs: on short Chinese lines CPython's general decoder spends far more per line
    (on its checks and its width passes) than this one loop. Anything else (a character beyond
    U+FFFF, bytes that are not UTF-8, a text longer than the buffer) goes to
    PyUnicode_DecodeUTF8, which decodes it or raises UnicodeDecodeError. Well-formed UTF-8 has one
    decoding: both give the same str."""
    cdef Py_UCS2 buffer[UTF8_BUFFER]
    cdef Py_ssize_t length = -1 if n > UTF8_BUFFER else sg_utf8_bmp(s, n, buffer)
    if length < 0:
        return PyUnicode_DecodeUTF8(<const char*>s, n, NULL)
    return PyUnicode_FromKindAndData(PyUnicode_2BYTE_KIND, buffer, length)


cdef class LazyMeta:
    """An event's `meta` object, decoded from its record the first time it is read: rules read
    `meta` only for the few messages a conditional rule is weighing. Reads as the dict would."""
    cdef bytes _record
    cdef Py_ssize_t _start, _end
    cdef dict _value

    @staticmethod
    cdef LazyMeta of(bytes record, Py_ssize_t start, Py_ssize_t end):
        cdef LazyMeta meta = LazyMeta.__new__(LazyMeta)
        meta._record, meta._start, meta._end = record, start, end
        return meta

    cdef dict _dict(self):
        if self._value is None:
            self._value = orjson.loads(self._record[self._start:self._end])
        return self._value

    def __getitem__(self, key):
        return self._dict()[key]

    def get(self, key, default=None):
        return self._dict().get(key, default)

    def __iter__(self):
        return iter(self._dict())

    def __len__(self):
        return len(self._dict())

    def __contains__(self, key):
        return key in self._dict()

    def __eq__(self, other):
        return self._dict() == (other._dict() if isinstance(other, LazyMeta) else other)

    def __repr__(self):
        return f"LazyMeta({self._dict()!r})"


Mapping.register(LazyMeta)


cdef inline void _put(list column, Py_ssize_t i, object value) noexcept:
    Py_INCREF(value)  # PyList_SET_ITEM takes the reference
    PyList_SET_ITEM(column, i, value)


cdef class EventBatch:
    """The events decoded from a batch of records, by columns: entry i of each list is the i-th
    event (`index`: its record's position in the batch). Field values are the ones `events.decode`
    gives, `kind` filled in."""
    cdef readonly list index, platform, shop_id, buyer_id, event_id, sender, kind, text, ts
    cdef list _records  # each event's record
    cdef list _full  # each event's dict when `decode` built it (or it was asked for), else None
    cdef Kept* _kept  # where a scanned event's fields read only on demand are in its record
    cdef Py_ssize_t _n  # events so far: while the batch is built, the columns have room for more
    cdef object _slow

    def __cinit__(self):
        self.index, self.platform, self.shop_id, self.buyer_id, self.event_id = [], [], [], [], []
        self.sender, self.kind, self.text, self.ts, self._records, self._full = [], [], [], [], [], []

    def __dealloc__(self):
        PyMem_Free(self._kept)

    cdef int _reserve(self, Py_ssize_t capacity) except -1:
        """Room for `capacity` events. The columns are made at that length, their entries empty
        (NULL) until _columns fills them and _seal cuts them to the events added: appending
        instead would grow each list by reallocation some thirty times a batch."""
        self._kept = <Kept*>PyMem_Malloc(max(capacity, 1) * sizeof(Kept))
        if self._kept == NULL:
            raise MemoryError()
        self.index, self.platform, self.shop_id = PyList_New(capacity), PyList_New(capacity), PyList_New(capacity)
        self.buyer_id, self.event_id, self.sender = PyList_New(capacity), PyList_New(capacity), PyList_New(capacity)
        self.kind, self.text, self.ts = PyList_New(capacity), PyList_New(capacity), PyList_New(capacity)
        self._records, self._full = PyList_New(capacity), PyList_New(capacity)
        return 0

    cdef int _columns(self, Py_ssize_t index, platform, shop_id, buyer_id, event_id, sender, kind, text,
                      ts, bytes record, full) except -1:
        cdef Py_ssize_t i = self._n
        _put(self.index, i, index)
        _put(self.platform, i, platform)
        _put(self.shop_id, i, shop_id)
        _put(self.buyer_id, i, buyer_id)
        _put(self.event_id, i, event_id)
        _put(self.sender, i, sender)
        _put(self.kind, i, kind)
        _put(self.text, i, text)
        _put(self.ts, i, ts)
        _put(self._records, i, record)
        _put(self._full, i, full)
        self._n = i + 1
        return 0

    cdef void _seal(self) noexcept:
        """The columns cut to the events added (the entries past them are empty)."""
        for column in (self.index, self.platform, self.shop_id, self.buyer_id, self.event_id, self.sender,
                       self.kind, self.text, self.ts, self._records, self._full):
            Py_SET_SIZE(column, self._n)

    cdef int _add_decoded(self, Py_ssize_t index, dict event) except -1:
        """An event `decode` built."""
        self._kept[self._n].meta_start = -1  # (the dict has it all)
        return self._columns(index, event[K_PLATFORM], event[K_SHOP_ID], event[K_BUYER_ID], event[K_EVENT_ID],
                             event[K_SENDER], event[K_KIND], event[K_TEXT], event[K_TS], None, event)

    def __len__(self):
        return len(self.index)

    cdef int _check(self, Py_ssize_t i) except -1:
        """i is an event's position: the accessors below read their columns unchecked."""
        if not 0 <= i < self._n:
            raise IndexError(f"no event {i} in a batch of {self._n}")
        return 0

    def event(self, Py_ssize_t i):
        """The i-th event as `events.decode` gives it (decoded again for a scanned record)."""
        self._check(i)
        full = self._full[i]
        if full is None:
            full = self._full[i] = self._slow(self._records[i])
        return full

    def meta(self, Py_ssize_t i):
        """The i-th event's `meta` (None when it has none), as a mapping."""
        self._check(i)
        return self._meta_of(i)

    cdef object _meta_of(self, Py_ssize_t i):
        full = self._full[i]
        if full is not None:
            return (<dict>full).get(K_META)
        if self._kept[i].meta_start < 0:
            return None
        return LazyMeta.of(self._records[i], self._kept[i].meta_start, self._kept[i].meta_end)

    def violation_source(self, Py_ssize_t i):
        """The i-th event's fields a violation record carries (SOURCE_FIELDS), as
        `events.decode` gives them: for a scanned record, from the columns and the record's
        bytes, without decoding the record again (a second decode per violation would cost as
        much as the scan did)."""
        cdef Kept* kept
        cdef bytes record
        cdef const char* s
        self._check(i)
        kept = &self._kept[i]
        full = self._full[i]
        if full is not None:
            return {name: (<dict>full).get(name) for name in SOURCE_FIELDS}
        record = self._records[i]
        s = PyBytes_AS_STRING(record)
        return {"event_id": self.event_id[i], "platform": self.platform[i], "shop_id": self.shop_id[i],
                "conversation_id": _span_str(s, kept.conversation_start, kept.conversation_end,
                                             kept.conversation_ascii),
                "agent_id": None if kept.agent_start < 0 else _span_str(s, kept.agent_start, kept.agent_end,
                                                                        kept.agent_ascii),
                "text": self.text[i], "ts": self.ts[i]}


def decode_batch(list records, object slow, Py_ssize_t max_record_bytes, Py_ssize_t max_text_bytes,
                 int64_t earliest_ts, int64_t latest_ts, tuple platforms, tuple senders, tuple kinds):
    """(EventBatch, [(index, reject)]) for `records`: what `slow(raw)` (events.decode with its
    limits, clock and platforms) gives for each record, which is called for every record that is
    not a well-formed event the scanner reads, of at most `max_record_bytes` bytes,
    `max_text_bytes` bytes of text at four bytes a character, an event time in [earliest_ts,
    latest_ts], a platform of `platforms`, a sender of `senders`, and a kind of `kinds` (none: a
    message; a message has a text, other kinds' missing text is empty)."""
    cdef EventBatch batch = EventBatch()
    cdef list rejects = []
    cdef Py_ssize_t index, n = len(records)
    cdef Scan scan
    cdef const char* s
    cdef tuple platforms_spelled = tuple(p.encode() for p in platforms)
    cdef tuple senders_spelled = tuple(p.encode() for p in senders)
    cdef tuple kinds_spelled = tuple(k.encode() for k in kinds)
    batch._reserve(n)
    batch._slow = slow
    for index in range(n):
        raw = records[index]
        if type(raw) is bytes and PyBytes_GET_SIZE(raw) <= max_record_bytes:
            s = PyBytes_AS_STRING(raw)
            if _scan(s, PyBytes_GET_SIZE(raw), &scan) and _added(batch, index, <bytes>raw, s, &scan, max_text_bytes,
                                                                  earliest_ts, latest_ts, platforms_spelled, platforms,
                                                                  senders_spelled, senders, kinds_spelled, kinds):
                continue
        decoded = slow(raw)
        if type(decoded) is dict:
            batch._add_decoded(index, <dict>decoded)
        else:
            rejects.append((index, decoded))
    batch._seal()
    return batch, rejects


cdef bint _added(EventBatch batch, Py_ssize_t index, bytes raw, const char* s, Scan* scan, Py_ssize_t max_text_bytes,
                 int64_t earliest_ts, int64_t latest_ts, tuple platforms_spelled, tuple platforms,
                 tuple senders_spelled, tuple senders, tuple kinds_spelled, tuple kinds) except -1:
    """Add a scanned record when its fields are those of a well-formed event; False when not
    (the slow path then finds out why)."""
    cdef Kept* kept
    # written out, not as loops over tuples of field numbers: Cython builds such a tuple, and
    # an int for each of its items, on every record
    if (scan.start[F_EVENT_ID] < 0 or scan.start[F_PLATFORM] < 0 or scan.start[F_SHOP_ID] < 0
            or scan.start[F_CONVERSATION_ID] < 0 or scan.start[F_BUYER_ID] < 0 or scan.start[F_SENDER] < 0
            or scan.start[F_TS] < 0):
        return False
    if (scan.end[F_EVENT_ID] == scan.start[F_EVENT_ID] or scan.end[F_SHOP_ID] == scan.start[F_SHOP_ID]
            or scan.end[F_BUYER_ID] == scan.start[F_BUYER_ID]):
        return False
    kind = MESSAGE if scan.start[F_KIND] < 0 else _one_of(s, scan, F_KIND, kinds_spelled, kinds)
    if kind is None or (scan.start[F_TEXT] < 0 and str_equal(<str>kind, MESSAGE)):
        return False
    if not earliest_ts <= scan.ts <= latest_ts:
        return False
    platform = _one_of(s, scan, F_PLATFORM, platforms_spelled, platforms)
    sender = _one_of(s, scan, F_SENDER, senders_spelled, senders)
    if platform is None or sender is None:
        return False
    # four bytes a character at most, as the fast path of decode measures a text
    if scan.start[F_TEXT] < 0:
        text = ""
    elif scan.ascii[F_TEXT]:
        if (scan.end[F_TEXT] - scan.start[F_TEXT]) * 4 > max_text_bytes:
            return False
        text = _str(s, scan, F_TEXT)
    else:
        try:
            text = _str(s, scan, F_TEXT)
        except UnicodeDecodeError:
            return False
        if PyUnicode_GET_LENGTH(text) * 4 > max_text_bytes:
            return False
    kept = &batch._kept[batch._n]
    if scan.start[F_META] >= 0 and s[scan.start[F_META]] == b'{':
        kept.meta_start, kept.meta_end = scan.start[F_META], scan.end[F_META]
    else:
        kept.meta_start = -1
    kept.conversation_start, kept.conversation_end = scan.start[F_CONVERSATION_ID], scan.end[F_CONVERSATION_ID]
    kept.conversation_ascii = scan.ascii[F_CONVERSATION_ID]
    kept.agent_start, kept.agent_end, kept.agent_ascii = scan.start[F_AGENT_ID], scan.end[F_AGENT_ID], scan.ascii[F_AGENT_ID]
    batch._columns(index, platform, _str(s, scan, F_SHOP_ID), _str(s, scan, F_BUYER_ID), _str(s, scan, F_EVENT_ID),
                   sender, kind, text, scan.ts, raw, None)
    return True


cdef inline bint _in(object value, tuple names):
    """`value` (a str) equals one of `names` (all str)."""
    for name in names:
        if str_equal(<str>name, <str>value):
            return True
    return False


def route(EventBatch batch, dict roles):
    """The messages each platform's rules judge: {platform: (positions in `batch`, [(text, sender,
    meta)])}, platforms in order of first appearance. A message is judged when its kind is
    `message`, its text is not empty, and its sender is one of `roles[platform]` (a tuple of str)."""
    cdef dict judged = {}
    cdef Py_ssize_t position, k
    cdef list texts = batch.text, kinds = batch.kind, platforms = batch.platform, senders = batch.sender
    # The platforms met so far, with their roles and their entry of `judged` (None until a message
    # is judged): the scanner gives every event of a platform the same str, so most are found by
    # identity, sparing two dict lookups a message.
    cdef list seen = [], seen_roles = [], seen_found = []
    for position in range(len(texts)):
        text = texts[position]
        if not PyUnicode_GET_LENGTH(text) or not str_equal(<str>kinds[position], MESSAGE):
            continue
        platform = platforms[position]
        k = _seen_at(seen, platform)
        if k < 0:
            k = len(seen)
            seen.append(platform)
            seen_roles.append(roles[platform])
            seen_found.append(None)
        sender = senders[position]
        if not _in(sender, <tuple>seen_roles[k]):
            continue
        found = seen_found[k]
        if found is None:
            found = seen_found[k] = judged[platform] = ([], [])
        (<list>(<tuple>found)[0]).append(position)
        (<list>(<tuple>found)[1]).append((text, sender, batch._meta_of(position)))
    return judged


cdef inline Py_ssize_t _seen_at(list seen, object platform):
    """Where `platform` (a str) is in `seen` (str, all different), or -1; by identity first."""
    cdef Py_ssize_t k
    for k in range(len(seen)):
        if seen[k] is platform:
            return k
    for k in range(len(seen)):
        if str_equal(<str>seen[k], <str>platform):
            return k
    return -1

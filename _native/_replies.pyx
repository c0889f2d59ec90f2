# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The native reply tracker: the model of `stream_guard.tracking.replies` in typed objects and C heaps.

Per shop: the held events are a C heap of (ts, event_id, arrival number) with the fields the state
machine reads (buyer, kind and sender as small codes), not the event dicts; the deadlines of open
turns are a C heap of (deadline, turn); both heaps live in the shop object while they hold a few
items, as most shops' do; one record per buyer holds the buyer's open turn, session,
hand-off and buyer-day unit, so an event costs one lookup in the shop; a turn points at its unit
(the consult it counts towards), so deciding it is a field update, not a tuple-keyed lookup. Local
days are proleptic ordinals (they sort like their ISO strings) with the string kept beside them
for output. Local-day bounds are cached per time zone, two days deep (the jitter around midnight
alternates between two days); a day whose UTC offset changes is computed event by event through
zoneinfo, exactly as the oracle does.

At 10k shops the tracker's state outgrows the caches and an event costs a handful of cache misses
(its shop, the shop's heaps, the records of the event it releases, held since the allowed
lateness); what is left to the CPU is kept small: no hashing of platform, kind or sender strings,
event fields looked up with the decoder's own key objects, ids hashed once with the index's own
hash (not siphash). Shops (per platform) and buyers (per shop) are found through `_str_index`
tables, not dicts: a dict lookup with a new key object (every decoded id is one) reads the dict's
index, its entry and the stored key, three dependent misses, where a slot of the table holds the
hash and a short id's characters in one line, which is fetched ahead. A batch goes through in
passes (observe_batch): its shops' lines are fetched all at once before its first event is
taken; then its events are held and the events their watermarks pass taken from the heaps;
then those are applied in order, each one's chain (buyer index line, record, open turn,
consult) fetched a link at a time a few events ahead. The earliest deadline is kept in the
shop, so the deadline heap is read only when a turn goes overdue. Objects are asked for before
they are read, never read to be asked for: a shop is found as a borrowed pointer (a reference
would read its first line at once), the decoded ids and times are asked for a few events
before the pass that reads them, and the outcome of a reply names the buyer with the event's
own id string (in cache), not the record's first-seen one.

The pure-Python oracle in `tests/reply_oracle.py` defines the behaviour; property tests require
the same outcomes, rows and snapshots-restored runs from both.
"""
cimport cython
from cpython.dict cimport PyDict_Next
from cpython.exc cimport PyErr_Occurred
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF
from libc.stdint cimport INT64_MAX, int64_t, int32_t
from libc.string cimport memcpy

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

from _str_index cimport (Slot, StrIndex, index_add, index_find, index_free, index_guess, index_remove, index_seed,
                         index_slot, index_values, str_hash)
from _unicode cimport PyUnicode_GET_LENGTH, str_equal

cdef extern from "Python.h":
    int PyUnicode_Compare(object left, object right) except? -1
    PyObject* PyDict_GetItemWithError(object d, object key)  # borrowed; NULL and no error: absent
    PyObject* PyList_GET_ITEM(object lst, Py_ssize_t i)  # borrowed; no bounds check
    long long PyLong_AsLongLongAndOverflow(object value, int* overflow)  # an int's: no error

cdef extern from *:
    """
    /* the first three cache lines of an object or block (a _Shop's fields fit in them) */
    static inline void _prefetch(const void* o) {
        __builtin_prefetch((const char*)o);
        __builtin_prefetch((const char*)o + 64);
        __builtin_prefetch((const char*)o + 128);
    }
    static inline void _prefetch_line(const void* o) { __builtin_prefetch(o); }
    static inline void _prefetch2(const void* o) {
        __builtin_prefetch((const char*)o);
        __builtin_prefetch((const char*)o + 64);
    }
    /* where the list's next item goes */
    static inline void _prefetch_list_end(PyObject* list) {
        __builtin_prefetch(((PyListObject*)list)->ob_item + Py_SIZE(list));
    }
    """
    void _prefetch(const void* o)
    void _prefetch_line(const void* o)
    void _prefetch2(const void* o)
    void _prefetch_list_end(PyObject* list)

UNITS = ("turn", "session", "buyer_day")
SESSION_RULES = ("first_reply", "all_replies")
EXCLUDING_KINDS = ("buyer_reported", "buyer_blocked")

SNAPSHOT_VERSION = "sg-replies-1"
# the event times (ms since the epoch) the tracker's clock can place: from 1970 to two days
# before the end of year 9999, so that an event's local day in any zone, and a watermark (an
# event time less the lateness), stay among the dates Python can represent
cdef int64_t _TS_MIN = 0
cdef int64_t _TS_MAX = 253_402_128_000_000  # 9999-12-30T00:00Z
EVENT_TS_MIN, EVENT_TS_MAX = _TS_MIN, _TS_MAX

index_seed(hash("stream_guard._replies index key") & 0xFFFF_FFFF_FFFF_FFFF)

# event kinds and senders as the state machine sees them; other values do nothing
cdef enum:
    K_MESSAGE = 0
    K_EXCLUDING = 1
    K_HANDOFF = 2
    K_OTHER = 3
    S_BUYER = 0
    S_AGENT = 1
    S_BOT = 2
    S_OTHER = 3
    U_TURN = 0
    U_SESSION = 1
    U_BUYER_DAY = 2

# how many events ahead observe_batch fetches a shop's heaps; how many released events ahead it
# fetches, link by link, what applying one reads: the buyer's index line, the shop's first lines
# and the event's strings; the buyer's record (and the deadline heap's head, when a turn goes
# overdue); its open turn and session (and the overdue turn); the turn's consult. Each stage
# reads only lines an earlier stage asked for.
cdef enum:
    CHUNK = 512  # events taken through the passes together: their shops' lines stay in cache between passes
    PREFETCH_EVENT = 8  # a decoded event's objects (shop id, time), in the first pass
    PREFETCH_HEAPS = 8
    PREFETCH_SLOT = 12
    PREFETCH_RECORD = 8
    PREFETCH_STATE = 4
    PREFETCH_UNIT = 2

# a shop's heaps start in the shop itself (most shops hold a few events and wait on a few turns
# at a time: their heaps are read with the shop's own lines, not from blocks of their own); a
# heap that outgrows that moves to a block, halved when three quarters are free, so a burst
# does not pin its peak for the life of the worker
cdef enum:
    HEAP_INLINE = 4
    HEAP_SHRINK_ABOVE = 64


# ---- event fields --------------------------------------------------------------------------------


cdef inline int _kind(object value):
    if value is None:  # no kind is a message
        return K_MESSAGE
    if type(value) is not str:
        return K_MESSAGE if not value else K_OTHER  # any false value is no kind
    if str_equal(<str>value, "message") or PyUnicode_GET_LENGTH(value) == 0:
        return K_MESSAGE
    if str_equal(<str>value, "buyer_reported") or str_equal(<str>value, "buyer_blocked"):
        return K_EXCLUDING
    if str_equal(<str>value, "handoff"):
        return K_HANDOFF
    return K_OTHER


cdef inline int _sender(object value) noexcept:
    if type(value) is not str:
        return S_OTHER
    if str_equal(<str>value, "buyer"):
        return S_BUYER
    if str_equal(<str>value, "agent"):
        return S_AGENT
    if str_equal(<str>value, "bot"):
        return S_BOT
    return S_OTHER


# ---- outcomes ------------------------------------------------------------------------------------


@cython.freelist(1024)  # a batch decides a few hundred turns; they are freed together after it
@cython.no_gc
cdef class Outcome:
    """A decided turn (`valid`, `late`, `missed`), a `reply_missed` notice, or a `late_event`."""
    cdef readonly object kind, platform, shop_id, buyer_id, day
    cdef readonly int64_t opened_ts
    cdef readonly object replied_ts  # None, or the reply's event time
    cdef readonly bint counted
    cdef readonly object event_id

    def __init__(self, kind, platform, shop_id, buyer_id, day="", opened_ts=0, replied_ts=None,
                 counted=False, event_id=""):
        self.kind, self.platform, self.shop_id, self.buyer_id, self.day = kind, platform, shop_id, buyer_id, day
        self.opened_ts, self.replied_ts, self.counted, self.event_id = opened_ts, replied_ts, counted, event_id

    @property
    def response_s(self):
        return None if self.replied_ts is None else (self.replied_ts - self.opened_ts) / 1000

    def _fields(self):
        return (self.kind, self.platform, self.shop_id, self.buyer_id, self.day, self.opened_ts,
                self.replied_ts, self.counted, self.event_id)

    def __eq__(self, other):
        if type(other) is not Outcome:
            return NotImplemented
        return self._fields() == (<Outcome>other)._fields()

    __hash__ = None  # mutable-looking value object, like the dataclass it replaces

    def __repr__(self):
        names = ("kind", "platform", "shop_id", "buyer_id", "day", "opened_ts", "replied_ts", "counted", "event_id")
        return "Outcome(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields())) + ")"

    def __reduce__(self):
        return Outcome, self._fields()


cdef inline Outcome _outcome(object kind, _Shop shop, object buyer, object day, int64_t opened_ts,
                             object replied_ts, bint counted, object event_id):
    cdef Outcome o = Outcome.__new__(Outcome)
    o.kind = kind
    o.platform = shop.plat.name
    o.shop_id = shop.shop_id
    o.buyer_id = buyer
    o.day = day
    o.opened_ts = opened_ts
    o.replied_ts = replied_ts
    o.counted = counted
    o.event_id = event_id
    return o


# ---- local days ----------------------------------------------------------------------------------


cdef dict _ISO = {}  # day ordinal -> ISO string, for the few days a process sees


cdef object _iso(int32_t ordinal):
    s = _ISO.get(ordinal)
    if s is None:
        s = _ISO[ordinal] = date.fromordinal(ordinal).isoformat()
    return s


@cython.final
cdef class _Clock:
    """Local day (ordinal) and second of day of event times in one zone."""
    cdef object zone
    cdef int64_t start0, end0, start1, end1  # [start, end) in ms of the two cached days
    cdef int32_t day0, day1

    def __cinit__(self, zone):
        self.zone = ZoneInfo(zone)

    cdef inline int at(self, int64_t ts, int32_t* day, int32_t* second) except -1:
        if self.start0 <= ts < self.end0:
            day[0] = self.day0
            second[0] = <int32_t>((ts - self.start0) // 1000)
            return 0
        if self.start1 <= ts < self.end1:
            day[0] = self.day1
            second[0] = <int32_t>((ts - self.start1) // 1000)
            return 0
        return self._compute(ts, day, second)

    cdef inline int64_t day_end(self, int64_t ts) noexcept:
        """The end of ts's local day when it is cached, else ts + 1 (ask again next time)."""
        if self.start0 <= ts < self.end0:
            return self.end0
        if self.start1 <= ts < self.end1:
            return self.end1
        return ts + 1

    cdef int _compute(self, int64_t ts, int32_t* day, int32_t* second) except -1:
        local = datetime.fromtimestamp(<double>ts / 1000.0, self.zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        following = midnight + timedelta(days=1)  # wall-clock arithmetic: the next local midnight
        if midnight.utcoffset() == following.utcoffset():  # no offset change inside: cacheable
            self.start1, self.end1, self.day1 = self.start0, self.end0, self.day0
            self.start0 = int(midnight.timestamp() * 1000)
            self.end0 = int(following.timestamp() * 1000)
            self.day0 = midnight.toordinal()
        day[0] = local.toordinal()
        second[0] = local.hour * 3600 + local.minute * 60 + local.second
        return 0


# ---- per-shop state ------------------------------------------------------------------------------


@cython.final
cdef class _Platform:
    """A reply profile in the form the state machine reads it, and the platform's shops."""
    cdef readonly str name
    cdef dict shops  # shop_id -> _Shop: owns them; add_shop and drop_shop keep shop_index beside it
    cdef StrIndex shop_index  # the same shops by str shop_id, for the lookup of every event
    cdef int unit
    cdef bint first_reply, count_by_start, bots_count, handoff_clock, has_penalty
    cdef int64_t threshold_ms, gap_ms
    cdef int32_t service_start, service_end
    cdef int64_t penalty_min_consults, penalty_fine_cny
    cdef double penalty_max_rate
    cdef _Clock clock

    def __cinit__(self, name, profile, _Clock clock):
        self.name = name
        self.shops = {}
        self.unit = U_SESSION if profile.unit == "session" else U_BUYER_DAY if profile.unit == "buyer_day" else U_TURN
        self.first_reply = profile.session_rule == "first_reply"
        self.count_by_start = profile.count_by_start
        self.bots_count = profile.bots_count
        self.handoff_clock = profile.handoff_starts_clock
        self.threshold_ms = profile.threshold_s * 1000
        self.gap_ms = profile.session_gap_s * 1000
        self.service_start = _seconds(profile.service_start)
        self.service_end = _seconds(profile.service_end)
        self.has_penalty = profile.has_penalty
        self.penalty_min_consults = profile.penalty_min_consults
        self.penalty_max_rate = profile.penalty_max_rate
        self.penalty_fine_cny = profile.penalty_fine_cny
        self.clock = clock

    def __dealloc__(self):
        index_free(&self.shop_index)

    cdef inline bint in_service(self, int32_t second) noexcept:
        return self.service_start <= second < self.service_end

    cdef inline PyObject* find_shop(self, object shop_id, Py_hash_t shop_hash) except? NULL:
        """The shop, borrowed (the platform owns it), or NULL (shop_hash: _id_hash(shop_id)). A
        pointer, not a reference: taking one would read the shop's first line at once, where the
        batch's first pass only asks for its lines and reads them in the next."""
        cdef PyObject* found
        if type(shop_id) is str:
            found = index_find(&self.shop_index, <str>shop_id, shop_hash)
            if found != NULL or self.shop_index.used == len(self.shops):
                return found  # every shop is in the index: none has this id
        found = PyDict_GetItemWithError(self.shops, shop_id)
        if found == NULL and PyErr_Occurred():
            return NULL
        return found

    cdef inline void prefetch_shop(self, object shop_id, Py_hash_t shop_hash) noexcept:
        """Ask for the index line where the lookup of shop_id starts."""
        cdef Slot* slot
        if type(shop_id) is str:
            slot = index_slot(&self.shop_index, shop_hash)
            if slot != NULL:
                _prefetch_line(slot)

    cdef int add_shop(self, _Shop shop) except -1:
        """Add a shop, in place of one with the same id."""
        old = self.shops.get(shop.shop_id)
        if old is not None:
            self.drop_shop(<_Shop>old)
        self.shops[shop.shop_id] = shop
        if type(shop.shop_id) is str:  # ids of other types are found in the dict
            index_add(&self.shop_index, <str>shop.shop_id, _id_hash(shop.shop_id), <PyObject*>shop)
        return 0

    cdef int drop_shop(self, _Shop shop) except -1:
        if type(shop.shop_id) is str:
            index_remove(&self.shop_index, _id_hash(shop.shop_id), <PyObject*>shop)
        del self.shops[shop.shop_id]
        return 0


cdef int32_t _seconds(t):
    return t.hour * 3600 + t.minute * 60 + t.second


@cython.freelist(64)
@cython.no_gc
cdef class _Unit:
    """One consult: a turn, a buyer-day or a session."""
    cdef object buyer
    cdef bint counted, valid
    cdef int32_t decided  # counted turns decided so far


@cython.no_gc
cdef class _Day:
    """One local day of a shop: its consults and the buyers left out of it."""
    cdef int32_t ordinal
    cdef object iso
    cdef list units
    cdef set excluded   # None until a buyer is reported or blocked that day


@cython.freelist(64)
@cython.no_gc
cdef class _Turn:
    cdef object buyer
    cdef int64_t opened_ts
    cdef int64_t seq  # opening order within the shop
    cdef int32_t day  # the day it counts on, and its ISO string (shared, so always at hand)
    cdef object day_iso
    cdef _Unit unit
    cdef bint counted, overdue
    cdef bint closed  # no longer the buyer's open turn: its deadline entry is stale


@cython.no_gc
cdef class _Session:
    cdef int64_t start_ts, last_ts
    cdef _Day day  # the day it started: its consult counts there
    cdef int32_t start_second
    cdef _Unit unit


@cython.freelist(64)
@cython.no_gc
cdef class _Buyer:
    """All a shop knows of one buyer, found with one lookup: the open turn, the session, whether
    a human took over, the buyer-day unit of the latest day."""
    cdef object buyer  # the id as first seen: turns and units share this one string
    cdef _Turn turn         # None when no turn is open
    cdef _Session session   # None outside `session` profiles
    cdef bint handed_off    # until the session it was made in ends
    cdef int32_t unit_day
    cdef _Unit unit         # `buyer_day` profiles: the unit of unit_day; days only move forward


ctypedef struct Held:  # an event held until the watermark passes it
    int64_t ts
    int64_t seq
    PyObject* event_id  # owned
    PyObject* buyer     # owned
    Py_hash_t buyer_hash  # the buyer's lookup is ready when the event is released (_buyer_hash)
    int kind
    int sender


cdef enum:  # the fields observe_batch reads, in ReplyTracker._keys
    F_PLATFORM = 0
    F_SHOP_ID = 1
    F_TS = 2
    F_EVENT_ID = 3
    F_BUYER_ID = 4
    F_KIND = 5
    F_SENDER = 6
    F_COUNT = 7


ctypedef struct Pending:  # an event of a batch, its shop found (observe_batch's first pass)
    PyObject* plat      # borrowed _Platform; NULL: not a tracked platform
    PyObject* shop      # borrowed; NULL: not a tracked platform. Shops go only in finish/forget_shop
    PyObject* event_id  # borrowed from the event, which the batch holds
    PyObject* buyer
    int64_t ts
    Py_hash_t shop_hash  # _id_hash of the shop id, computed once for its prefetch and its lookup
    int kind
    int sender
    bint late  # the second pass found it older than its shop's watermark
    int64_t watermark  # its shop's watermark once it is held (second pass)
    Py_ssize_t released  # the end, in the tracker's releases, of the held events it let go


ctypedef struct Release:  # a held event the watermark passed, taken from its shop's heap
    PyObject* shop  # borrowed
    # where the buyer's lookup starts, as the index stood when the event was taken: for
    # prefetching only, as applying the events before it may grow the index (and free this)
    Slot* slot
    Held item  # owns the event's references until it is applied


ctypedef struct Deadline:
    int64_t at
    PyObject* turn  # owned _Turn


cdef inline bint _placeable(object ts, int64_t* value) noexcept:
    """Whether an int is an event time the clock can place, and that time in `value`."""
    cdef int overflow
    value[0] = PyLong_AsLongLongAndOverflow(ts, &overflow)
    return not overflow and _TS_MIN <= value[0] <= _TS_MAX


cdef inline int64_t _event_time(object ts) except -1:  # -1 is before the range
    """An event's time as the tracker takes it. A time its clock cannot place is refused before
    anything changes: held, it would become its shop's latest time, and every watermark after it
    would fail to find its day, so the shop would be stuck."""
    cdef int64_t value
    if type(ts) is not int:
        raise TypeError("ts must be an int")
    if not _placeable(ts, &value):
        raise ValueError(f"ts {ts} is outside the event times the reply tracker places "
                         f"({_TS_MIN}..{_TS_MAX} ms)")
    return value


cdef inline Py_hash_t _id_hash(object key) noexcept:
    """The index hash of a str id; -1 for an id of another type (found in the dict, not the index)."""
    return str_hash(<str>key) if type(key) is str else -1


cdef inline Py_hash_t _buyer_hash(object buyer) except -1:
    """The hash the buyer index is looked up with (a TypeError for an id that is not a str)."""
    if type(buyer) is not str:
        raise TypeError("buyer_id must be a string")
    return str_hash(<str>buyer)


cdef inline void _drop_held(Held* item) noexcept:
    """Let go of the references a held event owns, when it will not be applied: its shop is
    going, or an error stopped the batch before it."""
    Py_DECREF(<object>item.event_id)
    Py_DECREF(<object>item.buyer)


cdef inline bint _opens(Held* item) noexcept:
    """Whether applying the event may open a turn (and add a consult): a buyer's message or a
    hand-off. A guess for prefetching: the profile and the buyer's state decide."""
    return (item.kind == K_MESSAGE and item.sender == S_BUYER) or item.kind == K_HANDOFF


cdef inline bint _held_before(Held* a, Held* b):
    # (ts, event_id, arrival): event ids are str (validated), so comparing them cannot fail
    if a.ts != b.ts:
        return a.ts < b.ts
    cdef int c = PyUnicode_Compare(<object>a.event_id, <object>b.event_id)
    if c != 0:
        return c < 0
    return a.seq < b.seq


cdef inline bint _deadline_before(Deadline* a, Deadline* b):
    # (deadline, opened_ts, buyer): one threshold per shop, so equal deadlines mean equal opening times
    if a.at != b.at:
        return a.at < b.at
    return PyUnicode_Compare((<_Turn>a.turn).buyer, (<_Turn>b.turn).buyer) < 0


cdef void* _resize(void* block, Py_ssize_t* capacity, Py_ssize_t wanted, size_t item) except NULL:
    cdef void* grown = PyMem_Realloc(block, wanted * item)
    if grown == NULL:
        raise MemoryError()
    capacity[0] = wanted
    return grown


cdef void* _heap_resize(void* block, void* inline_block, Py_ssize_t* capacity, Py_ssize_t wanted,
                        Py_ssize_t n, size_t item) except NULL:
    """A shop's heap of n items given room for `wanted` items, more than its shop holds."""
    cdef void* moved
    if block != inline_block:
        return _resize(block, capacity, wanted, item)
    moved = PyMem_Malloc(wanted * item)
    if moved == NULL:
        raise MemoryError()
    memcpy(moved, block, n * item)
    capacity[0] = wanted
    return moved


@cython.final
cdef class _Shop:  # tracked by the collector: it closes a cycle with its platform
    # the fields an event's passes read, in the object's first 128 bytes: the passes ask for
    # its first three lines, which hold those bytes wherever the object starts
    cdef _Platform plat
    cdef int64_t max_ts
    cdef int64_t seq
    cdef Held* held
    cdef Py_ssize_t n_held
    # the earliest deadline (INT64_MAX: none): every applied event asks whether a turn went
    # overdue before it, and the heap is read only when one did
    cdef int64_t first_deadline
    cdef Deadline* deadlines
    # buyer id (a str: the tracker takes no other) -> _Buyer, owned through the index (buyer()
    # and drop_buyer() count the references); no dict beside it: nothing reads buyers in order
    cdef StrIndex buyer_index
    cdef _Day recent      # the day `day` found last (None: none yet, or it was closed), and its
    cdef int32_t recent_ordinal  # ordinal: a turn opens on it nearly always, found without the list
    cdef bint has_max
    cdef readonly object shop_id
    # the rest
    cdef Py_ssize_t cap_held, n_deadlines, cap_deadlines
    cdef Py_ssize_t n_open  # open turns
    cdef int64_t opened     # turns opened so far: the opening order of turns
    cdef list days        # _Day, oldest first: the watermark's day, the day before, rarely more
    cdef bint has_watermark_day
    cdef int32_t watermark_day  # the watermark's local day at the last day-closing check
    cdef int64_t watermark_day_end  # and its end: no check is needed before the watermark gets there
    cdef Held held_inline[HEAP_INLINE]  # the heaps while they fit (`held` and `deadlines` point here)
    cdef Deadline deadlines_inline[HEAP_INLINE]

    def __cinit__(self, _Platform plat, shop_id):
        self.plat = plat
        self.shop_id = shop_id
        self.days = []
        self.first_deadline = INT64_MAX
        self.held, self.cap_held = self.held_inline, HEAP_INLINE
        self.deadlines, self.cap_deadlines = self.deadlines_inline, HEAP_INLINE

    def __dealloc__(self):
        cdef Py_ssize_t i
        for i in range(self.n_held):
            _drop_held(&self.held[i])
        for i in range(self.n_deadlines):
            Py_DECREF(<object>self.deadlines[i].turn)
        if self.held != self.held_inline:
            PyMem_Free(self.held)
        if self.deadlines != self.deadlines_inline:
            PyMem_Free(self.deadlines)
        for b in index_values(&self.buyer_index):
            Py_DECREF(b)  # the index's reference (the list's goes with the list)
        index_free(&self.buyer_index)

    cdef inline void prefetch_heaps(self) noexcept:
        """Ask for the lines holding an event reads: the held heap's head and its end."""
        if self.n_held:
            _prefetch_line(<PyObject*>self.held)
            _prefetch_line(<PyObject*>&self.held[self.n_held - 1])

    # -- held events: a binary heap --

    cdef inline int64_t watermark(self, int64_t lateness) noexcept:
        """The latest event time seen, less the allowed lateness (read once an event is held)."""
        return self.max_ts - lateness

    cdef inline bint passed(self, int64_t watermark) noexcept:
        """The watermark has passed the earliest held event: strictly older than it, as an
        event at the watermark itself may still arrive."""
        return self.n_held and self.held[0].ts < watermark

    cdef inline bint late(self, int64_t ts, int64_t lateness) noexcept:
        """Older than the shop's watermark: counted and reported, never applied."""
        return self.has_max and ts < self.watermark(lateness)

    cdef int hold(self, int64_t ts, object event_id, object buyer, int kind, int sender) except -1:
        """Hold an event until the watermark passes it; the shop's latest event time follows."""
        cdef Held item
        cdef Py_ssize_t i, parent
        if not self.has_max or ts > self.max_ts:
            self.max_ts = ts
            self.has_max = True
        if self.n_held == self.cap_held:
            self.held = <Held*>_heap_resize(self.held, self.held_inline, &self.cap_held, 2 * self.cap_held,
                                            self.n_held, sizeof(Held))
        self.seq += 1
        item.ts, item.seq, item.kind, item.sender = ts, self.seq, kind, sender
        item.buyer_hash = _buyer_hash(buyer)  # the string is at hand now; when released it is not
        Py_INCREF(event_id)
        Py_INCREF(buyer)
        item.event_id, item.buyer = <PyObject*>event_id, <PyObject*>buyer
        i = self.n_held
        self.n_held += 1
        while i > 0:
            parent = (i - 1) >> 1
            if not _held_before(&item, &self.held[parent]):
                break
            self.held[i] = self.held[parent]
            i = parent
        self.held[i] = item
        return 0

    cdef int release(self, Held* out) except -1:
        """Pop the earliest held event into `out`; its references pass to the caller."""
        cdef Held last
        cdef Py_ssize_t i = 0, child, n
        out[0] = self.held[0]
        self.n_held -= 1
        n = self.n_held
        if n:
            last = self.held[n]
            while True:
                child = 2 * i + 1
                if child >= n:
                    break
                if child + 1 < n and _held_before(&self.held[child + 1], &self.held[child]):
                    child += 1
                if not _held_before(&self.held[child], &last):
                    break
                self.held[i] = self.held[child]
                i = child
            self.held[i] = last
        if self.cap_held > HEAP_SHRINK_ABOVE and n < self.cap_held // 4:
            self.held = <Held*>_resize(self.held, &self.cap_held, self.cap_held // 2, sizeof(Held))
        return 0

    # -- deadlines of open turns: a binary heap --

    cdef int push_deadline(self, int64_t at, _Turn turn) except -1:
        cdef Deadline item
        cdef Py_ssize_t i, parent
        if self.n_deadlines == self.cap_deadlines:
            self.deadlines = <Deadline*>_heap_resize(self.deadlines, self.deadlines_inline, &self.cap_deadlines,
                                                     2 * self.cap_deadlines, self.n_deadlines, sizeof(Deadline))
        Py_INCREF(turn)
        item.at, item.turn = at, <PyObject*>turn
        i = self.n_deadlines
        self.n_deadlines += 1
        while i > 0:
            parent = (i - 1) >> 1
            if not _deadline_before(&item, &self.deadlines[parent]):
                break
            self.deadlines[i] = self.deadlines[parent]
            i = parent
        self.deadlines[i] = item
        self.first_deadline = self.deadlines[0].at
        return 0

    cdef _Turn pop_deadline(self):
        cdef Deadline first = self.deadlines[0], last
        cdef Py_ssize_t i = 0, child, n
        self.n_deadlines -= 1
        n = self.n_deadlines
        if n:
            last = self.deadlines[n]
            while True:
                child = 2 * i + 1
                if child >= n:
                    break
                if child + 1 < n and _deadline_before(&self.deadlines[child + 1], &self.deadlines[child]):
                    child += 1
                if not _deadline_before(&self.deadlines[child], &last):
                    break
                self.deadlines[i] = self.deadlines[child]
                i = child
            self.deadlines[i] = last
        if self.cap_deadlines > HEAP_SHRINK_ABOVE and n < self.cap_deadlines // 4:
            self.deadlines = <Deadline*>_resize(self.deadlines, &self.cap_deadlines, self.cap_deadlines // 2,
                                                sizeof(Deadline))
        self.first_deadline = self.deadlines[0].at if n else INT64_MAX
        turn = <_Turn>first.turn
        Py_DECREF(turn)  # the heap's reference; `turn` holds its own
        return turn

    # -- days --

    cdef _Day day(self, int32_t ordinal):
        if self.recent is None or self.recent_ordinal != ordinal:
            self.recent, self.recent_ordinal = self._find_day(ordinal), ordinal
        return self.recent

    cdef _Day _find_day(self, int32_t ordinal):
        """The day in the list, made when missing."""
        cdef Py_ssize_t i = len(self.days)
        cdef _Day d
        while i > 0:
            d = <_Day>self.days[i - 1]
            if d.ordinal == ordinal:
                return d
            if d.ordinal < ordinal:
                break
            i -= 1
        d = _Day.__new__(_Day)
        d.ordinal = ordinal
        d.iso = _iso(ordinal)
        d.units = []
        self.days.insert(i, d)
        return d

    cdef void keep_days_from(self, int32_t cutoff):
        """Forget the days before `cutoff`."""
        self.days = [d for d in self.days if (<_Day>d).ordinal >= cutoff]
        if self.recent is not None and self.recent_ordinal < cutoff:
            self.recent = None

    cdef inline _Buyer find_buyer(self, str buyer, Py_hash_t buyer_hash):
        """The buyer's record, or None (buyer_hash: the id's hash)."""
        cdef PyObject* found = index_find(&self.buyer_index, buyer, buyer_hash)
        return None if found == NULL else <_Buyer>found

    cdef _Buyer buyer(self, str buyer, Py_hash_t buyer_hash):
        """The buyer's record, made when missing."""
        cdef _Buyer b = self.find_buyer(buyer, buyer_hash)
        if b is not None:
            return b
        b = _Buyer.__new__(_Buyer)
        b.buyer = buyer
        index_add(&self.buyer_index, buyer, buyer_hash, <PyObject*>b)
        Py_INCREF(b)  # the index's reference
        return b

    cdef int drop_buyer(self, _Buyer b) except -1:
        index_remove(&self.buyer_index, str_hash(<str>b.buyer), <PyObject*>b)
        Py_DECREF(b)
        return 0

    cdef list buyer_records(self):
        """Every buyer's record, in no particular order."""
        return index_values(&self.buyer_index)

    cdef list open_buyers(self):
        """The records of the buyers with an open turn, in the order their turns were opened."""
        cdef _Buyer b
        buyers = [b for b in self.buyer_records() if b.turn is not None]
        buyers.sort(key=_opening_order)
        return buyers

    cdef bint has_units(self):
        cdef _Day d
        for d in self.days:
            if d.units:
                return True
        return False


# ---- the tracker ---------------------------------------------------------------------------------


cdef Pending* _pending_for(Py_ssize_t n) except NULL:
    cdef Pending* pending = <Pending*>PyMem_Malloc(max(n, 1) * sizeof(Pending))
    if pending == NULL:
        raise MemoryError()
    return pending


@cython.final
cdef class ReplyTracker:
    """Reply-rate tracking in event time for the platforms of `profiles` (see stream_guard.tracking.replies)."""
    cdef readonly dict profiles
    cdef readonly int64_t lateness
    cdef readonly int64_t late_events  # events older than their shop's watermark; process-local
    cdef dict _platforms  # name -> _Platform
    cdef PyObject** _platform_at  # the _Platforms of _platforms (which owns them), in a C array
    cdef Py_ssize_t _n_platforms
    cdef Release* _releases  # observe_batch's held events to apply, in order; empty between batches
    cdef Py_ssize_t _cap_releases
    # the key objects of the fields read, as the events of the last batch spelled them: a lookup
    # with the dict's own key object matches by identity (a decoder's keys are its own strings)
    cdef object _k_platform, _k_shop_id, _k_ts, _k_event_id, _k_buyer_id, _k_kind, _k_sender
    cdef tuple _key_objects  # the same keys in F_* order, owning what _keys points at
    cdef PyObject* _keys[F_COUNT]
    cdef dict _shops  # (platform, shop_id) -> _Shop, in order of appearance
    cdef dict _closed  # (platform, shop_id) -> rows of closed days not yet drained

    def __init__(self, profiles, allowed_lateness_ms=60_000):
        cdef dict clocks = {}
        self.profiles = dict(profiles)
        self.lateness = allowed_lateness_ms
        self._platforms = {}
        for name, profile in self.profiles.items():
            clock = clocks.get(profile.timezone)
            if clock is None:
                clock = clocks[profile.timezone] = _Clock(profile.timezone)
            self._platforms[name] = _Platform(name, profile, clock)
        self._n_platforms = len(self._platforms)
        self._platform_at = <PyObject**>PyMem_Malloc(max(self._n_platforms, 1) * sizeof(PyObject*))
        if self._platform_at == NULL:
            raise MemoryError()
        for i, plat in enumerate(self._platforms.values()):  # the dict is not changed after this
            self._platform_at[i] = <PyObject*>plat
        self._k_platform, self._k_shop_id, self._k_ts = "platform", "shop_id", "ts"
        self._k_event_id, self._k_buyer_id, self._k_kind, self._k_sender = "event_id", "buyer_id", "kind", "sender"
        self._set_keys()
        self._shops = {}
        self._closed = {}

    def __dealloc__(self):
        PyMem_Free(self._platform_at)
        PyMem_Free(self._releases)

    # ---- input ---------------------------------------------------------------------------------

    def observe(self, event):
        """Take one validated chat event; return what was decided because of it."""
        out = []
        self._observe(event, out)
        return out

    def observe_batch(self, events):
        """`observe` each event in order; all that was decided, in one list.

        Two passes: the first finds every event's shop (creating new shops in event order) and
        asks the CPU to fetch the shop's state; the second applies the events in order. At 10k
        shops most shops are cold, and lookups that do not wait on each other overlap their
        cache misses, where one event at a time would pay each miss in turn."""
        cdef list batch = events if type(events) is list else list(events)
        cdef Py_ssize_t n = len(batch), i, ready
        cdef Pending* pending
        cdef list out = []
        for event in batch:
            if type(event) is dict:
                self._learn_keys(<dict>event)
                break
        pending = _pending_for(n)
        try:
            ready = self._resolve(batch, pending, n)
            self._apply_resolved(pending, ready, out)
            # from the first event the first pass could not take (not a dict, a field missing or
            # mistyped), one at a time: the same results, and the same error at the same event
            for i in range(ready, n):
                self._observe(batch[i], out)
        finally:
            PyMem_Free(pending)
        return out

    def observe_decoded(self, batch, Py_ssize_t start=0):
        """`observe_batch` for the events of an `EventBatch` (the engine's decoded columns, whose
        fields `events.decode` has checked) from position `start` on."""
        cdef list platforms = batch.platform, shop_ids = batch.shop_id, times = batch.ts
        cdef list event_ids = batch.event_id, buyers = batch.buyer_id, kinds = batch.kind, senders = batch.sender
        cdef Py_ssize_t n = len(platforms) - start, i, begin, end
        cdef _Platform plat
        cdef Pending* pending
        cdef list out = []
        if n <= 0:
            return out
        pending = _pending_for(n)
        try:
            for begin in range(0, n, CHUNK):
                end = min(n, begin + CHUNK)
                # the shops' index lines first, all together: the lookups below then find them
                # fetched, where one at a time each would wait for its own
                for i in range(begin, end):
                    # the decoded objects are cold by now (a batch's worth were made since): each
                    # is asked for a few events before it is read
                    if i + PREFETCH_EVENT < end:
                        _prefetch2(PyList_GET_ITEM(shop_ids, start + i + PREFETCH_EVENT))
                    plat = self._platform(platforms[start + i])
                    pending[i].plat = <PyObject*>plat if plat is not None else NULL
                    if plat is not None:
                        shop_id = shop_ids[start + i]
                        pending[i].shop_hash = _id_hash(shop_id)
                        plat.prefetch_shop(shop_id, pending[i].shop_hash)
                for i in range(begin, end):
                    if i + PREFETCH_EVENT < end:
                        _prefetch_line(PyList_GET_ITEM(times, start + i + PREFETCH_EVENT))
                    # the ids are borrowed, not taken: a reference would read them here, where
                    # the second pass reads them (asked for ahead there)
                    self._pend(&pending[i], shop_ids[start + i], _event_time(times[start + i]),
                               PyList_GET_ITEM(event_ids, start + i), PyList_GET_ITEM(buyers, start + i),
                               kinds[start + i], senders[start + i])
                self._apply_chunk(&pending[begin], end - begin, out)
        finally:
            PyMem_Free(pending)
        return out

    cdef int _apply_resolved(self, Pending* pending, Py_ssize_t ready, list out) except -1:
        """Apply the first `ready` resolved events in order, CHUNK at a time."""
        cdef Py_ssize_t begin
        for begin in range(0, ready, CHUNK):
            self._apply_chunk(&pending[begin], min(CHUNK, ready - begin), out)
        return 0

    cdef int _apply_chunk(self, Pending* pending, Py_ssize_t ready, list out) except -1:
        """The second and third passes over `ready` resolved events.

        Second: in order, each event is held (or found late), and the held events its watermark
        passes are taken from its shop's heap into `_releases`. That is heap work only, which the
        state machine never touches, so taking them all first gives the order of one event at a
        time. Third: in order, the late events are reported and the taken events applied, each
        event's watermark then deciding the overdue turns and closing days. Knowing the events
        to apply before applying them, the third pass fetches what each will read a few events
        ahead, one link of the chain at a time (index line, record, open turn, consult), where
        applying them one by one waited on each link in turn."""
        cdef Py_ssize_t i, taken = 0, applied = 0
        cdef Pending* p
        cdef _Shop shop
        try:
            for i in range(ready):
                if i + PREFETCH_HEAPS < ready and pending[i + PREFETCH_HEAPS].shop != NULL:
                    (<_Shop>pending[i + PREFETCH_HEAPS].shop).prefetch_heaps()
                    # holding the event takes its ids (and hashes the buyer's)
                    _prefetch_line(pending[i + PREFETCH_HEAPS].event_id)
                    _prefetch2(pending[i + PREFETCH_HEAPS].buyer)
                p = &pending[i]
                if p.shop != NULL:
                    shop = <_Shop>p.shop
                    p.late = shop.late(p.ts, self.lateness)
                    if not p.late:
                        shop.hold(p.ts, <object>p.event_id, <object>p.buyer, p.kind, p.sender)
                        p.watermark = shop.watermark(self.lateness)
                        while shop.passed(p.watermark):
                            if taken == self._cap_releases:
                                self._releases = <Release*>_resize(self._releases, &self._cap_releases,
                                                                   max(1024, 2 * self._cap_releases), sizeof(Release))
                            shop.release(&self._releases[taken].item)
                            self._releases[taken].shop = p.shop
                            self._releases[taken].slot = index_slot(&shop.buyer_index,
                                                                    self._releases[taken].item.buyer_hash)
                            taken += 1
                p.released = taken
            for i in range(ready):
                p = &pending[i]
                if p.shop == NULL:
                    continue
                shop = <_Shop>p.shop
                if p.late:
                    self._report_late(shop, p.ts, <object>p.event_id, <object>p.buyer, out)
                    continue
                while applied < p.released:
                    self._prefetch_releases(applied, taken)
                    applied += 1  # first: applying it takes over the event's references
                    self._apply_released(shop, &self._releases[applied - 1].item, out)
                self._after_watermark(shop, p.watermark, out)
        finally:
            for i in range(applied, taken):  # an error stopped the third pass: drop what it left
                _drop_held(&self._releases[i].item)
        return 0

    cdef inline void _prefetch_releases(self, Py_ssize_t r, Py_ssize_t taken) noexcept:
        """Fetch, for the events to be applied after the r-th, the link of the chain each stage
        asks for; the link before it was asked for a few events earlier."""
        cdef Release* rel
        cdef PyObject* found
        cdef _Buyer b
        if r + PREFETCH_SLOT < taken:
            # nothing read but the release itself: the shop's lines may be cold here
            rel = &self._releases[r + PREFETCH_SLOT]
            _prefetch(rel.shop)
            if rel.slot != NULL:
                _prefetch2(rel.slot)  # the index line and the next: a probe may go on
            _prefetch_line(rel.item.buyer)
            _prefetch_line(rel.item.event_id)
        if r + PREFETCH_RECORD < taken:
            rel = &self._releases[r + PREFETCH_RECORD]
            found = index_guess(&(<_Shop>rel.shop).buyer_index, rel.item.buyer_hash)  # lines the slot stage asked for
            if found != NULL:
                _prefetch2(found)
            if (<_Shop>rel.shop).first_deadline < rel.item.ts:  # a turn goes overdue before it
                _prefetch_line(<PyObject*>(<_Shop>rel.shop).deadlines)
            _prefetch_line(<PyObject*>(<_Shop>rel.shop).shop_id)  # an outcome names the shop
            if _opens(&rel.item):  # the latest day's consults, where a new one is added
                _prefetch_line(<PyObject*>(<_Shop>rel.shop).recent)
        if r + PREFETCH_STATE < taken:
            rel = &self._releases[r + PREFETCH_STATE]
            if (<_Shop>rel.shop).first_deadline < rel.item.ts:
                _prefetch2((<_Shop>rel.shop).deadlines[0].turn)
            if _opens(&rel.item) and (<_Shop>rel.shop).recent is not None:
                _prefetch_line(<PyObject*>(<_Shop>rel.shop).recent.units)
            b = self._guessed_buyer(r + PREFETCH_STATE)
            if b is not None:
                if b.turn is not None:
                    _prefetch2(<PyObject*>b.turn)
                if b.session is not None:
                    _prefetch2(<PyObject*>b.session)
                elif b.unit is not None:
                    _prefetch2(<PyObject*>b.unit)
        if r + PREFETCH_UNIT < taken:
            rel = &self._releases[r + PREFETCH_UNIT]
            if _opens(&rel.item) and (<_Shop>rel.shop).recent is not None:
                _prefetch_list_end(<PyObject*>(<_Shop>rel.shop).recent.units)
            b = self._guessed_buyer(r + PREFETCH_UNIT)
            if b is not None and b.turn is not None:
                _prefetch2(<PyObject*>b.turn.unit)

    cdef inline _Buyer _guessed_buyer(self, Py_ssize_t k):
        """The record of the k-th release's buyer, as far as its index lines tell (for
        prefetching only), or None."""
        cdef Release* rel = &self._releases[k]
        cdef PyObject* found = index_guess(&(<_Shop>rel.shop).buyer_index, rel.item.buyer_hash)
        return None if found == NULL else <_Buyer>found

    cdef Py_ssize_t _resolve(self, list batch, Pending* pending, Py_ssize_t n) except -1:
        """Fill `pending` for the leading events of the batch that are dicts with well-typed
        fields; the number filled."""
        cdef Py_ssize_t i
        cdef PyObject* fields[F_COUNT]
        cdef PyObject* event_id
        cdef PyObject* buyer
        cdef _Platform plat
        cdef int64_t ts
        for i in range(n):
            event = batch[i]
            if type(event) is not dict:
                return i
            self._fields(<dict>event, fields)
            if fields[F_PLATFORM] == NULL:
                return i
            plat = self._platform(<object>fields[F_PLATFORM])
            if plat is None:
                pending[i].plat = pending[i].shop = NULL  # not a tracked platform: nothing to do
                continue
            pending[i].plat = <PyObject*>plat
            if (fields[F_SHOP_ID] == NULL or fields[F_TS] == NULL or type(<object>fields[F_TS]) is not int
                    or not _placeable(<object>fields[F_TS], &ts)):
                return i
            pending[i].shop_hash = _id_hash(<object>fields[F_SHOP_ID])
            event_id = <PyObject*>"" if fields[F_EVENT_ID] == NULL else fields[F_EVENT_ID]
            buyer = <PyObject*>"" if fields[F_BUYER_ID] == NULL else fields[F_BUYER_ID]
            if type(<object>event_id) is not str or type(<object>buyer) is not str:
                return i
            self._pend(&pending[i], <object>fields[F_SHOP_ID], ts, event_id, buyer,
                       None if fields[F_KIND] == NULL else <object>fields[F_KIND],
                       None if fields[F_SENDER] == NULL else <object>fields[F_SENDER])
        return n

    cdef int _pend(self, Pending* p, object shop_id, int64_t ts, PyObject* event_id, PyObject* buyer,
                   object kind, object sender) except -1:
        """One event of the first pass, whose platform (`p.plat`) and shop hash (`p.shop_hash`)
        are known, and its time taken (checked by the caller): its shop found (and asked for),
        its fields in C."""
        if p.plat == NULL:
            p.shop = NULL  # not a tracked platform: nothing to do
            return 0
        plat = <_Platform>p.plat
        p.ts = ts
        p.event_id = event_id  # borrowed: the batch holds them
        p.buyer = buyer
        p.kind = _kind(kind)
        p.sender = _sender(sender)
        p.shop = self._shop(plat, shop_id, p.shop_hash)
        _prefetch(p.shop)
        return 0

    cdef int _fields(self, dict event, PyObject** fields) except -1:
        """The fields the tracker reads (NULL: absent), borrowed. One walk over the event matches
        the decoder's own key objects by identity, cheaper than seven lookups; a field spelt
        with another key object is then looked up."""
        cdef Py_ssize_t pos = 0, i
        cdef PyObject* key
        cdef PyObject* value
        cdef PyObject** keys = self._keys
        for i in range(F_COUNT):
            fields[i] = NULL
        while PyDict_Next(event, &pos, &key, &value):
            for i in range(F_COUNT):
                if key == keys[i]:
                    fields[i] = value
                    break
        for i in range(F_COUNT):
            if fields[i] == NULL:
                fields[i] = PyDict_GetItemWithError(event, <object>keys[i])
                if fields[i] == NULL and PyErr_Occurred():
                    return -1
        return 0

    cdef void _learn_keys(self, dict event):
        for key in event:
            if type(key) is not str:
                continue
            if key == "platform":
                self._k_platform = key
            elif key == "shop_id":
                self._k_shop_id = key
            elif key == "ts":
                self._k_ts = key
            elif key == "event_id":
                self._k_event_id = key
            elif key == "buyer_id":
                self._k_buyer_id = key
            elif key == "kind":
                self._k_kind = key
            elif key == "sender":
                self._k_sender = key
        self._set_keys()

    cdef void _set_keys(self):
        cdef Py_ssize_t i
        self._key_objects = (self._k_platform, self._k_shop_id, self._k_ts, self._k_event_id, self._k_buyer_id,
                             self._k_kind, self._k_sender)
        for i in range(F_COUNT):
            self._keys[i] = <PyObject*>self._key_objects[i]

    cdef _Platform _platform(self, object name):
        """The platform called `name`, or None: a few string comparisons, no hashing of a
        freshly decoded string. The decoder gives the names of its platform list, usually the
        profiles' own objects: their identity is tried first."""
        cdef Py_ssize_t i
        if type(name) is not str:
            return self._platforms.get(name)
        # a C array, not the tuple: no reference counting or type test per platform tried
        for i in range(self._n_platforms):
            if (<_Platform>self._platform_at[i]).name is name:
                return <_Platform>self._platform_at[i]
        for i in range(self._n_platforms):
            if str_equal((<_Platform>self._platform_at[i]).name, <str>name):
                return <_Platform>self._platform_at[i]
        return None

    def finish(self):
        """The input is over: apply everything held and decide every open turn. Shops left
        without any day (no turn was ever opened, or all their days are closed) are forgotten."""
        cdef list out = []
        cdef _Shop shop
        cdef _Buyer b
        for shop in list(self._shops.values()):
            self._advance(shop, False, 0, out)
            for b in sorted(shop.open_buyers(), key=_buyer_id):
                out.append(self._end(shop, b, b.buyer, False, 0))
            if not shop.has_units() and shop.n_held == 0:
                self._forget(shop)
        return out

    cdef int _observe(self, object event, list out) except -1:
        cdef dict e = event if type(event) is dict else dict(event)
        cdef _Platform plat
        cdef _Shop shop
        cdef int64_t ts
        plat = self._platform(e[self._k_platform])
        if plat is None:
            return 0
        shop_id = e[self._k_shop_id]
        ts = _event_time(e[self._k_ts])
        shop = <_Shop>self._shop(plat, shop_id, _id_hash(shop_id))
        event_id = e.get(self._k_event_id, "")
        buyer = e.get(self._k_buyer_id, "")
        if self._late(shop, ts, event_id, buyer, out):
            return 0
        if type(event_id) is not str or type(buyer) is not str:
            raise TypeError("event_id and buyer_id must be strings")
        return self._take(shop, ts, event_id, buyer, _kind(e.get(self._k_kind)), _sender(e.get(self._k_sender)), out)

    cdef PyObject* _shop(self, _Platform plat, object shop_id, Py_hash_t shop_hash) except NULL:
        """The shop's state, made when missing, borrowed (its platform owns it; see find_shop)
        (shop_hash: _id_hash(shop_id))."""
        cdef PyObject* found = plat.find_shop(shop_id, shop_hash)
        if found != NULL:
            return found
        shop = _Shop(plat, shop_id)
        plat.add_shop(shop)
        self._shops[(plat.name, shop_id)] = shop
        return <PyObject*>shop

    cdef bint _late(self, _Shop shop, int64_t ts, object event_id, object buyer, list out) except -1:
        """An event older than its shop's watermark is counted and reported, not applied."""
        if shop.late(ts, self.lateness):
            self._report_late(shop, ts, event_id, buyer, out)
            return True
        return False

    cdef int _report_late(self, _Shop shop, int64_t ts, object event_id, object buyer, list out) except -1:
        self.late_events += 1
        out.append(_outcome("late_event", shop, buyer, "", ts, None, False, event_id))
        return 0

    cdef int _take(self, _Shop shop, int64_t ts, object event_id, object buyer, int kind, int sender,
                   list out) except -1:
        """Hold an event in time and apply what the watermark has passed."""
        shop.hold(ts, event_id, buyer, kind, sender)
        return self._advance(shop, True, shop.watermark(self.lateness), out)

    # ---- event time ------------------------------------------------------------------------------

    cdef int _advance(self, _Shop shop, bint bounded, int64_t watermark, list out) except -1:
        """Apply the held events older than the watermark (all of them when not bounded)."""
        cdef Held item
        while (shop.passed(watermark) if bounded else shop.n_held):
            shop.release(&item)
            self._apply_released(shop, &item, out)
        if bounded:
            self._after_watermark(shop, watermark, out)
        return 0

    def advance_shops(self, shops, ts):
        """Event time has reached `ts` for these shops ((platform, shop_id) pairs; the shops of
        one input partition, whose time it is: see stream_guard/worker/partition_time.py).

        Each shop held here that is behind `ts`, and whose state the watermark `ts` less the
        allowed lateness would change (a held event it passes, an open turn's deadline, a local
        day that turns), moves to it as though an event at `ts` had come that changes nothing
        else: held events are applied, overdue turns decided, old days closed, and later events
        older than that watermark are late. A shop with nothing due is left as it is, so that
        the caller has nothing of it to write. Returns (outcomes, the pairs advanced)."""
        cdef int64_t t = _event_time(ts)
        cdef int64_t watermark = t - self.lateness
        cdef _Platform plat
        cdef _Shop shop
        cdef list out = [], advanced = []
        for key in shops:
            platform, shop_id = key
            plat = self._platforms.get(platform)
            if plat is None:
                continue
            shop = plat.shops.get(shop_id)
            if shop is None or not shop.has_max or t <= shop.max_ts or not self._due(shop, watermark):
                continue
            shop.max_ts = t
            self._advance(shop, True, watermark, out)
            advanced.append(key)
        return out, advanced

    cdef bint _due(self, _Shop shop, int64_t watermark) except -1:
        """Whether the watermark would change the shop: it passes a held event, the deadline of
        an open turn not yet overdue, or the end of the local day of the last day-closing check."""
        cdef int32_t day, second
        cdef _Turn turn
        if shop.passed(watermark):
            return True
        while shop.first_deadline < watermark:
            turn = <_Turn>shop.deadlines[0].turn
            if not turn.closed and not turn.overdue:
                return True
            shop.pop_deadline()  # a closed or decided turn's entry: nothing comes of it
        if watermark < shop.watermark_day_end:
            return False
        shop.plat.clock.at(watermark, &day, &second)
        if shop.has_watermark_day and day == shop.watermark_day:
            shop.watermark_day_end = shop.plat.clock.day_end(watermark)  # a bound, not state
            return False
        return True

    def shop_time(self, platform, shop_id):
        """The latest event time the shop has reached (its own events' or, through
        `advance_shops`, its partition's), or None for a shop not held or without one."""
        cdef _Platform plat = self._platforms.get(platform)
        cdef _Shop shop = plat.shops.get(shop_id) if plat is not None else None
        return shop.max_ts if shop is not None and shop.has_max else None

    cdef int _apply_released(self, _Shop shop, Held* item, list out) except -1:
        """Apply a held event the watermark passed, taking over the references it holds."""
        event_id = <object>item.event_id
        buyer = <object>item.buyer
        Py_DECREF(event_id)  # the locals own them now
        Py_DECREF(buyer)
        # turns whose deadline passed before this event are overdue now
        self._mark_overdue(shop, item.ts - 1, out)
        return self._apply(shop, item.ts, buyer, item.buyer_hash, item.kind, item.sender, out)

    cdef int _after_watermark(self, _Shop shop, int64_t watermark, list out) except -1:
        """The shop's watermark is here: decide the turns it made overdue, close the days it left."""
        self._mark_overdue(shop, watermark, out)
        # the watermark only moves forward: short of the end of the day of the last check, it is
        # still on that day and nothing can close
        if watermark >= shop.watermark_day_end:
            self._close_old_days(shop, watermark, out)
        return 0

    cdef int _mark_overdue(self, _Shop shop, int64_t now, list out) except -1:
        cdef _Turn turn
        while shop.first_deadline < now:
            turn = shop.pop_deadline()
            if not turn.closed and not turn.overdue:
                turn.overdue = True
                self._decide(shop, turn, False)
                out.append(_outcome("reply_missed", shop, turn.buyer, turn.day_iso, turn.opened_ts, None,
                                    turn.counted, ""))
        return 0

    # ---- the state machine -----------------------------------------------------------------------

    cdef int _apply(self, _Shop shop, int64_t ts, object buyer, Py_hash_t buyer_hash, int kind, int sender,
                    list out) except -1:
        cdef _Platform plat = shop.plat
        cdef int32_t day, second
        cdef _Day d
        cdef _Buyer b
        if kind == K_EXCLUDING:
            plat.clock.at(ts, &day, &second)
            d = shop.day(day)
            if d.excluded is None:
                d.excluded = set()
            d.excluded.add(buyer)
            return 0
        if kind == K_HANDOFF:
            if plat.handoff_clock:  # elsewhere a hand-off changes nothing worth remembering
                b = shop.buyer(buyer, buyer_hash)
                b.handed_off = True
                if b.turn is None:
                    self._open(shop, b, ts)
            return 0
        if kind != K_MESSAGE:
            return 0
        if sender == S_BUYER:
            if plat.handoff_clock:
                b = shop.find_buyer(buyer, buyer_hash)
                if b is None or not b.handed_off:
                    return 0  # the bot serves this buyer; the clock has not started
                if (b.turn is None and b.session is not None and plat.unit == U_SESSION
                        and ts - b.session.last_ts >= plat.gap_ms):
                    # a hand-off lasts for its session: a buyer back after the gap starts
                    # with the bot again, and the clock waits for the next hand-off
                    b.handed_off = False
                    return 0
            else:
                b = shop.buyer(buyer, buyer_hash)
            if b.turn is None:
                self._open(shop, b, ts)
            elif plat.unit == U_SESSION:
                b.session.last_ts = ts
            return 0
        if sender == S_AGENT or (sender == S_BOT and plat.bots_count):
            b = shop.find_buyer(buyer, buyer_hash)
            if b is None:
                return 0
            if b.session is not None:
                b.session.last_ts = ts
            if b.turn is not None:
                out.append(self._end(shop, b, buyer, True, ts))  # the event's id: in cache
        return 0

    cdef int _open(self, _Shop shop, _Buyer b, int64_t ts) except -1:
        cdef _Platform plat = shop.plat
        cdef _Session session, previous
        cdef _Unit unit
        cdef _Day d
        cdef _Turn turn
        cdef bint counted
        cdef int32_t day, second
        plat.clock.at(ts, &day, &second)
        if plat.unit == U_SESSION:
            previous = b.session
            if previous is None or ts - previous.last_ts >= plat.gap_ms:
                session = _Session.__new__(_Session)
                session.start_ts = ts
                session.day = shop.day(day)
                session.start_second = second
                if previous is not None and previous.start_ts == ts:
                    # a session starting at the same instant as the one it follows (no gap at
                    # all) has the same (day, buyer, start) and so the same consult
                    session.unit = previous.unit
                else:
                    session.unit = _new_unit(session.day, b.buyer)
                b.session = session
            else:
                session = previous
            session.last_ts = ts
            unit = session.unit
            d = session.day
            counted = plat.in_service(session.start_second if plat.count_by_start else second)
        elif plat.unit == U_BUYER_DAY:
            d = shop.day(day)
            if b.unit is None or b.unit_day != day:
                b.unit = _new_unit(d, b.buyer)
                b.unit_day = day
            unit = b.unit
            counted = plat.in_service(second)
        else:
            d = shop.day(day)
            unit = _new_unit(d, b.buyer)
            counted = plat.in_service(second)
        unit.counted = unit.counted or counted
        turn = _Turn.__new__(_Turn)
        turn.buyer = b.buyer
        turn.opened_ts = ts
        shop.opened += 1
        turn.seq = shop.opened
        turn.day = d.ordinal
        turn.day_iso = d.iso
        turn.unit = unit
        turn.counted = counted
        b.turn = turn
        shop.n_open += 1
        shop.push_deadline(ts + plat.threshold_ms, turn)
        return 0

    cdef Outcome _end(self, _Shop shop, _Buyer b, object buyer, bint replied, int64_t replied_ts):
        """Close the buyer's open turn; `buyer` is the buyer's id for the outcome (any string
        equal to it: a reply's own is in cache, where the record's first-seen one may not be)."""
        cdef _Turn turn = b.turn
        b.turn = None
        shop.n_open -= 1
        return self._close(shop, turn, buyer, replied, replied_ts)

    cdef void _decide(self, _Shop shop, _Turn turn, bint valid) noexcept:
        """A turn's validity is known: fold it into its unit (once)."""
        cdef _Unit unit = turn.unit
        if not turn.counted:
            return
        if shop.plat.unit == U_SESSION and shop.plat.first_reply:
            if unit.decided == 0:
                unit.valid = valid
        else:
            unit.valid = unit.valid and valid
        unit.decided += 1

    cdef Outcome _close(self, _Shop shop, _Turn turn, object buyer, bint replied, int64_t replied_ts):
        if not replied:
            kind = "missed"
            if not turn.overdue:
                self._decide(shop, turn, False)
        elif replied_ts - turn.opened_ts <= shop.plat.threshold_ms and not turn.overdue:
            kind = "valid"
            self._decide(shop, turn, True)
        else:
            kind = "late"
            if not turn.overdue:
                self._decide(shop, turn, False)
        turn.closed = True
        return _outcome(kind, shop, buyer, turn.day_iso, turn.opened_ts,
                        replied_ts if replied else None, turn.counted, "")

    cdef int _close_old_days(self, _Shop shop, int64_t watermark, list out) except -1:
        """Keep state for the watermark's local day and the day before only: older days are
        final. Their figures move to the closed rows, their open turns end as missed."""
        cdef int32_t watermark_day, second, cutoff
        cdef _Day d
        cdef _Buyer b
        shop.plat.clock.at(watermark, &watermark_day, &second)
        shop.watermark_day_end = shop.plat.clock.day_end(watermark)
        if shop.has_watermark_day and watermark_day == shop.watermark_day:
            return 0  # the day has not turned since the last check
        shop.has_watermark_day = True
        shop.watermark_day = watermark_day
        cutoff = watermark_day - 1
        for d in shop.days:  # the oldest day with a consult decides whether anything closes
            if d.units:
                break
        else:
            return 0
        if d.ordinal >= cutoff:
            return 0
        for b in shop.open_buyers():
            if b.turn.day < cutoff:
                out.append(self._end(shop, b, b.buyer, False, 0))
        rows = []
        for d in shop.days:
            if d.ordinal >= cutoff:
                break
            row = self._row(shop, d)
            if row is not None:
                row["final"] = True  # closed by the watermark: no later event can change it
                rows.append(row)
        if rows:
            key = (shop.plat.name, shop.shop_id)
            closed = self._closed.get(key)
            if closed is None:
                self._closed[key] = rows
            else:
                closed.extend(rows)
        shop.keep_days_from(cutoff)
        for b in shop.buyer_records():
            if b.session is not None and b.session.day.ordinal < cutoff:
                b.session = None
                b.handed_off = False  # the hand-off ended with its session
            if b.unit is not None and b.unit_day < cutoff:
                b.unit = None
            if b.turn is None and b.session is None and b.unit is None and not b.handed_off:
                shop.drop_buyer(b)  # nothing left to remember
        return 0

    cdef void _forget(self, _Shop shop):
        del self._shops[(shop.plat.name, shop.shop_id)]
        shop.plat.drop_shop(shop)

    # ---- figures ---------------------------------------------------------------------------------

    cdef object _row(self, _Shop shop, _Day d):
        """The day's figures, or None when it has no counted consult."""
        cdef _Platform plat = shop.plat
        cdef _Unit unit
        cdef int64_t consults = 0, valid = 0
        cdef set excluded = d.excluded
        for unit in d.units:
            if not unit.counted or (excluded is not None and unit.buyer in excluded):
                continue
            consults += 1
            if unit.valid and unit.decided > 0:
                valid += 1
        if not consults:
            return None
        rate = valid / <double>consults
        risk = plat.has_penalty and consults >= plat.penalty_min_consults and rate < plat.penalty_max_rate
        return {"platform": plat.name, "shop_id": shop.shop_id, "day": d.iso, "consults": consults,
                "valid": valid, "rate": rate, "penalty_risk": risk,
                "penalty_fine_cny": plat.penalty_fine_cny if risk else 0, "final": False}

    def shop_days(self):
        """One row per platform, shop and local day: consults, valid, rate, penalty_risk; the
        closed days not yet drained and the days still open."""
        cdef _Shop shop
        cdef _Day d
        rows = [row for closed in self._closed.values() for row in closed]
        for shop in self._shops.values():
            for d in shop.days:
                row = self._row(shop, d)
                if row is not None:
                    rows.append(row)
        rows.sort(key=_row_key)
        return rows

    def drain_closed_rows(self):
        """The rows of closed days, handed over once: they are forgotten here."""
        rows = [row for closed in self._closed.values() for row in closed]
        rows.sort(key=_row_key)
        self._closed = {}
        return rows

    def current_rows(self, platform=None):
        """The row of each shop's latest open local day with a consult (of one platform or all),
        in no particular order. Costs one pass over the consults of that day per shop."""
        cdef _Shop shop
        cdef _Day d
        cdef Py_ssize_t i
        cdef _Platform plat
        out = []
        for plat in self._platforms.values():
            if platform is not None and plat.name != platform:
                continue
            for shop in plat.shops.values():
                for i in range(len(shop.days) - 1, -1, -1):
                    row = self._row(shop, <_Day>shop.days[i])
                    if row is not None:
                        out.append(row)
                        break
        return out

    def shop_rows(self, platform, shop_id):
        """The rows of one shop's open days (none when the tracker does not hold the shop)."""
        cdef _Platform plat = self._platforms.get(platform)
        cdef _Shop shop = plat.shops.get(shop_id) if plat is not None else None
        cdef _Day d
        if shop is None:
            return []
        rows = [self._row(shop, d) for d in shop.days]
        return [row for row in rows if row is not None]

    def forget_shop(self, platform, shop_id):
        """Drop a shop's state and undrained rows: another process owns it now (its partition
        was revoked), and will restore it from its snapshot."""
        cdef _Platform plat = self._platforms.get(platform)
        cdef _Shop shop = plat.shops.get(shop_id) if plat is not None else None
        if shop is not None:
            self._forget(shop)
        self._closed.pop((platform, shop_id), None)

    def open_turn_count(self):
        """Buyers waiting for a reply now, over all shops."""
        cdef _Shop shop
        cdef Py_ssize_t n = 0
        for shop in self._shops.values():
            n += shop.n_open
        return n

    def shop_count(self):
        return len(self._shops)

    # ---- snapshots -------------------------------------------------------------------------------

    def snapshot_shop(self, platform, shop_id):
        """A shop's whole state, and its closed rows not yet drained, as deterministic bytes
        (orjson; held events, sessions and sets in sorted order). The deadline heap is not
        stored: it is rebuilt from the open turns that are not yet overdue. None when the
        tracker holds nothing of the shop (it was forgotten with no day left, and its closed
        rows were drained): a changelog deletes its key then."""
        cdef _Shop shop = (<_Platform>self._platforms[platform]).shops.get(shop_id)
        cdef Py_ssize_t i
        cdef _Day d
        cdef _Unit unit
        cdef _Turn turn
        cdef _Buyer b
        if shop is None:
            closed = self._closed.get((platform, shop_id))
            if not closed:
                return None
            shop = _Shop(self._platforms[platform], shop_id)  # rows only: an empty shop carries them
        held = sorted((shop.held[i].ts, <object>shop.held[i].event_id, shop.held[i].seq,
                       <object>shop.held[i].buyer, shop.held[i].kind, shop.held[i].sender)
                      for i in range(shop.n_held))
        index = {}  # id(unit) -> position in the flat list of units
        days = []
        for d in shop.days:
            units = []
            for unit in d.units:
                index[id(unit)] = len(index)
                units.append([unit.buyer, unit.counted, unit.valid, unit.decided])
            days.append([d.ordinal, sorted(d.excluded or ()), units])
        turns = []
        for b in shop.open_buyers():
            turn = b.turn
            turns.append([turn.buyer, turn.opened_ts, turn.day, turn.counted, turn.overdue, index[id(turn.unit)]])
        buyers = sorted([(b.buyer, b) for b in shop.buyer_records()])  # ids are unique: never compares b
        sessions = [[buyer, b.session.start_ts, b.session.last_ts, b.session.day.ordinal, b.session.start_second,
                     index[id(b.session.unit)]]
                    for buyer, b in buyers if b.session is not None]
        return orjson.dumps([
            SNAPSHOT_VERSION, platform, shop_id, shop.max_ts if shop.has_max else None,
            shop.watermark_day if shop.has_watermark_day else None, shop.seq,
            [list(h) for h in held], days, turns, sessions, [buyer for buyer, b in buyers if b.handed_off],
            self._closed.get((platform, shop_id), []),
        ])

    def restore_shop(self, data):
        """Put a shop back as `snapshot_shop` saw it (replacing any state of that shop here).
        The tracker must have the same profile for its platform as the one that took it."""
        cdef _Shop shop
        cdef _Day d
        cdef _Unit unit
        cdef _Turn turn
        cdef _Session session
        cdef _Buyer b
        cdef list units = []
        (version, platform, shop_id, max_ts, watermark_day, seq, held, days, turns, sessions, handed_off,
         closed) = orjson.loads(data)
        if version != SNAPSHOT_VERSION or platform not in self._platforms:
            raise ValueError("not a reply-tracker snapshot of this tracker's platforms")
        shop = _Shop(self._platforms[platform], shop_id)
        shop.has_max = max_ts is not None
        shop.max_ts = max_ts or 0
        shop.has_watermark_day = watermark_day is not None
        shop.watermark_day = watermark_day or 0
        for ts, event_id, item_seq, buyer, kind, sender in held:
            shop.seq = item_seq - 1  # hold() numbers it: keep the stored arrival number
            shop.hold(ts, event_id, buyer, kind, sender)
        shop.seq = seq
        for ordinal, excluded, day_units in days:
            d = shop.day(ordinal)
            if excluded:
                d.excluded = set(excluded)
            for buyer, counted, valid, decided in day_units:
                unit = _new_unit(d, buyer)
                unit.counted, unit.valid, unit.decided = counted, valid, decided
                if shop.plat.unit == U_BUYER_DAY:  # days in order: the latest day's unit stays
                    b = shop.buyer(buyer, _buyer_hash(buyer))
                    b.unit, b.unit_day = unit, ordinal
                units.append(unit)
        for buyer, opened_ts, ordinal, counted, overdue, at in turns:  # in opening order
            b = shop.buyer(buyer, _buyer_hash(buyer))
            turn = _Turn.__new__(_Turn)
            turn.buyer, turn.opened_ts, turn.unit = b.buyer, opened_ts, units[at]
            turn.day, turn.day_iso = ordinal, shop.day(ordinal).iso
            turn.counted, turn.overdue = counted, overdue
            shop.opened += 1
            turn.seq = shop.opened
            b.turn = turn
            shop.n_open += 1
            if not overdue:
                shop.push_deadline(opened_ts + shop.plat.threshold_ms, turn)
        for buyer, start_ts, last_ts, ordinal, start_second, at in sessions:
            session = _Session.__new__(_Session)
            session.start_ts, session.last_ts, session.day = start_ts, last_ts, shop.day(ordinal)
            session.start_second, session.unit = start_second, units[at]
            shop.buyer(buyer, _buyer_hash(buyer)).session = session
        for buyer in handed_off:
            shop.buyer(buyer, _buyer_hash(buyer)).handed_off = True
        key = (platform, shop_id)
        self._shops[key] = shop
        shop.plat.add_shop(shop)
        self._closed.pop(key, None)
        if closed:
            self._closed[key] = closed


cdef inline _Unit _new_unit(_Day d, object buyer):
    cdef _Unit unit = _Unit.__new__(_Unit)
    unit.buyer = buyer
    unit.valid = True
    d.units.append(unit)
    return unit


def _row_key(row):
    return row["platform"], row["shop_id"], row["day"]


def _opening_order(b):
    return (<_Buyer>b).turn.seq


def _buyer_id(b):
    return (<_Buyer>b).buyer

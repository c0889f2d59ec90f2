# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Fused normalise-and-match: one pass over a message folds each character and steps an
Aho-Corasick automaton over the folded stream, reporting hits in offsets of the original text.

The folded stream is a sequence of *key elements*. Each element is one folded character (after
NFKC, case folding, traditional -> simplified, and optionally Chinese numerals -> digits) together
with the original span it came from. Whitespace and separators are skipped (at most `max_gap` in
a row, beyond which a hit cannot stretch); with repeat folding, a run of the same folded character
is one element that remembers its length. Patterns are folded by the very same code, so a pattern
`嘻嘻哈哈` becomes the key 嘻哈 with minimum runs (2, 2), and `微信` the key 微信 with runs (1, 1):
`微微信信` hits 微信, while `嘻哈` does not hit 嘻嘻哈哈. Hits of a key are reported only when its
last element is complete, so spans cover whole runs.

A built Matcher is immutable: all scan state lives on the C stack or in buffers owned by one call,
so one Matcher may serve many threads.
"""
import unicodedata

from libc.stdlib cimport malloc, calloc, realloc, free, qsort
from libc.string cimport memset
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void*)
    int PyUnicode_KIND(object)
    void* PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    enum:
        PyUnicode_1BYTE_KIND
        PyUnicode_2BYTE_KIND
        PyUnicode_4BYTE_KIND

cdef extern from "fold_table.h":
    const char* SG_UNIDATA_VERSION
    enum:
        SG_LATIN_LIMIT
        SG_NUMERAL_COUNT
    const uint16_t sg_fold_stage1[]
    const uint32_t sg_fold_stage2[]
    const uint32_t sg_fold_pool[]
    const uint8_t sg_char_class[]
    const uint32_t sg_numeral_from[]
    const uint32_t sg_numeral_to[]
    const uint8_t sg_numeral_bits[]

UNIDATA_VERSION = SG_UNIDATA_VERSION.decode("ascii")

cdef extern from *:
    """
    #define SG_KIND_CHAR 0u
    #define SG_KIND_SEPARATOR 1u
    #define SG_KIND_WHITESPACE 2u
    #define SG_KIND_EXPANSION 3u
    #define SG_PAYLOAD_MASK 0x3FFFFFFFu
    #define SG_NONE 0xFFFFFFFFu
    /* Above this many children a state's edges are binary-searched. */
    #define SG_LINEAR_EDGE_SCAN 8u
    #define SG_EMITS 0x80000000u
    #define SG_MAX_STATES 0x7FFFFFFFu
    /* 〇, the lowest code point in the numeral table. */
    #define SG_FIRST_NUMERAL 0x3007u
    #define SG_MAX_EXPANSION 4
    /* fold_codepoint() results besides a count of characters. */
    #define SG_FOLD_WHITESPACE (-1)
    #define SG_FOLD_SEPARATOR (-2)
    """
    enum:
        SG_MAX_EXPANSION
        SG_FOLD_WHITESPACE
        SG_FOLD_SEPARATOR
    const uint32_t SG_KIND_CHAR
    const uint32_t SG_KIND_SEPARATOR
    const uint32_t SG_KIND_WHITESPACE
    const uint32_t SG_KIND_EXPANSION
    const uint32_t SG_PAYLOAD_MASK
    const uint32_t SG_NONE
    const uint32_t SG_LINEAR_EDGE_SCAN
    const uint32_t SG_EMITS
    const uint32_t SG_MAX_STATES
    const uint32_t SG_FIRST_NUMERAL


cdef inline uint32_t fold_entry(uint32_t cp) noexcept nogil:
    return sg_fold_stage2[(<uint32_t>sg_fold_stage1[cp >> 8] << 8) | (cp & 0xFF)]


cdef inline uint32_t fold_numeral(uint32_t c) noexcept nogil:
    cdef int lo = 0, hi = SG_NUMERAL_COUNT - 1, mid
    # the numerals' bitmap first: nearly every CJK character is not one, and the binary search
    # below, run for every CJK character folded, would be a noticeable share of all matching
    if c < SG_FIRST_NUMERAL or c > 0xFFFF or not (sg_numeral_bits[c >> 3] >> (c & 7)) & 1:
        return c
    while lo <= hi:
        mid = (lo + hi) >> 1
        if sg_numeral_from[mid] == c:
            return sg_numeral_to[mid]
        if sg_numeral_from[mid] < c:
            lo = mid + 1
        else:
            hi = mid - 1
    return c


cdef inline uint8_t class_of(uint32_t c) noexcept nogil:
    return sg_char_class[c] if c < SG_LATIN_LIMIT else 0


cdef int fold_codepoint(uint32_t cp, uint32_t* out, bint fold_numbers) noexcept nogil:
    """Fold one code point: the number of folded characters written to out (1..SG_MAX_EXPANSION),
    SG_FOLD_WHITESPACE, or SG_FOLD_SEPARATOR with the folded separator in out[0]."""
    cdef uint32_t e = fold_entry(cp)
    cdef uint32_t kind = e >> 30, idx, k, n
    if kind == SG_KIND_WHITESPACE:
        return SG_FOLD_WHITESPACE
    if kind == SG_KIND_SEPARATOR:
        out[0] = (cp + e) & SG_PAYLOAD_MASK
        return SG_FOLD_SEPARATOR
    if kind == SG_KIND_CHAR:
        out[0] = (cp + e) & SG_PAYLOAD_MASK
        n = 1
    else:
        idx = e & SG_PAYLOAD_MASK
        n = sg_fold_pool[idx]
        for k in range(n):
            out[k] = sg_fold_pool[idx + 1 + k]
    if fold_numbers:
        for k in range(n):
            out[k] = fold_numeral(out[k])
    return n


cdef inline uint8_t neighbour_class(uint32_t cp, bint want_last, bint fold_numbers) noexcept nogil:
    """Class of the folded character next to a hit: the last folded character of the code point
    before it, or the first of the code point after it."""
    cdef uint32_t buf[SG_MAX_EXPANSION]
    cdef int n = fold_codepoint(cp, buf, fold_numbers)
    if n <= 0:
        return 0
    return class_of(buf[n - 1] if want_last else buf[0])


def fold_codepoint_py(int cp, bint fold_numbers=False):
    """The native table's folding of one code point: (kind, folded) with kind 0 whitespace,
    1 separator, 2 characters, as in fold_spec.fold_char. For tests and `rules explain`."""
    cdef uint32_t buf[SG_MAX_EXPANSION]
    if cp < 0 or cp > 0x10FFFF:
        raise ValueError("not a code point")
    cdef int n = fold_codepoint(cp, buf, fold_numbers)
    if n == SG_FOLD_WHITESPACE:
        return 0, ""
    if n == SG_FOLD_SEPARATOR:
        return 1, chr(buf[0])
    return 2, "".join([chr(buf[k]) for k in range(n)])


ctypedef fused census_unit:
    uint8_t
    uint16_t
    uint32_t


cdef enum:
    MAX_WANTED_OTHERS = 256  # symbols beyond ASCII that raise FLAG_SYMBOL


cdef struct Wanted:
    # the symbols that raise FLAG_SYMBOL: ASCII ones by table; the others in a sorted array,
    # behind a one-byte filter on their low bits so that most characters cost one lookup
    uint8_t ascii[128]
    uint8_t low_bits[256]
    uint32_t others[MAX_WANTED_OTHERS]
    Py_ssize_t n_others


cdef bint wanted_other(const Wanted* wanted, uint32_t c) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = wanted.n_others, mid
    if not wanted.low_bits[c & 255]:
        return False
    while lo < hi:
        mid = (lo + hi) // 2
        if wanted.others[mid] < c:
            lo = mid + 1
        else:
            hi = mid
    return lo < wanted.n_others and wanted.others[lo] == c


cdef void count_classes(const census_unit* data, Py_ssize_t n, Py_ssize_t* counts,
                        const Wanted* wanted) noexcept nogil:
    """counts: digits, Latin letters, dots between two ASCII letters or digits (a.b: what a
    domain needs), at signs, and the wanted symbols; all on the folded characters (a wanted
    symbol beyond ASCII also as written)."""
    cdef Py_ssize_t i
    cdef uint32_t e, kind, c
    cdef bint alnum, prev_alnum = False, dot_after_alnum = False
    for i in range(n):
        e = fold_entry(data[i])
        kind = e >> 30
        if kind == SG_KIND_EXPANSION:
            c = sg_fold_pool[(e & SG_PAYLOAD_MASK) + 1]
        elif kind == SG_KIND_WHITESPACE:
            prev_alnum = dot_after_alnum = False
            continue
        else:
            c = (data[i] + e) & SG_PAYLOAD_MASK
        c = fold_numeral(c)
        alnum = False
        if 0x30 <= c <= 0x39:
            counts[0] += 1
            alnum = True
        elif 0x61 <= c <= 0x7A:
            counts[1] += 1
            alnum = True
        elif c == 0x40:
            counts[3] += 1
        if c < 128:
            if wanted.ascii[c]:
                counts[4] += 1
        elif wanted.n_others and (wanted_other(wanted, c) or wanted_other(wanted, data[i])):
            counts[4] += 1
        if alnum and dot_after_alnum:
            counts[2] += 1
        # . and 。 (their full-width and half-width forms fold here)
        dot_after_alnum = prev_alnum and (c == 0x2E or c == 0x3002)
        prev_alnum = alnum


def census(str text not None):
    """(digits, Latin letters, dots between letters or digits, at signs) in a text, counted on its
    folded form, so full-width and circled forms and Chinese numerals count too: the detectors'
    cheap first question, in one native pass instead of several Python ones."""
    cdef Py_ssize_t counts[5]
    cdef Wanted none
    _wanted_symbols("", &none)
    take_census(text, counts, &none)
    return (counts[0], counts[1], counts[2], counts[3])


# census_flags() bits
cdef enum:
    F_NUMBER = 1     # at least min_digits digits
    F_LINK = 2       # a dot between letters or digits, and a Latin letter
    F_AT = 4         # an at sign
    F_SYMBOL = 8     # one of the given symbols
    F_SHORT = 16     # at most short_len characters
FLAG_NUMBER, FLAG_LINK, FLAG_AT, FLAG_SYMBOL, FLAG_SHORT = F_NUMBER, F_LINK, F_AT, F_SYMBOL, F_SHORT


def census_flags(str text not None, Py_ssize_t min_digits, Py_ssize_t short_len, str symbols=""):
    """The census as bit flags (FLAG_*): the rule engine's whole question for a message with no
    phrase hit, in one call. symbols: the symbols that raise FLAG_SYMBOL, found after folding (so
    ＋ counts as +) and, beyond ASCII, also as written."""
    cdef Wanted wanted
    _wanted_symbols(symbols, &wanted)
    return _flags(text, min_digits, short_len, &wanted)


def census_flags_batch(texts, Py_ssize_t min_digits, Py_ssize_t short_len, str symbols=""):
    """census_flags() of each text of a sequence (all str), paying the call overhead once."""
    cdef Wanted wanted
    _wanted_symbols(symbols, &wanted)
    return [_flags(<str?>text, min_digits, short_len, &wanted) for text in texts]


cdef int _wanted_symbols(str symbols, Wanted* wanted) except -1:
    memset(wanted, 0, sizeof(Wanted))
    others = sorted({ord(ch) for ch in symbols if ord(ch) >= 128})
    if len(others) > MAX_WANTED_OTHERS:
        raise ValueError(f"at most {MAX_WANTED_OTHERS} symbols beyond ASCII, not {len(others)}")
    for ch in symbols:
        if ord(ch) < 128:
            wanted.ascii[ord(ch)] = 1
    for code in others:
        wanted.others[wanted.n_others] = code
        wanted.n_others += 1
        wanted.low_bits[code & 255] = 1
    return 0


cdef int _flags(str text, Py_ssize_t min_digits, Py_ssize_t short_len, const Wanted* wanted):
    cdef Py_ssize_t counts[5]
    take_census(text, counts, wanted)
    return ((F_NUMBER if counts[0] >= min_digits else 0)
            | (F_LINK if counts[1] and counts[2] else 0)
            | (F_AT if counts[3] else 0)
            | (F_SYMBOL if counts[4] else 0)
            | (F_SHORT if PyUnicode_GET_LENGTH(text) <= short_len else 0))


cdef void take_census(str text, Py_ssize_t* counts, const Wanted* wanted):
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    counts[0] = counts[1] = counts[2] = counts[3] = counts[4] = 0
    if kind == PyUnicode_1BYTE_KIND:
        count_classes(<const uint8_t*>data, n, counts, wanted)
    elif kind == PyUnicode_2BYTE_KIND:
        count_classes(<const uint16_t*>data, n, counts, wanted)
    else:
        count_classes(<const uint32_t*>data, n, counts, wanted)


# ---- the automaton --------------------------------------------------------------------------

cdef struct State:
    uint32_t first_child
    uint32_t fail_emit  # failure link; top bit: hits end here or at a suffix (EMITS)


cdef struct Automaton:
    # folded character -> symbol (0: in no pattern), two-level
    uint16_t* sym_stage1
    uint32_t* sym_stage2
    uint32_t n_symbols
    # goto: dense at the root; elsewhere states are numbered breadth-first, so the children of
    # a state are the consecutive ids [states[s].first_child, states[s + 1].first_child), sorted
    # by their symbol label[child], and shallow (hot) states share cache lines
    uint32_t* root_next
    uint32_t n_states
    State* states
    uint32_t* label
    # outputs: pattern ids ending at a state, and the nearest suffix state with outputs
    uint32_t* out_start
    uint32_t* out_pid
    uint32_t* dict_link
    # per pattern
    uint32_t* key_len
    uint8_t* first_class
    uint8_t* last_class
    uint32_t* minrun_start
    uint32_t* minrun_pos
    uint32_t* minrun_min
    uint32_t max_key_len
    # options
    bint fold_numbers
    bint fold_repeats
    bint whole_words
    Py_ssize_t max_gap


cdef inline uint32_t symbol_of(const Automaton* a, uint32_t c) noexcept nogil:
    return a.sym_stage2[(<uint32_t>a.sym_stage1[c >> 8] << 8) | (c & 0xFF)]


cdef inline uint32_t child_of(const Automaton* a, uint32_t s, uint32_t sym) noexcept nogil:
    cdef uint32_t lo = a.states[s].first_child, end = a.states[s + 1].first_child, hi = end, mid
    if hi - lo <= SG_LINEAR_EDGE_SCAN:
        while lo < hi:
            if a.label[lo] == sym:
                return lo
            lo += 1
        return 0
    while lo < hi:
        mid = (lo + hi) >> 1
        if a.label[mid] < sym:
            lo = mid + 1
        else:
            hi = mid
    if lo < end and a.label[lo] == sym:
        return lo
    return 0


cdef inline bint emits(const Automaton* a, uint32_t s) noexcept nogil:
    return (a.states[s].fail_emit & SG_EMITS) != 0


cdef inline uint32_t next_state(const Automaton* a, uint32_t s, uint32_t sym) noexcept nogil:
    cdef uint32_t t
    while s != 0:
        t = child_of(a, s, sym)
        if t != 0:
            return t
        s = a.states[s].fail_emit & ~SG_EMITS
    return a.root_next[sym]


cdef struct KeyElement:
    Py_ssize_t start
    Py_ssize_t end
    uint32_t run


cdef struct Hit:
    uint32_t pid
    Py_ssize_t start
    Py_ssize_t end


cdef struct HitBuffer:
    Hit* hits
    Py_ssize_t count
    Py_ssize_t capacity


cdef int push_hit(HitBuffer* buf, uint32_t pid, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    cdef Hit* grown
    cdef Py_ssize_t capacity
    if buf.count == buf.capacity:
        capacity = buf.capacity * 2 if buf.capacity else 16
        grown = <Hit*>realloc(buf.hits, capacity * sizeof(Hit))
        if grown == NULL:
            return -1
        buf.hits = grown
        buf.capacity = capacity
    buf.hits[buf.count].pid = pid
    buf.hits[buf.count].start = start
    buf.hits[buf.count].end = end
    buf.count += 1
    return 0


# The three storage widths of CPython's str (PEP 393).
ctypedef fused text_unit:
    uint8_t
    uint16_t
    uint32_t


cdef int emit_hits(const Automaton* a, uint32_t state, Py_ssize_t last, const KeyElement* ring,
                   Py_ssize_t mask, const text_unit* data, Py_ssize_t n,
                   HitBuffer* hits) noexcept nogil:
    """Report the patterns ending at key element `last`, now that its run is complete."""
    cdef uint32_t s = state, k, pid, q
    cdef Py_ssize_t first, start, end
    cdef bint ok
    while s != 0:
        for k in range(a.out_start[s], a.out_start[s + 1]):
            pid = a.out_pid[k]
            first = last - a.key_len[pid] + 1
            start = ring[first & mask].start
            end = ring[last & mask].end
            ok = True
            for q in range(a.minrun_start[pid], a.minrun_start[pid + 1]):
                if ring[(first + a.minrun_pos[q]) & mask].run < a.minrun_min[q]:
                    ok = False
                    break
            if ok and a.whole_words:
                if a.first_class[pid] and start > 0 and \
                        neighbour_class(data[start - 1], True, a.fold_numbers) == a.first_class[pid]:
                    ok = False
                elif a.last_class[pid] and end < n and \
                        neighbour_class(data[end], False, a.fold_numbers) == a.last_class[pid]:
                    ok = False
            if ok and push_hit(hits, pid, start, end) < 0:
                return -1
        s = a.dict_link[s]
    return 0


cdef Py_ssize_t scan_text(const Automaton* a, const text_unit* data, Py_ssize_t n,
                          KeyElement* ring, Py_ssize_t mask, HitBuffer* hits,
                          uint32_t* keys_out) noexcept nogil:
    """One pass: fold, skip, collapse runs, step the automaton, report hits.
    Returns the number of key elements, or -1 when out of memory. With keys_out, the folded
    character of every key element is written there (for normalize())."""
    cdef uint32_t state = 0, prev = SG_NONE, e, kind, c, sym, idx, k, width
    cdef uint32_t expansion[SG_MAX_EXPANSION]
    cdef Py_ssize_t i, count = 0, gap = 0
    cdef KeyElement* el
    for i in range(n):
        e = fold_entry(data[i])
        kind = e >> 30
        if kind == SG_KIND_CHAR:
            expansion[0] = (data[i] + e) & SG_PAYLOAD_MASK
            width = 1
        elif kind == SG_KIND_EXPANSION:
            idx = e & SG_PAYLOAD_MASK
            width = sg_fold_pool[idx]
            for k in range(width):
                expansion[k] = sg_fold_pool[idx + 1 + k]
        else:
            c = (data[i] + e) & SG_PAYLOAD_MASK
            if kind == SG_KIND_SEPARATOR and symbol_of(a, c) != 0:
                # A separator that some pattern spells out: a character like any other.
                expansion[0] = c
                width = 1
            else:
                if prev != SG_NONE:
                    gap += 1
                    if gap > a.max_gap:
                        # Too far apart to be one hit: close the element and start afresh.
                        if emits(a, state) and emit_hits(a, state, count - 1, ring, mask, data, n, hits) < 0:
                            return -1
                        state = 0
                        prev = SG_NONE
                continue
        for k in range(width):
            c = expansion[k]
            if a.fold_numbers:
                c = fold_numeral(c)
            gap = 0
            if c == prev and a.fold_repeats:
                el = &ring[(count - 1) & mask]
                el.end = i + 1
                el.run += 1
                continue
            if prev != SG_NONE and emits(a, state):
                if emit_hits(a, state, count - 1, ring, mask, data, n, hits) < 0:
                    return -1
            el = &ring[count & mask]
            el.start = i
            el.end = i + 1
            el.run = 1
            if keys_out != NULL:
                keys_out[count] = c
            count += 1
            prev = c
            sym = symbol_of(a, c)
            state = next_state(a, state, sym) if sym != 0 else 0
    if prev != SG_NONE and emits(a, state):
        if emit_hits(a, state, count - 1, ring, mask, data, n, hits) < 0:
            return -1
    return count


cdef Py_ssize_t scan_str(const Automaton* a, str text, KeyElement* ring, Py_ssize_t mask,
                         HitBuffer* hits, uint32_t* keys_out):
    """scan_text() on a str, in whichever of CPython's three storage widths it is kept."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    if kind == PyUnicode_1BYTE_KIND:
        return scan_text(a, <const uint8_t*>data, n, ring, mask, hits, keys_out)
    if kind == PyUnicode_2BYTE_KIND:
        return scan_text(a, <const uint16_t*>data, n, ring, mask, hits, keys_out)
    return scan_text(a, <const uint32_t*>data, n, ring, mask, hits, keys_out)


cdef int compare_hits(const void* x, const void* y) noexcept nogil:
    cdef const Hit* p = <const Hit*>x
    cdef const Hit* q = <const Hit*>y
    if p.start != q.start:
        return -1 if p.start < q.start else 1
    if p.end != q.end:
        return -1 if p.end < q.end else 1
    return -1 if p.pid < q.pid else (1 if p.pid > q.pid else 0)


cdef int compare_hits_longest_first(const void* x, const void* y) noexcept nogil:
    cdef const Hit* p = <const Hit*>x
    cdef const Hit* q = <const Hit*>y
    if p.start != q.start:
        return -1 if p.start < q.start else 1
    if p.end != q.end:
        return -1 if p.end > q.end else 1
    return -1 if p.pid < q.pid else (1 if p.pid > q.pid else 0)


cdef enum:
    MOVES_PER_HIT = 8  # the insertion sort's budget, so that it stays linear

ctypedef int (*HitOrder)(const void*, const void*) noexcept nogil


cdef void sort_hits(HitBuffer* buf, HitOrder order) noexcept nogil:
    """Sort the hits by `order`: an insertion sort first, which is quick on hits nearly in order
    (the scan gives them by end, so by start but for the hits that end together, and a gate's
    input comes by start), and qsort once it would move more than MOVES_PER_HIT hits a hit (the
    hits are then a permutation of what they were)."""
    cdef Py_ssize_t i, j, moves = 0, budget = buf.count * MOVES_PER_HIT
    cdef Hit hit
    for i in range(1, buf.count):
        if order(&buf.hits[i - 1], &buf.hits[i]) <= 0:
            continue
        hit = buf.hits[i]
        j = i
        while j > 0 and order(&buf.hits[j - 1], &hit) > 0:
            buf.hits[j] = buf.hits[j - 1]
            j -= 1
        buf.hits[j] = hit
        moves += i - j
        if moves > budget:
            qsort(buf.hits, buf.count, sizeof(Hit), order)
            return


cdef void order_hits(HitBuffer* buf, bint longest) noexcept nogil:
    """Overlapping: all hits by (start, end, pattern). Leftmost-longest: from the left, the
    longest hit at each start (lowest pattern id on ties), skipping hits that overlap it."""
    cdef Py_ssize_t i, kept = 0, reach = -1
    if buf.count < 2:
        return
    if not longest:
        sort_hits(buf, compare_hits)
        return
    qsort(buf.hits, buf.count, sizeof(Hit), compare_hits_longest_first)
    for i in range(buf.count):
        if buf.hits[i].start >= reach:
            buf.hits[kept] = buf.hits[i]
            kept += 1
            reach = buf.hits[i].end
    buf.count = kept


cdef uint32_t* alloc_u32(Py_ssize_t n) except NULL:
    cdef uint32_t* p = <uint32_t*>calloc(n if n > 0 else 1, sizeof(uint32_t))
    if p == NULL:
        raise MemoryError()
    return p


def _pictograph(uint32_t code):
    """fold_spec.pictograph of a folded separator: a symbol beyond ASCII and General Punctuation
    (Sm, So), or an unassigned code point of the emoji planes; the same definition as the oracle's."""
    category = unicodedata.category(chr(code))
    return code >= 0x2070 and (category in ("Sm", "So") or (category == "Cn" and 0x1F000 <= code < 0x20000))


cdef uint32_t hash_slot(uint64_t key, uint64_t mask) noexcept nogil:
    key ^= key >> 33
    key *= 0xff51afd7ed558ccdULL
    key ^= key >> 33
    return <uint32_t>(key & mask)


# ---- which messages can fire a rule at all ------------------------------------------------------

cdef enum:
    MAX_GROUPS = 64  # groups of one clause: the bits of a mask


cdef struct GateScratch:
    # a Conjunctions' working memory for one message at a time, clean between messages
    uint64_t* seen  # per clause: the groups hit so far
    Py_ssize_t* touched  # the clauses with a bit in `seen`
    Py_ssize_t* latest  # per clause and group: the latest start of its hits (where `seen` has the bit)
    uint8_t* fired  # per rule: named already (cleared again before _fires returns)
    Py_ssize_t* rules  # the rules _fires names


cdef void no_scratch(GateScratch* scratch) noexcept nogil:
    """Nothing allocated yet: what free_scratch may be called on."""
    scratch.seen, scratch.touched, scratch.latest, scratch.fired, scratch.rules = NULL, NULL, NULL, NULL, NULL


cdef void free_scratch(GateScratch* scratch) noexcept nogil:
    free(scratch.seen)
    free(scratch.touched)
    free(scratch.latest)
    free(scratch.fired)
    free(scratch.rules)
    no_scratch(scratch)


cdef tuple _rule_tuple(const GateScratch* scratch, Py_ssize_t n):
    """The first n rules _fires named, ascending."""
    return tuple(sorted([scratch.rules[i] for i in range(n)]))


cdef int compare_hits_by_end(const void* x, const void* y) noexcept nogil:
    cdef const Hit* p = <const Hit*>x
    cdef const Hit* q = <const Hit*>y
    if p.end != q.end:
        return -1 if p.end < q.end else 1
    if p.start != q.start:
        return -1 if p.start < q.start else 1
    return -1 if p.pid < q.pid else (1 if p.pid > q.pid else 0)


cdef class Conjunctions:
    """Which rules a message's hits can fire: a rule one of whose patterns fires it alone (an `any`
    phrase, a context word a detector waits for), or a rule with one hit of every group of one of
    its clauses (the groups of a `near`) inside the clause's window: from the first start to the
    last end at most `within` characters. Rule evaluation asks this of every message first, in one
    call for the batch, and judges only those it says yes to, and in them only the rules named: a
    common word that matters only beside others (a near group, a guard) then costs the message no
    Python step. The window is what the rule needs and the gate does not look further (order,
    clause marks, overlaps, guards): it may say yes where the rule then does not fire, never no
    where it would.

    `entries[pattern id]` lists what a hit of that pattern counts for: a rule index (the hit fires
    that rule alone) or a pair (clause, group); `clauses[clause]` is (the clause's rule, its number
    of groups, at most 64, its window in characters)."""
    cdef Py_ssize_t n_patterns, n_clauses, n_rules
    cdef Py_ssize_t* offsets  # entries of pattern p: codes[offsets[p]:offsets[p + 1]]
    cdef Py_ssize_t* codes  # -1 - rule (fires that rule alone), or clause * MAX_GROUPS + group
    cdef uint64_t* full  # the mask of a clause whose every group hit
    cdef Py_ssize_t* clause_rule
    cdef Py_ssize_t* n_groups
    cdef Py_ssize_t* within

    def __cinit__(self, entries, clauses):
        cdef Py_ssize_t p, k, total = 0, clause, group, rule
        entries = [tuple(e) for e in entries]
        clauses = [tuple(c) for c in clauses]
        self.n_patterns, self.n_clauses, self.n_rules = len(entries), len(clauses), 0
        for rule, count, window in clauses:
            if not 1 <= count <= MAX_GROUPS:
                raise ValueError(f"a clause has 1 to {MAX_GROUPS} groups, not {count}")
            if rule < 0:
                raise ValueError(f"not a rule index: {rule}")
            if window < 0:
                raise ValueError(f"not a window: {window}")
            self.n_rules = max(self.n_rules, rule + 1)
        for e in entries:
            total += len(e)
        self.offsets = <Py_ssize_t*>malloc((self.n_patterns + 1) * sizeof(Py_ssize_t))
        self.codes = <Py_ssize_t*>malloc(max(total, 1) * sizeof(Py_ssize_t))
        self.full = <uint64_t*>malloc(max(self.n_clauses, 1) * sizeof(uint64_t))
        self.clause_rule = <Py_ssize_t*>malloc(max(self.n_clauses, 1) * sizeof(Py_ssize_t))
        self.n_groups = <Py_ssize_t*>malloc(max(self.n_clauses, 1) * sizeof(Py_ssize_t))
        self.within = <Py_ssize_t*>malloc(max(self.n_clauses, 1) * sizeof(Py_ssize_t))
        if self.offsets == NULL or self.codes == NULL or self.full == NULL or self.clause_rule == NULL \
                or self.n_groups == NULL or self.within == NULL:
            raise MemoryError()
        for clause in range(self.n_clauses):
            rule, count, window = clauses[clause]
            self.clause_rule[clause] = rule
            self.n_groups[clause] = count
            self.within[clause] = window
            self.full[clause] = (<uint64_t>-1) if count == MAX_GROUPS else ((<uint64_t>1 << count) - 1)
        k = 0
        for p in range(self.n_patterns):
            self.offsets[p] = k
            for entry in entries[p]:
                if isinstance(entry, int):
                    if entry < 0:
                        raise ValueError(f"pattern {p}: not a rule index: {entry}")
                    self.codes[k] = -1 - <Py_ssize_t>entry
                    self.n_rules = max(self.n_rules, entry + 1)
                else:
                    clause, group = entry
                    if not (0 <= clause < self.n_clauses and 0 <= group < clauses[clause][1]):
                        raise ValueError(f"pattern {p}: no group {group} in clause {clause}")
                    self.codes[k] = clause * MAX_GROUPS + group
                k += 1
        self.offsets[self.n_patterns] = k

    def __dealloc__(self):
        free(self.offsets)
        free(self.codes)
        free(self.full)
        free(self.clause_rule)
        free(self.n_groups)
        free(self.within)

    cdef Py_ssize_t _fires(self, const Hit* hits, Py_ssize_t count, GateScratch* scratch,
                           uint8_t* fired, Py_ssize_t* rules) noexcept nogil:
        """With `rules` NULL: 1 when the hits can fire a rule, else 0. Otherwise the number of
        rules they can fire, written to `rules` in the order first found, each once (`fired`:
        a cleared flag per rule, cleared again before returning). The hits come in the order of
        their ends, as the scan finds them. `latest[clause * MAX_GROUPS + group]`: the latest
        start of a hit of that group so far, valid where `seen` has its bit. A pattern id it does
        not know counts for nothing (the Matcher that finds them is built from the same phrases)."""
        cdef Py_ssize_t n_touched = 0, n_rules = 0, i, h, k, g, code, clause, group, pid, rule, first
        cdef uint64_t bit
        cdef uint64_t* seen = scratch.seen
        cdef Py_ssize_t* touched = scratch.touched
        cdef Py_ssize_t* latest = scratch.latest
        for h in range(count):
            pid = hits[h].pid
            if pid >= self.n_patterns:
                continue
            for k in range(self.offsets[pid], self.offsets[pid + 1]):
                code = self.codes[k]
                if code < 0:
                    rule = -1 - code
                else:
                    clause = code // MAX_GROUPS
                    group = code % MAX_GROUPS
                    bit = <uint64_t>1 << group
                    if seen[clause] == 0:
                        touched[n_touched] = clause
                        n_touched += 1
                    if not (seen[clause] & bit) or latest[code] < hits[h].start:
                        latest[code] = hits[h].start
                    seen[clause] |= bit
                    if seen[clause] != self.full[clause]:
                        continue
                    # every group has a hit ending by this one: the latest start of each makes the
                    # narrowest window that ends here
                    first = hits[h].start
                    for g in range(self.n_groups[clause]):
                        if latest[clause * MAX_GROUPS + g] < first:
                            first = latest[clause * MAX_GROUPS + g]
                    if hits[h].end - first > self.within[clause]:
                        continue
                    rule = self.clause_rule[clause]
                if rules == NULL:
                    n_rules = 1
                    break
                if not fired[rule]:
                    fired[rule] = 1
                    rules[n_rules] = rule
                    n_rules += 1
            if n_rules and rules == NULL:
                break
        for i in range(n_touched):  # the scratch is clean for the next message
            seen[touched[i]] = 0
        for i in range(n_rules if rules != NULL else 0):
            fired[rules[i]] = 0
        return n_rules

    cdef int _scratch(self, GateScratch* scratch) except -1:
        scratch.seen = <uint64_t*>calloc(max(self.n_clauses, 1), sizeof(uint64_t))
        scratch.touched = <Py_ssize_t*>malloc(max(self.n_clauses, 1) * sizeof(Py_ssize_t))
        scratch.latest = <Py_ssize_t*>malloc(max(self.n_clauses, 1) * MAX_GROUPS * sizeof(Py_ssize_t))
        scratch.fired = <uint8_t*>calloc(max(self.n_rules, 1), sizeof(uint8_t))
        scratch.rules = <Py_ssize_t*>malloc(max(self.n_rules, 1) * sizeof(Py_ssize_t))
        if scratch.seen == NULL or scratch.touched == NULL or scratch.latest == NULL or scratch.fired == NULL \
                or scratch.rules == NULL:
            free_scratch(scratch)
            raise MemoryError()
        return 0

    cdef Py_ssize_t _fires_of(self, hits, GateScratch* scratch, HitBuffer* buf, bint name_rules) except -1:
        """_fires of Python hits, in any order: the number of rules they can fire, named in the
        scratch, or with name_rules false 1 when they can fire one."""
        buf.count = 0
        _hits_into(hits, buf)
        sort_hits(buf, compare_hits_by_end)
        if name_rules:
            return self._fires(buf.hits, buf.count, scratch, scratch.fired, scratch.rules)
        return self._fires(buf.hits, buf.count, scratch, NULL, NULL)

    def rules(self, hits):
        """The rules these hits (`(pattern id, start, end)`, as `Matcher.find` gives) can fire, as
        a tuple of rule indexes in ascending order."""
        cdef GateScratch scratch
        cdef HitBuffer buf
        buf.hits, buf.count, buf.capacity = NULL, 0, 0
        no_scratch(&scratch)
        try:
            self._scratch(&scratch)
            return _rule_tuple(&scratch, self._fires_of(hits, &scratch, &buf, True))
        finally:
            free_scratch(&scratch)
            free(buf.hits)

    def fires(self, hits):
        """Whether these hits can fire a rule."""
        return self.fires_batch([hits])[0]

    def fires_batch(self, all_hits):
        """`fires` for each message's hits, in one call."""
        cdef GateScratch scratch
        cdef HitBuffer buf
        buf.hits, buf.count, buf.capacity = NULL, 0, 0
        no_scratch(&scratch)
        out = []
        try:
            self._scratch(&scratch)
            for hits in all_hits:
                out.append(self._fires_of(hits, &scratch, &buf, False) == 1)
            return out
        finally:
            free_scratch(&scratch)
            free(buf.hits)


cdef int _hits_into(hits, HitBuffer* buf) except -1:
    """Python hits `(pattern id, start, end)` appended to a buffer."""
    cdef Py_ssize_t pid, start, end
    for hit in hits:
        pid, start, end = hit
        if pid < 0:
            raise ValueError(f"not a hit: {hit!r}")
        if push_hit(buf, pid, start, end) < 0:
            raise MemoryError()
    return 0


cdef class Matcher:
    """A compiled, immutable set of patterns.

    Matcher(patterns, *, fold_numbers=False, fold_repeats=True, whole_words=True, max_gap=8)

    - patterns: strings; pattern id = index in this sequence. A pattern that folds to nothing
      (empty, only whitespace) can never hit: see `unreachable`.
    - fold_numbers: Chinese and financial numerals fold to digits in patterns and text alike.
    - fold_repeats: a run of one folded character matches one character of a pattern (and a
      pattern's own doubled characters ask for runs at least that long).
    - whole_words: a pattern starting (ending) with a Latin letter or a digit does not hit when
      the text character before (after) the hit is of the same class.
    - max_gap: most separators skipped between two characters of one hit.
    """
    cdef Automaton a
    cdef readonly tuple patterns
    cdef readonly tuple unreachable
    cdef readonly Py_ssize_t memory_bytes

    def __cinit__(self, patterns, *, bint fold_numbers=False, bint fold_repeats=True,
                  bint whole_words=True, int max_gap=8):
        memset(&self.a, 0, sizeof(Automaton))
        if max_gap < 0:
            raise ValueError("max_gap must be >= 0")
        self.patterns = tuple(patterns)
        for p in self.patterns:
            if not isinstance(p, str):
                raise TypeError(f"patterns must be str, not {type(p).__name__}")
        if len(self.patterns) >= SG_NONE:
            raise ValueError("too many patterns")
        self.a.fold_numbers = fold_numbers
        self.a.fold_repeats = fold_repeats
        self.a.whole_words = whole_words
        self.a.max_gap = max_gap
        self._build()

    def __dealloc__(self):
        cdef Automaton* a = &self.a
        free(a.sym_stage1); free(a.sym_stage2); free(a.root_next)
        free(a.states); free(a.label)
        free(a.out_start); free(a.out_pid); free(a.dict_link)
        free(a.key_len); free(a.first_class); free(a.last_class)
        free(a.minrun_start); free(a.minrun_pos); free(a.minrun_min)

    @property
    def options(self):
        return {"fold_numbers": bool(self.a.fold_numbers), "fold_repeats": bool(self.a.fold_repeats),
                "whole_words": bool(self.a.whole_words), "max_gap": self.a.max_gap}

    @property
    def state_count(self):
        return self.a.n_states

    def __reduce__(self):
        return (_rebuild, (self.patterns, self.options))

    def __repr__(self):
        return f"Matcher({len(self.patterns)} patterns, {self.a.n_states} states, {self.options})"

    cdef _build(self):
        cdef Automaton* a = &self.a
        cdef Py_ssize_t n_pat = len(self.patterns), pid, i, length, total = 0, q
        cdef uint32_t buf[SG_MAX_EXPANSION]
        cdef int got, k
        cdef object p
        for p in self.patterns:
            total += PyUnicode_GET_LENGTH(p)
        total = total * SG_MAX_EXPANSION + 1

        # Pass 1: fold every pattern; separators that make up a whole pattern are significant, and
        # so are the pictographs a pattern spells (🐧号).
        cdef uint32_t* folded = alloc_u32(total)
        cdef uint8_t* is_sep = <uint8_t*>calloc(total, 1)
        cdef uint32_t* folded_start = alloc_u32(n_pat + 1)
        cdef Py_ssize_t off = 0, start
        cdef bint only_separators
        significant = set()
        try:
            for pid in range(n_pat):
                p = self.patterns[pid]
                length = PyUnicode_GET_LENGTH(p)
                start = off
                only_separators = True
                for i in range(length):
                    got = fold_codepoint(char_at(PyUnicode_KIND(p), PyUnicode_DATA(p), i), buf, a.fold_numbers)
                    if got == SG_FOLD_WHITESPACE:
                        continue
                    if got == SG_FOLD_SEPARATOR:
                        folded[off] = buf[0]
                        is_sep[off] = 1
                        off += 1
                    else:
                        only_separators = False
                        for k in range(got):
                            folded[off] = buf[k]
                            off += 1
                if only_separators:
                    for q in range(start, off):
                        significant.add(folded[q])
                else:
                    for q in range(start, off):
                        if is_sep[q] and _pictograph(folded[q]):
                            significant.add(folded[q])
                folded_start[pid + 1] = off
            self._build_keys(folded, is_sep, folded_start, significant)
        finally:
            free(folded); free(is_sep); free(folded_start)

    cdef _build_keys(self, uint32_t* folded, uint8_t* is_sep, uint32_t* folded_start, set significant):
        """Pass 2: keys (symbols, collapsed runs), then the trie and its links."""
        cdef Automaton* a = &self.a
        cdef Py_ssize_t n_pat = len(self.patterns), pid, q, klen, total = folded_start[n_pat]
        cdef uint32_t c, prev, sym, first_c, last_c
        symbols = {}
        cdef uint32_t* keys = alloc_u32(total)
        cdef uint32_t* runs = alloc_u32(total)
        cdef uint32_t* key_start = alloc_u32(n_pat + 1)
        cdef Py_ssize_t koff = 0
        a.key_len = alloc_u32(n_pat)
        a.first_class = <uint8_t*>calloc(n_pat + 1, 1)
        a.last_class = <uint8_t*>calloc(n_pat + 1, 1)
        a.minrun_start = alloc_u32(n_pat + 1)
        minrun_pos, minrun_min = [], []
        unreachable = []
        try:
            for pid in range(n_pat):
                prev = SG_NONE
                klen = 0
                first_c = last_c = 0
                for q in range(folded_start[pid], folded_start[pid + 1]):
                    c = folded[q]
                    if is_sep[q] and c not in significant:
                        continue
                    if c == prev and a.fold_repeats:
                        runs[koff - 1] += 1
                        continue
                    sym = symbols.get(c, 0)
                    if sym == 0:
                        sym = len(symbols) + 1
                        symbols[c] = sym
                    keys[koff] = sym
                    runs[koff] = 1
                    if klen == 0:
                        first_c = c
                    last_c = c
                    koff += 1
                    klen += 1
                    prev = c
                key_start[pid + 1] = koff
                a.key_len[pid] = klen
                for q in range(klen):
                    if runs[key_start[pid] + q] > 1:
                        minrun_pos.append(q)
                        minrun_min.append(runs[key_start[pid] + q])
                a.minrun_start[pid + 1] = len(minrun_pos)
                if klen == 0:
                    unreachable.append(pid)
                    continue
                a.first_class[pid] = class_of(first_c)
                a.last_class[pid] = class_of(last_c)
                if klen > a.max_key_len:
                    a.max_key_len = klen
            self.unreachable = tuple(unreachable)
            a.minrun_pos = alloc_u32(len(minrun_pos))
            a.minrun_min = alloc_u32(len(minrun_min))
            for q in range(len(minrun_pos)):
                a.minrun_pos[q] = minrun_pos[q]
                a.minrun_min[q] = minrun_min[q]
            self._build_symbol_table(symbols)
            self._build_trie(keys, key_start)
        finally:
            free(keys); free(runs); free(key_start)

    cdef _build_symbol_table(self, dict symbols):
        cdef Automaton* a = &self.a
        cdef uint32_t c, block, n_blocks = 1
        block_of = {}
        for c in symbols:
            if (c >> 8) not in block_of:
                block_of[c >> 8] = n_blocks
                n_blocks += 1
        a.n_symbols = len(symbols)
        a.sym_stage1 = <uint16_t*>calloc(0x1100, sizeof(uint16_t))
        a.sym_stage2 = alloc_u32(n_blocks * 256)  # block 0: all zero, "in no pattern"
        if a.sym_stage1 == NULL:
            raise MemoryError()
        if n_blocks > 0xFFFF:
            raise ValueError("alphabet too large")
        for hi, block in block_of.items():
            a.sym_stage1[hi] = block
        for c, sym in symbols.items():
            a.sym_stage2[(block_of[c >> 8] << 8) | (c & 0xFF)] = sym

    cdef _build_trie(self, const uint32_t* keys, const uint32_t* key_start):
        cdef Automaton* a = &self.a
        cdef Py_ssize_t n_pat = len(self.patterns), pid, q
        cdef Py_ssize_t total = key_start[n_pat]
        cdef uint64_t cap = 16, hmask, hkey
        while cap < <uint64_t>(2 * total + 2):
            cap <<= 1
        hmask = cap - 1
        if total + 1 > SG_MAX_STATES:
            raise ValueError("pattern set too large")
        cdef uint64_t* hkeys = <uint64_t*>calloc(cap, sizeof(uint64_t))
        cdef uint32_t* hvals = alloc_u32(cap)
        cdef uint32_t* parent = alloc_u32(total + 1)
        cdef uint32_t* via = alloc_u32(total + 1)
        cdef uint32_t* terminal = alloc_u32(n_pat + 1)
        cdef uint32_t* child_start = NULL
        cdef uint32_t* children = NULL
        cdef uint32_t* renumber = NULL
        cdef uint32_t* fill = NULL
        cdef uint32_t n_states = 1, s, t, u, sym, slot, f, j, lo, hi, x, i, next_id
        try:
            if hkeys == NULL:
                raise MemoryError()
            # Insert keys into a trie numbered in insertion order; the hash maps
            # (parent, symbol) -> child while building only.
            with nogil:
                for pid in range(n_pat):
                    s = 0
                    for q in range(key_start[pid], key_start[pid + 1]):
                        sym = keys[q]
                        hkey = (<uint64_t>s << 32) | sym
                        slot = hash_slot(hkey, hmask)
                        while hkeys[slot] != 0 and hkeys[slot] != hkey:
                            slot = (slot + 1) & hmask
                        if hkeys[slot] == 0:
                            hkeys[slot] = hkey
                            hvals[slot] = n_states
                            parent[n_states] = s
                            via[n_states] = sym
                            n_states += 1
                        s = hvals[slot]
                    terminal[pid] = s if key_start[pid + 1] > key_start[pid] else SG_NONE
            a.n_states = n_states
            free(hkeys); hkeys = NULL
            free(hvals); hvals = NULL

            # Children per state (insertion ids), sorted by symbol.
            child_start = alloc_u32(n_states + 1)
            children = alloc_u32(n_states)
            fill = alloc_u32(n_states + 1)
            renumber = alloc_u32(n_states)
            a.states = <State*>calloc(n_states + 1, sizeof(State))
            a.label = alloc_u32(n_states)
            a.root_next = alloc_u32(a.n_symbols + 1)
            a.dict_link = alloc_u32(n_states)
            a.out_start = alloc_u32(n_states + 1)
            a.out_pid = alloc_u32(n_pat)
            if a.states == NULL:
                raise MemoryError()
            with nogil:
                for t in range(1, n_states):
                    child_start[parent[t] + 1] += 1
                for s in range(n_states):
                    child_start[s + 1] += child_start[s]
                    fill[s] = child_start[s]
                for t in range(1, n_states):
                    children[fill[parent[t]]] = t
                    fill[parent[t]] += 1
                for s in range(n_states):
                    # insertion sort: most states have a handful of children
                    lo = child_start[s]
                    hi = child_start[s + 1]
                    for j in range(lo + 1, hi):
                        x = children[j]
                        i = j
                        while i > lo and via[children[i - 1]] > via[x]:
                            children[i] = children[i - 1]
                            i -= 1
                        children[i] = x

                # Renumber breadth-first: `fill` is the queue of insertion ids, so position in
                # the queue is the new id and each state's children get consecutive ids.
                fill[0] = 0
                renumber[0] = 0
                next_id = 1
                for u in range(n_states):
                    s = fill[u]
                    a.states[u].first_child = next_id
                    for j in range(child_start[s], child_start[s + 1]):
                        t = children[j]
                        fill[next_id] = t
                        renumber[t] = next_id
                        a.label[next_id] = via[t]
                        next_id += 1
                a.states[n_states].first_child = n_states
                for j in range(a.states[0].first_child, a.states[1].first_child):
                    a.root_next[a.label[j]] = j

                # Outputs per state, pattern ids ascending.
                for pid in range(n_pat):
                    if terminal[pid] != SG_NONE:
                        terminal[pid] = renumber[terminal[pid]]
                        a.out_start[terminal[pid] + 1] += 1
                for s in range(n_states):
                    a.out_start[s + 1] += a.out_start[s]
                    fill[s] = a.out_start[s]
                for pid in range(n_pat):
                    if terminal[pid] != SG_NONE:
                        a.out_pid[fill[terminal[pid]]] = pid
                        fill[terminal[pid]] += 1

                # Failure and dictionary links: ids are breadth-first, so a state's failure
                # target (shallower) is always final before the state's children need it.
                for u in range(n_states):
                    for t in range(a.states[u].first_child, a.states[u + 1].first_child):
                        f = 0 if u == 0 else next_state(a, a.states[u].fail_emit & ~SG_EMITS, a.label[t])
                        a.states[t].fail_emit = f
                        a.dict_link[t] = f if a.out_start[f + 1] > a.out_start[f] else a.dict_link[f]
                        if a.out_start[t + 1] > a.out_start[t] or a.dict_link[t] != 0:
                            a.states[t].fail_emit |= SG_EMITS
        finally:
            free(hkeys); free(hvals); free(parent); free(via); free(terminal)
            free(child_start); free(children); free(renumber); free(fill)
        self.memory_bytes = (
            0x1100 * 2 + sum_blocks(a) * 4
            + (a.n_symbols + 1) * 4
            + (n_states + 1) * sizeof(State) + n_states * 4 * 3
            + n_pat * (4 + 4 + 2) + (n_pat + 1) * 4 * 2
        )

    # ---- scanning ----------------------------------------------------------------------

    cdef object _find_one(self, str text, bint longest, KeyElement* ring, Py_ssize_t mask,
                          HitBuffer* hits, Conjunctions gate, bint kept, GateScratch* scratch):
        cdef Py_ssize_t n_rules = 0
        hits.count = 0
        if scan_str(&self.a, text, ring, mask, hits, NULL) < 0:
            raise MemoryError()
        if gate is None:
            if hits.count == 0:
                return ()  # the shared empty tuple: most messages allocate nothing
            order_hits(hits, longest)
            return hits_as_tuple(hits)
        # the scan finds hits in the order of their ends, as the gate wants them
        if hits.count:
            n_rules = gate._fires(hits.hits, hits.count, scratch, scratch.fired, scratch.rules)
        if n_rules == 0 and not kept:
            return None  # hits that cannot fire a rule: none of them become objects
        rules = _rule_tuple(scratch, n_rules)
        if hits.count == 0:
            return (), rules
        order_hits(hits, longest)
        return hits_as_tuple(hits), rules

    def find(self, str text not None, bint longest=False):
        """Hits in one text: a tuple of (pattern id, start, end), code-point offsets into `text`.
        Overlapping mode (default): every hit of every pattern, by (start, end, pattern id).
        longest=True: leftmost-longest, non-overlapping."""
        return self.find_batch((text,), longest)[0]

    def find_batch(self, texts, bint longest=False, Conjunctions gate=None, keep=None):
        """find() for each text of a sequence, paying the call overhead once: a list with one
        tuple of hits per text. With a `gate` (Conjunctions over this matcher's pattern ids), each
        text gets (its hits, the rules they can fire as gate.rules names them), or None when they
        can fire none, unless `keep` (a sequence as long as `texts`) is true at its index."""
        cdef Py_ssize_t rsize = ring_size(&self.a)
        cdef KeyElement* ring
        cdef HitBuffer hits
        cdef GateScratch scratch
        cdef Py_ssize_t i = 0
        no_scratch(&scratch)
        if keep is not None:
            keep = list(keep)
            texts = list(texts)
            if len(keep) != len(texts):
                raise ValueError(f"keep has {len(keep)} entries for {len(texts)} texts")
        ring = <KeyElement*>malloc(rsize * sizeof(KeyElement))
        hits.hits = NULL
        hits.count = 0
        hits.capacity = 0
        if ring == NULL:
            raise MemoryError()
        results = []
        try:
            if gate is not None:
                gate._scratch(&scratch)
            for text in texts:
                if not isinstance(text, str):
                    raise TypeError(f"texts must be str, not {type(text).__name__}")
                results.append(self._find_one(<str>text, longest, ring, rsize - 1, &hits, gate,
                                              keep is not None and keep[i], &scratch))
                i += 1
        finally:
            free(ring)
            free(hits.hits)
            free_scratch(&scratch)
        return results

    def normalize(self, str text not None):
        """The folded key stream this matcher searches: folded characters with whitespace and
        separators skipped and (with repeat folding) runs collapsed."""
        cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), i, got
        cdef Py_ssize_t rsize = ring_size(&self.a)
        cdef KeyElement* ring = <KeyElement*>malloc(rsize * sizeof(KeyElement))
        cdef uint32_t* keys = <uint32_t*>malloc((n * SG_MAX_EXPANSION + 1) * sizeof(uint32_t))
        cdef HitBuffer hits
        hits.hits = NULL
        hits.count = 0
        hits.capacity = 0
        try:
            if ring == NULL or keys == NULL:
                raise MemoryError()
            got = scan_str(&self.a, text, ring, rsize - 1, &hits, keys)
            if got < 0:
                raise MemoryError()
            return "".join([chr(keys[i]) for i in range(got)])
        finally:
            free(ring); free(keys); free(hits.hits)


cdef tuple hits_as_tuple(const HitBuffer* hits):
    """Hits as a tuple of (pattern id, start, end) tuples, untracked by the garbage collector:
    tuples of ints cannot form cycles, and a batch makes tens of thousands of them, which would
    otherwise set off collections that scan everything the caller holds."""
    cdef Py_ssize_t i
    cdef tuple hit
    cdef list out = []
    for i in range(hits.count):
        hit = (hits.hits[i].pid, hits.hits[i].start, hits.hits[i].end)
        PyObject_GC_UnTrack(<void*>hit)
        out.append(hit)
    cdef tuple result = tuple(out)
    PyObject_GC_UnTrack(<void*>result)
    return result


cdef inline uint32_t char_at(int kind, const void* data, Py_ssize_t i) noexcept nogil:
    """The i-th character of a str's data, kept in CPython's storage width `kind`."""
    if kind == PyUnicode_1BYTE_KIND:
        return (<const uint8_t*>data)[i]
    if kind == PyUnicode_2BYTE_KIND:
        return (<const uint16_t*>data)[i]
    return (<const uint32_t*>data)[i]


cdef Py_ssize_t ring_size(const Automaton* a) noexcept nogil:
    """Key elements a scan must remember: the longest key, rounded up to a power of two."""
    cdef Py_ssize_t size = 16
    while size <= a.max_key_len:
        size <<= 1
    return size


cdef Py_ssize_t sum_blocks(const Automaton* a) noexcept nogil:
    cdef Py_ssize_t i, top = 0
    for i in range(0x1100):
        if a.sym_stage1[i] > top:
            top = a.sym_stage1[i]
    return (top + 1) * 256


def _rebuild(patterns, options):
    return Matcher(patterns, **options)


# ---- one-to-one character maps ------------------------------------------------------------------

cdef extern from "Python.h":
    object PyUnicode_FromKindAndData(int kind, const void* buffer, Py_ssize_t size)

DEF MAP_PAGE_BITS = 8
DEF MAP_PAGES = 0x110000 >> MAP_PAGE_BITS


cdef class CharMap:
    """`str.translate` for a table that maps single characters to single characters (offsets
    unchanged), in C: CPython looks each character of a non-Latin-1 text up in the table dict,
    which made the detectors' two views of a Chinese message cost more than all its matching.
    Pages of 256 code points; a page nothing maps stays NULL and is copied as it is."""
    cdef uint32_t* pages[MAP_PAGES]

    def __cinit__(self, dict table):
        cdef uint32_t page, code, target
        for key, value in table.items():
            if not isinstance(key, int) or not isinstance(value, str) or len(value) != 1:
                raise ValueError(f"CharMap maps one character to one character, not {key!r} -> {value!r}")
            code, target = key, ord(value)
            page = code >> MAP_PAGE_BITS
            if self.pages[page] == NULL:
                self.pages[page] = <uint32_t*>malloc(sizeof(uint32_t) << MAP_PAGE_BITS)
                if self.pages[page] == NULL:
                    raise MemoryError()
                for i in range(1 << MAP_PAGE_BITS):
                    self.pages[page][i] = (page << MAP_PAGE_BITS) | i
            self.pages[page][code & ((1 << MAP_PAGE_BITS) - 1)] = target

    def __dealloc__(self):
        for page in range(MAP_PAGES):
            free(self.pages[page])

    def translate(self, str text not None):
        """text.translate(table) for the table this map was built from."""
        cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), i
        cdef int kind = PyUnicode_KIND(text)
        cdef void* data = PyUnicode_DATA(text)
        cdef uint32_t* out = <uint32_t*>malloc(max(n, 1) * sizeof(uint32_t))
        cdef uint32_t code
        cdef uint32_t* page
        if out == NULL:
            raise MemoryError()
        try:
            for i in range(n):
                code = char_at(kind, data, i)
                page = self.pages[code >> MAP_PAGE_BITS]
                out[i] = code if page == NULL else page[code & ((1 << MAP_PAGE_BITS) - 1)]
            return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out, n)
        finally:
            free(out)


# ---- the detectors' number runs -----------------------------------------------------------------

cdef enum:
    # what an ASCII character is to a run
    RUN_DIGIT = 1
    RUN_GLUE = 4


cdef class DigitRuns:
    """The maximal runs of ASCII digits in a message's ascii view (`detectors.TextView.ascii`).
    Between two digits of a run may stand up to `max_gap` characters that the matcher skips
    (whitespace and separators, emoji among them: 138/1234/5678, 138  1234 5678, 138，1234，5678,
    138📞1234📞5678); an x or X right after a run belongs to it (ID numbers end in X); a run with a
    character of the ASCII `glue` right before or after it is part of a word or a link, and left
    out. Built once (the detectors' glue and gap), then `find` for each message: in C because a
    Python loop over every character of every message's view costs more than its matching."""
    cdef uint8_t role[128]  # RUN_* of each ASCII character
    cdef Py_ssize_t max_gap

    def __cinit__(self, str glue not None, Py_ssize_t max_gap):
        cdef uint32_t c
        if max_gap < 1:
            raise ValueError(f"max_gap must be 1 or more, not {max_gap}")
        self.max_gap = max_gap
        memset(self.role, 0, 128)
        for ch in glue:
            if ord(ch) < 128:
                self.role[ord(ch)] |= RUN_GLUE
        for c in range(0x30, 0x3A):
            self.role[c] |= RUN_DIGIT

    cdef inline uint8_t _role(self, uint32_t c) noexcept nogil:
        return self.role[c] if c < 128 else 0

    cdef inline bint _between(self, uint32_t c) noexcept nogil:
        """What the matcher skips between the characters of a phrase."""
        cdef uint32_t kind = fold_entry(c) >> 30
        return kind == SG_KIND_WHITESPACE or kind == SG_KIND_SEPARATOR

    def find(self, str ascii_view not None):
        """The runs as a tuple of (start, end, digits): `digits` is the run's digits, then X."""
        cdef Py_ssize_t n = PyUnicode_GET_LENGTH(ascii_view), i = 0, j, start, count, gap
        cdef int kind = PyUnicode_KIND(ascii_view)
        cdef void* data = PyUnicode_DATA(ascii_view)
        cdef uint32_t c
        cdef char* digits
        runs = []
        digits = <char*>malloc(n + 1)
        if digits == NULL:
            raise MemoryError()
        try:
            while i < n:
                if self._role(char_at(kind, data, i)) & RUN_DIGIT == 0:
                    i += 1
                    continue
                start, j, count = i, i, 0
                while j < n:
                    c = char_at(kind, data, j)
                    if self._role(c) & RUN_DIGIT:
                        digits[count] = <char>c
                        count += 1
                        j += 1
                        continue
                    gap = j  # up to max_gap skipped characters, then a digit: the run goes on
                    while gap < n and gap - j < self.max_gap and self._between(char_at(kind, data, gap)):
                        gap += 1
                    if gap == j or gap == n or not self._role(char_at(kind, data, gap)) & RUN_DIGIT:
                        break
                    j = gap
                if j < n and (char_at(kind, data, j) | 0x20) == 0x78:  # x X
                    digits[count] = 0x58
                    count += 1
                    j += 1
                if not ((start > 0 and self._role(char_at(kind, data, start - 1)) & RUN_GLUE)
                        or (j < n and self._role(char_at(kind, data, j)) & RUN_GLUE)):
                    runs.append((start, j, PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, digits, count)))
                i = j
        finally:
            free(digits)
        return tuple(runs)

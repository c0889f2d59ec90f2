# Unicode helpers shared by the native modules (cimported; no module of its own).
from libc.string cimport memcmp

cdef extern from "Python.h":
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    int PyUnicode_KIND(object)
    void* PyUnicode_DATA(object)


cdef inline bint str_equal(str a, str b):
    """Equality of two str; decoded strings are new objects whose hashes are not computed yet,
    so comparing a few is cheaper than a dict lookup (and than PyUnicode_Compare's ordering)."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(a)
    if a is b:
        return True
    if n != PyUnicode_GET_LENGTH(b) or PyUnicode_KIND(a) != PyUnicode_KIND(b):
        return False
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), n * PyUnicode_KIND(a)) == 0

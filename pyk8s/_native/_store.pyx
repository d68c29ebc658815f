# cython: language_level=3, boundscheck=False, wraparound=False, embedsignature=True, binding=False
# distutils: language = c++
"""Bindings for the C++ object store (csrc/store).

Marshalling only: Python arguments become C++ values (views of the caller's str/bytes
buffers, which stay alive for the call), the core runs with the GIL released, and results
become Python objects afterwards.  Semantics live in csrc/store and the contract in
pyk8s/store/_protocol.py.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM
from cython.operator cimport dereference as deref
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy
from libcpp cimport bool
from libcpp.memory cimport make_shared, shared_ptr
from libcpp.string cimport string
from libcpp.utility cimport move, pair
from libcpp.vector cimport vector

from _cstore cimport (
    Event as CEvent,
    FieldRequirement,
    LabelRequirement,
    ListRequest,
    ListResult as CListResult,
    Notifier as CNotifier,
    NotifierPtr,
    Object,
    ObjectPtr,
    Revision,
    RevisionError,
    Selector,
    Store as CStore,
    StringPairs,
    WatchEvent,
    Watcher as CWatcher,
    WatchRequest,
    WatchResult,
    WriteRequest,
    WriteResult as CWriteResult,
    defer_host_release,
    has_deferred_host_releases,
    normalize_pairs,
    parse_field_op,
    parse_label_op,
    set_host_release,
    string_view,
    take_deferred_host_releases,
)

from pyk8s.api.selectors import SelectorError
from pyk8s.store._protocol import Event, ExpiredError, FutureRevisionError, WriteResult, WriteStatus

cdef extern from *:
    void __builtin_prefetch(const void* address) nogil

cdef extern from "Python.h":
    ctypedef struct PyObject
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    bint PyUnicode_CheckExact(object text)
    bint PyUnicode_IS_COMPACT_ASCII(object text)
    const void* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    int PyGILState_Check() nogil
    void Py_DecRef(PyObject* obj) nogil
    void Py_IncRef(PyObject* obj)

# NamedTuple.__new__ is a Python function; building the tuple directly skips that frame.
cdef object _tuple_new = tuple.__new__
cdef tuple _STATUSES = (WriteStatus.OK, WriteStatus.NOT_FOUND, WriteStatus.ALREADY_EXISTS,
                        WriteStatus.CONFLICT)
cdef tuple _EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED")
# A watch line's head per event type (EventType's order), for Watcher.pop_lines.
cdef const char* _LINE_HEAD_TEXTS[3]
_LINE_HEAD_TEXTS[0] = b'{"type":"ADDED","object":'
_LINE_HEAD_TEXTS[1] = b'{"type":"MODIFIED","object":'
_LINE_HEAD_TEXTS[2] = b'{"type":"DELETED","object":'
cdef size_t _LINE_HEAD_SIZES[3]
_LINE_HEAD_SIZES[0] = 25
_LINE_HEAD_SIZES[1] = 28
_LINE_HEAD_SIZES[2] = 27
_NOT_FOUND = _tuple_new(WriteResult, (WriteStatus.NOT_FOUND, 0, None))


# ---- marshalling helpers ------------------------------------------------------------------

cdef inline string_view _view(object text) except *:
    """A view of ``text``'s UTF-8 (cached by CPython; no copy for ASCII strings)."""
    cdef Py_ssize_t size
    cdef const char* data = PyUnicode_AsUTF8AndSize(text, &size)
    return string_view(data, <size_t>size)


cdef inline int _view_into(object text, string_view* out) except -1:
    """``_view`` for the hot calls: an ASCII str is its own UTF-8, read in place, and the
    error is signalled by the return value (``except *`` costs a PyErr_Occurred per call)."""
    cdef Py_ssize_t size
    cdef const char* data
    if PyUnicode_CheckExact(text) and PyUnicode_IS_COMPACT_ASCII(text):
        out[0] = string_view(<const char*>PyUnicode_DATA(text), <size_t>PyUnicode_GET_LENGTH(text))
        return 0
    data = PyUnicode_AsUTF8AndSize(text, &size)
    out[0] = string_view(data, <size_t>size)
    return 0


cdef inline string _utf8(object text) except *:
    cdef Py_ssize_t size
    cdef const char* data = PyUnicode_AsUTF8AndSize(text, &size)
    return string(data, <size_t>size)


# ---- object bytes: one Python bytes per stored object ---------------------------------------
#
# get() and watch events hand out the bytes object cached on the stored object
# (Object::host_object, a tuple ``(bytes, mod_revision)``: get() returns that very tuple,
# so a repeated get allocates nothing): repeated reads and watch fan-out to many watchers
# then share one immutable bytes instead of copying per call.  The cost is a second copy of objects that
# were read or watched (C++ readers keep using the std::string without the GIL), so write
# results and ListResult.items() copy instead: they are handed out once.
# The cache reference is dropped when the C++ object dies; if that happens without the
# GIL (a writer or compaction thread) it is parked and released on a later call.

cdef void _release_host_object(void* host_object) noexcept nogil:
    if PyGILState_Check():
        Py_DecRef(<PyObject*>host_object)
    else:
        defer_host_release(host_object)


cdef inline int _release_parked() except -1:
    if not has_deferred_host_releases():
        return 0
    cdef vector[void*] parked = take_deferred_host_releases()
    cdef size_t i
    for i in range(parked.size()):
        Py_DecRef(<PyObject*>parked[i])
    return 0


set_host_release(_release_host_object)


cdef inline bytes _bytes_copy(const Object* obj):
    return PyBytes_FromStringAndSize(obj.data.data(), <Py_ssize_t>obj.data.size())


cdef inline object _read_result(const Object* obj):
    """``(bytes, mod_revision)`` of ``obj``, built on first use and cached on it."""
    cdef void* cached = obj.host_object()
    if cached != NULL:
        return <object>cached
    # Typed as plain objects: Cython 3.3 loops forever inferring this tuple's type.
    cdef object data = PyBytes_FromStringAndSize(obj.data.data(), <Py_ssize_t>obj.data.size())
    cdef object revision = obj.mod_revision
    cdef object result = (data, revision)
    cdef void* candidate = <void*>result
    Py_IncRef(<PyObject*>candidate)  # the reference the Object keeps
    cached = obj.adopt_host_object(candidate)
    if cached != candidate:  # another thread attached one first
        Py_DecRef(<PyObject*>candidate)
        return <object>cached
    return result


cdef inline object _bytes_of(const Object* obj):
    return <object>PyTuple_GET_ITEM(_read_result(obj), 0)


cdef inline int _assign_utf8(string& target, object text) except -1:
    cdef Py_ssize_t size
    cdef const char* data = PyUnicode_AsUTF8AndSize(text, &size)
    target.assign(data, <size_t>size)
    return 0


cdef int _fill_pairs(StringPairs& out, object mapping) except -1:
    """``out`` = the mapping's pairs, sorted: written in place (a pair built and then pushed
    would copy both strings again, and a returned vector once more)."""
    out.clear()
    if not mapping:
        return 0
    out.resize(len(mapping))
    cdef size_t i = 0
    for key, value in mapping.items():
        if not isinstance(value, str):
            value = str(value)
        _assign_utf8(out[i].first, key)
        _assign_utf8(out[i].second, value)
        i += 1
    normalize_pairs(out)
    return 0


cdef int _fill_selector(Selector* selector, object label_selector, object field_selector) except -1:
    cdef LabelRequirement label_req
    cdef FieldRequirement field_req
    for key, op, values in label_selector:
        label_req.key = _utf8(key)
        if not parse_label_op(_view(op), &label_req.op):
            raise SelectorError(f"unknown operator {op!r}")
        label_req.values.clear()
        for value in values:
            label_req.values.push_back(_utf8(value))
        selector.labels.push_back(label_req)
    for field, op, value in field_selector:
        field_req.field = _utf8(field)
        if not parse_field_op(_view(op), &field_req.op):
            raise SelectorError(f"unknown operator {op!r}")
        field_req.value = _utf8(value)
        selector.fields.push_back(field_req)
    return 0


cdef object _write_result(CWriteResult* result):
    if result.status == WriteStatus.NOT_FOUND:
        return _NOT_FOUND
    return _tuple_new(WriteResult, (_STATUSES[<int>result.status], result.revision,
                                    _bytes_copy(result.object.get())))


cdef int _fill_write(WriteRequest* request, object resource, object namespace, object name,
                     object data, object rv_offset, object labels, object fields) except -1:
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    cdef Py_ssize_t offset = rv_offset
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    if offset < 0 or offset > size:
        raise ValueError(f"rv_offset {offset} is outside the {size}-byte template")
    request.resource = _view(resource)
    request.namespace_ = _view(namespace)
    request.name = _view(name)
    request.template_bytes = string_view(PyBytes_AS_STRING(data), <size_t>size)
    request.rv_offset = <size_t>offset
    _fill_pairs(request.labels, labels)
    _fill_pairs(request.fields, fields)
    return 0


cdef object _revision_error(RevisionError error, Revision requested, Revision bound):
    if error == RevisionError.kCompacted:
        return ExpiredError(requested, bound)
    return FutureRevisionError(requested, bound)


# ---- wrappers -----------------------------------------------------------------------------

cdef class ListResult:
    """Items of a list, still in C++: no Python object per item until asked for."""

    cdef CListResult _result
    cdef readonly object next_key

    @property
    def revision(self):
        return self._result.revision

    @property
    def remaining(self):
        return self._result.remaining

    def __len__(self):
        return self._result.items.size()

    def items(self):
        cdef size_t i
        return [_bytes_copy(self._result.items[i].get()) for i in range(self._result.items.size())]

    def render(self, bytes prefix not None, bytes suffix not None):
        """``prefix + b",".join(items) + suffix`` in one allocation."""
        cdef size_t count = self._result.items.size()
        cdef size_t prefix_size = PyBytes_GET_SIZE(prefix)
        cdef size_t suffix_size = PyBytes_GET_SIZE(suffix)
        cdef size_t total = prefix_size + self._result.body_size + suffix_size + (count - 1 if count else 0)
        out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>total)
        cdef char* dest = PyBytes_AS_STRING(out)
        cdef const char* prefix_data = PyBytes_AS_STRING(prefix)
        cdef const char* suffix_data = PyBytes_AS_STRING(suffix)
        cdef size_t i
        cdef const Object* obj
        # `out` is not visible to any other thread yet, so filling it needs no GIL.
        # Objects are prefetched 8 items ahead and their bytes 4 ahead, so each copy
        # starts on data already on its way instead of two dependent cache misses.
        with nogil:
            memcpy(dest, prefix_data, prefix_size)
            dest += prefix_size
            for i in range(count):
                if i + 8 < count:
                    __builtin_prefetch(&self._result.items[i + 8].get().data)
                if i + 4 < count:
                    __builtin_prefetch(self._result.items[i + 4].get().data.data())
                if i:
                    dest[0] = b','
                    dest += 1
                obj = self._result.items[i].get()
                memcpy(dest, obj.data.data(), obj.data.size())
                dest += obj.data.size()
            memcpy(dest, suffix_data, suffix_size)
        return out


cdef class Notifier:
    """An eventfd that becomes readable when attached watchers have news."""

    cdef NotifierPtr _notifier

    def __cinit__(self):
        self._notifier = make_shared[CNotifier]()

    def fileno(self):
        return self._notifier.get().fileno()

    def drain(self):
        cdef vector[uint64_t] ids
        with nogil:
            ids = self._notifier.get().drain()
        return [ids[i] for i in range(ids.size())]

    def close(self):
        self._notifier.get().close()


cdef class Watcher:
    """A live watch; see pyk8s.store._protocol.Watcher."""

    cdef shared_ptr[CWatcher] _watcher
    cdef shared_ptr[CStore] _store

    @property
    def id(self):
        return self._watcher.get().id()

    @property
    def expired(self):
        return self._watcher.get().expired()

    @property
    def closed(self):
        return self._watcher.get().closed()

    cdef int _take(self, size_t max_events, vector[WatchEvent]* out) except -1:
        _release_parked()
        cdef CWatcher* watcher = self._watcher.get()
        with nogil:
            watcher.pop(max_events, out)
        return 0

    def pop(self, max_events=1024):
        cdef vector[WatchEvent] events
        self._take(max_events, &events)
        cdef size_t i
        cdef const CEvent* event
        out = []
        for i in range(events.size()):
            event = events[i].event.get()
            out.append(_tuple_new(Event, (_EVENT_TYPES[<int>events[i].type], event.revision,
                                          _bytes_of(event.object.get()))))
        return out

    def pop_lines(self, max_events=1024):
        # One bytes object for the whole batch, copied straight from the stored objects:
        # no per-event tuple, and each object's bytes copied once rather than thrice.
        cdef vector[WatchEvent] events
        self._take(max_events, &events)
        cdef size_t n = events.size()
        if n == 0:
            return b"", 0, 0
        cdef size_t i, total = 0, head_size
        cdef const CEvent* event
        cdef const Object* obj
        for i in range(n):
            event = events[i].event.get()
            total += _LINE_HEAD_SIZES[<int>events[i].type] + event.object.get().data.size() + 2
        out = PyBytes_FromStringAndSize(NULL, total)
        cdef char* at = PyBytes_AS_STRING(out)
        for i in range(n):
            event = events[i].event.get()
            obj = event.object.get()
            head_size = _LINE_HEAD_SIZES[<int>events[i].type]
            memcpy(at, _LINE_HEAD_TEXTS[<int>events[i].type], head_size)
            at += head_size
            memcpy(at, obj.data.data(), obj.data.size())
            at += obj.data.size()
            at[0] = b'}'
            at[1] = b'\n'
            at += 2
        return out, n, events[n - 1].event.get().revision

    def wait(self, timeout=None):
        cdef double seconds = -1.0 if timeout is None else max(0.0, float(timeout))
        cdef CWatcher* watcher = self._watcher.get()
        cdef bool ready
        with nogil:
            ready = watcher.wait(seconds)
        return ready

    def close(self):
        cdef CWatcher* watcher = self._watcher.get()
        cdef CStore* store = self._store.get()
        if watcher == NULL:
            return
        with nogil:
            watcher.end(False)
            store.unwatch(deref(watcher))

    def __dealloc__(self):
        cdef CWatcher* watcher = self._watcher.get()
        cdef CStore* store = self._store.get()
        if watcher != NULL and store != NULL:
            with nogil:
                watcher.end(False)
                store.unwatch(deref(watcher))

    def __repr__(self):
        return f"<Watcher id={self.id} expired={self.expired} closed={self.closed}>"


cdef class Store:
    """The C++ store; pyk8s.store.native.NativeStore is the public name."""

    cdef shared_ptr[CStore] _store

    def __cinit__(self, watch_buffer=10000, *args, **kwargs):
        if watch_buffer < 1:
            raise ValueError("watch_buffer must be at least 1")
        self._store = make_shared[CStore](<size_t>watch_buffer)

    def current_revision(self):
        return self._store.get().current_revision()

    def compacted_revision(self):
        return self._store.get().compacted_revision()

    # get/create/update/delete keep the GIL: they take microseconds, and releasing it
    # for that long only lets the server's I/O thread (granian) take it, so every request
    # paid a futex handoff to get it back.  list, compact and watch waits, which can take
    # milliseconds or block, still release it.  The C++ side never takes the GIL, so a
    # thread holding it while it waits on the store's lock cannot deadlock.
    def get(self, resource, namespace, name):
        _release_parked()
        cdef string_view r, ns, n
        _view_into(resource, &r)
        _view_into(namespace, &ns)
        _view_into(name, &n)
        cdef CStore* store = self._store.get()
        cdef ObjectPtr obj
        obj = store.get(r, ns, n)
        if not obj:
            return None
        return _read_result(obj.get())

    def create(self, resource, namespace, name, data, rv_offset, labels=None, fields=None):
        _release_parked()
        cdef WriteRequest request
        _fill_write(&request, resource, namespace, name, data, rv_offset, labels, fields)
        cdef CStore* store = self._store.get()
        cdef CWriteResult result
        result = store.create(move(request))
        return _write_result(&result)

    def update(self, resource, namespace, name, data, rv_offset, labels=None, fields=None,
               expected_revision=0):
        _release_parked()
        cdef WriteRequest request
        _fill_write(&request, resource, namespace, name, data, rv_offset, labels, fields)
        cdef Revision expected = expected_revision
        cdef CStore* store = self._store.get()
        cdef CWriteResult result
        result = store.update(move(request), expected)
        return _write_result(&result)

    def delete(self, resource, namespace, name, expected_revision=0):
        _release_parked()
        cdef string_view r, ns, n
        _view_into(resource, &r)
        _view_into(namespace, &ns)
        _view_into(name, &n)
        cdef Revision expected = expected_revision
        cdef CStore* store = self._store.get()
        cdef CWriteResult result
        result = store.remove(r, ns, n, expected)
        return _write_result(&result)

    def list(self, resource, namespace="", label_selector=(), field_selector=(), limit=0,
             start_after="", revision=0):
        _release_parked()
        cdef Selector selector
        _fill_selector(&selector, label_selector, field_selector)
        cdef ListRequest request
        request.resource = _view(resource)
        request.namespace_ = _view(namespace)
        request.selector = &selector
        if limit < 0:
            raise ValueError("limit must not be negative")
        request.limit = limit
        request.start_after = _view(start_after)
        request.revision = revision
        cdef ListResult result = ListResult.__new__(ListResult)
        cdef CStore* store = self._store.get()
        with nogil:
            store.list(request, &result._result)
        if result._result.error != RevisionError.kNone:
            raise _revision_error(result._result.error, revision, result._result.error_bound)
        if result._result.remaining:
            result.next_key = result._result.next_key.decode("utf-8", "surrogateescape")
        return result

    def count(self, resource, namespace=""):
        cdef string_view r, ns
        _view_into(resource, &r)
        _view_into(namespace, &ns)
        cdef CStore* store = self._store.get()
        cdef size_t n
        with nogil:
            n = store.count(r, ns)
        return n

    def index_fields(self, resource, names):
        cdef vector[string] c_names
        for name in names:
            c_names.push_back(_utf8(name))
        cdef string_view r
        _view_into(resource, &r)
        cdef CStore* store = self._store.get()
        with nogil:
            store.index_fields(r, move(c_names))

    def watch(self, resource, namespace="", label_selector=(), field_selector=(), from_revision=0,
              send_initial=False, Notifier notifier=None):
        cdef WatchRequest request
        request.resource = _view(resource)
        request.filter.namespace_ = _utf8(namespace)
        _fill_selector(&request.filter.selector, label_selector, field_selector)
        request.from_revision = from_revision
        request.send_initial = True if send_initial else False
        if notifier is not None:
            request.notifier = notifier._notifier
        cdef CStore* store = self._store.get()
        cdef WatchResult result
        with nogil:
            result = store.watch(move(request))
        if result.error != RevisionError.kNone:
            raise _revision_error(result.error, from_revision, result.error_bound)
        cdef Watcher watcher = Watcher.__new__(Watcher)
        watcher._watcher = result.watcher
        watcher._store = self._store
        return watcher

    def compact(self, revision, batch_size=1000):
        _release_parked()
        cdef Revision target = revision
        cdef size_t batch = max(1, batch_size)
        cdef CStore* store = self._store.get()
        cdef Revision compacted
        with nogil:
            compacted = store.compact(target, batch)
        return compacted

    def new_notifier(self):
        return Notifier()

    def close(self):
        cdef CStore* store = self._store.get()
        with nogil:
            store.close()

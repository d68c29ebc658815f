# cython: language_level=3
# The C++ store's declarations (csrc/store/*.h), kept apart from the wrapper classes in
# _store.pyx.  Only what the bindings use is declared.

from libc.stdint cimport int64_t, uint64_t
from libcpp cimport bool
from libcpp.memory cimport shared_ptr
from libcpp.string cimport string
from libcpp.utility cimport pair
from libcpp.vector cimport vector


cdef extern from "<string_view>" namespace "std" nogil:
    # Declared here rather than cimported so older Cython 3 releases build it too.
    cdef cppclass string_view:
        string_view()
        string_view(const char* data, size_t size)
        const char* data()
        size_t size()


cdef extern from "object.h" namespace "pyk8s::store" nogil:
    ctypedef int64_t Revision
    ctypedef vector[pair[string, string]] StringPairs

    void normalize_pairs(StringPairs& pairs)

    ctypedef void (*HostRelease)(void* host_object) noexcept nogil
    void set_host_release(HostRelease release)

    cdef cppclass Object:
        string data
        Revision mod_revision
        void* host_object()
        void* adopt_host_object(void* candidate)

    ctypedef shared_ptr[const Object] ObjectPtr


cdef extern from "host_release.h" namespace "pyk8s::store" nogil:
    void defer_host_release(void* host_object)
    bool has_deferred_host_releases()
    vector[void*] take_deferred_host_releases()


cdef extern from "selector.h" namespace "pyk8s::store" nogil:
    cdef enum class LabelOp "pyk8s::store::LabelOp":
        pass

    cdef enum class FieldOp "pyk8s::store::FieldOp":
        pass

    bool parse_label_op(string_view text, LabelOp* op)
    bool parse_field_op(string_view text, FieldOp* op)

    cdef cppclass LabelRequirement:
        string key
        LabelOp op
        vector[string] values

    cdef cppclass FieldRequirement:
        string field
        FieldOp op
        string value

    cdef cppclass Selector:
        vector[LabelRequirement] labels
        vector[FieldRequirement] fields

    cdef cppclass WatchFilter:
        string namespace_
        Selector selector


cdef extern from "event_log.h" namespace "pyk8s::store" nogil:
    cdef enum class EventType "pyk8s::store::EventType":
        kAdded
        kModified
        kDeleted

    cdef cppclass Event:
        EventType type
        Revision revision
        ObjectPtr object

    ctypedef shared_ptr[const Event] EventPtr


cdef extern from "notifier.h" namespace "pyk8s::store" nogil:
    cdef cppclass Notifier:
        Notifier() except +
        int fileno()
        vector[uint64_t] drain()
        void close()

    ctypedef shared_ptr[Notifier] NotifierPtr


cdef extern from "watcher.h" namespace "pyk8s::store" nogil:
    cdef cppclass WatchEvent:
        EventType type
        EventPtr event

    cdef cppclass Watcher:
        uint64_t id()
        void pop(size_t max_events, vector[WatchEvent]* out)
        bool wait(double timeout_seconds)
        void end(bool signal)
        bool expired()
        bool closed()


cdef extern from "store.h" namespace "pyk8s::store" nogil:
    cdef enum class WriteStatus "pyk8s::store::WriteStatus":
        kOk
        kNotFound
        kAlreadyExists
        kConflict

    cdef enum class RevisionError "pyk8s::store::RevisionError":
        kNone
        kCompacted
        kFuture

    cdef cppclass WriteResult:
        WriteStatus status
        Revision revision
        ObjectPtr object

    cdef cppclass WriteRequest:
        string_view resource
        string_view namespace_
        string_view name
        string_view template_bytes
        size_t rv_offset
        StringPairs labels
        StringPairs fields

    cdef cppclass ListRequest:
        string_view resource
        string_view namespace_
        const Selector* selector
        size_t limit
        string_view start_after
        Revision revision

    cdef cppclass ListResult:
        RevisionError error
        Revision error_bound
        Revision revision
        vector[ObjectPtr] items
        string next_key
        size_t remaining
        size_t body_size

    cdef cppclass WatchRequest:
        string_view resource
        WatchFilter filter
        Revision from_revision
        bool send_initial
        NotifierPtr notifier

    cdef cppclass WatchResult:
        RevisionError error
        Revision error_bound
        shared_ptr[Watcher] watcher

    cdef cppclass Store:
        Store(size_t watch_buffer) except +
        Revision current_revision()
        Revision compacted_revision()
        ObjectPtr get(string_view resource, string_view namespace_, string_view name) except +
        WriteResult create(WriteRequest request) except +
        WriteResult update(WriteRequest request, Revision expected_revision) except +
        WriteResult remove(string_view resource, string_view namespace_, string_view name,
                           Revision expected_revision) except +
        void list(const ListRequest& request, ListResult* out) except +
        size_t count(string_view resource, string_view namespace_) except +
        WatchResult watch(WatchRequest request) except +
        void unwatch(const Watcher& watcher)
        Revision compact(Revision revision, size_t batch_size) except +
        void index_fields(string_view resource, vector[string] names) except +
        void close()

// A stored object: its serialized JSON bytes plus the few fields needed to index and
// select it.  Objects are immutable once published (shared_ptr<const Object>), so readers
// can hold them after the store lock is released and writers never copy them to share.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pyk8s::store {

using Revision = std::int64_t;

// Labels and selectable fields: a handful of entries per object, so a sorted vector is
// smaller and faster to search than a map (one allocation, binary search, cache friendly).
using StringPairs = std::vector<std::pair<std::string, std::string>>;

// Sorts by key and drops duplicate keys (the last given wins, like a dict would).
void normalize_pairs(StringPairs& pairs);

// The value for `key` in sorted `pairs`, or nullptr when absent.
const std::string* find_pair(const StringPairs& pairs, std::string_view key);

// The bindings may attach one host-language object per Object (the Python bindings
// attach the tuple a get returns: `data` as bytes plus the mod revision), so repeated
// reads and watch fan-out hand out one immutable object instead of a copy per reader.  The core never looks inside it: it only calls the release hook when
// the Object dies, which may be on any thread, with or without the interpreter lock.
using HostRelease = void (*)(void* host_object);
void set_host_release(HostRelease release);

struct Object {
  Object() = default;
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;
  ~Object();

  // The attached host object, or nullptr.
  void* host_object() const { return host_object_.load(std::memory_order_acquire); }
  // Attaches `candidate` unless another reader attached one first; returns the attached
  // one (if it is not `candidate`, the caller still owns `candidate`).
  void* adopt_host_object(void* candidate) const;

 private:
  // Declared first, with mod_revision and data next: a get touches only these, and they
  // then share the cache line of the shared_ptr control block that precedes the object.
  mutable std::atomic<void*> host_object_{nullptr};

 public:
  Revision mod_revision = 0;
  // The JSON with "resourceVersion":"<mod_revision>" already spliced in; handed out as-is.
  std::string data;
  std::string namespace_;
  std::string name;
  StringPairs labels;
  StringPairs fields;
  // Where the revision digits sit inside `data`, so a delete can re-stamp the bytes
  // with its own revision without parsing JSON.
  std::size_t rv_offset = 0;
  std::size_t rv_length = 0;

  // metadata.name and metadata.namespace are always selectable; other fields compare as
  // "" when the writer did not give them (upstream field selector semantics).
  std::string_view field(std::string_view field_name) const;
};

using ObjectPtr = std::shared_ptr<const Object>;

// `tmpl` with the decimal `revision` inserted at `rv_offset` (the closing quote of the
// empty resourceVersion).  Sets *rv_length to the number of digits written.
std::string stamp_template(std::string_view tmpl, std::size_t rv_offset, Revision revision,
                           std::size_t* rv_length);

// A copy of `object` whose bytes carry `revision` instead of its mod revision: what a
// DELETE returns and what its event carries (as kube-apiserver does).
ObjectPtr restamp(const Object& object, Revision revision);

// The store key "namespace/name": byte order of these keys is the list order.
std::string make_key(std::string_view namespace_, std::string_view name);

}  // namespace pyk8s::store

// A parking place for host objects (see Object::host_object) that died on a thread that
// may not release them right now: a Python bytes can only be released with the
// interpreter lock held, and an Object may die in a writer or compaction batch running
// without it, under store or watcher locks.  Taking the interpreter lock there could
// deadlock (a thread holding it may be waiting for a watcher lock), so such releases are
// parked here and the bindings finish them on their next call that holds the lock.
#pragma once

#include <vector>

namespace pyk8s::store {

// Parks `host_object`.  Never blocks for long: a leaf mutex guarding a vector.
void defer_host_release(void* host_object);
// Cheap check (one atomic load) for the bindings' fast paths.
bool has_deferred_host_releases();
// Takes everything parked so far.
std::vector<void*> take_deferred_host_releases();

}  // namespace pyk8s::store

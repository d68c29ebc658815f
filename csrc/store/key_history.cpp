#include "key_history.h"

#include <algorithm>

namespace pyk8s::store {

namespace {

// First version with revision > `revision`.
std::vector<Version>::const_iterator after(const std::vector<Version>& versions, Revision revision) {
  return std::upper_bound(versions.begin(), versions.end(), revision,
                          [](Revision r, const Version& v) { return r < v.revision; });
}
}  // namespace

ObjectPtr KeyHistory::at(Revision revision) const {
  auto it = after(versions_, revision);
  if (it == versions_.begin()) return nullptr;
  return std::prev(it)->object;
}

void KeyHistory::append(Revision revision, ObjectPtr object) {
  latest_ = object;
  versions_.push_back(Version{revision, std::move(object)});
}

bool KeyHistory::compact(Revision revision) {
  auto it = after(versions_, revision);
  if (it == versions_.begin()) return versions_.empty();  // everything is newer
  auto state = std::prev(it);                               // the state as of `revision`
  auto keep_from = state->object ? state : it;               // a tombstone is not kept
  versions_.erase(versions_.begin(), keep_from);
  latest_ = versions_.empty() ? nullptr : versions_.back().object;
  return versions_.empty();
}

}  // namespace pyk8s::store

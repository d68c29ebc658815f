#include "key_history.h"

#include <algorithm>

namespace pyk8s::store {

namespace {
const ObjectPtr kAbsent;

// First version with revision > `revision`.
std::vector<Version>::const_iterator after(const std::vector<Version>& versions, Revision revision) {
  return std::upper_bound(versions.begin(), versions.end(), revision,
                          [](Revision r, const Version& v) { return r < v.revision; });
}
}  // namespace

const ObjectPtr& KeyHistory::latest() const {
  return versions_.empty() ? kAbsent : versions_.back().object;
}

ObjectPtr KeyHistory::at(Revision revision) const {
  auto it = after(versions_, revision);
  if (it == versions_.begin()) return nullptr;
  return std::prev(it)->object;
}

void KeyHistory::append(Revision revision, ObjectPtr object) {
  live_ = object.get();
  versions_.push_back(Version{revision, std::move(object)});
}

bool KeyHistory::compact(Revision revision) {
  auto it = after(versions_, revision);
  if (it == versions_.begin()) return versions_.empty();  // everything is newer
  auto state = std::prev(it);                               // the state as of `revision`
  auto keep_from = state->object ? state : it;               // a tombstone is not kept
  versions_.erase(versions_.begin(), keep_from);
  live_ = versions_.empty() ? nullptr : versions_.back().object.get();
  return versions_.empty();
}

}  // namespace pyk8s::store

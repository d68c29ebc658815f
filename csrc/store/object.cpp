#include "object.h"

#include <algorithm>
#include <charconv>

namespace pyk8s::store {

namespace {
std::atomic<HostRelease> host_release{nullptr};
}  // namespace

void set_host_release(HostRelease release) { host_release.store(release); }

Object::~Object() {
  if (void* host = host_object_.load(std::memory_order_acquire)) {
    if (HostRelease release = host_release.load()) release(host);
  }
}

void* Object::adopt_host_object(void* candidate) const {
  void* expected = nullptr;
  if (host_object_.compare_exchange_strong(expected, candidate, std::memory_order_acq_rel)) {
    return candidate;
  }
  return expected;
}

void normalize_pairs(StringPairs& pairs) {
  if (pairs.size() < 2) return;
  // A stable sort keeps insertion order among equal keys, so the last one is the newest.
  // Labels and fields are a handful of pairs: an insertion sort, in place, moves strings
  // (pointer swaps) where std::stable_sort would first allocate a buffer.
  if (pairs.size() <= 32) {
    for (std::size_t i = 1; i < pairs.size(); ++i) {
      if (!(pairs[i].first < pairs[i - 1].first)) continue;
      auto moving = std::move(pairs[i]);
      std::size_t j = i;
      for (; j > 0 && moving.first < pairs[j - 1].first; --j) pairs[j] = std::move(pairs[j - 1]);
      pairs[j] = std::move(moving);
    }
  } else {
    std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  std::size_t out = 0;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    if (out > 0 && pairs[out - 1].first == pairs[i].first) {
      pairs[out - 1].second = std::move(pairs[i].second);
    } else {
      if (out != i) pairs[out] = std::move(pairs[i]);
      ++out;
    }
  }
  pairs.resize(out);
}

const std::string* find_pair(const StringPairs& pairs, std::string_view key) {
  auto it = std::lower_bound(pairs.begin(), pairs.end(), key,
                             [](const auto& pair, std::string_view k) { return pair.first < k; });
  if (it == pairs.end() || it->first != key) return nullptr;
  return &it->second;
}

std::string_view Object::field(std::string_view field_name) const {
  if (field_name == "metadata.name") return name;
  if (field_name == "metadata.namespace") return namespace_;
  const std::string* value = find_pair(fields, field_name);
  return value ? std::string_view(*value) : std::string_view();
}

namespace {

std::size_t format_revision(Revision revision, char* buf, std::size_t size) {
  auto [end, ec] = std::to_chars(buf, buf + size, revision);
  (void)ec;  // 24 bytes always hold an int64
  return static_cast<std::size_t>(end - buf);
}

}  // namespace

std::string stamp_template(std::string_view tmpl, std::size_t rv_offset, Revision revision,
                           std::size_t* rv_length) {
  char digits[24];
  std::size_t n = format_revision(revision, digits, sizeof digits);
  std::string out;
  out.reserve(tmpl.size() + n);
  out.append(tmpl.data(), rv_offset);
  out.append(digits, n);
  out.append(tmpl.data() + rv_offset, tmpl.size() - rv_offset);
  *rv_length = n;
  return out;
}

ObjectPtr restamp(const Object& object, Revision revision) {
  auto copy = std::make_shared<Object>();
  copy->namespace_ = object.namespace_;
  copy->name = object.name;
  copy->labels = object.labels;
  copy->fields = object.fields;
  copy->mod_revision = revision;
  copy->rv_offset = object.rv_offset;
  std::string_view old(object.data);
  std::string_view tmpl_head = old.substr(0, object.rv_offset);
  std::string_view tmpl_tail = old.substr(object.rv_offset + object.rv_length);
  char digits[24];
  std::size_t n = format_revision(revision, digits, sizeof digits);
  copy->data.reserve(tmpl_head.size() + n + tmpl_tail.size());
  copy->data.append(tmpl_head).append(digits, n).append(tmpl_tail);
  copy->rv_length = n;
  return copy;
}

std::string make_key(std::string_view namespace_, std::string_view name) {
  std::string key;
  key.reserve(namespace_.size() + 1 + name.size());
  key.append(namespace_).push_back('/');
  key.append(name);
  return key;
}

}  // namespace pyk8s::store

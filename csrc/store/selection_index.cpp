#include "selection_index.h"

#include <algorithm>
#include <iterator>
#include <limits>

namespace pyk8s::store {

namespace {

// metadata.name and metadata.namespace are answered from the object itself (see
// Object::field), never from its given fields, so a given pair of that name selects
// nothing and is not indexed.
bool implicit_field(std::string_view name) {
  return name == "metadata.name" || name == "metadata.namespace";
}

}  // namespace

bool SelectionIndex::indexes_field(std::string_view name) const {
  if (implicit_field(name)) return false;
  return all_fields_ || std::binary_search(indexed_fields_.begin(), indexed_fields_.end(), name);
}

bool SelectionIndex::indexed(bool fields, std::string_view name) const {
  return !fields || indexes_field(name);
}

void SelectionIndex::index_fields(std::vector<std::string> names,
                                  const std::vector<std::pair<const KeyNode*, const Object*>>& live) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  indexed_fields_ = std::move(names);
  all_fields_ = false;
  fields_.clear();
  for (const auto& [node, object] : live) add_pairs(fields_, object->fields, node, /*fields=*/true);
}

void SelectionIndex::add_pairs(Postings& postings, const StringPairs& pairs, const KeyNode* node,
                               bool fields) const {
  for (const auto& [name, value] : pairs) {
    if (!indexed(fields, name)) continue;
    postings[name][value].insert(node);
  }
}

void SelectionIndex::remove_pair(Postings& postings, const std::string& name, const std::string& value,
                                 const KeyNode* node) {
  auto by_name = postings.find(name);
  if (by_name == postings.end()) return;
  auto by_value = by_name->second.find(value);
  if (by_value == by_name->second.end()) return;
  by_value->second.erase(node);
  // Empty sets go at once: label values such as pod-template-hash churn with rollouts.
  if (by_value->second.empty()) {
    by_name->second.erase(by_value);
    if (by_name->second.empty()) postings.erase(by_name);
  }
}

// Both sides are sorted by name with unique names (normalize_pairs).
void SelectionIndex::diff_pairs(Postings& postings, const StringPairs& before, const StringPairs& after,
                                const KeyNode* node, bool fields) const {
  std::size_t i = 0, j = 0;
  auto add = [&](const auto& pair) {
    if (indexed(fields, pair.first)) postings[pair.first][pair.second].insert(node);
  };
  auto drop = [&](const auto& pair) {
    if (indexed(fields, pair.first)) remove_pair(postings, pair.first, pair.second, node);
  };
  while (i < before.size() || j < after.size()) {
    if (j == after.size() || (i < before.size() && before[i].first < after[j].first)) {
      drop(before[i++]);
    } else if (i == before.size() || after[j].first < before[i].first) {
      add(after[j++]);
    } else {
      if (before[i].second != after[j].second) {
        drop(before[i]);
        add(after[j]);
      }
      ++i;
      ++j;
    }
  }
}

void SelectionIndex::add(const KeyNode* node, const Object& object) {
  add_pairs(labels_, object.labels, node, /*fields=*/false);
  add_pairs(fields_, object.fields, node, /*fields=*/true);
}

void SelectionIndex::remove(const KeyNode* node, const Object& object) {
  for (const auto& [name, value] : object.labels) remove_pair(labels_, name, value, node);
  for (const auto& [name, value] : object.fields) {
    if (indexes_field(name)) remove_pair(fields_, name, value, node);
  }
}

void SelectionIndex::replace(const KeyNode* node, const Object& before, const Object& after) {
  diff_pairs(labels_, before.labels, after.labels, node, /*fields=*/false);
  diff_pairs(fields_, before.fields, after.fields, node, /*fields=*/true);
}

const PostingList* SelectionIndex::find(const Postings& postings, const std::string& name,
                                        const std::string& value) {
  auto by_name = postings.find(name);
  if (by_name == postings.end()) return nullptr;
  auto by_value = by_name->second.find(value);
  return by_value == by_name->second.end() ? nullptr : &by_value->second;
}

bool SelectionIndex::candidates(const Selector& selector, const KeyRange& range,
                                std::vector<const KeyNode*>* out, bool* exact) const {
  // The requirement with the fewest keys (over the whole resource: a cheap estimate).
  std::vector<const PostingList*> best, lists;
  std::size_t best_size = std::numeric_limits<std::size_t>::max();
  bool found = false;
  auto consider = [&](std::size_t size) {
    if (size < best_size || !found) {
      best_size = size;
      best.swap(lists);
      found = true;
    }
  };
  for (const auto& req : selector.labels) {
    if (req.op != LabelOp::kEquals && req.op != LabelOp::kIn) continue;
    if (req.op == LabelOp::kEquals && req.values.empty()) continue;  // matches nothing; scan says so
    lists.clear();
    std::size_t size = 0;
    std::size_t n_values = req.op == LabelOp::kEquals ? 1 : req.values.size();
    for (std::size_t v = 0; v < n_values; ++v) {
      const std::string& value = req.values[v];
      // "in (a,a)": each set once, or the merge below would repeat its keys.
      if (std::find(req.values.begin(), req.values.begin() + static_cast<std::ptrdiff_t>(v), value) !=
          req.values.begin() + static_cast<std::ptrdiff_t>(v)) {
        continue;
      }
      if (const PostingList* list = find(labels_, req.key, value)) {
        lists.push_back(list);
        size += list->size();
      }
    }
    consider(size);
  }
  for (const auto& req : selector.fields) {
    if (req.op != FieldOp::kEquals || req.value.empty() || !indexes_field(req.field)) continue;
    lists.clear();
    std::size_t size = 0;
    if (const PostingList* list = find(fields_, req.field, req.value)) {
      lists.push_back(list);
      size = list->size();
    }
    consider(size);
  }
  if (!found) return false;
  *exact = selector.labels.size() + selector.fields.size() == 1;
  out->clear();
  if (best.empty()) return true;
  out->reserve(best_size);
  best.front()->collect(range.from, range.after, range.until, out);
  // "in": the sets are disjoint (one value per label), so merging keeps each key once.
  std::vector<const KeyNode*> more, merged;
  auto key_less = [](const KeyNode* a, const KeyNode* b) { return a->first < b->first; };
  for (std::size_t i = 1; i < best.size(); ++i) {
    more.clear();
    best[i]->collect(range.from, range.after, range.until, &more);
    merged.clear();
    merged.reserve(out->size() + more.size());
    std::merge(out->begin(), out->end(), more.begin(), more.end(), std::back_inserter(merged), key_less);
    out->swap(merged);
  }
  return true;
}

}  // namespace pyk8s::store

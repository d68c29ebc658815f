// A resource's inverted index of the current state: (label key, value) -> the keys whose
// live object carries that label, and the same for the selectable fields a writer gave
// (spec.nodeName, status.phase, ...).  Writers keep it in step under the exclusive store
// lock, so a list at the current revision reads it consistently under the shared lock.
//
// Why: a selector list used to test every object of the range, and at 100k objects
// that scan is bound by cache misses (~180 ns per object).  With the index, a selector
// holding an "=" or "in" requirement tests only the keys of that requirement's posting
// sets.  Older revisions are not indexed: lists at them keep scanning histories.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "object.h"
#include "posting_list.h"
#include "selector.h"

namespace pyk8s::store {

// Where a list's candidates lie: keys from `from` (exclusive when `after`) up to, not
// including, `until` ("" = to the end).
struct KeyRange {
  std::string_view from;
  bool after = false;
  std::string_view until;
};

class SelectionIndex {
 public:
  // `node` became live with `object` (create, or re-create of a deleted key).
  void add(const KeyNode* node, const Object& object);
  // `node`'s live object `object` was deleted.
  void remove(const KeyNode* node, const Object& object);
  // `node`'s live object changed from `before` to `after`: only changed pairs move.
  void replace(const KeyNode* node, const Object& before, const Object& after);

  // When `selector` has an indexable requirement ("=" or "in" on a label, "=" with a
  // non-empty value on a given field), fills `out` with the keys in `range` whose objects
  // satisfy the most selective such requirement, in key order, and returns true.
  // *exact is set when that requirement is the whole selector (the candidates are the
  // answer).  Returns false when the selector must be answered by a scan.
  bool candidates(const Selector& selector, const KeyRange& range, std::vector<const KeyNode*>* out,
                  bool* exact) const;

  // Index only the given fields named in `names` (by default every given field is
  // indexed).  The others stay on the objects, so selection is unchanged: a requirement
  // on one is answered by a scan.  Why: an Event carries ten selectable fields, most of
  // them unique (involvedObject.name, .uid), and indexing them cost a create more than
  // the rest of the store's work; upstream's watch cache indexes no Event field either.
  // `live` lists the live objects, whose field postings are rebuilt.
  void index_fields(std::vector<std::string> names,
                    const std::vector<std::pair<const KeyNode*, const Object*>>& live);
  bool indexes_field(std::string_view name) const;

 private:
  // name -> value -> keys
  using Postings = std::unordered_map<std::string, std::unordered_map<std::string, PostingList>>;

  void add_pairs(Postings& postings, const StringPairs& pairs, const KeyNode* node, bool fields) const;
  static void remove_pair(Postings& postings, const std::string& name, const std::string& value,
                          const KeyNode* node);
  void diff_pairs(Postings& postings, const StringPairs& before, const StringPairs& after,
                  const KeyNode* node, bool fields) const;
  // A given field of this name goes into fields_.
  bool indexed(bool fields, std::string_view name) const;
  static const PostingList* find(const Postings& postings, const std::string& name,
                                 const std::string& value);

  Postings labels_;
  Postings fields_;
  bool all_fields_ = true;
  std::vector<std::string> indexed_fields_;  // sorted; meaningful when !all_fields_
};

}  // namespace pyk8s::store

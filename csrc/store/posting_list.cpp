#include "posting_list.h"

#include <algorithm>
#include <iterator>

namespace pyk8s::store {

namespace {

bool before(std::string_view key, const KeyNode* node, bool after) {
  return after ? key < std::string_view(node->first) : key <= std::string_view(node->first);
}

}  // namespace

PostingList::Position PostingList::find(std::string_view key, bool after) const {
  // The first chunk whose last entry is at or past `key`, then the entry inside it.
  auto chunk = std::partition_point(chunks_.begin(), chunks_.end(), [&](const auto& c) {
    return !before(key, c.back(), after);
  });
  if (chunk == chunks_.end()) return Position{chunks_.size(), 0};
  auto entry = std::partition_point(chunk->begin(), chunk->end(),
                                    [&](const KeyNode* node) { return !before(key, node, after); });
  return Position{static_cast<std::size_t>(chunk - chunks_.begin()),
                  static_cast<std::size_t>(entry - chunk->begin())};
}

void PostingList::insert(const KeyNode* node) {
  ++size_;
  if (chunks_.empty()) {
    chunks_.emplace_back().push_back(node);
    return;
  }
  // Past every key (in-order creates, e.g. a bulk load) appends after one comparison.
  Position at{chunks_.size() - 1, chunks_.back().size()};
  if (node->first < chunks_.back().back()->first) at = find(node->first, /*after=*/false);
  auto& chunk = chunks_[at.chunk];
  chunk.insert(chunk.begin() + static_cast<std::ptrdiff_t>(at.offset), node);
  if (chunk.size() > kMaxChunk) {
    std::vector<const KeyNode*> upper(chunk.begin() + kMaxChunk / 2, chunk.end());
    chunk.resize(kMaxChunk / 2);
    chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(at.chunk) + 1, std::move(upper));
  }
}

void PostingList::erase(const KeyNode* node) {
  Position at = find(node->first, /*after=*/false);
  if (at.chunk == chunks_.size()) return;
  auto& chunk = chunks_[at.chunk];
  if (at.offset == chunk.size() || chunk[at.offset] != node) return;
  chunk.erase(chunk.begin() + static_cast<std::ptrdiff_t>(at.offset));
  --size_;
  if (chunk.empty()) chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(at.chunk));
}

void PostingList::collect(std::string_view from, bool after, std::string_view until,
                          std::vector<const KeyNode*>* out) const {
  Position begin = find(from, after);
  Position end = until.empty() ? Position{chunks_.size(), 0} : find(until, /*after=*/false);
  for (std::size_t c = begin.chunk; c < chunks_.size() && c <= end.chunk; ++c) {
    const auto& chunk = chunks_[c];
    std::size_t first = c == begin.chunk ? begin.offset : 0;
    std::size_t last = c == end.chunk ? end.offset : chunk.size();
    if (first < last) out->insert(out->end(), chunk.begin() + first, chunk.begin() + last);
  }
}

}  // namespace pyk8s::store

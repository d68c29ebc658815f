// Point lookups for get(): "namespace/name" -> the resource's KeyIndex node.
//
// An open-addressing table of (hash, node) slots with linear probing.  Why not
// std::unordered_map: a get there walks bucket -> previous node -> node before it reaches
// the KeyIndex node, each a dependent cache miss at 10k+ keys; here the probe is one
// contiguous slot (the full hash filters out other keys without touching them) and the
// node is next.  Erase shifts the following slots back, so no tombstones accumulate.
//
// A slot also carries the key's bytes and its live object as plain addresses, used only
// to prefetch: once the slot is read, the node, the key to verify and the object are
// fetched in parallel instead of one after the other.  A stale hint costs a wasted
// prefetch, never a wrong answer (prefetching an address never faults).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "posting_list.h"

namespace pyk8s::store {

class KeyTable {
 public:
  static std::uint64_t hash(std::string_view key) {
    // 8 bytes at a time with a multiply-xorshift mix: keys are short, so this beats a
    // general-purpose byte hash, and the table only needs well-spread low bits.
    std::uint64_t h = 0x9E3779B97F4A7C15ull ^ key.size();
    const char* p = key.data();
    std::size_t n = key.size();
    for (; n >= 8; p += 8, n -= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, 8);
      h = (h ^ word) * 0xBF58476D1CE4E5B9ull;
      h ^= h >> 31;
    }
    if (n) {
      std::uint64_t word = 0;
      std::memcpy(&word, p, n);
      h = (h ^ word) * 0xBF58476D1CE4E5B9ull;
    }
    h ^= h >> 29;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 32;
    return h;
  }

  KeyNode* find(std::string_view key) const { return find(key, hash(key)); }

  KeyNode* find(std::string_view key, std::uint64_t h) const {
    if (slots_.empty()) return nullptr;
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (!slot.node) return nullptr;
      if (slot.hash == h) {
        __builtin_prefetch(slot.key);
        __builtin_prefetch(&slot.node->second);
        if (slot.object) {
          // The shared_ptr control block sits just before a make_shared object.
          __builtin_prefetch(reinterpret_cast<const char*>(slot.object) - 16);
          __builtin_prefetch(reinterpret_cast<const char*>(slot.object) + 64);
          __builtin_prefetch(reinterpret_cast<const char*>(slot.object) + 128);
        }
        if (std::string_view(slot.node->first) == key) return slot.node;
      }
    }
  }

  // Records `object` (nullptr once deleted) as `key`'s live object, for prefetching.
  void hint(std::string_view key, const Object* object) {
    if (slots_.empty()) return;
    std::uint64_t h = hash(key);
    for (std::size_t i = h & mask_; slots_[i].node; i = (i + 1) & mask_) {
      if (slots_[i].hash == h && std::string_view(slots_[i].node->first) == key) {
        slots_[i].object = object;
        return;
      }
    }
  }

  // Adds `node` (its key must be absent).
  void insert(KeyNode* node) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    place(Slot{hash(node->first), node, node->first.data(), nullptr});
    ++size_;
  }

  void erase(std::string_view key) {
    if (slots_.empty()) return;
    std::uint64_t h = hash(key);
    std::size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      if (!slots_[i].node) return;
      if (slots_[i].hash == h && std::string_view(slots_[i].node->first) == key) break;
    }
    // Backward-shift deletion: move later slots of the probe run into the hole when their
    // home position is at or before it, so every key stays reachable from its home.
    std::size_t hole = i;
    for (std::size_t j = (i + 1) & mask_; slots_[j].node; j = (j + 1) & mask_) {
      std::size_t home = slots_[j].hash & mask_;
      if (((j - home) & mask_) >= ((j - hole) & mask_)) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
  }

  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    KeyNode* node = nullptr;
    const char* key = nullptr;        // node->first.data()
    const Object* object = nullptr;  // prefetch hint: the live object when last written
  };

  void place(Slot slot) {
    std::size_t i = slot.hash & mask_;
    while (slots_[i].node) i = (i + 1) & mask_;
    slots_[i] = slot;
  }

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.node) place(slot);
    }
  }

  std::vector<Slot> slots_;  // size is 0 or a power of two; load at most 3/4
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace pyk8s::store

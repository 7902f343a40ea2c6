// A fixed-size open-addressing hash index of slot numbers, for the park table: built once, never allocates
// afterwards, no tombstones (deletion shifts the following entries back), so lookups stay short however many
// inserts and erases a long-running shard does.
//
// The index stores (slot, hash) pairs; the caller keeps the keys in its own slots and passes an equality
// predicate to find(). The capacity is a power of two at least twice the most entries it will hold, so the
// load factor stays at or below 1/2 and an insert always finds an empty cell.
#pragma once

#include <bit>
#include <cassert>
#include <cstdint>
#include <vector>

namespace parkd::park::internal {

class SlotIndex {
 public:
  static constexpr uint32_t none = UINT32_MAX;

  explicit SlotIndex(uint32_t entries_max)
      : cells_(std::bit_ceil(std::max<uint64_t>(2ULL * entries_max, 8))), mask_(cells_.size() - 1) {}

  // The slot whose key has this hash and satisfies `equal(slot)`, or none.
  template <class Equal>
  uint32_t find(uint64_t hash, Equal&& equal) const {
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Cell& c = cells_[i];
      if (c.slot == none) return none;
      if (c.hash == hash && equal(c.slot)) return c.slot;
    }
  }

  // Adds `slot` under `hash` (the caller checked that the key is not present).
  void insert(uint64_t hash, uint32_t slot) {
    assert(size_ < cells_.size() / 2);
    size_t i = hash & mask_;
    while (cells_[i].slot != none) i = (i + 1) & mask_;
    cells_[i] = Cell{hash, slot};
    ++size_;
  }

  // Removes `slot`, which is present under `hash`.
  void erase(uint64_t hash, uint32_t slot) {
    size_t i = hash & mask_;
    while (cells_[i].slot != slot) {
      assert(cells_[i].slot != none);
      i = (i + 1) & mask_;
    }
    // Backward shift: move later entries of the probe run into the hole when their home position allows it.
    for (size_t j = (i + 1) & mask_; cells_[j].slot != none; j = (j + 1) & mask_) {
      const size_t home = cells_[j].hash & mask_;
      // The entry at j may move to the hole at i when its home is not in the cyclic range (i, j].
      const bool home_in_range = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (!home_in_range) {
        cells_[i] = cells_[j];
        i = j;
      }
    }
    cells_[i] = Cell{};
    --size_;
  }

  uint32_t size() const { return size_; }
  size_t memory_bytes() const { return cells_.capacity() * sizeof(Cell); }

 private:
  struct Cell {
    uint64_t hash = 0;
    uint32_t slot = none;
  };
  std::vector<Cell> cells_;
  size_t mask_;
  uint32_t size_ = 0;
};

}  // namespace parkd::park::internal

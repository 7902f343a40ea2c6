// InflightTable: the requests sent and not yet answered, keyed by a request id that the branch carries.
//
// Ids come from a counter (0 is never used). An id's home is entries[id & mask]; when the home is taken by an
// older request still in flight, the counter moves on to the next id whose home is free (open addressing
// where the key is chosen to fit the table), so insert, find and erase are one array access on average.
// The table is never more than half full: insert() refuses beyond limit(), and the caller counts that.
//
// Timeouts need no second structure: ids are handed out in send order and every request has the same
// timeout, so expire() walks ids from the oldest one not yet known to be done and stops at the first request
// still in flight that is younger than the cut-off. Each id is walked once: O(1) amortised per request.
//
// Everything is allocated in the constructor; nothing after.
#pragma once

#include <cstdint>
#include <vector>

namespace parkd::loadgen {

struct InflightEntry {
  uint64_t id = 0;  // 0: free
  uint64_t sent_ns = 0;
  uint32_t slot = 0;
};

class InflightTable {
 public:
  // Holds up to `limit` requests in flight; the table has the next power of two >= 2 * limit entries.
  explicit InflightTable(uint32_t limit);

  // A new request for `slot` sent at `now_ns` (non-decreasing from call to call). Returns its id, or 0 when
  // limit() requests are already in flight.
  uint64_t insert(uint32_t slot, uint64_t now_ns) {
    if (size_ >= limit_) return 0;
    for (;;) {
      uint64_t id = next_id_++;
      InflightEntry& e = entries_[id & mask_];
      if (e.id != 0) continue;
      e.id = id;
      e.sent_ns = now_ns;
      e.slot = slot;
      ++size_;
      return id;
    }
  }

  // The entry of a request still in flight, or nullptr (unknown id, answered already, or expired).
  InflightEntry* find(uint64_t id) {
    if (id == 0) return nullptr;
    InflightEntry& e = entries_[id & mask_];
    return e.id == id ? &e : nullptr;
  }

  void erase(InflightEntry& e) {
    e.id = 0;
    --size_;
  }

  // Removes every request sent before `cutoff_ns`, oldest first, calling on_expired(const InflightEntry&)
  // for each (the entry is already free when it is called, so the callback may insert).
  template <class Fn>
  void expire(uint64_t cutoff_ns, Fn&& on_expired) {
    if (size_ == 0) {
      oldest_id_ = next_id_;
      return;
    }
    while (oldest_id_ < next_id_) {
      InflightEntry& e = entries_[oldest_id_ & mask_];
      if (e.id == oldest_id_) {
        if (e.sent_ns >= cutoff_ns) return;
        InflightEntry copy = e;
        erase(e);
        ++oldest_id_;
        on_expired(static_cast<const InflightEntry&>(copy));
        continue;
      }
      ++oldest_id_;
    }
  }

  uint32_t size() const { return size_; }
  uint32_t limit() const { return limit_; }
  uint32_t capacity() const { return static_cast<uint32_t>(entries_.size()); }

 private:
  std::vector<InflightEntry> entries_;
  uint64_t mask_ = 0;
  uint64_t next_id_ = 1;
  uint64_t oldest_id_ = 1;
  uint32_t size_ = 0;
  uint32_t limit_ = 0;
};

inline InflightTable::InflightTable(uint32_t limit) : limit_(limit) {
  uint64_t capacity = 2;
  while (capacity < 2 * static_cast<uint64_t>(limit)) capacity *= 2;
  entries_.resize(capacity);
  mask_ = capacity - 1;
}

}  // namespace parkd::loadgen

// A hierarchical timer wheel with millisecond resolution and intrusive entries: one per shard, driven by the
// shard's reactor (SIP transaction timers, registration expiry, park recall).
//
// Contract:
// - The caller embeds a TimerEntry in its own object and recovers the object in the callback with
//   PARKD_TIMER_OWNER (or by deriving from TimerEntry and using static_cast). The wheel never allocates:
//   schedule() and cancel() are O(1) list operations; the wheel's slots live inside the TimerWheel object.
// - Time is a parameter (milliseconds on any monotonic clock, below 2^63); the wheel never reads a clock.
//   advance(now_ms) fires every timer whose expiry is <= now_ms, in expiry order: the wheel walks time in exact
//   milliseconds, so a timer never fires early and fires late only by the caller's lag in calling advance().
// - Timers with the same expiry fire in the order they reached the lowest level (usually scheduling order).
// - A timer scheduled with an expiry at or before the wheel's current time is overdue: it fires on the next
//   pass of advance(), before any timer due later. A pass is the entry into advance() and every later millisecond
//   at which something is due; a callback that re-schedules its own timer "now" therefore fires again at the next
//   pass, never in the same one, so advance() always terminates.
// - Callbacks may schedule, re-schedule or cancel any entry (themselves, or others due in the same pass). They
//   must not call advance() and must not destroy an entry that is still armed.
// - An entry must be cancelled (or have fired) before it is destroyed, and must not move while armed.
//
// Layout: kLevels levels of 64 slots; level L holds timers whose expiry first differs from the wheel's current
// time in bits [6L, 6L+6), so its slots are 64^L ms wide. When time reaches a slot of level L >= 1 the slot is
// cascaded: its timers are re-inserted relative to the new time, into a lower level or straight into the due list.
// Each timer cascades at most kLevels-1 times. The top level is a ring covering 2^36 ms (about 795 days); a timer
// further away than that is clamped into the top slot that comes round last and is re-cascaded (re-placed, maybe
// clamped again) each time that slot comes round, so any uint64 expiry below 2^63 works.
//
// Occupancy bitmaps (one uint64 per level) find the next non-empty slot with one rotate and one count of trailing
// zeros, so advance() over a long idle period (hours) costs one step per non-empty slot, not one per millisecond.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>

namespace parkd {

class TimerWheel;

namespace timer_internal {
// A node of a circular doubly-linked list; list heads are sentinel nodes.
struct Link {
  Link* next = nullptr;
  Link* prev = nullptr;
};
}  // namespace timer_internal

// An intrusive timer: embed it in the object the timer belongs to. Not copyable or movable (the wheel's lists
// point into it).
class TimerEntry {
 public:
  using Callback = void (*)(TimerEntry&);

  explicit TimerEntry(Callback callback = nullptr) : callback_(callback) {}
  TimerEntry(const TimerEntry&) = delete;
  TimerEntry& operator=(const TimerEntry&) = delete;
  ~TimerEntry() { assert(!armed() && "destroying an armed TimerEntry: cancel it first"); }

  // The callback may be changed while the entry is not armed.
  void set_callback(Callback callback) {
    assert(!armed());
    callback_ = callback;
  }
  bool armed() const { return location_ != kUnarmed; }
  // The expiry of the last schedule() (meaningful while armed, and inside the callback).
  uint64_t expires_at_ms() const { return expires_at_ms_; }

 private:
  friend class TimerWheel;
  static constexpr uint16_t kUnarmed = 0xffff;
  static constexpr uint16_t kDue = 0xfffe;  // on the due list or the pass being run

  timer_internal::Link link_;  // first member: a Link* of an entry converts back to the entry
  uint64_t expires_at_ms_ = 0;
  Callback callback_;
  uint16_t location_ = kUnarmed;  // level * 64 + slot, kDue or kUnarmed
};
static_assert(std::is_standard_layout_v<TimerEntry>, "the wheel converts a list link back to its entry");

// The object that embeds `member` (a TimerEntry) and whose member `entry` is; for use inside a callback.
// OwnerType must be standard-layout (offsetof); otherwise derive OwnerType from TimerEntry and static_cast.
#define PARKD_TIMER_OWNER(OwnerType, member, entry)                                                   \
  (*reinterpret_cast<OwnerType*>(reinterpret_cast<char*>(&static_cast<::parkd::TimerEntry&>(entry)) - \
                                 offsetof(OwnerType, member)))

struct TimerWheelCounters {
  uint64_t armed = 0;           // timers scheduled and not yet fired or cancelled
  uint64_t fired_total = 0;     // callbacks run since construction
  uint64_t cascaded_total = 0;  // timers moved down a level (or re-clamped) since construction
};

class TimerWheel {
 public:
  static constexpr unsigned kLevels = 6;
  static constexpr unsigned kSlotBits = 6;
  static constexpr unsigned kSlots = 1u << kSlotBits;
  // Timers closer than this to the wheel's current time need no clamping (2^36 ms, about 795 days).
  static constexpr uint64_t kRangeMs = uint64_t{1} << (kLevels * kSlotBits);

  explicit TimerWheel(uint64_t now_ms);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  // Disarms every entry still armed (shutdown path, O(armed)): the entries may then be destroyed.
  ~TimerWheel();

  // Arms `entry` to fire at expires_at_ms; an armed entry is moved. O(1).
  void schedule(TimerEntry& entry, uint64_t expires_at_ms);
  // Disarms `entry`; a no-op if it is not armed. O(1).
  void cancel(TimerEntry& entry);
  static bool armed(const TimerEntry& entry) { return entry.armed(); }

  // Fires every timer whose expiry is <= now_ms (a now_ms in the past is taken as the current time) and returns
  // how many fired. During a callback, now_ms() is the expiry being processed (exact), so a periodic timer that
  // re-schedules itself at now_ms() + period does not drift.
  size_t advance(uint64_t now_ms);

  // The earliest time at which advance() has work to do: the current time if a timer is overdue, else the start
  // of the next non-empty slot. Never later than the earliest expiry (exact when that timer sits in level 0), so
  // a reactor may sleep until then; waking at a cascade that fires nothing costs one short advance().
  // std::nullopt when no timer is armed.
  std::optional<uint64_t> next_expiry_ms() const;

  uint64_t now_ms() const { return now_ms_; }
  size_t size() const { return armed_count_; }
  bool empty() const { return armed_count_ == 0; }
  TimerWheelCounters counters() const { return {armed_count_, fired_total_, cascaded_total_}; }

 private:
  using Link = timer_internal::Link;

  struct Activation {
    uint64_t at_ms;
    unsigned level;
    unsigned slot;
  };

  static TimerEntry& entry_of(Link* link) { return *reinterpret_cast<TimerEntry*>(link); }
  static void init_list(Link& head) { head.next = head.prev = &head; }
  static bool list_empty(const Link& head) { return head.next == &head; }
  static void push_back(Link& head, Link& node);
  static void unlink(Link& node);
  // Moves every node of `from` to the end of `to`, leaving `from` empty.
  static void splice_back(Link& to, Link& from);

  // Puts an entry (already counted as armed) where its expiry belongs relative to now_ms_.
  void place(TimerEntry& entry);
  void remove_from_slot(TimerEntry& entry);
  // The next non-empty slot in time order, if any.
  std::optional<Activation> next_activation() const;
  void cascade(unsigned level, unsigned slot);
  // Runs the due list once (entries made due by the callbacks wait for the next pass). Returns how many fired.
  size_t run_pass();

  uint64_t now_ms_;
  size_t armed_count_ = 0;
  uint64_t fired_total_ = 0;
  uint64_t cascaded_total_ = 0;
  bool in_advance_ = false;
  uint64_t occupied_[kLevels] = {};  // bit s of level L: slot s of level L is non-empty
  Link due_;                         // overdue entries, in the order they became due
  Link slots_[kLevels][kSlots];
};

}  // namespace parkd

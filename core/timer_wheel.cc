#include "core/timer_wheel.h"

#include <bit>

namespace parkd {

namespace {
constexpr uint16_t kSlotLocations = TimerWheel::kLevels * TimerWheel::kSlots;
constexpr uint64_t kSlotMask = TimerWheel::kSlots - 1;
}  // namespace

TimerWheel::TimerWheel(uint64_t now_ms) : now_ms_(now_ms) {
  init_list(due_);
  for (auto& level : slots_) {
    for (auto& head : level) init_list(head);
  }
}

TimerWheel::~TimerWheel() {
  auto disarm_all = [](Link& head) {
    while (!list_empty(head)) {
      Link* node = head.next;
      unlink(*node);
      entry_of(node).location_ = TimerEntry::kUnarmed;
    }
  };
  disarm_all(due_);
  for (auto& level : slots_) {
    for (auto& head : level) disarm_all(head);
  }
}

void TimerWheel::push_back(Link& head, Link& node) {
  node.prev = head.prev;
  node.next = &head;
  head.prev->next = &node;
  head.prev = &node;
}

void TimerWheel::unlink(Link& node) {
  node.prev->next = node.next;
  node.next->prev = node.prev;
  node.next = node.prev = nullptr;
}

void TimerWheel::splice_back(Link& to, Link& from) {
  if (list_empty(from)) return;
  Link* first = from.next;
  Link* last = from.prev;
  first->prev = to.prev;
  to.prev->next = first;
  last->next = &to;
  to.prev = last;
  init_list(from);
}

void TimerWheel::schedule(TimerEntry& entry, uint64_t expires_at_ms) {
  if (entry.armed()) {
    remove_from_slot(entry);
  } else {
    ++armed_count_;
  }
  entry.expires_at_ms_ = expires_at_ms;
  place(entry);
}

void TimerWheel::cancel(TimerEntry& entry) {
  if (!entry.armed()) return;
  remove_from_slot(entry);
  entry.location_ = TimerEntry::kUnarmed;
  --armed_count_;
}

void TimerWheel::remove_from_slot(TimerEntry& entry) {
  unlink(entry.link_);
  if (entry.location_ < kSlotLocations) {
    const unsigned level = entry.location_ / kSlots;
    const unsigned slot = entry.location_ % kSlots;
    if (list_empty(slots_[level][slot])) occupied_[level] &= ~(uint64_t{1} << slot);
  }
}

void TimerWheel::place(TimerEntry& entry) {
  const uint64_t expires = entry.expires_at_ms_;
  if (expires <= now_ms_) {
    entry.location_ = TimerEntry::kDue;
    push_back(due_, entry.link_);
    return;
  }
  // The level is chosen by the highest bit in which the expiry differs from the current time: every bit above
  // that level's digit is shared with now_ms_, so the slot's digit alone says when the slot comes round.
  const unsigned highest_differing_bit = 63 - static_cast<unsigned>(std::countl_zero(expires ^ now_ms_));
  unsigned level = highest_differing_bit / kSlotBits;
  uint64_t slot = 0;
  if (level >= kLevels - 1) {
    // The top level is a ring: a timer 1..63 top slots ahead goes to its own slot; one further away is clamped
    // into the current top slot, which comes round last (a full ring from now), and is re-placed then.
    level = kLevels - 1;
    const unsigned shift = level * kSlotBits;
    const uint64_t slots_ahead = (expires >> shift) - (now_ms_ >> shift);
    slot = (slots_ahead < kSlots ? (expires >> shift) : (now_ms_ >> shift)) & kSlotMask;
  } else {
    slot = (expires >> (level * kSlotBits)) & kSlotMask;
  }
  entry.location_ = static_cast<uint16_t>(level * kSlots + slot);
  push_back(slots_[level][slot], entry.link_);
  occupied_[level] |= uint64_t{1} << slot;
}

std::optional<TimerWheel::Activation> TimerWheel::next_activation() const {
  // A non-empty lower level always comes round before any higher one: its timers share every digit above it with
  // now_ms_, so they fall before the next slot boundary of the level above.
  for (unsigned level = 0; level < kLevels; ++level) {
    const uint64_t occupied = occupied_[level];
    if (occupied == 0) continue;
    const unsigned shift = level * kSlotBits;
    const uint64_t current_slot = (now_ms_ >> shift) & kSlotMask;
    assert(level == kLevels - 1 || (occupied & (uint64_t{1} << current_slot)) == 0);
    // Bit i of `rotated` is slot current_slot + 1 + i (mod 64), i.e. the slot that comes round i + 1 slots on.
    const uint64_t rotated = std::rotr(occupied, static_cast<int>((current_slot + 1) & kSlotMask));
    const unsigned slots_on = static_cast<unsigned>(std::countr_zero(rotated)) + 1;
    return Activation{((now_ms_ >> shift) + slots_on) << shift, level,
                      static_cast<unsigned>((current_slot + slots_on) & kSlotMask)};
  }
  return std::nullopt;
}

void TimerWheel::cascade(unsigned level, unsigned slot) {
  Link& head = slots_[level][slot];
  occupied_[level] &= ~(uint64_t{1} << slot);
  if (level == 0) {
    // Every timer of a level-0 slot expires exactly now.
    for (Link* node = head.next; node != &head; node = node->next) entry_of(node).location_ = TimerEntry::kDue;
    splice_back(due_, head);
    return;
  }
  Link moving;
  init_list(moving);
  splice_back(moving, head);
  while (!list_empty(moving)) {
    Link* node = moving.next;
    unlink(*node);
    ++cascaded_total_;
    place(entry_of(node));
  }
}

size_t TimerWheel::run_pass() {
  // The due list is taken whole: what the callbacks make due lands on a fresh due list and waits for the next
  // pass. Entries are taken one at a time from the front so a callback may cancel or move any entry still here.
  Link running;
  init_list(running);
  splice_back(running, due_);
  size_t fired = 0;
  while (!list_empty(running)) {
    Link* node = running.next;
    unlink(*node);
    TimerEntry& entry = entry_of(node);
    entry.location_ = TimerEntry::kUnarmed;
    --armed_count_;
    ++fired_total_;
    ++fired;
    if (entry.callback_ != nullptr) entry.callback_(entry);
  }
  return fired;
}

size_t TimerWheel::advance(uint64_t now_ms) {
  assert(!in_advance_ && "advance() called from a timer callback");
  in_advance_ = true;
  if (now_ms < now_ms_) now_ms = now_ms_;
  size_t fired = run_pass();
  for (;;) {
    const std::optional<Activation> next = next_activation();
    if (!next || next->at_ms > now_ms) break;
    now_ms_ = next->at_ms;
    cascade(next->level, next->slot);
    fired += run_pass();
  }
  if (now_ms_ < now_ms) {
    now_ms_ = now_ms;
    fired += run_pass();
  }
  in_advance_ = false;
  return fired;
}

std::optional<uint64_t> TimerWheel::next_expiry_ms() const {
  if (!list_empty(due_)) return now_ms_;
  const std::optional<Activation> next = next_activation();
  if (!next) return std::nullopt;
  return next->at_ms;
}

}  // namespace parkd

#include "tools/loadgen/engine.h"

#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "sip/parser.h"
#include "tools/loadgen/writer.h"

namespace parkd::loadgen {
namespace {

constexpr std::string_view branch_prefix = "z9hG4bK-lg";
constexpr uint16_t buffer_group = 0;

// Our branches: "z9hG4bK-lg" <request id, hex> "-" <thread, hex> "-" <run token>. Returns the request id, or 0.
uint64_t request_id_from_branch(std::string_view branch) {
  if (branch.substr(0, branch_prefix.size()) != branch_prefix) return 0;
  uint64_t id = 0;
  size_t digits = 0;
  for (char c : branch.substr(branch_prefix.size())) {
    uint64_t d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint64_t>(c - 'a') + 10;
    } else {
      break;
    }
    if (++digits > 16) return 0;
    id = id << 4 | d;
  }
  return id;
}

// The slot a request from the server is for: ";lg=N" in its Request-URI (our Contacts carry it).
int64_t slot_from_request_uri(std::string_view uri) {
  size_t at = uri.find(";lg=");
  if (at == std::string_view::npos) return -1;
  int64_t slot = 0;
  size_t digits = 0;
  for (char c : uri.substr(at + 4)) {
    if (c < '0' || c > '9' || ++digits > 9) break;
    slot = slot * 10 + (c - '0');
  }
  return digits == 0 ? -1 : slot;
}

SetupResult failure(std::string message, bool io_uring_unavailable = false) {
  return {false, io_uring_unavailable, std::move(message)};
}

}  // namespace

Engine::Engine(const Config& config, const UserSource& users, Scenario& scenario, uint32_t thread_index)
    : config_(config),
      users_(users),
      scenario_(scenario),
      thread_index_(thread_index),
      threads_(config.threads),
      inflight_(config.max_inflight) {
  auto share = [&](uint64_t total) { return total / threads_ + (thread_index_ < total % threads_ ? 1 : 0); };
  socket_count_ = static_cast<uint32_t>(share(config.sockets));
  rate_ = config.rate / threads_;
  for (RateStep step : config.schedule) {
    step.rate /= threads_;
    schedule_.push_back(step);
  }
  if (!config.timeline_path.empty()) timeline_ns_ = uint64_t{config.timeline_ms} * 1'000'000;
  concurrency_ = static_cast<uint32_t>(share(config.concurrency));
  count_ = config.count == 0 ? UINT64_MAX : share(config.count);
  duration_ns_ = static_cast<uint64_t>(config.duration_s * 1e9);
  timeout_ns_ = uint64_t{config.timeout_ms} * 1'000'000;
}

Engine::~Engine() {
  for (Socket& s : sockets_)
    if (s.fd >= 0) close(s.fd);
  if (ring_ready_) io_uring_queue_exit(&ring_);
  if (buf_ring_ != nullptr) munmap(buf_ring_, buf_ring_bytes_);
}

uint64_t Engine::clock_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

SetupResult Engine::setup() {
  // The ring. DEFER_TASKRUN runs completion work only when this thread asks for completions (no
  // interrupting task work); it needs SINGLE_ISSUER (6.1+). Fall back for older kernels.
  const unsigned flag_sets[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_COOP_TASKRUN, 0};
  int rc = -EINVAL;
  for (unsigned flags : flag_sets) {
    io_uring_params params{};
    params.flags = flags | IORING_SETUP_CQSIZE;
    params.cq_entries = cq_entries;
    rc = io_uring_queue_init_params(sq_entries, &ring_, &params);
    if (rc != -EINVAL) break;
  }
  if (rc < 0) {
    return failure("io_uring_queue_init: " + std::string(strerror(-rc)) +
                       " (io_uring disabled by the kernel, kernel.io_uring_disabled or a seccomp policy?)",
                   rc == -ENOSYS || rc == -EPERM || rc == -EACCES);
  }
  ring_ready_ = true;

  // The provided buffer ring for receives (5.19+).
  buf_ring_bytes_ = recv_buffer_count * sizeof(io_uring_buf);
  void* ring_memory = mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (ring_memory == MAP_FAILED) return failure("mmap of the buffer ring failed");
  buf_ring_ = static_cast<io_uring_buf_ring*>(ring_memory);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
  reg.ring_entries = recv_buffer_count;
  reg.bgid = buffer_group;
  rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) return failure("io_uring_register_buf_ring: " + std::string(strerror(-rc)) + " (needs Linux 5.19+)");
  io_uring_buf_ring_init(buf_ring_);
  recv_memory_ = std::make_unique<char[]>(size_t{recv_buffer_count} * recv_buffer_size);
  const int mask = io_uring_buf_ring_mask(recv_buffer_count);
  for (uint32_t i = 0; i < recv_buffer_count; ++i)
    io_uring_buf_ring_add(buf_ring_, recv_memory_.get() + size_t{i} * recv_buffer_size, recv_buffer_size,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(recv_buffer_count));
  recv_msghdr_.msg_namelen = sizeof(sockaddr_in6);  // each buffer: io_uring_recvmsg_out, name, payload
  recv_msghdr_.msg_controllen = 0;

  // Send buffers: enough for a closed loop's first burst; the pool refills from send completions.
  send_buffer_count_ = std::max<uint32_t>(4096, std::min<uint32_t>(2 * concurrency_ + 64, 65536));
  send_memory_ = std::make_unique<char[]>(size_t{send_buffer_count_} * send_buffer_size);
  send_free_.reserve(send_buffer_count_);
  for (uint32_t i = send_buffer_count_; i-- > 0;) send_free_.push_back(i);
  pending_.reserve(cq_entries * 2);

  // Sockets.
  Address bind_address;
  parse_address(config_.bind_host, 0, bind_address);
  sockets_.resize(socket_count_);
  for (Socket& s : sockets_) {
    s.fd = socket(config_.target.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.fd < 0) return failure("socket: " + std::string(strerror(errno)));
    int size = static_cast<int>(config_.rcvbuf_bytes);
    if (size > 0 && setsockopt(s.fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
      setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);  // capped by net.core.rmem_max
    if (bind(s.fd, reinterpret_cast<const sockaddr*>(&bind_address.storage), bind_address.size) != 0)
      return failure("bind to " + config_.bind_host + ": " + strerror(errno));
    if (connect(s.fd, reinterpret_cast<const sockaddr*>(&config_.target.storage), config_.target.size) != 0)
      return failure("connect to " + format_address(config_.target) + ": " + strerror(errno));
    Address local;
    local.size = sizeof local.storage;
    getsockname(s.fd, reinterpret_cast<sockaddr*>(&local.storage), &local.size);
    std::string text = format_address(local);
    s.local_size = static_cast<uint8_t>(std::min(text.size(), sizeof s.local));
    std::memcpy(s.local, text.data(), s.local_size);
  }
  target_hostport_ = format_address(config_.target);

  // Slots: the closed loop's concurrency, or as many as requests may be in flight (at most what the
  // scenario can serve).
  uint64_t limit = scenario_.slot_limit(users_, threads_);
  uint32_t slot_count = rate_ > 0 ? static_cast<uint32_t>(std::min<uint64_t>(config_.max_inflight, limit))
                                  : std::max<uint32_t>(concurrency_, 1);
  if (slot_count == 0 || slot_count > limit) {
    return failure("scenario " + config_.scenario + ": " + std::to_string(slot_count) +
                   " slots per thread, but it can serve only " + std::to_string(limit) +
                   " with these users (see tools/loadgen/README.md)");
  }
  slots_.resize(slot_count);
  for (uint32_t i = 0; i < slot_count; ++i) {
    slots_[i].index = i;
    slots_[i].socket = i % socket_count_;
  }
  if (rate_ > 0) {
    free_slots_.reserve(slot_count);
    for (uint32_t i = slot_count; i-- > 0;) free_slots_.push_back(i);
  }
  finished_.resize(slot_count + 1);
  if (timeline_ns_ != 0)
    stats_.timeline.resize(static_cast<size_t>(config_.duration_s * 1e9 / static_cast<double>(timeline_ns_)) + 2);
  message_ = std::make_unique<sip::MessageView>();

  uint64_t token = 0;
  if (getrandom(&token, sizeof token, 0) != sizeof token) token = clock_ns();
  run_token_ = token & 0xffffffff;
  std::string error;
  if (!scenario_.prepare(*this, slot_count, error)) return failure("scenario " + config_.scenario + ": " + error);
  return {true, false, {}};
}

std::string_view Engine::local_hostport(const Slot& slot) const {
  const Socket& s = sockets_[slot.socket];
  return {s.local, s.local_size};
}

std::string_view Engine::local_hostport(uint32_t socket) const {
  const Socket& s = sockets_[socket < sockets_.size() ? socket : 0];
  return {s.local, s.local_size};
}

std::string_view Engine::local_host() const {
  std::string_view hostport = {sockets_[0].local, sockets_[0].local_size};
  return hostport.substr(0, hostport.rfind(':'));
}

std::string_view Engine::media_host() const {
  const std::string_view host = local_host();
  return host.starts_with('[') ? host.substr(1, host.size() - 2) : host;
}

io_uring_sqe* Engine::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    io_uring_submit(&ring_);  // the submission queue is full: flush it
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

char* Engine::take_send_buffer(uint32_t& index) {
  if (send_free_.empty()) {
    // Every buffer is in a send not yet reaped: submit, then take the completions now. Send completions free
    // their buffer; the others wait in pending_ for the handling loop (which reads pending_ by index).
    io_uring_submit(&ring_);
    io_uring_cqe* cqe = nullptr;
    while (pending_.size() < pending_.capacity() && io_uring_peek_cqe(&ring_, &cqe) == 0) {
      Completion c{cqe->user_data, cqe->res, cqe->flags};
      io_uring_cqe_seen(&ring_, cqe);
      if (c.user_data >> 56 == op_send) {
        handle(c);
      } else {
        pending_.push_back(c);
      }
    }
    if (send_free_.empty()) return nullptr;
  }
  index = send_free_.back();
  send_free_.pop_back();
  return send_memory_.get() + size_t{index} * send_buffer_size;
}

void Engine::send_buffer(uint32_t socket, uint32_t buffer, size_t size) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) {  // cannot happen after a flush; keep the buffer and count it
    send_free_.push_back(buffer);
    ++stats_.send_errors;
    return;
  }
  io_uring_prep_send(sqe, sockets_[socket].fd, send_memory_.get() + size_t{buffer} * send_buffer_size, size, 0);
  io_uring_sqe_set_data64(sqe, encode(op_send, buffer));
}

bool Engine::send_request(Slot& slot, const OutgoingRequest& r) {
  if (slot.phase != SlotPhase::active) return false;
  uint32_t buffer = 0;
  char* data = take_send_buffer(buffer);
  uint64_t id = 0;
  if (data != nullptr && r.expect_response) {
    id = inflight_.insert(slot.index, now_ns_);
  } else if (data != nullptr) {
    // Tracked ids count up from 1; an untracked branch of our own has the top bit set, so a stray answer to
    // it never matches a request in flight.
    id = r.branch_id != 0 ? r.branch_id : uint64_t{1} << 63 | unique_counter();
  }
  if (id == 0) {
    if (data != nullptr) send_free_.push_back(buffer);
    ++stats_.send_errors;
    lose(slot);
    return false;
  }
  Writer w(data, send_buffer_size);
  w.put(r.method).put(' ').put(r.request_uri).put(" SIP/2.0\r\nVia: SIP/2.0/UDP ").put(local_hostport(slot));
  w.put(";rport;branch=").put(branch_prefix).put_hex(id).put('-').put_hex(thread_index_).put('-').put_hex(run_token_);
  w.put("\r\nMax-Forwards: 70\r\nFrom: <").put(r.from_uri).put(">;tag=");
  if (r.from_tag.empty()) {
    w.put("lg").put_hex(slot.txn_id);
  } else {
    w.put(r.from_tag);
  }
  w.put("\r\nTo: <").put(r.to_uri).put('>');
  if (!r.to_tag.empty()) w.put(";tag=").put(r.to_tag);
  w.put("\r\nCall-ID: ");
  if (r.call_id.empty()) {
    w.put_hex(slot.txn_id).put('-').put_hex(run_token_).put("@parkd-loadgen");
  } else {
    w.put(r.call_id);
  }
  w.put("\r\nCSeq: ").put_uint(r.cseq).put(' ').put(r.method).put("\r\nUser-Agent: parkd-loadgen\r\n");
  w.put(r.headers);
  if (!r.content_type.empty()) w.put("Content-Type: ").put(r.content_type).put("\r\n");
  w.put("Content-Length: ").put_uint(r.body.size()).put("\r\n\r\n").put(r.body);
  if (w.overflow()) {
    send_free_.push_back(buffer);
    if (InflightEntry* e = r.expect_response ? inflight_.find(id) : nullptr) inflight_.erase(*e);
    ++stats_.send_errors;
    lose(slot);
    return false;
  }
  if (r.expect_response) slot.request_id = id;
  send_buffer(slot.socket, buffer, w.size());
  ++stats_.requests_sent;
  return true;
}

bool Engine::await_request(Slot& slot) {
  if (slot.phase != SlotPhase::active) return false;
  uint64_t id = inflight_.insert(slot.index, now_ns_);
  if (id == 0) {
    ++stats_.send_errors;
    lose(slot);
    return false;
  }
  slot.request_id = id;
  return true;
}

void Engine::end_wait(Slot& slot) {
  if (slot.request_id == 0) return;
  if (InflightEntry* e = inflight_.find(slot.request_id)) inflight_.erase(*e);
  slot.request_id = 0;
}

uint64_t Engine::submit_now() {
  const uint64_t now = clock_ns();
  io_uring_submit(&ring_);
  return now;
}

bool Engine::send_response(uint32_t socket, const sip::MessageView& request, uint16_t status, std::string_view reason,
                           std::string_view headers) {
  OutgoingResponse r;
  r.status = status;
  r.reason = reason;
  r.headers = headers;
  return send_response(socket, request, r);
}

bool Engine::send_response(uint32_t socket, const sip::MessageView& request, const OutgoingResponse& r) {
  if (socket >= sockets_.size()) return false;
  uint32_t buffer = 0;
  char* data = take_send_buffer(buffer);
  if (data == nullptr) {
    ++stats_.send_errors;
    return false;
  }
  Writer w(data, send_buffer_size);
  w.put("SIP/2.0 ").put_uint(r.status).put(' ').put(r.reason).put("\r\n");
  for (uint32_t i = 0; i < request.via_count; ++i) w.put("Via: ").put(request.vias[i].raw).put("\r\n");
  w.put("From: ").put(request.from.raw).put("\r\nTo: ").put(request.to.raw);
  if (request.to.tag.empty() && r.status > 100) {
    if (r.to_tag.empty()) {
      w.put(";tag=lg").put_hex(unique_counter());
    } else {
      w.put(";tag=").put(r.to_tag);
    }
  }
  w.put("\r\nCall-ID: ").put(request.call_id).put("\r\nCSeq: ").put_uint(request.cseq.number).put(' ');
  w.put(request.cseq.method_text).put("\r\n").put(r.headers);
  if (!r.content_type.empty()) w.put("Content-Type: ").put(r.content_type).put("\r\n");
  w.put("Content-Length: ").put_uint(r.body.size()).put("\r\n\r\n").put(r.body);
  if (w.overflow()) {
    send_free_.push_back(buffer);
    ++stats_.send_errors;
    return false;
  }
  send_buffer(socket, buffer, w.size());
  return true;
}

void Engine::arm_receives() {
  for (uint32_t i = 0; i < sockets_.size(); ++i) {
    if (sockets_[i].armed) continue;
    io_uring_sqe* sqe = get_sqe();
    if (sqe == nullptr) return;
    io_uring_prep_recvmsg_multishot(sqe, sockets_[i].fd, &recv_msghdr_, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffer_group;
    io_uring_sqe_set_data64(sqe, encode(op_recv, i));
    sockets_[i].armed = true;
  }
}

void Engine::reap() {
  io_uring_cqe* cqes[256];
  for (;;) {
    size_t room = pending_.capacity() - pending_.size();
    if (room == 0) return;
    unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, static_cast<unsigned>(std::min<size_t>(room, 256)));
    if (n == 0) return;
    for (unsigned i = 0; i < n; ++i) pending_.push_back({cqes[i]->user_data, cqes[i]->res, cqes[i]->flags});
    io_uring_cq_advance(&ring_, n);
  }
}

void Engine::handle_completions() {
  // By index, not range-for: handle() may append to pending_ (take_send_buffer), within its reserved capacity.
  for (size_t i = 0; i < pending_.size(); ++i) handle(pending_[i]);  // NOLINT(modernize-loop-convert)
  pending_.clear();
  if (buffers_returned_ != 0) {
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buffers_returned_));
    buffers_returned_ = 0;
  }
}

void Engine::handle(const Completion& c) {
  uint64_t op = c.user_data >> 56;
  auto index = static_cast<uint32_t>(c.user_data & 0xffffffff);
  if (op == op_send) {
    send_free_.push_back(index);
    if (c.res < 0) ++stats_.send_errors;
    return;
  }
  if (op != op_recv || index >= sockets_.size()) return;
  if ((c.flags & IORING_CQE_F_MORE) == 0) sockets_[index].armed = false;  // re-armed at the end of the turn
  if (c.res < 0) {
    if (c.res == -ENOBUFS) {
      ++stats_.no_buffers;
    } else {
      ++stats_.recv_errors;  // -ECONNREFUSED when nothing listens at the target
    }
    return;
  }
  if ((c.flags & IORING_CQE_F_BUFFER) == 0) return;
  auto buffer_id = static_cast<uint16_t>(c.flags >> IORING_CQE_BUFFER_SHIFT);
  char* buffer = recv_memory_.get() + size_t{buffer_id} * recv_buffer_size;
  io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buffer, c.res, &recv_msghdr_);
  if (out != nullptr) {
    if ((out->flags & MSG_TRUNC) != 0) {
      ++stats_.truncated;
    } else {
      auto* payload = static_cast<char*>(io_uring_recvmsg_payload(out, &recv_msghdr_));
      unsigned length = io_uring_recvmsg_payload_length(out, c.res, &recv_msghdr_);
      now_ns_ = clock_ns();  // per datagram, so that a long batch does not shorten the latencies in it
      on_datagram(index, std::string_view(payload, length));
    }
  }
  io_uring_buf_ring_add(buf_ring_, buffer, recv_buffer_size, buffer_id, io_uring_buf_ring_mask(recv_buffer_count),
                        static_cast<int>(buffers_returned_++));
}

void Engine::on_datagram(uint32_t socket, std::string_view data) {
  sip::MessageView& m = *message_;
  sip::ParseResult parsed = sip::parse_message(data, sip::Transport::udp, m);
  if (parsed.status != sip::ParseStatus::complete) {
    ++stats_.parse_errors;
    return;
  }
  if (m.is_request) {
    ++stats_.requests_received;
    int64_t s = slot_from_request_uri(m.request_uri);
    Slot* slot = s >= 0 && static_cast<uint64_t>(s) < slots_.size() && slots_[s].phase == SlotPhase::active ? &slots_[s]
                                                                                                            : nullptr;
    scenario_.on_request(*this, slot, socket, m);
    return;
  }
  ++stats_.responses_received;
  InflightEntry* entry = m.via_count == 0 ? nullptr : inflight_.find(request_id_from_branch(m.vias[0].branch));
  if (entry == nullptr) {
    ++stats_.unmatched;
    return;
  }
  if (m.status_code < 200) return;  // provisional: the request stays in flight
  if (m.status_code == 503) {
    ++stats_.responses_503;
    for (uint32_t i = 0; i < m.header_count; ++i) {
      if (m.headers[i].id == sip::HeaderId::retry_after) {
        ++stats_.responses_503_retry_after;
        break;
      }
    }
  }
  Slot& slot = slots_[entry->slot];
  uint64_t id = entry->id;
  inflight_.erase(*entry);
  if (slot.phase != SlotPhase::active) {
    ++stats_.unmatched;
    return;
  }
  if (slot.request_id == id) slot.request_id = 0;
  scenario_.on_response(*this, slot, m);
}

bool Engine::can_start() const { return !stopping_ && stats_.started < count_; }

void Engine::start(Slot& slot) {
  slot.phase = SlotPhase::active;
  slot.txn_id = ++txn_counter_ * threads_ + thread_index_;
  slot.txn_start_ns = now_ns_;
  slot.request_id = 0;
  ++active_;
  if (in_setup_) {
    ++stats_.setup_started;
    scenario_.on_setup(*this, slot);
    return;
  }
  ++stats_.started;
  if (TimelineBucket* b = timeline_bucket(now_ns_)) ++b->started;
  scenario_.on_start(*this, slot);
}

void Engine::finish(Slot& slot, Outcome outcome, uint16_t status, uint64_t latency_ns) {
  if (slot.phase != SlotPhase::active) return;
  if (slot.request_id != 0) {
    if (InflightEntry* e = inflight_.find(slot.request_id)) inflight_.erase(*e);
    slot.request_id = 0;
  }
  const uint64_t latency = latency_ns != UINT64_MAX ? latency_ns : now_ns_ - slot.txn_start_ns;
  if (outcome == Outcome::completed && !in_setup_) stats_.latency_ns.record(latency);
  slot.txn_end_ns = slot.txn_start_ns + latency;
  slot.phase = SlotPhase::finishing;
  slot.outcome = outcome;
  slot.status = status;
  finished_[(finished_head_ + finished_size_++) % finished_.size()] = slot.index;
}

void Engine::process_finished() {
  // Only the slots queued so far: a start that fails at once queues its slot again, for the next turn.
  size_t n = finished_size_;
  for (size_t i = 0; i < n; ++i) {
    Slot& slot = slots_[finished_[finished_head_]];
    finished_head_ = (finished_head_ + 1) % finished_.size();
    --finished_size_;
    if (in_setup_) {  // counted apart; the slot waits for the measured run (open loop: still in free_slots_)
      if (slot.outcome == Outcome::completed) ++stats_.setup_completed;
      if (slot.outcome == Outcome::failed) {
        ++stats_.setup_failed;
        ++stats_.setup_failed_by_status[slot.status < stats_.setup_failed_by_status.size() ? slot.status : 0];
      }
      if (slot.outcome == Outcome::lost) ++stats_.setup_lost;
      slot.phase = SlotPhase::idle;
      --active_;
      continue;
    }
    TimelineBucket* bucket = timeline_bucket(slot.txn_start_ns);
    switch (slot.outcome) {
      case Outcome::completed:
        ++stats_.completed;  // its latency was recorded by finish(), at the time of the response
        if (bucket != nullptr) {
          ++bucket->completed;
          bucket->latency_ns_sum += slot.txn_end_ns - slot.txn_start_ns;
        }
        break;
      case Outcome::failed:
        ++stats_.failed;
        ++stats_.failed_by_status[slot.status < stats_.failed_by_status.size() ? slot.status : 0];
        if (bucket != nullptr) ++(slot.status == 503 ? bucket->failed_503 : bucket->failed_other);
        break;
      case Outcome::lost:
        ++stats_.lost;
        if (bucket != nullptr) ++bucket->lost;
        break;
    }
    slot.phase = SlotPhase::idle;
    --active_;
    if (rate_ > 0) {
      free_slots_.push_back(slot.index);
    } else if (can_start()) {
      start(slot);
    }
  }
}

void Engine::expire() {
  if (now_ns_ < timeout_ns_) return;
  inflight_.expire(now_ns_ - timeout_ns_, [&](const InflightEntry& e) {
    Slot& slot = slots_[e.slot];
    if (slot.phase != SlotPhase::active) return;
    if (slot.request_id == e.id) slot.request_id = 0;
    scenario_.on_timeout(*this, slot);
    lose(slot);
  });
}

TimelineBucket* Engine::timeline_bucket(uint64_t at_ns) {
  if (timeline_ns_ == 0 || at_ns < start_ns_) return nullptr;
  uint64_t index = (at_ns - start_ns_) / timeline_ns_;
  return index < stats_.timeline.size() ? &stats_.timeline[index] : nullptr;
}

uint64_t Engine::starts_due(uint64_t ticks) const {
  if (schedule_.empty()) return static_cast<uint64_t>(static_cast<double>(ticks) * rate_ / 1000.0);
  // --schedule: the integral of the piecewise rate over the first `ticks` milliseconds.
  double due = 0;
  auto remaining_ms = static_cast<double>(ticks);
  for (const RateStep& step : schedule_) {
    double step_ms = step.seconds * 1000.0;
    double ms = std::min(remaining_ms, step_ms);
    due += ms * step.rate / 1000.0;
    remaining_ms -= ms;
    if (remaining_ms <= 0) break;
  }
  return static_cast<uint64_t>(due);
}

void Engine::open_loop_starts() {
  // Every start due up to the end of the current 1 ms tick goes out now, as one batch.
  uint64_t ticks = (now_ns_ - start_ns_) / tick_ns + 1;
  uint64_t due = starts_due(ticks);
  while (scheduled_ < due && can_start()) {
    ++scheduled_;
    if (free_slots_.empty()) {
      ++stats_.skipped;
      continue;
    }
    uint32_t index = free_slots_.back();
    free_slots_.pop_back();
    // The free list is a stack, so at moderate rates the same few slots come back again and again; a
    // socket fixed per slot would then send everything from a handful of ports, and a server's
    // SO_REUSEPORT hash would spread them over its shards very unevenly. Rotate instead.
    slots_[index].socket = next_socket_;
    next_socket_ = next_socket_ + 1 == socket_count_ ? 0 : next_socket_ + 1;
    start(slots_[index]);
  }
}

void Engine::publish(LiveCounters* live) const {
  if (live == nullptr) return;
  live->started.store(stats_.started, std::memory_order_relaxed);
  live->completed.store(stats_.completed, std::memory_order_relaxed);
  live->failed.store(stats_.failed, std::memory_order_relaxed);
  live->lost.store(stats_.lost, std::memory_order_relaxed);
}

void Engine::wait_and_handle(uint64_t next_tick_ns) {
  uint64_t wait_ns = finished_size_ != 0 || next_tick_ns <= now_ns_ ? 0 : next_tick_ns - now_ns_;
  if (wait_ns == 0) {
    io_uring_submit_and_get_events(&ring_);
  } else {
    __kernel_timespec ts{};
    ts.tv_nsec = static_cast<long long>(wait_ns);
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  reap();
  handle_completions();
}

void Engine::setup_devices() {
  if (!scenario_.has_setup()) return;
  in_setup_ = true;
  const uint64_t begin_ns = clock_ns();
  uint32_t next = 0;
  const auto total = static_cast<uint32_t>(slots_.size());
  arm_receives();
  for (;;) {
    now_ns_ = clock_ns();
    while (next < total && active_ < setup_window) start(slots_[next++]);
    expire();
    process_finished();
    if (next == total && active_ == 0 && finished_size_ == 0) {
      io_uring_submit(&ring_);  // answers queued in the last turn
      break;
    }
    arm_receives();
    wait_and_handle(now_ns_ + tick_ns);
  }
  in_setup_ = false;
  // Only the setup_* counters keep what the setup phase did; the measured run starts from zero.
  Stats measured;
  measured.setup_started = stats_.setup_started;
  measured.setup_completed = stats_.setup_completed;
  measured.setup_failed = stats_.setup_failed;
  measured.setup_lost = stats_.setup_lost;
  measured.setup_failed_by_status = stats_.setup_failed_by_status;
  measured.setup_s = static_cast<double>(clock_ns() - begin_ns) / 1e9;
  measured.timeline = std::move(stats_.timeline);  // sized by setup(), untouched by the setup phase
  stats_ = std::move(measured);
}

void Engine::run(const std::atomic<bool>& stop, LiveCounters* live) {
  now_ns_ = start_ns_ = clock_ns();
  uint64_t stop_at_ns = UINT64_MAX;  // when stopping began
  if (rate_ == 0) {
    for (Slot& slot : slots_)
      if (can_start() && slot.index < concurrency_) start(slot);
  }
  arm_receives();
  for (;;) {
    now_ns_ = clock_ns();
    if (!stopping_ && (stop.load(std::memory_order_relaxed) ||
                       (duration_ns_ != 0 && now_ns_ - start_ns_ >= duration_ns_) || stats_.started >= count_)) {
      stopping_ = true;
      stop_at_ns = now_ns_;
    }
    if (rate_ > 0) open_loop_starts();
    expire();
    process_finished();
    publish(live);
    if (stopping_ && active_ == 0 && finished_size_ == 0) break;
    // Every request has expired by now; a scenario waiting for something that is not a response ends here.
    if (stopping_ && now_ns_ - stop_at_ns > timeout_ns_ + 1'000'000'000) break;
    arm_receives();

    wait_and_handle(start_ns_ + ((now_ns_ - start_ns_) / tick_ns + 1) * tick_ns);
  }
  // The last turn's answers (park: B's 200 to the server's final BYE, after which the cycle completed) are
  // queued, not sent yet: submit them, or the server retransmits its request until it times out.
  io_uring_submit(&ring_);
  publish(live);
  if (live != nullptr) live->done.store(true, std::memory_order_release);
}

}  // namespace parkd::loadgen

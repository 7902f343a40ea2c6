#include "core/shard.h"

#include <fcntl.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/log.h"

namespace parkd {

uint64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

std::string_view pressure_name(Pressure pressure) {
  switch (pressure) {
    case Pressure::normal: return "normal";
    case Pressure::high: return "high";
    case Pressure::critical: return "critical";
  }
  return "?";
}

namespace {
// A turn that begins with this many completions ready samples the receive queue whatever the time: under
// load a millisecond is many turns' worth of datagrams.
constexpr unsigned busy_turn_completions = 32;

std::array<uint8_t, 16> source_key(const Endpoint& e) {
  std::array<uint8_t, 16> k{};
  std::memcpy(k.data(), e.address, 16);
  return k;
}
}  // namespace

Shard::Shard(ShardConfig config, Handler& handler) : config_(std::move(config)), handler_(handler) {
  for (int fd : config_.udp_fds) udp_.push_back(UdpSocket{fd, {}, false});
  listeners_ = config_.tcp_listen_fds;
  // Send slots: one region, carved up; a free list threads through them.
  slots_.resize(config_.send_slots);
  slot_memory_ = std::make_unique<char[]>(static_cast<size_t>(config_.send_slots) * config_.send_slot_size);
  for (uint32_t i = 0; i < config_.send_slots; ++i) {
    slots_[i].data = slot_memory_.get() + static_cast<size_t>(i) * config_.send_slot_size;
    slots_[i].next = free_slots_;
    free_slots_ = i + 1;
  }
  connections_ = std::make_unique<Connection[]>(config_.tcp_connections_max);
  for (uint32_t i = config_.tcp_connections_max; i > 0; --i) {
    connections_[i - 1].shard = this;
    connections_[i - 1].index = i - 1;
    connections_[i - 1].set_callback(&Shard::on_idle);
    free_connections_.push_back(i - 1);
  }
  waker_ = config_.mailboxes != nullptr ? &config_.mailboxes->waker(config_.index) : &own_waker_;
  if (config_.mailboxes != nullptr)
    pending_releases_.reserve(config_.mailboxes->shard_count() *
                              (config_.receive_buffers + config_.send_slots + config_.tcp_connections_max));
}

Shard::~Shard() {
  for (auto& s : udp_) close(s.fd);
  for (int fd : listeners_) close(fd);
  for (uint32_t i = 0; i < config_.tcp_connections_max; ++i) {
    timers_.cancel(connections_[i]);
    if (connections_[i].fd >= 0) close(connections_[i].fd);
  }
  if (ring_ready_) io_uring_queue_exit(&ring_);
  if (buf_ring_ != nullptr) munmap(buf_ring_, buf_ring_bytes_);
  if (receive_region_ != nullptr) munmap(receive_region_, receive_region_bytes_);
}

void Shard::stop() {
  stopping_.store(true, std::memory_order_release);
  waker_->wake();
}

bool Shard::setup_ring(std::string* error) {
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int r = io_uring_queue_init_params(config_.ring_entries, &ring_, &params);
  if (r < 0) {
    params = {};
    params.flags = IORING_SETUP_SINGLE_ISSUER;
    r = io_uring_queue_init_params(config_.ring_entries, &ring_, &params);
  }
  if (r < 0) {
    params = {};
    r = io_uring_queue_init_params(config_.ring_entries, &ring_, &params);
  }
  if (r < 0) {
    *error = "shard " + std::to_string(config_.index) + ": io_uring_queue_init: " + std::strerror(-r);
    return false;
  }
  ring_ready_ = true;

  // The provided-buffer ring and the receive buffers it hands out.
  const unsigned n = config_.receive_buffers;
  buf_ring_bytes_ = n * sizeof(io_uring_buf);
  void* ring_mem = mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  receive_region_bytes_ = static_cast<size_t>(n) * config_.receive_buffer_size;
  void* region = mmap(nullptr, receive_region_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (ring_mem == MAP_FAILED || region == MAP_FAILED) {
    *error = "shard " + std::to_string(config_.index) + ": cannot map receive buffers";
    return false;
  }
  buf_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
  receive_region_ = static_cast<char*>(region);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
  reg.ring_entries = n;
  reg.bgid = buffer_group;
  r = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (r < 0) {
    *error = "shard " + std::to_string(config_.index) + ": io_uring_register_buf_ring: " + std::strerror(-r) +
             " (parkd needs Linux 6.0 or later)";
    return false;
  }
  io_uring_buf_ring_init(buf_ring_);
  for (unsigned i = 0; i < n; ++i)
    io_uring_buf_ring_add(buf_ring_, receive_region_ + static_cast<size_t>(i) * config_.receive_buffer_size,
                          config_.receive_buffer_size, static_cast<unsigned short>(i), io_uring_buf_ring_mask(n),
                          static_cast<int>(i));
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(n));
  return true;
}

io_uring_sqe* Shard::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  while (s == nullptr) {  // submission queue full: flush and retry
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

void Shard::return_buffer(uint16_t bid) {
  io_uring_buf_ring_add(buf_ring_, receive_region_ + static_cast<size_t>(bid) * config_.receive_buffer_size,
                        config_.receive_buffer_size, bid, io_uring_buf_ring_mask(config_.receive_buffers), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

void Shard::arm_udp(uint32_t socket) {
  UdpSocket& s = udp_[socket];
  std::memset(&s.msg, 0, sizeof s.msg);
  s.msg.msg_namelen = sizeof(sockaddr_storage);
  io_uring_sqe* e = sqe();
  io_uring_prep_recvmsg_multishot(e, s.fd, &s.msg, MSG_TRUNC);
  e->flags |= IOSQE_BUFFER_SELECT;
  e->buf_group = buffer_group;
  io_uring_sqe_set_data64(e, encode(Op::udp_recv, socket));
  s.armed = true;
}

void Shard::arm_accept(uint32_t listener) {
  io_uring_sqe* e = sqe();
  io_uring_prep_multishot_accept(e, listeners_[listener], nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(e, encode(Op::accept, listener));
}

void Shard::arm_wake() {
  io_uring_sqe* e = sqe();
  io_uring_prep_read(e, waker_->fd(), &wake_value_, sizeof wake_value_, 0);
  io_uring_sqe_set_data64(e, encode(Op::wake, 0));
}

void Shard::arm_tcp_recv(uint32_t index) {
  Connection& c = connections_[index];
  if (c.recv_in_flight || c.fd < 0 || c.closing) return;
  const uint32_t capacity = config_.tcp_message_size_max + 1;  // one byte more than the limit detects oversize
  io_uring_sqe* e = sqe();
  io_uring_prep_recv(e, c.fd, c.buffer.get() + c.used, capacity - c.used, 0);
  io_uring_sqe_set_data64(e, encode(Op::tcp_recv, index, c.generation));
  c.recv_in_flight = true;
}

bool Shard::run(std::string* error) {
  if (config_.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(config_.cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  if (!setup_ring(error)) return false;
  for (uint32_t i = 0; i < udp_.size(); ++i) arm_udp(i);
  for (uint32_t i = 0; i < listeners_.size(); ++i) arm_accept(i);
  arm_wake();
  setup_watermarks();
  now_ms_ = monotonic_ms();
  timers_.advance(now_ms_);
  handler_.on_start(*this);

  io_uring_cqe* cqes[256];
  while (!stopping_.load(std::memory_order_acquire)) {
    counters_.loop_turns.add();
    // Sleep until a completion, a mailbox wake-up or the next timer, whichever comes first (core/mailbox.h
    // explains the prepare / re-check / sleep order that keeps a wake-up from being lost).
    uint64_t wait_ms = 1000;
    if (auto next = timers_.next_expiry_ms())
      wait_ms = *next <= now_ms_ ? 0 : std::min<uint64_t>(*next - now_ms_, 1000);
    waker_->prepare_to_sleep();
    bool mail_waiting = config_.mailboxes != nullptr && config_.mailboxes->has_incoming(config_.index);
    int r = 0;
    if (mail_waiting || wait_ms == 0) {
      r = io_uring_submit_and_get_events(&ring_);
    } else {
      __kernel_timespec timeout{};
      timeout.tv_sec = static_cast<long long>(wait_ms / 1000);
      timeout.tv_nsec = static_cast<long long>(wait_ms % 1000) * 1'000'000;
      io_uring_cqe* first = nullptr;
      r = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &timeout, nullptr);
    }
    waker_->cancel_sleep();
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY) {
      *error = "shard " + std::to_string(config_.index) + ": io_uring_submit_and_wait: " + std::strerror(-r);
      return false;
    }
    now_ms_ = monotonic_ms();
    // The wheel first catches up with the clock (firing what fell due while the shard slept), so that the
    // handlers below schedule timers from now and not from the end of the last turn.
    counters_.timers_fired.add(timers_.advance(now_ms_));
    // Under pressure every turn samples, so that the shard stops shedding as soon as the queue is short.
    if (now_ms_ != sampled_ms_ || pressure_ != Pressure::normal || io_uring_cq_ready(&ring_) >= busy_turn_completions)
      sample_pressure();
    if (pressure_ != Pressure::normal) counters_.overload_turns.add();
    for (;;) {
      unsigned count = io_uring_peek_batch_cqe(&ring_, cqes, 256);
      if (count == 0) break;
      for (unsigned i = 0; i < count; ++i) handle(cqes[i]);
      io_uring_cq_advance(&ring_, count);
    }
    drain_mailbox();
    counters_.timers_fired.add(timers_.advance(now_ms_));
    counters_.timers_armed.set(timers_.size());
    handler_.on_turn_end(*this);
    for (uint32_t i = 0; i < udp_.size(); ++i)
      if (!udp_[i].armed) arm_udp(i);
  }
  return true;
}

void Shard::setup_watermarks() {
  // The smallest receive buffer of the shard's UDP sockets (SO_RCVBUF reports what the kernel compares the
  // queue against: twice the request). Without UDP sockets there is nothing to measure.
  uint64_t buffer = 0;
  for (const UdpSocket& s : udp_) {
    int value = 0;
    socklen_t size = sizeof value;
    if (getsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &value, &size) == 0 && value > 0 &&
        (buffer == 0 || static_cast<uint64_t>(value) < buffer))
      buffer = static_cast<uint64_t>(value);
  }
  constexpr uint64_t default_high = 256 * 1024;
  overload_high_ = config_.overload_high_bytes != 0 ? config_.overload_high_bytes : std::min(default_high, buffer / 4);
  overload_low_ = config_.overload_low_bytes != 0 ? config_.overload_low_bytes : overload_high_ / 4;
  if (overload_low_ >= overload_high_) overload_low_ = overload_high_ / 4;
  overload_critical_ =
      config_.overload_critical_bytes != 0 ? config_.overload_critical_bytes : std::max(2 * overload_high_, buffer / 2);
  if (overload_critical_ <= overload_high_) overload_critical_ = 2 * overload_high_;
}

// One getsockopt per UDP socket; the deepest queue counts (the kernel drops per socket). The count is the one
// the kernel drops by, not an exact backlog: UDP gives the memory of datagrams read back in batches (up to a
// quarter of the buffer at a time, or when the socket has been read empty), so under load it reads high
// until the queue has been emptied once; the shard then leaves overload only after it caught up completely.
void Shard::sample_pressure() {
  sampled_ms_ = now_ms_;
  if (overload_high_ == 0) return;
  uint64_t deepest = 0;
  for (const UdpSocket& s : udp_) {
    uint32_t meminfo[SK_MEMINFO_VARS] = {};
    socklen_t size = sizeof meminfo;
    if (getsockopt(s.fd, SOL_SOCKET, SO_MEMINFO, meminfo, &size) == 0 &&
        size > SK_MEMINFO_RMEM_ALLOC * sizeof(uint32_t))
      deepest = std::max<uint64_t>(deepest, meminfo[SK_MEMINFO_RMEM_ALLOC]);
  }
  receive_queue_bytes_ = deepest;
  counters_.receive_queue_max_bytes.max(deepest);
  if (deepest < overload_high_) above_high_since_ms_ = UINT64_MAX;
  const Pressure before = pressure_;
  if (deepest >= overload_critical_) {
    pressure_ = Pressure::critical;
  } else if (deepest >= overload_high_) {
    // The grace is for a calm shard that stalled; one that left pressure within the last second is in an
    // overload that comes and goes, and sheds again at once.
    if (above_high_since_ms_ == UINT64_MAX) above_high_since_ms_ = now_ms_;
    const bool calm = left_pressure_ms_ == UINT64_MAX || now_ms_ - left_pressure_ms_ >= 1000;
    if (pressure_ == Pressure::normal && (!calm || now_ms_ - above_high_since_ms_ >= config_.overload_grace_ms))
      pressure_ = Pressure::high;
  } else if (deepest > overload_low_) {
    if (pressure_ == Pressure::critical) pressure_ = Pressure::high;
  } else {
    pressure_ = Pressure::normal;
  }
  if (before != Pressure::normal && pressure_ == Pressure::normal) left_pressure_ms_ = now_ms_;
  if (before == Pressure::normal && pressure_ != Pressure::normal) counters_.overload_high_entered.add();
  if (before != Pressure::critical && pressure_ == Pressure::critical) counters_.overload_critical_entered.add();
  if (before != pressure_)
    PARKD_LOG(debug, "shard %u: pressure %s (receive queue %llu bytes)", config_.index, pressure_name(pressure_).data(),
              static_cast<unsigned long long>(deepest));
}

void Shard::handle(io_uring_cqe* cqe) {
  const uint64_t data = io_uring_cqe_get_data64(cqe);
  const auto op = static_cast<Op>(data >> 56);
  const auto index = static_cast<uint32_t>(data & 0xFFFFFFFFu);
  const auto generation = static_cast<uint32_t>((data >> 32) & 0xFFFFFF);
  switch (op) {
    case Op::udp_recv: on_udp(index, cqe); break;
    case Op::udp_send: on_send_done(index, cqe, false); break;
    case Op::tcp_send: on_send_done(index, cqe, true); break;
    case Op::accept: on_accept(index, cqe); break;
    case Op::tcp_recv:
      if (index < connection_count() && connections_[index].generation == generation) on_tcp_recv(index, cqe);
      break;
    case Op::tcp_close: break;
    case Op::wake:
      waker_->consume();
      if (!stopping_.load(std::memory_order_acquire)) arm_wake();
      break;
    case Op::none: break;
  }
}

void Shard::on_udp(uint32_t socket, io_uring_cqe* cqe) {
  UdpSocket& s = udp_[socket];
  if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
    s.armed = false;  // re-armed at the end of the turn, after buffers went back to the ring
    counters_.udp_rearms.add();
  }
  if (cqe->res == -ENOBUFS) {
    counters_.udp_no_buffers.add();
    return;
  }
  if (cqe->res < 0 || (cqe->flags & IORING_CQE_F_BUFFER) == 0) return;
  const auto bid = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
  char* buffer = receive_region_ + static_cast<size_t>(bid) * config_.receive_buffer_size;
  io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buffer, cqe->res, &s.msg);
  if (out != nullptr) {
    Inbound in;
    in.transport = Transport::udp;
    in.socket = socket;
    in.peer = Endpoint::from_sockaddr(static_cast<const sockaddr*>(io_uring_recvmsg_name(out)), out->namelen);
    in.data = std::string_view(static_cast<const char*>(io_uring_recvmsg_payload(out, &s.msg)),
                               io_uring_recvmsg_payload_length(out, cqe->res, &s.msg));
    in.truncated = (out->flags & MSG_TRUNC) != 0;
    counters_.udp_datagrams_in.add();
    counters_.udp_bytes_in.add(in.data.size());
    if (in.truncated) counters_.udp_truncated.add();
    current_buffer_ = bid;
    current_retained_ = false;
    handler_.on_message(*this, in);
    current_buffer_ = -1;
    if (current_retained_) return;  // handed to another shard; it comes back with a release mail
  }
  return_buffer(bid);
}

bool Shard::forward(unsigned to, const Inbound& in) {
  if (config_.mailboxes == nullptr || to == config_.index || to >= config_.mailboxes->shard_count()) return false;
  Mail mail;
  mail.kind = Mail::Kind::inbound;
  mail.transport = in.transport;
  mail.from = static_cast<uint16_t>(config_.index);
  mail.socket = in.socket;
  mail.size = static_cast<uint32_t>(in.data.size());
  mail.peer = in.peer;
  OutBuffer copy;
  if (in.transport == Transport::udp) {
    if (current_buffer_ < 0) return false;
    mail.buffer_id = static_cast<uint16_t>(current_buffer_);
    mail.data = in.data.data();
  } else {
    copy = out_buffer();
    if (copy.data == nullptr || in.data.size() > copy.capacity) {
      release(copy);
      return false;
    }
    std::memcpy(copy.data, in.data.data(), in.data.size());
    mail.slot = copy.slot;
    mail.data = copy.data;
  }
  if (!config_.mailboxes->send(config_.index, to, mail)) {
    counters_.mailbox_full.add();
    release(copy);
    return false;
  }
  if (in.transport == Transport::udp) current_retained_ = true;
  return true;
}

bool Shard::post(unsigned to, Mail mail) {
  if (config_.mailboxes == nullptr || to == config_.index || to >= config_.mailboxes->shard_count()) return false;
  mail.kind = Mail::Kind::user;
  mail.from = static_cast<uint16_t>(config_.index);
  if (!config_.mailboxes->send(config_.index, to, mail)) {
    counters_.mailbox_full.add();
    return false;
  }
  return true;
}

void Shard::drain_mailbox() {
  if (config_.mailboxes == nullptr) return;
  size_t sent = 0;
  while (sent < pending_releases_.size() &&
         config_.mailboxes->send(config_.index, pending_releases_[sent].owner, pending_releases_[sent].mail))
    ++sent;
  pending_releases_.erase(pending_releases_.begin(), pending_releases_.begin() + static_cast<ptrdiff_t>(sent));
  // The deepest incoming mailbox seen, before draining (back-pressure shows here before mailbox_full).
  for (size_t from = 0; from < config_.mailboxes->shard_count(); ++from)
    if (from != config_.index)
      counters_.mailbox_depth_max.max(config_.mailboxes->ring(from, config_.index).size_approx());
  Mail batch[64];
  for (;;) {
    size_t n = config_.mailboxes->receive(config_.index, batch);
    if (n == 0) return;
    counters_.mailbox_in.add(n);
    for (size_t i = 0; i < n; ++i) on_mail(batch[i]);
  }
}

// A release must not be lost (the memory would leak from its owner) and must not spin (two shards with full
// mailboxes to each other would wait forever): what does not fit waits here and is retried every turn. It is
// bounded: another shard has at most its receive buffers and send slots out.
void Shard::release_to(unsigned owner, const Mail& release) {
  if (!pending_releases_.empty() || !config_.mailboxes->send(config_.index, owner, release)) {
    counters_.mailbox_full.add();
    pending_releases_.push_back({static_cast<uint16_t>(owner), release});
  }
}

void Shard::on_mail(const Mail& mail) {
  Mail back;  // the release this mail calls for
  back.from = static_cast<uint16_t>(config_.index);
  switch (mail.kind) {
    case Mail::Kind::release_buffer: return_buffer(mail.buffer_id); break;
    case Mail::Kind::release_slot: free_slot(mail.slot); break;
    case Mail::Kind::user: handler_.on_mail(*this, mail); break;
    case Mail::Kind::tcp_send: {
      OutBuffer b = out_buffer();
      if (b.data != nullptr && mail.size <= b.capacity) {
        std::memcpy(b.data, mail.data, mail.size);
        send_tcp(b, mail.size, mail.socket);
      } else {
        release(b);
      }
      back.kind = Mail::Kind::release_slot;
      back.slot = mail.slot;
      release_to(mail.from, back);
      break;
    }
    case Mail::Kind::tcp_close: close_connection_after_send(mail.socket); break;
    case Mail::Kind::inbound: {
      Inbound in;
      in.data = std::string_view(mail.data, mail.size);
      in.transport = mail.transport;
      in.peer = mail.peer;
      in.socket = mail.socket;  // UDP: the same listen address has the same socket index in every shard
      in.forwarded_from = mail.from;
      handler_.on_message(*this, in);
      if (mail.transport == Transport::udp) {
        back.kind = Mail::Kind::release_buffer;
        back.buffer_id = mail.buffer_id;
      } else {
        back.kind = Mail::Kind::release_slot;
        back.slot = mail.slot;
      }
      release_to(mail.from, back);
      break;
    }
  }
}

OutBuffer Shard::out_buffer() {
  if (free_slots_ == 0) {
    counters_.send_no_slot.add();
    return {};
  }
  uint32_t i = free_slots_ - 1;
  free_slots_ = slots_[i].next;
  slots_[i].next = 0;
  return {slots_[i].data, config_.send_slot_size, i};
}

void Shard::free_slot(uint32_t slot) {
  slots_[slot].next = free_slots_;
  free_slots_ = slot + 1;
}

void Shard::release(OutBuffer buffer) {
  if (buffer.data != nullptr) free_slot(buffer.slot);
}

void Shard::send_udp(OutBuffer buffer, uint32_t length, uint32_t socket, const Endpoint& to) {
  if (buffer.data == nullptr) return;
  SendSlot& s = slots_[buffer.slot];
  s.length = length;
  s.iov = {s.data, length};
  std::memset(&s.msg, 0, sizeof s.msg);
  s.msg.msg_name = &s.address;
  s.msg.msg_namelen = to.to_sockaddr(s.address);
  s.msg.msg_iov = &s.iov;
  s.msg.msg_iovlen = 1;
  io_uring_sqe* e = sqe();
  io_uring_prep_sendmsg(e, udp_[socket].fd, &s.msg, 0);
  io_uring_sqe_set_data64(e, encode(Op::udp_send, buffer.slot));
  counters_.udp_datagrams_out.add();
  counters_.udp_bytes_out.add(length);
}

void Shard::reply(const Inbound& in, OutBuffer buffer, uint32_t length) {
  if (in.transport == Transport::udp)
    send_udp(buffer, length, in.socket, in.peer);
  else
    send_tcp(buffer, length, in.socket);
}

Shard::Connection* Shard::connection_from_id(uint32_t id) {
  uint32_t index = id & 0xFFFF;
  if (connection_owner(id) != config_.index || index >= connection_count()) return nullptr;
  Connection& c = connections_[index];
  if (c.fd < 0 || (c.generation & 0xFF) != ((id >> 16) & 0xFF)) return nullptr;
  return &c;
}

void Shard::send_tcp(OutBuffer buffer, uint32_t length, uint32_t connection) {
  if (buffer.data == nullptr) return;
  const unsigned owner = connection_owner(connection);
  if (owner != config_.index) {
    // Another shard's connection: the owner copies the bytes and sends them, then gives the slot back.
    Mail mail;
    mail.kind = Mail::Kind::tcp_send;
    mail.from = static_cast<uint16_t>(config_.index);
    mail.socket = connection;
    mail.slot = buffer.slot;
    mail.data = buffer.data;
    mail.size = length;
    if (config_.mailboxes == nullptr || owner >= config_.mailboxes->shard_count() ||
        !config_.mailboxes->send(config_.index, owner, mail)) {
      counters_.mailbox_full.add();
      free_slot(buffer.slot);
    }
    return;
  }
  Connection* c = connection_from_id(connection);
  if (c == nullptr) {  // the connection went away meanwhile
    free_slot(buffer.slot);
    return;
  }
  SendSlot& s = slots_[buffer.slot];
  s.length = length;
  s.sent = 0;
  s.connection = connection;
  s.next = 0;
  if (c->send_tail != 0)
    slots_[c->send_tail - 1].next = buffer.slot + 1;
  else
    c->send_head = buffer.slot + 1;
  c->send_tail = buffer.slot + 1;
  counters_.tcp_messages_out.add();
  pump_tcp_send(connection & 0xFFFF);
}

// One send in flight per connection keeps the byte stream in order.
void Shard::pump_tcp_send(uint32_t index) {
  Connection& c = connections_[index];
  if (c.send_in_flight) return;
  if (c.send_head == 0) {
    if (c.closing && !c.recv_in_flight) close_connection(index);
    return;
  }
  SendSlot& s = slots_[c.send_head - 1];
  io_uring_sqe* e = sqe();
  io_uring_prep_send(e, c.fd, s.data + s.sent, s.length - s.sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(e, encode(Op::tcp_send, c.send_head - 1));
  c.send_in_flight = true;
}

void Shard::on_send_done(uint32_t slot, io_uring_cqe* cqe, bool tcp) {
  SendSlot& s = slots_[slot];
  if (!tcp) {
    if (cqe->res < 0) counters_.send_errors.add();
    free_slot(slot);
    return;
  }
  const uint32_t index = s.connection & 0xFFFF;
  Connection* c = connection_from_id(s.connection);
  if (c == nullptr) {  // closed while the send was in flight; the queue was already freed except this slot
    free_slot(slot);
    return;
  }
  c->send_in_flight = false;
  if (cqe->res <= 0) {
    counters_.send_errors.add();
    c->closing = true;
    drop_send_queue(*c);
    pump_tcp_send(index);
    return;
  }
  counters_.tcp_bytes_out.add(static_cast<uint64_t>(cqe->res));
  s.sent += static_cast<uint32_t>(cqe->res);
  if (s.sent < s.length) {  // short write: send the rest
    pump_tcp_send(index);
    return;
  }
  c->send_head = s.next;
  if (c->send_head == 0) c->send_tail = 0;
  free_slot(slot);
  pump_tcp_send(index);
}

void Shard::close_connection_after_send(uint32_t connection) {
  const unsigned owner = connection_owner(connection);
  if (owner != config_.index) {
    Mail mail;
    mail.kind = Mail::Kind::tcp_close;
    mail.from = static_cast<uint16_t>(config_.index);
    mail.socket = connection;
    if (config_.mailboxes != nullptr && owner < config_.mailboxes->shard_count())
      release_to(owner, mail);  // must arrive: queued like a release when the mailbox is full
    return;
  }
  Connection* c = connection_from_id(connection);
  if (c == nullptr) return;
  c->closing = true;
  if (c->recv_in_flight) {
    // Cancel the pending receive so the close happens once the sends are done.
    io_uring_sqe* e = sqe();
    io_uring_prep_cancel64(e, encode(Op::tcp_recv, connection & 0xFFFF, c->generation), 0);
    io_uring_sqe_set_data64(e, encode(Op::none, 0));
  }
  pump_tcp_send(connection & 0xFFFF);
}

void Shard::on_accept(uint32_t listener, io_uring_cqe* cqe) {
  if ((cqe->flags & IORING_CQE_F_MORE) == 0 && !stopping_.load(std::memory_order_acquire)) arm_accept(listener);
  if (cqe->res < 0) return;
  const int fd = cqe->res;
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length);
  Endpoint peer = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&address), length);
  uint32_t& per_source = connections_per_source_[source_key(peer)];
  if (free_connections_.empty() || per_source >= config_.tcp_connections_per_source_max) {
    if (per_source == 0) connections_per_source_.erase(source_key(peer));
    counters_.tcp_refused_limit.add();
    close(fd);
    return;
  }
  ++per_source;
  uint32_t index = free_connections_.back();
  free_connections_.pop_back();
  Connection& c = connections_[index];
  c.fd = fd;
  c.generation = (c.generation + 1) & 0xFFFF;
  c.peer = peer;
  if (!c.buffer) c.buffer = std::make_unique<char[]>(config_.tcp_message_size_max + 1);
  c.used = 0;
  c.last_activity_ms = now_ms_;
  timers_.schedule(c, now_ms_ + config_.tcp_idle_timeout_ms);
  c.send_head = c.send_tail = 0;
  c.send_in_flight = c.recv_in_flight = c.closing = c.close_submitted = false;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  counters_.tcp_accepted.add();
  counters_.tcp_connections.add();
  arm_tcp_recv(index);
}

void Shard::on_tcp_recv(uint32_t index, io_uring_cqe* cqe) {
  Connection& c = connections_[index];
  c.recv_in_flight = false;
  if (cqe->res <= 0) {  // EOF, error or cancelled
    if (cqe->res == 0 || (cqe->res != -ECANCELED)) c.closing = true;
    // Let queued answers go out before closing.
    pump_tcp_send(index);
    return;
  }
  counters_.tcp_bytes_in.add(static_cast<uint64_t>(cqe->res));
  c.used += static_cast<uint32_t>(cqe->res);
  c.last_activity_ms = now_ms_;
  timers_.schedule(c, now_ms_ + config_.tcp_idle_timeout_ms);
  deliver_tcp(index);
  if (!c.closing) arm_tcp_recv(index);
}

// Frames and hands over every complete message in the connection's buffer.
void Shard::deliver_tcp(uint32_t index) {
  Connection& c = connections_[index];
  uint32_t offset = 0;
  while (offset < c.used && !c.closing) {
    std::string_view rest(c.buffer.get() + offset, c.used - offset);
    // RFC 5626 section 3.5.1: a double CRLF is a keep-alive ping, answered with a single CRLF pong.
    if (rest.size() >= 4 && rest.substr(0, 4) == "\r\n\r\n") {
      offset += 4;
      counters_.tcp_keepalives.add();
      OutBuffer b = out_buffer();
      if (b.data != nullptr) {
        std::memcpy(b.data, "\r\n", 2);
        send_tcp(b, 2, connection_id(index));
      }
      continue;
    }
    if (rest.front() == '\r' || rest.front() == '\n') {  // stray CRLF between messages
      if (rest.size() < 4 && std::string_view("\r\n\r\n").substr(0, rest.size()) == rest) break;  // maybe a ping
      ++offset;
      continue;
    }
    Frame f = handler_.frame(rest);
    Inbound in;
    in.transport = Transport::tcp;
    in.socket = connection_id(index);
    in.peer = c.peer;
    if (f.kind == Frame::complete) {
      in.data = rest.substr(0, f.size);
      offset += f.size;
      counters_.tcp_messages_in.add();
      handler_.on_message(*this, in);
      continue;
    }
    if (f.kind == Frame::error) {
      in.data = rest;
      in.framing_error = true;
      handler_.on_message(*this, in);
      close_connection_after_send(in.socket);
      return;
    }
    if (rest.size() > config_.tcp_message_size_max) {
      in.data = rest;
      in.oversize = true;
      counters_.tcp_oversize.add();
      handler_.on_message(*this, in);
      close_connection_after_send(in.socket);
      return;
    }
    break;  // incomplete: wait for more bytes
  }
  if (offset > 0 && offset < c.used) std::memmove(c.buffer.get(), c.buffer.get() + offset, c.used - offset);
  c.used -= offset;
}

// Frees the slots of sends that never went out. A send still in flight (the head) frees its own slot when it
// completes (on_send_done finds the connection gone or no longer in flight).
void Shard::drop_send_queue(Connection& c) {
  bool first = true;
  for (uint32_t next = c.send_head; next != 0; first = false) {
    uint32_t slot = next - 1;
    next = slots_[slot].next;
    if (!(first && c.send_in_flight)) free_slot(slot);
  }
  c.send_head = c.send_tail = 0;
  c.send_in_flight = false;
}

void Shard::close_connection(uint32_t index) {
  Connection& c = connections_[index];
  if (c.fd < 0) return;
  drop_send_queue(c);
  io_uring_sqe* e = sqe();
  timers_.cancel(c);
  io_uring_prep_close(e, c.fd);
  io_uring_sqe_set_data64(e, encode(Op::tcp_close, index));
  c.fd = -1;
  c.generation = (c.generation + 1) & 0xFFFF;  // completions of the old connection are ignored from now on
  auto it = connections_per_source_.find(source_key(c.peer));
  if (it != connections_per_source_.end() && --it->second == 0) connections_per_source_.erase(it);
  free_connections_.push_back(index);
  counters_.tcp_closed.add();
  counters_.tcp_connections.set(counters_.tcp_connections.get() - 1);
}

void Shard::on_idle(TimerEntry& entry) {
  auto& c = static_cast<Connection&>(entry);
  if (c.fd < 0 || c.closing) return;
  c.shard->counters_.tcp_idle_closed.add();
  c.shard->close_connection_after_send(c.shard->connection_id(c.index));
}

}  // namespace parkd

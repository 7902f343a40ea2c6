// Node: the shards of one parkd process, their sockets and threads.
//
// For each listen address every shard gets its own UDP socket and TCP listener, all bound to the same port
// with SO_REUSEPORT so the kernel spreads datagrams and connections over the shards. Port 0 is resolved once
// (the first shard's bind) and reused, so all shards share the port the kernel picked.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/endpoint.h"
#include "core/result.h"
#include "core/shard.h"

namespace parkd {

struct NodeConfig {
  std::vector<Endpoint> listen;
  unsigned shards = 1;
  bool pin = true;                   // pin shard i to the i-th CPU the process may run on
  ShardConfig shard;                 // template: index, cpu, fds and mailboxes are filled per shard
  unsigned mailbox_capacity = 4096;  // messages per ordered pair of shards
  // Asked with SO_RCVBUFFORCE (with CAP_NET_ADMIN; else SO_RCVBUF, capped by net.core.rmem_max); the kernel
  // doubles it. Memory only while datagrams wait: room for ~150 ms of 100,000 requests/s, so a stalled shard
  // (docs/limits.md, "Overload") loses nothing before its critical mark at half of it.
  int udp_receive_buffer_bytes = 16 * 1024 * 1024;
};

class Node {
 public:
  // make_handler(i) builds shard i's handler; it is called on the main thread before the shards start.
  using HandlerFactory = std::function<std::unique_ptr<Handler>(unsigned shard)>;

  // Binds every socket; fails with a message naming the address and the cause.
  static Result<std::unique_ptr<Node>, std::string> create(const NodeConfig& config,
                                                           const HandlerFactory& make_handler);
  ~Node();

  // The addresses actually bound (port 0 resolved), in the order of config.listen.
  const std::vector<Endpoint>& bound() const { return bound_; }
  unsigned shard_count() const { return static_cast<unsigned>(shards_.size()); }
  const Shard& shard(unsigned i) const { return *shards_[i]; }

  // Starts one thread per shard. A shard that fails (its ring cannot be set up) stops the node and calls
  // on_failure from its thread; wait() then reports the error.
  void start(const std::function<void()>& on_failure = {});
  void stop();
  // Joins the threads; returns the first shard error, or "" after a clean stop.
  std::string wait();

 private:
  Node() = default;
  std::vector<Endpoint> bound_;
  std::unique_ptr<MailboxMesh<Mail>> mailboxes_;
  std::vector<std::unique_ptr<Handler>> handlers_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::thread> threads_;
  std::vector<std::string> errors_;
};

}  // namespace parkd

// Which shard owns a tenant, and how a reloaded configuration reaches every shard.
//
// Ownership: shard = XXH3-64(lower-cased domain) mod shard count. Every request of a tenant is handled on
// that shard (the receiving shard forwards it through the mailbox), so the tenant's registrations, calls and
// park table are touched by one thread only. The hash is stable across restarts and reloads for one shard
// count; with another --shards value tenants move, which is fine because nothing but persisted bindings
// outlives a process, and those are reloaded by every shard (tenancy/persistence.h).
//
// Configuration hand-over: the main thread loads a tenants file (control plane) and publishes it; each shard
// picks it up at the end of a loop turn with one atomic exchange, so a shard sees one configuration for the
// whole of a request and never takes a lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "tenancy/tenants_config.h"

namespace parkd::tenancy {

// Case-insensitive (ASCII); the first 256 bytes count (a host name has at most 253). `shards` >= 1.
unsigned owner_shard(std::string_view domain, unsigned shards);

using ConfigPtr = std::shared_ptr<const TenantsConfig>;

// One per shard: the main thread publish()es, the shard take()s.
class ConfigMailbox {
 public:
  ConfigMailbox() = default;
  ConfigMailbox(const ConfigMailbox&) = delete;
  ConfigMailbox& operator=(const ConfigMailbox&) = delete;
  ~ConfigMailbox() { delete pending_.exchange(nullptr, std::memory_order_acquire); }

  // Any thread. A configuration published before the shard took the previous one replaces it.
  void publish(ConfigPtr config) {
    delete pending_.exchange(new ConfigPtr(std::move(config)), std::memory_order_acq_rel);
  }
  // The shard: the newest published configuration, or nullptr when nothing new arrived. One relaxed load
  // when there is nothing (the common case).
  ConfigPtr take() {
    if (pending_.load(std::memory_order_relaxed) == nullptr) return nullptr;
    std::unique_ptr<ConfigPtr> holder(pending_.exchange(nullptr, std::memory_order_acq_rel));
    return holder ? std::move(*holder) : nullptr;
  }

 private:
  std::atomic<ConfigPtr*> pending_{nullptr};
};

}  // namespace parkd::tenancy

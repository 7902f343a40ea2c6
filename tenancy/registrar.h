// The registrar (SPEC sections 3 and 4): REGISTER requests of every tenant this shard owns, authenticated
// with digest, kept in the shard's location table and, with --data-dir, on disk.
//
// Per shard, on the shard thread only: its location table, digest authenticator, failure throttle and
// persistence writer. A REGISTER that arrives on another shard is handed to the owner (tenancy/routing.h);
// when the mailbox is full it is answered 503 with Retry-After instead of being handled on the wrong shard.
//
// The answers, in order:
//   To host not a tenant's domain                  403 Forbidden
//   source blocked after repeated failures          403 Forbidden (tenancy's throttle, docs/digest.md)
//   no or wrong credentials, unknown extension       401 with SHA-256 and MD5 challenges (the same for all)
//   expired nonce with a right response              401 with stale=true
//   the digest username is not the To user           403 Forbidden (no third-party registration)
//   then the location table's answer                 200 with every binding, 423 with Min-Expires, 400, 500
#pragma once

#include <memory>
#include <string>

#include "sip/digest.h"
#include "sip/server.h"
#include "tenancy/location.h"
#include "tenancy/persistence.h"
#include "tenancy/routing.h"

namespace parkd::tenancy {

// The digest side of an extension (or of a number that is no extension): what to verify against and which
// algorithms to challenge with. An unknown number gets both algorithms and is verified against a dummy H(A1)
// (stored() is nullptr), so it looks exactly like a wrong password (SPEC section 3); an extension known only
// by its MD5 H(A1) is challenged with MD5 only (SPEC section 2). Used for REGISTER (401) and calls (407).
class DigestCredentials {
 public:
  explicit DigestCredentials(const std::optional<ExtensionView>& extension) : known_(extension.has_value()) {
    if (!extension) return;
    stored_.md5 = &extension->ha1_md5();
    stored_.sha256 = extension->can_sha256() ? &extension->ha1_sha256() : nullptr;
    if (!extension->can_sha256()) algorithms_ = sip::digest_algorithm_md5;
  }
  const sip::StoredHa1* stored() const { return known_ ? &stored_ : nullptr; }
  uint8_t algorithms() const { return algorithms_; }

 private:
  bool known_;
  sip::StoredHa1 stored_;
  uint8_t algorithms_ = sip::digest_algorithm_md5 | sip::digest_algorithm_sha256;
};

// What every shard's registrar shares, read-only once the shards run.
struct RegistrarShared {
  sip::NonceSecret nonce_secret;
  unsigned shard_count = 1;
  BindingStore* store = nullptr;  // nullptr: nothing persisted
  sip::DigestSettings digest;
};

// clang-format off
#define PARKD_REGISTRAR_COUNTERS(X) \
  X(registers)                      \
  X(forwarded)                      \
  X(forward_failed)                 \
  X(unknown_domain) X(challenged) X(auth_failures) X(blocked) X(registered) X(refused) X(restored) X(bindings)
// clang-format on

struct RegistrarCounters {
  PARKD_COUNTERS(PARKD_REGISTRAR_COUNTERS)
  std::string to_string() const { return counters_text(*this); }
};

// Told of every successful REGISTER that leaves the extension with bindings (a device appeared or refreshed),
// on the tenant's owner shard, after the 200 went out. The park layer uses it to bring a new device up to date.
class RegistrationObserver {
 public:
  virtual ~RegistrationObserver() = default;
  virtual void on_registered(uint32_t tenant, uint32_t extension, const Endpoint& source) = 0;
};

class Registrar final : public sip::RequestHandler {
 public:
  Registrar(unsigned shard_index, const RegistrarShared& shared, ConfigPtr config, ConfigMailbox& config_mailbox);
  ~Registrar() override;

  // REGISTER is the registrar's; every other request and every response goes to `next` (the call layer),
  // so one shard runs one chain: sip::Server -> Registrar -> next. Set before the shard starts.
  void set_next(sip::RequestHandler* next) { next_ = next; }
  void set_observer(RegistrationObserver* observer) { observer_ = observer; }

  bool on_request(sip::Server& server, const sip::Incoming& request) override;
  void on_response(sip::Server& server, const sip::Incoming& response) override;
  void on_start(Shard& shard) override;
  void on_turn_end(Shard& shard) override;
  void on_mail(Shard& shard, const Mail& mail) override;

  // Clean shutdown, on any thread after the shard stopped: the last changes reach the disk.
  void flush();

  const RegistrarCounters& counters() const { return counters_; }
  // Counters and, with --data-dir, the persistence writer's ("persist_commits=N ..."), for logs.
  std::string counters_text() const;
  const LocationTable* location() const { return location_.get(); }

  // What the layers above the registrar share with it on this shard (shard thread only): the configuration
  // in force (replaced at a loop turn's end), the digest authenticator (one nonce-count table per shard, so a
  // nonce counts once whatever method uses it; nullptr without OpenSSL digests) and the failure throttle.
  const TenantsConfig& config() const { return *config_; }
  sip::Authenticator* authenticator() { return authenticator_.get(); }
  sip::FailureThrottle& throttle() { return throttle_; }

 private:
  void start_next(Shard& shard);
  bool handle_register(sip::Server& server, const sip::Incoming& request, TenantView tenant);
  // How many extensions the tenants this shard owns have (to size the location table up front).
  size_t owned_extensions(const TenantsConfig& config) const;
  void challenge(sip::Server& server, const sip::Incoming& request, std::string_view realm, uint8_t algorithms,
                 bool stale);

  unsigned shard_index_;
  const RegistrarShared& shared_;
  sip::RequestHandler* next_ = nullptr;
  RegistrationObserver* observer_ = nullptr;
  ConfigPtr config_;
  ConfigMailbox& config_mailbox_;
  Shard* shard_ = nullptr;
  std::unique_ptr<LocationTable> location_;
  std::unique_ptr<sip::Authenticator> authenticator_;
  sip::FailureThrottle throttle_;
  std::unique_ptr<ShardWriter> writer_;
  std::unique_ptr<LocationPersister> persister_;
  RegistrarCounters counters_;
};

}  // namespace parkd::tenancy

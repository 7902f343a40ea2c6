#include "tenancy/registrar.h"

#include "core/log.h"
#include "sip/uri.h"

namespace parkd::tenancy {

Registrar::Registrar(unsigned shard_index, const RegistrarShared& shared, ConfigPtr config,
                     ConfigMailbox& config_mailbox)
    : shard_index_(shard_index), shared_(shared), config_(std::move(config)), config_mailbox_(config_mailbox) {}

Registrar::~Registrar() = default;

std::string Registrar::counters_text() const {
  std::string out = counters_.to_string();
  if (writer_) {
    ShardWriterCounters w = writer_->counters();
    out += " persist_changes=" + std::to_string(w.changes_pushed) +
           " persist_commits=" + std::to_string(w.commits_total) +
           " persist_ring_full=" + std::to_string(w.ring_full_total) +
           " persist_failures=" + std::to_string(w.commit_failures_total);
  }
  return out;
}

size_t Registrar::owned_extensions(const TenantsConfig& config) const {
  size_t n = 0;
  for (uint32_t t = 0; t < config.tenant_count(); ++t) {
    TenantView tenant = config.tenant(t);
    if (owner_shard(tenant.domain(), shared_.shard_count) == shard_index_) n += tenant.extension_count();
  }
  return n;
}

void Registrar::on_start(Shard& shard) {
  shard_ = &shard;
  location_ = std::make_unique<LocationTable>(&shard.timers());
  location_->reserve_extensions(owned_extensions(*config_));
  authenticator_ = sip::Authenticator::create(shared_.nonce_secret, shared_.digest);
  if (authenticator_ == nullptr)
    PARKD_LOG(error, "shard %u: OpenSSL offers no MD5/SHA-256: REGISTER refused", shard_index_);
  if (shared_.store == nullptr) {
    start_next(shard);
    return;
  }
  const unsigned shards = shared_.shard_count;
  const unsigned me = shard_index_;
  // The commit hook runs on the writer thread after each commit: a debug line operators (and tests) wait for.
  writer_ = std::make_unique<ShardWriter>(
      *shared_.store, [shards, me](std::string_view domain) { return owner_shard(domain, shards) == me; },
      [me](uint64_t changes) {
        if (changes > 0)
          PARKD_LOG(debug, "shard %u: registrations committed to disk (%llu changes)", me,
                    static_cast<unsigned long long>(changes));
      });
  const TenantsConfig& config = *config_;
  auto loaded = restore_location(
      *shared_.store, config, *location_,
      [&config, shards, me](uint32_t tenant) { return owner_shard(config.tenant(tenant).domain(), shards) == me; },
      LocationPersister::system_wall_clock_ms(), shard.now_ms());
  if (!loaded) {
    PARKD_LOG(error, "shard %u: restoring registrations failed: %s", me, loaded.error().c_str());
  } else {
    counters_.restored.add(loaded->restored);
  }
  persister_ = std::make_unique<LocationPersister>(*writer_, *location_, config_.get());
  location_->set_observer(persister_.get());
  start_next(shard);
}

void Registrar::start_next(Shard& shard) {
  if (next_ != nullptr) next_->on_start(shard);
}

void Registrar::on_response(sip::Server& server, const sip::Incoming& response) {
  if (next_ != nullptr) next_->on_response(server, response);
}

void Registrar::on_mail(Shard& shard, const Mail& mail) {
  if (next_ != nullptr) next_->on_mail(shard, mail);
}

void Registrar::on_turn_end(Shard& shard) {
  if (ConfigPtr next = config_mailbox_.take()) {
    // SIGHUP: bindings of extensions that still exist (same domain and number) are kept, the others dropped.
    if (location_) {
      location_->reserve_extensions(owned_extensions(*next));
      location_->rebind(*config_, *next);
    }
    config_ = std::move(next);
    if (persister_) persister_->set_config(config_.get());
  }
  if (persister_) persister_->pump(shard.now_ms());
  if (location_) counters_.bindings.set(location_->size());  // read by other threads for logs
  // After the configuration changed hands, so the layers above see the new one in the same turn.
  if (next_ != nullptr) next_->on_turn_end(shard);
}

void Registrar::flush() {
  if (persister_ && shard_ != nullptr) persister_->flush(shard_->now_ms());
}

bool Registrar::on_request(sip::Server& server, const sip::Incoming& request) {
  const sip::MessageView& m = request.message;
  if (m.method != sip::Method::register_) return next_ != nullptr && next_->on_request(server, request);
  counters_.registers.add();
  // SPEC section 3: a REGISTER belongs to the tenant whose domain is the host of its To URI.
  sip::UriView to;
  std::optional<TenantView> tenant;
  if (sip::parse_uri(m.to.uri, to) == sip::UriError::none && to.host_kind != sip::HostKind::none)
    tenant = config_->find_tenant(to.host);
  if (!tenant) {
    counters_.unknown_domain.add();
    server.respond(request, 403, "Forbidden");
    return true;
  }
  const unsigned owner = owner_shard(tenant->domain(), shared_.shard_count);
  if (owner != shard_index_) {
    if (request.shard.forward(owner, request.inbound)) {
      counters_.forwarded.add();
    } else {
      counters_.forward_failed.add();
      server.respond(request, 503, {}, [](sip::MessageWriter& w) { w.header_int(sip::HeaderId::retry_after, 1); });
    }
    return true;
  }
  return handle_register(server, request, *tenant);
}

void Registrar::challenge(sip::Server& server, const sip::Incoming& request, std::string_view realm, uint8_t algorithms,
                          bool stale) {
  counters_.challenged.add();
  const uint64_t now = request.shard.now_ms();
  server.respond(request, 401, {}, [&](sip::MessageWriter& w) {
    authenticator_->write_challenges(w, sip::HeaderId::www_authenticate, realm, algorithms, stale, now);
  });
}

bool Registrar::handle_register(sip::Server& server, const sip::Incoming& request, TenantView tenant) {
  const sip::MessageView& m = request.message;
  const Endpoint& source = request.inbound.peer;
  const uint64_t now = request.shard.now_ms();
  if (authenticator_ == nullptr) {
    server.respond(request, 500, "Digest unavailable");
    return true;
  }
  if (throttle_.blocked(source, now)) {
    counters_.blocked.add();
    server.respond(request, 403, "Forbidden");
    return true;
  }
  sip::UriView to;
  (void)sip::parse_uri(m.to.uri, to);  // parsed by on_request
  const std::optional<ExtensionView> extension = config_->find_extension(tenant.index(), to.user);
  // An unknown extension is challenged and verified exactly like a known one (DigestCredentials).
  const DigestCredentials credentials(extension);
  const uint8_t algorithms = credentials.algorithms();
  if (!m.authorization.present) {
    challenge(server, request, tenant.domain(), algorithms, false);
    return true;
  }
  sip::AuthResult result =
      authenticator_->verify(m.authorization, m.method_text, tenant.domain(), credentials.stored(), now);
  if (result == sip::AuthResult::ok && m.authorization.username != to.user) {
    // Credentials of one extension registering another: no third-party registration.
    counters_.refused.add();
    server.respond(request, 403, "Forbidden");
    return true;
  }
  if (result != sip::AuthResult::ok) {
    if (sip::auth_counts_as_failure(result)) {
      counters_.auth_failures.add();
      throttle_.record_failure(source, now);
    }
    challenge(server, request, tenant.domain(), algorithms, result == sip::AuthResult::stale_nonce);
    return true;
  }
  throttle_.record_success(source);

  Flow flow;
  flow.source = source;
  flow.transport = request.inbound.transport;
  flow.connection_id = request.inbound.transport == Transport::tcp ? request.inbound.socket : 0;
  flow.socket_index = request.inbound.transport == Transport::udp ? static_cast<uint16_t>(request.inbound.socket) : 0;
  RegisterResult outcome =
      location_->apply(tenant.index(), extension->index(), RegisterRequest::from_message(m, flow), now);
  if (outcome.status != 200) {
    counters_.refused.add();
    server.respond(request, outcome.status, outcome.reason, [&](sip::MessageWriter& w) {
      if (outcome.status == 423) w.header_int(sip::HeaderId::min_expires, outcome.min_expires_s);
    });
    return true;
  }
  counters_.registered.add();
  server.respond(request, 200, {}, [&](sip::MessageWriter& w) {
    for (BindingView binding : outcome.bindings) {
      w.begin_header(sip::HeaderId::contact);
      w.append("<");
      w.append(binding.contact_uri());
      w.append(">;expires=");
      w.append_int(binding.remaining_s(now));
      if (!binding.instance().empty()) {
        w.append(";+sip.instance=\"<");
        w.append(binding.instance());
        w.append(">\"");
      }
      w.end_header();
    }
  });
  if (observer_ != nullptr && !outcome.bindings.empty())
    observer_->on_registered(tenant.index(), extension->index(), source);
  return true;
}

}  // namespace parkd::tenancy

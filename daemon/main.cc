// parkd: the daemon's entry point. Parses the command line, loads the tenants, starts the shards and waits
// for signals: SIGHUP reloads the tenants file, SIGTERM/SIGINT shut down cleanly.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "calls/call_service.h"
#include "core/log.h"
#include "core/node.h"
#include "core/uring_probe.h"
#include "daemon/cli.h"
#include "park/park_service.h"
#include "sip/server.h"
#include "tenancy/registrar.h"
#include "tenancy/routing.h"
#include "tenancy/tenants_file.h"

namespace {

using parkd::tenancy::TenantsConfigPtr;

// The tenants named on the command line: the file, or the embedded demo (which keeps its passwords so the
// demo credentials can be printed).
parkd::Result<TenantsConfigPtr, parkd::tenancy::LoadError> load_tenants(const parkd::daemon::Options& options) {
  if (options.demo) {
    return parkd::tenancy::parse_tenants(parkd::tenancy::demo_tenants_json(), parkd::tenancy::demo_tenants_name,
                                         {.keep_passwords = true});
  }
  return parkd::tenancy::load_tenants_file(options.tenants_file);
}

void print_demo_credentials(const parkd::tenancy::TenantsConfig& config) {
  for (uint32_t t = 0; t < config.tenant_count(); ++t) {
    auto tenant = config.tenant(t);
    for (uint32_t e = 0; e < tenant.extension_count(); ++e) {
      auto extension = tenant.extension(e);
      std::printf("demo extension: domain %.*s  number %.*s  name %.*s  password %.*s\n",
                  static_cast<int>(tenant.domain().size()), tenant.domain().data(),
                  static_cast<int>(extension.number().size()), extension.number().data(),
                  static_cast<int>(extension.display_name().size()), extension.display_name().data(),
                  static_cast<int>(extension.password().size()), extension.password().data());
    }
  }
}

unsigned default_shards() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return static_cast<unsigned>(CPU_COUNT(&set));
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

parkd::NodeConfig node_config(const parkd::daemon::Options& options) {
  parkd::NodeConfig config;
  for (const auto& address : options.listen) {
    parkd::Endpoint e;
    parkd::parse_endpoint(address.to_string(), e);  // checked by parse_cli
    config.listen.push_back(e);
  }
  config.shards = options.shards == 0 ? default_shards() : options.shards;
  config.shard.tcp_connections_max = std::max(1u, options.tcp_max_connections / config.shards);
  config.shard.tcp_connections_max = std::min(config.shard.tcp_connections_max, 65536u);
  config.shard.tcp_connections_per_source_max = options.tcp_max_per_source;
  config.shard.tcp_idle_timeout_ms = options.tcp_idle_timeout_s * 1000;
  config.shard.overload_high_bytes = options.overload_high_kb * 1024;
  config.shard.overload_low_bytes = options.overload_low_kb * 1024;
  config.shard.overload_grace_ms = options.overload_grace_ms;
  return config;
}

// What each shard runs: the SIP front and, behind it, the chain registrar -> calls.
struct ShardServices {
  std::unique_ptr<parkd::tenancy::ConfigMailbox> config_mailbox = std::make_unique<parkd::tenancy::ConfigMailbox>();
  parkd::tenancy::Registrar* registrar = nullptr;
  parkd::calls::CallService* calls = nullptr;
  parkd::park::ParkService* park = nullptr;
  parkd::sip::Server* server = nullptr;
};

// The methods parkd serves (the Allow header).
constexpr std::string_view served_methods = "OPTIONS, REGISTER, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, REFER, NOTIFY";

// parkd's own address for what it sends (Via, Contact): the bound address, or for a wildcard the address the
// host would send from (a connected UDP socket's local address; nothing is sent).
parkd::Endpoint advertised(const parkd::Endpoint& bound) {
  static const uint8_t zeros[16] = {};
  const bool wildcard =
      bound.ipv6 ? std::memcmp(bound.address, zeros, 16) == 0 : std::memcmp(bound.address + 12, zeros, 4) == 0;
  if (!wildcard) return bound;
  parkd::Endpoint probe;
  parkd::parse_endpoint(bound.ipv6 ? "[2001:db8::1]:9" : "192.0.2.1:9", probe);
  int fd = socket(bound.ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  parkd::Endpoint out = bound;
  if (fd < 0) return out;
  sockaddr_storage sa{};
  socklen_t len = probe.to_sockaddr(sa);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0) {
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
      out = parkd::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&local), local_len);
      out.port = bound.port;
    }
  }
  close(fd);
  return out;
}

void print_counters(const parkd::Node& node, const std::vector<ShardServices>& services) {
  for (unsigned i = 0; i < node.shard_count(); ++i) {
    const parkd::sip::TransactionLayer* transactions = services[i].calls->transactions();
    PARKD_LOG(info, "shard %u: %s %s %s %s %s %s", i, node.shard(i).counters().to_string().c_str(),
              services[i].server->counters().to_string().c_str(), services[i].registrar->counters_text().c_str(),
              services[i].calls->counters().to_string().c_str(), services[i].park->counters().to_string().c_str(),
              transactions != nullptr ? transactions->counters().to_string().c_str() : "");
  }
}

int run(const parkd::daemon::Options& options) {
  parkd::log::set_level(options.log_level);

  // Signals are taken synchronously by this thread; block them before any other thread exists so every
  // thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR1);  // print the counters
  sigaddset(&signals, SIGUSR2);  // sent by a shard that failed
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::printf("parkd %s\n", PARKD_VERSION);
  auto loaded = load_tenants(options);
  if (!loaded) {
    std::fprintf(stderr, "parkd: %s\n", loaded.error().to_string().c_str());
    return 1;
  }
  TenantsConfigPtr tenants = std::move(loaded).value();
  std::printf("tenants: %zu, extensions: %zu\n", tenants->tenant_count(), tenants->extension_count());
  if (options.demo) print_demo_credentials(*tenants);

  auto uring = parkd::uring::probe();
  if (!uring) {
    std::fprintf(stderr, "parkd: %s\n", uring.error().c_str());
    return 1;
  }
  parkd::NodeConfig config = node_config(options);
  parkd::tenancy::RegistrarShared shared;
  shared.shard_count = config.shards;
  shared.digest.md5_first = options.digest_md5_first;
  if (!parkd::sip::make_nonce_secret(shared.nonce_secret)) {
    std::fprintf(stderr, "parkd: cannot read random bytes for the digest nonce key (getrandom)\n");
    return 1;
  }
  std::unique_ptr<parkd::tenancy::BindingStore> store;
  if (!options.data_dir.empty()) {
    auto opened = parkd::tenancy::BindingStore::open(options.data_dir);
    if (!opened) {
      std::fprintf(stderr, "parkd: --data-dir %s: %s\n", options.data_dir.c_str(), opened.error().c_str());
      return 1;
    }
    store = std::move(opened).value();
    shared.store = store.get();
  }
  parkd::calls::CallsShared calls_shared;
  calls_shared.shard_count = config.shards;
  calls_shared.config.calls_max_per_shard = (options.calls_max + config.shards - 1) / config.shards;
  calls_shared.config.calls_max_per_tenant = options.calls_max_per_tenant;
  calls_shared.config.ring_timeout_ms = options.ring_timeout_s * 1000;
  calls_shared.config.transactions.transactions_max = options.transactions_max;
  calls_shared.config.transactions.t1_ms = options.sip_t1_ms;
  calls_shared.config.transactions.t2_ms = options.sip_t1_ms * 8;
  calls_shared.config.transactions.t4_ms = options.sip_t1_ms * 10;
  calls_shared.config.transactions.timer_d_ms = std::max(options.sip_t1_ms * 64, 500u);
  // Registrars and call services live as long as the node; each is used only by its shard's thread.
  std::vector<std::unique_ptr<parkd::tenancy::Registrar>> registrars;
  std::vector<std::unique_ptr<parkd::calls::CallService>> call_services;
  std::vector<std::unique_ptr<parkd::park::ParkService>> park_services;
  parkd::park::ParkConfig park_config;
  park_config.parked_max_per_shard = (options.parked_max + config.shards - 1) / config.shards;
  park_config.parked_max_per_tenant = options.parked_max_per_tenant;
  std::vector<ShardServices> services(config.shards);
  auto created = parkd::Node::create(config, [&](unsigned shard) {
    registrars.push_back(
        std::make_unique<parkd::tenancy::Registrar>(shard, shared, tenants, *services[shard].config_mailbox));
    services[shard].registrar = registrars.back().get();
    call_services.push_back(std::make_unique<parkd::calls::CallService>(shard, calls_shared, *registrars.back()));
    services[shard].calls = call_services.back().get();
    registrars.back()->set_next(call_services.back().get());
    park_services.push_back(
        std::make_unique<parkd::park::ParkService>(shard, park_config, *call_services.back(), *registrars.back()));
    services[shard].park = park_services.back().get();
    call_services.back()->set_feature_handler(park_services.back().get());
    registrars.back()->set_observer(park_services.back().get());
    auto server = std::make_unique<parkd::sip::Server>(registrars.back().get(), served_methods);
    services[shard].server = server.get();
    return server;
  });
  if (!created) {
    std::fprintf(stderr, "parkd: %s\n", created.error().c_str());
    return 1;
  }
  std::unique_ptr<parkd::Node> node = std::move(created).value();
  // Read by the shards' on_start, which runs after start() below.
  for (const auto& address : node->bound()) calls_shared.local.push_back(advertised(address));
  std::printf("shards: %u (io_uring on kernel %s%s)\n", node->shard_count(), uring->kernel.c_str(),
              uring->defer_taskrun ? ", DEFER_TASKRUN" : "");
  for (const auto& address : node->bound()) std::printf("listening udp+tcp %s\n", address.to_string().c_str());
  const pid_t self = getpid();
  node->start([self] { kill(self, SIGUSR2); });
  std::printf("ready\n");
  if (options.demo) {
    const std::string at = node->bound()[0].to_string();
    std::printf(
        "\nTry it (from the source tree):\n"
        "  sipp -sf tools/sipp/options.xml -m 1 %s\n"
        "      parkd answers OPTIONS\n"
        "  sipp -sf tools/sipp/register.xml -inf tools/sipp/demo-users.csv -m 7 %s\n"
        "      every demo extension registers with digest (SIPp knows only MD5: start parkd with\n"
        "      --digest-prefer md5 for it)\n"
        "  tools/sipp/park-demo %s\n"
        "      a park and retrieve among acme's demo extensions, printing the park-info NOTIFY\n"
        "  or point a SIP phone at %s: user = a number above, domain = its tenant's domain,\n"
        "  password as printed; call another demo extension of the same domain, park a call by\n"
        "  transferring it to *68<ext> (*68 alone: your own), take it back with *88<ext>.\n",
        at.c_str(), at.c_str(), at.c_str(), at.c_str());
  }
  std::printf("Press Ctrl-C to stop.\n");
  std::fflush(stdout);

  for (;;) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) return 1;
    if (signal_number == SIGHUP) {
      // A bad file never replaces a good configuration (SPEC section 7).
      const char* source = options.demo ? "the embedded demo tenants" : options.tenants_file.c_str();
      auto reloaded = load_tenants(options);
      if (!reloaded) {
        PARKD_LOG(error, "reload failed: %s; running configuration kept", reloaded.error().to_string().c_str());
      } else {
        tenants = std::move(reloaded).value();
        // Each shard takes the new configuration at the end of its next loop turn (within a second).
        for (auto& shard : services) shard.config_mailbox->publish(tenants);
        PARKD_LOG(info, "SIGHUP: reloaded %s: tenants: %zu, extensions: %zu", source, tenants->tenant_count(),
                  tenants->extension_count());
      }
      continue;
    }
    if (signal_number == SIGUSR1) {
      print_counters(*node, services);
      continue;
    }
    if (signal_number == SIGUSR2) {  // a shard stopped on an error: the node is going down
      node->stop();
      std::string error = node->wait();
      std::fprintf(stderr, "parkd: %s\n", error.empty() ? "a shard stopped" : error.c_str());
      return 1;
    }
    PARKD_LOG(info, "%s: shutting down", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    node->stop();
    std::string error = node->wait();
    // SPEC section 1: registrations flushed before the exit.
    for (auto& registrar : registrars) registrar->flush();
    print_counters(*node, services);
    if (!error.empty()) {
      std::fprintf(stderr, "parkd: %s\n", error.c_str());
      return 1;
    }
    return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parkd::daemon::parse_cli({argv + 1, static_cast<size_t>(argc > 0 ? argc - 1 : 0)});
  if (!options) {
    std::fprintf(stderr, "parkd: %s\n", options.error().c_str());
    return 2;
  }
  if (options->help) {
    std::fwrite(parkd::daemon::usage().data(), 1, parkd::daemon::usage().size(), stdout);
    return 0;
  }
  if (options->version) {
    std::printf("parkd %s\n", PARKD_VERSION);
    return 0;
  }
  return run(*options);
}

// parkd: the daemon's entry point. Parses the command line, loads the tenants, starts the shards and waits
// for signals: SIGHUP reloads the tenants file, SIGTERM/SIGINT shut down cleanly.
#include <csignal>
#include <cstdio>
#include <string>
#include <utility>

#include "core/log.h"
#include "daemon/cli.h"
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

int run(const parkd::daemon::Options& options) {
  parkd::log::set_level(options.log_level);

  // Signals are taken synchronously by this thread; block them before any other thread exists so every
  // thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
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
  for (const auto& address : options.listen) std::printf("planned listener udp+tcp %s\n", address.to_string().c_str());
  std::printf(
      "SIP service is not built yet: this build parses its command line and waits for a signal.\n"
      "Press Ctrl-C to stop.\n");
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
        PARKD_LOG(info, "SIGHUP: reloaded %s: tenants: %zu, extensions: %zu", source, tenants->tenant_count(),
                  tenants->extension_count());
      }
      continue;
    }
    PARKD_LOG(info, "%s: shutting down", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
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

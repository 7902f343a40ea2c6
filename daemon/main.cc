// parkd: the daemon's entry point. Parses the command line, loads the tenants, starts the shards and waits
// for signals: SIGHUP reloads the tenants file, SIGTERM/SIGINT shut down cleanly.
#include <csignal>
#include <cstdio>
#include <string>

#include "core/log.h"
#include "daemon/cli.h"

namespace {

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
  for (const auto& address : options.listen) std::printf("planned listener udp+tcp %s\n", address.to_string().c_str());
  std::printf(
      "SIP service is not built yet: this build parses its command line and waits for a signal.\n"
      "Press Ctrl-C to stop.\n");
  std::fflush(stdout);

  for (;;) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) return 1;
    if (signal_number == SIGHUP) {
      PARKD_LOG(info, "SIGHUP: nothing to reload yet");
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

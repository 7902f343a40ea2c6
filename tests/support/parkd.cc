#include "support/parkd.h"

#include <algorithm>

namespace parkd::test {

using namespace std::chrono_literals;

Parkd::Parkd(std::vector<std::string> args) {
  if (std::find(args.begin(), args.end(), "--tenants") == args.end()) args.insert(args.begin(), "--demo");
  args.insert(args.end(), {"--listen", "127.0.0.1:0"});
  process_ = std::make_unique<Process>(PARKD_BINARY, args);
  auto line = process_->wait_for_line("listening udp+tcp 127.0.0.1:", 10s);
  if (line) parse_endpoint(line->substr(line->find("127.0.0.1:")), at_);
  ready_ = line && process_->wait_for_line("ready", 10s).has_value();
}

bool Parkd::wait_persisted() {
  return process_->wait_for_error_line("registrations committed to disk", 10s).has_value();
}

}  // namespace parkd::test

#include "support/sipp.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace parkd::test {

bool sipp_installed() { return access(sipp_binary, X_OK) == 0; }

uint16_t free_udp_port() {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  const bool ok = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0;
  if (fd >= 0) close(fd);
  return ok ? ntohs(sa.sin_port) : 0;
}

TempDir::TempDir() {
  std::string pattern = ::testing::TempDir() + "parkd-sipp-XXXXXX";
  path_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::write(const std::string& name, const std::string& text) const {
  std::string file = path_ + "/" + name;
  std::ofstream(file, std::ios::binary) << text;
  return file;
}

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Sipp::Sipp(const TempDir& dir, std::string name, SippOptions options)
    : name_(std::move(name)),
      options_(std::move(options)),
      log_path_(dir.path() + "/" + name_ + ".log"),
      errors_path_(dir.path() + "/" + name_ + ".errors") {
  if (options_.local_port == 0) options_.local_port = free_udp_port();
}

Sipp::~Sipp() = default;  // the Process kills a SIPp still running

void Sipp::start() {
  std::vector<std::string> args = {"-sf",
                                   options_.scenario,
                                   "-m",
                                   std::to_string(options_.call_count),
                                   "-r",
                                   std::to_string(options_.calls_per_second),
                                   "-i",
                                   "127.0.0.1",
                                   "-p",
                                   std::to_string(options_.local_port),
                                   "-nostdin",
                                   "-timeout",
                                   std::to_string(options_.call_timeout.count()) + "s",
                                   "-timeout_error",
                                   "-f",
                                   "5",
                                   "-trace_logs",
                                   "-log_file",
                                   log_path_,
                                   "-trace_err",
                                   "-error_file",
                                   errors_path_};
  if (!options_.injection_file.empty()) args.insert(args.end(), {"-inf", options_.injection_file});
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  args.push_back(options_.target);
  process_ = std::make_unique<Process>(sipp_binary, args);
}

int Sipp::wait(std::chrono::milliseconds timeout) {
  if (process_ != nullptr && status_ == -1) status_ = process_->wait_exit(timeout);
  return status_;
}

std::string Sipp::log() const { return read_file(log_path_); }

std::string Sipp::diagnostics() const {
  std::string text = "--- SIPp " + name_ + " (" + options_.scenario + ", port " + std::to_string(options_.local_port) +
                     ", exit " + std::to_string(status_) + ")\n";
  if (process_ != nullptr) {
    const std::string& out = process_->stdout_text();
    // The statistics screens are long; their tail has the message counts and the failure causes.
    text += "output (tail):\n" + (out.size() > 4000 ? out.substr(out.size() - 4000) : out) + "\n";
    text += "stderr:\n" + process_->stderr_text() + "\n";
  }
  text += "errors:\n" + read_file(errors_path_) + "\nlog:\n" + log() + "\n";
  return text;
}

}  // namespace parkd::test

// A child process for integration tests: started with arguments, stdout and stderr captured through pipes,
// read line by line with a deadline, stopped with a signal. Every wait is bounded: a test never hangs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace parkd::test {

class Process {
 public:
  Process(const std::string& program, const std::vector<std::string>& args);
  ~Process();  // kills the child (SIGKILL) if it still runs
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Reads stdout until a line containing `needle` arrives; returns that line, or nullopt on EOF or timeout.
  std::optional<std::string> wait_for_line(const std::string& needle, std::chrono::milliseconds timeout);
  // The same for stderr (the log), with its own read position.
  std::optional<std::string> wait_for_error_line(const std::string& needle, std::chrono::milliseconds timeout);
  void send_signal(int signal_number);
  pid_t pid() const { return pid_; }
  // Waits for the exit; returns the exit status, or -1 on timeout, 128+N when killed by signal N.
  int wait_exit(std::chrono::milliseconds timeout);
  // Everything read from stdout so far / all of stderr (after the exit).
  const std::string& stdout_text() const { return out_.text; }
  std::string stderr_text();

 private:
  struct Stream {
    int fd = -1;
    std::string text;
    size_t scanned = 0;  // lines before this offset have been matched against
    bool eof = false;
  };
  std::optional<std::string> wait_for(Stream& watched, const std::string& needle, std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  Stream out_;
  Stream err_;
};

// Runs a program to completion (bounded), returns {exit status, stdout, stderr}.
struct RunResult {
  int status;
  std::string out;
  std::string err;
};
RunResult run(const std::string& program, const std::vector<std::string>& args,
              std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace parkd::test

#include "support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <cerrno>
#include <stdexcept>

namespace parkd::test {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Appends what is readable on fd to out; false on EOF.
bool drain(int fd, std::string& out) {
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    out.append(buf, static_cast<size_t>(n));
    return true;
  }
  return n < 0 && (errno == EAGAIN || errno == EINTR);
}

}  // namespace

Process::Process(const std::string& program, const std::vector<std::string>& args) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    // The child must not inherit a blocked signal mask from a test thread.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // A test binary that crashes must not leave its parkd (or SIPp) running: the child dies with it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_.fd = out_pipe[0];
  err_.fd = err_pipe[0];
  fcntl(out_.fd, F_SETFL, O_NONBLOCK);
  fcntl(err_.fd, F_SETFL, O_NONBLOCK);
}

Process::~Process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_.fd >= 0) close(out_.fd);
  if (err_.fd >= 0) close(err_.fd);
}

std::optional<std::string> Process::wait_for_line(const std::string& needle, std::chrono::milliseconds timeout) {
  return wait_for(out_, needle, timeout);
}

std::optional<std::string> Process::wait_for_error_line(const std::string& needle, std::chrono::milliseconds timeout) {
  return wait_for(err_, needle, timeout);
}

std::optional<std::string> Process::wait_for(Stream& watched, const std::string& needle,
                                             std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    // Look for a complete line containing the needle in what has arrived.
    for (size_t eol; (eol = watched.text.find('\n', watched.scanned)) != std::string::npos; watched.scanned = eol + 1) {
      std::string line = watched.text.substr(watched.scanned, eol - watched.scanned);
      if (line.find(needle) != std::string::npos) {
        watched.scanned = eol + 1;
        return line;
      }
    }
    if (watched.eof) return std::nullopt;
    // Both pipes are read so the child never blocks on the one not watched; a closed pipe leaves the poll set.
    pollfd fds[2] = {{out_.eof ? -1 : out_.fd, POLLIN, 0}, {err_.eof ? -1 : err_.fd, POLLIN, 0}};
    int ready = poll(fds, 2, remaining_ms(deadline));
    if (ready <= 0) return std::nullopt;
    if (fds[0].revents != 0 && !drain(out_.fd, out_.text)) out_.eof = true;
    if (fds[1].revents != 0 && !drain(err_.fd, err_.text)) err_.eof = true;
  }
}

void Process::send_signal(int signal_number) {
  if (pid_ > 0) kill(pid_, signal_number);
}

int Process::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      while (drain(out_.fd, out_.text)) {
      }
      while (drain(err_.fd, err_.text)) {
      }
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (remaining_ms(deadline) == 0) return -1;
    // Keep the pipes drained so a chatty child cannot block on a full pipe; poll doubles as the wait.
    pollfd fds[2] = {{out_.fd, POLLIN, 0}, {err_.fd, POLLIN, 0}};
    int ready = poll(fds, 2, std::min(remaining_ms(deadline), 10));
    if (ready > 0) {
      if (fds[0].revents != 0) drain(out_.fd, out_.text);
      if (fds[1].revents != 0) drain(err_.fd, err_.text);
    }
  }
}

std::string Process::stderr_text() {
  while (drain(err_.fd, err_.text)) {
  }
  return err_.text;
}

RunResult run(const std::string& program, const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  Process p(program, args);
  int status = p.wait_exit(timeout);
  return {status, p.stdout_text(), p.stderr_text()};
}

}  // namespace parkd::test

#include "core/uring_probe.h"

#include <liburing.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace parkd::uring {
namespace {

int read_int_file(const char* path) {
  std::ifstream f(path);
  int v = -1;
  if (!(f >> v)) return -1;
  return v;
}

int seccomp_mode() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Seccomp:", 0) == 0) return std::atoi(line.c_str() + 8);
  return -1;
}

std::string kernel_release() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return u.release;
}

bool kernel_at_least(const std::string& release, int major, int minor) {
  int a = 0;
  int b = 0;
  if (std::sscanf(release.c_str(), "%d.%d", &a, &b) != 2) return true;  // unknown format: let the probe decide
  return a > major || (a == major && b >= minor);
}

}  // namespace

std::string explain_setup_failure(int error, int io_uring_disabled, int seccomp, const std::string& kernel) {
  std::string what = "io_uring is unavailable (io_uring_setup: " + std::string(std::strerror(error)) + "): ";
  if (io_uring_disabled > 0)
    return what + "the sysctl kernel.io_uring_disabled is " + std::to_string(io_uring_disabled) +
           "; run 'sysctl -w kernel.io_uring_disabled=0' as root";
  if (error == ENOSYS)
    return what + "kernel " + kernel +
           " has no io_uring (built without CONFIG_IO_URING?); parkd needs Linux 6.0 or later";
  if ((error == EPERM || error == EACCES) && seccomp > 0)
    return what + "a seccomp filter blocks it (Seccomp mode " + std::to_string(seccomp) +
           "); container runtimes do this by default: allow io_uring_setup, io_uring_enter, io_uring_register";
  if (error == EPERM || error == EACCES)
    return what + "permission denied; check kernel.io_uring_disabled, seccomp and LSM policy";
  if (error == ENOMEM)
    return what + "not enough locked memory; raise RLIMIT_MEMLOCK ('ulimit -l') or use Linux 5.12 or later";
  return what + "kernel " + kernel;
}

Result<Features, std::string> probe() {
  Features f;
  f.kernel = kernel_release();
  io_uring ring{};
  int r = io_uring_queue_init(4, &ring, 0);
  if (r < 0)
    return Unexpected{
        explain_setup_failure(-r, read_int_file("/proc/sys/kernel/io_uring_disabled"), seccomp_mode(), f.kernel)};
  io_uring_probe* p = io_uring_get_probe_ring(&ring);
  bool ok = p != nullptr && io_uring_opcode_supported(p, IORING_OP_RECVMSG) &&
            io_uring_opcode_supported(p, IORING_OP_SENDMSG) && io_uring_opcode_supported(p, IORING_OP_ACCEPT) &&
            io_uring_opcode_supported(p, IORING_OP_PROVIDE_BUFFERS) && io_uring_opcode_supported(p, IORING_OP_SEND);
  f.msg_ring = p != nullptr && io_uring_opcode_supported(p, IORING_OP_MSG_RING);
  if (p != nullptr) io_uring_free_probe(p);
  io_uring_queue_exit(&ring);
  // Multishot recvmsg and accept with provided buffer rings: Linux 6.0.
  if (!ok || !kernel_at_least(f.kernel, 6, 0))
    return Unexpected{"io_uring on kernel " + f.kernel +
                      " lacks multishot recvmsg/accept or provided buffer rings; parkd needs Linux 6.0 or later"};
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (io_uring_queue_init_params(4, &ring, &params) == 0) {
    f.single_issuer = f.defer_taskrun = true;
    io_uring_queue_exit(&ring);
  } else {
    params = {};
    params.flags = IORING_SETUP_SINGLE_ISSUER;
    if (io_uring_queue_init_params(4, &ring, &params) == 0) {
      f.single_issuer = true;
      io_uring_queue_exit(&ring);
    }
  }
  return f;
}

}  // namespace parkd::uring

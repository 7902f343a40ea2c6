// io_uring availability and features, checked once at start-up.
//
// parkd needs: io_uring itself, provided buffer rings and multishot recvmsg/accept (Linux 6.0), MSG_RING
// for cross-shard wake-ups (5.18). SINGLE_ISSUER (6.0) and DEFER_TASKRUN (6.1) are used where present. When
// something is missing, start-up fails with a message that names the cause and the fix.
#pragma once

#include <string>

#include "core/result.h"

namespace parkd::uring {

struct Features {
  bool single_issuer = false;
  bool defer_taskrun = false;
  bool msg_ring = false;
  std::string kernel;  // uname release
};

// Creates a throw-away ring and probes opcodes; the error is a one-line explanation.
Result<Features, std::string> probe();

// The explanation for a failed io_uring_setup (`error` is the positive errno), given what the machine says:
// the sysctl kernel.io_uring_disabled (-1 when absent), the Seccomp field of /proc/self/status (-1 when
// absent) and the kernel release. Exposed for tests.
std::string explain_setup_failure(int error, int io_uring_disabled, int seccomp_mode, const std::string& kernel);

}  // namespace parkd::uring

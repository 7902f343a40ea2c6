#include "core/uring_probe.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace parkd::uring {
namespace {

TEST(UringProbe, ThisMachineHasWhatParkdNeeds) {
  auto f = probe();
  if (!f.ok()) GTEST_SKIP() << "io_uring unavailable here: " << f.error();
  EXPECT_FALSE(f->kernel.empty());
}

TEST(UringProbe, SysctlDisabledNamesTheSysctlAndTheFix) {
  std::string m = explain_setup_failure(EPERM, 2, 0, "6.8.0");
  EXPECT_NE(m.find("kernel.io_uring_disabled is 2"), std::string::npos) << m;
  EXPECT_NE(m.find("sysctl -w kernel.io_uring_disabled=0"), std::string::npos) << m;
}

TEST(UringProbe, SeccompNamesSeccomp) {
  std::string m = explain_setup_failure(EPERM, 0, 2, "6.8.0");
  EXPECT_NE(m.find("seccomp"), std::string::npos) << m;
  EXPECT_NE(m.find("io_uring_setup"), std::string::npos) << m;
}

TEST(UringProbe, MissingSyscallNamesTheKernel) {
  std::string m = explain_setup_failure(ENOSYS, -1, 0, "4.19.0-old");
  EXPECT_NE(m.find("kernel 4.19.0-old"), std::string::npos) << m;
  EXPECT_NE(m.find("Linux 6.0"), std::string::npos) << m;
}

}  // namespace
}  // namespace parkd::uring

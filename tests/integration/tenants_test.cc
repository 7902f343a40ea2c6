// The real parkd binary and its tenants file (SPEC sections 2 and 7): a bad file stops start-up with
// FILE:LINE:COLUMN, --demo prints the demo credentials, SIGHUP reloads and keeps the running configuration
// when the new file is bad.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string>

#include "support/process.h"

namespace parkd::test {
namespace {

using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "parkd-it-XXXXXX";
    path_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());  // NOLINT(cert-env33-c)
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Writes through a temporary and rename(2), as an operator's editor would: parkd never reads half a file.
  std::string write(const std::string& name, const std::string& content) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file + ".tmp", std::ios::binary) << content;
    std::rename((file + ".tmp").c_str(), file.c_str());
    return file;
  }

 private:
  std::string path_;
};

std::string tenants_json(int extensions) {
  std::string json = "{\"tenants\": [{\"name\": \"acme\", \"domain\": \"acme.example.com\", \"extensions\": [";
  for (int i = 0; i < extensions; ++i) {
    json += (i > 0 ? ", " : "") + std::string("{\"number\": \"") + std::to_string(101 + i) + "\", \"password\": \"p\"}";
  }
  return json + "]}]}\n";
}

TEST(ParkdTenants, BadTenantsFileExitsOneWithFileLineColumn) {
  TempDir dir;
  std::string file = dir.write("tenants.json", "{\"tenants\": [\n  {\"name\": \"acme\", \"domian\": \"x\"}\n]}\n");
  auto r = run(PARKD_BINARY, {"--tenants", file, "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "parkd: " + file + ":2:20: unknown key 'domian' in tenant\n");
}

TEST(ParkdTenants, MissingTenantsFileExitsOne) {
  auto r = run(PARKD_BINARY, {"--tenants", "/nonexistent/tenants.json", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "parkd: /nonexistent/tenants.json: cannot open: No such file or directory\n");
}

TEST(ParkdTenants, DemoPrintsSummaryAndCredentials) {
  Process p(PARKD_BINARY, {"--demo", "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(p.wait_for_line("Ctrl-C", 10s)) << p.stdout_text();
  const std::string& out = p.stdout_text();
  EXPECT_NE(out.find("tenants: 2, extensions: 7\n"), std::string::npos) << out;
  EXPECT_NE(out.find("domain acme.example.com  number 101  name Alice  password acme101-secret\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("domain globex.example.com  number 103"), std::string::npos) << out;
  p.send_signal(SIGHUP);
  EXPECT_TRUE(p.wait_for_error_line("reloaded the embedded demo tenants: tenants: 2, extensions: 7", 10s))
      << p.stderr_text();
  p.send_signal(SIGTERM);
  EXPECT_EQ(p.wait_exit(10s), 0);
}

TEST(ParkdTenants, TenantsFileDoesNotPrintCredentials) {
  TempDir dir;
  std::string file = dir.write("tenants.json", tenants_json(2));
  Process p(PARKD_BINARY, {"--tenants", file, "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(p.wait_for_line("Ctrl-C", 10s)) << p.stdout_text();
  EXPECT_NE(p.stdout_text().find("tenants: 1, extensions: 2\n"), std::string::npos) << p.stdout_text();
  EXPECT_EQ(p.stdout_text().find("password"), std::string::npos) << p.stdout_text();
  p.send_signal(SIGTERM);
  EXPECT_EQ(p.wait_exit(10s), 0);
}

TEST(ParkdTenants, SighupReloadsAndKeepsTheRunningConfigurationOnError) {
  TempDir dir;
  std::string file = dir.write("tenants.json", tenants_json(2));
  Process p(PARKD_BINARY, {"--tenants", file, "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(p.wait_for_line("tenants: 1, extensions: 2", 10s)) << p.stdout_text() << p.stderr_text();
  ASSERT_TRUE(p.wait_for_line("Ctrl-C", 10s));

  dir.write("tenants.json", "{\"tenants\": [\n  {\"name\": \"acme\",, }\n]}\n");
  p.send_signal(SIGHUP);
  auto failed = p.wait_for_error_line("reload failed", 10s);
  ASSERT_TRUE(failed) << p.stderr_text();
  EXPECT_NE(failed->find("reload failed: " + file + ":2:"), std::string::npos) << *failed;
  EXPECT_NE(failed->find("; running configuration kept"), std::string::npos) << *failed;

  dir.write("tenants.json", tenants_json(3));
  p.send_signal(SIGHUP);
  EXPECT_TRUE(p.wait_for_error_line("reloaded " + file + ": tenants: 1, extensions: 3", 10s)) << p.stderr_text();

  p.send_signal(SIGTERM);
  EXPECT_EQ(p.wait_exit(10s), 0);
}

}  // namespace
}  // namespace parkd::test

// Registrations on disk (tenancy/persistence.h): the encodings, write-close-reopen, expiry while down, removals,
// another shard count, a full ring (rewrite), a commit failure, and kill -9 after a commit (a forked child).
#include "tenancy/persistence.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "tenancy/tenants_file.h"

namespace parkd::tenancy {
namespace {

constexpr uint64_t mono0 = 5'000'000;         // the shard's monotonic clock, ms
constexpr int64_t wall0 = 1'700'000'000'000;  // the wall clock, ms
int64_t fake_wall_ms = wall0;
int64_t fake_wall_clock() { return fake_wall_ms; }

const char* const tenants_json = R"({"tenants": [
  {"name": "acme", "domain": "Acme.Example.com", "extensions": [
    {"number": "101", "password": "a"}, {"number": "102", "password": "b"}]},
  {"name": "globex", "domain": "globex.example.com", "extensions": [
    {"number": "101", "password": "g"}, {"number": "102", "password": "h"}]}]})";

TenantsConfigPtr load_config(const char* json = tenants_json) {
  auto result = parse_tenants(json, "t.json");
  EXPECT_TRUE(result.ok());
  return result.ok() ? std::move(result).value() : nullptr;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "parkd-persist-XXXXXX").string();
    path_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Contact {
  Contact(std::string uri_text, std::string instance_id = {}, std::string reg_id_text = {}, std::string q_text = {},
          int64_t expires_s = -1)
      : uri(std::move(uri_text)),
        instance(std::move(instance_id)),
        reg_id(std::move(reg_id_text)),
        q(std::move(q_text)),
        expires(expires_s) {}
  std::string uri;
  std::string instance;
  std::string reg_id;
  std::string q;
  int64_t expires;
};

// Registers one contact at (domain, number) through the table (and so through its observer).
RegisterResult register_at(LocationTable& table, const TenantsConfig& config, std::string_view domain,
                           std::string_view number, const Contact& c, uint64_t now_ms, uint32_t cseq = 1,
                           Transport transport = Transport::udp) {
  const auto tenant = config.find_tenant(domain);
  const auto extension = tenant->find_extension(number);
  sip::ContactView view;
  view.address.uri = c.uri;
  view.instance = c.instance;
  view.reg_id = c.reg_id;
  view.q = c.q;
  view.expires = c.expires;
  RegisterRequest request;
  request.contacts = std::span<const sip::ContactView>(&view, 1);
  request.call_id = "persist-call";
  request.cseq = cseq;
  EXPECT_TRUE(parse_endpoint("[2001:db8::1]:5070", request.flow.source));
  request.flow.transport = transport;
  request.flow.connection_id = transport == Transport::tcp ? 77 : 0;
  request.flow.socket_index = 2;
  return table.apply(tenant->index(), extension->index(), request, now_ms);
}

// Everything observable about the bindings of a table, by domain and number, for comparisons.
using Snapshot = std::map<std::tuple<std::string, std::string, std::string>, std::string>;
Snapshot snapshot(const LocationTable& table, const TenantsConfig& config, uint64_t now_ms) {
  Snapshot out;
  for (uint32_t i = table.next_live(0); i != no_binding; i = table.next_live(i + 1)) {
    const BindingView b = table.binding(i);
    const Flow flow = b.flow();
    const std::string domain(config.tenant(b.tenant()).domain());
    const std::string number(config.extension(b.extension()).number());
    out[{domain, number, std::string(b.contact_uri())}] =
        std::string(b.instance()) + "|" + std::to_string(b.reg_id()) + "|" + std::to_string(b.q_thousandths()) + "|" +
        std::to_string(b.remaining_s(now_ms)) + "|" + std::to_string(b.cseq()) + "|" +
        std::to_string(b.call_id_hash()) + "|" + flow.source.to_string() + "|" +
        (flow.transport == Transport::tcp ? "tcp" : "udp") + "|" + std::to_string(flow.socket_index);
  }
  return out;
}

bool owns_everything(std::string_view /*domain*/) { return true; }

// One shard's persistence pieces, in the order the daemon would build them.
struct Shard {
  Shard(BindingStore& store, const TenantsConfig& config, std::function<bool(std::string_view)> owns = owns_everything)
      : writer(store, std::move(owns)), persister(writer, table, &config) {
    persister.set_wall_clock(&fake_wall_clock);
    table.set_observer(&persister);
  }
  TimerWheel wheel{mono0};
  LocationTable table{&wheel};
  ShardWriter writer;
  LocationPersister persister;
};

class PersistenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_wall_ms = wall0;
    config = load_config();
    ASSERT_TRUE(config);
  }
  std::unique_ptr<BindingStore> open_store(const PersistenceOptions& options = {}) {
    auto store = BindingStore::open(dir.path(), options);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error());
    return store.ok() ? std::move(store).value() : nullptr;
  }
  // Restores everything into a fresh table at (wall, mono) and returns the stats.
  LoadStats restore_into(
      BindingStore& store, LocationTable& table, int64_t now_wall_ms, uint64_t now_ms,
      const std::function<bool(uint32_t)>& owns = [](uint32_t) { return true; }) {
    auto stats = restore_location(store, *config, table, owns, now_wall_ms, now_ms);
    EXPECT_TRUE(stats.ok()) << (stats.ok() ? "" : stats.error());
    return stats.ok() ? stats.value() : LoadStats{};
  }

  TempDir dir;
  TenantsConfigPtr config;
};

TEST(PersistenceEncoding, RoundTrip) {
  StoredBinding b;
  b.contact_uri = "sip:101@192.0.2.1:5060;ob";
  b.instance = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
  b.reg_id = 2;
  b.q_thousandths = 700;
  b.expires_at_wall_ms = wall0 + 3600'000;
  b.call_id_hash = 0xdeadbeef;
  b.cseq = 42;
  ASSERT_TRUE(parse_endpoint("[2001:db8::9]:6000", b.flow.source));
  b.flow.transport = Transport::tcp;
  char key[stored_key_length_max];
  char value[stored_value_length_max];
  const size_t key_length = encode_stored_key("ACME.example.COM", "101", b.contact_uri, b.instance, b.reg_id, key);
  const size_t value_length = encode_stored_value(b, value);
  StoredBinding out;
  ASSERT_TRUE(decode_stored_binding({key, key_length}, {value, value_length}, out));
  EXPECT_EQ(out.domain, "acme.example.com");
  EXPECT_EQ(out.number, "101");
  EXPECT_EQ(out.contact_uri, b.contact_uri);
  EXPECT_EQ(out.instance, b.instance);
  EXPECT_EQ(out.reg_id, 2u);
  EXPECT_EQ(out.q_thousandths, 700);
  EXPECT_EQ(out.expires_at_wall_ms, b.expires_at_wall_ms);
  EXPECT_EQ(out.call_id_hash, 0xdeadbeefu);
  EXPECT_EQ(out.cseq, 42u);
  EXPECT_EQ(out.flow.source.to_string(), "[2001:db8::9]:6000");
  EXPECT_EQ(out.flow.transport, Transport::tcp);
  // The key names the device, not its contact: another URI of the same instance is the same key.
  char other[stored_key_length_max];
  EXPECT_EQ(std::string_view(
                other, encode_stored_key("acme.example.com", "101", "sip:x@198.51.100.1", b.instance, b.reg_id, other)),
            std::string_view(key, key_length));
  EXPECT_FALSE(decode_stored_binding({key, key_length - 1}, {value, value_length}, out));
  EXPECT_FALSE(decode_stored_binding({key, key_length}, {value, value_length - 1}, out));
}

TEST_F(PersistenceTest, MissingDataDirIsAnError) {
  auto store = BindingStore::open(dir.path() + "/absent");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().find("--data-dir must exist"), std::string::npos) << store.error();
}

TEST_F(PersistenceTest, WriteCloseReopenRestoresTheSameBindings) {
  Snapshot before;
  {
    auto store = open_store();
    Shard shard(*store, *config);
    register_at(shard.table, *config, "acme.example.com", "101", {"sip:101@192.0.2.1"}, mono0);
    register_at(shard.table, *config, "acme.example.com", "101",
                {"sip:101@192.0.2.2;ob", "urn:uuid:00000000-0000-0000-0000-00000000000a", "1", "0.5", 600}, mono0);
    register_at(shard.table, *config, "globex.example.com", "101", {"sip:g101@192.0.2.3;transport=tcp"}, mono0, 1,
                Transport::tcp);
    register_at(shard.table, *config, "acme.example.com", "102", {"sip:102@192.0.2.4", "", "", "", 120}, mono0);
    ASSERT_TRUE(shard.persister.flush(mono0));
    EXPECT_EQ(store->count(), 4u);
    before = snapshot(shard.table, *config, mono0 + 10'000);  // what should be left 10 s later
    EXPECT_GE(shard.writer.counters().commits_total, 1u);
  }
  // A restart 10 s later (another monotonic origin).
  const uint64_t mono1 = 77'000;
  auto store = open_store();
  TimerWheel wheel(mono1);
  LocationTable table(&wheel);
  const LoadStats stats = restore_into(*store, table, wall0 + 10'000, mono1);
  EXPECT_EQ(stats.restored, 4u);
  EXPECT_EQ(stats.expired, 0u);
  // The same bindings, 10 s less to live; the TCP connection id is gone.
  EXPECT_EQ(snapshot(table, *config, mono1), before);
  for (uint32_t i = table.next_live(0); i != no_binding; i = table.next_live(i + 1)) {
    EXPECT_EQ(table.binding(i).flow().connection_id, 0u);
  }
  // And they expire on the new clock.
  wheel.advance(mono1 + 111'000);
  EXPECT_EQ(table.size(), 3u);
}

TEST_F(PersistenceTest, ExpiredWhileDownIsNotRestoredAndIsErased) {
  {
    auto store = open_store();
    Shard shard(*store, *config);
    register_at(shard.table, *config, "acme.example.com", "101", {"sip:101@192.0.2.1", "", "", "", 60}, mono0);
    register_at(shard.table, *config, "acme.example.com", "102", {"sip:102@192.0.2.1", "", "", "", 3600}, mono0);
    ASSERT_TRUE(shard.persister.flush(mono0));
  }
  auto store = open_store();
  LocationTable table(nullptr);
  const LoadStats stats = restore_into(*store, table, wall0 + 61'000, 1'000);
  EXPECT_EQ(stats.restored, 1u);
  EXPECT_EQ(stats.expired, 1u);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(store->count(), 1u);
}

TEST_F(PersistenceTest, RemovalsReachTheDisk) {
  auto store = open_store();
  {
    Shard shard(*store, *config);
    register_at(shard.table, *config, "acme.example.com", "101", {"sip:101@192.0.2.1", "", "", "", 60}, mono0);
    register_at(shard.table, *config, "acme.example.com", "102", {"sip:102@192.0.2.1"}, mono0);
    register_at(shard.table, *config, "globex.example.com", "101", {"sip:g@192.0.2.1"}, mono0);
    ASSERT_TRUE(shard.persister.flush(mono0));
    EXPECT_EQ(store->count(), 3u);
    // expires=0, expiry on the wheel, and a refresh with an equivalent URI written otherwise (a new key).
    register_at(shard.table, *config, "acme.example.com", "102", {"sip:102@192.0.2.1", "", "", "", 0}, mono0, 2);
    shard.wheel.advance(mono0 + 60'000);
    register_at(shard.table, *config, "globex.example.com", "101", {"sip:g@192.0.2.1;TRANSPORT=udp"}, mono0 + 60'000,
                2);
    register_at(shard.table, *config, "globex.example.com", "101", {"sip:g@192.0.2.1;transport=UDP"}, mono0 + 60'000,
                3);
    ASSERT_TRUE(shard.persister.flush(mono0 + 60'000));
    EXPECT_EQ(shard.table.size(), 2u);
    EXPECT_EQ(store->count(), 2u);
  }
  LocationTable table(nullptr);
  EXPECT_EQ(restore_into(*store, table, wall0 + 60'000, 1'000).restored, 2u);
  ASSERT_EQ(table.size(), 2u);
}

TEST_F(PersistenceTest, AnotherShardCountStillRestoresEverything) {
  // Written by two shards (acme on one, globex on the other), read back by one and then split three ways.
  auto store = open_store();
  {
    Shard acme(*store, *config, [](std::string_view d) { return d == "acme.example.com"; });
    Shard globex(*store, *config, [](std::string_view d) { return d == "globex.example.com"; });
    register_at(acme.table, *config, "acme.example.com", "101", {"sip:a@192.0.2.1"}, mono0);
    register_at(globex.table, *config, "globex.example.com", "101", {"sip:g@192.0.2.1"}, mono0);
    ASSERT_TRUE(acme.persister.flush(mono0));
    ASSERT_TRUE(globex.persister.flush(mono0));
  }
  LocationTable everything(nullptr);
  EXPECT_EQ(restore_into(*store, everything, wall0, 1'000).restored, 2u);
  const uint32_t globex = config->find_tenant("globex.example.com")->index();
  LocationTable only_globex(nullptr);
  const LoadStats stats = restore_into(*store, only_globex, wall0, 1'000, [&](uint32_t t) { return t == globex; });
  EXPECT_EQ(stats.restored, 1u);
  EXPECT_EQ(stats.not_mine, 1u);
  EXPECT_EQ(store->count(), 2u);  // another shard's records are left alone
}

TEST_F(PersistenceTest, GoneTenantsAndExtensionsAreDroppedAtLoad) {
  auto store = open_store();
  {
    Shard shard(*store, *config);
    register_at(shard.table, *config, "acme.example.com", "101", {"sip:a@192.0.2.1"}, mono0);
    register_at(shard.table, *config, "acme.example.com", "102", {"sip:b@192.0.2.1"}, mono0);
    register_at(shard.table, *config, "globex.example.com", "101", {"sip:g@192.0.2.1"}, mono0);
    ASSERT_TRUE(shard.persister.flush(mono0));
  }
  config = load_config(R"({"tenants": [{"name": "acme", "domain": "acme.example.com", "extensions": [
      {"number": "101", "password": "a"}]}]})");
  LocationTable table(nullptr);
  const LoadStats stats = restore_into(*store, table, wall0, 1'000);
  EXPECT_EQ(stats.restored, 1u);
  EXPECT_EQ(stats.dropped, 2u);
  EXPECT_EQ(store->count(), 1u);
}

TEST_F(PersistenceTest, AFullRingRewritesTheShardsState) {
  PersistenceOptions options;
  options.ring_bytes = 256;  // a frame is about 110 bytes: two fit
  auto store = open_store(options);
  Shard shard(*store, *config, [](std::string_view d) { return d == "acme.example.com"; });
  // A stale record of this shard's tenant that the rewrite must erase, and another shard's that it must keep.
  {
    Shard other(*store, *config);
    register_at(other.table, *config, "acme.example.com", "102", {"sip:stale@192.0.2.9"}, mono0);
    register_at(other.table, *config, "globex.example.com", "102", {"sip:theirs@192.0.2.9"}, mono0);
    ASSERT_TRUE(other.persister.flush(mono0));
  }
  // Hold LMDB's write lock so the writer cannot drain: the ring fills deterministically.
  MDB_txn* blocker = nullptr;
  ASSERT_EQ(mdb_txn_begin(store->env(), nullptr, 0, &blocker), 0);
  for (int i = 0; i < 20; ++i) {
    register_at(shard.table, *config, "acme.example.com", "101", {"sip:101@192.0.2." + std::to_string(i)}, mono0,
                static_cast<uint32_t>(i + 1));
  }
  EXPECT_GE(shard.writer.counters().ring_full_total, 1u);
  EXPECT_TRUE(shard.persister.resync_pending());
  mdb_txn_abort(blocker);
  ASSERT_TRUE(shard.persister.flush(mono0));  // pumps the rewrite through the small ring, then commits
  EXPECT_FALSE(shard.persister.resync_pending());
  EXPECT_GE(shard.writer.counters().resyncs_total, 1u);
  EXPECT_EQ(shard.table.size(), 10u);
  EXPECT_EQ(store->count(), 11u);  // this shard's 10, and globex's record
  LocationTable restored(nullptr);
  EXPECT_EQ(restore_into(*store, restored, wall0, mono0).restored, 11u);
  const uint32_t acme = config->find_tenant("acme.example.com")->index();
  const uint32_t acme101 = config->find_extension(acme, "101")->index();
  EXPECT_EQ(restored.lookup(acme, acme101).size(), 10u);
  EXPECT_TRUE(restored.lookup(acme, config->find_extension(acme, "102")->index()).empty());
}

TEST_F(PersistenceTest, AFailedCommitAsksForARewrite) {
  PersistenceOptions options;
  options.map_size_bytes = 64 * 1024;  // a few pages: the map fills
  auto store = open_store(options);
  Shard shard(*store, *config);
  const std::string long_part(3000, 'x');
  for (int i = 0; i < 40; ++i) {
    register_at(shard.table, *config, "acme.example.com", "101",
                {"sip:101@192.0.2." + std::to_string(i) + ";p=" + long_part}, mono0, static_cast<uint32_t>(i + 1));
    shard.persister.pump(mono0);
  }
  // A flush always returns: the failed transaction is dropped and a rewrite requested.
  ASSERT_TRUE(shard.persister.flush(mono0));
  EXPECT_GE(shard.writer.counters().commit_failures_total, 1u);
}

// kill -9 after a commit: everything committed comes back. The child signals the commit through a pipe (no sleeps).
TEST_F(PersistenceTest, KillNineAfterACommitLosesNothingCommitted) {
  int committed[2];
  ASSERT_EQ(pipe(committed), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(committed[0]);
    auto store = BindingStore::open(dir.path());
    if (!store.ok()) _exit(3);
    Shard shard(*store.value(), *config);
    for (int i = 0; i < 200; ++i) {
      register_at(shard.table, *config, i % 2 ? "acme.example.com" : "globex.example.com", i % 4 < 2 ? "101" : "102",
                  {"sip:dev" + std::to_string(i) + "@192.0.2.1"}, mono0);
    }
    shard.persister.flush(mono0);  // returns after the writer thread committed
    if (write(committed[1], "committed\n", 10) != 10) _exit(4);
    // More changes that may or may not make it, then wait to be killed.
    for (int i = 0; i < 50; ++i) {
      register_at(shard.table, *config, "acme.example.com", "101", {"sip:late" + std::to_string(i) + "@192.0.2.1"},
                  mono0);
    }
    for (;;) pause();
  }
  close(committed[1]);
  char line[16] = {};
  size_t got = 0;
  while (got < 10) {
    const ssize_t n = read(committed[0], line + got, 10 - got);
    ASSERT_GT(n, 0) << "the child died before committing";
    got += static_cast<size_t>(n);
  }
  close(committed[0]);
  EXPECT_EQ(std::string(line, 10), "committed\n");
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  auto store = open_store();
  LocationTable table(nullptr);
  const LoadStats stats = restore_into(*store, table, wall0, 1'000);
  // 200 committed bindings over 4 extensions: at the limit of 10 each, the last 10 of each survive. Each of those 40
  // was committed (the late ones only replace acme 101's, which may or may not have reached the disk).
  EXPECT_GE(stats.restored, 40u);
  const auto count_at = [&](std::string_view domain, std::string_view number) {
    const auto tenant = config->find_tenant(domain);
    return table.lookup(tenant->index(), tenant->find_extension(number)->index()).size();
  };
  EXPECT_EQ(count_at("globex.example.com", "101"), 10u);
  EXPECT_EQ(count_at("globex.example.com", "102"), 10u);
  EXPECT_EQ(count_at("acme.example.com", "102"), 10u);
  // The late changes replace acme 101's bindings one by one (erase the oldest, put the new one); a commit may fall
  // between the two.
  EXPECT_GE(count_at("acme.example.com", "101"), 9u);
  EXPECT_LE(count_at("acme.example.com", "101"), 10u);
  for (const BindingView b :
       table.lookup(config->find_tenant("globex.example.com")->index(), config->find_extension(1, "101")->index())) {
    const int device = std::stoi(std::string(b.contact_uri().substr(7)));
    EXPECT_GE(device, 160) << b.contact_uri();  // the newest ten of that extension
  }
}

}  // namespace
}  // namespace parkd::tenancy

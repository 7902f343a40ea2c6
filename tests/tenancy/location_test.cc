// The location table (tenancy/location.h): every registrar rule of SPEC section 4 and RFC 3261 section 10.3,
// instance ids (RFC 5626), the binding limit, expiry on a manually driven timer wheel, reloads, tenant isolation,
// and the memory a binding costs.
#include "tenancy/location.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tenancy/tenants_file.h"

namespace parkd::tenancy {
namespace {

constexpr uint64_t t0 = 1'000'000;  // ms on the test's monotonic clock

sip::ContactView contact(std::string_view uri, int64_t expires = -1, std::string_view instance = {},
                         std::string_view q = {}, std::string_view reg_id = {}) {
  sip::ContactView c;
  c.address.uri = uri;
  c.expires = expires;
  c.instance = instance;
  c.q = q;
  c.reg_id = reg_id;
  return c;
}

Flow udp_flow(uint8_t last_octet, uint16_t port) {
  Flow flow;
  EXPECT_TRUE(parse_endpoint("192.0.2." + std::to_string(last_octet) + ":" + std::to_string(port), flow.source));
  flow.socket_index = 1;
  return flow;
}

// A REGISTER under construction. The contacts are views (as in a parsed message): add() keeps the text alive.
struct Register {
  std::shared_ptr<std::deque<std::string>> storage = std::make_shared<std::deque<std::string>>();
  std::vector<sip::ContactView> contacts;
  int64_t expires = -1;
  bool star = false;
  std::string call_id = "call-1@device";
  uint32_t cseq = 1;
  Flow flow = udp_flow(10, 5060);

  std::string_view keep(std::string_view text) { return storage->emplace_back(text); }
  void add(std::string_view uri, int64_t contact_expires = -1, std::string_view instance = {}) {
    contacts.push_back(contact(keep(uri), contact_expires, keep(instance)));
  }

  RegisterRequest request() const {
    RegisterRequest r;
    r.contacts = contacts;
    r.expires = expires;
    r.contact_star = star;
    r.call_id = call_id;
    r.cseq = cseq;
    r.flow = flow;
    return r;
  }
};

std::vector<std::string> uris(BindingRange range) {
  std::vector<std::string> out;
  for (const BindingView b : range) out.emplace_back(b.contact_uri());
  return out;
}

struct Event {
  bool stored;
  RemoveReason reason;
  std::string uri;
};

class RecordingObserver : public LocationObserver {
 public:
  void binding_stored(const LocationTable& table, uint32_t binding, uint64_t /*now_ms*/) override {
    events.push_back({true, RemoveReason::unregistered, std::string(table.binding(binding).contact_uri())});
  }
  void binding_removing(const LocationTable& table, uint32_t binding, RemoveReason reason) override {
    events.push_back({false, reason, std::string(table.binding(binding).contact_uri())});
  }
  std::vector<Event> events;
};

class LocationTest : public ::testing::Test {
 protected:
  RegisterResult reg(const Register& r, uint64_t now_ms = t0, uint32_t tenant = 0, uint32_t extension = 0) {
    return table.apply(tenant, extension, r.request(), now_ms);
  }
  static Register one(std::string_view uri, int64_t expires = -1, std::string_view instance = {}) {
    Register r;
    r.add(uri, expires, instance);
    return r;
  }

  TimerWheel wheel{t0};
  LocationTable table{&wheel};
};

// --- Expires

TEST_F(LocationTest, ExpiresDefaultsTo3600) {
  const RegisterResult result = reg(one("sip:101@192.0.2.10"));
  ASSERT_EQ(result.status, 200);
  ASSERT_EQ(result.bindings.size(), 1u);
  EXPECT_EQ((*result.bindings.begin()).remaining_s(t0), 3600u);
  EXPECT_TRUE(result.changed);
  EXPECT_EQ(result.added_count, 1u);
}

TEST_F(LocationTest, ExpiresIsCappedAt3600) {
  Register r = one("sip:101@192.0.2.10");
  r.expires = 86400;
  const RegisterResult result = reg(r);
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ((*result.bindings.begin()).remaining_s(t0), 3600u);
}

TEST_F(LocationTest, ContactParameterBeatsHeader) {
  Register r = one("sip:101@192.0.2.10", 120);
  r.expires = 600;
  r.contacts.push_back(contact("sip:101@192.0.2.11"));  // takes the header's 600
  const RegisterResult result = reg(r);
  ASSERT_EQ(result.status, 200);
  std::vector<uint32_t> remaining;
  for (const BindingView b : result.bindings) remaining.push_back(b.remaining_s(t0));
  EXPECT_EQ(remaining, (std::vector<uint32_t>{120, 600}));
}

TEST_F(LocationTest, ExpiresBelow60Gets423AndChangesNothing) {
  ASSERT_EQ(reg(one("sip:101@192.0.2.10")).status, 200);
  for (const int64_t brief : {1, 30, 59}) {
    Register r = one("sip:101@192.0.2.11");  // valid on its own
    r.contacts.push_back(contact("sip:101@192.0.2.12", brief));
    const RegisterResult result = reg(r, t0 + 1000);
    EXPECT_EQ(result.status, 423) << brief;
    EXPECT_EQ(result.min_expires_s, 60u);
    EXPECT_FALSE(result.changed);
  }
  Register header = one("sip:101@192.0.2.13");
  header.expires = 59;
  EXPECT_EQ(reg(header, t0 + 1000).status, 423);
  EXPECT_EQ(uris(table.lookup(0, 0)), (std::vector<std::string>{"sip:101@192.0.2.10"}));
  // 60 is the minimum, not below it.
  EXPECT_EQ(reg(one("sip:101@192.0.2.14", 60), t0 + 2000).status, 200);
}

TEST_F(LocationTest, ExpiresZeroRemovesThatBinding) {
  Register r = one("sip:101@192.0.2.10");
  r.contacts.push_back(contact("sip:101@192.0.2.11"));
  ASSERT_EQ(reg(r).status, 200);
  Register remove = one("sip:101@192.0.2.10", 0);
  remove.cseq = 2;
  const RegisterResult result = reg(remove, t0 + 1);
  ASSERT_EQ(result.status, 200);
  EXPECT_TRUE(result.changed);
  EXPECT_EQ(result.removed_count, 1u);
  EXPECT_EQ(uris(result.bindings), (std::vector<std::string>{"sip:101@192.0.2.11"}));
  // Removing what is not there is a 200 that changes nothing.
  remove.cseq = 3;
  const RegisterResult again = reg(remove, t0 + 2);
  EXPECT_EQ(again.status, 200);
  EXPECT_FALSE(again.changed);
}

// --- Contact: *

TEST_F(LocationTest, StarWithExpiresZeroRemovesAll) {
  Register r = one("sip:101@192.0.2.10");
  r.contacts.push_back(contact("sip:101@192.0.2.11"));
  ASSERT_EQ(reg(r).status, 200);
  Register star;
  star.star = true;
  star.expires = 0;
  star.call_id = "other-call";
  const RegisterResult result = reg(star, t0 + 1);
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(result.removed_count, 2u);
  EXPECT_TRUE(result.bindings.empty());
  EXPECT_TRUE(table.lookup(0, 0).empty());
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.extension_count(), 0u);
}

TEST_F(LocationTest, StarNeedsExpiresZeroAndNoOtherContact) {
  ASSERT_EQ(reg(one("sip:101@192.0.2.10")).status, 200);
  Register star;
  star.star = true;
  star.call_id = "other";
  EXPECT_EQ(reg(star).status, 400);  // no Expires
  star.expires = 60;
  EXPECT_EQ(reg(star).status, 400);
  star.expires = 0;
  star.contacts.push_back(contact("sip:101@192.0.2.11"));
  EXPECT_EQ(reg(star).status, 400);
  EXPECT_EQ(table.size(), 1u);
}

TEST_F(LocationTest, StarIsOutOfOrderWithSameCallIdAndLowerCseq) {
  Register r = one("sip:101@192.0.2.10");
  r.cseq = 5;
  ASSERT_EQ(reg(r).status, 200);
  Register star;
  star.star = true;
  star.expires = 0;
  star.cseq = 5;
  EXPECT_EQ(reg(star).status, 500);
  EXPECT_EQ(table.size(), 1u);
  star.cseq = 6;
  EXPECT_EQ(reg(star).status, 200);
  EXPECT_EQ(table.size(), 0u);
}

// --- identity

TEST_F(LocationTest, InstanceReplacesItsBindingEvenWithAnotherUri) {
  const std::string instance = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
  ASSERT_EQ(reg(one("sip:101@192.0.2.10:5060", -1, instance)).status, 200);
  Register moved = one("sip:101@198.51.100.7:40000", -1, instance);
  moved.cseq = 2;
  moved.flow = udp_flow(77, 40000);
  const RegisterResult result = reg(moved, t0 + 5000);
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(result.added_count, 0u);  // a refresh, not a new device
  ASSERT_EQ(result.bindings.size(), 1u);
  const BindingView b = *result.bindings.begin();
  EXPECT_EQ(b.contact_uri(), "sip:101@198.51.100.7:40000");
  EXPECT_EQ(b.instance(), instance);
  EXPECT_EQ(b.flow().source.to_string(), "192.0.2.77:40000");
  // Another instance is another device.
  Register other = one("sip:101@198.51.100.7:40000", -1, "urn:uuid:00000000-0000-0000-0000-000000000001");
  EXPECT_EQ(reg(other, t0 + 6000).added_count, 1u);
  EXPECT_EQ(table.size(), 2u);
}

TEST_F(LocationTest, RegIdSeparatesFlowsOfOneInstance) {
  const std::string instance = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
  Register r;
  r.contacts.push_back(contact("sip:101@192.0.2.10;ob", -1, instance, {}, "1"));
  r.contacts.push_back(contact("sip:101@192.0.2.11;ob", -1, instance, {}, "2"));
  const RegisterResult result = reg(r);
  ASSERT_EQ(result.status, 200);
  ASSERT_EQ(result.bindings.size(), 2u);
  std::vector<uint32_t> reg_ids;
  for (const BindingView b : result.bindings) reg_ids.push_back(b.reg_id());
  EXPECT_EQ(reg_ids, (std::vector<uint32_t>{1, 2}));
  Register bad = one("sip:101@192.0.2.12", -1, instance);
  bad.contacts[0].reg_id = "0";
  EXPECT_EQ(reg(bad).status, 400);
}

TEST_F(LocationTest, EquivalentUriReplacesDifferentUriAdds) {
  ASSERT_EQ(reg(one("sip:101@Device.Example.COM;transport=udp")).status, 200);
  Register same = one("sip:101@device.example.com;transport=UDP");
  same.cseq = 2;
  RegisterResult result = reg(same, t0 + 1);
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(result.added_count, 0u);
  EXPECT_EQ(uris(result.bindings), (std::vector<std::string>{"sip:101@device.example.com;transport=UDP"}));
  Register other = one("sip:101@device.example.com:5070");  // a port on one side only differs
  other.cseq = 3;
  result = reg(other, t0 + 2);
  EXPECT_EQ(result.added_count, 1u);
  EXPECT_EQ(table.size(), 2u);
}

TEST_F(LocationTest, RekeyedUriIsReportedBeforeItChanges) {
  RecordingObserver observer;
  table.set_observer(&observer);
  ASSERT_EQ(reg(one("sip:101@HOST.example")).status, 200);
  Register same = one("sip:101@host.example");
  same.cseq = 2;
  ASSERT_EQ(reg(same, t0 + 1).status, 200);
  ASSERT_EQ(observer.events.size(), 3u);
  EXPECT_TRUE(observer.events[0].stored);
  EXPECT_FALSE(observer.events[1].stored);
  EXPECT_EQ(observer.events[1].reason, RemoveReason::rekeyed);
  EXPECT_EQ(observer.events[1].uri, "sip:101@HOST.example");
  EXPECT_TRUE(observer.events[2].stored);
  EXPECT_EQ(observer.events[2].uri, "sip:101@host.example");
}

// --- the limit

TEST_F(LocationTest, AtTheLimitTheOldestIsReplaced) {
  for (int i = 0; i < 10; ++i) {
    Register r = one("sip:101@192.0.2." + std::to_string(i));
    r.cseq = static_cast<uint32_t>(i + 1);
    ASSERT_EQ(reg(r, t0 + static_cast<uint64_t>(i)).status, 200);
  }
  EXPECT_EQ(table.size(), 10u);
  // Refreshing .0 makes .1 the least recently registered.
  Register refresh = one("sip:101@192.0.2.0");
  refresh.cseq = 20;
  ASSERT_EQ(reg(refresh, t0 + 100).status, 200);
  Register eleventh = one("sip:101@192.0.2.99");
  eleventh.cseq = 21;
  const RegisterResult result = reg(eleventh, t0 + 200);
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(result.removed_count, 1u);
  EXPECT_EQ(result.added_count, 1u);
  const std::vector<std::string> now = uris(table.lookup(0, 0));
  ASSERT_EQ(now.size(), 10u);
  EXPECT_EQ(std::count(now.begin(), now.end(), "sip:101@192.0.2.1"), 0);
  EXPECT_EQ(now.front(), "sip:101@192.0.2.2");
  EXPECT_EQ(now.back(), "sip:101@192.0.2.99");
  EXPECT_EQ(table.counters().replaced_total, 1u);
}

TEST(LocationLimit, ConfigurableLimit) {
  LocationTable table(nullptr, LocationOptions{2});
  Register r;
  for (const char* uri : {"sip:a@192.0.2.1", "sip:b@192.0.2.1", "sip:c@192.0.2.1"}) {
    r.contacts.push_back(contact(uri));
  }
  const RegisterResult result = table.apply(0, 0, r.request(), t0);
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(uris(result.bindings), (std::vector<std::string>{"sip:b@192.0.2.1", "sip:c@192.0.2.1"}));
}

// --- fetch, out of order, bad input

TEST_F(LocationTest, RegisterWithoutContactFetches) {
  ASSERT_EQ(reg(one("sip:101@192.0.2.10")).status, 200);
  Register fetch;
  fetch.call_id = "fetch";
  const RegisterResult result = reg(fetch, t0 + 10'000);
  ASSERT_EQ(result.status, 200);
  EXPECT_FALSE(result.changed);
  ASSERT_EQ(result.bindings.size(), 1u);
  EXPECT_EQ((*result.bindings.begin()).remaining_s(t0 + 10'000), 3590u);
  // An extension with no binding: an empty list.
  EXPECT_TRUE(reg(fetch, t0, 0, 1).bindings.empty());
}

TEST_F(LocationTest, SameCallIdWithCseqNotHigherIsOutOfOrder) {
  Register r = one("sip:101@192.0.2.10", 600);
  r.cseq = 10;
  ASSERT_EQ(reg(r).status, 200);
  for (const uint32_t cseq : {10u, 9u, 1u}) {
    Register old = one("sip:101@192.0.2.10", 0);
    old.cseq = cseq;
    const RegisterResult result = reg(old, t0 + 1);
    EXPECT_EQ(result.status, 500) << cseq;
    EXPECT_FALSE(result.changed);
  }
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.counters().out_of_order_total, 3u);
  // Another Call-ID (the device restarted) may start again at 1.
  Register restarted = one("sip:101@192.0.2.10", 120);
  restarted.call_id = "call-2@device";
  restarted.cseq = 1;
  ASSERT_EQ(reg(restarted, t0 + 2).status, 200);
  EXPECT_EQ((*table.lookup(0, 0).begin()).remaining_s(t0 + 2), 120u);
  // A higher CSeq in the same Call-ID updates.
  restarted.cseq = 2;
  restarted.contacts[0].expires = 0;
  EXPECT_EQ(reg(restarted, t0 + 3).status, 200);
  EXPECT_EQ(table.size(), 0u);
}

TEST_F(LocationTest, OutOfOrderAbortsTheWholeRequest) {
  Register r = one("sip:101@192.0.2.10");
  r.cseq = 10;
  ASSERT_EQ(reg(r).status, 200);
  Register mixed = one("sip:101@192.0.2.11");  // new, fine on its own
  mixed.contacts.push_back(contact("sip:101@192.0.2.10", 0));
  mixed.cseq = 10;
  EXPECT_EQ(reg(mixed, t0 + 1).status, 500);
  EXPECT_EQ(uris(table.lookup(0, 0)), (std::vector<std::string>{"sip:101@192.0.2.10"}));
}

TEST_F(LocationTest, BadContactsAre400) {
  EXPECT_EQ(reg(one("not a uri")).status, 400);
  Register q = one("sip:101@192.0.2.10");
  q.contacts[0].q = "1.5";
  EXPECT_EQ(reg(q).status, 400);
  q.contacts[0].q = "0.5";
  const RegisterResult result = reg(q);
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ((*result.bindings.begin()).q_thousandths(), 500);
  EXPECT_EQ(reg(one("sip:101@192.0.2.10", -1, std::string(256, 'x'))).status, 400);
  EXPECT_EQ(reg(one("sip:101@192.0.2.10;x=" + std::string(4100, 'y'))).status, 400);
}

// --- flows, events

TEST_F(LocationTest, KeepsTheFlow) {
  Register r = one("sip:101@10.0.0.5:5060");  // a private address: the flow is what reaches the device
  r.flow.transport = Transport::tcp;
  r.flow.connection_id = 4242;
  r.flow.socket_index = 3;
  ASSERT_TRUE(parse_endpoint("[2001:db8::7]:41000", r.flow.source));
  ASSERT_EQ(reg(r).status, 200);
  const Flow flow = (*table.lookup(0, 0).begin()).flow();
  EXPECT_EQ(flow.source.to_string(), "[2001:db8::7]:41000");
  EXPECT_TRUE(flow.source.ipv6);
  EXPECT_EQ(flow.transport, Transport::tcp);
  EXPECT_EQ(flow.connection_id, 4242u);
  EXPECT_EQ(flow.socket_index, 3);
}

TEST_F(LocationTest, ObserverSeesEveryChange) {
  RecordingObserver observer;
  table.set_observer(&observer);
  Register r = one("sip:101@192.0.2.10", 60);
  ASSERT_EQ(reg(r).status, 200);
  r.cseq = 2;
  ASSERT_EQ(reg(r, t0 + 1000).status, 200);  // refresh: stored again
  r.cseq = 3;
  r.contacts[0].expires = 0;
  ASSERT_EQ(reg(r, t0 + 2000).status, 200);
  ASSERT_EQ(observer.events.size(), 3u);
  EXPECT_TRUE(observer.events[0].stored);
  EXPECT_TRUE(observer.events[1].stored);
  EXPECT_FALSE(observer.events[2].stored);
  EXPECT_EQ(observer.events[2].reason, RemoveReason::unregistered);
}

// --- expiry

TEST_F(LocationTest, ExpiryFiresOnTheWheelAtTheRightTime) {
  RecordingObserver observer;
  table.set_observer(&observer);
  ASSERT_EQ(reg(one("sip:101@192.0.2.10", 60), t0 + 250).status, 200);  // due at ceil(60.25 s + t0)
  ASSERT_EQ(reg(one("sip:102@192.0.2.10", 120), t0 + 250, 0, 1).status, 200);
  observer.events.clear();
  const uint64_t due = t0 + 61'000;  // 1,061,000 ms: the first whole second at or after t0 + 60,250
  ASSERT_EQ(wheel.next_expiry_ms().value_or(0) <= due, true);
  wheel.advance(due - 1);
  EXPECT_EQ(table.size(), 2u);
  wheel.advance(due);
  EXPECT_EQ(table.size(), 1u);
  ASSERT_EQ(observer.events.size(), 1u);
  EXPECT_EQ(observer.events[0].reason, RemoveReason::expired);
  EXPECT_EQ(observer.events[0].uri, "sip:101@192.0.2.10");
  EXPECT_TRUE(table.lookup(0, 0).empty());
  // A refresh moves the expiry: the second binding lives on.
  Register refresh = one("sip:102@192.0.2.10", 120);
  refresh.cseq = 2;
  ASSERT_EQ(reg(refresh, t0 + 100'000, 0, 1).status, 200);
  wheel.advance(t0 + 121'000);
  EXPECT_EQ(table.size(), 1u);
  wheel.advance(t0 + 219'999);
  EXPECT_EQ(table.size(), 1u);
  wheel.advance(t0 + 220'000);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_FALSE(wheel.next_expiry_ms().has_value());  // nothing left: the table's entry is disarmed
  EXPECT_EQ(table.counters().expired_total, 2u);
}

TEST_F(LocationTest, ExpiryAfterALongIdleGap) {
  for (uint32_t i = 0; i < 100; ++i) {
    ASSERT_EQ(reg(one("sip:x@192.0.2.1", 60 + i * 30), t0, 0, i).status, 200);
  }
  wheel.advance(t0 + 10 * 3600 * 1000);  // hours later in one step
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.extension_count(), 0u);
}

TEST(LocationNoWheel, ExpireByHand) {
  LocationTable table(nullptr);
  Register r;
  r.contacts.push_back(contact("sip:101@192.0.2.10", 60));
  ASSERT_EQ(table.apply(0, 0, r.request(), t0).status, 200);
  EXPECT_EQ(table.expire(t0 + 59'999), 0u);
  EXPECT_EQ(table.expire(t0 + 60'000), 1u);
}

// --- tenants

TEST_F(LocationTest, TenantsAreIsolated) {
  // Tenant 0's extension 0 and tenant 1's extension 5: the same number "101" in two tenants.
  ASSERT_EQ(reg(one("sip:101@192.0.2.10"), t0, 0, 0).status, 200);
  ASSERT_EQ(reg(one("sip:101@198.51.100.1"), t0, 1, 5).status, 200);
  EXPECT_EQ(uris(table.lookup(0, 0)), (std::vector<std::string>{"sip:101@192.0.2.10"}));
  EXPECT_EQ(uris(table.lookup(1, 5)), (std::vector<std::string>{"sip:101@198.51.100.1"}));
  EXPECT_TRUE(table.lookup(1, 0).empty());
  Register star;
  star.star = true;
  star.expires = 0;
  star.cseq = 2;
  ASSERT_EQ(reg(star, t0 + 1, 1, 5).status, 200);
  EXPECT_EQ(table.lookup(0, 0).size(), 1u);
  EXPECT_EQ(table.remove_tenant(0), 1u);
  EXPECT_EQ(table.size(), 0u);
}

TenantsConfigPtr config(std::string_view json) {
  auto result = parse_tenants(json, "t.json");
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().to_string());
  return result.ok() ? std::move(result).value() : nullptr;
}

TEST_F(LocationTest, RebindKeepsUnchangedExtensions) {
  const auto before = config(R"({"tenants": [
    {"name": "acme", "domain": "acme.example.com", "extensions": [
      {"number": "101", "password": "a"}, {"number": "102", "password": "b"}, {"number": "103", "password": "c"}]},
    {"name": "globex", "domain": "globex.example.com", "extensions": [{"number": "101", "password": "g"}]}]})");
  // globex first now, acme lost 102 and changed 103's password, gained 100 (indices all move). (A domain
  // spelled in another case is another realm, so other H(A1)s: its extensions count as changed.)
  const auto after = config(R"({"tenants": [
    {"name": "globex", "domain": "globex.example.com", "extensions": [{"number": "101", "password": "g"}]},
    {"name": "acme", "domain": "acme.example.com", "extensions": [
      {"number": "100", "password": "z"}, {"number": "101", "password": "a"}, {"number": "103", "password": "new"}]}]})");
  ASSERT_TRUE(before && after);
  auto index = [](const TenantsConfig& c, std::string_view domain, std::string_view number) {
    const auto tenant = c.find_tenant(domain);
    EXPECT_TRUE(tenant.has_value());
    const auto extension = tenant->find_extension(number);
    EXPECT_TRUE(extension.has_value());
    return std::pair<uint32_t, uint32_t>{tenant->index(), extension->index()};
  };
  auto reg_at = [&](const TenantsConfig& c, std::string_view domain, std::string_view number, const std::string& uri) {
    const auto [tenant, extension] = index(c, domain, number);
    ASSERT_EQ(reg(one(uri), t0, tenant, extension).status, 200);
  };
  reg_at(*before, "acme.example.com", "101", "sip:acme101@192.0.2.1");
  reg_at(*before, "acme.example.com", "102", "sip:acme102@192.0.2.2");
  reg_at(*before, "acme.example.com", "103", "sip:acme103@192.0.2.3");
  reg_at(*before, "globex.example.com", "101", "sip:globex101@192.0.2.4");
  RecordingObserver observer;
  table.set_observer(&observer);
  EXPECT_EQ(table.rebind(*before, *after), 2u);
  EXPECT_EQ(table.size(), 2u);
  ASSERT_EQ(observer.events.size(), 2u);
  EXPECT_EQ(observer.events[0].reason, RemoveReason::reload);
  const auto [acme, acme101] = index(*after, "acme.example.com", "101");
  const auto [globex, globex101] = index(*after, "globex.example.com", "101");
  EXPECT_EQ(uris(table.lookup(acme, acme101)), (std::vector<std::string>{"sip:acme101@192.0.2.1"}));
  EXPECT_EQ(uris(table.lookup(globex, globex101)), (std::vector<std::string>{"sip:globex101@192.0.2.4"}));
  const auto [acme_again, acme103] = index(*after, "acme.example.com", "103");
  EXPECT_TRUE(table.lookup(acme_again, acme103).empty());
  // The kept bindings still expire.
  wheel.advance(t0 + 3600 * 1000);
  EXPECT_EQ(table.size(), 0u);
}

// --- memory

size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0;
  size_t pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

TEST(LocationMemory, AMillionExtensionsWithOneBindingEach) {
  constexpr uint32_t n = 1'000'000;
  const size_t rss_before = rss_bytes();
  TimerWheel wheel(t0);
  auto table = std::make_unique<LocationTable>(&wheel);
  // A realistic binding: a 48-byte contact URI and a 45-byte RFC 5626 instance id.
  std::string uri = "sip:1000000@192.168.100.200:5060;transport=udp;ob";
  std::string instance = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
  Register r;
  r.contacts.push_back(contact(uri, -1, instance));
  for (uint32_t i = 0; i < n; ++i) {
    const std::string number = std::to_string(1'000'000 + i);
    uri.replace(4, 7, number);
    r.contacts[0].address.uri = uri;
    r.flow.source.port = static_cast<uint16_t>(i);
    const RegisterResult result = table->apply(i / 100, i, r.request(), t0 + i / 1000);
    ASSERT_EQ(result.status, 200);
  }
  ASSERT_EQ(table->size(), n);
  const size_t rss_after = rss_bytes();
  const double accounted = static_cast<double>(table->memory_bytes()) / n;
  const double rss = static_cast<double>(rss_after - rss_before) / n;
  std::printf(
      "location: %u bindings (48-byte URI, 45-byte instance): memory_bytes()/n = %.1f B, RSS delta/n = %.1f B\n", n,
      accounted, rss);
  EXPECT_LE(accounted, 200.0);
#if !defined(PARKD_SANITIZE)
  EXPECT_LE(rss, 300.0);  // ASan's shadow memory and quarantine make RSS meaningless there
#endif
  // Expiring everything gives the records and blobs back to the free lists.
  wheel.advance(t0 + 4000 * 1000);
  EXPECT_EQ(table->size(), 0u);
}

}  // namespace
}  // namespace parkd::tenancy

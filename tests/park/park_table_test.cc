// The park table (park/park_table.h): order per extension, every limit with its own error, ids, claims (racing
// retrievers), departed calls reported once, versions, keys that survive a tenants-file reload, capacity reuse,
// and no allocation after construction.
#include "park/park_table.h"

#include <gtest/gtest.h>

#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "park/internal/siphash.h"
#include "park/internal/slot_index.h"
#include "support/allocation_counter.h"
#include "tenancy/tenants_file.h"

namespace parkd::park {
namespace {

constexpr std::string_view acme = "acme.example.com";
constexpr std::string_view globex = "globex.example.com";

ParkRequest request(std::string_view domain, std::string_view extension, uint64_t handle = 0,
                    std::string_view parked_display = "Bob") {
  ParkRequest q;
  q.domain = domain;
  q.extension = extension;
  q.parked = {parked_display, "sip:102@acme.example.com"};
  q.parker = {"Alice", "sip:101@acme.example.com"};
  q.parker_extension = "101";
  q.call_id = "a84b4c76e66710@pc33";
  q.local_tag = "parkd-1";
  q.remote_tag = "1928301774";
  q.parked_at_unix_s = 1'795'000'000 + static_cast<int64_t>(handle);
  q.recall_at_ms = 45'000;
  q.max_park_at_ms = 600'000;
  q.handle = handle;
  return q;
}

ParkTableConfig config(uint32_t capacity, uint64_t seed = 1000) {
  ParkTableConfig c;
  c.capacity = capacity;
  c.version_seed = seed;
  c.id_key = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  return c;
}

constexpr ParkLimits roomy{100, 0};

std::vector<uint64_t> handles(const ParkTable& table, std::string_view domain, std::string_view number) {
  std::vector<uint64_t> out;
  const auto e = table.find_extension(domain, number);
  if (!e) return out;
  for (const ParkedCallView c : *e) out.push_back(c.handle());
  return out;
}

CallRef park_ok(ParkTable& table, const ParkRequest& q, const ParkLimits& limits = roomy) {
  auto r = table.park(q, limits);
  EXPECT_TRUE(r.ok()) << park_error_text(r.error());
  return r.ok() ? *r : CallRef{};
}

// Reports every changed extension, as the service does after building the bodies.
void report_all(ParkTable& table) {
  while (const auto e = table.next_changed()) table.reported(*e);
}

TEST(SipHash, PaperTestVector) {
  // SipHash-2-4, key 00 01 .. 0f, message 00 01 .. 0e (the paper's appendix A): a129ca6149be45e5.
  std::string message;
  for (char c = 0; c < 15; ++c) message.push_back(c);
  EXPECT_EQ(internal::siphash24(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, message), 0xa129ca6149be45e5ULL);
}

TEST(SlotIndex, EraseKeepsEveryOtherEntryFindable) {
  // Keys hash into a small range so that probe runs overlap and wrap round the end of the cells: backward-shift
  // deletion must keep every remaining entry reachable from its home cell.
  internal::SlotIndex index(8);  // 16 cells
  std::vector<uint64_t> hash_of(8);
  for (uint32_t slot = 0; slot < 8; ++slot) {
    hash_of[slot] = 13 + slot % 5;  // homes 13, 14, 15, 0, 1 (hash & 15)
    index.insert(hash_of[slot], slot);
  }
  std::set<uint32_t> erased;
  for (const uint32_t gone : {2U, 0U, 5U, 7U, 3U}) {
    index.erase(hash_of[gone], gone);
    erased.insert(gone);
    for (uint32_t slot = 0; slot < 8; ++slot) {
      const uint32_t found = index.find(hash_of[slot], [&](uint32_t s) { return s == slot; });
      EXPECT_EQ(found, erased.count(slot) ? internal::SlotIndex::none : slot) << "slot " << slot << " after " << gone;
    }
  }
  EXPECT_EQ(index.size(), 3U);
}

TEST(ParkTable, CallsAreKeptOldestFirstPerExtension) {
  ParkTable table(config(16));
  park_ok(table, request(acme, "103", 1));
  park_ok(table, request(acme, "104", 2));
  park_ok(table, request(acme, "103", 3));
  park_ok(table, request(acme, "103", 4));
  EXPECT_EQ(handles(table, acme, "103"), (std::vector<uint64_t>{1, 3, 4}));
  EXPECT_EQ(handles(table, acme, "104"), (std::vector<uint64_t>{2}));
  const auto oldest = table.oldest(acme, "103");
  ASSERT_TRUE(oldest);
  EXPECT_EQ(table.get(*oldest)->handle(), 1U);
  EXPECT_EQ(table.find_extension(acme, "103")->live_count(), 3U);
  EXPECT_EQ(table.live_count(), 4U);
  EXPECT_EQ(table.tenant_live_count(acme), 4U);
  EXPECT_FALSE(table.oldest(acme, "105"));
  EXPECT_FALSE(table.oldest(globex, "103"));
}

TEST(ParkTable, TheRecordKeepsEveryText) {
  ParkTable table(config(4));
  ParkRequest q = request(acme, "103", 7, "Bob & \"Co\"");
  q.recall_at_ms = 1234;
  q.max_park_at_ms = 5678;
  const CallRef ref = park_ok(table, q);
  const auto c = table.get(ref);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->state(), ParkState::parked);
  EXPECT_FALSE(c->claimed());
  EXPECT_EQ(c->domain(), acme);
  EXPECT_EQ(c->extension(), "103");
  EXPECT_EQ(c->parked_display(), "Bob & \"Co\"");
  EXPECT_EQ(c->parked_uri(), "sip:102@acme.example.com");
  EXPECT_EQ(c->parker_display(), "Alice");
  EXPECT_EQ(c->parker_uri(), "sip:101@acme.example.com");
  EXPECT_EQ(c->parker_extension(), "101");
  EXPECT_EQ(c->call_id(), "a84b4c76e66710@pc33");
  EXPECT_EQ(c->local_tag(), "parkd-1");
  EXPECT_EQ(c->remote_tag(), "1928301774");
  EXPECT_EQ(c->parked_at_unix_s(), 1'795'000'007);
  EXPECT_EQ(c->recall_at_ms(), 1234U);
  EXPECT_EQ(c->max_park_at_ms(), 5678U);
  EXPECT_EQ(c->handle(), 7U);
  EXPECT_EQ(c->recall_count(), 0U);
  EXPECT_TRUE(c->retriever_display().empty());
  EXPECT_EQ(c->id().view().size(), park_id_length);
}

TEST(ParkTable, EachLimitHasItsOwnError) {
  ParkTable table(config(5));
  const ParkLimits limits{2, 4};
  park_ok(table, request(acme, "103", 1), limits);
  park_ok(table, request(acme, "103", 2), limits);
  auto r = table.park(request(acme, "103", 3), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ParkError::extension_full);
  // The same tenant's other extension still has room, up to the tenant's ceiling.
  park_ok(table, request(acme, "104", 4), limits);
  park_ok(table, request(acme, "105", 5), limits);
  r = table.park(request(acme, "106", 6), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ParkError::tenant_full);
  // The tenant ceiling counts per domain, whatever its spelling.
  r = table.park(request("ACME.example.com", "106", 6), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ParkError::tenant_full);
  // Another tenant is not held back by acme's ceiling, only by the table's capacity (5).
  park_ok(table, request(globex, "103", 7), limits);
  r = table.park(request(globex, "104", 8), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ParkError::node_full);
  // A per-extension limit of 0 parks nothing.
  ParkTable other(config(5));
  r = other.park(request(acme, "103"), ParkLimits{0, 0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ParkError::extension_full);
  EXPECT_EQ(table.live_count(), 5U);
}

TEST(ParkTable, DepartedCallsHoldRecordsUntilReported) {
  // Capacity 2: 4 records. Departed calls stop counting against the limits at once but keep their records.
  ParkTable table(config(2));
  for (uint64_t h = 1; h <= 4; ++h) {
    const CallRef ref = park_ok(table, request(acme, "103", h));
    EXPECT_TRUE(table.finish(ref, ParkState::abandoned));
  }
  EXPECT_EQ(table.live_count(), 0U);
  EXPECT_EQ(table.records_in_use(), 4U);
  auto r = table.park(request(acme, "103", 5), roomy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ParkError::no_free_record);
  report_all(table);
  EXPECT_EQ(table.records_in_use(), 0U);
  park_ok(table, request(acme, "103", 5));
}

TEST(ParkTable, TextThatDoesNotFitIsRefused) {
  ParkTable table(config(4));
  const std::string long_name(park_text_bytes, 'x');
  auto r = table.park(request(acme, "103", 1, long_name), roomy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ParkError::text_too_long);
  // The bound is exact: the request's texts may use everything but the retriever's reserve.
  const ParkRequest base = request(acme, "103", 1, "");
  const size_t used = base.parked.uri.size() + base.parker.display_name.size() + base.parker.uri.size() +
                      base.parker_extension.size() + base.call_id.size() + base.local_tag.size() +
                      base.remote_tag.size();
  const std::string fits(park_text_bytes - retriever_text_reserve - used, 'y');
  const CallRef ref = park_ok(table, request(acme, "103", 2, fits));
  EXPECT_EQ(table.get(ref)->parked_display(), fits);
  r = table.park(request(acme, "103", 3, fits + "z"), roomy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ParkError::text_too_long);
  // A retriever with the longest name and number the tenants file allows still fits.
  const std::string name(tenancy::display_name_length_max + 10, 'n');
  const std::string number(tenancy::extension_number_length_max, '9');
  ASSERT_TRUE(table.finish(ref, ParkState::retrieved, name, number));
  EXPECT_EQ(table.get(ref)->retriever_display(), name.substr(0, tenancy::display_name_length_max));
  EXPECT_EQ(table.get(ref)->retriever_extension(), number);
  EXPECT_EQ(table.get(ref)->parked_display(), fits);
  // Keys over the tenants file's limits.
  r = table.park(request(std::string(tenancy::domain_length_max + 1, 'd'), "103"), roomy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ParkError::text_too_long);
  r = table.park(request(acme, std::string(tenancy::extension_number_length_max + 1, '1')), roomy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ParkError::text_too_long);
}

TEST(ParkTable, IdsAreUniqueWellFormedAndKeyed) {
  constexpr uint32_t n = 20000;
  ParkTable table(config(n));
  std::set<std::string> ids;
  std::vector<std::string> first_ids;
  for (uint32_t i = 0; i < n; ++i) {
    const std::string number = std::to_string(100 + i % 500);
    const CallRef ref = park_ok(table, request(i % 2 ? acme : globex, number, i));
    const auto c = table.get(ref);
    ParkId parsed;
    ASSERT_TRUE(ParkId::parse(c->id().view(), parsed)) << c->id().view();
    EXPECT_EQ(parsed, c->id());
    ids.emplace(c->id().view());
    if (i < 8) first_ids.emplace_back(c->id().view());
    // Found by id at its own extension only.
    EXPECT_EQ(table.find(c->domain(), number, c->id()), ref);
    EXPECT_FALSE(table.find(c->domain(), "99999", c->id()));
  }
  EXPECT_EQ(ids.size(), n);
  // The same key gives the same ids (a test can rely on it); another key gives others: ids carry no order.
  ParkTable same(config(8));
  ParkTableConfig other_config = config(8);
  other_config.id_key = {1, 2};
  ParkTable other(other_config);
  ParkTable random_key(ParkTableConfig{8, 1000, {}});
  for (uint32_t i = 0; i < 8; ++i) {
    EXPECT_EQ(same.get(park_ok(same, request(acme, "103", i)))->id().view(), first_ids[i]);
    EXPECT_NE(other.get(park_ok(other, request(acme, "103", i)))->id().view(), first_ids[i]);
    EXPECT_NE(random_key.get(park_ok(random_key, request(acme, "104", i)))->id().view(), first_ids[i]);
  }
}

TEST(ParkTable, RacingRetrieversExactlyOneWins) {
  ParkTable table(config(8));
  const CallRef a = park_ok(table, request(acme, "103", 1));
  const CallRef b = park_ok(table, request(acme, "103", 2));
  const ParkId id_a = table.get(a)->id();

  // Two retrievers with ;park-id= for the same call.
  auto first = table.claim(acme, "103", &id_a);
  auto second = table.claim(acme, "103", &id_a);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, a);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error(), ClaimError::already_claimed);
  EXPECT_TRUE(table.get(a)->claimed());

  // Oldest-first retrievers skip the claimed call, then find nothing.
  auto third = table.claim(acme, "103");
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, b);
  auto fourth = table.claim(acme, "103");
  ASSERT_FALSE(fourth.ok());
  EXPECT_EQ(fourth.error(), ClaimError::nothing_parked);
  EXPECT_FALSE(table.claim(b).ok());

  // A failed retrieve gives the call back; nothing visible changed, so no new version.
  const uint64_t version = table.find_extension(acme, "103")->version();
  EXPECT_TRUE(table.release(b));
  EXPECT_FALSE(table.release(b));
  EXPECT_EQ(table.find_extension(acme, "103")->version(), version);
  EXPECT_EQ(*table.claim(acme, "103"), b);

  // The winner finishes; the loser's later claim of the departed call fails too.
  EXPECT_TRUE(table.finish(a, ParkState::retrieved, "Dave", "104"));
  EXPECT_EQ(table.claim(a).error(), ClaimError::already_claimed);
  EXPECT_EQ(table.claim(acme, "103", &id_a).error(), ClaimError::already_claimed);

  // Ids of another extension or tenant, and unknown extensions, are not found.
  const ParkId id_b = table.get(b)->id();
  EXPECT_EQ(table.claim(acme, "104", &id_b).error(), ClaimError::no_such_call);
  EXPECT_EQ(table.claim(globex, "103", &id_b).error(), ClaimError::no_such_call);
  EXPECT_EQ(table.claim(globex, "103").error(), ClaimError::nothing_parked);
}

TEST(ParkTable, ADepartedCallIsReportedOnceThenGone) {
  ParkTable table(config(8));
  const CallRef a = park_ok(table, request(acme, "103", 1));
  const CallRef b = park_ok(table, request(acme, "103", 2));
  report_all(table);
  EXPECT_FALSE(table.next_changed());

  ASSERT_TRUE(table.finish(a, ParkState::abandoned));
  EXPECT_FALSE(table.finish(a, ParkState::expired));  // once
  EXPECT_FALSE(table.finish(b, ParkState::parked));   // not a final state
  EXPECT_EQ(table.live_count(), 1U);
  EXPECT_EQ(table.tenant_live_count(acme), 1U);
  // The next body shows the live call and, after it, the departed one in its final state.
  const auto changed = table.next_changed();
  ASSERT_TRUE(changed);
  const auto ext = table.extension(*changed);
  ASSERT_TRUE(ext);
  EXPECT_EQ(ext->extension(), "103");
  EXPECT_EQ(ext->live_count(), 1U);
  EXPECT_EQ(ext->departed_count(), 1U);
  std::vector<std::pair<uint64_t, ParkState>> seen;
  for (const ParkedCallView c : *ext) seen.emplace_back(c.handle(), c.state());
  EXPECT_EQ(seen, (std::vector<std::pair<uint64_t, ParkState>>{{2, ParkState::parked}, {1, ParkState::abandoned}}));

  table.reported(*changed);
  EXPECT_FALSE(table.next_changed());
  EXPECT_FALSE(table.get(a));  // the reference went stale with its record
  EXPECT_EQ(handles(table, acme, "103"), (std::vector<uint64_t>{2}));

  // The last call leaves: reported once, then the extension itself is gone.
  ASSERT_TRUE(table.finish(b, ParkState::expired));
  const ExtensionRef ref = *table.next_changed();
  EXPECT_EQ(handles(table, acme, "103"), (std::vector<uint64_t>{2}));
  table.reported(ref);
  EXPECT_FALSE(table.find_extension(acme, "103"));
  EXPECT_FALSE(table.extension(ref));
  EXPECT_EQ(table.records_in_use(), 0U);
  EXPECT_EQ(table.tenant_live_count(acme), 0U);
  table.reported(ref);  // a stale reference is ignored
}

TEST(ParkTable, AWithdrawnParkLeavesNoTrace) {
  ParkTable table(config(8));
  // Alone at its extension: the extension is forgotten and nothing is left to report.
  const CallRef a = park_ok(table, request(acme, "103", 1));
  EXPECT_TRUE(table.withdraw(a));
  EXPECT_FALSE(table.withdraw(a));
  EXPECT_FALSE(table.get(a));
  EXPECT_FALSE(table.find_extension(acme, "103"));
  EXPECT_FALSE(table.next_changed());
  EXPECT_EQ(table.live_count(), 0U);
  EXPECT_EQ(table.records_in_use(), 0U);
  EXPECT_EQ(table.tenant_live_count(acme), 0U);
  // Beside a departed call not yet reported: that one is still reported.
  const CallRef b = park_ok(table, request(acme, "103", 2));
  const CallRef c = park_ok(table, request(acme, "103", 3));
  ASSERT_TRUE(table.finish(b, ParkState::abandoned));
  EXPECT_TRUE(table.withdraw(c));
  const auto changed = table.next_changed();
  ASSERT_TRUE(changed);
  EXPECT_EQ(handles(table, acme, "103"), (std::vector<uint64_t>{2}));
  table.reported(*changed);
  EXPECT_FALSE(table.find_extension(acme, "103"));
  EXPECT_EQ(table.records_in_use(), 0U);
  // A departed call cannot be withdrawn.
  const CallRef d = park_ok(table, request(acme, "104", 4));
  ASSERT_TRUE(table.finish(d, ParkState::expired));
  EXPECT_FALSE(table.withdraw(d));
}

TEST(ParkTable, ChangedExtensionsAreListedInOrderOfFirstChange) {
  ParkTable table(config(8));
  const CallRef a = park_ok(table, request(acme, "103", 1));
  park_ok(table, request(globex, "103", 2));
  park_ok(table, request(acme, "104", 3));
  EXPECT_TRUE(table.start_recall(a));  // 103 changes again: stays first
  std::vector<std::string> order;
  while (const auto e = table.next_changed()) {
    order.push_back(std::string(table.extension(*e)->domain()) + "/" + std::string(table.extension(*e)->extension()));
    table.reported(*e);
  }
  EXPECT_EQ(order,
            (std::vector<std::string>{"acme.example.com/103", "globex.example.com/103", "acme.example.com/104"}));
}

TEST(ParkTable, RecallStates) {
  ParkTable table(config(8));
  const CallRef a = park_ok(table, request(acme, "103", 1));
  EXPECT_FALSE(table.return_to_park(a, 1));
  EXPECT_TRUE(table.start_recall(a));
  EXPECT_FALSE(table.start_recall(a));
  EXPECT_EQ(table.get(a)->state(), ParkState::recalling);
  EXPECT_EQ(table.get(a)->recall_count(), 1U);
  // The table lets a recalling call be claimed; the service claims it itself for the recall (docs/DECISIONS.md).
  EXPECT_EQ(*table.oldest(acme, "103"), a);
  EXPECT_TRUE(table.return_to_park(a, 90'000));
  EXPECT_EQ(table.get(a)->state(), ParkState::parked);
  EXPECT_EQ(table.get(a)->recall_at_ms(), 90'000U);
  EXPECT_TRUE(table.start_recall(a));
  EXPECT_EQ(table.get(a)->recall_count(), 2U);
  // The parker answers: the recall claims the call, then it leaves as recalled.
  ASSERT_TRUE(table.claim(a).ok());
  EXPECT_TRUE(table.finish(a, ParkState::recalled));
  EXPECT_EQ(table.get(a)->state(), ParkState::recalled);
  EXPECT_FALSE(table.get(a)->claimed());
  EXPECT_FALSE(table.start_recall(a));
  EXPECT_FALSE(table.return_to_park(a, 1));
  EXPECT_FALSE(table.release(a));
}

TEST(ParkTable, APostponedRecallChangesNothingThePhonesSee) {
  ParkTable table(config(8));
  const CallRef a = park_ok(table, request(acme, "103", 1));
  report_all(table);
  const uint64_t version = table.find_extension(acme, "103")->version();
  EXPECT_TRUE(table.postpone_recall(a, 120'000));
  EXPECT_EQ(table.get(a)->recall_at_ms(), 120'000U);
  EXPECT_EQ(table.get(a)->state(), ParkState::parked);
  EXPECT_EQ(table.get(a)->recall_count(), 0U);
  EXPECT_EQ(table.find_extension(acme, "103")->version(), version);
  EXPECT_FALSE(table.next_changed().has_value());  // no park-info owed
  ASSERT_TRUE(table.start_recall(a));
  EXPECT_FALSE(table.postpone_recall(a, 1));  // only a parked call
  ASSERT_TRUE(table.finish(a, ParkState::expired));
  EXPECT_FALSE(table.postpone_recall(a, 1));
}

TEST(ParkTable, VersionsOnlyGrowForAnExtension) {
  ParkTable table(config(8, 5'000));
  std::vector<uint64_t> versions;
  auto version = [&] { return table.find_extension(acme, "103")->version(); };
  const CallRef a = park_ok(table, request(acme, "103", 1));
  versions.push_back(version());
  park_ok(table, request(globex, "103", 9));  // other extensions share the counter, never lower a version
  const CallRef b = park_ok(table, request(acme, "103", 2));
  versions.push_back(version());
  table.start_recall(a);
  versions.push_back(version());
  table.return_to_park(a, 1);
  versions.push_back(version());
  table.finish(a, ParkState::retrieved, "Dave", "104");
  versions.push_back(version());
  report_all(table);
  EXPECT_EQ(version(), versions.back());  // a report is not a change
  table.finish(b, ParkState::abandoned);
  versions.push_back(version());
  report_all(table);
  ASSERT_FALSE(table.find_extension(acme, "103"));
  // The extension disappeared; when a call is parked there again its version is still higher.
  park_ok(table, request(acme, "103", 3));
  versions.push_back(version());
  for (size_t i = 1; i < versions.size(); ++i) EXPECT_GT(versions[i], versions[i - 1]) << i;
  EXPECT_GT(versions.front(), 5'000U);
}

TEST(ParkTable, VersionsStartAtTheWallClockInMicroseconds) {
  // So that versions also grow across a restart (docs: fewer than a million changes a second).
  auto now_us = [] {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000U + static_cast<uint64_t>(ts.tv_nsec) / 1000U;
  };
  const uint64_t before = now_us();
  ParkTable table(ParkTableConfig{4, 0, {}});
  const uint64_t after = now_us();
  park_ok(table, request(acme, "103"));
  const uint64_t v = table.find_extension(acme, "103")->version();
  EXPECT_GT(v, before);
  EXPECT_LE(v, after + 1);
  EXPECT_LT(v, uint64_t{1} << 53);
}

TEST(ParkTable, KeysSurviveATenantsReload) {
  // The configuration is used only to look up the domain; the table keeps text. A reload reorders the tenants
  // (acme becomes index 1 and its extensions move) and is spelled with other case: the call is still found.
  const auto first = tenancy::parse_tenants(R"({"tenants":[
      {"name":"acme","domain":"acme.example.com","extensions":[{"number":"103","password":"x"}]},
      {"name":"globex","domain":"globex.example.com","extensions":[{"number":"103","password":"x"}]}]})",
                                            "a.json");
  ASSERT_TRUE(first.ok());
  ParkTable table(config(8));
  {
    const auto tenant = (*first)->find_tenant("acme.example.com");
    park_ok(table, request(tenant->domain(), tenant->find_extension("103")->number(), 1));
  }
  const auto second = tenancy::parse_tenants(R"({"tenants":[
      {"name":"globex","domain":"globex.example.com","extensions":[{"number":"103","password":"x"}]},
      {"name":"acme","domain":"ACME.Example.com","extensions":[{"number":"999","password":"x"},
                                                              {"number":"103","password":"x"}]}]})",
                                             "b.json");
  ASSERT_TRUE(second.ok());
  const auto tenant = (*second)->find_tenant("acme.example.com");
  ASSERT_NE(tenant->index(), (*first)->find_tenant("acme.example.com")->index());
  const auto ext = table.find_extension(tenant->domain(), "103");
  ASSERT_TRUE(ext);
  EXPECT_EQ(ext->domain(), "acme.example.com");  // the spelling it was parked under
  EXPECT_EQ(handles(table, tenant->domain(), "103"), (std::vector<uint64_t>{1}));
  EXPECT_FALSE(table.find_extension((*second)->find_tenant("globex.example.com")->domain(), "103"));
}

TEST(ParkTable, SameNumberInTwoTenantsIsTwoExtensions) {
  ParkTable table(config(8));
  park_ok(table, request(acme, "103", 1));
  park_ok(table, request(globex, "103", 2));
  EXPECT_EQ(handles(table, acme, "103"), (std::vector<uint64_t>{1}));
  EXPECT_EQ(handles(table, globex, "103"), (std::vector<uint64_t>{2}));
  EXPECT_EQ(table.get(*table.claim(globex, "103"))->handle(), 2U);
  EXPECT_FALSE(table.get(*table.oldest(acme, "103"))->claimed());
}

TEST(ParkTable, CapacityIsReusedAfterFree) {
  ParkTable table(config(3));
  std::vector<CallRef> refs;
  for (uint64_t h = 0; h < 3; ++h) refs.push_back(park_ok(table, request(acme, std::to_string(200 + h), h)));
  EXPECT_EQ(table.park(request(acme, "300"), roomy).error(), ParkError::node_full);
  ASSERT_TRUE(table.finish(refs[1], ParkState::retrieved));
  report_all(table);
  const CallRef again = park_ok(table, request(acme, "300", 9));
  EXPECT_EQ(again.index, refs[1].index);  // the freed record, with a new generation
  EXPECT_NE(again.generation, refs[1].generation);
  EXPECT_FALSE(table.get(refs[1]));
  EXPECT_EQ(table.claim(refs[1]).error(), ClaimError::no_such_call);
  EXPECT_EQ(table.get(again)->handle(), 9U);
  EXPECT_TRUE(table.set_handle(again, 10));
  EXPECT_EQ(table.get(again)->handle(), 10U);
  EXPECT_FALSE(table.set_handle(refs[1], 11));
  size_t live = 0;
  table.for_each_live([&](ParkedCallView) { ++live; });
  EXPECT_EQ(live, 3U);

  // Many rounds through a small table: the indexes never fill up with leftovers.
  ParkTable small(config(2));
  for (uint64_t round = 0; round < 10'000; ++round) {
    const CallRef ref = park_ok(small, request(round % 3 ? acme : globex, std::to_string(round % 7), round));
    ASSERT_TRUE(small.finish(ref, ParkState::abandoned));
    report_all(small);
  }
  EXPECT_EQ(small.records_in_use(), 0U);
  EXPECT_EQ(small.live_count(), 0U);
}

TEST(ParkTable, NothingIsAllocatedAfterConstruction) {
  ParkTable table(config(64));
  const ParkLimits limits{4, 32};
  const uint64_t before = test::allocation_count();
  uint64_t checks = 0;
  for (uint64_t round = 0; round < 200; ++round) {
    CallRef refs[8];
    for (uint64_t i = 0; i < 8; ++i) {
      char number[4] = {'1', '0', static_cast<char>('0' + i % 4), 0};
      refs[i] = park_ok(table, request(i % 2 ? acme : globex, number, round * 8 + i), limits);
    }
    const ParkId id = table.get(refs[5])->id();
    checks += table.claim(acme, "101", &id).ok();
    checks += table.claim(globex, "100").ok();
    checks += table.start_recall(refs[2]);
    checks += table.return_to_park(refs[2], round);
    for (uint64_t i = 0; i < 8; ++i)
      checks += table.finish(refs[i], i % 2 ? ParkState::retrieved : ParkState::expired, "Dave", "104");
    while (const auto e = table.next_changed()) {
      const auto ext = table.extension(*e);  // not `: *table.extension(...)`: the optional would be gone
      for (const ParkedCallView c : *ext) checks += c.handle() != UINT64_MAX;
      table.reported(*e);
    }
  }
  EXPECT_EQ(test::allocation_count(), before);
  EXPECT_EQ(checks, 200U * (4 + 8 + 8));
}

TEST(ParkTable, MemoryIsBoundedByCapacity) {
  ParkTable table(config(1024));
  const size_t bytes = table.memory_bytes();
  // Two records per unit of capacity, each with its text; printed for docs/limits.md.
  EXPECT_GT(bytes, 2 * 1024 * park_text_bytes);
  EXPECT_LT(bytes, 2 * 1024 * (park_text_bytes + 1024));
  std::printf("park table: capacity 1024, %zu bytes (%zu per unit of capacity)\n", bytes, bytes / 1024);
}

}  // namespace
}  // namespace parkd::park

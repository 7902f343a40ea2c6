#include "tenancy/routing.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "tenancy/tenants_file.h"

namespace parkd::tenancy {
namespace {

TEST(Routing, OwnerIgnoresCaseAndIsStable) {
  for (unsigned shards : {1u, 2u, 3u, 8u, 256u}) {
    unsigned owner = owner_shard("acme.example.com", shards);
    EXPECT_LT(owner, shards);
    EXPECT_EQ(owner_shard("ACME.Example.COM", shards), owner);
  }
  EXPECT_EQ(owner_shard("anything", 1), 0u);
  std::string long_domain(1000, 'a');
  EXPECT_EQ(owner_shard(long_domain, 7), owner_shard(std::string(1000, 'A'), 7));
}

TEST(Routing, TenantsSpreadOverShards) {
  std::vector<int> per_shard(4);
  for (int i = 0; i < 10000; ++i) ++per_shard[owner_shard("tenant" + std::to_string(i) + ".example.com", 4)];
  for (int count : per_shard) {
    EXPECT_GT(count, 2300);  // 2500 expected; xxh3 spreads evenly
    EXPECT_LT(count, 2700);
  }
}

TEST(ConfigMailbox, NewestWinsAndNothingLeaks) {
  auto a = parse_tenants(demo_tenants_json(), "demo");
  auto b = parse_tenants(demo_tenants_json(), "demo");
  ASSERT_TRUE(a.ok() && b.ok());
  ConfigMailbox box;
  EXPECT_EQ(box.take(), nullptr);
  box.publish(*a);
  box.publish(*b);
  EXPECT_EQ(box.take().get(), b->get()) << "a configuration published before the take is replaced";
  EXPECT_EQ(box.take(), nullptr);
  EXPECT_EQ(a->use_count(), 1) << "the replaced one was released";
}

TEST(ConfigMailbox, PublishFromAnotherThreadWhileTaking) {
  auto config = parse_tenants(demo_tenants_json(), "demo");
  ASSERT_TRUE(config.ok());
  ConfigMailbox box;
  constexpr int rounds = 20000;
  std::thread publisher([&] {
    for (int i = 0; i < rounds; ++i) box.publish(*config);
  });
  int taken = 0;
  while (taken == 0 || publisher.joinable()) {
    if (box.take() != nullptr) ++taken;
    if (taken > 0 && publisher.joinable()) {
      publisher.join();
      if (box.take() != nullptr) ++taken;
    }
  }
  EXPECT_GE(taken, 1);
  EXPECT_EQ(config->use_count(), 1) << "every published copy was released";
}

}  // namespace
}  // namespace parkd::tenancy

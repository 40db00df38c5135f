// Hot-bucket sharding without any Lambda: the hidden `wcu` limit refills
// with the bucket, the shard count doubles only when more than 1000 writes/s
// hit one shard, and the client creates missing shards itself (format.md
// §6.5 shape). Sharding is forced on so every store runs it.
#include <gtest/gtest.h>

#include "limiter/keys.h"
#include "limiter/limiter_test_util.h"

namespace zae::testing {
namespace {

class Sharding : public LimiterTest {
 protected:
  void SetUp() override {
    LimiterTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (GetParam().name == "dynamodb")
      GTEST_SKIP() << "thousands of writes; covered on memory/SQLite";
    limiter_ = Open({.sharding = true});
    limiter().SetResourceDefaults("res", {Limit::PerSecond("rps", 1'000'000)});
  }
  std::optional<Item> Shard(int n) {
    return store_->Get(keys::Bucket(limiter().namespace_id(), "hot", "res", n), true);
  }
  int64_t Admit(int count, int64_t step_ms) {
    int64_t admitted = 0;
    for (int i = 0; i < count; ++i) {
      auto r = limiter().Acquire("hot", "res", {{"rps", 1}});
      if (r) {
        ++admitted;
        r.lease().Commit();
      }
      clock_.Advance(step_ms);
    }
    return admitted;
  }
};

TEST_P(Sharding, SteadyLowRateNeverDoubles) {
  EXPECT_EQ(Admit(2500, 10), 2500);  // 100 writes/s for 25 s
  EXPECT_EQ(Shard(0)->at("shard_count"), Value(1));
  EXPECT_FALSE(Shard(1));
}

TEST_P(Sharding, BurstAboveOneShardDoublesAndSpreads) {
  EXPECT_EQ(Admit(1600, 0), 1600);  // all in one millisecond
  const int64_t n = Shard(0)->at("shard_count").as_number();
  EXPECT_GE(n, 2);
  auto shard1 = Shard(1);
  ASSERT_TRUE(shard1);
  // Cloned from shard 0 as the reference's aggregator does.
  EXPECT_EQ(shard1->at("GSI2SK"), Value("BUCKET#hot#1"));
  EXPECT_EQ(shard1->at("GSI3SK"), Value("BUCKET#res#1"));
  EXPECT_EQ(shard1->at("GSI4SK"), Value("BUCKET#hot#res#1"));
  EXPECT_EQ(shard1->at("b_rps_cp"), Value(1'000'000'000));  // stored undivided
  EXPECT_EQ(shard1->at("b_wcu_cp"), Value(1'000'000));
  // Every admitted request is counted once, on some shard.
  int64_t tc = 0;
  for (int i = 0; i < n; ++i) {
    if (auto s = Shard(i)) tc += s->at("b_rps_tc").as_number();
  }
  EXPECT_EQ(tc, 1600 * 1000);
}

TEST_P(Sharding, ShardsShareTheCapacity) {
  limiter().SetResourceDefaults("res", {Limit::PerHour("rps", 3000)});
  clock_.Advance(61'000);  // the new config applies
  // A burst: more than one shard's 1000 writes/s, never more than capacity.
  const int64_t admitted = Admit(4000, 0);
  EXPECT_LE(admitted, 3000);
  EXPECT_GE(admitted, 2000);  // shard-local exhaustion may deny a few early
  EXPECT_GE(Shard(0)->at("shard_count").as_number(), 2);
}

INSTANTIATE_TEST_SUITE_P(Stores, Sharding, ::testing::ValuesIn(StoreFactories()), FactoryName);

}  // namespace
}  // namespace zae::testing

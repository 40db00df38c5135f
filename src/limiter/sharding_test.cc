// Hot-bucket sharding without any Lambda: the hidden `wcu` limit refills
// with the bucket, the shard count doubles only when more than 1000 writes/s
// hit one shard, and the client creates missing shards itself (format.md
// §6.5 shape). Sharding is forced on so every store runs it; DynamoDB, where
// it is on by default, included. Shards are picked by a PRNG seeded from
// TestSeed() (ZAE_TEST_SEED reproduces a run).
#include <gtest/gtest.h>

#include <mutex>
#include <random>

#include "limiter/keys.h"
#include "limiter/limiter_test_util.h"

namespace zae::testing {
namespace {

class Sharding : public LimiterTest {
 protected:
  void SetUp() override {
    LimiterTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    rng_.seed(TestSeed());
    limiter_ = Open({.sharding = true, .random = [this]() -> uint64_t {
                       std::lock_guard lock(rng_mu_);
                       return rng_();
                     }});
    limiter().SetResourceDefaults("res", {Limit::PerSecond("rps", 1'000'000)});
  }
  // DynamoDB Local takes ~50 ms a write under a parallel test run: the
  // workloads there are the smallest that still show each property.
  bool OnDynamo() const { return GetParam().name == "dynamodb"; }
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
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

TEST_P(Sharding, SteadyLowRateNeverDoubles) {
  const int n = OnDynamo() ? 600 : 2500;  // 100 writes/s for 6 s or 25 s
  EXPECT_EQ(Admit(n, 10), n);
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
  const int64_t capacity = OnDynamo() ? 1200 : 3000;
  limiter().SetResourceDefaults("res", {Limit::PerHour("rps", capacity)});
  clock_.Advance(61'000);  // the new config applies
  // A burst: more than one shard's 1000 writes/s, never more than capacity.
  const int64_t admitted = Admit(static_cast<int>(capacity * 4 / 3), 0);
  EXPECT_LE(admitted, capacity);
  EXPECT_GE(admitted, capacity * 2 / 3);  // shard-local exhaustion may deny a few early
  const int64_t n = Shard(0)->at("shard_count").as_number();
  EXPECT_GE(n, 2);
  // Exactly the admitted requests are counted, each once, on some shard;
  // and no shard holds more than its share of what is left.
  int64_t tc = 0;
  for (int i = 0; i < n; ++i) {
    if (auto s = Shard(i)) tc += s->at("b_rps_tc").as_number();
  }
  EXPECT_EQ(tc, admitted * 1000);
}

INSTANTIATE_TEST_SUITE_P(Stores, Sharding, ::testing::ValuesIn(StoreFactories()), FactoryName);

}  // namespace
}  // namespace zae::testing

// The exact store calls each acquire scenario of runtime.md §7 makes, on
// every store (the limiter issues the same calls whatever the backend).
// docs/request-counts.md puts these next to the reference's numbers.
#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <stdexcept>

#include "limiter/bucket_plan.h"
#include "limiter/keys.h"
#include "limiter/limiter_test_util.h"

namespace zae::testing {
namespace {

using Calls = std::map<std::string, int64_t>;

// Forwards to a store, but moves a bucket's `rf` just before the first
// refill write that relies on it: the optimistic lock is lost (S6).
class LockThief final : public Store {
 public:
  explicit LockThief(std::shared_ptr<Store> inner) : inner_(std::move(inner)) {}
  std::string Describe() const override { return inner_->Describe(); }
  Capabilities capabilities() const override { return inner_->capabilities(); }
  void Provision(const ProvisionOptions& o) override { inner_->Provision(o); }
  std::optional<Item> Get(const ItemKey& k, bool c) override { return inner_->Get(k, c); }
  std::vector<std::optional<Item>> BatchGet(const std::vector<ItemKey>& k, bool c) override {
    return inner_->BatchGet(k, c);
  }
  WriteResult Write(const WriteOp& op) override {
    if (const auto* u = std::get_if<Update>(&op); u && armed_) {
      for (const auto& clause : u->condition.clauses) {
        if (clause[0].attr == "rf" && clause[0].op == Predicate::Op::kEq) {
          armed_ = false;
          Update steal;
          steal.key = u->key;
          steal.set = {{"rf", Value(clause[0].operand.as_number() + 1)}};
          inner_->Write(steal);
        }
      }
    }
    return inner_->Write(op);
  }
  std::vector<WriteResult> WriteEach(const std::vector<WriteOp>& ops) override {
    return inner_->WriteEach(ops);
  }
  TransactResult Transact(const std::vector<WriteOp>& ops) override {
    return inner_->Transact(ops);
  }
  void BatchWrite(const std::vector<WriteOp>& ops) override { inner_->BatchWrite(ops); }
  QueryPage Query(const QueryRequest& r) override { return inner_->Query(r); }
  int64_t DeleteExpired(int64_t now) override { return inner_->DeleteExpired(now); }
  StoreStats stats() const override { return inner_->stats(); }
  void ResetStats() override { inner_->ResetStats(); }

  bool armed_ = false;

 private:
  std::shared_ptr<Store> inner_;
};

class RequestCount : public LimiterTest {
 protected:
  void SetUp() override {
    LimiterTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // Count the calls a DynamoDB deployment makes: usage comes from its
    // stream there, not from inline snapshot writes.
    limiter_ = Open();
    limiter().SetResourceDefaults("gpt-4",
                                  {Limit::PerMinute("rpm", 100), Limit::PerMinute("tpm", 10000)});
  }
  // Calls made by `fn`.
  std::unique_ptr<RateLimiter> Open() { return LimiterTest::Open({.usage = UsageTracking::kOff}); }
  template <typename Fn>
  Calls Count(Fn fn) {
    store_->ResetStats();
    fn();
    return store_->stats().calls;
  }
  void Acquire(RateLimiter& l, const std::string& entity, Amounts consume, bool allowed = true) {
    auto r = l.Acquire(entity, "gpt-4", consume);
    ASSERT_EQ(r.allowed(), allowed);
    if (r) r.lease().Commit();
  }
};

TEST_P(RequestCount, S3FirstAcquireEverThenS1Warm) {
  auto cold = Open();
  EXPECT_EQ(Count([&] {
              Acquire(*cold, "k1", {{"rpm", 1}, {"tpm", 10}});
            }),
            (Calls{{"UpdateItem", 1}, {"BatchGetItem", 2}, {"PutItem", 1}}));
  EXPECT_EQ(Count([&] {
              Acquire(*cold, "k1", {{"rpm", 1}, {"tpm", 10}});
            }),
            (Calls{{"UpdateItem", 1}}));
}

TEST_P(RequestCount, S2ColdProcessOnAWarmBucketIsOneWrite) {
  Acquire(limiter(), "k1", {{"rpm", 1}});
  auto fresh = Open();
  EXPECT_EQ(Count([&] { Acquire(*fresh, "k1", {{"rpm", 1}}); }), (Calls{{"UpdateItem", 1}}));
}

// Fallback limits (AcquireOptions::limits, e.g. a server's descriptor
// override) are config: once the slow path verified the bucket with them,
// the next acquire is one write, as with stored limits. Bad fallback limits
// still fail, on a warm bucket too.
TEST_P(RequestCount, FallbackLimitsOnAWarmBucketAreOneWrite) {
  AcquireOptions o;
  o.limits = std::vector<Limit>{Limit::PerMinute("rpm", 5)};
  auto acquire = [&] {
    auto r = limiter().Acquire("k1", "unstored", {{"rpm", 1}}, o);
    ASSERT_TRUE(r.allowed());
    r.lease().Commit();
  };
  acquire();  // the slow path: resolves the fallback, makes the bucket
  EXPECT_EQ(Count(acquire), (Calls{{"UpdateItem", 1}}));
  EXPECT_EQ(limiter().Available("k1", "unstored", o.limits)["rpm"], 3);
  AcquireOptions bad;
  bad.limits = std::vector<Limit>{Limit::PerMinute("rpm", 5)};
  bad.limits->front().capacity = 0;
  EXPECT_THROW(limiter().Acquire("k1", "unstored", {{"rpm", 1}}, bad), ValidationError);
}

TEST_P(RequestCount, S4RefillNeededReadsOnceAndWritesOnce) {
  limiter().SetLimits("k1", {Limit::PerMinute("rpm", 2)}, "gpt-4");
  Acquire(limiter(), "k1", {{"rpm", 2}});
  clock_.Advance(30'000);  // one token back
  // The failed fast write, the bucket read, the refilling write.
  EXPECT_EQ(Count([&] {
              Acquire(limiter(), "k1", {{"rpm", 1}});
            }),
            (Calls{{"UpdateItem", 2}, {"BatchGetItem", 1}}));
}

TEST_P(RequestCount, S6LockLostButTokensLeftIsOneMoreWrite) {
  auto thief = std::make_shared<LockThief>(store_);
  auto l = RateLimiter::Open(thief, {.clock = &clock_,
                                     .speculative_writes = false,
                                     .usage = UsageTracking::kOff,
                                     .timeout = testing::kTestTimeout});
  Acquire(*l, "k1", {{"rpm", 1}});
  thief->armed_ = true;
  EXPECT_EQ(Count([&] {
              Acquire(*l, "k1", {{"rpm", 1}});
            }),
            (Calls{{"BatchGetItem", 1}, {"UpdateItem", 3}}));  // incl. the thief's
  EXPECT_EQ(l->Available("k1", "gpt-4")["rpm"], 98);
}

TEST_P(RequestCount, S13WcuExhaustedDoublesThenRefillsTheSameShard) {
  auto sharded = LimiterTest::Open({.usage = UsageTracking::kOff, .sharding = true});
  limiter().SetResourceDefaults("big", {Limit::PerSecond("rps", 1'000'000'000)});
  auto acquire = [&] {
    auto r = sharded->Acquire("hot", "big", {{"rps", 1}});
    ASSERT_TRUE(r.allowed());
    r.lease().Commit();
  };
  // The create, then 1000 fast writes drain the shard's 1000 wcu tokens
  // within one millisecond: more than 1000 writes/s.
  for (int i = 0; i < 1001; ++i) acquire();
  // Failed fast write, the doubling, then the refill of the same shard.
  EXPECT_EQ(Count(acquire), (Calls{{"UpdateItem", 3}, {"BatchGetItem", 1}}));
  EXPECT_EQ(store_->Get({limiter().namespace_id() + "/BUCKET#hot#big#0", "#STATE"}, true)
                ->at("shard_count"),
            Value(2));
}

TEST_P(RequestCount, S14DrainedShardTriesUpToTwoOtherShards) {
  // The test picks the shards: every random draw is 0 unless queued.
  std::deque<uint64_t> draws;
  std::mutex mu;
  auto sharded = LimiterTest::Open(
      {.usage = UsageTracking::kOff, .sharding = true, .random = [&]() -> uint64_t {
         std::lock_guard lock(mu);
         if (draws.empty()) return 0;
         const uint64_t d = draws.front();
         draws.pop_front();
         return d;
       }});
  Acquire(*sharded, "k1", {{"rpm", 1}});  // creates shard 0
  // Three shards; 0 and 1 are drained, 2 holds the tokens left.
  const std::string ns = limiter().namespace_id();
  auto shard0 = store_->Get(keys::Bucket(ns, "k1", "gpt-4", 0), true);
  ASSERT_TRUE(shard0);
  for (int shard : {1, 2}) {
    store_->Write(plan::CloneShard(
        *shard0, ns, shard, 3,
        shard == 2 ? std::map<std::string, int64_t>{{"rpm", 99'000}, {"tpm", 10'000'000}}
                   : std::map<std::string, int64_t>{}));
  }
  Update drain;
  drain.key = keys::Bucket(ns, "k1", "gpt-4", 0);
  drain.set = {{"shard_count", Value(3)}, {"b_rpm_tk", Value(0)}, {"b_tpm_tk", Value(0)}};
  store_->Write(drain);
  auto tc = [&](int shard) {
    return store_->Get(keys::Bucket(ns, "k1", "gpt-4", shard), true)->at("b_rpm_tc").as_number();
  };

  // Shard 0 (drained, and it says there are 3 shards), then 1 (drained), then 2.
  EXPECT_EQ(Count([&] { Acquire(*sharded, "k1", {{"rpm", 1}}); }), (Calls{{"UpdateItem", 3}}));
  EXPECT_EQ(tc(2), 1000);
  // Now the shard count is known: a draw of 2 goes straight to shard 2.
  draws = {2};
  EXPECT_EQ(Count([&] { Acquire(*sharded, "k1", {{"rpm", 1}}); }), (Calls{{"UpdateItem", 1}}));
  EXPECT_EQ(tc(2), 2000);
  // Shard 1 drained, the first other shard tried is 2: one retry.
  draws = {1};
  EXPECT_EQ(Count([&] { Acquire(*sharded, "k1", {{"rpm", 1}}); }), (Calls{{"UpdateItem", 2}}));
  EXPECT_EQ(tc(2), 3000);
  // Every shard drained: three writes, then a denial without a refill write.
  Update drain2 = drain;
  drain2.key = keys::Bucket(ns, "k1", "gpt-4", 2);
  drain2.set = {{"b_rpm_tk", Value(0)}};
  store_->Write(drain2);
  EXPECT_EQ(Count([&] {
              Acquire(*sharded, "k1", {{"rpm", 1}}, /*allowed=*/false);
            }),
            (Calls{{"UpdateItem", 3}}));
}

TEST_P(RequestCount, S5FastRejectionIsOneCall) {
  limiter().SetLimits("k1", {Limit::PerMinute("rpm", 1)}, "gpt-4");
  Acquire(limiter(), "k1", {{"rpm", 1}});
  EXPECT_EQ(Count([&] {
              Acquire(limiter(), "k1", {{"rpm", 1}}, false);
            }),
            (Calls{{"UpdateItem", 1}}));
}

TEST_P(RequestCount, S7S8CascadeColdIsSequentialWarmIsOneRoundTrip) {
  limiter().CreateEntity("proj", {});
  limiter().CreateEntity("k1", {.parent_id = "proj", .cascade = true});
  Acquire(limiter(), "k1", {{"rpm", 1}});  // creates both buckets
  auto fresh = Open();
  // S7: entity unknown to this process: child, then parent.
  EXPECT_EQ(Count([&] { Acquire(*fresh, "k1", {{"rpm", 1}}); }), (Calls{{"UpdateItem", 2}}));
  // S8: both written together (WriteEach: concurrent on DynamoDB).
  EXPECT_EQ(Count([&] { Acquire(*fresh, "k1", {{"rpm", 1}}); }), (Calls{{"UpdateItem", 2}}));
}

TEST_P(RequestCount, S9CascadeParentExhaustedCompensatesTheChild) {
  limiter().CreateEntity("proj", {});
  limiter().CreateEntity("k1", {.parent_id = "proj", .cascade = true});
  limiter().SetLimits("proj", {Limit::PerMinute("rpm", 1)}, "gpt-4");
  Acquire(limiter(), "k1", {{"rpm", 1}});
  EXPECT_EQ(Count([&] {
              Acquire(limiter(), "k1", {{"rpm", 1}}, false);
            }),
            (Calls{{"UpdateItem", 3}}));
  EXPECT_EQ(limiter().Available("k1", "gpt-4", std::nullopt)["rpm"], 0);  // min with parent
}

TEST_P(RequestCount, S10CascadeParentNeedsRefillRefillsTheParentAlone) {
  limiter().CreateEntity("proj", {});
  limiter().CreateEntity("k1", {.parent_id = "proj", .cascade = true});
  limiter().SetLimits("proj", {Limit::PerMinute("rpm", 2)}, "gpt-4");
  Acquire(limiter(), "k1", {{"rpm", 2}});
  clock_.Advance(30'000);  // the parent has one token again
  // Child + parent writes (one round trip), then the parent's bucket read
  // and its refilling write; the child's consumption is kept.
  EXPECT_EQ(Count([&] {
              Acquire(limiter(), "k1", {{"rpm", 1}});
            }),
            (Calls{{"UpdateItem", 3}, {"BatchGetItem", 1}}));
  EXPECT_EQ(limiter().Available("proj", "gpt-4")["rpm"], 0);
  EXPECT_EQ(limiter().Available("k1", "gpt-4", std::nullopt)["rpm"], 0);  // min with parent
}

TEST_P(RequestCount, S12WithoutSpeculativeWritesReadsThenWrites) {
  auto slow = LimiterTest::Open({.speculative_writes = false, .usage = UsageTracking::kOff});
  Acquire(*slow, "k1", {{"rpm", 1}});
  EXPECT_EQ(Count([&] {
              Acquire(*slow, "k1", {{"rpm", 1}});
            }),
            (Calls{{"BatchGetItem", 1}, {"UpdateItem", 1}}));
  limiter().CreateEntity("proj", {});
  limiter().CreateEntity("k2", {.parent_id = "proj", .cascade = true});
  Acquire(*slow, "k2", {{"rpm", 1}});
  EXPECT_EQ(Count([&] {
              Acquire(*slow, "k2", {{"rpm", 1}});
            }),
            (Calls{{"BatchGetItem", 1}, {"GetItem", 1}, {"TransactWriteItems", 1}}));
}

TEST_P(RequestCount, S11CascadeFirstAcquireIsOneTransaction) {
  limiter().CreateEntity("proj", {});
  limiter().CreateEntity("k1", {.parent_id = "proj", .cascade = true});
  auto fresh = Open();
  // Failed fast write; child config; META + child bucket; parent config;
  // parent bucket; one transaction creating both.
  EXPECT_EQ(
      Count([&] {
        Acquire(*fresh, "k1", {{"rpm", 1}});
      }),
      (Calls{{"UpdateItem", 1}, {"BatchGetItem", 3}, {"GetItem", 1}, {"TransactWriteItems", 1}}));
}

TEST_P(RequestCount, S15S16AdjustAndRollbackAddOneWritePerBucket) {
  Acquire(limiter(), "k1", {{"rpm", 1}});
  EXPECT_EQ(
      Count([&] {
        Lease lease = limiter().Acquire("k1", "gpt-4", {{"rpm", 1}, {"tpm", 100}}).take_lease();
        lease.Adjust({{"tpm", 50}});
      }),
      (Calls{{"UpdateItem", 2}}));
  EXPECT_EQ(Count([&] {
              try {
                Lease lease = limiter().Acquire("k1", "gpt-4", {{"rpm", 1}}).take_lease();
                throw std::runtime_error("boom");
              } catch (const std::runtime_error&) {
              }
            }),
            (Calls{{"UpdateItem", 2}}));
  // No net change: no extra write.
  EXPECT_EQ(Count([&] {
              Lease lease = limiter().Acquire("k1", "gpt-4", {{"rpm", 1}}).take_lease();
              lease.Adjust({{"tpm", 5}});
              lease.Adjust({{"tpm", -5}});
            }),
            (Calls{{"UpdateItem", 1}}));
}

TEST_P(RequestCount, S17AvailableReadsOneItemPerBucketNotPerLimit) {
  Acquire(limiter(), "k1", {{"rpm", 1}});
  limiter().GetEntity("k1");  // entity cache warm
  EXPECT_EQ(Count([&] { limiter().Available("k1", "gpt-4"); }), (Calls{{"GetItem", 1}}));
}

INSTANTIATE_TEST_SUITE_P(Stores, RequestCount, ::testing::ValuesIn(StoreFactories()), FactoryName);

}  // namespace
}  // namespace zae::testing

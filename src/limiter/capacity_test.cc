// RateLimiter::GetResourceCapacity on every store: all pages of GSI2 (the
// store under test answers two items per page), shards counted once per
// entity, cascading parents and parents_only, refill on the fake clock.
#include <gtest/gtest.h>

#include "limiter/bucket_plan.h"
#include "limiter/keys.h"
#include "limiter/limiter_test_util.h"
#include "zae/errors.h"

namespace zae::testing {
namespace {

// Forwards to a real store but answers at most two items per Query page, so
// a handful of buckets spans several pages on every backend.
class SmallPages final : public Store {
 public:
  explicit SmallPages(std::shared_ptr<Store> inner) : inner_(std::move(inner)) {}
  std::string Describe() const override { return inner_->Describe(); }
  Capabilities capabilities() const override { return inner_->capabilities(); }
  void Provision(const ProvisionOptions& o) override { inner_->Provision(o); }
  std::optional<Item> Get(const ItemKey& k, bool c) override { return inner_->Get(k, c); }
  std::vector<std::optional<Item>> BatchGet(const std::vector<ItemKey>& k, bool c) override {
    return inner_->BatchGet(k, c);
  }
  WriteResult Write(const WriteOp& op) override { return inner_->Write(op); }
  std::vector<WriteResult> WriteEach(const std::vector<WriteOp>& ops) override {
    return inner_->WriteEach(ops);
  }
  TransactResult Transact(const std::vector<WriteOp>& ops) override {
    return inner_->Transact(ops);
  }
  void BatchWrite(const std::vector<WriteOp>& ops) override { inner_->BatchWrite(ops); }
  QueryPage Query(const QueryRequest& request) override {
    QueryRequest r = request;
    if (r.limit == 0 || r.limit > 2) r.limit = 2;
    if (r.index == Index::kGsi2) ++gsi2_pages;
    return inner_->Query(r);
  }
  void WriteBuckets(BucketWrite* writes, size_t count) override {
    inner_->WriteBuckets(writes, count);
  }
  std::shared_ptr<BucketHandle> OpenBucket(const ItemKey& key) override {
    return inner_->OpenBucket(key);
  }
  int64_t DeleteExpired(int64_t now) override { return inner_->DeleteExpired(now); }
  StoreStats stats() const override { return inner_->stats(); }
  void ResetStats() override { inner_->ResetStats(); }

  int gsi2_pages = 0;

 private:
  std::shared_ptr<Store> inner_;
};

class Capacity : public LimiterTest {
 protected:
  void SetUp() override {
    LimiterTest::SetUp();
    if (IsSkipped()) return;
    pages_ = std::make_shared<SmallPages>(store_);
    RateLimiterOptions o;
    o.clock = &clock_;
    o.timeout = testing::kTestTimeout;
    limiter_ = RateLimiter::Open(pages_, o);
    limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 100)});
  }
  void Take(const std::string& entity, int64_t rpm) {
    auto r = limiter().Acquire(entity, "gpt-4", {{"rpm", rpm}});
    ASSERT_TRUE(r.allowed()) << entity;
    r.lease().Commit();
  }
  ResourceCapacity Get(bool parents_only = false) {
    pages_->gsi2_pages = 0;
    return limiter().GetResourceCapacity("gpt-4", "rpm", parents_only);
  }
  // entity -> (capacity, available)
  static std::map<std::string, std::pair<int64_t, int64_t>> ByEntity(const ResourceCapacity& c) {
    std::map<std::string, std::pair<int64_t, int64_t>> out;
    for (const auto& e : c.entities) out[e.entity_id] = {e.capacity, e.available};
    return out;
  }
  ItemKey BucketKey(const std::string& entity, int shard) {
    return keys::Bucket(limiter().namespace_id(), entity, "gpt-4", shard);
  }
  // Splits `entity`'s bucket into two shards holding `tk0` and `tk1` tokens
  // (milli) of rpm, as a doubling leaves it.
  void SplitInTwo(const std::string& entity, int64_t tk0, int64_t tk1) {
    Update u;
    u.key = BucketKey(entity, 0);
    u.set = {{"b_rpm_tk", Value(tk0)}, {"shard_count", Value(2)}};
    u.condition.Exists("PK");
    ASSERT_TRUE(store_->Write(u).ok());
    auto shard0 = store_->Get(BucketKey(entity, 0), true);
    ASSERT_TRUE(shard0);
    ASSERT_TRUE(
        store_->Write(plan::CloneShard(*shard0, limiter().namespace_id(), 1, 2, {{"rpm", tk1}}))
            .ok());
  }

  std::shared_ptr<SmallPages> pages_;
};

TEST_P(Capacity, NoBucketsGiveEmptyTotals) {
  const ResourceCapacity c = Get();
  EXPECT_EQ(c.resource, "gpt-4");
  EXPECT_EQ(c.limit_name, "rpm");
  EXPECT_EQ(c.total_capacity, 0);
  EXPECT_EQ(c.total_available, 0);
  EXPECT_EQ(c.utilization_pct, 0.0);
  EXPECT_TRUE(c.entities.empty());
  EXPECT_TRUE(limiter().GetResourceCapacity("unknown-model", "rpm").entities.empty());
}

TEST_P(Capacity, SumsEveryEntityOverAllPages) {
  for (int i = 0; i < 7; ++i) Take("e" + std::to_string(i), 10 * i);
  // A bucket of the resource without the limit is not counted.
  limiter().SetLimits("tpm-only", {Limit::PerMinute("tpm", 1000)}, "gpt-4");
  auto r = limiter().Acquire("tpm-only", "gpt-4", {{"tpm", 1}});
  ASSERT_TRUE(r.allowed());
  r.lease().Commit();

  ResourceCapacity c = Get();
  EXPECT_GE(pages_->gsi2_pages, 4);  // 8 buckets, 2 per page
  ASSERT_EQ(c.entities.size(), 7u);
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(c.entities[i].entity_id, "e" + std::to_string(i));
    EXPECT_EQ(c.entities[i].capacity, 100);
    EXPECT_EQ(c.entities[i].available, 100 - 10 * i);
    EXPECT_DOUBLE_EQ(c.entities[i].utilization_pct, 10.0 * i);
  }
  EXPECT_EQ(c.total_capacity, 700);
  EXPECT_EQ(c.total_available, 490);
  EXPECT_DOUBLE_EQ(c.utilization_pct, 30.0);

  // 6 s refill 10 tokens each, capped at the capacity.
  clock_.Advance(6'000);
  c = Get();
  EXPECT_EQ(c.total_available, 100 + 100 + 90 + 80 + 70 + 60 + 50);
  EXPECT_EQ(c.entities[0].available, 100);
  EXPECT_EQ(c.entities[6].available, 50);
}

TEST_P(Capacity, DebtCountsBelowZero) {
  auto r = limiter().Acquire("spender", "gpt-4", {{"rpm", 50}});
  ASSERT_TRUE(r.allowed());
  r.lease().Adjust({{"rpm", 100}});  // the real cost: 150 of 100
  r.lease().Commit();
  const ResourceCapacity c = Get();
  ASSERT_EQ(c.entities.size(), 1u);
  EXPECT_EQ(c.entities[0].available, -50);
  EXPECT_DOUBLE_EQ(c.entities[0].utilization_pct, 150.0);
  EXPECT_EQ(c.total_available, -50);
  EXPECT_DOUBLE_EQ(c.utilization_pct, 150.0);
}

TEST_P(Capacity, ShardsOfOneEntityCountOnce) {
  Take("hot", 10);
  Take("calm", 25);
  SplitInTwo("hot", 40'000, 30'000);
  ResourceCapacity c = Get();
  auto by = ByEntity(c);
  ASSERT_EQ(by.size(), 2u);
  EXPECT_EQ(by["hot"], (std::pair<int64_t, int64_t>{100, 70}));  // capacity undivided, once
  EXPECT_EQ(by["calm"], (std::pair<int64_t, int64_t>{100, 75}));
  EXPECT_EQ(c.total_capacity, 200);
  EXPECT_EQ(c.total_available, 145);
  EXPECT_DOUBLE_EQ(c.utilization_pct, 27.5);

  // Each shard refills its half of the rate (50/min): 5 tokens per 6 s.
  clock_.Advance(6'000);
  by = ByEntity(Get());
  EXPECT_EQ(by["hot"].second, 45 + 35);
  // ... up to its half of the capacity; the sum never exceeds the capacity.
  clock_.Advance(120'000);
  by = ByEntity(Get());
  EXPECT_EQ(by["hot"], (std::pair<int64_t, int64_t>{100, 100}));
}

TEST_P(Capacity, CapacityComesFromShardZero) {
  Take("hot", 10);
  SplitInTwo("hot", 40'000, 30'000);
  Update stale;  // an unsynced shard keeps an old capacity
  stale.key = BucketKey("hot", 1);
  stale.set = {{"b_rpm_cp", Value(int64_t{900'000})}};
  ASSERT_TRUE(store_->Write(stale).ok());
  const ResourceCapacity c = Get();
  ASSERT_EQ(c.entities.size(), 1u);
  EXPECT_EQ(c.entities[0].capacity, 100);
  EXPECT_EQ(c.entities[0].available, 70);
}

TEST_P(Capacity, CascadingChildrenAndParentsOnly) {
  limiter().CreateEntity("proj");
  limiter().CreateEntity("key-a", {.parent_id = "proj", .cascade = true});
  limiter().CreateEntity("key-b", {.parent_id = "proj", .cascade = true});
  Take("key-a", 30);
  Take("key-b", 20);
  Take("loose", 5);  // never created: no entity record
  ResourceCapacity c = Get();
  EXPECT_EQ(ByEntity(c), (std::map<std::string, std::pair<int64_t, int64_t>>{
                             {"key-a", {100, 70}},
                             {"key-b", {100, 80}},
                             {"loose", {100, 95}},
                             {"proj", {100, 50}},  // both children consumed from it
                         }));
  EXPECT_EQ(c.total_capacity, 400);
  EXPECT_EQ(c.total_available, 295);

  c = Get(/*parents_only=*/true);
  ASSERT_EQ(c.entities.size(), 1u);
  EXPECT_EQ(c.entities[0].entity_id, "proj");
  EXPECT_EQ(c.entities[0].available, 50);
  EXPECT_EQ(c.total_capacity, 100);
  EXPECT_EQ(c.total_available, 50);
  EXPECT_DOUBLE_EQ(c.utilization_pct, 50.0);
}

TEST_P(Capacity, ParentsOnlyWithNoParents) {
  Take("loose", 5);
  const ResourceCapacity c = Get(/*parents_only=*/true);
  EXPECT_TRUE(c.entities.empty());
  EXPECT_EQ(c.total_capacity, 0);
}

TEST_P(Capacity, RejectsBadNames) {
  auto message = [&](const std::string& resource, const std::string& limit) -> std::string {
    try {
      limiter().GetResourceCapacity(resource, limit);
    } catch (const InvalidNameError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message("", "rpm"), "Invalid resource: resource cannot be empty");
  EXPECT_EQ(message("_default_", "rpm"),
            "Invalid resource: must start with a letter and contain only letters, digits, '_', "
            "'.', '-' or '/'");
  EXPECT_EQ(message("gpt#4", "rpm"),
            "Invalid resource: resource cannot contain '#' (reserved "
            "delimiter)");
  EXPECT_EQ(message("gpt-4", "wcu"),
            "Invalid name: 'wcu' is a reserved limit name (used for write-capacity tracking)");
  EXPECT_EQ(message("gpt-4", "9rpm"),
            "Invalid name: must start with a letter and contain only letters, digits, '_', '.' "
            "or '-'");
  EXPECT_EQ(message("gpt-4", ""), "Invalid name: name cannot be empty");
}

TEST_P(Capacity, CorruptBucketIsAStoreError) {
  Take("e1", 1);
  Update u;
  u.key = BucketKey("e1", 0);
  u.remove = {"entity_id"};
  ASSERT_TRUE(store_->Write(u).ok());
  EXPECT_THROW(Get(), StoreError);
}

INSTANTIATE_TEST_SUITE_P(Stores, Capacity, ::testing::ValuesIn(StoreFactories()), FactoryName);

}  // namespace
}  // namespace zae::testing

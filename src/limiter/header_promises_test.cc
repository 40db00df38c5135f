// What include/zae/*.h promise that no other test checked: transaction
// size, cache eviction by the delete-defaults calls, a disabled cache,
// giving up after the rf retries, and the exact messages of the errors
// the headers describe. On every store.
#include <gtest/gtest.h>

#include "limiter/keys.h"
#include "limiter/limiter_test_util.h"
#include "zae/admin.h"
#include "zae/errors.h"

namespace zae::testing {
namespace {

using HeaderPromises = LimiterTest;

// store.h: Transact is all or nothing, at most 100 operations.
TEST_P(HeaderPromises, TransactTakesAtMostOneHundredOperations) {
  std::vector<WriteOp> ops;
  for (int i = 0; i < 101; ++i) {
    ops.push_back(Put{Item{{"PK", Value("t")}, {"SK", Value("s" + std::to_string(i))}}, {}, false});
  }
  try {
    store_->Transact(ops);
    ADD_FAILURE() << "101 operations accepted";
  } catch (const ValidationError& e) {
    EXPECT_STREQ(e.what(), "Invalid transaction: at most 100 operations");
  }
  QueryRequest q;
  q.hash = "t";
  q.consistent = true;
  EXPECT_TRUE(store_->Query(q).items.empty());  // nothing written
  ops.pop_back();
  EXPECT_TRUE(store_->Transact(ops).ok);
  size_t n = 0;
  for (auto page = store_->Query(q);; page = store_->Query(q)) {
    n += page.items.size();
    if (!page.last_evaluated) break;
    q.start_after = page.last_evaluated;
  }
  EXPECT_EQ(n, 100u);
}

// rate_limiter.h: every local config write evicts what it changed, the
// delete-defaults calls included: the next acquire of this process sees
// the next level at once, not after the cache TTL.
TEST_P(HeaderPromises, DeleteDefaultsEvictTheCache) {
  limiter().SetSystemDefaults({Limit::PerMinute("rpm", 1)});
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 5)});
  // Fills the cache: entity, entity default, resource and system slots.
  Lease first = limiter().Acquire("k1", "gpt-4", {{"rpm", 1}}).take_lease();
  EXPECT_EQ(first.entries().at(0).limit.capacity, 5);
  first.Commit();
  limiter().DeleteResourceDefaults("gpt-4");
  EXPECT_EQ(limiter().ResolveLimits("k1", "gpt-4").source, ConfigSource::kSystem);
  {  // a new bucket: the slow path resolves through the cache
    Lease l = limiter().Acquire("k2", "gpt-4", {{"rpm", 1}}).take_lease();
    EXPECT_EQ(l.entries().at(0).limit.capacity, 1);
  }
  limiter().DeleteSystemDefaults();
  EXPECT_FALSE(limiter().ResolveLimits("k1", "gpt-4").source.has_value());
  try {
    limiter().Acquire("k3", "gpt-4", {{"rpm", 1}});
    ADD_FAILURE() << "admitted without limits";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.field(), "limits");
  }
  // Entity levels too.
  limiter().SetLimits("k1", {Limit::PerMinute("rpm", 9)});
  EXPECT_EQ(limiter().ResolveLimits("k1", "gpt-4").source, ConfigSource::kEntityDefault);
  limiter().DeleteLimits("k1");
  EXPECT_FALSE(limiter().ResolveLimits("k1", "gpt-4").source.has_value());
}

// rate_limiter.h: config_cache_ttl_seconds = 0 disables the cache: every
// acquire reads the config, and another process's change applies at once.
TEST_P(HeaderPromises, CacheTtlZeroReadsConfigOnEveryAcquire) {
  auto l = Open({.config_cache_ttl_seconds = 0, .usage = UsageTracking::kOff});
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10)});
  for (int i = 0; i < 3; ++i) {
    store_->ResetStats();
    auto r = l->Acquire("k1", "gpt-4", {{"rpm", 1}});
    ASSERT_TRUE(r.allowed());
    r.lease().Commit();
    // Config, META + bucket, the write: never the fast path.
    const auto calls = store_->stats().calls;
    EXPECT_EQ(calls.at("BatchGetItem"), 2) << i;
  }
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 3)});  // another process
  // The very next acquire writes the new capacity into the bucket.
  Lease lease = l->Acquire("k1", "gpt-4", {{"rpm", 1}}).take_lease();
  EXPECT_EQ(lease.entries().at(0).limit.capacity, 3);
  lease.Commit();
  EXPECT_EQ(store_->Get(keys::Bucket(l->namespace_id(), "k1", "gpt-4", 0), true)->at("b_rpm_cp"),
            Value(3000));
  const CacheStats s = l->GetCacheStats();
  EXPECT_EQ(s.size, 0);
  EXPECT_EQ(s.hits, 0);
  EXPECT_EQ(s.ttl_seconds, 0);
}

// Forwards to a store, but moves a bucket's rf before every write that
// relies on it: the optimistic lock is always lost.
class AlwaysStealRf final : public Store {
 public:
  explicit AlwaysStealRf(std::shared_ptr<Store> inner) : inner_(std::move(inner)) {}
  std::string Describe() const override { return inner_->Describe(); }
  Capabilities capabilities() const override { return inner_->capabilities(); }
  void Provision(const ProvisionOptions& o) override { inner_->Provision(o); }
  std::optional<Item> Get(const ItemKey& k, bool c) override { return inner_->Get(k, c); }
  std::vector<std::optional<Item>> BatchGet(const std::vector<ItemKey>& k, bool c) override {
    return inner_->BatchGet(k, c);
  }
  WriteResult Write(const WriteOp& op) override {
    Steal(op);
    return inner_->Write(op);
  }
  std::vector<WriteResult> WriteEach(const std::vector<WriteOp>& ops) override {
    for (const auto& op : ops) Steal(op);
    return inner_->WriteEach(ops);
  }
  TransactResult Transact(const std::vector<WriteOp>& ops) override {
    for (const auto& op : ops) Steal(op);
    return inner_->Transact(ops);
  }
  void BatchWrite(const std::vector<WriteOp>& ops) override { inner_->BatchWrite(ops); }
  QueryPage Query(const QueryRequest& r) override { return inner_->Query(r); }
  int64_t DeleteExpired(int64_t now) override { return inner_->DeleteExpired(now); }
  StoreStats stats() const override { return inner_->stats(); }
  void ResetStats() override { inner_->ResetStats(); }
  int steals = 0;

 private:
  void Steal(const WriteOp& op) {
    const auto* u = std::get_if<Update>(&op);
    if (!u) return;
    for (const auto& clause : u->condition.clauses) {
      if (clause[0].attr == "rf" && clause[0].op == Predicate::Op::kEq) {
        Update steal;
        steal.key = u->key;
        steal.set = {{"rf", Value(clause[0].operand.as_number() + 1)}};
        // Also drain the tokens, so the no-refill retry fails as well.
        steal.set.emplace_back("b_rpm_tk", Value(0));
        inner_->Write(steal);
        ++steals;
      }
    }
  }
  std::shared_ptr<Store> inner_;
};

// acquire.cc: a lost rf race is retried, bounded (24 attempts); then the
// failure is a store failure and follows on_unavailable.
TEST_P(HeaderPromises, RunningOutOfRfRetriesFollowsOnUnavailable) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10)});
  auto r0 = limiter().Acquire("k1", "gpt-4", {{"rpm", 1}});
  ASSERT_TRUE(r0.allowed());
  r0.lease().Commit();
  clock_.Advance(60'000);  // a refill is due: the slow path writes under rf
  auto thief = std::make_shared<AlwaysStealRf>(store_);
  auto l = RateLimiter::Open(
      thief, {.clock = &clock_, .speculative_writes = false, .timeout = testing::kTestTimeout});
  const std::string cause = "bucket k1/gpt-4 is under heavy contention; gave up after 24 attempts";
  try {
    l->Acquire("k1", "gpt-4", {{"rpm", 1}},
               {.limits = std::nullopt, .on_unavailable = OnUnavailable::kBlock});
    ADD_FAILURE() << "admitted";
  } catch (const RateLimiterUnavailable& e) {
    EXPECT_EQ(e.cause(), cause);
    EXPECT_EQ(std::string(e.what()),
              cause + " [stack=" + store_->Describe() + ", entity=k1, resource=gpt-4]");
  }
  EXPECT_EQ(thief->steals, 24);
  AcquireResult allowed =
      l->Acquire("k1", "gpt-4", {{"rpm", 1}},
                 {.limits = std::nullopt, .on_unavailable = OnUnavailable::kAllow});
  ASSERT_TRUE(allowed.allowed());
  EXPECT_TRUE(allowed.lease().is_noop());
}

// errors.h: the messages.
TEST_P(HeaderPromises, ErrorMessages) {
  try {
    Open({.namespace_name = "nowhere", .create_namespace = false});
    ADD_FAILURE() << "opened a missing namespace";
  } catch (const NamespaceNotFoundError& e) {
    EXPECT_STREQ(e.what(), "Namespace not found: nowhere");
    EXPECT_EQ(e.namespace_name(), "nowhere");
  }
  Update u;
  u.key = keys::Version();
  u.set = {{"schema_version", Value("2.3.0")}};
  store_->Write(u);
  try {
    Open();
    ADD_FAILURE() << "opened an incompatible schema";
  } catch (const IncompatibleSchemaError& e) {
    EXPECT_STREQ(e.what(),
                 "store schema version 2.3.0 is incompatible with this client (schema 0.10.0); "
                 "migrate the store or use a matching client");
  }
}

TEST(ErrorMessagesTest, RateLimiterUnavailableListsOnlyWhatIsKnown) {
  RateLimiterUnavailable all("timeout", "sqlite:/x.db", "k1", "gpt-4");
  EXPECT_STREQ(all.what(), "timeout [stack=sqlite:/x.db, entity=k1, resource=gpt-4]");
  EXPECT_EQ(all.cause(), "timeout");
  EXPECT_EQ(all.entity_id(), "k1");
  EXPECT_EQ(all.resource(), "gpt-4");
  EXPECT_STREQ(RateLimiterUnavailable("timeout", "", "k1", "").what(), "timeout [entity=k1]");
  EXPECT_STREQ(RateLimiterUnavailable("timeout", "", "", "").what(), "timeout");
  // An InfrastructureError, as in the reference.
  const InfrastructureError& base = all;
  EXPECT_STREQ(base.what(), all.what());
}

INSTANTIATE_TEST_SUITE_P(Stores, HeaderPromises, ::testing::ValuesIn(StoreFactories()),
                         FactoryName);

}  // namespace
}  // namespace zae::testing

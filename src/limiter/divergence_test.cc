// One test per row of docs/architecture.md's divergence table ("Where we
// differ from the reference"), each asserting what the row promises, on
// every store. The table names the test beside each row.
#include <gtest/gtest.h>

#include <set>

#include "limiter/keys.h"
#include "limiter/limiter_test_util.h"
#include "store/faulty_store.h"
#include "zae/errors.h"

namespace zae::testing {
namespace {

using Calls = std::map<std::string, int64_t>;

class Divergence : public LimiterTest {
 protected:
  std::optional<Item> Bucket(const std::string& entity, const std::string& resource = "gpt-4") {
    return store_->Get(keys::Bucket(limiter().namespace_id(), entity, resource, 0), true);
  }
  static std::set<std::string> LimitAttrs(const Item& item) {
    std::set<std::string> out;
    for (const auto& [name, v] : item) {
      if (name.rfind("b_", 0) == 0 && name.size() > 5 && name.substr(name.size() - 3) == "_cp") {
        out.insert(name.substr(2, name.size() - 5));
      }
    }
    return out;
  }
  template <typename Fn>
  Calls Count(Fn fn) {
    store_->ResetStats();
    fn();
    return store_->stats().calls;
  }
  void Take(RateLimiter& l, const std::string& entity, Amounts consume) {
    auto r = l.Acquire(entity, "gpt-4", consume);
    ASSERT_TRUE(r.allowed());
    r.lease().Commit();
  }
};

// Row: `limits=` passed to acquire are the lowest-precedence fallback.
TEST_P(Divergence, AcquireLimitsAreTheLowestPrecedenceFallback) {
  const std::vector<Limit> fallback = {Limit::PerMinute("rpm", 100)};
  AcquireOptions o{.limits = fallback, .on_unavailable = std::nullopt};
  // Nothing stored: the fallback applies.
  {
    Lease l = limiter().Acquire("k1", "gpt-4", {{"rpm", 1}}, o).take_lease();
    ASSERT_EQ(l.entries().size(), 1u);
    EXPECT_EQ(l.entries()[0].limit.capacity, 100);
  }
  // A stored level wins over it, the lowest one (system) included.
  limiter().SetSystemDefaults({Limit::PerMinute("rpm", 2)});
  Lease l = limiter().Acquire("k2", "gpt-4", {{"rpm", 1}}, o).take_lease();
  ASSERT_EQ(l.entries().size(), 1u);
  EXPECT_EQ(l.entries()[0].limit.capacity, 2);
  EXPECT_EQ(Bucket("k2")->at("b_rpm_cp"), Value(2000));
}

// Row D13/D1: the slow path writes the resolved cp/ra/rp into the bucket,
// adds missing limits and removes dropped ones, within one cache TTL.
TEST_P(Divergence, ConfigChangeRewritesAddsAndRemovesBucketLimits) {
  limiter().SetResourceDefaults("gpt-4",
                                {Limit::PerMinute("rpm", 10), Limit::PerMinute("tpm", 1000)});
  Take(limiter(), "k1", {{"rpm", 1}, {"tpm", 100}});
  EXPECT_EQ(LimitAttrs(*Bucket("k1")), (std::set<std::string>{"rpm", "tpm", "wcu"}));
  // Another process changes the defaults: rpm's capacity, tpm dropped,
  // rpd added.
  auto admin = Open();
  admin->SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 20), Limit::PerDay("rpd", 500)});
  // Within the TTL this process still runs on the bucket it verified.
  Take(limiter(), "k1", {{"rpm", 1}});
  EXPECT_EQ(Bucket("k1")->at("b_rpm_cp"), Value(10'000));
  clock_.Advance(60'001);
  Take(limiter(), "k1", {{"rpm", 1}});
  const Item b = *Bucket("k1");
  EXPECT_EQ(LimitAttrs(b), (std::set<std::string>{"rpd", "rpm", "wcu"}));  // wcu: always
  EXPECT_EQ(b.count("b_tpm_tk"), 0u);
  EXPECT_EQ(b.count("b_tpm_tc"), 0u);
  EXPECT_EQ(b.at("b_rpm_cp"), Value(20'000));
  EXPECT_EQ(b.at("b_rpd_cp"), Value(500'000));
  EXPECT_EQ(b.at("b_rpd_tk"), Value(500'000));  // added full
  EXPECT_EQ(b.at("b_rpd_tc"), Value(0));
  EXPECT_EQ(limiter().Available("k1", "gpt-4"), (Amounts{{"rpd", 500}, {"rpm", 19}}));
}

// Row D15: unknown consume names and negative amounts are validation errors.
TEST_P(Divergence, UnknownNamesAndNegativeAmountsAreValidationErrors) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10)});
  Take(limiter(), "k1", {{"rpm", 1}});  // warm: the fast path must refuse too
  try {
    limiter().Acquire("k1", "gpt-4", {{"bogus", 5}});
    ADD_FAILURE() << "admitted an unknown name";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.field(), "consume");
    EXPECT_EQ(e.value(), "bogus");
    EXPECT_STREQ(e.what(),
                 "Invalid consume: 'bogus' is not a limit of entity 'k1' for resource 'gpt-4'");
  }
  try {
    limiter().Acquire("k1", "gpt-4", {{"rpm", -3}});
    ADD_FAILURE() << "admitted a negative amount";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.value(), "rpm=-3");
  }
  EXPECT_EQ(limiter().Available("k1", "gpt-4")["rpm"], 9);  // nothing credited
}

// Row D5: a fast-path lease covers every limit of the bucket, so adjusting
// one the acquire did not consume counts (warm and cold processes).
TEST_P(Divergence, FastPathLeaseCoversLimitsTheAcquireDidNotConsume) {
  limiter().SetResourceDefaults("gpt-4",
                                {Limit::PerMinute("rpm", 10), Limit::PerMinute("tpm", 1000)});
  Take(limiter(), "k1", {{"rpm", 1}});  // verified: the next acquire is one write
  for (bool cold : {false, true}) {
    SCOPED_TRACE(cold ? "cold process" : "warm process");
    auto other = Open();
    RateLimiter& l = cold ? *other : limiter();
    const int64_t tpm_before = limiter().Available("k1", "gpt-4")["tpm"];
    Calls calls = Count([&] {
      Lease lease = l.Acquire("k1", "gpt-4", {{"rpm", 1}}).take_lease();
      ASSERT_EQ(lease.entries().size(), 2u);
      EXPECT_EQ(lease.entries()[1].limit.name, "tpm");
      EXPECT_EQ(lease.entries()[1].consumed, 0);
      lease.Adjust({{"tpm", 300}});
      EXPECT_EQ(lease.consumed(), (Amounts{{"rpm", 1}, {"tpm", 300}}));
    });
    int64_t writes = 0;
    for (const auto& [op, n] : calls) writes += n;
    EXPECT_EQ(calls.count("BatchGetItem"), 0u) << "not the fast path";
    EXPECT_GE(writes, 1);
    EXPECT_EQ(limiter().Available("k1", "gpt-4")["tpm"], tpm_before - 300);
  }
}

// Row D4: a cascade parent exhausted on the fast path is a denial naming
// the parent (not a validation error), and the child is given back.
TEST_P(Divergence, CascadeParentExhaustedOnTheFastPathIsADenialNamingIt) {
  limiter().CreateEntity("proj", {});
  limiter().CreateEntity("key-a", {.name = "", .parent_id = "proj", .cascade = true});
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10)});
  limiter().SetLimits("proj", {Limit::PerMinute("rpm", 2)}, "gpt-4");
  Take(limiter(), "key-a", {{"rpm", 1}});  // both buckets verified
  auto other = Open();
  Take(*other, "proj", {{"rpm", 1}});  // the parent is now empty
  for (bool cold : {false, true}) {
    SCOPED_TRACE(cold ? "cold process" : "warm process");
    auto fresh = Open();
    RateLimiter& l = cold ? *fresh : limiter();
    AcquireResult r = l.Acquire("key-a", "gpt-4", {{"rpm", 1}});
    ASSERT_FALSE(r.allowed());
    EXPECT_EQ(r.denial().primary_violation().entity_id, "proj");
    EXPECT_EQ(r.denial().primary_violation().limit_name, "rpm");
    for (const LimitStatus& s : r.denial().statuses()) EXPECT_NE(s.limit_name, "wcu");
    EXPECT_DOUBLE_EQ(r.denial().retry_after_seconds(), 30.001);  // 1 token at 2/min
    // The child holds only the first acquire.
    EXPECT_EQ(Bucket("key-a")->at("b_rpm_tc"), Value(1000));
  }
}

// Row: the fast path conditions on every limit of the bucket, so a limit
// in debt blocks an acquire that does not name it, as on the slow path.
TEST_P(Divergence, LimitInDebtBlocksTheFastPathToo) {
  limiter().SetResourceDefaults("gpt-4",
                                {Limit::PerMinute("rpm", 10), Limit::PerMinute("tpm", 1000)});
  {
    Lease lease = limiter().Acquire("k1", "gpt-4", {{"rpm", 1}, {"tpm", 100}}).take_lease();
    lease.Adjust({{"tpm", 1100}});  // 200 in debt
  }
  for (bool cold : {false, true}) {
    SCOPED_TRACE(cold ? "cold process" : "warm process");
    auto fresh = Open();
    RateLimiter& l = cold ? *fresh : limiter();
    AcquireResult r = l.Acquire("k1", "gpt-4", {{"rpm", 1}});
    ASSERT_FALSE(r.allowed());
    EXPECT_EQ(r.denial().primary_violation().limit_name, "tpm");
    EXPECT_DOUBLE_EQ(r.denial().retry_after_seconds(), 12.001);  // 200 at 1000/min
  }
  EXPECT_EQ(Bucket("k1")->at("b_rpm_tc"), Value(1000));  // nothing more taken
}

// Row "cold process / expired verification": a cold process tries the
// speculative write first (S2, S3, S11), but a bucket whose verification
// expired goes to the slow path directly, without a speculative write.
TEST_P(Divergence, ExpiredVerificationGoesToTheSlowPathDirectly) {
  auto l = LimiterTest::Open({.usage = UsageTracking::kOff});
  l->SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 100)});
  Take(*l, "k1", {{"rpm", 1}});
  EXPECT_EQ(Count([&] { Take(*l, "k1", {{"rpm", 1}}); }), (Calls{{"UpdateItem", 1}}));
  clock_.Advance(60'001);
  // Config, META + bucket, the refilling write: no failed write first.
  EXPECT_EQ(Count([&] {
              Take(*l, "k1", {{"rpm", 1}});
            }),
            (Calls{{"BatchGetItem", 2}, {"UpdateItem", 1}}));
}

// Row: on_unavailable is read only when a failure happens; no call on the
// happy path (the cold acquire's calls are exactly S3's, no GetItem).
TEST_P(Divergence, OnUnavailableIsNotReadOnTheHappyPath) {
  auto l = LimiterTest::Open({.usage = UsageTracking::kOff});
  l->SetSystemDefaults({Limit::PerMinute("rpm", 5)}, OnUnavailable::kAllow);
  auto cold = LimiterTest::Open({.usage = UsageTracking::kOff});
  EXPECT_EQ(Count([&] {
              Take(*cold, "k1", {{"rpm", 1}});
            }),
            (Calls{{"UpdateItem", 1}, {"BatchGetItem", 2}, {"PutItem", 1}}));
  // It is read when one happens (the config slot is cached here): a fresh
  // process whose first read fails still finds "allow" in the store.
  auto faulty = std::make_shared<FaultyStore>(store_);
  auto f = RateLimiter::Open(faulty, {.clock = &clock_, .timeout = testing::kTestTimeout});
  faulty->FailNth(StoreOp::kBatchGet, 1, StoreError("down for one call"));
  AcquireResult r = f->Acquire("k2", "gpt-4", {{"rpm", 1}});
  ASSERT_TRUE(r.allowed());
  EXPECT_TRUE(r.lease().is_noop());
  EXPECT_EQ(faulty->calls(StoreOp::kBatchGet), 2) << faulty->log();
}

// Row: the resource registry and the config are written in one Transact:
// when it fails, neither exists.
TEST_P(Divergence, ResourceDefaultsAndRegistryAreOneTransaction) {
  auto faulty = std::make_shared<FaultyStore>(store_);
  auto f = RateLimiter::Open(faulty, {.clock = &clock_, .timeout = testing::kTestTimeout});
  faulty->FailNth(StoreOp::kTransact, 1, StoreError("lost"));
  EXPECT_THROW(f->SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 1)}), StoreError);
  EXPECT_TRUE(faulty->fired());
  EXPECT_TRUE(limiter().GetResourceDefaults("gpt-4").empty());
  EXPECT_TRUE(limiter().ListResourcesWithDefaults().empty());
  faulty->Heal();
  f->SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 1)});
  EXPECT_EQ(limiter().ListResourcesWithDefaults(), std::vector<std::string>{"gpt-4"});
}

// Row: delete_entity decrements the entity-config registry counts.
TEST_P(Divergence, DeleteEntityDecrementsTheRegistry) {
  limiter().CreateEntity("e1", {});
  limiter().CreateEntity("e2", {});
  limiter().SetLimits("e1", {Limit::PerMinute("rpm", 1)}, "x");
  limiter().SetLimits("e2", {Limit::PerMinute("rpm", 1)}, "x");
  limiter().SetLimits("e1", {Limit::PerMinute("rpm", 1)}, "y");
  EXPECT_EQ(limiter().ListResourcesWithEntityConfigs(), (std::vector<std::string>{"x", "y"}));
  limiter().DeleteEntity("e1");
  EXPECT_EQ(limiter().ListResourcesWithEntityConfigs(), std::vector<std::string>{"x"});
  EXPECT_EQ(limiter().ListEntitiesWithCustomLimits("x").items, std::vector<std::string>{"e2"});
  limiter().DeleteEntity("e2");
  EXPECT_TRUE(limiter().ListResourcesWithEntityConfigs().empty());
}

// Row: audit ULIDs are monotonic within a process, so events within one
// millisecond list in the order they happened.
TEST_P(Divergence, AuditEventsWithinOneMillisecondKeepTheirOrder) {
  limiter().CreateEntity("e1", {});
  for (int i = 1; i <= 20; ++i) {
    limiter().SetLimits("e1", {Limit::PerMinute("rpm", i)}, "res");  // same ms
  }
  auto events = limiter().GetAuditEvents("e1", 100);
  ASSERT_EQ(events.items.size(), 21u);
  for (size_t i = 0; i + 1 < events.items.size(); ++i) {
    EXPECT_GT(events.items[i].event_id, events.items[i + 1].event_id) << i;
  }
  // Newest first: capacities 20, 19, ..., 1, then the creation.
  for (int i = 0; i < 20; ++i) {
    const auto& limits = events.items[static_cast<size_t>(i)].details.at("limits").as_list();
    EXPECT_EQ(limits.at(0).as_map().at("capacity"), Value(20 - i)) << i;
  }
  EXPECT_EQ(events.items.back().action, "entity_created");
}

// Row: the daily (and monthly, when that window is written) snapshot keys
// carry a suffix; the hourly key is the reference's (written inline here on
// every store; the default windows are hourly and daily).
TEST_P(Divergence, DailyAndMonthlySnapshotKeysHaveASuffix) {
  auto l = LimiterTest::Open({.usage = UsageTracking::kInline});
  clock_.Set(1'767'225'600'000);  // 2026-01-01T00:00:00Z: hour, day and month start alike
  l->SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10)});
  Take(*l, "k1", {{"rpm", 1}});
  QueryRequest q;
  q.hash = l->namespace_id() + "/ENTITY#k1";
  q.sort_prefix = "#USAGE#";
  q.consistent = true;
  std::set<std::string> sks;
  for (const Item& i : store_->Query(q).items) sks.insert(i.at("SK").as_string());
  EXPECT_EQ(sks, (std::set<std::string>{"#USAGE#gpt-4#2026-01-01T00:00:00Z",
                                        "#USAGE#gpt-4#2026-01-01T00:00:00Z#daily"}));
  const std::string pk = l->namespace_id() + "/ENTITY#k1";
  auto daily = store_->Get({pk, "#USAGE#gpt-4#2026-01-01T00:00:00Z#daily"}, true);
  ASSERT_TRUE(daily);
  EXPECT_EQ(daily->at("window"), Value("daily"));
  EXPECT_EQ(daily->at("window_start"), Value("2026-01-01T00:00:00Z"));
  EXPECT_EQ(daily->at("rpm"), Value(1));
  EXPECT_EQ(daily->at("total_events"), Value(1));
}

// Row: set_system_defaults keeps the audit retention, and audit ttl follows it.
TEST_P(Divergence, SystemDefaultsKeepTheRetentionAndAuditTtlFollowsIt) {
  limiter().SetAuditRetentionDays(7);
  limiter().SetSystemDefaults({Limit::PerMinute("rpm", 1)}, OnUnavailable::kBlock);
  EXPECT_EQ(limiter().GetAuditRetentionDays(), 7);
  limiter().CreateEntity("e1", {});
  QueryRequest q;
  q.hash = limiter().namespace_id() + "/AUDIT#e1";
  q.consistent = true;
  auto items = store_->Query(q).items;
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].at("ttl"), Value(clock_.NowMs() / 1000 + 7 * 86400));
}

// Row D9: the persisted rf is the time of the write (copied).
TEST_P(Divergence, PersistedRfIsTheCommitTime) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 7)});
  Take(limiter(), "k1", {{"rpm", 7}});
  EXPECT_EQ(Bucket("k1")->at("rf"), Value(clock_.NowMs()));
  clock_.Advance(10'001);  // 1.1667 tokens back: the slow path refills
  Take(limiter(), "k1", {{"rpm", 1}});
  EXPECT_EQ(Bucket("k1")->at("rf"), Value(clock_.NowMs()));
}

INSTANTIATE_TEST_SUITE_P(Stores, Divergence, ::testing::ValuesIn(StoreFactories()), FactoryName);

}  // namespace
}  // namespace zae::testing

// on_unavailable, table-driven: a store failure injected (FaultyStore) into
// every phase of an acquire, under every source of the policy (per call >
// the namespace's system config > the last value this process saw >
// block), on every store. Each case asserts the exact outcome: "allow" is a
// no-op lease that says so and writes nothing; "block" is
// RateLimiterUnavailable with its cause, entity, resource and message; and
// the bucket holds exactly what the phase left. Logic errors are never
// admitted, whatever the policy.
#include <gtest/gtest.h>

#include <stdexcept>
#include <tuple>

#include "limiter/keys.h"
#include "limiter/limiter_test_util.h"
#include "store/faulty_store.h"
#include "zae/errors.h"

namespace zae::testing {
namespace {

const std::vector<Limit> kLimits = {Limit::PerMinute("rpm", 10)};

// The phase of an acquire the failure hits.
enum class Phase {
  kWarmWrite,          // the one typed write of a warm bucket
  kSpeculativeWrite,   // a cold process's fast-path write on an existing bucket
  kConfigRead,         // the config BatchGet of the slow path
  kBucketRead,         // the META + bucket BatchGet of the slow path
  kInitialWrite,       // the Put that creates the bucket
  kCascadeParent,      // the parent's fast-path write after the child's succeeded
  kCascadeCompensate,  // giving the child back after the parent refused
};

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kWarmWrite:
      return "WarmWrite";
    case Phase::kSpeculativeWrite:
      return "SpeculativeWrite";
    case Phase::kConfigRead:
      return "ConfigRead";
    case Phase::kBucketRead:
      return "BucketRead";
    case Phase::kInitialWrite:
      return "InitialWrite";
    case Phase::kCascadeParent:
      return "CascadeParent";
    case Phase::kCascadeCompensate:
      return "CascadeCompensate";
  }
  return "?";
}

// Where the policy comes from, and what it says.
enum class Source {
  kPerCallAllowOverSystemBlock,
  kPerCallBlockOverSystemAllow,
  kSystemAllow,               // set by another process; this one saw nothing
  kSystemBlockOverLastAllow,  // this process saw allow, then another set block
  kLastSeenAllowStoreDown,    // the store is down; the stored config names no policy
  kDefaultBlockStoreDown,     // nothing anywhere
};

const char* SourceName(Source s) {
  switch (s) {
    case Source::kPerCallAllowOverSystemBlock:
      return "PerCallAllowOverSystemBlock";
    case Source::kPerCallBlockOverSystemAllow:
      return "PerCallBlockOverSystemAllow";
    case Source::kSystemAllow:
      return "SystemAllow";
    case Source::kSystemBlockOverLastAllow:
      return "SystemBlockOverLastAllow";
    case Source::kLastSeenAllowStoreDown:
      return "LastSeenAllowStoreDown";
    case Source::kDefaultBlockStoreDown:
      return "DefaultBlockStoreDown";
  }
  return "?";
}

bool Admits(Source s) {
  return s == Source::kPerCallAllowOverSystemBlock || s == Source::kSystemAllow ||
         s == Source::kLastSeenAllowStoreDown;
}
bool StoreDown(Source s) {
  return s == Source::kLastSeenAllowStoreDown || s == Source::kDefaultBlockStoreDown;
}

using Param = std::tuple<StoreFactory, Phase, Source>;

// Two limiters on one store: `other_` is another process (on the real
// store), `limiter_` the process under test (on the faulty wrapper).
class OnUnavailableBase {
 protected:
  bool Start(const StoreFactory& f) {
    store_ = std::shared_ptr<Store>(f.open(dir_.path()));
    faulty_ = std::make_shared<FaultyStore>(store_);
    other_ = RateLimiter::Open(store_, {.clock = &clock_, .timeout = testing::kTestTimeout});
    limiter_ = RateLimiter::Open(faulty_, {.clock = &clock_, .timeout = testing::kTestTimeout});
    other_->SetResourceDefaults("gpt-4", kLimits);
    return true;
  }
  void Stop() {
    limiter_.reset();
    other_.reset();
    faulty_.reset();
    store_.reset();
  }
  // Embedded stores write buckets and usage snapshots in one Transact; on
  // DynamoDB a single bucket write is one Write (UpdateItem / PutItem).
  StoreOp BucketWriteOp() const {
    return store_->capabilities().usage_from_stream ? StoreOp::kWrite : StoreOp::kTransact;
  }
  // Brings the process under test to the phase and says which call fails.
  std::pair<StoreOp, int> Prepare(Phase phase) {
    switch (phase) {
      case Phase::kWarmWrite: {
        auto r = limiter_->Acquire("k1", "gpt-4", {{"rpm", 1}});
        EXPECT_TRUE(r.allowed());
        r.lease().Commit();
        // Sharded buckets (DynamoDB) take the generic fast path.
        if (store_->capabilities().sharding) return {StoreOp::kWrite, 1};
        return {StoreOp::kWriteBuckets, 1};
      }
      case Phase::kSpeculativeWrite: {
        auto r = other_->Acquire("k1", "gpt-4", {{"rpm", 1}});
        EXPECT_TRUE(r.allowed());
        r.lease().Commit();
        return {BucketWriteOp(), 1};
      }
      // No bucket yet: the speculative write fails its condition, then the
      // slow path reads config, then META + bucket, then creates it.
      case Phase::kConfigRead:
        return {StoreOp::kBatchGet, 1};
      case Phase::kBucketRead:
        return {StoreOp::kBatchGet, 2};
      case Phase::kInitialWrite:
        return {BucketWriteOp(), 2};
      case Phase::kCascadeParent:
      case Phase::kCascadeCompensate: {
        other_->CreateEntity("proj", {});
        other_->CreateEntity("key-a", {.name = "", .parent_id = "proj", .cascade = true});
        if (phase == Phase::kCascadeCompensate) {
          other_->SetLimits("proj", {Limit::PerMinute("rpm", 1)}, "gpt-4");
        }
        auto r = other_->Acquire("key-a", "gpt-4", {{"rpm", 1}});
        EXPECT_TRUE(r.allowed());
        r.lease().Commit();
        // The process under test has not seen key-a: its fast write on the
        // child says it cascades, then it writes the parent; when the
        // parent (exhausted) refuses, it gives the child back.
        return {BucketWriteOp(), phase == Phase::kCascadeParent ? 2 : 3};
      }
    }
    return {StoreOp::kGet, 0};
  }
  static const char* EntityOf(Phase phase) {
    return phase == Phase::kCascadeParent || phase == Phase::kCascadeCompensate ? "key-a" : "k1";
  }
  // Tokens the entity's own bucket has consumed (b_rpm_tc) after the failed
  // acquire, read from the store once it is back; 0 when there is none.
  int64_t Consumed(const std::string& entity) {
    auto item = store_->Get(keys::Bucket(other_->namespace_id(), entity, "gpt-4", 0), true);
    return item ? item->at("b_rpm_tc").as_number() / 1000 : 0;
  }
  static int64_t ExpectedConsumed(Phase phase, bool down) {
    switch (phase) {
      case Phase::kWarmWrite:         // the process under test took 1 earlier
      case Phase::kSpeculativeWrite:  // the other process took 1
        return 1;
      case Phase::kConfigRead:
      case Phase::kBucketRead:
      case Phase::kInitialWrite:
        return 0;  // nothing was written
      case Phase::kCascadeParent:
        // The child's write is given back, unless the store is down.
        return down ? 2 : 1;
      case Phase::kCascadeCompensate:
        return 2;  // the give-back itself failed: the child's token is lost
    }
    return -1;
  }

  FakeClock clock_{1'750'000'000'000};
  ScratchDir dir_;
  std::shared_ptr<Store> store_;
  std::shared_ptr<FaultyStore> faulty_;
  std::unique_ptr<RateLimiter> other_;
  std::unique_ptr<RateLimiter> limiter_;
};

class OnUnavailablePolicy : public ::testing::TestWithParam<Param>, public OnUnavailableBase {
 protected:
  void SetUp() override {
    ZAE_SKIP_UNLESS_AVAILABLE(std::get<0>(GetParam()));
    Start(std::get<0>(GetParam()));
  }
  void TearDown() override { Stop(); }
};

TEST_P(OnUnavailablePolicy, FailureInEveryPhaseFollowsThePolicy) {
  const auto [factory, phase, source] = GetParam();
  const std::string entity = EntityOf(phase);
  AcquireOptions options;
  switch (source) {
    case Source::kPerCallAllowOverSystemBlock:
      other_->SetSystemDefaults(kLimits, zae::OnUnavailable::kBlock);
      options.on_unavailable = zae::OnUnavailable::kAllow;
      break;
    case Source::kPerCallBlockOverSystemAllow:
      other_->SetSystemDefaults(kLimits, zae::OnUnavailable::kAllow);
      options.on_unavailable = zae::OnUnavailable::kBlock;
      break;
    case Source::kSystemAllow:
      other_->SetSystemDefaults(kLimits, zae::OnUnavailable::kAllow);
      break;
    case Source::kSystemBlockOverLastAllow:
      limiter_->SetSystemDefaults(kLimits, zae::OnUnavailable::kAllow);
      other_->SetSystemDefaults(kLimits, zae::OnUnavailable::kBlock);
      break;
    case Source::kLastSeenAllowStoreDown:
      limiter_->SetSystemDefaults(kLimits, zae::OnUnavailable::kAllow);
      other_->SetSystemDefaults(kLimits, std::nullopt);
      break;
    case Source::kDefaultBlockStoreDown:
      break;
  }
  const auto [op, nth] = Prepare(phase);
  const std::string cause = std::string("injected at ") + PhaseName(phase);
  faulty_->FailNth(op, nth, StoreError(cause, true), StoreDown(source));

  if (Admits(source)) {
    AcquireResult r = limiter_->Acquire(entity, "gpt-4", {{"rpm", 1}}, options);
    ASSERT_TRUE(faulty_->fired()) << faulty_->log();
    ASSERT_TRUE(r.allowed());
    Lease& lease = r.lease();
    EXPECT_TRUE(lease.is_noop());
    EXPECT_TRUE(lease.active());
    EXPECT_TRUE(lease.entries().empty());
    EXPECT_TRUE(lease.consumed().empty());
    faulty_->Heal();
    const std::string before = faulty_->log();
    lease.Adjust({{"rpm", 5}});
    lease.Commit();  // holds nothing, writes nothing
    EXPECT_EQ(faulty_->log(), before);
    EXPECT_FALSE(lease.active());
  } else {
    try {
      limiter_->Acquire(entity, "gpt-4", {{"rpm", 1}}, options);
      ADD_FAILURE() << "admitted; calls: " << faulty_->log();
    } catch (const RateLimiterUnavailable& e) {
      EXPECT_TRUE(faulty_->fired()) << faulty_->log();
      EXPECT_EQ(e.cause(), cause);
      EXPECT_EQ(e.entity_id(), entity);
      EXPECT_EQ(e.resource(), "gpt-4");
      EXPECT_EQ(std::string(e.what()), cause + " [stack=" + store_->Describe() +
                                           ", entity=" + entity + ", resource=gpt-4]");
    }
    faulty_->Heal();
  }
  EXPECT_EQ(Consumed(entity), ExpectedConsumed(phase, StoreDown(source)));
  // The process under test recovers once the store is back (the parent of
  // the compensation phase is still empty: a denial naming it).
  auto again = limiter_->Acquire(entity, "gpt-4", {{"rpm", 1}});
  if (phase == Phase::kCascadeCompensate) {
    ASSERT_FALSE(again.allowed());
    EXPECT_EQ(again.denial().primary_violation().entity_id, "proj");
  } else {
    ASSERT_TRUE(again.allowed());
    EXPECT_FALSE(again.lease().is_noop());
  }
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  return std::string(PhaseName(std::get<1>(info.param))) + "_" +
         SourceName(std::get<2>(info.param)) + "_" + std::get<0>(info.param).name;
}

const Phase kPhases[] = {Phase::kWarmWrite,        Phase::kSpeculativeWrite, Phase::kConfigRead,
                         Phase::kBucketRead,       Phase::kInitialWrite,     Phase::kCascadeParent,
                         Phase::kCascadeCompensate};
const Source kSources[] = {Source::kPerCallAllowOverSystemBlock,
                           Source::kPerCallBlockOverSystemAllow,
                           Source::kSystemAllow,
                           Source::kSystemBlockOverLastAllow,
                           Source::kLastSeenAllowStoreDown,
                           Source::kDefaultBlockStoreDown};

INSTANTIATE_TEST_SUITE_P(Stores, OnUnavailablePolicy,
                         ::testing::Combine(::testing::ValuesIn(StoreFactories()),
                                            ::testing::ValuesIn(kPhases),
                                            ::testing::ValuesIn(kSources)),
                         ParamName);

// Only store failures are admitted: a logic error (a bug, not an outage)
// escapes even when the policy is allow.
class LogicErrors : public ::testing::TestWithParam<std::tuple<StoreFactory, Phase>>,
                    public OnUnavailableBase {
 protected:
  void SetUp() override {
    ZAE_SKIP_UNLESS_AVAILABLE(std::get<0>(GetParam()));
    Start(std::get<0>(GetParam()));
  }
  void TearDown() override { Stop(); }
};

TEST_P(LogicErrors, AreNeverAdmitted) {
  const auto [factory, phase] = GetParam();
  other_->SetSystemDefaults(kLimits, zae::OnUnavailable::kAllow);
  const auto [op, nth] = Prepare(phase);
  faulty_->FailNth(op, nth, std::logic_error("a bug"));
  try {
    limiter_->Acquire(EntityOf(phase), "gpt-4", {{"rpm", 1}},
                      {.limits = std::nullopt, .on_unavailable = zae::OnUnavailable::kAllow});
    ADD_FAILURE() << "admitted; calls: " << faulty_->log();
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "a bug");
  }
  EXPECT_TRUE(faulty_->fired());
}

INSTANTIATE_TEST_SUITE_P(Stores, LogicErrors,
                         ::testing::Combine(::testing::ValuesIn(StoreFactories()),
                                            ::testing::ValuesIn(kPhases)),
                         [](const ::testing::TestParamInfo<std::tuple<StoreFactory, Phase>>& i) {
                           return std::string(PhaseName(std::get<1>(i.param))) + "_" +
                                  std::get<0>(i.param).name;
                         });

// Lease commits: a failing commit throws StoreError and leaves the lease
// active, to be retried or rolled back (lease.h).
using LeaseFailures = LimiterTest;

TEST_P(LeaseFailures, FailedCommitKeepsTheLeaseActiveAndRetryable) {
  auto faulty = std::make_shared<FaultyStore>(store_);
  auto l = RateLimiter::Open(faulty, {.clock = &clock_, .timeout = testing::kTestTimeout});
  l->SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10), Limit::PerMinute("tpm", 1000)});
  Lease lease = l->Acquire("k1", "gpt-4", {{"rpm", 1}, {"tpm", 100}}).take_lease();
  lease.Adjust({{"tpm", 50}});
  faulty->FailNth(StoreOp::kWriteBuckets, 1, StoreError("commit failed", true));
  try {
    lease.Commit();
    ADD_FAILURE() << "commit did not throw";
  } catch (const StoreError& e) {
    EXPECT_STREQ(e.what(), "commit failed");
    EXPECT_TRUE(e.retryable());
  }
  EXPECT_TRUE(lease.active());
  EXPECT_EQ(lease.consumed().at("tpm"), 150);
  EXPECT_EQ(l->Available("k1", "gpt-4")["tpm"], 900);  // only the initial 100
  lease.Commit();                                      // the retry writes the adjustment once
  EXPECT_FALSE(lease.active());
  EXPECT_EQ(l->Available("k1", "gpt-4")["tpm"], 850);
  EXPECT_THROW(lease.Commit(), LeaseExpiredError);
}

TEST_P(LeaseFailures, FailedCommitCanBeRolledBack) {
  auto faulty = std::make_shared<FaultyStore>(store_);
  auto l = RateLimiter::Open(faulty, {.clock = &clock_, .timeout = testing::kTestTimeout});
  l->SetResourceDefaults("gpt-4", {Limit::PerMinute("tpm", 1000)});
  Lease lease = l->Acquire("k1", "gpt-4", {{"tpm", 100}}).take_lease();
  lease.Adjust({{"tpm", 50}});
  faulty->FailNth(StoreOp::kWriteBuckets, 1, StoreError("commit failed"));
  EXPECT_THROW(lease.Commit(), StoreError);
  lease.Rollback();  // refunds the initial 100; the 50 was never written
  EXPECT_FALSE(lease.active());
  EXPECT_EQ(l->Available("k1", "gpt-4")["tpm"], 1000);
  EXPECT_THROW(lease.Rollback(), LeaseExpiredError);
}

TEST_P(LeaseFailures, RollbackRefundsTheInitialConsumptionOnce) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("tpm", 1000)});
  Lease lease = limiter().Acquire("k1", "gpt-4", {{"tpm", 300}}).take_lease();
  lease.Adjust({{"tpm", 200}});
  EXPECT_EQ(limiter().Available("k1", "gpt-4")["tpm"], 700);
  lease.Rollback();
  EXPECT_FALSE(lease.active());
  EXPECT_EQ(limiter().Available("k1", "gpt-4")["tpm"], 1000);
  EXPECT_THROW(lease.Adjust({{"tpm", 1}}), LeaseExpiredError);
  EXPECT_THROW(lease.Commit(), LeaseExpiredError);
}

TEST_P(LeaseFailures, LeaseOrThrowCarriesTheDenial) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 1)});
  Lease first = limiter().Acquire("k1", "gpt-4", {{"rpm", 1}}).lease_or_throw();
  EXPECT_EQ(first.consumed().at("rpm"), 1);
  first.Commit();
  AcquireResult denied = limiter().Acquire("k1", "gpt-4", {{"rpm", 1}});
  ASSERT_FALSE(denied.allowed());
  try {
    denied.lease_or_throw();
    ADD_FAILURE() << "no RateLimitExceeded";
  } catch (const RateLimitExceeded& e) {
    ASSERT_EQ(e.denial().violations().size(), 1u);
    EXPECT_EQ(e.denial().violations()[0].limit_name, "rpm");
    EXPECT_EQ(e.denial().violations()[0].entity_id, "k1");
    EXPECT_DOUBLE_EQ(e.denial().retry_after_seconds(), 60.001);
    EXPECT_EQ(std::string(e.what()), denied.denial().message());
  }
}

TEST_P(LeaseFailures, IsAvailableSaysWhetherTheStoreAnswers) {
  auto faulty = std::make_shared<FaultyStore>(store_);
  auto l = RateLimiter::Open(faulty, {.clock = &clock_, .timeout = testing::kTestTimeout});
  EXPECT_TRUE(l->IsAvailable());
  faulty->FailNth(StoreOp::kGet, 1, StoreError("down"), /*down=*/true);
  EXPECT_FALSE(l->IsAvailable());
  EXPECT_TRUE(faulty->fired());
  faulty->Heal();
  EXPECT_TRUE(l->IsAvailable());
}

INSTANTIATE_TEST_SUITE_P(Stores, LeaseFailures, ::testing::ValuesIn(StoreFactories()), FactoryName);

}  // namespace
}  // namespace zae::testing

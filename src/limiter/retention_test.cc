// Retention on the stores without native TTL (memory, SQLite): the limiter
// deletes expired buckets and audit events (docs/sqlite.md says when). On
// a FakeClock. Not on DynamoDB, which expires items natively.
#include <gtest/gtest.h>

#include "limiter/keys.h"
#include "limiter/limiter_test_util.h"

namespace zae::testing {
namespace {

// Retention on the embedded stores (no native TTL): the limiter deletes
// expired buckets and audit events when it opens, then at most once an hour
// of its clock (docs/sqlite.md).
class Retention : public LimiterTest {
 protected:
  std::optional<Item> Bucket(const std::string& entity) {
    return store_->Get(keys::Bucket(limiter().namespace_id(), entity, "gpt-4", 0), true);
  }
  void Take(RateLimiter& l, const std::string& entity, Amounts consume) {
    auto r = l.Acquire(entity, "gpt-4", consume);
    ASSERT_TRUE(r.allowed());
    r.lease().Commit();
  }
  // The limiter's retention interval (rate_limiter_impl.h).
  static constexpr int64_t kIntervalMs = 3'600'000;
};

TEST_P(Retention, ExpiredBucketsAndAuditEventsAreDeleted) {
  ASSERT_FALSE(store_->capabilities().native_ttl);
  limiter().SetAuditRetentionDays(1);
  limiter().CreateEntity("e1", {});
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10)});
  Take(limiter(), "k1", {{"rpm", 1}});
  const int64_t t0 = clock_.NowMs();
  const int64_t k1_ttl = Bucket("k1")->at("ttl").as_number();
  EXPECT_EQ(k1_ttl, t0 / 1000 + 7 * 60);  // 7 x the time to refill from empty
  ASSERT_EQ(limiter().GetAuditEvents("e1").items.size(), 1u);

  // k1 expired 7 minutes in, but retention is not due before the hour.
  clock_.Set(t0 + 30 * 60'000);
  Take(limiter(), "k2", {{"rpm", 1}});  // a slow path
  EXPECT_TRUE(Bucket("k1"));
  // Due now: the next slow path deletes k1 and k2 (expired too), not k3.
  clock_.Set(t0 + kIntervalMs);
  Take(limiter(), "k3", {{"rpm", 1}});
  EXPECT_FALSE(Bucket("k1"));
  EXPECT_FALSE(Bucket("k2"));
  EXPECT_TRUE(Bucket("k3"));
  EXPECT_EQ(limiter().GetAuditEvents("e1").items.size(), 1u);  // kept a day

  // A day later a limiter that opens deletes the audit event (and k3).
  clock_.Set(t0 + 86'400'000 + 1000);
  auto reopened = Open();
  EXPECT_TRUE(reopened->GetAuditEvents("e1").items.empty());
  EXPECT_FALSE(Bucket("k3"));
  EXPECT_TRUE(reopened->GetEntity("e1"));  // no ttl: kept
}

INSTANTIATE_TEST_SUITE_P(Stores, Retention, ::testing::ValuesIn(StoreFactoriesExcept({"dynamodb"})),
                         FactoryName);

}  // namespace
}  // namespace zae::testing

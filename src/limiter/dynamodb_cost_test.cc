// Capacity units per acquire on DynamoDB (Local reports ConsumedCapacity,
// GSI writes included). With the reference's layout a warm acquire writes
// the item and its GSI2 copy (projection ALL): 2 WCU. The narrow-GSI2
// deploy option makes it 1 WCU.
#include <gtest/gtest.h>

#include "store/store_test_util.h"
#include "zae/rate_limiter.h"

namespace zae::testing {
namespace {

#ifdef ZAE_TEST_HAVE_DYNAMODB_STORE

double WarmAcquireWcu(bool narrow) {
  std::shared_ptr<Store> store = OpenFreshDynamoTable({.narrow_gsi2 = narrow});
  auto limiter = RateLimiter::Open(store, {.timeout = testing::kTestTimeout});
  limiter->SetResourceDefaults("res", {Limit::PerMinute("rpm", 100)});
  limiter->Acquire("k", "res", {{"rpm", 1}}).lease().Commit();  // creates the bucket
  store->ResetStats();
  auto r = limiter->Acquire("k", "res", {{"rpm", 1}});
  EXPECT_TRUE(r.allowed());
  r.lease().Commit();
  const StoreStats s = store->stats();
  EXPECT_EQ(s.calls, (std::map<std::string, int64_t>{{"UpdateItem", 1}}));
  EXPECT_EQ(s.read_units, 0);
  return s.write_units;
}

TEST(DynamoDbCost, WarmAcquireIsTwoWcuOrOneWithNarrowGsi2) {
  const std::string why = RequireEnv("ZAE_TEST_DYNAMODB_ENDPOINT")();
  if (!why.empty()) ZAE_DYNAMODB_UNAVAILABLE(why);
  EXPECT_DOUBLE_EQ(WarmAcquireWcu(false), 2.0);
  EXPECT_DOUBLE_EQ(WarmAcquireWcu(true), 1.0);
}

#endif

}  // namespace
}  // namespace zae::testing

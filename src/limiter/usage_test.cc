// Usage snapshots on the embedded stores (written inline with each bucket
// write): totals equal what was admitted, in the window it happened.
#include <gtest/gtest.h>

#include <stdexcept>

#include "limiter/limiter_test_util.h"
#include "limiter/usage.h"

namespace zae::testing {
namespace {

class Usage : public LimiterTest {
 protected:
  void SetUp() override {
    LimiterTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_FALSE(store_->capabilities().usage_from_stream);
  }
};

TEST_P(Usage, SummaryTotalsEqualAdmittedConsumption) {
  clock_.Set(1'767'225'600'000);  // 2026-01-01T00:00:00Z
  limiter().CreateEntity("proj", {});
  limiter().CreateEntity("key", {.parent_id = "proj", .cascade = true});
  limiter().SetResourceDefaults("gpt-4",
                                {Limit::PerMinute("rpm", 100), Limit::PerMinute("tpm", 100000)});
  int64_t tokens = 0, requests = 0;
  for (int i = 0; i < 5; ++i) {
    Lease lease = limiter().Acquire("key", "gpt-4", {{"rpm", 1}, {"tpm", 500}}).take_lease();
    lease.Adjust({{"tpm", 100 * i - 200}});  // real use differs from the estimate
    tokens += 500 + 100 * i - 200;
    ++requests;
    clock_.Advance(20 * 60 * 1000);  // spans two hourly windows
  }
  try {  // rolled back: counts nothing
    Lease lease = limiter().Acquire("key", "gpt-4", {{"rpm", 1}, {"tpm", 700}}).take_lease();
    throw std::runtime_error("upstream failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(limiter().Acquire("key", "gpt-4", {{"tpm", 1'000'000}}).allowed());  // denied

  UsageSummary child = limiter().GetUsageSummary({.entity_id = "key", .window_type = "daily"});
  EXPECT_EQ(child.snapshot_count, 1);
  EXPECT_EQ(child.total["tpm"], tokens);
  EXPECT_EQ(child.total["rpm"], requests);
  EXPECT_EQ(child.min_window_start, "2026-01-01T00:00:00Z");
  UsageSummary parent = limiter().GetUsageSummary({.entity_id = "proj", .window_type = "daily"});
  EXPECT_EQ(parent.total["tpm"], tokens);

  auto hourly = limiter().GetUsageSnapshots({.entity_id = "key", .window_type = "hourly"});
  ASSERT_EQ(hourly.items.size(), 2u);  // 00:00 and 01:00 (3 + 2 requests)
  EXPECT_EQ(hourly.items[0].window_start, "2026-01-01T01:00:00Z");  // newest first
  EXPECT_EQ(hourly.items[0].window_end, "2026-01-01T01:59:59Z");
  EXPECT_EQ(hourly.items[1].total_events, 3);
  EXPECT_EQ(hourly.items[0].total_events + hourly.items[1].total_events, requests);
  EXPECT_EQ(hourly.items[0].counters["tpm"] + hourly.items[1].counters["tpm"], tokens);

  // By resource (GSI2), paginated one at a time.
  std::string cursor;
  int64_t pages = 0, total = 0;
  do {
    auto page =
        limiter().GetUsageSnapshots({.resource = "gpt-4", .window_type = "daily"}, 1, cursor);
    for (const auto& s : page.items) total += s.counters.at("tpm");
    cursor = page.next_cursor;
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(total, 2 * tokens);  // key and proj
  EXPECT_THROW(limiter().GetUsageSnapshots({}), ValidationError);
  EXPECT_THROW(limiter().GetUsageSnapshots({.entity_id = "key", .window_type = "weekly"}),
               ValidationError);
}

TEST(UsageKeys, WindowsAndBucketKeys) {
  EXPECT_EQ(usage::WindowKey("hourly", 1'767'229'199'999), "2026-01-01T00:00:00Z");
  EXPECT_EQ(usage::WindowKey("daily", 1'767'229'200'000), "2026-01-01T00:00:00Z");
  EXPECT_EQ(usage::WindowKey("monthly", 1'767'229'200'000), "2026-01-01T00:00:00Z");
  // Keys are cached per hour: moving back and forth across a year boundary.
  EXPECT_EQ(usage::WindowKey("hourly", 1'767'225'599'999), "2025-12-31T23:00:00Z");
  EXPECT_EQ(usage::WindowKey("daily", 1'767'225'599'999), "2025-12-31T00:00:00Z");
  EXPECT_EQ(usage::WindowKey("monthly", 1'767'225'599'999), "2025-12-01T00:00:00Z");
  EXPECT_EQ(usage::WindowKey("daily", 1'767'229'199'999), "2026-01-01T00:00:00Z");
  EXPECT_EQ(usage::WindowKey("hourly", -1), "1969-12-31T23:00:00Z");
  EXPECT_EQ(usage::WindowEnd("monthly", "2028-02-01T00:00:00Z"), "2028-02-29T23:59:59Z");
  EXPECT_EQ(usage::WindowEnd("daily", "2026-03-04T00:00:00Z"), "2026-03-04T23:59:59Z");
  auto pk = usage::ParseBucketPk("a7x3kq-Zp_9/BUCKET#key-1#openai/gpt-4#3");
  ASSERT_TRUE(pk);
  EXPECT_EQ(pk->ns, "a7x3kq-Zp_9");
  EXPECT_EQ(pk->entity, "key-1");
  EXPECT_EQ(pk->resource, "openai/gpt-4");
  EXPECT_EQ(pk->shard, 3);
  EXPECT_FALSE(usage::ParseBucketPk("ns/ENTITY#x"));
  EXPECT_FALSE(usage::ParseBucketPk("ns/BUCKET#x#y#z"));
}

// Not on DynamoDB: usage comes from its stream there (src/aggregator tests).
INSTANTIATE_TEST_SUITE_P(Stores, Usage, ::testing::ValuesIn(StoreFactoriesExcept({"dynamodb"})),
                         FactoryName);

}  // namespace
}  // namespace zae::testing

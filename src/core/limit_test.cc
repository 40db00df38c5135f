#include "zae/limit.h"

#include <gtest/gtest.h>

#include "zae/errors.h"

namespace zae {
namespace {

TEST(Limit, ConstructorsSetPeriodAndBurstAsCapacity) {
  EXPECT_EQ(Limit::PerSecond("rps", 10), (Limit{"rps", 10, 10, 1}));
  EXPECT_EQ(Limit::PerMinute("rpm", 100, 150), (Limit{"rpm", 150, 100, 60}));
  EXPECT_EQ(Limit::PerHour("rph", 5), (Limit{"rph", 5, 5, 3600}));
  EXPECT_EQ(Limit::PerDay("tpd", 7, 3), (Limit{"tpd", 3, 7, 86400}));  // burst < rate accepted
  EXPECT_EQ(Limit::Custom("x", 4, 2, 9), (Limit{"x", 4, 2, 9}));
  EXPECT_DOUBLE_EQ(Limit::PerMinute("rpm", 120).refill_rate(), 2.0);
  EXPECT_EQ(Limit::PerMinute("rpm", 120).refill_period_ms(), 60000);
}

TEST(Limit, RejectsNonPositiveAndOversizedValues) {
  try {
    Limit::PerMinute("rpm", 0);
    FAIL();
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.field(), "capacity");
    EXPECT_STREQ(e.what(), "Invalid capacity: capacity must be positive");
  }
  EXPECT_THROW(Limit::Custom("x", 1, -1, 1), ValidationError);
  EXPECT_THROW(Limit::Custom("x", 1, 1, 0), ValidationError);
  EXPECT_THROW(Limit::Custom("x", kMaxLimitValue + 1, 1, 1), ValidationError);
  EXPECT_NO_THROW(Limit::Custom("x", kMaxLimitValue, kMaxLimitValue, kMaxLimitValue));
}

TEST(Limit, RejectsBadAndReservedNames) {
  EXPECT_THROW(Limit::PerMinute("wcu", 1), InvalidNameError);
  EXPECT_THROW(Limit::PerMinute("1rpm", 1), InvalidNameError);
  EXPECT_THROW(Limit::PerMinute("", 1), InvalidNameError);
  EXPECT_NO_THROW(Limit::PerMinute("rpm-x.v2", 1));
}

TEST(Limit, ValidateLimitsRejectsDuplicates) {
  EXPECT_THROW(ValidateLimits({Limit::PerMinute("rpm", 1), Limit::PerHour("rpm", 2)}),
               ValidationError);
  EXPECT_NO_THROW(ValidateLimits({Limit::PerMinute("rpm", 1), Limit::PerMinute("tpm", 2)}));
}

}  // namespace
}  // namespace zae

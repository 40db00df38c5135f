#include "zae/clock.h"

#include <gtest/gtest.h>

namespace zae {
namespace {

TEST(FakeClock, MovesOnlyWhenTold) {
  FakeClock clock(1000);
  EXPECT_EQ(clock.NowMs(), 1000);
  clock.Advance(250);
  EXPECT_EQ(clock.NowMs(), 1250);
  clock.SleepMs(50);
  EXPECT_EQ(clock.NowMs(), 1300);
  clock.Set(5);
  EXPECT_EQ(clock.NowMs(), 5);
}

TEST(SystemClock, IsEpochMilliseconds) {
  const int64_t now = SystemClock::Default()->NowMs();
  EXPECT_GT(now, 1'600'000'000'000);  // after 2020
  EXPECT_LT(now, 4'100'000'000'000);  // before 2100
  EXPECT_LE(now, SystemClock::Default()->NowMs());
}

}  // namespace
}  // namespace zae

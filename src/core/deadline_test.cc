#include "core/deadline.h"

#include <gtest/gtest.h>

#include <thread>

namespace zae {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(DeadlineScopeTest, NoneOutsideAScope) {
  EXPECT_FALSE(HasDeadline());
  EXPECT_EQ(CurrentDeadline(), DeadlineClock::time_point::max());
}

TEST(DeadlineScopeTest, ATimeoutStartsWhenFirstAskedAndThenStays) {
  DeadlineScope scope(seconds(5));
  EXPECT_TRUE(HasDeadline());
  std::this_thread::sleep_for(milliseconds(20));
  const auto before = DeadlineClock::now();
  const auto first = CurrentDeadline();
  EXPECT_GE(first, before + seconds(5));  // counted from the first question
  EXPECT_LE(first, DeadlineClock::now() + seconds(5));
  std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(CurrentDeadline(), first);  // fixed from then on
}

TEST(DeadlineScopeTest, NestedScopesKeepTheEarliestAndRestore) {
  {
    DeadlineScope outer(seconds(10));
    const auto outer_at = CurrentDeadline();
    {
      DeadlineScope inner(seconds(1));
      EXPECT_LT(CurrentDeadline(), outer_at);
      DeadlineScope longer(seconds(60));  // cannot extend
      EXPECT_LT(CurrentDeadline(), outer_at);
    }
    EXPECT_EQ(CurrentDeadline(), outer_at);
    const auto absolute = DeadlineClock::now() + milliseconds(1);
    {
      DeadlineScope at(absolute);
      EXPECT_EQ(CurrentDeadline(), absolute);
    }
    EXPECT_EQ(CurrentDeadline(), outer_at);
  }
  EXPECT_FALSE(HasDeadline());
}

TEST(DeadlineScopeTest, AnOuterPendingTimeoutIsFixedBeforeAnInnerOne) {
  DeadlineScope outer(milliseconds(50));
  {
    DeadlineScope inner(seconds(60));
    EXPECT_LE(CurrentDeadline(), DeadlineClock::now() + milliseconds(50));
  }
  // The outer one started when the inner scope opened, not later.
  std::this_thread::sleep_for(milliseconds(60));
  EXPECT_LT(CurrentDeadline(), DeadlineClock::now());
}

TEST(DeadlineScopeTest, PerThread) {
  DeadlineScope scope(seconds(1));
  bool other_has = true;
  std::thread([&] { other_has = HasDeadline(); }).join();
  EXPECT_FALSE(other_has);
}

}  // namespace
}  // namespace zae

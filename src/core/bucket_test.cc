#include "zae/bucket.h"

#include "core/int128.h"

#include <gtest/gtest.h>

#include <limits>

namespace zae {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

BucketState State(int64_t tk, int64_t rf, int64_t cp, int64_t ra, int64_t rp) {
  BucketState s;
  s.tokens_milli = tk;
  s.last_refill_ms = rf;
  s.capacity_milli = cp;
  s.refill_amount_milli = ra;
  s.refill_period_ms = rp;
  s.total_consumed_milli = 0;
  return s;
}

TEST(FloorDiv, RoundsTowardNegativeInfinity) {
  EXPECT_EQ(FloorDiv(7, 1000), 0);
  EXPECT_EQ(FloorDiv(-1, 1000), -1);
  EXPECT_EQ(FloorDiv(-1000, 1000), -1);
  EXPECT_EQ(FloorDiv(-1001, 1000), -2);
  EXPECT_EQ(FloorDiv(kMin, 1000), -9223372036854776);
  EXPECT_EQ(FloorDiv(kMax, 1000), 9223372036854775);
}

struct RefillCase {
  int64_t tk, rf, now, cp, ra, rp;
  Refilled want;
};

TEST(Refill, Vectors) {
  const RefillCase cases[] = {
      // elapsed <= 0: unchanged (same ms, clock skew)
      {5000, 1000, 1000, 10000, 10000, 60000, {5000, 1000}},
      {5000, 1000, 900, 10000, 10000, 60000, {5000, 1000}},
      // 10 tokens per minute: 5 ms mints 10000*5/60000 = 0 -> rf not advanced
      {5000, 0, 5, 10000, 10000, 60000, {5000, 0}},
      // 6 ms -> add 1, used = 1*60000//10000 = 6
      {5000, 0, 6, 10000, 10000, 60000, {5001, 6}},
      // 7 ms -> add 1 (7*10000/60000=1.16), used 6: the 1 ms remainder is kept
      {5000, 0, 7, 10000, 10000, 60000, {5001, 6}},
      // full minute refills exactly to capacity
      {0, 0, 60000, 10000, 10000, 60000, {10000, 60000}},
      // cap applies; time still advances by what was minted
      {9000, 0, 60000, 10000, 10000, 60000, {10000, 60000}},
      // debt refills normally: -5000 + 3000
      {-5000, 0, 18000, 10000, 10000, 60000, {-2000, 18000}},
      // above capacity (lowered cp) is clamped on a minting refill
      {20000, 0, 6, 10000, 10000, 60000, {10000, 6}},
      // above capacity stays when nothing is minted
      {20000, 0, 5, 10000, 10000, 60000, {20000, 0}},
      // 3 per 7 seconds: 1000 ms -> 3000*1000/7000 = 428, used = 428*7000//3000 = 998
      {0, 0, 1000, 3000, 3000, 7000, {428, 998}},
      // corrupt rate (ra = 0) mints nothing instead of dividing by zero
      {0, 0, 1000, 3000, 0, 7000, {0, 0}},
      {0, 0, 1000, 3000, 3000, 0, {0, 0}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Refill(c.tk, c.rf, c.now, c.cp, c.ra, c.rp), c.want)
        << c.tk << " " << c.rf << " " << c.now << " " << c.cp << " " << c.ra << " " << c.rp;
  }
}

TEST(Refill, NearInt64LimitsSaturatesInsteadOfOverflowing) {
  // elapsed * ra overflows 64 bits; the 128-bit path caps at cp.
  EXPECT_EQ(Refill(0, 0, kMax, kMax, kMax, 1), (Refilled{kMax, kMax}));
  // Huge negative rf: elapsed itself exceeds int64.
  const Refilled r = Refill(kMin, kMin, kMax, 1000, 1000, 1000);
  EXPECT_EQ(r.tokens_milli, 1000);
  EXPECT_EQ(r.refill_ms, kMax);  // rf + elapsed = now: all of it was used
  // tk + add beyond int64 when cp is max.
  EXPECT_EQ(Refill(kMax - 5, 0, 1000, kMax, 1000, 1).tokens_milli, kMax);
}

TEST(RetryAfter, AddsOneMillisecond) {
  EXPECT_EQ(RetryAfterSeconds(0, 1000, 1000), 0.0);
  EXPECT_EQ(RetryAfterSeconds(-5, 1000, 1000), 0.0);
  // 1 token at 10/min: 1000*60000//10000 = 6000 ms -> 6.001 s
  EXPECT_DOUBLE_EQ(RetryAfterSeconds(1000, 10000, 60000), 6.001);
  // floor in the ms computation: 1 milli at 3 per 7 s = 7000/3000 = 2.33 -> 2 ms
  EXPECT_DOUBLE_EQ(RetryAfterSeconds(1, 3000, 7000), 0.003);
  // deficit * rp beyond 64 bits
  EXPECT_DOUBLE_EQ(RetryAfterSeconds(kMax, 1, kMax),
                   static_cast<double>(static_cast<Int128>(kMax) * kMax + 1) / 1000.0);
}

TEST(TryConsume, SuccessFailureAndDebt) {
  // 10 rpm bucket with 5 tokens.
  const BucketState s = State(5000, 0, 10000, 10000, 60000);
  auto ok = TryConsume(s, 5, 0);
  EXPECT_TRUE(ok.success);
  EXPECT_EQ(ok.tokens_milli, 0);
  EXPECT_EQ(ok.retry_after_seconds, 0.0);

  auto fail = TryConsume(s, 6, 0);
  EXPECT_FALSE(fail.success);
  EXPECT_EQ(fail.tokens_milli, 5000);
  EXPECT_DOUBLE_EQ(fail.retry_after_seconds, 6.001);

  // zero fails on a negative balance, with a retry_after
  const BucketState debt = State(-1, 0, 10000, 10000, 60000);
  auto zero = TryConsume(debt, 0, 0);
  EXPECT_FALSE(zero.success);
  EXPECT_DOUBLE_EQ(zero.retry_after_seconds, 0.007);  // 1*60000//10000 = 6 ms + 1
  // zero succeeds on an empty (not negative) balance
  EXPECT_TRUE(TryConsume(State(0, 0, 10000, 10000, 60000), 0, 0).success);
  // negative amounts add tokens without the cap
  auto neg = TryConsume(s, -20, 0);
  EXPECT_TRUE(neg.success);
  EXPECT_EQ(neg.tokens_milli, 25000);
  // refill happens first and is visible in the result
  auto later = TryConsume(State(0, 0, 10000, 10000, 60000), 1, 6000);
  EXPECT_TRUE(later.success);
  EXPECT_EQ(later.tokens_milli, 0);
  EXPECT_EQ(later.refill_ms, 6000);
  // larger than capacity fails forever but reports a finite retry
  auto huge = TryConsume(State(10000, 0, 10000, 10000, 60000), 11, 0);
  EXPECT_FALSE(huge.success);
  EXPECT_DOUBLE_EQ(huge.retry_after_seconds, 6.001);
}

TEST(TryConsume, ExtremeAmountsSaturate) {
  const BucketState s = State(0, 0, 1000, 1000, 1000);
  auto r = TryConsume(s, kMin / 2, 0);  // credit beyond int64 saturates
  EXPECT_TRUE(r.success);
  EXPECT_EQ(r.tokens_milli, kMax);
  auto f = TryConsume(s, kMax, 0);  // request beyond int64 milli
  EXPECT_FALSE(f.success);
  EXPECT_GT(f.retry_after_seconds, 0.0);
}

TEST(ForceConsume, GoesIntoDebtAndReturnsTokens) {
  const BucketState s = State(2000, 0, 10000, 10000, 60000);
  EXPECT_EQ(ForceConsume(s, 5, 0), (Refilled{-3000, 0}));
  EXPECT_EQ(ForceConsume(s, -5, 0), (Refilled{7000, 0}));
  EXPECT_EQ(ForceConsume(s, 5, 6000), (Refilled{-2000, 6000}));
  EXPECT_EQ(ForceConsume(State(kMin + 10, 0, 1, 1, 1), 1, 0).tokens_milli, kMin);
}

TEST(Available, FloorsNegativeBalances) {
  EXPECT_EQ(AvailableTokens(State(1999, 0, 10000, 10000, 60000), 0), 1);
  EXPECT_EQ(AvailableTokens(State(-1, 0, 10000, 10000, 60000), 0), -1);
  EXPECT_EQ(AvailableTokens(State(-1000, 0, 10000, 10000, 60000), 0), -1);
  EXPECT_EQ(AvailableTokens(State(-1001, 0, 10000, 10000, 60000), 0), -2);
  EXPECT_EQ(AvailableTokens(State(0, 0, 10000, 10000, 60000), 60000), 10);
}

TEST(TimeUntilAvailable, ZeroWhenEnoughElseRetryAfter) {
  const BucketState s = State(2000, 0, 10000, 10000, 60000);
  EXPECT_EQ(TimeUntilAvailable(s, 2, 0), 0.0);
  EXPECT_DOUBLE_EQ(TimeUntilAvailable(s, 3, 0), 6.001);
  EXPECT_DOUBLE_EQ(TimeUntilAvailable(s, 3, 3000), 3.001);  // 0.5 token refilled
}

TEST(BucketTtl, TruncatesMaxFillTimeTimesMultiplier) {
  EXPECT_EQ(BucketTtlSeconds({Limit::PerMinute("rpm", 100)}, 7), 420);
  EXPECT_EQ(BucketTtlSeconds({Limit::PerSecond("rps", 10), Limit::PerHour("rph", 5)}, 7), 7 * 3600);
  // burst 150 on 100/min: 1.5 minutes * 7 = 630
  EXPECT_EQ(BucketTtlSeconds({Limit::PerMinute("rpm", 100, 150)}, 7), 630);
  // 1 per 1000/s: 0.001 * 7 = 0.007 truncates to 0
  EXPECT_EQ(BucketTtlSeconds({Limit::Custom("x", 1, 1000, 1)}, 7), 0);
  // 1/3 * 7 seconds: double math 2.333.. -> 2
  EXPECT_EQ(BucketTtlSeconds({Limit::Custom("x", 1, 3, 1)}, 7), 2);
  EXPECT_EQ(BucketTtlSeconds({Limit::PerMinute("rpm", 100)}, 0), std::nullopt);
  EXPECT_EQ(BucketTtlSeconds({Limit::PerMinute("rpm", 100)}, -1), std::nullopt);
  EXPECT_EQ(BucketTtlSeconds({}, 7), std::nullopt);
  EXPECT_EQ(BucketTtlSeconds({Limit::Custom("x", kMaxLimitValue, 1, kMaxLimitValue)}, 7), kMax);
}

TEST(BucketState, FromLimitIsFull) {
  const BucketState s = BucketState::FromLimit(Limit::PerMinute("rpm", 100, 150), 42);
  EXPECT_EQ(s.tokens_milli, 150000);
  EXPECT_EQ(s.capacity_milli, 150000);
  EXPECT_EQ(s.refill_amount_milli, 100000);
  EXPECT_EQ(s.refill_period_ms, 60000);
  EXPECT_EQ(s.last_refill_ms, 42);
  EXPECT_EQ(s.total_consumed_milli, 0);
}

TEST(Saturating, AddAndMilli) {
  EXPECT_EQ(SaturatingAdd(kMax, 1), kMax);
  EXPECT_EQ(SaturatingAdd(kMin, -1), kMin);
  EXPECT_EQ(SaturatingAdd(5, -7), -2);
  EXPECT_EQ(ToMilli(kMax), kMax);
  EXPECT_EQ(ToMilli(-3), -3000);
}

}  // namespace
}  // namespace zae

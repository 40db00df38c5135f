// Long random sequences of refill / consume / adjust checked step by step
// against a slow model written straight from runtime.md §1 with Python
// semantics, plus the conservation and cap invariants.
#include <gtest/gtest.h>

#include <random>

#include "zae/bucket.h"

#include "core/int128.h"

namespace zae {
namespace {

using i128 = Int128;

// Python's // for integers.
i128 PyFloorDiv(i128 a, i128 b) {
  i128 q = a / b;
  i128 r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) q -= 1;
  return q;
}

struct Model {
  i128 tk, rf, cp, ra, rp, tc = 0;

  // refill_bucket
  std::pair<i128, i128> Refill(i128 now) const {
    i128 elapsed = now - rf;
    if (elapsed <= 0) return {tk, rf};
    i128 add = PyFloorDiv(elapsed * ra, rp);
    if (add == 0) return {tk, rf};
    i128 used = PyFloorDiv(add * rp, ra);
    return {tk + add < cp ? tk + add : cp, rf + used};
  }
  double Retry(i128 deficit) const {
    if (deficit <= 0) return 0.0;
    i128 ms = PyFloorDiv(deficit * rp, ra);
    return static_cast<double>(ms + 1) / 1000.0;
  }
};

BucketState ToState(const Model& m) {
  BucketState s;
  s.tokens_milli = static_cast<int64_t>(m.tk);
  s.last_refill_ms = static_cast<int64_t>(m.rf);
  s.capacity_milli = static_cast<int64_t>(m.cp);
  s.refill_amount_milli = static_cast<int64_t>(m.ra);
  s.refill_period_ms = static_cast<int64_t>(m.rp);
  s.total_consumed_milli = static_cast<int64_t>(m.tc);
  return s;
}

class BucketPropertyTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(BucketPropertyTest, MatchesSlowModel) {
  std::mt19937_64 rng(GetParam());
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  constexpr int kSteps = 25'000;  // x4 seeds = 10^5 steps per run
  int64_t now = pick(0, int64_t{1} << 42);
  const int64_t periods[] = {1000, 60000, 3600000, 86400000, 7000};
  Model m;
  m.cp = pick(1, 1'000'000) * 1000;
  m.ra = pick(1, 1'000'000) * 1000;
  m.rp = periods[pick(0, 4)];
  m.tk = m.cp;
  m.rf = now;
  i128 minted = 0, consumed = 0, initial = m.tk;

  for (int step = 0; step < kSteps; ++step) {
    const int op = static_cast<int>(pick(0, 9));
    // Time moves mostly forward, sometimes not at all, rarely backwards.
    const int64_t dt = op == 0 ? -pick(0, 50) : (pick(0, 3) == 0 ? 0 : pick(0, 5000));
    now += dt;
    const BucketState s = ToState(m);
    auto [want_tk, want_rf] = m.Refill(now);
    const Refilled got = Refill(s, now);
    ASSERT_EQ(got.tokens_milli, static_cast<int64_t>(want_tk)) << "step " << step;
    ASSERT_EQ(got.refill_ms, static_cast<int64_t>(want_rf)) << "step " << step;
    // Cap invariant: refill never lifts the balance above max(cp, tk).
    ASSERT_LE(want_tk, m.tk > m.cp ? m.tk : m.cp);
    ASSERT_LE(want_rf, now > m.rf ? now : m.rf);

    ASSERT_EQ(AvailableTokens(s, now), static_cast<int64_t>(PyFloorDiv(want_tk, 1000)));
    const int64_t need = pick(0, m.cp / 1000 + 5);
    ASSERT_DOUBLE_EQ(TimeUntilAvailable(s, need, now),
                     want_tk >= need * 1000 ? 0.0 : m.Retry(need * 1000 - want_tk));

    if (op < 6) {  // try_consume, sometimes 0, rarely negative
      const int64_t amount = op == 5 ? -pick(0, 3) : pick(0, m.cp / 1000 / 2 + 2);
      const ConsumeResult r = TryConsume(s, amount, now);
      const bool want_ok = want_tk >= i128{amount} * 1000;
      ASSERT_EQ(r.success, want_ok) << "step " << step;
      ASSERT_EQ(r.refill_ms, static_cast<int64_t>(want_rf));
      if (want_ok) {
        ASSERT_EQ(r.tokens_milli, static_cast<int64_t>(want_tk - i128{amount} * 1000));
        ASSERT_EQ(r.retry_after_seconds, 0.0);
        if (amount > 0) m.tc += i128{amount} * 1000;
        consumed += i128{amount} * 1000;
      } else {
        ASSERT_EQ(r.tokens_milli, static_cast<int64_t>(want_tk));
        ASSERT_DOUBLE_EQ(r.retry_after_seconds, m.Retry(i128{amount} * 1000 - want_tk));
      }
      minted += want_tk - m.tk;
      m.tk = r.tokens_milli;
      m.rf = r.refill_ms;
    } else {  // adjust (force): may go into debt or give back
      const int64_t amount = pick(-m.cp / 1000, m.cp / 1000);
      const Refilled r = ForceConsume(s, amount, now);
      ASSERT_EQ(r.tokens_milli, static_cast<int64_t>(want_tk - i128{amount} * 1000));
      ASSERT_EQ(r.refill_ms, static_cast<int64_t>(want_rf));
      minted += want_tk - m.tk;
      consumed += i128{amount} * 1000;
      m.tc += i128{amount} * 1000;
      m.tk = r.tokens_milli;
      m.rf = r.refill_ms;
    }
    // Conservation: balance = start + refills (net of caps) - consumption.
    ASSERT_EQ(m.tk, initial + minted - consumed);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, BucketPropertyTest, ::testing::Values(1u, 2u, 3u, 20261128u));

}  // namespace
}  // namespace zae

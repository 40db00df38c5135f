#include "zae/bucket.h"

#include "core/int128.h"

#include <algorithm>
#include <limits>

namespace zae {
namespace {

using i128 = Int128;

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

int64_t Saturate(i128 v) {
  if (v > kMax) return kMax;
  if (v < kMin) return kMin;
  return static_cast<int64_t>(v);
}

}  // namespace

BucketState BucketState::FromLimit(const Limit& limit, int64_t now_ms) {
  BucketState s;
  s.tokens_milli = ToMilli(limit.capacity);
  s.capacity_milli = s.tokens_milli;
  s.refill_amount_milli = ToMilli(limit.refill_amount);
  s.refill_period_ms = ToMilli(limit.refill_period_seconds);
  s.last_refill_ms = now_ms;
  s.total_consumed_milli = 0;
  return s;
}

Refilled Refill(int64_t tk, int64_t rf, int64_t now, int64_t cp, int64_t ra, int64_t rp) {
  const i128 elapsed = static_cast<i128>(now) - rf;
  if (elapsed <= 0 || ra <= 0 || rp <= 0) return {tk, rf};
  const i128 add = elapsed * ra / rp;  // both positive: truncation == floor
  if (add == 0) return {tk, rf};
  // add <= elapsed * ra / rp, so used <= elapsed and rf + used <= now.
  const i128 used = std::min<i128>(add * rp / ra, elapsed);
  return {Saturate(std::min<i128>(cp, static_cast<i128>(tk) + add)),
          Saturate(static_cast<i128>(rf) + used)};
}

Refilled Refill(const BucketState& s, int64_t now_ms) {
  return Refill(s.tokens_milli, s.last_refill_ms, now_ms, s.capacity_milli, s.refill_amount_milli,
                s.refill_period_ms);
}

double RetryAfterSeconds(int64_t deficit, int64_t ra, int64_t rp) {
  if (deficit <= 0) return 0.0;
  if (ra <= 0 || rp <= 0) return static_cast<double>(kMax) / 1000.0;
  const i128 ms = static_cast<i128>(deficit) * rp / ra;
  return static_cast<double>(ms + 1) / 1000.0;
}

ConsumeResult TryConsume(const BucketState& s, int64_t requested, int64_t now_ms) {
  const Refilled r = Refill(s, now_ms);
  const i128 req = static_cast<i128>(requested) * 1000;
  if (r.tokens_milli >= req) {
    return {true, Saturate(r.tokens_milli - req), r.refill_ms, 0.0};
  }
  const int64_t deficit = Saturate(req - r.tokens_milli);
  return {false, r.tokens_milli, r.refill_ms,
          RetryAfterSeconds(deficit, s.refill_amount_milli, s.refill_period_ms)};
}

Refilled ForceConsume(const BucketState& s, int64_t amount, int64_t now_ms) {
  const Refilled r = Refill(s, now_ms);
  return {Saturate(static_cast<i128>(r.tokens_milli) - static_cast<i128>(amount) * 1000),
          r.refill_ms};
}

int64_t AvailableTokens(const BucketState& s, int64_t now_ms) {
  return FloorDiv(Refill(s, now_ms).tokens_milli, 1000);
}

double TimeUntilAvailable(const BucketState& s, int64_t needed, int64_t now_ms) {
  const Refilled r = Refill(s, now_ms);
  const i128 need = static_cast<i128>(needed) * 1000;
  if (r.tokens_milli >= need) return 0.0;
  return RetryAfterSeconds(Saturate(need - r.tokens_milli), s.refill_amount_milli,
                           s.refill_period_ms);
}

std::optional<int64_t> BucketTtlSeconds(const std::vector<Limit>& limits, double multiplier) {
  if (multiplier <= 0 || limits.empty()) return std::nullopt;
  double longest = 0;
  bool first = true;
  for (const Limit& l : limits) {
    const double fill = static_cast<double>(l.capacity) / static_cast<double>(l.refill_amount) *
                        static_cast<double>(l.refill_period_seconds);
    if (first || fill > longest) longest = fill;
    first = false;
  }
  const double ttl = longest * multiplier;
  if (ttl >= 9.2e18) return kMax;
  return static_cast<int64_t>(ttl);  // truncation toward zero, as Python's int()
}

}  // namespace zae

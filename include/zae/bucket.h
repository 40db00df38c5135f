// Token-bucket arithmetic in integer millitokens, exactly as the reference
// (runtime.md §1.5-§1.10, §3.10). Pure functions: no I/O, no clock, no state;
// thread-safe. Products use 128-bit intermediates and results saturate at the
// int64 range, so no input in that range overflows.
#ifndef ZAE_BUCKET_H_
#define ZAE_BUCKET_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "zae/limit.h"

namespace zae {

// One limit's stored state. Units: milli (tokens x 1000) and milliseconds.
struct BucketState {
  int64_t tokens_milli = 0;
  int64_t last_refill_ms = 0;
  int64_t capacity_milli = 0;
  int64_t refill_amount_milli = 0;
  int64_t refill_period_ms = 0;
  // Net consumption counter (b_{name}_tc); absent only on very old items.
  std::optional<int64_t> total_consumed_milli;

  // A full bucket for `limit` created at `now_ms`.
  static BucketState FromLimit(const Limit& limit, int64_t now_ms);

  friend bool operator==(const BucketState&, const BucketState&) = default;
};

// Python-style floor division (rounds toward -infinity). b must be > 0.
// Inline: it runs several times per acquire. a / b cannot overflow for b > 0.
inline int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

struct Refilled {
  int64_t tokens_milli;
  int64_t refill_ms;  // drift-compensated timestamp: rf + time actually used
  friend bool operator==(const Refilled&, const Refilled&) = default;
};

// Lazy refill (§1.5). No refill (unchanged rf) when elapsed <= 0 or when less
// than one millitoken was minted; otherwise min(cp, tk + add) and rf + used.
// A non-positive ra or rp (corrupt data) mints nothing instead of dividing by 0.
Refilled Refill(int64_t tokens_milli, int64_t last_refill_ms, int64_t now_ms,
                int64_t capacity_milli, int64_t refill_amount_milli, int64_t refill_period_ms);
Refilled Refill(const BucketState& state, int64_t now_ms);

// Seconds until `deficit_milli` has refilled, plus 1 ms (§1.7); 0 if deficit <= 0.
double RetryAfterSeconds(int64_t deficit_milli, int64_t refill_amount_milli,
                         int64_t refill_period_ms);

struct ConsumeResult {
  bool success;
  int64_t tokens_milli;  // after refill, and after the consumption on success
  int64_t refill_ms;
  double retry_after_seconds;  // 0 on success
};

// Refill, then consume `requested` tokens iff the balance covers it (§1.6).
// Zero fails on a negative balance; a negative amount always succeeds.
ConsumeResult TryConsume(const BucketState& state, int64_t requested, int64_t now_ms);

// Refill, then subtract `amount` tokens unconditionally (debt allowed, §1.9).
Refilled ForceConsume(const BucketState& state, int64_t amount, int64_t now_ms);

// Whole tokens after refill, floored (may be negative) (§1.8).
int64_t AvailableTokens(const BucketState& state, int64_t now_ms);

// Seconds until `needed` tokens are available; 0 if they are (§1.8).
double TimeUntilAvailable(const BucketState& state, int64_t needed, int64_t now_ms);

// Bucket TTL in seconds (§3.10): trunc(max_i(cp_i / ra_i * rp_i) * multiplier)
// in double precision; nullopt when multiplier <= 0 or `limits` is empty.
std::optional<int64_t> BucketTtlSeconds(const std::vector<Limit>& limits, double multiplier);

// tokens x 1000 with saturation at the int64 range.
inline int64_t ToMilli(int64_t tokens) {
  int64_t out;
  if (__builtin_mul_overflow(tokens, int64_t{1000}, &out)) {
    return tokens < 0 ? INT64_MIN : INT64_MAX;
  }
  return out;
}

// Saturating int64 arithmetic used by every store when applying ADD deltas.
// -a, saturating: -INT64_MIN is INT64_MAX.
inline int64_t SaturatingNeg(int64_t a) { return a == INT64_MIN ? INT64_MAX : -a; }

inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t out;
  if (__builtin_add_overflow(a, b, &out)) return b < 0 ? INT64_MIN : INT64_MAX;
  return out;
}

}  // namespace zae

#endif  // ZAE_BUCKET_H_

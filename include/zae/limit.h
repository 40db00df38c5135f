// Limit: one token bucket's configuration, in whole tokens and seconds.
//
// The constructors mirror the reference (Limit.per_second, ...): `rate` is the
// refill amount per period and `burst`, when given, becomes the capacity.
// Every constructor validates and throws ValidationError/InvalidNameError;
// values are bounded so that the millitoken forms (x1000) fit in int64.
// Limit is a plain value type: copyable, thread-compatible.
#ifndef ZAE_LIMIT_H_
#define ZAE_LIMIT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace zae {

// Largest capacity/refill amount (tokens) and period (seconds) accepted, so
// that x1000 never overflows int64.
inline constexpr int64_t kMaxLimitValue = INT64_MAX / 1000;

struct Limit {
  std::string name;
  int64_t capacity = 0;
  int64_t refill_amount = 0;
  int64_t refill_period_seconds = 0;

  static Limit PerSecond(std::string name, int64_t rate, std::optional<int64_t> burst = {});
  static Limit PerMinute(std::string name, int64_t rate, std::optional<int64_t> burst = {});
  static Limit PerHour(std::string name, int64_t rate, std::optional<int64_t> burst = {});
  static Limit PerDay(std::string name, int64_t rate, std::optional<int64_t> burst = {});
  static Limit Custom(std::string name, int64_t capacity, int64_t refill_amount,
                      int64_t refill_period_seconds);

  // Tokens per second; for display only (the math never uses floats).
  double refill_rate() const {
    return static_cast<double>(refill_amount) / static_cast<double>(refill_period_seconds);
  }
  int64_t capacity_milli() const { return capacity * 1000; }
  int64_t refill_amount_milli() const { return refill_amount * 1000; }
  int64_t refill_period_ms() const { return refill_period_seconds * 1000; }

  friend bool operator==(const Limit&, const Limit&) = default;
};

// Throws unless the limit has a valid name and positive, bounded values.
void ValidateLimit(const Limit& limit);

// Validates each limit and rejects duplicate names.
void ValidateLimits(const std::vector<Limit>& limits);

}  // namespace zae

#endif  // ZAE_LIMIT_H_

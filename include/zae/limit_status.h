// LimitStatus and Denial: the outcome of checking limits.
//
// Denial is the reference's RateLimitExceeded as a value: it holds every
// checked status, and derives violations, the primary violation (largest
// retry_after, first on ties) and the retry-after forms. RateLimitExceeded
// wraps a Denial for callers who throw. Values; thread-compatible.
#ifndef ZAE_LIMIT_STATUS_H_
#define ZAE_LIMIT_STATUS_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "zae/errors.h"
#include "zae/limit.h"

namespace zae {

struct LimitStatus {
  std::string entity_id;
  std::string resource;
  std::string limit_name;
  Limit limit;
  int64_t available = 0;  // whole tokens, floored, may be negative
  int64_t requested = 0;
  bool exceeded = false;
  double retry_after_seconds = 0.0;

  int64_t deficit() const;  // max(0, requested - available)
};

class Denial {
 public:
  // Throws std::invalid_argument unless at least one status is exceeded.
  explicit Denial(std::vector<LimitStatus> statuses);
  // Moves the statuses out of `statuses`. Up to kInlineStatuses are kept
  // inside the Denial, so a warm denial allocates nothing.
  static Denial MoveFrom(std::span<LimitStatus> statuses);
  Denial(const Denial& other);
  Denial(Denial&& other) noexcept;
  Denial& operator=(const Denial& other);
  Denial& operator=(Denial&& other) noexcept;
  ~Denial();

  static constexpr size_t kInlineStatuses = 2;

  std::span<const LimitStatus> statuses() const {
    return inline_size_ > 0 ? std::span<const LimitStatus>(inline_.s, inline_size_)
                            : std::span<const LimitStatus>(statuses_);
  }
  std::vector<LimitStatus> violations() const;
  std::vector<LimitStatus> passed() const;
  const LimitStatus& primary_violation() const { return statuses()[primary_]; }
  double retry_after_seconds() const { return primary_violation().retry_after_seconds; }
  // trunc(retry_after_seconds x 1000), as the reference's as_dict().
  int64_t retry_after_ms() const;
  // The HTTP Retry-After value: trunc(seconds) + 1, always rounded up.
  std::string retry_after_header() const;
  // "Rate limit exceeded for {entity}/{resource}: [a, b]. Retry after 1.2s"
  std::string message() const;
  // The reference's as_dict() as one JSON object: error, message,
  // retry_after_seconds, retry_after_ms, limits[{entity_id, resource,
  // limit_name, capacity, refill_amount, refill_period_seconds, available,
  // requested, exceeded, retry_after_seconds}].
  std::string ToJson() const;

 private:
  struct MoveTag {};
  Denial(MoveTag, std::span<LimitStatus> statuses);
  void Adopt(std::span<LimitStatus> statuses);
  void Clear();
  void FindPrimary();

  // The statuses live either inline (inline_size_ > 0) or in statuses_.
  union Inline {
    Inline() {}
    ~Inline() {}
    LimitStatus s[kInlineStatuses];
  } inline_;
  size_t inline_size_ = 0;
  std::vector<LimitStatus> statuses_;
  size_t primary_ = 0;
};

// The statuses as one JSON array of objects with the keys of
// Denial::ToJson's `limits` (the CLI's and the server's `limits`).
std::string StatusesJson(std::span<const LimitStatus> statuses);

class RateLimitExceeded : public RateLimitError {
 public:
  explicit RateLimitExceeded(Denial denial)
      : RateLimitError(denial.message()), denial_(std::move(denial)) {}
  const Denial& denial() const { return denial_; }

 private:
  Denial denial_;
};

}  // namespace zae

#endif  // ZAE_LIMIT_STATUS_H_

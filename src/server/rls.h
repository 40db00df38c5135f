// Envoy's Rate Limit Service v3 on the limiter: one ShouldRateLimit.
//
// For each descriptor of a request, the first rule of its domain that
// matches (rules.h) names an entity, a resource and a limit; descriptors
// with none answer OK without a limit. Descriptors that land on the same
// entity, resource and rule kind are consumed in one Acquire, all or
// nothing (cascade included). Hits are Envoy's: the descriptor's
// hits_addend when present (0 = check only), else max(1, the request's).
//   - A check-only limit is refused when its bucket has less than one
//     whole token (empty or in debt); it charges nothing.
//   - An overdraft rule's charge always lands (AcquireOptions::overdraft),
//     into debt if need be; its status says OVER_LIMIT when it went over.
//   - A shadow rule is evaluated and charged like any other but never makes
//     the answer OVER_LIMIT (decision counted as shadow_over_limit).
//   - When the answer is OVER_LIMIT (or an error), what the request's other
//     ordinary rules consumed is rolled back before answering: a refused
//     request costs nothing. Overdraft and shadow charges stay.
// Every limited descriptor's status carries current_limit (the stored limit
// as requests per unit), limit_remaining (whole tokens left, after this
// request) and duration_until_reset (OK: seconds until the bucket is full;
// OVER_LIMIT: until the request would fit), so Envoy's X-RateLimit headers
// are right. overall_code is never UNKNOWN.
//
// Errors are an Outcome, never an exception: kInvalid for a bad request
// (empty domain, no descriptors, empty entries, ids or amounts the limiter
// refuses, no stored limit and no override), kUnavailable when the store
// failed and the namespace's on_unavailable is block (with allow the
// limiter answers OK).
//
// Thread safety: ShouldRateLimit may be called from any thread; `done`
// runs once, on the thread that completed the last acquire (inline for
// memory and SQLite, a DynamoDB I/O or limiter thread otherwise) and must
// not block. Request and response must stay alive until `done` runs.
#ifndef ZAE_SERVER_RLS_H_
#define ZAE_SERVER_RLS_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "envoy/service/ratelimit/v3/rls.pb.h"
#include "server/metrics.h"
#include "server/rules.h"
#include "zae/clock.h"
#include "zae/limit.h"
#include "zae/rate_limiter.h"

namespace zae::server {

namespace rlspb = envoy::service::ratelimit::v3;

struct Outcome {
  enum Kind { kOk, kInvalid, kUnavailable, kInternal };
  Kind kind = kOk;
  std::string message;
};

class RlsService {
 public:
  RlsService(std::shared_ptr<RateLimiter> limiter, std::shared_ptr<const RuleSet> rules,
             Metrics* metrics, const Clock* clock);

  using Done = std::function<void(Outcome)>;
  void ShouldRateLimit(const rlspb::RateLimitRequest& request, rlspb::RateLimitResponse* response,
                       Done done);

  // Swaps the whole rule set; calls in flight keep the one they started with.
  void SetRules(std::shared_ptr<const RuleSet> rules) { rules_.store(std::move(rules)); }
  std::shared_ptr<const RuleSet> rules() const { return rules_.load(); }

 private:
  struct Call;
  void Finish(const std::shared_ptr<Call>& call);

  std::shared_ptr<RateLimiter> limiter_;
  std::atomic<std::shared_ptr<const RuleSet>> rules_;
  Metrics* metrics_;
  const Clock* clock_;
};

// The stored limit as Envoy's requests-per-unit: the smallest unit in which
// the refill rate is a whole number of requests (else per day, floored).
struct PerUnit {
  uint32_t requests_per_unit;
  rlspb::RateLimitResponse::RateLimit::Unit unit;
  int64_t unit_seconds;
};
PerUnit ToPerUnit(const Limit& limit);

// Seconds until `available` whole tokens refill to the capacity (0 if full).
int64_t SecondsUntilFull(const Limit& limit, int64_t available);

}  // namespace zae::server

#endif  // ZAE_SERVER_RLS_H_

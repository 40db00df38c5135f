#include "zae/limit.h"

#include <set>
#include <string>

#include "zae/errors.h"
#include "zae/validate.h"

namespace zae {
namespace {

void CheckValue(const char* field, int64_t v, const std::string& name) {
  if (v <= 0)
    throw ValidationError(field, std::to_string(v), std::string(field) + " must be positive");
  if (v > kMaxLimitValue) {
    throw ValidationError(field, std::to_string(v),
                          std::string(field) + " must be at most " +
                              std::to_string(kMaxLimitValue) + " (limit '" + name + "')");
  }
}

Limit Make(std::string name, int64_t capacity, int64_t amount, int64_t period) {
  Limit l{std::move(name), capacity, amount, period};
  ValidateLimit(l);
  return l;
}

}  // namespace

Limit Limit::PerSecond(std::string name, int64_t rate, std::optional<int64_t> burst) {
  return Make(std::move(name), burst.value_or(rate), rate, 1);
}
Limit Limit::PerMinute(std::string name, int64_t rate, std::optional<int64_t> burst) {
  return Make(std::move(name), burst.value_or(rate), rate, 60);
}
Limit Limit::PerHour(std::string name, int64_t rate, std::optional<int64_t> burst) {
  return Make(std::move(name), burst.value_or(rate), rate, 3600);
}
Limit Limit::PerDay(std::string name, int64_t rate, std::optional<int64_t> burst) {
  return Make(std::move(name), burst.value_or(rate), rate, 86400);
}
Limit Limit::Custom(std::string name, int64_t capacity, int64_t refill_amount,
                    int64_t refill_period_seconds) {
  return Make(std::move(name), capacity, refill_amount, refill_period_seconds);
}

void ValidateLimit(const Limit& limit) {
  ValidateLimitName(limit.name);
  CheckValue("capacity", limit.capacity, limit.name);
  CheckValue("refill_amount", limit.refill_amount, limit.name);
  CheckValue("refill_period_seconds", limit.refill_period_seconds, limit.name);
}

void ValidateLimits(const std::vector<Limit>& limits) {
  std::set<std::string> seen;
  for (const Limit& l : limits) {
    ValidateLimit(l);
    if (!seen.insert(l.name).second) {
      throw ValidationError("limits", l.name, "duplicate limit name '" + l.name + "'");
    }
  }
}

}  // namespace zae

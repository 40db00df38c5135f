#include "server/rls.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "core/int128.h"
#include "zae/bucket.h"
#include "zae/errors.h"

namespace zae::server {
// Not anonymous: RlsService::Call holds these.
namespace rls_detail {

using RateLimitUnit = rlspb::RateLimitResponse::RateLimit::Unit;

int64_t EnvoyUnitSeconds(int unit) {
  switch (unit) {
    case 1:
      return 1;
    case 2:
      return 60;
    case 3:
      return 3600;
    case 4:
      return 86400;
    case 5:
      return 30 * 86400;  // as Envoy's X-RateLimit headers count a month
    case 6:
      return 365 * 86400;
    default:
      return 0;
  }
}

int64_t ProtoUnitSeconds(int unit) {
  return unit == rlspb::RateLimitResponse::RateLimit::WEEK ? 7 * 86400 : EnvoyUnitSeconds(unit);
}

// What a group's acquire said about one limit name.
struct View {
  Limit limit;
  int64_t available = 0;  // whole tokens after this request
  double retry_after = 0;
  bool over = false;
};

struct Group {
  std::string entity, resource;
  bool overdraft = false, shadow = false;
  Amounts consume;
  std::set<std::string> check_only;  // names charged 0 by every descriptor
  std::vector<Limit> fallback;
  // Filled when the acquire completes.
  std::optional<Lease> lease;
  bool noop = false, over = false, rolled_back = false;
  std::map<std::string, View> views;
};

struct Target {
  int group = -1;  // -1: no rule matched
  std::string limit;
};

}  // namespace rls_detail

using namespace rls_detail;

struct RlsService::Call {
  const rlspb::RateLimitRequest* request;
  rlspb::RateLimitResponse* response;
  Done done;
  std::shared_ptr<const RuleSet> rules;
  const Domain* domain = nullptr;
  std::vector<Group> groups;
  std::vector<Target> targets;
  std::atomic<int> pending{0};
  std::mutex mu;  // guards outcome
  Outcome outcome;

  void Fail(Outcome::Kind kind, std::string message) {
    std::lock_guard lock(mu);
    // The first error of the most severe kind is the one reported.
    if (outcome.kind == Outcome::kOk || kind > outcome.kind) {
      outcome = Outcome{kind, std::move(message)};
    }
  }
};

PerUnit ToPerUnit(const Limit& limit) {
  static constexpr std::pair<int64_t, RateLimitUnit> kUnits[] = {
      {1, rlspb::RateLimitResponse::RateLimit::SECOND},
      {60, rlspb::RateLimitResponse::RateLimit::MINUTE},
      {3600, rlspb::RateLimitResponse::RateLimit::HOUR},
      {86400, rlspb::RateLimitResponse::RateLimit::DAY}};
  const Int128 ra = limit.refill_amount;
  const Int128 rp = std::max<int64_t>(1, limit.refill_period_seconds);
  for (const auto& [seconds, unit] : kUnits) {
    const Int128 scaled = ra * seconds;
    if (scaled % rp == 0 && scaled / rp >= 1) {
      const Int128 n = std::min<Int128>(scaled / rp, UINT32_MAX);
      return {static_cast<uint32_t>(n), unit, seconds};
    }
  }
  const Int128 n = std::clamp<Int128>(ra * 86400 / rp, 0, UINT32_MAX);
  return {static_cast<uint32_t>(n), rlspb::RateLimitResponse::RateLimit::DAY, 86400};
}

int64_t SecondsUntilFull(const Limit& limit, int64_t available) {
  if (available >= limit.capacity || limit.refill_amount <= 0) return 0;
  const Int128 missing = static_cast<Int128>(limit.capacity) - available;
  const Int128 t = missing * limit.refill_period_seconds;
  const Int128 s = (t + limit.refill_amount - 1) / limit.refill_amount;
  return static_cast<int64_t>(std::min<Int128>(s, INT64_MAX));
}

RlsService::RlsService(std::shared_ptr<RateLimiter> limiter, std::shared_ptr<const RuleSet> rules,
                       Metrics* metrics, const Clock* clock)
    : limiter_(std::move(limiter)), rules_(std::move(rules)), metrics_(metrics), clock_(clock) {}

void RlsService::ShouldRateLimit(const rlspb::RateLimitRequest& request,
                                 rlspb::RateLimitResponse* response, Done done) {
  auto call = std::make_shared<Call>();
  call->request = &request;
  call->response = response;
  call->done = std::move(done);
  call->rules = rules_.load();
  if (request.domain().empty()) {
    call->done(Outcome{Outcome::kInvalid, "the request has no domain"});
    return;
  }
  if (request.descriptors_size() == 0) {
    call->done(Outcome{Outcome::kInvalid, "the request has no descriptors"});
    return;
  }
  call->domain = call->rules ? call->rules->FindDomain(request.domain()) : nullptr;
  call->targets.resize(request.descriptors_size());
  std::vector<Entry> entries;
  for (int i = 0; i < request.descriptors_size(); ++i) {
    const auto& d = request.descriptors(i);
    if (d.entries_size() == 0) {
      call->done(
          Outcome{Outcome::kInvalid, "descriptor " + std::to_string(i + 1) + " has no entries"});
      return;
    }
    if (!call->domain) continue;
    entries.clear();
    for (const auto& e : d.entries()) entries.push_back({e.key(), e.value()});
    const Rule* rule = RuleSet::Match(*call->domain, entries);
    if (!rule) continue;
    const auto entity = RuleSet::Resolve(rule->entity, entries);
    const auto resource = RuleSet::Resolve(rule->resource, entries);
    const auto limit = RuleSet::Resolve(rule->limit, entries);
    const uint64_t hits = d.has_hits_addend() ? d.hits_addend().value()
                                              : std::max<uint64_t>(1, request.hits_addend());
    if (hits > uint64_t(kMaxLimitValue)) {
      call->done(Outcome{Outcome::kInvalid, "descriptor " + std::to_string(i + 1) +
                                                ": hits_addend " + std::to_string(hits) +
                                                " is too large"});
      return;
    }
    // Same entity, resource and kind of rule: one acquire.
    int g = 0;
    for (; g < int(call->groups.size()); ++g) {
      const Group& x = call->groups[g];
      if (x.entity == *entity && x.resource == *resource && x.overdraft == rule->overdraft &&
          x.shadow == rule->shadow) {
        break;
      }
    }
    if (g == int(call->groups.size())) {
      Group x;
      x.entity = std::string(*entity);
      x.resource = std::string(*resource);
      x.overdraft = rule->overdraft;
      x.shadow = rule->shadow;
      call->groups.push_back(std::move(x));
    }
    Group& group = call->groups[g];
    const std::string name(*limit);
    const bool seen = group.consume.count(name) > 0;
    int64_t& amount = group.consume[name];
    amount += int64_t(hits);
    if (hits == 0 && (!seen || group.check_only.count(name))) {
      group.check_only.insert(name);
    } else {
      group.check_only.erase(name);
    }
    if (d.has_limit() && d.limit().requests_per_unit() > 0) {
      const int64_t unit = EnvoyUnitSeconds(d.limit().unit());
      const bool have = std::any_of(group.fallback.begin(), group.fallback.end(),
                                    [&](const Limit& l) { return l.name == name; });
      if (unit > 0 && !have) {
        const int64_t n = d.limit().requests_per_unit();
        group.fallback.push_back(Limit{name, n, n, unit});
      }
    }
    call->targets[i] = Target{g, name};
  }
  if (call->groups.empty()) {
    Finish(call);
    return;
  }
  call->pending.store(int(call->groups.size()));
  for (size_t g = 0; g < call->groups.size(); ++g) {
    Group& group = call->groups[g];
    AcquireOptions options;
    options.overdraft = group.overdraft;
    if (!group.fallback.empty()) options.limits = group.fallback;
    limiter_->AcquireAsync(
        group.entity, group.resource, group.consume,
        [this, call, g](AcquireResult* result, std::exception_ptr error) {
          Group& done_group = call->groups[g];
          if (error) {
            try {
              std::rethrow_exception(error);
            } catch (const RateLimiterUnavailable& e) {
              metrics_->StoreError();
              call->Fail(Outcome::kUnavailable, e.what());
            } catch (const ValidationError& e) {
              call->Fail(Outcome::kInvalid, e.what());
            } catch (const std::exception& e) {
              call->Fail(Outcome::kInternal, e.what());
            }
          } else if (result->allowed()) {
            done_group.lease.emplace(result->take_lease());
            done_group.noop = done_group.lease->is_noop();
            const int64_t now = clock_->NowMs();
            for (const LeaseEntry& e : done_group.lease->entries()) {
              if (!done_group.consume.count(e.limit.name)) continue;
              const int64_t available = AvailableTokens(e.state, now);
              auto [it, fresh] =
                  done_group.views.try_emplace(e.limit.name, View{e.limit, available});
              if (!fresh && available < it->second.available) it->second = View{e.limit, available};
            }
            for (auto& [name, view] : done_group.views) {
              if (done_group.overdraft) {
                view.over = view.available < 0;
              } else if (done_group.check_only.count(name) && view.available < 1) {
                view.over = true;
                view.retry_after =
                    RetryAfterSeconds(ToMilli(1 - view.available), view.limit.refill_amount_milli(),
                                      view.limit.refill_period_ms());
                done_group.over = true;
              }
            }
          } else {
            done_group.over = true;
            for (const LimitStatus& s : result->denial().statuses()) {
              if (!done_group.consume.count(s.limit_name)) continue;
              auto [it, fresh] =
                  done_group.views.try_emplace(s.limit_name, View{s.limit, s.available});
              View& v = it->second;
              if (!fresh && s.available < v.available) {
                v.limit = s.limit;
                v.available = s.available;
              }
              if (s.exceeded) {
                v.over = true;
                v.retry_after = std::max(v.retry_after, s.retry_after_seconds);
              }
            }
          }
          if (call->pending.fetch_sub(1) == 1) Finish(call);
        },
        std::move(options));
  }
}

void RlsService::Finish(const std::shared_ptr<Call>& call) {
  // Does the answer refuse? Only ordinary rules refuse; an error refuses too.
  bool refused = false;
  for (const Group& g : call->groups) refused |= g.over && !g.shadow && !g.overdraft;
  const bool failed = call->outcome.kind != Outcome::kOk;
  // Roll back what ordinary rules consumed when the request is refused,
  // then answer; leases of the rest commit (nothing left to write).
  auto rollbacks = std::make_shared<std::atomic<int>>(1);
  auto answer = [this, call, failed] {
    if (failed) {
      call->done(call->outcome);
      return;
    }
    rlspb::RateLimitResponse& response = *call->response;
    bool over = false;
    const rlspb::RateLimitResponse::DescriptorStatus* tightest = nullptr;
    for (size_t i = 0; i < call->targets.size(); ++i) {
      rlspb::RateLimitResponse::DescriptorStatus* status = response.add_statuses();
      const Target& t = call->targets[i];
      if (t.group < 0) {
        status->set_code(rlspb::RateLimitResponse::OK);
        metrics_->Decide(Decision::kUnmatched);
        continue;
      }
      const Group& g = call->groups[t.group];
      auto it = g.views.find(t.limit);
      if (g.noop || it == g.views.end()) {
        // The store was unavailable and the policy allows: no limit to tell.
        status->set_code(rlspb::RateLimitResponse::OK);
        metrics_->Decide(Decision::kOk);
        continue;
      }
      const View& v = it->second;
      int64_t remaining = v.available;
      if (g.rolled_back) remaining += g.consume.at(t.limit);
      const bool refuse = v.over && !g.shadow;
      status->set_code(refuse ? rlspb::RateLimitResponse::OVER_LIMIT
                              : rlspb::RateLimitResponse::OK);
      metrics_->Decide(!v.over    ? Decision::kOk
                       : g.shadow ? Decision::kShadowOverLimit
                                  : Decision::kOverLimit);
      over |= refuse;
      const PerUnit pu = ToPerUnit(v.limit);
      auto* limit = status->mutable_current_limit();
      limit->set_name(t.limit);
      limit->set_requests_per_unit(pu.requests_per_unit);
      limit->set_unit(pu.unit);
      status->set_limit_remaining(uint32_t(std::clamp<int64_t>(remaining, 0, UINT32_MAX)));
      const int64_t reset =
          v.over ? int64_t(std::ceil(v.retry_after)) : SecondsUntilFull(v.limit, remaining);
      status->mutable_duration_until_reset()->set_seconds(reset);
      if (!tightest || status->limit_remaining() < tightest->limit_remaining()) tightest = status;
    }
    response.set_overall_code(over ? rlspb::RateLimitResponse::OVER_LIMIT
                                   : rlspb::RateLimitResponse::OK);
    if (call->domain && call->domain->response_headers && tightest) {
      const auto& l = tightest->current_limit();
      const int64_t window = ProtoUnitSeconds(l.unit());
      auto add = [&](const char* key, std::string value) {
        auto* h = response.add_response_headers_to_add();
        h->set_key(key);
        h->set_value(std::move(value));
      };
      add("RateLimit-Limit", std::to_string(l.requests_per_unit()) + ", " +
                                 std::to_string(l.requests_per_unit()) +
                                 ";w=" + std::to_string(window));
      add("RateLimit-Remaining", std::to_string(tightest->limit_remaining()));
      add("RateLimit-Reset", std::to_string(tightest->duration_until_reset().seconds()));
    }
    call->done(Outcome{});
  };
  auto step = [rollbacks, answer] {
    if (rollbacks->fetch_sub(1) == 1) answer();
  };
  for (Group& g : call->groups) {
    if (!g.lease || g.noop) continue;
    if ((refused || failed) && !g.shadow && !g.overdraft) {
      g.rolled_back = true;
      rollbacks->fetch_add(1);
      g.lease->RollbackAsync([this, step](std::exception_ptr e) {
        if (e) metrics_->StoreError();
        step();
      });
    } else {
      for (const auto& [name, n] : g.consume) metrics_->Charged(n);
      g.lease->CommitAsync(nullptr);
    }
  }
  step();
}

}  // namespace zae::server

#include "zae/rate_limiter.h"

#include <algorithm>
#include <mutex>

#include "limiter/keys.h"
#include "limiter/rate_limiter_impl.h"
#include "limiter/usage.h"
#include "zae/admin.h"
#include "zae/errors.h"
#include "zae/validate.h"

namespace zae {

const char* ToString(OnUnavailable v) { return v == OnUnavailable::kAllow ? "allow" : "block"; }

std::optional<OnUnavailable> ParseOnUnavailable(const std::string& s) {
  if (s == "allow") return OnUnavailable::kAllow;
  if (s == "block") return OnUnavailable::kBlock;
  return std::nullopt;
}

const char* ToString(ConfigSource v) {
  switch (v) {
    case ConfigSource::kEntity:
      return "entity";
    case ConfigSource::kEntityDefault:
      return "entity_default";
    case ConfigSource::kResource:
      return "resource";
    case ConfigSource::kSystem:
      return "system";
    case ConfigSource::kOverride:
      return "override";
  }
  return "?";
}

Lease AcquireResult::lease_or_throw() {
  if (!allowed()) throw RateLimitExceeded(*denial_);
  return take_lease();
}

RateLimiterImpl::RateLimiterImpl(std::shared_ptr<Store> store, RateLimiterOptions options,
                                 std::string ns_id)
    : store_(std::move(store)),
      options_(std::move(options)),
      ns_(std::move(ns_id)),
      clock_(options_.clock ? *options_.clock : *SystemClock::Default()),
      caps_([this] {
        Capabilities c = store_->capabilities();
        c.sharding = options_.sharding.value_or(c.sharding);
        return c;
      }()),
      cache_(*store_, ns_, clock_, options_.config_cache_ttl_seconds),
      writer_(std::make_shared<BucketWriter>(
          store_, ns_, clock_,
          options_.usage == UsageTracking::kInline ||
              (options_.usage == UsageTracking::kAuto && !caps_.usage_from_stream),
          options_.executor, options_.timeout)) {}

std::vector<RateLimiterImpl::BucketView> RateLimiterImpl::ReadViews(
    const std::string& entity_id, const std::string& resource,
    const std::optional<std::vector<Limit>>& limits, int64_t now) {
  ValidateIdentifier(entity_id);
  ValidateResource(resource);
  if (limits) ValidateLimits(*limits);
  auto view = [&](const std::string& id) {
    BucketView v;
    v.limits = ResolveWithFallback(id, resource, limits).limits;
    if (v.limits.empty()) return v;
    auto item = store_->Get(keys::Bucket(ns_, id, resource, 0), false);
    const codec::BucketItem b = item ? codec::DecodeBucket(*item) : codec::BucketItem{};
    for (const Limit& l : v.limits) {
      auto it = b.limits.find(l.name);
      BucketState s = it != b.limits.end() ? it->second : BucketState::FromLimit(l, now);
      s.capacity_milli = l.capacity_milli();
      s.refill_amount_milli = l.refill_amount_milli();
      s.refill_period_ms = l.refill_period_ms();
      v.states.push_back(s);
    }
    return v;
  };
  std::vector<BucketView> views{view(entity_id)};
  if (views[0].limits.empty()) {
    throw ValidationError(
        "limits", "entity=" + entity_id + ", resource=" + resource,
        "No limits configured for entity '" + entity_id + "' and resource '" + resource + "'");
  }
  const EntityInfo info = LookupEntity(entity_id);
  if (info.cascade && info.parent_id) views.push_back(view(*info.parent_id));
  return views;
}

Amounts RateLimiterImpl::Available(const std::string& entity_id, const std::string& resource,
                                   const std::optional<std::vector<Limit>>& limits) {
  DeadlineScope deadline(options_.timeout);
  const int64_t now = clock_.NowMs();
  Amounts out;  // the minimum over child and parent
  for (const BucketView& v : ReadViews(entity_id, resource, limits, now)) {
    for (size_t i = 0; i < v.limits.size(); ++i) {
      const int64_t a = AvailableTokens(v.states[i], now);
      auto [it, inserted] = out.emplace(v.limits[i].name, a);
      if (!inserted) it->second = std::min(it->second, a);
    }
  }
  return out;
}

double RateLimiterImpl::TimeUntilAvailable(const std::string& entity_id,
                                           const std::string& resource, const Amounts& needed,
                                           const std::optional<std::vector<Limit>>& limits) {
  for (const auto& [name, amount] : needed) {
    if (amount < 0) throw ValidationError("needed", name, "amounts must not be negative");
  }
  DeadlineScope deadline(options_.timeout);
  const int64_t now = clock_.NowMs();
  const std::vector<BucketView> views = ReadViews(entity_id, resource, limits, now);
  for (const auto& [name, amount] : needed) {
    bool known = false;
    for (const BucketView& v : views) {
      for (const Limit& l : v.limits) known |= l.name == name;
    }
    if (!known) {
      throw ValidationError("needed", name,
                            "'" + name + "' is not a limit of entity '" + entity_id +
                                "' for resource '" + resource + "'");
    }
  }
  double wait = 0;  // the longest over child and parent
  for (const BucketView& v : views) {
    for (size_t i = 0; i < v.limits.size(); ++i) {
      auto n = needed.find(v.limits[i].name);
      if (n == needed.end() || n->second == 0) continue;
      wait = std::max(wait, zae::TimeUntilAvailable(v.states[i], n->second, now));
    }
  }
  return wait;
}

// ---- RateLimiter facade ----------------------------------------------------

namespace {

constexpr auto kResolveInterval = std::chrono::seconds(1);

}  // namespace

std::shared_ptr<RateLimiterImpl> RateLimiterImpl::Open(std::shared_ptr<Store> store,
                                                       RateLimiterOptions options) {
  std::optional<std::string> ns = ResolveNamespace(*store, options.namespace_name);
  if (!ns) {
    if (!options.create_namespace) throw NamespaceNotFoundError(options.namespace_name);
    DeployOptions deploy;
    deploy.clock = options.clock;
    Deploy(*store, deploy);
    ns = RegisterNamespace(*store, options.namespace_name, options.clock).id;
  } else if (auto version = ReadVersion(*store)) {
    CheckCompatible(*version);
  }
  auto impl = std::make_shared<RateLimiterImpl>(std::move(store), std::move(options), *ns);
  impl->MaybeDeleteExpired(impl->clock_.NowMs());
  return impl;
}

// A limiter opened while its store was unreachable (RateLimiterOptions::
// on_unavailable): answers with the policy until one attempt to open
// succeeds. Shared with the tasks of its pool, which may outlive the facade.
struct RateLimiter::Deferred : std::enable_shared_from_this<Deferred> {
  Deferred(std::shared_ptr<Store> s, RateLimiterOptions o, std::string error)
      : store(std::move(s)),
        options(std::move(o)),
        writer(std::make_shared<BucketWriter>(
            store, "", options.clock ? *options.clock : *SystemClock::Default(), false,
            options.executor)),
        next_try(DeadlineClock::now() + kResolveInterval),
        last_error(std::move(error)) {}

  RateLimiterImpl* Get() const { return ready.load(std::memory_order_acquire); }

  // True when an attempt is due and nobody else is making one.
  bool Due() {
    std::unique_lock lock(mu, std::try_to_lock);
    return lock.owns_lock() && !Get() && DeadlineClock::now() >= next_try;
  }

  // The open limiter, after one attempt if one is due; nullptr while the
  // store stays unreachable. Other errors (e.g. NamespaceNotFoundError)
  // propagate: they are answers, not unavailability.
  RateLimiterImpl* Try() {
    if (RateLimiterImpl* p = Get()) return p;
    std::unique_lock lock(mu, std::try_to_lock);
    if (!lock.owns_lock()) return nullptr;  // someone else is trying
    if (RateLimiterImpl* p = Get()) return p;
    const auto now = DeadlineClock::now();
    if (now < next_try) return nullptr;
    next_try = now + kResolveInterval;
    try {
      DeadlineScope deadline(options.timeout);
      impl = RateLimiterImpl::Open(store, options);
    } catch (const StoreError& e) {
      last_error = e.what();
      return nullptr;
    }
    ready.store(impl.get(), std::memory_order_release);
    return impl.get();
  }

  // Why the limiter cannot answer yet, for RateLimiterUnavailable and StoreError.
  std::string Unresolved() {
    std::lock_guard lock(mu);
    return "namespace '" + options.namespace_name + "' not resolved: " + last_error;
  }

  // Acquire while unresolved: the per-call policy, else the limiter's.
  AcquireResult Unreachable(const std::string& entity_id, const std::string& resource,
                            const AcquireOptions& o) {
    ValidateIdentifier(entity_id);
    ValidateResource(resource);
    if (o.on_unavailable.value_or(*options.on_unavailable) == OnUnavailable::kAllow) {
      return RateLimiterImpl::NoopLease(writer);
    }
    throw RateLimiterUnavailable(Unresolved(), store->Describe(), entity_id, resource);
  }

  // AcquireAsync while unresolved: the open limiter's (after an attempt to
  // open when `may_open`), else the policy's answer through `done`.
  void AcquireAsync(const std::string& e, const std::string& r, const Amounts& c,
                    const AcquireOptions& o, RateLimiter::AcquireCallback done, bool may_open) {
    std::optional<AcquireResult> result;
    std::exception_ptr error;
    try {
      if (RateLimiterImpl* p = may_open ? Try() : Get()) {
        return p->AcquireAsync(e, r, c, o, std::move(done));
      }
      result.emplace(Unreachable(e, r, o));
    } catch (...) {
      error = std::current_exception();
    }
    writer->DeliverResult(done, std::move(result), error);
  }

  WorkPool& pool() {
    std::call_once(pool_once, [this] { pool_ = std::make_unique<WorkPool>(1); });
    return *pool_;
  }

  const std::shared_ptr<Store> store;
  const RateLimiterOptions options;
  const std::shared_ptr<BucketWriter> writer;  // makes the no-op leases
  std::atomic<RateLimiterImpl*> ready{nullptr};
  std::mutex mu;
  std::shared_ptr<RateLimiterImpl> impl;  // set once, under mu
  DeadlineClock::time_point next_try;     // under mu
  std::string last_error;                 // under mu
  std::once_flag pool_once;
  std::unique_ptr<WorkPool> pool_;  // resolution for asynchronous callers
};

std::unique_ptr<RateLimiter> RateLimiter::Open(std::shared_ptr<Store> store,
                                               RateLimiterOptions options) {
  if (!store) throw ValidationError("store", "", "a store is required");
  ValidateNamespaceName(options.namespace_name);
  if (options.config_cache_ttl_seconds < 0) {
    throw ValidationError("config_cache_ttl_seconds",
                          std::to_string(options.config_cache_ttl_seconds), "must not be negative");
  }
  if (options.async_threads < 1 || options.async_threads > 64) {
    throw ValidationError("async_threads", std::to_string(options.async_threads), "must be 1..64");
  }
  ValidateTimeout(options.timeout);
  if (!options.principal.empty() && options.principal.rfind("arn:", 0) != 0) {
    ValidateIdentifier(options.principal, "principal");
  }
  if (!options.on_unavailable) {
    return std::unique_ptr<RateLimiter>(
        new RateLimiter(RateLimiterImpl::Open(std::move(store), std::move(options))));
  }
  // A policy for an unreachable store: opening is bounded by the deadline
  // and an unreachable store defers it.
  try {
    DeadlineScope deadline(options.timeout);
    return std::unique_ptr<RateLimiter>(new RateLimiter(RateLimiterImpl::Open(store, options)));
  } catch (const StoreError& e) {
    return std::unique_ptr<RateLimiter>(new RateLimiter(
        std::make_shared<Deferred>(std::move(store), std::move(options), e.what())));
  }
}

void RateLimiterImpl::MaybeDeleteExpired(int64_t now_ms) {
  if (caps_.native_ttl) return;
  int64_t due = retention_due_ms_.load(std::memory_order_relaxed);
  if (now_ms < due) return;
  // One caller per interval runs it; the others go on.
  if (!retention_due_ms_.compare_exchange_strong(due, now_ms + kRetentionIntervalMs)) return;
  try {
    store_->DeleteExpired(FloorDiv(now_ms, 1000));
  } catch (const StoreError&) {
    // The store is failing; the next interval tries again.
  }
}

RateLimiter::RateLimiter(std::shared_ptr<RateLimiterImpl> impl) : impl_(std::move(impl)) {}
RateLimiter::RateLimiter(std::shared_ptr<Deferred> deferred) : deferred_(std::move(deferred)) {}
RateLimiter::~RateLimiter() = default;

RateLimiterImpl* RateLimiter::TryImpl() { return impl_ ? impl_.get() : deferred_->Try(); }

RateLimiterImpl& RateLimiter::impl() {
  if (RateLimiterImpl* p = TryImpl()) return *p;
  throw StoreError(deferred_->Unresolved(), /*retryable=*/true);
}

AcquireResult RateLimiter::Acquire(const std::string& e, const std::string& r, const Amounts& c,
                                   const AcquireOptions& o) {
  if (RateLimiterImpl* p = TryImpl()) return p->Acquire(e, r, c, o);
  return deferred_->Unreachable(e, r, o);
}

void RateLimiter::AcquireAsync(const std::string& e, const std::string& r, const Amounts& c,
                               AcquireCallback done, const AcquireOptions& o) {
  if (impl_) return impl_->AcquireAsync(e, r, c, o, std::move(done));
  Deferred& d = *deferred_;
  // Embedded stores open inline, as their calls complete inline anyway.
  if (!d.store->capabilities().async_io) return d.AcquireAsync(e, r, c, o, std::move(done), true);
  if (!d.Get() && d.Due()) {
    // Opening blocks: try it off the caller's thread, then go on there.
    d.pool().Post([d = deferred_, e, r, c, o, done = std::move(done)]() mutable {
      d->AcquireAsync(e, r, c, o, std::move(done), /*may_open=*/true);
    });
    return;
  }
  d.AcquireAsync(e, r, c, o, std::move(done), /*may_open=*/false);
}

namespace {

// A future completed by the callback form: `start(callback)` begins the call.
template <class T, class Start>
std::future<T> Promised(Start start) {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  start([promise](T* value, std::exception_ptr error) {
    if (error) {
      promise->set_exception(error);
    } else {
      promise->set_value(std::move(*value));
    }
  });
  return future;
}

}  // namespace

std::future<AcquireResult> RateLimiter::AcquireAsync(const std::string& e, const std::string& r,
                                                     const Amounts& c, const AcquireOptions& o) {
  return Promised<AcquireResult>(
      [&](AcquireCallback done) { AcquireAsync(e, r, c, std::move(done), o); });
}

void RateLimiter::AvailableAsync(const std::string& e, const std::string& r, AvailableCallback done,
                                 const std::optional<std::vector<Limit>>& l) {
  RateLimiterImpl* p = nullptr;
  try {
    p = &impl();
  } catch (...) {
    deferred_->writer->DeliverResult<Amounts>(done, std::nullopt, std::current_exception());
    return;
  }
  p->AvailableAsync(e, r, l, std::move(done));
}

std::future<Amounts> RateLimiter::AvailableAsync(const std::string& e, const std::string& r,
                                                 const std::optional<std::vector<Limit>>& l) {
  return Promised<Amounts>(
      [&](AvailableCallback done) { AvailableAsync(e, r, std::move(done), l); });
}

Amounts RateLimiter::Available(const std::string& e, const std::string& r,
                               const std::optional<std::vector<Limit>>& l) {
  return impl().Available(e, r, l);
}
double RateLimiter::TimeUntilAvailable(const std::string& e, const std::string& r, const Amounts& n,
                                       const std::optional<std::vector<Limit>>& l) {
  return impl().TimeUntilAvailable(e, r, n, l);
}
bool RateLimiter::IsAvailable() {
  try {
    store().Get(keys::Version(), false);
    return true;
  } catch (...) {
    return false;
  }
}
Entity RateLimiter::CreateEntity(const std::string& id, const CreateEntityOptions& o) {
  return impl().CreateEntity(id, o);
}
std::optional<Entity> RateLimiter::GetEntity(const std::string& id) { return impl().GetEntity(id); }
int64_t RateLimiter::DeleteEntity(const std::string& id) { return impl().DeleteEntity(id); }
std::vector<Entity> RateLimiter::GetChildren(const std::string& p) { return impl().GetChildren(p); }
void RateLimiter::SetLimits(const std::string& id, const std::vector<Limit>& l,
                            const std::string& r) {
  impl().SetLimits(id, l, r);
}
std::vector<Limit> RateLimiter::GetLimits(const std::string& id, const std::string& r) {
  return impl().GetLimits(id, r);
}
void RateLimiter::DeleteLimits(const std::string& id, const std::string& r) {
  impl().DeleteLimits(id, r);
}
Page<std::string> RateLimiter::ListEntitiesWithCustomLimits(const std::string& r, int limit,
                                                            const std::string& cursor) {
  return impl().ListEntitiesWithCustomLimits(r, limit, cursor);
}
std::vector<std::string> RateLimiter::ListResourcesWithEntityConfigs() {
  return impl().ListResourcesWithEntityConfigs();
}
void RateLimiter::SetResourceDefaults(const std::string& r, const std::vector<Limit>& l) {
  impl().SetResourceDefaults(r, l);
}
std::vector<Limit> RateLimiter::GetResourceDefaults(const std::string& r) {
  return impl().GetResourceDefaults(r);
}
void RateLimiter::DeleteResourceDefaults(const std::string& r) { impl().DeleteResourceDefaults(r); }
std::vector<std::string> RateLimiter::ListResourcesWithDefaults() {
  return impl().ListResourcesWithDefaults();
}
void RateLimiter::SetSystemDefaults(const std::vector<Limit>& l, std::optional<OnUnavailable> m) {
  impl().SetSystemDefaults(l, m);
}
SystemDefaults RateLimiter::GetSystemDefaults() { return impl().GetSystemDefaults(); }
void RateLimiter::DeleteSystemDefaults() { impl().DeleteSystemDefaults(); }
ResolvedLimits RateLimiter::ResolveLimits(const std::string& e, const std::string& r) {
  ValidateIdentifier(e);
  ValidateEntityConfigResource(r);
  return impl().cache_.Resolve(e, r);
}
Page<AuditEvent> RateLimiter::GetAuditEvents(const std::string& e, int limit,
                                             const std::string& cursor) {
  return impl().GetAuditEvents(e, limit, cursor);
}
Page<UsageSnapshot> RateLimiter::GetUsageSnapshots(const UsageQuery& q, int limit,
                                                   const std::string& cursor) {
  RateLimiterImpl& i = impl();
  return usage::ReadSnapshots(*i.store_, i.ns_, q, limit, cursor);
}
UsageSummary RateLimiter::GetUsageSummary(const UsageQuery& q) {
  RateLimiterImpl& i = impl();
  return usage::Summarize(*i.store_, i.ns_, q);
}
int64_t RateLimiter::GetAuditRetentionDays() { return impl().GetAuditRetentionDays(); }
void RateLimiter::SetAuditRetentionDays(int64_t days) { impl().SetAuditRetentionDays(days); }
CacheStats RateLimiter::GetCacheStats() const {
  const RateLimiterImpl* p = impl_ ? impl_.get() : deferred_->Get();
  return p ? p->cache_.Stats() : CacheStats{};
}
void RateLimiter::InvalidateConfigCache() {
  if (RateLimiterImpl* p = impl_ ? impl_.get() : deferred_->Get()) p->cache_.Clear();
}
const std::string& RateLimiter::namespace_name() const {
  return impl_ ? impl_->options_.namespace_name : deferred_->options.namespace_name;
}
const std::string& RateLimiter::namespace_id() const {
  static const std::string kUnresolved;
  const RateLimiterImpl* p = impl_ ? impl_.get() : deferred_->Get();
  return p ? p->ns_ : kUnresolved;
}
Store& RateLimiter::store() { return impl_ ? *impl_->store_ : *deferred_->store; }

}  // namespace zae

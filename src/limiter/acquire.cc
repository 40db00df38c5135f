// Acquire (runtime.md §3, with the fixes of BRIEF.md's policy): validate,
// try the fast path (fast_path.cc), else the slow path here: read config,
// META and the bucket shard, refill and check locally (bucket_plan.cc), then
// one conditional write (a transaction for a cascade) guarded by the `rf`
// optimistic lock; a lost race re-reads and retries.
#include <algorithm>
#include <random>
#include <thread>

#include "limiter/bucket_plan.h"
#include "limiter/keys.h"
#include "limiter/rate_limiter_impl.h"
#include "zae/errors.h"
#include "zae/validate.h"

namespace zae {
namespace {

constexpr int kMaxSlowAttempts = 24;

}  // namespace

ResolvedLimits RateLimiterImpl::ResolveWithFallback(
    const std::string& entity_id, const std::string& resource,
    const std::optional<std::vector<Limit>>& fallback) {
  ResolvedLimits r = cache_.Resolve(entity_id, resource);
  if (r.limits.empty() && fallback && !fallback->empty()) {
    r.limits = *fallback;
    r.source = ConfigSource::kOverride;
  }
  return r;
}

void RateLimiterImpl::ValidateAcquire(const std::string& entity_id, const std::string& resource,
                                      const Amounts& consume, const AcquireOptions& options) {
  ValidateIdentifier(entity_id);
  ValidateResource(resource);
  if (consume.empty())
    throw ValidationError("consume", "", "at least one limit amount is required");
  for (const auto& [name, amount] : consume) {
    ValidateLimitName(name);
    if (amount < 0) {
      throw ValidationError("consume", name + "=" + std::to_string(amount),
                            "amounts must not be negative (use Lease::Release to give back)");
    }
    if (amount > kMaxLimitValue) {
      throw ValidationError("consume", name + "=" + std::to_string(amount), "amount is too large");
    }
  }
  if (options.limits) ValidateLimits(*options.limits);
}

AcquireResult RateLimiterImpl::Acquire(const std::string& entity_id, const std::string& resource,
                                       const Amounts& consume, const AcquireOptions& options) {
  if (options.timeout) ValidateTimeout(*options.timeout);
  DeadlineScope deadline(options.timeout.value_or(options_.timeout));
  // A warm bucket first: it only admits names and amounts the slow path
  // validated before, so validation runs when it does not apply. Fallback
  // limits are checked first: a verified bucket does not read them, but bad
  // input must fail the call either way.
  bool to_slow = false;
  if (options.limits) ValidateLimits(*options.limits);
  // Fallback limits are config like the stored levels: the slow path that
  // verified a bucket resolved them, so the fast paths may run on it within
  // one cache TTL (a changed fallback reaches the bucket within one TTL, as
  // a stored change does). Overdraft consumes unconditionally: slow path.
  const bool speculative = options_.speculative_writes && !options.overdraft;
  if (speculative) {
    if (auto warm = UnderPolicy(options, entity_id, resource, [&] {
          return WarmPath(entity_id, resource, consume, clock_.NowMs(), &to_slow);
        })) {
      return std::move(*warm);
    }
  }
  ValidateAcquire(entity_id, resource, consume, options);
  return *UnderPolicy(options, entity_id, resource, [&]() -> std::optional<AcquireResult> {
    const int64_t now = clock_.NowMs();
    // The slow path refills the shard the fast path found short, so every
    // shard gets refilled, not only a random one.
    int shard = -1;
    if (speculative && !to_slow) {
      if (auto fast = FastPath(entity_id, resource, consume, options.limits, now, &shard)) {
        return std::move(*fast);
      }
    }
    // After the warm path, shard 0 is the one it wrote (warm buckets are
    // unsharded), as the generic fast path reports through `shard`.
    if (to_slow) shard = 0;
    return SlowTail(entity_id, resource, consume, options.limits, now, shard, options.overdraft);
  });
}

AcquireResult RateLimiterImpl::SlowTail(const std::string& entity_id, const std::string& resource,
                                        const Amounts& consume,
                                        const std::optional<std::vector<Limit>>& fallback,
                                        int64_t now, int shard, bool overdraft) {
  if (auto slow =
          SlowPath(entity_id, resource, consume, fallback, now,
                   shard >= 0 ? shard : ChooseShard(entity_id, resource), false, overdraft)) {
    return std::move(*slow);
  }
  throw StoreError("no result from the store");
}

OnUnavailable RateLimiterImpl::ResolveMode(const AcquireOptions& options) {
  if (options.on_unavailable) return *options.on_unavailable;
  try {
    if (auto mode = cache_.SystemOnUnavailable()) {
      last_mode_ = static_cast<int>(*mode);
      return *mode;
    }
  } catch (const StoreError&) {
    // The store is down: fall back to the last value seen.
  }
  const int last = last_mode_.load();
  if (last >= 0) return static_cast<OnUnavailable>(last);
  return options_.on_unavailable.value_or(OnUnavailable::kBlock);
}

std::optional<AcquireResult> RateLimiterImpl::SlowPath(
    const std::string& entity_id, const std::string& resource, const Amounts& consume,
    const std::optional<std::vector<Limit>>& fallback, int64_t now, int shard, bool alone,
    bool overdraft) {
  thread_local std::minstd_rand jitter{std::random_device{}()};
  MaybeDeleteExpired(now);
  for (int attempt = 0; attempt < kMaxSlowAttempts; ++attempt) {
    if (attempt > 0) {
      now = clock_.NowMs();
      if (attempt > 2) {
        std::this_thread::sleep_for(
            std::chrono::microseconds(jitter() % (50u << std::min(attempt, 8))));
      }
    }
    const ResolvedLimits child = ResolveWithFallback(entity_id, resource, fallback);
    if (child.limits.empty()) {
      throw ValidationError("limits", "entity=" + entity_id + ", resource=" + resource,
                            "No limits configured for entity '" + entity_id + "' and resource '" +
                                resource + "' (store limits or pass fallback limits)");
    }
    // Shard 0 owns shard_count, which sets every shard's share of the rate.
    std::vector<ItemKey> keys{keys::EntityMeta(ns_, entity_id),
                              keys::Bucket(ns_, entity_id, resource, shard)};
    if (shard > 0) keys.push_back(keys::Bucket(ns_, entity_id, resource, 0));
    if (alone) keys.erase(keys.begin());
    std::vector<std::optional<Item>> reads = store_->BatchGet(keys, false);
    if (alone) reads.insert(reads.begin(), std::nullopt);
    if (shard > 0 && !reads[1]) {
      if (!EnsureShard(entity_id, resource, shard, ShardCount(entity_id, resource))) shard = 0;
      continue;
    }
    if (shard > 0 && reads[2]) {
      LearnShardCount(entity_id, resource, codec::DecodeBucket(*reads[2]).shard_count);
    }
    EntityInfo info;
    if (reads[0]) {
      const Entity e = codec::DecodeEntity(*reads[0]);
      info = {e.cascade, e.parent_id};
    }
    if (!alone) RememberEntity(entity_id, info);

    ResolvedLimits parent;
    std::optional<Item> parent_item;
    int parent_shard = 0;
    const bool cascade = info.cascade && info.parent_id.has_value();
    if (cascade) {
      parent = ResolveWithFallback(*info.parent_id, resource, fallback);
      if (!parent.limits.empty()) {
        parent_shard = ChooseShard(*info.parent_id, resource);
        parent_item =
            store_->Get(keys::Bucket(ns_, *info.parent_id, resource, parent_shard), false);
        if (parent_shard > 0 && !parent_item) {
          EnsureShard(*info.parent_id, resource, parent_shard,
                      ShardCount(*info.parent_id, resource));
          continue;
        }
      }
    }
    const std::set<std::string> child_names = plan::NamesOf(child.limits);
    const std::set<std::string> parent_names = plan::NamesOf(parent.limits);
    for (const auto& [name, amount] : consume) {
      if (!alone && !child_names.count(name) && !parent_names.count(name)) {
        throw ValidationError(
            "consume", name,
            "'" + name + "' is not a limit of entity '" + entity_id + "'" +
                (cascade ? " or its parent '" + *info.parent_id + "'" : std::string()) +
                " for resource '" + resource + "'");
      }
    }

    auto plan_for = [&](plan::BucketTarget t, const std::optional<Item>& item) {
      t.overdraft = overdraft;
      const std::optional<codec::BucketItem> b =
          item ? std::optional<codec::BucketItem>(codec::DecodeBucket(*item)) : std::nullopt;
      bool is_new = true;
      if (b) {
        for (const Limit& l : t.resolved->limits) {
          if (b->limits.count(l.name)) is_new = !b->has_rf;
        }
        t.shard_count = std::max(b->shard_count, ShardCount(t.entity, resource));
      }
      if (!is_new) {
        return plan::Normal(t, *b, consume, now, options_.bucket_ttl_multiplier, caps_.sharding);
      }
      plan::Plan p = plan::Create(t, consume, now, options_.bucket_ttl_multiplier);
      if (b) {
        // An item without any resolved limit (e.g. all limits renamed):
        // replace it under its current rf.
        std::get<Put>(p.op).condition =
            b->has_rf ? Condition().Compare("rf", Predicate::Op::kEq, Value(b->rf))
                      : Condition().NotExists("rf");
      }
      return p;
    };
    std::vector<plan::Plan> plans;
    plans.push_back(plan_for(
        {ns_, entity_id, resource, &child, shard, 1, info.cascade, info.parent_id}, reads[1]));
    if (cascade && !parent.limits.empty()) {
      plans.push_back(
          plan_for({ns_, *info.parent_id, resource, &parent, parent_shard, 1, false, std::nullopt},
                   parent_item));
    }
    std::vector<LimitStatus> statuses;
    bool exceeded = false;
    for (plan::Plan& p : plans) {
      exceeded |= p.exceeded;
      statuses.insert(statuses.end(), p.statuses.begin(), p.statuses.end());
    }
    if (exceeded) return AcquireResult(Denial(std::move(statuses)));

    std::vector<WriteOp> ops;
    for (const plan::Plan& p : plans) ops.push_back(p.op);
    if (!writer_->Write(std::move(ops), BucketWriter::Mode::kAtomic, 1, now).all_ok()) {
      // Another writer moved the bucket. Like the reference's retry path,
      // first take the consumption without refilling (one write guarded by
      // tk >= c); only if that fails too, re-read and plan again.
      std::vector<WriteOp> retry;
      for (const plan::Plan& p : plans) {
        Update u;
        for (const LeaseEntry& e : p.entries) {
          u.key = keys::Bucket(ns_, e.entity_id, resource, e.shard);
          const int64_t m = ToMilli(e.consumed);
          if (m == 0) continue;
          u.add.emplace_back(keys::BucketAttr(e.limit.name, "tk"), -m);
          u.add.emplace_back(keys::BucketAttr(e.limit.name, "tc"), m);
          if (!overdraft) {
            u.condition.Compare(keys::BucketAttr(e.limit.name, "tk"), Predicate::Op::kGe, Value(m));
          }
        }
        u.condition.Exists("PK");
        if (!u.add.empty()) retry.push_back(std::move(u));
      }
      if (retry.empty() ||
          !writer_->Write(std::move(retry), BucketWriter::Mode::kAtomic, 1, now).all_ok()) {
        continue;
      }
    }
    RememberBucket(entity_id, resource, child_names, now,
                   reads[1] ? codec::DecodeBucket(*reads[1]).shard_count : 1);
    if (plans.size() > 1) {
      RememberBucket(*info.parent_id, resource, parent_names, now,
                     parent_item ? codec::DecodeBucket(*parent_item).shard_count : 1);
    }
    std::vector<LeaseEntry> entries;
    for (plan::Plan& p : plans) {
      for (LeaseEntry& e : p.entries) entries.push_back(std::move(e));
    }
    return AcquireResult(MakeLease(std::move(entries)));
  }
  throw StoreError("bucket " + entity_id + "/" + resource +
                       " is under heavy contention; gave up after " +
                       std::to_string(kMaxSlowAttempts) + " attempts",
                   true);
}

void RateLimiterImpl::RememberEntity(const std::string& entity_id, const EntityInfo& info) {
  std::lock_guard lock(mu_);
  entities_[entity_id] = info;
}

void RateLimiterImpl::RememberBucket(const std::string& entity_id, const std::string& resource,
                                     std::set<std::string> names, int64_t now,
                                     int64_t shard_count) {
  const int64_t ttl_ms = options_.config_cache_ttl_seconds * 1000;
  if (ttl_ms <= 0) return;
  {
    std::lock_guard lock(mu_);
    BucketInfo& info = buckets_[{entity_id, resource}];
    info.verified_until = now + ttl_ms;
    info.limit_names = names;
    info.shard_count = std::max(info.shard_count, shard_count);
  }
  RememberWarm(entity_id, resource, names, now + ttl_ms);
}

void RateLimiterImpl::ForgetBuckets() {
  {
    std::lock_guard lock(mu_);
    buckets_.clear();
    entities_.clear();
  }
  for (size_t i = 0; i < kWarmStripes; ++i) {
    std::lock_guard lock(warm_[i].mu);
    warm_[i].map.clear();
  }
}

RateLimiterImpl::EntityInfo RateLimiterImpl::LookupEntity(const std::string& entity_id) {
  {
    std::lock_guard lock(mu_);
    auto it = entities_.find(entity_id);
    if (it != entities_.end()) return it->second;
  }
  EntityInfo info;
  if (auto item = store_->Get(keys::EntityMeta(ns_, entity_id), false)) {
    const Entity e = codec::DecodeEntity(*item);
    info = {e.cascade, e.parent_id};
  }
  RememberEntity(entity_id, info);
  return info;
}

}  // namespace zae

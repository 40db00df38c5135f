// The warm acquire on typed buckets (include/zae/store.h, BucketWrite): for
// a bucket this process verified within one config-cache TTL, one typed
// write with every limit guarded, and a lease that points at the cached
// bucket instead of copying names. Nothing here builds a string, an Item or
// a heap block on success; the generic paths (fast_path.cc, acquire.cc)
// handle everything else and stay the reference for what a result means.
#include <deque>

#include "limiter/bucket_plan.h"
#include "limiter/keys.h"
#include "limiter/rate_limiter_impl.h"
#include "zae/errors.h"
#include "zae/validate.h"

namespace zae {
namespace {

// An array left uninitialized: a warm acquire fills only the limits its
// bucket has, and zeroing all of them would cost more than the write.
template <class T, size_t N>
struct Scratch {
  Scratch() {}
  union {
    T v[N];
  };
};

// What a lease made from generic LeaseEntry values points at.
struct LeaseBlock {
  std::shared_ptr<BucketWriter> writer;
  std::deque<detail::LeaseBucket> buckets;
  std::deque<detail::LeaseLimit> limits;
};

}  // namespace

std::shared_ptr<const RateLimiterImpl::WarmBucket> RateLimiterImpl::FindWarm(
    const std::string& entity, const std::string& resource) {
  const WarmLookup key{entity, resource, WarmHash(entity, resource)};
  WarmStripe& s = WarmStripeOf(key.hash);
  std::lock_guard lock(s.mu);
  auto it = s.map.find(key);
  return it == s.map.end() ? nullptr : it->second;
}

void RateLimiterImpl::RememberWarm(const std::string& entity, const std::string& resource,
                                   const std::set<std::string>& names, int64_t verified_until) {
  // Sharded buckets (DynamoDB's default) keep the generic fast path in the
  // synchronous API: its drained-shard retries and doubling decide from
  // whole items. The asynchronous one (WarmAsync, async.cc) writes them
  // typed and hands a failed write to that generic decision.
  if ((caps_.sharding && !caps_.async_io) || names.empty() || names.size() > kMaxWarmLimits) {
    return;
  }
  {
    std::lock_guard lock(mu_);
    auto e = entities_.find(entity);
    // Cascading entities write two buckets: the generic fast path.
    if (e == entities_.end() || (e->second.cascade && e->second.parent_id)) return;
    auto b = buckets_.find({entity, resource});
    if (b == buckets_.end() || b->second.shard_count != 1) return;
  }
  auto warm = std::make_shared<WarmBucket>();
  warm->writer = writer_;
  warm->bucket.entity = entity;
  warm->bucket.resource = resource;
  warm->bucket.key = keys::Bucket(ns_, entity, resource, 0);
  warm->bucket.handle = store_->OpenBucket(warm->bucket.key);
  for (const std::string& name : names) warm->limits.push_back({&warm->bucket, name, {}});
  warm->verified_until = verified_until;
  WarmStripe& s = WarmStripeOf(WarmHash(entity, resource));
  std::lock_guard lock(s.mu);
  s.map.insert_or_assign({entity, resource}, std::move(warm));
}

void RateLimiterImpl::ForgetWarm(const std::string& entity, const std::string& resource) {
  const WarmLookup key{entity, resource, WarmHash(entity, resource)};
  WarmStripe& s = WarmStripeOf(key.hash);
  std::lock_guard lock(s.mu);
  auto it = s.map.find(key);
  if (it != s.map.end()) s.map.erase(it);
}

bool RateLimiterImpl::WarmDeltas(const WarmBucket& warm, const Amounts& consume,
                                 BucketLimitDelta* deltas, int64_t* amounts) {
  size_t named = 0;
  for (size_t i = 0; i < warm.limits.size(); ++i) {
    auto it = consume.find(warm.limits[i].name);
    amounts[i] = it == consume.end() ? 0 : it->second;
    if (it != consume.end()) ++named;
    if (amounts[i] < 0 || amounts[i] > kMaxLimitValue) return false;
    const int64_t m = ToMilli(amounts[i]);
    deltas[i] = BucketLimitDelta{warm.limits[i].name, m, true, m};
  }
  return named == consume.size();
}

AcquireResult RateLimiterImpl::WarmLease(std::shared_ptr<const WarmBucket> warm,
                                         const BucketWrite& w, const BucketLimitView* views,
                                         const int64_t* amounts, const std::string& entity_id,
                                         const std::string& resource) {
  if (w.shard_count != 1) {  // sharded by another client: the generic path from now on
    ForgetWarm(entity_id, resource);
    LearnShardCount(entity_id, resource, w.shard_count);
  }
  const WarmBucket* wb = warm.get();
  Lease lease(writer_.get(), std::move(warm), false);  // no second refcount increment
  for (size_t i = 0; i < wb->limits.size(); ++i) {
    const BucketLimitView& v = views[i];
    lease.AddSlot(&wb->limits[i], BucketState{v.tk, w.rf, v.cp, v.ra, v.rp, v.tc}, amounts[i]);
  }
  return AcquireResult(std::move(lease));
}

std::optional<AcquireResult> RateLimiterImpl::WarmPath(const std::string& entity_id,
                                                       const std::string& resource,
                                                       const Amounts& consume, int64_t now,
                                                       bool* to_slow) {
  *to_slow = false;
  if (options_.config_cache_ttl_seconds <= 0 || caps_.sharding || consume.empty()) {
    return std::nullopt;
  }
  std::shared_ptr<const WarmBucket> warm = FindWarm(entity_id, resource);
  if (!warm || warm->verified_until < now) return std::nullopt;
  const size_t n = warm->limits.size();
  Scratch<BucketLimitDelta, kMaxWarmLimits> delta_buf;
  Scratch<BucketLimitView, kMaxWarmLimits> view_buf;
  BucketLimitDelta* deltas = delta_buf.v;
  BucketLimitView* views = view_buf.v;
  int64_t amounts[kMaxWarmLimits];
  if (!WarmDeltas(*warm, consume, deltas, amounts)) return std::nullopt;
  BucketWrite w;
  w.limits = deltas;
  w.limit_count = n;
  w.ttl_after = FloorDiv(now, 1000);
  w.views = views;
  const detail::LeaseBucket* bucket = &warm->bucket;
  writer_->WriteBuckets(&w, &bucket, 1, 1, now);
  auto state_of = [&](size_t i) {
    return BucketState{views[i].tk, w.rf, views[i].cp, views[i].ra, views[i].rp, views[i].tc};
  };
  if (w.ok()) return WarmLease(std::move(warm), w, views, amounts, entity_id, resource);
  *to_slow = true;
  if (!w.exists) {
    // The bucket is gone (deleted or expired): the slow path makes it.
    ForgetWarm(entity_id, resource);
    std::lock_guard lock(mu_);
    buckets_.erase({entity_id, resource});
    return std::nullopt;
  }
  // Decide from what the write saw, exactly as the generic fast path does.
  if (w.shard_count > 1) {
    // Sharded by a client that shards (e.g. a Python one on DynamoDB): the
    // slow path reads shard 0 and learns the count.
    ForgetWarm(entity_id, resource);
    LearnShardCount(entity_id, resource, w.shard_count);
    return std::nullopt;
  }
  for (size_t i = 0; i < n; ++i) {
    if (!views[i].present) return std::nullopt;  // a limit left the bucket
  }
  LimitStatus statuses[kMaxWarmLimits];
  bool exceeded = false;
  for (size_t i = 0; i < n; ++i) {
    const BucketState s = state_of(i);
    statuses[i] = plan::StatusOf(entity_id, resource, plan::LimitOfState(warm->limits[i].name, s),
                                 s, amounts[i], now);
    exceeded |= statuses[i].exceeded;
  }
  if (!exceeded) return std::nullopt;  // refilling helps: the slow path
  *to_slow = false;
  return AcquireResult(Denial::MoveFrom(std::span<LimitStatus>(statuses, n)));
}

Lease RateLimiterImpl::MakeLease(std::vector<LeaseEntry> entries) {
  auto block = std::make_shared<LeaseBlock>();
  block->writer = writer_;
  Lease lease(writer_.get(), block, false);
  for (const LeaseEntry& e : entries) {
    const detail::LeaseBucket* bucket = nullptr;
    for (const detail::LeaseBucket& b : block->buckets) {
      if (b.entity == e.entity_id && b.resource == e.resource && b.shard == e.shard) bucket = &b;
    }
    if (!bucket) {
      detail::LeaseBucket& b = block->buckets.emplace_back();
      b.entity = e.entity_id;
      b.resource = e.resource;
      b.shard = e.shard;
      b.key = keys::Bucket(ns_, e.entity_id, e.resource, e.shard);
      bucket = &b;
    }
    block->limits.push_back({bucket, e.limit.name, e.limit});
    lease.AddSlot(&block->limits.back(), e.state, e.consumed);
    lease.slot(lease.size() - 1).initial = e.initial_consumed;
  }
  return lease;
}

AcquireResult RateLimiterImpl::Unavailable(const std::exception& e, const AcquireOptions& options,
                                           const std::string& entity_id,
                                           const std::string& resource) {
  if (ResolveMode(options) == OnUnavailable::kAllow) {
    return AcquireResult(Lease(writer_.get(), writer_, true));
  }
  throw RateLimiterUnavailable(e.what(), store_->Describe(), entity_id, resource);
}

}  // namespace zae

// The acquire paths (runtime.md §3), with the fixes of BRIEF.md's policy:
//   fast path  one conditional ADD per bucket (child and parent written
//              concurrently), used only on buckets the slow path verified
//              against the current config within one cache TTL, so config
//              changes reach buckets within that TTL;
//   slow path  read config + META + bucket, refill and check locally, then
//              one conditional write (a transaction for a cascade) guarded
//              by the `rf` optimistic lock; lost races re-read and retry.
#include <algorithm>
#include <random>
#include <thread>

#include "limiter/keys.h"
#include "limiter/rate_limiter_impl.h"
#include "zae/errors.h"
#include "zae/validate.h"

namespace zae {
namespace {

constexpr int kMaxSlowAttempts = 24;

// The limit a bucket state describes (display and statuses only).
Limit LimitOfState(const std::string& name, const BucketState& s) {
  return Limit{name, FloorDiv(s.capacity_milli, 1000), FloorDiv(s.refill_amount_milli, 1000),
               FloorDiv(s.refill_period_ms, 1000)};
}

LimitStatus StatusOf(const std::string& entity, const std::string& resource, const Limit& limit,
                     const BucketState& state, int64_t requested, int64_t now) {
  const ConsumeResult r = TryConsume(state, requested, now);
  return LimitStatus{entity,
                     resource,
                     limit.name,
                     limit,
                     FloorDiv(Refill(state, now).tokens_milli, 1000),
                     requested,
                     !r.success,
                     r.retry_after_seconds};
}

int64_t Amount(const Amounts& consume, const std::string& name) {
  auto it = consume.find(name);
  return it == consume.end() ? 0 : it->second;
}

std::set<std::string> NamesOf(const std::vector<Limit>& limits) {
  std::set<std::string> out;
  for (const Limit& l : limits) out.insert(l.name);
  return out;
}

// One bucket's slow-path outcome: statuses, lease entries, and the write.
struct Plan {
  std::vector<LimitStatus> statuses;
  std::vector<LeaseEntry> entries;
  WriteOp op;
  bool exceeded = false;
};

struct BucketTarget {
  std::string ns, entity, resource;
  const ResolvedLimits* resolved;
  const std::optional<Item>* item;
  bool cascade = false;
  std::optional<std::string> parent_id;
};

std::optional<int64_t> TtlSeconds(const ResolvedLimits& r, double multiplier) {
  if (r.source == ConfigSource::kEntity) return std::nullopt;
  return BucketTtlSeconds(r.limits, multiplier);
}

Plan PlanCreate(const BucketTarget& t, const Amounts& consume, int64_t now, double multiplier) {
  Plan plan;
  Item item{{"PK", Value(keys::BucketPk(t.ns, t.entity, t.resource, 0))},
            {"SK", Value("#STATE")},
            {"entity_id", Value(t.entity)},
            {"resource", Value(t.resource)},
            {"rf", Value(now)},
            {"cascade", Value(t.cascade)},
            {"shard_count", Value(1)},
            {"GSI2PK", Value(keys::ResourcePk(t.ns, t.resource))},
            {"GSI2SK", Value("BUCKET#" + t.entity + "#0")},
            {"GSI3PK", Value(keys::EntityPk(t.ns, t.entity))},
            {"GSI3SK", Value("BUCKET#" + t.resource + "#0")},
            {"GSI4PK", Value(t.ns)},
            {"GSI4SK", Value("BUCKET#" + t.entity + "#" + t.resource + "#0")}};
  if (t.parent_id) item["parent_id"] = Value(*t.parent_id);
  if (auto ttl = TtlSeconds(*t.resolved, multiplier); ttl && *ttl > 0) {
    item["ttl"] = Value(FloorDiv(now, 1000) + *ttl);
  }
  for (const Limit& l : t.resolved->limits) {
    const int64_t c = Amount(consume, l.name);
    BucketState s = BucketState::FromLimit(l, now);
    plan.statuses.push_back(StatusOf(t.entity, t.resource, l, s, c, now));
    plan.exceeded |= plan.statuses.back().exceeded;
    s.tokens_milli = SaturatingAdd(s.tokens_milli, -ToMilli(c));
    s.total_consumed_milli = ToMilli(c);
    item[keys::BucketAttr(l.name, "tk")] = Value(s.tokens_milli);
    item[keys::BucketAttr(l.name, "cp")] = Value(s.capacity_milli);
    item[keys::BucketAttr(l.name, "ra")] = Value(s.refill_amount_milli);
    item[keys::BucketAttr(l.name, "rp")] = Value(s.refill_period_ms);
    item[keys::BucketAttr(l.name, "tc")] = Value(*s.total_consumed_milli);
    plan.entries.push_back(LeaseEntry{t.entity, t.resource, l, s, c, c, 0});
  }
  // The hidden write-capacity limit, exactly as the reference creates it.
  for (const char* f : {"tk", "cp", "ra"})
    item[keys::BucketAttr("wcu", f)] = Value(codec::kWcuMilli);
  item[keys::BucketAttr("wcu", "rp")] = Value(codec::kWcuPeriodMs);
  item[keys::BucketAttr("wcu", "tc")] = Value(0);
  plan.op = Put{std::move(item), Condition().NotExists("PK"), false};
  return plan;
}

Plan PlanNormal(const BucketTarget& t, const codec::BucketItem& bucket, const Amounts& consume,
                int64_t now, double multiplier, bool refill_wcu) {
  Plan plan;
  Update u;
  u.key = keys::Bucket(t.ns, t.entity, t.resource, 0);
  u.condition.Compare("rf", Predicate::Op::kEq, Value(bucket.rf));
  u.set.emplace_back("rf", Value(now));
  for (const Limit& l : t.resolved->limits) {
    const int64_t c = Amount(consume, l.name);
    auto stored = bucket.limits.find(l.name);
    const bool exists = stored != bucket.limits.end();
    BucketState s = exists ? stored->second : BucketState::FromLimit(l, now);
    const int64_t original = exists ? s.tokens_milli : 0;
    // The stored config wins over the bucket: a changed limit takes effect
    // at the next slow path (within one config-cache TTL).
    if (!exists || s.capacity_milli != l.capacity_milli() ||
        s.refill_amount_milli != l.refill_amount_milli() ||
        s.refill_period_ms != l.refill_period_ms()) {
      s.capacity_milli = l.capacity_milli();
      s.refill_amount_milli = l.refill_amount_milli();
      s.refill_period_ms = l.refill_period_ms();
      u.set.emplace_back(keys::BucketAttr(l.name, "cp"), Value(s.capacity_milli));
      u.set.emplace_back(keys::BucketAttr(l.name, "ra"), Value(s.refill_amount_milli));
      u.set.emplace_back(keys::BucketAttr(l.name, "rp"), Value(s.refill_period_ms));
    }
    plan.statuses.push_back(StatusOf(t.entity, t.resource, l, s, c, now));
    plan.exceeded |= plan.statuses.back().exceeded;
    const ConsumeResult r = TryConsume(s, c, now);
    const int64_t delta = SaturatingAdd(r.tokens_milli, -original);
    if (delta != 0 || !exists) u.add.emplace_back(keys::BucketAttr(l.name, "tk"), delta);
    if (c != 0 || !exists) u.add.emplace_back(keys::BucketAttr(l.name, "tc"), ToMilli(c));
    // Fast-path ADDs do not move rf; guard against them draining the
    // tokens this write relies on.
    if (exists && delta < 0)
      u.condition.Compare(keys::BucketAttr(l.name, "tk"), Predicate::Op::kGe, Value(-delta));
    s.tokens_milli = r.tokens_milli;
    s.last_refill_ms = now;
    s.total_consumed_milli = SaturatingAdd(s.total_consumed_milli.value_or(0), ToMilli(c));
    plan.entries.push_back(LeaseEntry{t.entity, t.resource, l, s, c, c, 0});
  }
  const std::set<std::string> names = NamesOf(t.resolved->limits);
  for (const auto& [name, state] : bucket.limits) {
    if (name == kWcuLimitName) {
      if (refill_wcu) {  // sharding follows the real write rate
        const int64_t delta = Refill(state, now).tokens_milli - state.tokens_milli;
        if (delta != 0) u.add.emplace_back(keys::BucketAttr(name, "tk"), delta);
      }
      continue;
    }
    if (names.count(name)) continue;
    // A limit removed from the config leaves the bucket.
    for (const char* f : {"tk", "cp", "ra", "rp", "tc"})
      u.remove.push_back(keys::BucketAttr(name, f));
  }
  if (t.resolved->source == ConfigSource::kEntity) {
    u.remove.push_back("ttl");
  } else if (auto ttl = BucketTtlSeconds(t.resolved->limits, multiplier)) {
    if (*ttl > 0) {
      u.set.emplace_back("ttl", Value(FloorDiv(now, 1000) + *ttl));
    } else {
      u.remove.push_back("ttl");
    }
  }
  plan.op = std::move(u);
  return plan;
}

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

AcquireResult RateLimiterImpl::Acquire(const std::string& entity_id, const std::string& resource,
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
  try {
    const int64_t now = clock_.NowMs();
    if (options_.speculative_writes) {
      if (auto fast = FastPath(entity_id, resource, consume, now)) return std::move(*fast);
    }
    if (auto slow = SlowPath(entity_id, resource, consume, options.limits, now)) {
      return std::move(*slow);
    }
    throw StoreError("no result from the store");
  } catch (const ValidationError&) {
    throw;
  } catch (const RateLimitError&) {
    throw;
  } catch (const std::exception& e) {
    if (ResolveMode(options) == OnUnavailable::kAllow) {
      return AcquireResult(Lease(writer_, {}, true));
    }
    throw RateLimiterUnavailable(e.what(), store_->Describe(), entity_id, resource);
  }
}

OnUnavailable RateLimiterImpl::ResolveMode(const AcquireOptions& options) {
  if (options.on_unavailable) return *options.on_unavailable;
  try {
    if (auto mode = cache_.SystemOnUnavailable()) {
      last_mode_ = static_cast<int>(*mode);
      return *mode;
    }
  } catch (const std::exception&) {
    // The store is down: fall back to the last value seen.
  }
  const int last = last_mode_.load();
  return last < 0 ? OnUnavailable::kBlock : static_cast<OnUnavailable>(last);
}

namespace {

// One bucket the fast path writes, and the limit names it conditions on.
struct FastTarget {
  std::string entity;
  std::set<std::string> names;
};

Update FastUpdate(const std::string& ns, const FastTarget& t, const std::string& resource,
                  const Amounts& consume, int64_t now, bool sharding) {
  Update u;
  u.key = keys::Bucket(ns, t.entity, resource, 0);
  for (const std::string& name : t.names) {
    const int64_t m = ToMilli(Amount(consume, name));
    if (m != 0) {
      u.add.emplace_back(keys::BucketAttr(name, "tk"), -m);
      u.add.emplace_back(keys::BucketAttr(name, "tc"), m);
    }
    // Also for zero: a limit in debt blocks every acquire, as in the slow path.
    u.condition.Compare(keys::BucketAttr(name, "tk"), Predicate::Op::kGe, Value(m));
  }
  if (sharding) {
    u.add.emplace_back(keys::BucketAttr("wcu", "tk"), -1000);
    u.add.emplace_back(keys::BucketAttr("wcu", "tc"), 1000);
    u.condition.Compare(keys::BucketAttr("wcu", "tk"), Predicate::Op::kGe, Value(1000));
  }
  u.condition.Exists("PK");
  u.condition.AnyOf({{"ttl", Predicate::Op::kNotExists, {}},
                     {"ttl", Predicate::Op::kGt, Value(FloorDiv(now, 1000))}});
  u.return_new = true;
  u.return_old_on_failure = true;
  return u;
}

// The unconditional ADD that gives a fast-path consumption back.
Update UndoUpdate(const std::string& ns, const FastTarget& t, const std::string& resource,
                  const Amounts& consume) {
  Update u;
  u.key = keys::Bucket(ns, t.entity, resource, 0);
  for (const std::string& name : t.names) {
    const int64_t m = ToMilli(Amount(consume, name));
    if (m == 0) continue;
    u.add.emplace_back(keys::BucketAttr(name, "tk"), m);
    u.add.emplace_back(keys::BucketAttr(name, "tc"), -m);
  }
  u.condition.Exists("PK");
  return u;
}

std::set<std::string> AppLimitNames(const codec::BucketItem& b) {
  std::set<std::string> out;
  for (const auto& [name, state] : b.limits) {
    if (name != kWcuLimitName) out.insert(name);
  }
  return out;
}

}  // namespace

std::optional<AcquireResult> RateLimiterImpl::FastPath(const std::string& entity_id,
                                                       const std::string& resource,
                                                       const Amounts& consume, int64_t now) {
  // With the cache off every acquire verifies the stored config.
  if (options_.config_cache_ttl_seconds <= 0) return std::nullopt;
  std::set<std::string> consume_names;
  for (const auto& [name, amount] : consume) consume_names.insert(name);
  // A bucket this process has not verified yet is tried with the consumed
  // names only (the reference's speculative write); a verified one with all
  // of its limits; an expired verification goes to the slow path.
  auto target_for = [&](const std::string& entity) -> std::optional<FastTarget> {
    auto b = buckets_.find({entity, resource});
    if (b == buckets_.end()) return FastTarget{entity, consume_names};
    if (b->second.verified_until < now) return std::nullopt;
    return FastTarget{entity, b->second.limit_names};
  };
  std::vector<FastTarget> targets;
  bool entity_known;
  {
    std::lock_guard lock(mu_);
    auto child = target_for(entity_id);
    if (!child) return std::nullopt;
    targets.push_back(std::move(*child));
    auto ent = entities_.find(entity_id);
    entity_known = ent != entities_.end();
    if (entity_known && ent->second.cascade && ent->second.parent_id) {
      auto parent = target_for(*ent->second.parent_id);
      if (!parent) return std::nullopt;
      targets.push_back(std::move(*parent));
    }
  }
  for (const std::string& name : consume_names) {
    bool known = false;
    for (const auto& t : targets) known |= t.names.count(name) > 0;
    if (!known) return std::nullopt;  // the slow path validates or adds it
  }
  std::vector<WriteOp> ops;
  for (const auto& t : targets) {
    ops.push_back(FastUpdate(ns_, t, resource, consume, now, caps_.sharding));
  }
  BucketWriter::Outcome out =
      writer_->Write(std::move(ops), BucketWriter::Mode::kIndependent, 1, now);
  std::vector<WriteResult>& results = out.results;
  // First sight of this entity: its bucket says whether it cascades.
  if (!entity_known && results[0].ok() && results[0].item) {
    const codec::BucketItem b = codec::DecodeBucket(*results[0].item);
    RememberEntity(entity_id, {b.cascade, b.parent_id});
    if (b.cascade && b.parent_id) {
      std::optional<FastTarget> parent;
      {
        std::lock_guard lock(mu_);
        parent = target_for(*b.parent_id);
      }
      if (!parent) {
        writer_->Write({UndoUpdate(ns_, targets[0], resource, consume)},
                       BucketWriter::Mode::kIndependent, -1, now);
        return std::nullopt;
      }
      targets.push_back(std::move(*parent));
      BucketWriter::Outcome p =
          writer_->Write({FastUpdate(ns_, targets.back(), resource, consume, now, caps_.sharding)},
                         BucketWriter::Mode::kIndependent, 1, now);
      results.push_back(std::move(p.results[0]));
      out.applied.push_back(p.applied[0]);
    }
  }

  auto undo_successes = [&] {
    std::vector<WriteOp> undo;
    for (size_t i = 0; i < targets.size(); ++i) {
      if (out.applied[i]) undo.push_back(UndoUpdate(ns_, targets[i], resource, consume));
    }
    if (!undo.empty()) writer_->Write(std::move(undo), BucketWriter::Mode::kIndependent, -1, now);
  };
  bool all_ok = true;
  for (const auto& r : results) all_ok &= r.ok();
  if (all_ok) {
    std::vector<LeaseEntry> entries;
    for (size_t i = 0; i < targets.size(); ++i) {
      if (!results[i].item) throw StoreError("store returned no item for a successful update");
      const codec::BucketItem b = codec::DecodeBucket(*results[i].item);
      for (const auto& [name, state] : b.limits) {
        if (name == kWcuLimitName) continue;
        const int64_t c = Amount(consume, name);
        if (c == 0 && state.tokens_milli < 0) {  // an unnamed limit in debt
          undo_successes();
          return std::nullopt;  // the slow path reports the denial
        }
        entries.push_back(
            LeaseEntry{targets[i].entity, resource, LimitOfState(name, state), state, c, c, 0});
      }
      std::lock_guard lock(mu_);
      buckets_.try_emplace(
          {targets[i].entity, resource},
          BucketInfo{now + options_.config_cache_ttl_seconds * 1000, AppLimitNames(b)});
    }
    return AcquireResult(MakeLease(std::move(entries)));
  }
  undo_successes();
  std::vector<LimitStatus> statuses;
  bool refill_helps = true;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (results[i].ok()) continue;
    if (!results[i].item) {
      std::lock_guard lock(mu_);
      buckets_.erase({targets[i].entity, resource});
      return std::nullopt;
    }
    const codec::BucketItem b = codec::DecodeBucket(*results[i].item);
    for (const std::string& name : targets[i].names) {
      auto it = b.limits.find(name);
      if (it == b.limits.end()) return std::nullopt;
      LimitStatus s = StatusOf(targets[i].entity, resource, LimitOfState(name, it->second),
                               it->second, Amount(consume, name), now);
      refill_helps &= !s.exceeded;
      statuses.push_back(std::move(s));
    }
  }
  if (refill_helps) return std::nullopt;  // the slow path refills and retries
  return AcquireResult(Denial(std::move(statuses)));
}

std::optional<AcquireResult> RateLimiterImpl::SlowPath(
    const std::string& entity_id, const std::string& resource, const Amounts& consume,
    const std::optional<std::vector<Limit>>& fallback, int64_t now) {
  thread_local std::minstd_rand jitter{std::random_device{}()};
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
    std::vector<std::optional<Item>> reads = store_->BatchGet(
        {keys::EntityMeta(ns_, entity_id), keys::Bucket(ns_, entity_id, resource, 0)}, false);
    EntityInfo info;
    if (reads[0]) {
      const Entity e = codec::DecodeEntity(*reads[0]);
      info = {e.cascade, e.parent_id};
    }
    RememberEntity(entity_id, info);

    ResolvedLimits parent;
    std::optional<Item> parent_item;
    const bool cascade = info.cascade && info.parent_id.has_value();
    if (cascade) {
      parent = ResolveWithFallback(*info.parent_id, resource, fallback);
      if (!parent.limits.empty()) {
        parent_item = store_->Get(keys::Bucket(ns_, *info.parent_id, resource, 0), false);
      }
    }
    const std::set<std::string> child_names = NamesOf(child.limits);
    const std::set<std::string> parent_names = NamesOf(parent.limits);
    for (const auto& [name, amount] : consume) {
      if (!child_names.count(name) && !parent_names.count(name)) {
        throw ValidationError(
            "consume", name,
            "'" + name + "' is not a limit of entity '" + entity_id + "'" +
                (cascade ? " or its parent '" + *info.parent_id + "'" : std::string()) +
                " for resource '" + resource + "'");
      }
    }

    std::vector<Plan> plans;
    auto plan_for = [&](BucketTarget t) {
      const bool is_new = [&] {
        if (!*t.item) return true;
        const codec::BucketItem b = codec::DecodeBucket(**t.item);
        for (const Limit& l : t.resolved->limits)
          if (b.limits.count(l.name)) return !b.has_rf;
        return true;
      }();
      if (is_new && *t.item) {
        // An item without any resolved limit (e.g. all limits renamed):
        // replace it under its current rf.
        Plan p = PlanCreate(t, consume, now, options_.bucket_ttl_multiplier);
        const codec::BucketItem b = codec::DecodeBucket(**t.item);
        std::get<Put>(p.op).condition =
            b.has_rf ? Condition().Compare("rf", Predicate::Op::kEq, Value(b.rf))
                     : Condition().NotExists("rf");
        return p;
      }
      return is_new ? PlanCreate(t, consume, now, options_.bucket_ttl_multiplier)
                    : PlanNormal(t, codec::DecodeBucket(**t.item), consume, now,
                                 options_.bucket_ttl_multiplier, caps_.sharding);
    };
    plans.push_back(plan_for(
        BucketTarget{ns_, entity_id, resource, &child, &reads[1], info.cascade, info.parent_id}));
    if (cascade && !parent.limits.empty()) {
      plans.push_back(plan_for(BucketTarget{ns_, *info.parent_id, resource, &parent, &parent_item,
                                            false, std::nullopt}));
    }
    std::vector<LimitStatus> statuses;
    bool exceeded = false;
    for (Plan& p : plans) {
      exceeded |= p.exceeded;
      statuses.insert(statuses.end(), p.statuses.begin(), p.statuses.end());
    }
    if (exceeded) return AcquireResult(Denial(std::move(statuses)));

    std::vector<WriteOp> ops;
    for (const Plan& p : plans) ops.push_back(p.op);
    if (!writer_->Write(std::move(ops), BucketWriter::Mode::kAtomic, 1, now).all_ok())
      continue;  // another writer moved the bucket: re-read
    RememberBucket(entity_id, resource, child_names, now);
    if (plans.size() > 1) RememberBucket(*info.parent_id, resource, parent_names, now);
    std::vector<LeaseEntry> entries;
    for (Plan& p : plans) {
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
                                     std::set<std::string> names, int64_t now) {
  const int64_t ttl_ms = options_.config_cache_ttl_seconds * 1000;
  if (ttl_ms <= 0) return;
  std::lock_guard lock(mu_);
  buckets_[{entity_id, resource}] = BucketInfo{now + ttl_ms, std::move(names)};
}

void RateLimiterImpl::ForgetBuckets() {
  std::lock_guard lock(mu_);
  buckets_.clear();
  entities_.clear();
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

Lease RateLimiterImpl::MakeLease(std::vector<LeaseEntry> entries) {
  return Lease(writer_, std::move(entries), false);
}

}  // namespace zae

// The fast path: one conditional ADD per bucket, no config read
// (runtime.md §3.4, with BRIEF.md's fixes). Used on buckets this process
// verified against the stored config within one cache TTL, or — once — on a
// bucket it has not seen yet, as the reference's speculative write.
#include <algorithm>
#include <random>

#include "limiter/bucket_plan.h"
#include "limiter/keys.h"
#include "limiter/rate_limiter_impl.h"
#include "zae/errors.h"
#include "zae/validate.h"

namespace zae {
namespace {

// Other shards tried when the chosen one is empty (the reference's retry).
constexpr int kMaxShardRetries = 2;

Update FastUpdate(const std::string& ns, const FastTarget& t, const std::string& resource,
                  const Amounts& consume, int64_t now, bool sharding) {
  Update u;
  u.key = keys::Bucket(ns, t.entity, resource, t.shard);
  for (const std::string& name : t.names) {
    const int64_t m = ToMilli(plan::Amount(consume, name));
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
  u.key = keys::Bucket(ns, t.entity, resource, t.shard);
  for (const std::string& name : t.names) {
    const int64_t m = ToMilli(plan::Amount(consume, name));
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

std::optional<FastTarget> RateLimiterImpl::FastTargetFor(const std::string& entity,
                                                         const std::string& resource,
                                                         const std::set<std::string>& consume_names,
                                                         int64_t now) {
  // A bucket this process has not verified yet is tried with the consumed
  // names only; a verified one with all of its limits; an expired
  // verification goes to the slow path.
  auto b = buckets_.find({entity, resource});
  if (b == buckets_.end()) return FastTarget{entity, consume_names, 0, 1};
  if (b->second.verified_until < now) return std::nullopt;
  const int64_t n = b->second.shard_count;
  return FastTarget{entity, b->second.limit_names,
                    n > 1 ? static_cast<int>(Random() % static_cast<uint64_t>(n)) : 0, n};
}

std::optional<FastAttempt> RateLimiterImpl::FastBegin(const std::string& entity_id,
                                                      const std::string& resource,
                                                      const Amounts& consume, int64_t now) {
  // With the cache off every acquire verifies the stored config.
  if (options_.config_cache_ttl_seconds <= 0) return std::nullopt;
  FastAttempt a;
  for (const auto& [name, amount] : consume) a.consume_names.insert(name);
  {
    std::lock_guard lock(mu_);
    auto child = FastTargetFor(entity_id, resource, a.consume_names, now);
    if (!child) return std::nullopt;
    a.targets.push_back(std::move(*child));
    auto ent = entities_.find(entity_id);
    a.entity_known = ent != entities_.end();
    if (a.entity_known && ent->second.cascade && ent->second.parent_id) {
      auto parent = FastTargetFor(*ent->second.parent_id, resource, a.consume_names, now);
      if (!parent) return std::nullopt;
      a.targets.push_back(std::move(*parent));
    }
  }
  for (const std::string& name : a.consume_names) {
    bool known = false;
    for (const auto& t : a.targets) known |= t.names.count(name) > 0;
    if (!known) return std::nullopt;  // the slow path validates or adds it
  }
  for (const auto& t : a.targets) {
    a.ops.push_back(FastUpdate(ns_, t, resource, consume, now, caps_.sharding));
  }
  return a;
}

std::optional<AcquireResult> RateLimiterImpl::FastPath(
    const std::string& entity_id, const std::string& resource, const Amounts& consume,
    const std::optional<std::vector<Limit>>& fallback, int64_t now, int* slow_shard) {
  std::optional<FastAttempt> a = FastBegin(entity_id, resource, consume, now);
  if (!a) return std::nullopt;
  *slow_shard = a->targets[0].shard;
  BucketWriter::Outcome out =
      writer_->Write(std::move(a->ops), BucketWriter::Mode::kIndependent, 1, now);
  return FastFinish(*a, out, entity_id, resource, consume, fallback, now, true, nullptr);
}

std::optional<AcquireResult> RateLimiterImpl::FastFinish(
    FastAttempt& attempt, BucketWriter::Outcome& out, const std::string& entity_id,
    const std::string& resource, const Amounts& consume,
    const std::optional<std::vector<Limit>>& fallback, int64_t now, bool may_block,
    bool* needs_block) {
  std::vector<FastTarget>& targets = attempt.targets;
  std::vector<WriteResult>& results = out.results;
  auto block = [&] {
    *needs_block = true;
    return std::nullopt;
  };
  // Anything but a clean success needs more store calls (undo, refill,
  // shard moves) or at least the slow path.
  if (!may_block && !out.all_ok()) return block();
  // First sight of this entity: its bucket says whether it cascades.
  if (!attempt.entity_known && results[0].ok() && results[0].item) {
    const codec::BucketItem b = codec::DecodeBucket(*results[0].item);
    RememberEntity(entity_id, {b.cascade, b.parent_id});
    if (b.cascade && b.parent_id) {
      if (!may_block) return block();
      std::optional<FastTarget> parent;
      {
        std::lock_guard lock(mu_);
        parent = FastTargetFor(*b.parent_id, resource, attempt.consume_names, now);
      }
      if (!parent) {
        writer_->Write({UndoUpdate(ns_, targets[0], resource, consume)},
                       BucketWriter::Mode::kIndependent, -1, now);
        return std::nullopt;
      }
      targets.push_back(std::move(*parent));
      BucketWriter::Outcome p;
      try {
        p = writer_->Write(
            {FastUpdate(ns_, targets.back(), resource, consume, now, caps_.sharding)},
            BucketWriter::Mode::kIndependent, 1, now);
      } catch (const StoreError&) {
        // The child has consumed: give it back before the failure follows
        // on_unavailable. If the give-back fails too, the store is down and
        // the first error is the one to report.
        try {
          writer_->Write({UndoUpdate(ns_, targets[0], resource, consume)},
                         BucketWriter::Mode::kIndependent, -1, now);
        } catch (const StoreError&) {
        }
        throw;
      }
      results.push_back(std::move(p.results[0]));
      out.applied.push_back(p.applied[0]);
    }
  }

  auto undo_applied = [&] {
    std::vector<WriteOp> undo;
    for (size_t i = 0; i < targets.size(); ++i) {
      if (out.applied[i]) undo.push_back(UndoUpdate(ns_, targets[i], resource, consume));
    }
    if (!undo.empty()) writer_->Write(std::move(undo), BucketWriter::Mode::kIndependent, -1, now);
  };
  // Lease entries from a successful write's new item; false when a limit
  // the request did not name is in debt (the slow path then denies).
  auto append_entries = [&](size_t i, std::vector<LeaseEntry>& entries) {
    if (!results[i].item) throw StoreError("store returned no item for a successful update");
    const codec::BucketItem b = codec::DecodeBucket(*results[i].item);
    for (const auto& [name, state] : b.limits) {
      if (name == kWcuLimitName) continue;
      const int64_t c = plan::Amount(consume, name);
      if (c == 0 && state.tokens_milli < 0) return false;
      entries.push_back(LeaseEntry{targets[i].entity, resource, plan::LimitOfState(name, state),
                                   state, c, c, targets[i].shard});
    }
    bool fresh;
    {
      std::lock_guard lock(mu_);
      auto [it, inserted] = buckets_.try_emplace(
          {targets[i].entity, resource}, BucketInfo{now + options_.config_cache_ttl_seconds * 1000,
                                                    AppLimitNames(b), b.shard_count});
      it->second.shard_count = std::max(it->second.shard_count, b.shard_count);
      fresh = inserted;
    }
    if (fresh && targets.size() == 1) {
      RememberWarm(targets[i].entity, resource, AppLimitNames(b),
                   now + options_.config_cache_ttl_seconds * 1000);
    }
    return true;
  };
  if (out.all_ok()) {
    std::vector<LeaseEntry> entries;
    for (size_t i = 0; i < targets.size(); ++i) {
      if (!append_entries(i, entries)) {
        if (!may_block) return block();
        undo_applied();
        return std::nullopt;
      }
    }
    return AcquireResult(MakeLease(std::move(entries)));
  }
  // The child consumed and the parent refused, but refilling the parent
  // would admit it: refill the parent alone and keep the child's write
  // (one read and one write instead of undoing and redoing both).
  if (targets.size() == 2 && out.applied[0] && !results[1].ok() && results[1].item) {
    const codec::BucketItem pb = codec::DecodeBucket(*results[1].item);
    bool helps = true;
    for (const std::string& name : targets[1].names) {
      auto it = pb.limits.find(name);
      helps = helps && it != pb.limits.end() &&
              !plan::StatusOf(targets[1].entity, resource, plan::LimitOfState(name, it->second),
                              plan::EffectiveState(it->second, pb.shard_count),
                              plan::Amount(consume, name), now)
                   .exceeded;
    }
    if (helps) {
      std::optional<AcquireResult> parent;
      try {
        parent = SlowPath(targets[1].entity, resource, consume, fallback, now, targets[1].shard,
                          /*alone=*/true);
      } catch (...) {
        undo_applied();
        throw;
      }
      std::vector<LeaseEntry> entries;
      if (parent && parent->allowed() && append_entries(0, entries)) {
        for (const LeaseEntry& e : parent->lease().entries()) entries.push_back(e);
        parent->lease().Commit();  // writes nothing: its consumption is durable
        return AcquireResult(MakeLease(std::move(entries)));
      }
      if (parent && parent->allowed()) parent->lease().Rollback();
      undo_applied();
      if (parent && !parent->allowed()) return std::move(*parent);
      return std::nullopt;
    }
  }
  undo_applied();

  // Decide from the items the failed writes saw.
  std::vector<LimitStatus> statuses;
  bool deny = false;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (results[i].ok()) continue;
    FastTarget& t = targets[i];
    if (!results[i].item) {
      // A shard this process picked does not exist yet: make it.
      if (t.shard > 0 && EnsureShard(t.entity, resource, t.shard, t.shard_count)) continue;
      ForgetWarm(t.entity, resource);
      std::lock_guard lock(mu_);
      buckets_.erase({t.entity, resource});
      return std::nullopt;
    }
    const codec::BucketItem b = codec::DecodeBucket(*results[i].item);
    const int64_t n = std::max(t.shard_count, b.shard_count);
    LearnShardCount(t.entity, resource, n);
    if (caps_.sharding) {
      auto wcu = b.limits.find(std::string(kWcuLimitName));
      // Exhausted even after refilling: more than 1000 writes/s on this shard.
      if (wcu != b.limits.end() && Refill(wcu->second, now).tokens_milli < 1000) {
        DoubleShards(t.entity, resource, n);
        continue;
      }
    }
    bool shard_empty = false;
    for (const std::string& name : t.names) {
      auto it = b.limits.find(name);
      if (it == b.limits.end()) return std::nullopt;
      LimitStatus s =
          plan::StatusOf(t.entity, resource, plan::LimitOfState(name, it->second),
                         plan::EffectiveState(it->second, n), plan::Amount(consume, name), now);
      shard_empty |= s.exceeded;
      statuses.push_back(std::move(s));
    }
    if (shard_empty && n > 1) {
      // This shard's share is gone; others may still have tokens. Each
      // retry tries a shard not tried yet.
      const uint64_t offset = Random();
      for (int retry = 0; retry < std::min<int64_t>(kMaxShardRetries, n - 1); ++retry) {
        FastTarget other = t;
        other.shard = static_cast<int>(
            (t.shard + 1 + (offset + static_cast<uint64_t>(retry)) % static_cast<uint64_t>(n - 1)) %
            n);
        WriteResult r =
            writer_
                ->Write({FastUpdate(ns_, other, resource, consume, now, caps_.sharding)},
                        BucketWriter::Mode::kIndependent, 1, now)
                .results[0];
        if (r.ok() && targets.size() == 1 && r.item) {
          std::vector<LeaseEntry> entries;
          for (const auto& [name, state] : codec::DecodeBucket(*r.item).limits) {
            if (name == kWcuLimitName) continue;
            const int64_t c = plan::Amount(consume, name);
            entries.push_back(LeaseEntry{t.entity, resource, plan::LimitOfState(name, state), state,
                                         c, c, other.shard});
          }
          return AcquireResult(MakeLease(std::move(entries)));
        }
        if (r.ok()) {  // cascades go through the slow path together
          writer_->Write({UndoUpdate(ns_, other, resource, consume)},
                         BucketWriter::Mode::kIndependent, -1, now);
          return std::nullopt;
        }
      }
    }
    deny |= shard_empty;
  }
  if (!deny) return std::nullopt;  // the slow path refills and retries
  return AcquireResult(Denial(std::move(statuses)));
}

uint64_t RateLimiterImpl::Random() {
  if (options_.random) return options_.random();
  thread_local std::minstd_rand rng{std::random_device{}()};
  return rng();
}

int RateLimiterImpl::ChooseShard(const std::string& entity_id, const std::string& resource) {
  const int64_t n = ShardCount(entity_id, resource);
  return n > 1 ? static_cast<int>(Random() % static_cast<uint64_t>(n)) : 0;
}

int64_t RateLimiterImpl::ShardCount(const std::string& entity_id, const std::string& resource) {
  std::lock_guard lock(mu_);
  auto it = buckets_.find({entity_id, resource});
  return it == buckets_.end() ? 1 : it->second.shard_count;
}

void RateLimiterImpl::LearnShardCount(const std::string& entity_id, const std::string& resource,
                                      int64_t n) {
  std::lock_guard lock(mu_);
  auto it = buckets_.find({entity_id, resource});
  if (it != buckets_.end()) it->second.shard_count = std::max(it->second.shard_count, n);
}

bool RateLimiterImpl::EnsureShard(const std::string& entity_id, const std::string& resource,
                                  int shard, int64_t shard_count) {
  const int source = plan::SourceShard(shard);
  auto items = store_->BatchGet(
      {keys::Bucket(ns_, entity_id, resource, 0), keys::Bucket(ns_, entity_id, resource, source)},
      true);
  if (!items[0]) return false;
  if (!items[1]) return EnsureShard(entity_id, resource, source, shard_count);
  const int64_t n = std::max(shard_count, codec::DecodeBucket(*items[0]).shard_count);
  // Half of the source's tokens move to the new shard, in one transaction.
  Update take;
  take.key = keys::Bucket(ns_, entity_id, resource, source);
  std::map<std::string, int64_t> moved;
  for (const auto& [name, state] : codec::DecodeBucket(*items[1]).limits) {
    if (name == kWcuLimitName || state.tokens_milli < 2) continue;
    moved[name] = state.tokens_milli / 2;
    take.add.emplace_back(keys::BucketAttr(name, "tk"), -moved[name]);
    take.condition.Compare(keys::BucketAttr(name, "tk"), Predicate::Op::kGe, Value(moved[name]));
  }
  take.condition.Exists("PK");
  std::vector<WriteOp> ops{plan::CloneShard(*items[0], ns_, shard, n, moved)};
  if (!take.add.empty()) ops.push_back(std::move(take));
  store_->Transact(ops);  // failed: another client made it, or tokens moved
  return true;
}

void RateLimiterImpl::DoubleShards(const std::string& entity_id, const std::string& resource,
                                   int64_t from) {
  if (from >= plan::kMaxShards) return;
  Update u;
  u.key = keys::Bucket(ns_, entity_id, resource, 0);
  u.set.emplace_back("shard_count", Value(from * 2));
  u.condition.Compare("shard_count", Predicate::Op::kEq, Value(from));
  store_->Write(u);  // a failed condition means another client doubled it
  LearnShardCount(entity_id, resource, from * 2);
}

}  // namespace zae

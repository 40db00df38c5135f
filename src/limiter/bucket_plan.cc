#include "limiter/bucket_plan.h"

#include "limiter/keys.h"
#include "limiter/usage.h"
#include "zae/errors.h"
#include "zae/validate.h"

namespace zae::plan {
namespace {

std::optional<int64_t> TtlSeconds(const ResolvedLimits& r, double multiplier) {
  if (r.source == ConfigSource::kEntity) return std::nullopt;
  return BucketTtlSeconds(r.limits, multiplier);
}

std::string ShardSuffix(const std::string& entity, const std::string& resource, int shard) {
  return entity + "#" + resource + "#" + std::to_string(shard);
}

}  // namespace

int64_t Amount(const Amounts& consume, const std::string& name) {
  auto it = consume.find(name);
  return it == consume.end() ? 0 : it->second;
}

std::set<std::string> NamesOf(const std::vector<Limit>& limits) {
  std::set<std::string> out;
  for (const Limit& l : limits) out.insert(l.name);
  return out;
}

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

BucketState EffectiveState(BucketState s, int64_t shard_count) {
  if (shard_count > 1) {
    s.capacity_milli /= shard_count;
    s.refill_amount_milli /= shard_count;
  }
  return s;
}

Plan Create(const BucketTarget& t, const Amounts& consume, int64_t now, double multiplier) {
  Plan plan;
  const std::string suffix = ShardSuffix(t.entity, t.resource, 0);
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
            {"GSI4SK", Value("BUCKET#" + suffix)}};
  if (t.parent_id) item["parent_id"] = Value(*t.parent_id);
  if (auto ttl = TtlSeconds(*t.resolved, multiplier); ttl && *ttl > 0) {
    item["ttl"] = Value(FloorDiv(now, 1000) + *ttl);
  }
  for (const Limit& l : t.resolved->limits) {
    const int64_t c = Amount(consume, l.name);
    BucketState s = BucketState::FromLimit(l, now);
    plan.statuses.push_back(StatusOf(t.entity, t.resource, l, s, c, now));
    if (t.overdraft) plan.statuses.back().exceeded = false;
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
  for (const char* f : {"tk", "cp", "ra"}) {
    item[keys::BucketAttr("wcu", f)] = Value(codec::kWcuMilli);
  }
  item[keys::BucketAttr("wcu", "rp")] = Value(codec::kWcuPeriodMs);
  item[keys::BucketAttr("wcu", "tc")] = Value(0);
  plan.op = Put{std::move(item), Condition().NotExists("PK"), false};
  return plan;
}

Plan Normal(const BucketTarget& t, const codec::BucketItem& bucket, const Amounts& consume,
            int64_t now, double multiplier, bool refill_wcu) {
  Plan plan;
  Update u;
  u.key = keys::Bucket(t.ns, t.entity, t.resource, t.shard);
  u.condition.Compare("rf", Predicate::Op::kEq, Value(bucket.rf));
  u.set.emplace_back("rf", Value(now));
  for (const Limit& l : t.resolved->limits) {
    const int64_t c = Amount(consume, l.name);
    auto stored = bucket.limits.find(l.name);
    const bool exists = stored != bucket.limits.end();
    BucketState s = exists ? stored->second : BucketState::FromLimit(l, now);
    if (!exists && t.shard_count > 1) s.tokens_milli /= t.shard_count;  // this shard's share
    const int64_t original = exists ? s.tokens_milli : 0;
    // The stored config wins over the bucket: a changed limit takes effect
    // at the next slow path (within one config-cache TTL). Items keep the
    // undivided values, as the reference stores them.
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
    const BucketState eff = EffectiveState(s, t.shard_count);
    plan.statuses.push_back(StatusOf(t.entity, t.resource, l, eff, c, now));
    if (t.overdraft) plan.statuses.back().exceeded = false;
    plan.exceeded |= plan.statuses.back().exceeded;
    const ConsumeResult r =
        t.overdraft ? ConsumeResult{true, ForceConsume(eff, c, now).tokens_milli, now, 0.0}
                    : TryConsume(eff, c, now);
    const int64_t delta = SaturatingAdd(r.tokens_milli, -original);
    if (delta != 0 || !exists) u.add.emplace_back(keys::BucketAttr(l.name, "tk"), delta);
    if (c != 0 || !exists) u.add.emplace_back(keys::BucketAttr(l.name, "tc"), ToMilli(c));
    // Fast-path ADDs do not move rf; guard against them draining the
    // tokens this write relies on. An overdraft relies on none.
    if (exists && delta < 0 && !t.overdraft) {
      u.condition.Compare(keys::BucketAttr(l.name, "tk"), Predicate::Op::kGe, Value(-delta));
    }
    s.tokens_milli = r.tokens_milli;
    s.last_refill_ms = now;
    s.total_consumed_milli = SaturatingAdd(s.total_consumed_milli.value_or(0), ToMilli(c));
    plan.entries.push_back(LeaseEntry{t.entity, t.resource, l, s, c, c, t.shard});
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
    for (const char* f : {"tk", "cp", "ra", "rp", "tc"}) {
      u.remove.push_back(keys::BucketAttr(name, f));
    }
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

int SourceShard(int shard) {
  int high = 1;
  while (high * 2 <= shard) high *= 2;
  return shard - high;
}

Put CloneShard(const Item& shard0, const std::string& ns, int shard, int64_t shard_count,
               const std::map<std::string, int64_t>& tokens) {
  Item item = shard0;
  const std::string entity = codec::StringOr(shard0, "entity_id", "");
  const std::string resource = codec::StringOr(shard0, "resource", "");
  item["PK"] = Value(keys::BucketPk(ns, entity, resource, shard));
  item["GSI2SK"] = Value("BUCKET#" + entity + "#" + std::to_string(shard));
  item["GSI3SK"] = Value("BUCKET#" + resource + "#" + std::to_string(shard));
  item["GSI4SK"] = Value("BUCKET#" + ShardSuffix(entity, resource, shard));
  item["shard_count"] = Value(shard_count);
  const codec::BucketItem b = codec::DecodeBucket(shard0);
  for (const auto& [name, state] : b.limits) {
    auto moved = tokens.find(name);
    item[keys::BucketAttr(name, "tk")] = Value(
        name == kWcuLimitName ? state.capacity_milli : (moved == tokens.end() ? 0 : moved->second));
    item[keys::BucketAttr(name, "tc")] = Value(0);
  }
  return Put{std::move(item), Condition().NotExists("PK"), false};
}

}  // namespace zae::plan

// GetResourceCapacity (runtime.md §3.9, §6): every bucket of a resource
// through GSI2, all pages (the reference reads only the first), shards of
// one entity counted once.
#include <algorithm>
#include <climits>
#include <map>

#include "limiter/bucket_plan.h"
#include "limiter/keys.h"
#include "limiter/query.h"
#include "limiter/rate_limiter_impl.h"
#include "zae/errors.h"
#include "zae/validate.h"

namespace zae {
namespace {

// The shard number of a bucket item: the suffix of GSI2SK
// "BUCKET#{entity}#{shard}"; -1 when it has none.
int ShardOf(const Item& item) {
  const std::string sk = codec::StringOr(item, "GSI2SK", "");
  const size_t hash = sk.rfind('#');
  if (hash == std::string::npos || hash + 1 >= sk.size()) return -1;
  int shard = 0;
  for (size_t i = hash + 1; i < sk.size(); ++i) {
    if (sk[i] < '0' || sk[i] > '9' || shard > 1'000'000) return -1;
    shard = shard * 10 + (sk[i] - '0');
  }
  return shard;
}

double Utilization(int64_t capacity, int64_t available) {
  if (capacity <= 0) return 0;
  return (static_cast<double>(capacity) - static_cast<double>(available)) /
         static_cast<double>(capacity) * 100.0;
}

// One entity's shards of the bucket.
struct EntityShards {
  int capacity_shard = -1;     // the shard the capacity was read from
  int64_t capacity_milli = 0;  // stored undivided on every shard
  int64_t shard_count = 1;     // the largest any shard records (counts only grow)
  std::vector<BucketState> states;
};

}  // namespace

ResourceCapacity RateLimiterImpl::GetResourceCapacity(const std::string& resource,
                                                      const std::string& limit_name,
                                                      bool parents_only) {
  ValidateResource(resource);
  ValidateLimitName(limit_name);
  const int64_t now = clock_.NowMs();
  QueryRequest req;
  req.index = Index::kGsi2;
  req.hash = keys::ResourcePk(ns_, resource);
  req.sort_prefix = "BUCKET#";
  std::map<std::string, EntityShards> by_entity;  // sorted by entity id
  for (const Item& item : QueryAll(*store_, req)) {
    const std::optional<std::string> entity = codec::OptString(item, "entity_id");
    if (!entity) throw StoreError("bucket item " + KeyOf(item).pk + " has no entity_id");
    const codec::BucketItem bucket = codec::DecodeBucket(item);
    auto limit = bucket.limits.find(limit_name);
    if (limit == bucket.limits.end()) continue;
    EntityShards& e = by_entity[*entity];
    // Capacity from shard 0, which every config sync writes; else the
    // lowest shard seen.
    const int shard = ShardOf(item);
    if (e.capacity_shard < 0 || (shard >= 0 && shard < e.capacity_shard)) {
      e.capacity_shard = shard < 0 ? INT32_MAX : shard;
      e.capacity_milli = limit->second.capacity_milli;
    }
    e.shard_count = std::max(e.shard_count, bucket.shard_count);
    e.states.push_back(limit->second);
  }
  if (parents_only && !by_entity.empty()) {
    std::vector<ItemKey> metas;
    for (const auto& [id, shards] : by_entity) metas.push_back(keys::EntityMeta(ns_, id));
    const std::vector<std::optional<Item>> found = store_->BatchGet(metas, false);
    size_t i = 0;
    for (auto it = by_entity.begin(); it != by_entity.end(); ++i) {
      const bool parent = found[i] && !codec::DecodeEntity(*found[i]).parent_id;
      it = parent ? std::next(it) : by_entity.erase(it);
    }
  }
  ResourceCapacity out;
  out.resource = resource;
  out.limit_name = limit_name;
  for (const auto& [id, e] : by_entity) {
    EntityCapacity c;
    c.entity_id = id;
    c.capacity = e.capacity_milli / 1000;
    // Each shard refills its own share (cp / n, ra / n), as acquires see it.
    for (const BucketState& s : e.states) {
      c.available =
          SaturatingAdd(c.available, AvailableTokens(plan::EffectiveState(s, e.shard_count), now));
    }
    c.available = std::min(c.available, c.capacity);
    c.utilization_pct = Utilization(c.capacity, c.available);
    out.total_capacity = SaturatingAdd(out.total_capacity, c.capacity);
    out.total_available = SaturatingAdd(out.total_available, c.available);
    out.entities.push_back(std::move(c));
  }
  out.utilization_pct = Utilization(out.total_capacity, out.total_available);
  return out;
}

ResourceCapacity RateLimiter::GetResourceCapacity(const std::string& resource,
                                                  const std::string& limit_name,
                                                  bool parents_only) {
  return impl().GetResourceCapacity(resource, limit_name, parents_only);
}

}  // namespace zae

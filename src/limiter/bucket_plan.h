// Slow-path planning and shard helpers: given the resolved limits and the
// stored bucket item, compute statuses, lease entries and the one
// conditional write (runtime.md §3.5-§3.6, format.md §2.3, §6.5). Pure
// functions over values; thread-safe.
#ifndef ZAE_LIMITER_BUCKET_PLAN_H_
#define ZAE_LIMITER_BUCKET_PLAN_H_

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "limiter/codec.h"
#include "zae/lease.h"
#include "zae/limit_status.h"
#include "zae/store.h"
#include "zae/types.h"

namespace zae::plan {

// Shards double while the real write rate exceeds one shard's 1000 WCU/s;
// past this count a bucket is considered misconfigured rather than hot.
inline constexpr int64_t kMaxShards = 64;

int64_t Amount(const Amounts& consume, const std::string& name);
std::set<std::string> NamesOf(const std::vector<Limit>& limits);

// The limit a bucket state describes (display and statuses only).
Limit LimitOfState(const std::string& name, const BucketState& s);
LimitStatus StatusOf(const std::string& entity, const std::string& resource, const Limit& limit,
                     const BucketState& state, int64_t requested, int64_t now);

// A shard's share of a stored (undivided) limit: cp // n and ra // n, as the
// reference's aggregator computes it.
BucketState EffectiveState(BucketState s, int64_t shard_count);

struct Plan {
  std::vector<LimitStatus> statuses;
  std::vector<LeaseEntry> entries;
  WriteOp op;
  bool exceeded = false;
};

struct BucketTarget {
  std::string ns, entity, resource;
  const ResolvedLimits* resolved;
  int shard = 0;
  int64_t shard_count = 1;
  bool cascade = false;
  std::optional<std::string> parent_id;
  // AcquireOptions::overdraft: consume into debt, never exceeded.
  bool overdraft = false;
};

// A new shard-0 bucket holding the first consumption (a conditional Put).
Plan Create(const BucketTarget& t, const Amounts& consume, int64_t now, double ttl_multiplier);
// Refill + consume on an existing shard under the rf lock; writes the
// resolved config's cp/ra/rp into the item when they differ.
Plan Normal(const BucketTarget& t, const codec::BucketItem& bucket, const Amounts& consume,
            int64_t now, double ttl_multiplier, bool refill_wcu);

// The shard a new shard takes its tokens from: for shard k, k minus the
// largest power of two <= k (shard 1 and 2 split from 0, 3 from 1, ...).
int SourceShard(int shard);

// Shard `shard` created from shard 0's item (format.md §6.5 shape: keys
// rewritten, shard_count = n, wcu full, every tc 0) holding `tokens` per app
// limit, which the caller moves out of the source shard in the same
// transaction, so splitting never mints tokens. Conditional on absence.
Put CloneShard(const Item& shard0, const std::string& ns, int shard, int64_t shard_count,
               const std::map<std::string, int64_t>& tokens);

}  // namespace zae::plan

#endif  // ZAE_LIMITER_BUCKET_PLAN_H_

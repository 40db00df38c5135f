// Internals of RateLimiter and Lease. Not a public header.
#ifndef ZAE_LIMITER_RATE_LIMITER_IMPL_H_
#define ZAE_LIMITER_RATE_LIMITER_IMPL_H_

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/deadline.h"
#include "core/pair_hash.h"
#include "limiter/codec.h"
#include "limiter/config_cache.h"
#include "limiter/work_pool.h"
#include "zae/errors.h"
#include "zae/rate_limiter.h"

namespace zae {

// RateLimiterOptions::timeout and AcquireOptions::timeout: (0, 1 h].
inline void ValidateTimeout(std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0 || timeout > std::chrono::hours(1)) {
    throw ValidationError("timeout", std::to_string(timeout.count()) + " ms",
                          "must be more than 0 and at most one hour");
  }
}

namespace detail {

// One bucket (entity, resource, shard) as leases and warm acquires write it.
// Immutable once shared, except for the usage-template cache.
struct LeaseBucket {
  std::string entity;
  std::string resource;
  int shard = 0;
  ItemKey key;
  std::shared_ptr<BucketHandle> handle;  // nullptr: the store has none

  // The usage-snapshot templates (format.md §2.11) of the current hour,
  // built once per hour per bucket instead of on every write.
  std::shared_ptr<const std::vector<Update>> UsageTemplates(const std::string& ns,
                                                            int64_t now) const;

 private:
  mutable std::mutex usage_mu_;
  mutable int64_t usage_hour_ = INT64_MIN;
  mutable std::shared_ptr<const std::vector<Update>> usage_;
};

// One limit of a LeaseBucket.
struct LeaseLimit {
  const LeaseBucket* bucket = nullptr;
  std::string name;
  // The resolved limit when the lease was made from one; otherwise the
  // limit is read off the bucket state (cp/ra/rp).
  std::optional<Limit> limit;
};

}  // namespace detail

// Writes bucket items. On stores without a change stream
// (!usage_from_stream) the usage-snapshot updates of each write's tc deltas
// ride in the same transaction, so usage is exact without an aggregator.
// Shared by the limiter and its leases.
class BucketWriter {
 public:
  enum class Mode { kIndependent, kAtomic };
  struct Outcome {
    std::vector<WriteResult> results;
    std::vector<bool> applied;  // false for ops of a failed transaction
    bool all_ok() const;
  };

  using Executor = std::function<void(std::function<void()>)>;
  BucketWriter(std::shared_ptr<Store> store, std::string ns, const Clock& clock, bool inline_usage,
               Executor executor = {},
               std::chrono::milliseconds timeout = std::chrono::milliseconds(500));
  // kIndependent: each op on its own (concurrently where the store can);
  // kAtomic: all or nothing. `events` is added to total_events per bucket.
  Outcome Write(std::vector<WriteOp> ops, Mode mode, int64_t events, int64_t now);
  // Typed writes (Store::WriteBuckets) on `buckets[i]`: fills in each
  // write's key, handle and, with inline usage, the snapshot templates.
  void WriteBuckets(BucketWrite* writes, const detail::LeaseBucket* const* buckets, size_t n,
                    int64_t events, int64_t now);
  // What WriteBuckets fills in for one write on `bucket`; returns what keeps
  // its usage templates alive until the write is done (null: none).
  std::shared_ptr<const std::vector<Update>> PrepareBucketWrite(BucketWrite& w,
                                                                const detail::LeaseBucket& bucket,
                                                                int64_t events, int64_t now) const;
  // Write with kIndependent, completing through `done` (Store::WriteEachAsync:
  // on the store's I/O thread, or inline). Embedded stores with inline usage
  // write synchronously, inline.
  using OutcomeCallback = std::function<void(Outcome* outcome, std::exception_ptr error)>;
  void WriteAsync(std::vector<WriteOp> ops, int64_t events, int64_t now, OutcomeCallback done);
  // Runs a completion: on the limiter's executor when it has one, else now.
  void Deliver(std::function<void()> completion) const;
  // Hands `value` (or `error`) to `done` the same way.
  template <class T>
  void DeliverResult(const std::function<void(T*, std::exception_ptr)>& done,
                     std::optional<T> value, std::exception_ptr error) const {
    if (!executor_) {
      done(value ? &*value : nullptr, error);
      return;
    }
    // std::function needs a copyable callable, and a result can hold a Lease.
    auto box = std::make_shared<std::optional<T>>(std::move(value));
    Deliver([done, box, error] { done(*box ? &**box : nullptr, error); });
  }
  bool has_executor() const { return static_cast<bool>(executor_); }
  // True when a synchronous store call would deadlock this thread.
  bool OnCompletionThread() const { return store_->OnCompletionThread(); }
  bool async_io() const { return async_io_; }
  bool inline_usage() const { return inline_usage_; }
  const Clock& clock() const { return clock_; }
  const std::string& ns() const { return ns_; }
  // The deadline of a lease's commit or rollback (RateLimiterOptions::timeout).
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  Executor executor_;
  bool async_io_ = false;
  std::shared_ptr<Store> store_;
  std::string ns_;
  const Clock& clock_;
  bool inline_usage_;
  std::chrono::milliseconds timeout_;
};

// One bucket shard the fast path writes, and the limit names it guards.
struct FastTarget {
  std::string entity;
  std::set<std::string> names;
  int shard = 0;
  int64_t shard_count = 1;
};

// A fast-path attempt between sending its writes and reading their results
// (the asynchronous acquire keeps it across the round trip).
struct FastAttempt {
  std::vector<FastTarget> targets;
  std::set<std::string> consume_names;
  bool entity_known = false;
  std::vector<WriteOp> ops;  // moved out when sent
};

class RateLimiterImpl : public std::enable_shared_from_this<RateLimiterImpl> {
 public:
  RateLimiterImpl(std::shared_ptr<Store> store, RateLimiterOptions options, std::string ns_id);
  // Open's work after validating the options: resolves (or registers) the
  // namespace. Throws what Open documents.
  static std::shared_ptr<RateLimiterImpl> Open(std::shared_ptr<Store> store,
                                               RateLimiterOptions options);
  // A no-op lease (the store is unavailable and the policy is allow).
  static AcquireResult NoopLease(const std::shared_ptr<BucketWriter>& writer) {
    return AcquireResult(Lease(writer.get(), writer, true));
  }

  AcquireResult Acquire(const std::string& entity_id, const std::string& resource,
                        const Amounts& consume, const AcquireOptions& options);
  // The asynchronous forms (async.cc); see rate_limiter.h.
  // The arguments are copied only when the call outlives this one (stores
  // with async_io); inline stores run the synchronous call on them.
  void AcquireAsync(const std::string& entity_id, const std::string& resource,
                    const Amounts& consume, const AcquireOptions& options,
                    RateLimiter::AcquireCallback done);
  void AvailableAsync(const std::string& entity_id, const std::string& resource,
                      const std::optional<std::vector<Limit>>& limits,
                      RateLimiter::AvailableCallback done);
  Amounts Available(const std::string& entity_id, const std::string& resource,
                    const std::optional<std::vector<Limit>>& limits);
  double TimeUntilAvailable(const std::string& entity_id, const std::string& resource,
                            const Amounts& needed, const std::optional<std::vector<Limit>>& limits);

  // Admin (rate_limiter_admin.cc).
  Entity CreateEntity(const std::string& id, const CreateEntityOptions& options);
  std::optional<Entity> GetEntity(const std::string& id);
  int64_t DeleteEntity(const std::string& id);
  std::vector<Entity> GetChildren(const std::string& parent_id);
  void SetLimits(const std::string& id, const std::vector<Limit>& limits, const std::string& res);
  std::vector<Limit> GetLimits(const std::string& id, const std::string& resource);
  void DeleteLimits(const std::string& id, const std::string& resource);
  Page<std::string> ListEntitiesWithCustomLimits(const std::string& resource, int limit,
                                                 const std::string& cursor);
  std::vector<std::string> ListResourcesWithEntityConfigs();
  void SetResourceDefaults(const std::string& resource, const std::vector<Limit>& limits);
  std::vector<Limit> GetResourceDefaults(const std::string& resource);
  void DeleteResourceDefaults(const std::string& resource);
  std::vector<std::string> ListResourcesWithDefaults();
  void SetSystemDefaults(const std::vector<Limit>& limits, std::optional<OnUnavailable> mode);
  SystemDefaults GetSystemDefaults();
  void DeleteSystemDefaults();
  int64_t GetAuditRetentionDays();
  void SetAuditRetentionDays(int64_t days);
  Page<AuditEvent> GetAuditEvents(const std::string& entity_id, int limit,
                                  const std::string& cursor);
  // capacity.cc
  ResourceCapacity GetResourceCapacity(const std::string& resource, const std::string& limit_name,
                                       bool parents_only);

  std::shared_ptr<Store> store_;
  RateLimiterOptions options_;
  std::string ns_;
  const Clock& clock_;
  Capabilities caps_;
  ConfigCache cache_;
  std::shared_ptr<BucketWriter> writer_;

 private:
  struct EntityInfo {
    bool cascade = false;
    std::optional<std::string> parent_id;
  };
  // A bucket the slow path wrote recently with the current config: the fast
  // path may admit on it without resolving config until `verified_until`.
  struct BucketInfo {
    int64_t verified_until = 0;
    std::set<std::string> limit_names;
    int64_t shard_count = 1;
  };

  // A bucket this process verified, ready for typed warm acquires: its key,
  // store handle and limit names, built once per verification. Immutable.
  struct WarmBucket {
    std::shared_ptr<BucketWriter> writer;  // leases keep the writer alive
    detail::LeaseBucket bucket;
    std::vector<detail::LeaseLimit> limits;  // app limits, sorted by name
    int64_t verified_until = 0;
  };
  // A lookup key that carries its hash, so a warm acquire hashes the
  // entity and resource once (for the stripe and the map alike).
  struct WarmLookup {
    std::string_view first, second;
    size_t hash;
  };
  static size_t WarmHash(std::string_view entity, std::string_view resource) {
    return static_cast<size_t>(PairHash(entity, resource));
  }
  struct WarmKeyHash {
    using is_transparent = void;
    size_t operator()(const WarmLookup& k) const { return k.hash; }
    size_t operator()(const std::pair<std::string, std::string>& k) const {
      return WarmHash(k.first, k.second);
    }
  };
  // Striped so that acquires on unrelated buckets share no lock.
  struct alignas(64) WarmStripe {
    std::mutex mu;
    std::unordered_map<std::pair<std::string, std::string>, std::shared_ptr<const WarmBucket>,
                       WarmKeyHash, StringPairEq>
        map;
  };
  static constexpr size_t kWarmStripes = 64;
  static constexpr size_t kMaxWarmLimits = 8;
  WarmStripe& WarmStripeOf(size_t hash) { return warm_[(hash >> 7) % kWarmStripes]; }
  std::shared_ptr<const WarmBucket> FindWarm(const std::string& entity,
                                             const std::string& resource);
  void RememberWarm(const std::string& entity, const std::string& resource,
                    const std::set<std::string>& names, int64_t verified_until);
  void ForgetWarm(const std::string& entity, const std::string& resource);
  // The typed warm acquire on a verified, unsharded, non-cascading bucket:
  // one BucketWrite, no config read, no Item. nullopt when it does not apply
  // (then the generic paths run) or, with *to_slow, when the slow path must
  // refill or re-create the bucket.
  // The warm write's deltas for `consume` on `warm` (every limit guarded,
  // consumed or not: a limit in debt blocks, as on the slow path), and the
  // amounts per limit; false when the warm path does not apply (a name the
  // bucket lacks, a bad amount: the generic path validates them).
  static bool WarmDeltas(const WarmBucket& warm, const Amounts& consume, BucketLimitDelta* deltas,
                         int64_t* amounts);
  // The lease of a successful warm write (`views`: the write's, one per
  // limit of `warm`); a bucket another client sharded leaves the warm path.
  AcquireResult WarmLease(std::shared_ptr<const WarmBucket> warm, const BucketWrite& w,
                          const BucketLimitView* views, const int64_t* amounts,
                          const std::string& entity_id, const std::string& resource);
  std::optional<AcquireResult> WarmPath(const std::string& entity_id, const std::string& resource,
                                        const Amounts& consume, int64_t now, bool* to_slow);
  // The on_unavailable policy applied to a store failure inside acquire.
  AcquireResult Unavailable(const std::exception& e, const AcquireOptions& options,
                            const std::string& entity_id, const std::string& resource);

  struct AsyncAcquire;
  struct AsyncWarm;
  // The warm acquire of an asynchronous call on a store with async_io (a
  // DynamoDB bucket this process verified): one typed write
  // (Store::WriteBucketsAsync), no Update or Item on success; a failed
  // write is decided by the generic fast path from the item it saw. False
  // when it does not apply (then the generic fast path runs).
  bool WarmAsync(const std::shared_ptr<AsyncAcquire>& op, int64_t now);
  void WarmAsyncDone(const std::shared_ptr<AsyncWarm>& a, std::exception_ptr error);
  // What follows the fast path's writes of an asynchronous acquire (on the
  // I/O thread): the decision, or the blocking rest on the pool.
  void FastWritten(const std::shared_ptr<AsyncAcquire>& op, std::shared_ptr<FastAttempt> attempt,
                   BucketWriter::Outcome* out, std::exception_ptr error, int64_t now);
  // Store failures (StoreError, store.h) follow on_unavailable; anything
  // else, bad input, denials-as-errors and bugs alike, propagates: only
  // store failures may become admits.
  template <class Body>
  std::optional<AcquireResult> UnderPolicy(const AcquireOptions& options,
                                           const std::string& entity_id,
                                           const std::string& resource, Body&& body) {
    try {
      return body();
    } catch (const StoreError& e) {
      return Unavailable(e, options, entity_id, resource);
    }
  }
  void ValidateAcquire(const std::string& entity_id, const std::string& resource,
                       const Amounts& consume, const AcquireOptions& options);
  // What follows a fast path that did not decide: the slow path on `shard`
  // (-1: a random one).
  AcquireResult SlowTail(const std::string& entity_id, const std::string& resource,
                         const Amounts& consume, const std::optional<std::vector<Limit>>& fallback,
                         int64_t now, int shard, bool overdraft = false);
  // The pool for the blocking parts of asynchronous calls, started on first use.
  WorkPool& pool();
  void FinishAsync(const std::shared_ptr<AsyncAcquire>& op, std::optional<AcquireResult> result,
                   std::exception_ptr error);
  void ContinueBlocking(std::shared_ptr<AsyncAcquire> op, std::shared_ptr<FastAttempt> attempt,
                        std::shared_ptr<BucketWriter::Outcome> outcome, std::exception_ptr error,
                        bool finish_fast, int64_t now);

  // The fast path in three steps, so that an asynchronous acquire can send
  // the writes and decide on an I/O thread: FastBegin plans the writes
  // (nullopt: the fast path does not apply), the caller sends attempt.ops,
  // FastFinish decides from the outcome. With !may_block, FastFinish makes
  // no store call: where it would need one it sets *needs_block and returns
  // nullopt, having changed nothing but caches, and may be run again with
  // may_block. nullopt otherwise means: go to the slow path.
  std::optional<FastAttempt> FastBegin(const std::string& entity_id, const std::string& resource,
                                       const Amounts& consume, int64_t now);
  std::optional<AcquireResult> FastFinish(FastAttempt& attempt, BucketWriter::Outcome& out,
                                          const std::string& entity_id, const std::string& resource,
                                          const Amounts& consume,
                                          const std::optional<std::vector<Limit>>& fallback,
                                          int64_t now, bool may_block, bool* needs_block);
  // Holds mu_. The fast target for `entity`, or nullopt when its
  // verification expired.
  std::optional<FastTarget> FastTargetFor(const std::string& entity, const std::string& resource,
                                          const std::set<std::string>& consume_names, int64_t now);
  // Sets `*slow_shard` to the child's shard it tried when it falls through.
  std::optional<AcquireResult> FastPath(const std::string& entity_id, const std::string& resource,
                                        const Amounts& consume,
                                        const std::optional<std::vector<Limit>>& fallback,
                                        int64_t now, int* slow_shard);
  // `shard` is the child's shard to refill on (0 unless the fast path
  // found another shard empty or missing).
  // With `alone`, only this entity's bucket is read and written (no META,
  // no cascade) and consume names that are not its limits are ignored: the
  // parent-only refill after a child's fast write (the reference's
  // _try_parent_only_acquire). With `overdraft`, see AcquireOptions.
  std::optional<AcquireResult> SlowPath(const std::string& entity_id, const std::string& resource,
                                        const Amounts& consume,
                                        const std::optional<std::vector<Limit>>& fallback,
                                        int64_t now, int shard, bool alone = false,
                                        bool overdraft = false);
  // options_.random, or a thread-local PRNG.
  uint64_t Random();
  // A uniformly random shard of the bucket as this process knows it.
  int ChooseShard(const std::string& entity_id, const std::string& resource);
  int64_t ShardCount(const std::string& entity_id, const std::string& resource);
  void LearnShardCount(const std::string& entity_id, const std::string& resource, int64_t n);
  // Creates shard `shard` from shard 0 when missing; false if shard 0 is gone.
  bool EnsureShard(const std::string& entity_id, const std::string& resource, int shard,
                   int64_t shard_count);
  // Doubles shard_count on shard 0 (conditional on `from`).
  void DoubleShards(const std::string& entity_id, const std::string& resource, int64_t from);
  ResolvedLimits ResolveWithFallback(const std::string& entity_id, const std::string& resource,
                                     const std::optional<std::vector<Limit>>& fallback);
  EntityInfo LookupEntity(const std::string& entity_id);
  // The resolved limits and their bucket states (stored tokens, config
  // parameters) of the entity and, when it cascades, its parent: one read
  // per bucket. Throws ValidationError when the entity has no limits.
  struct BucketView {
    std::vector<Limit> limits;
    std::vector<BucketState> states;
  };
  std::vector<BucketView> ReadViews(const std::string& entity_id, const std::string& resource,
                                    const std::optional<std::vector<Limit>>& limits, int64_t now);
  void RememberEntity(const std::string& entity_id, const EntityInfo& info);
  void RememberBucket(const std::string& entity_id, const std::string& resource,
                      std::set<std::string> names, int64_t now, int64_t shard_count);
  void ForgetBuckets();
  Lease MakeLease(std::vector<LeaseEntry> entries);
  void Audit(const std::string& entity_id, const std::string& action,
             std::optional<std::string> resource, Value::Map details);
  OnUnavailable ResolveMode(const AcquireOptions& options);

 public:
  // Retention on stores that do not expire items themselves (!native_ttl:
  // memory, SQLite): Store::DeleteExpired when due, i.e. when the limiter
  // opens and then at most once per kRetentionIntervalMs of its clock, from
  // the slow path and admin writes. A failure waits for the next interval.
  static constexpr int64_t kRetentionIntervalMs = 3'600'000;
  void MaybeDeleteExpired(int64_t now_ms);

 private:
  std::atomic<int64_t> retention_due_ms_{INT64_MIN};

  std::mutex mu_;
  std::map<std::string, EntityInfo> entities_;
  std::map<std::pair<std::string, std::string>, BucketInfo> buckets_;
  std::atomic<int> last_mode_{-1};
  std::unique_ptr<WarmStripe[]> warm_{new WarmStripe[kWarmStripes]};
  std::once_flag pool_once_;
  std::unique_ptr<WorkPool> pool_;
};

}  // namespace zae

#endif  // ZAE_LIMITER_RATE_LIMITER_IMPL_H_

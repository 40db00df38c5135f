// RateLimiter: the public entry point.
//
//   auto store = std::make_shared<zae::SqliteStore>("/var/lib/app/zae.db");
//   auto limiter = zae::RateLimiter::Open(store);
//   auto result = limiter->Acquire("key-1", "gpt-4", {{"rpm", 1}, {"tpm", 500}});
//   if (!result) return Reply429(result.denial().retry_after_header());
//   zae::Lease lease = result.take_lease();
//   ... call the model ...
//   lease.Adjust({{"tpm", real_tokens - 500}});
//   // committed when `lease` leaves scope; rolled back if an exception does.
//
// A denial is a value (AcquireResult holds a Denial), never an exception on
// the hot path. Errors are exceptions (include/zae/errors.h):
//   ValidationError          bad ids, names, amounts, or a consume name that
//                            is a limit of neither the entity nor its parent;
//   RateLimiterUnavailable   the store failed, or did not answer within
//                            RateLimiterOptions::timeout, and on_unavailable
//                            is "block" (with "allow", Acquire returns a
//                            no-op lease); docs/reliability.md;
//   StoreError               admin calls when the store fails.
//
// Thread safety: RateLimiter is thread-safe; share one per process and
// namespace. A Lease has a single owner and is not thread-safe.
//
// Asynchronous API. AcquireAsync, AvailableAsync and the lease's
// CommitAsync/RollbackAsync do what their synchronous forms do and complete
// through a callback or a std::future (poll it with wait_for(0s), or wait).
// Acquire is the same implementation run on the calling thread.
//   - Memory completes inline: the callback has run (the future is ready)
//     when the call returns. So does SQLite, except for a warm acquire (a
//     bucket the limiter wrote before, limits cached): its one write is
//     queued for the store's writer thread, which commits everything queued
//     meanwhile in one transaction, so few threads keep many acquires in
//     flight and share the commit (SqliteStore::WriteBucketsAsync). A
//     refusal that a refill may lift continues on the pool below.
//   - DynamoDB: a warm acquire is one request, sent and completed on the
//     client's I/O threads: no thread waits for it, so one thread keeps
//     many acquires in flight. What needs more than that request (the
//     first acquire of a bucket, a refill, a cascade's parent, contention,
//     shard moves, store errors and the on_unavailable policy, Available)
//     continues on the limiter's pool of `async_threads` threads.
//   - The callback runs on the thread that completed the call (the caller's
//     thread inline, a DynamoDB I/O thread, SQLite's writer thread, or a
//     pool thread), or is handed to RateLimiterOptions::executor when one
//     is set. On an I/O thread it must be short and must not block:
//     synchronous calls of the limiter, a Lease or the store throw
//     StoreError there instead of deadlocking; starting more asynchronous
//     calls is fine. On SQLite's writer thread synchronous calls work, but
//     hold up the queued writes while they run.
//   - Errors arrive as the exception_ptr (the future rethrows it): the same
//     types the synchronous form throws, input errors included.
//   - Ownership: each call keeps the limiter's state and the store alive
//     until it completes, so the RateLimiter (and a future) may be
//     destroyed while calls are in flight; their callbacks still run.
// Ownership: the limiter shares ownership of the Store; the Clock must
// outlive the limiter.
#ifndef ZAE_RATE_LIMITER_H_
#define ZAE_RATE_LIMITER_H_

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "zae/clock.h"
#include "zae/lease.h"
#include "zae/limit.h"
#include "zae/limit_status.h"
#include "zae/store.h"
#include "zae/types.h"

namespace zae {

class RateLimiterImpl;

// The outcome of Acquire: a lease when allowed, a denial otherwise.
class AcquireResult {
 public:
  explicit AcquireResult(Lease lease) : lease_(std::move(lease)) {}
  explicit AcquireResult(Denial denial) : denial_(std::move(denial)) {}

  bool allowed() const { return lease_.has_value(); }
  explicit operator bool() const { return allowed(); }
  // Preconditions: allowed() for lease()/take_lease(), !allowed() for denial().
  Lease& lease() { return *lease_; }
  Lease take_lease() { return std::move(*lease_); }
  const Denial& denial() const { return *denial_; }
  // The lease, or throws RateLimitExceeded carrying the denial.
  Lease lease_or_throw();

 private:
  std::optional<Lease> lease_;
  std::optional<Denial> denial_;
};

struct AcquireOptions {
  // Lowest-precedence fallback: used only when no stored level has limits.
  std::optional<std::vector<Limit>> limits;
  // Per-call override of the namespace's on_unavailable policy.
  std::optional<OnUnavailable> on_unavailable;
  // Per-call override of RateLimiterOptions::timeout (positive).
  std::optional<std::chrono::milliseconds> timeout;
  // Consume even what the limits do not hold, into debt: never a denial.
  // For costs that are already spent (a response's real token count, the
  // server's post-stream charge); later acquires are refused until the debt
  // has refilled. Skips the one-write fast paths (a read, then a write).
  bool overdraft = false;
};

// Where usage snapshots (hourly/daily consumption per entity and resource)
// come from.
enum class UsageTracking {
  kAuto,    // inline on stores without a change stream (memory, SQLite)
  kInline,  // written in the same transaction as every bucket write
  kOff,     // not written by this limiter (e.g. an aggregator reads a stream)
};

struct RateLimiterOptions {
  std::string namespace_name = "default";
  const Clock* clock = nullptr;           // nullptr = SystemClock::Default()
  int64_t config_cache_ttl_seconds = 60;  // 0 disables the cache
  double bucket_ttl_multiplier = 7;       // <= 0: buckets never expire
  bool speculative_writes = true;         // the one-write fast path
  // Register the namespace (and write the version record) when missing.
  // Off: Open throws NamespaceNotFoundError.
  bool create_namespace = true;
  std::string principal;  // recorded in audit events when non-empty
  UsageTracking usage = UsageTracking::kAuto;
  // Spread a bucket over shards when its write rate exceeds one shard's
  // 1000 writes/s (the hidden `wcu` limit). Default: when the store supports
  // it (DynamoDB).
  std::optional<bool> sharding;
  // Runs the callbacks of the asynchronous API (see the top of this file).
  // Empty: they run on the thread that completed the call.
  std::function<void(std::function<void()>)> executor;
  // Threads (1..64) that continue asynchronous calls needing more than one
  // DynamoDB round trip (or, on SQLite, a queued write's refusal that a
  // refill may lift); started on first use.
  int async_threads = 2;
  // The deadline of each Acquire, Available, TimeUntilAvailable and lease
  // Commit/Rollback (and their asynchronous forms): every store call,
  // attempt and back-off within it. Past it Acquire follows on_unavailable
  // (allow: a no-op lease; block: RateLimiterUnavailable); Available and a
  // commit throw the store's timeout (a StoreError). The DynamoDB and
  // SQLite stores honour it (docs/reliability.md). Positive, at most 1 h.
  std::chrono::milliseconds timeout{500};
  // The policy when the namespace's on_unavailable cannot be read: after
  // the per-call option, the stored system value and the last value seen,
  // before "block". Setting it also lets Open succeed while the store is
  // unreachable: the limiter then answers every Acquire with this policy
  // (or the per-call one), and resolves the namespace on a later call (at
  // most one attempt per second, bounded by `timeout`). Admin calls of such
  // a limiter throw StoreError until the namespace is resolved.
  std::optional<OnUnavailable> on_unavailable;
  // Picks shards (a uniformly random one per acquire; the first of the other
  // shards tried when it is drained). Called from any thread, sometimes under
  // the limiter's internal lock: it must be thread-safe and must not call the
  // limiter. Empty = a thread-local PRNG; tests pass a fixed sequence.
  std::function<uint64_t()> random;
};

class RateLimiter {
 public:
  // Resolves the namespace id. Throws NamespaceNotFoundError,
  // IncompatibleSchemaError, StoreError, ValidationError. With
  // options.on_unavailable set, a store that fails or does not answer within
  // options.timeout is not an error: see RateLimiterOptions::on_unavailable.
  static std::unique_ptr<RateLimiter> Open(std::shared_ptr<Store> store,
                                           RateLimiterOptions options = {});
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // ---- hot path -----------------------------------------------------------
  // Consumes `consume` (tokens per limit name, >= 0) from every limit of the
  // entity's bucket for `resource`, all or nothing, and from the parent's
  // when the entity cascades. The consumption is durable before this returns.
  AcquireResult Acquire(const std::string& entity_id, const std::string& resource,
                        const Amounts& consume, const AcquireOptions& options = {});

  // Whole tokens available per limit (floored; negative in debt); the
  // minimum with the parent when the entity cascades. Read-only.
  Amounts Available(const std::string& entity_id, const std::string& resource,
                    const std::optional<std::vector<Limit>>& limits = {});
  // Seconds until every `needed` amount is available (0 if it is now).
  double TimeUntilAvailable(const std::string& entity_id, const std::string& resource,
                            const Amounts& needed,
                            const std::optional<std::vector<Limit>>& limits = {});
  // True when the store answers (reads the version record); never throws.
  bool IsAvailable();

  // ---- asynchronous hot path (see "Asynchronous API" above) --------------
  // `done` runs exactly once: with the result and a null error, or with a
  // null result and the error Acquire would have thrown. It may take the
  // lease out of the result (result->take_lease()).
  using AcquireCallback = std::function<void(AcquireResult* result, std::exception_ptr error)>;
  void AcquireAsync(const std::string& entity_id, const std::string& resource,
                    const Amounts& consume, AcquireCallback done,
                    const AcquireOptions& options = {});
  std::future<AcquireResult> AcquireAsync(const std::string& entity_id, const std::string& resource,
                                          const Amounts& consume,
                                          const AcquireOptions& options = {});
  using AvailableCallback = std::function<void(Amounts* available, std::exception_ptr error)>;
  void AvailableAsync(const std::string& entity_id, const std::string& resource,
                      AvailableCallback done, const std::optional<std::vector<Limit>>& limits = {});
  std::future<Amounts> AvailableAsync(const std::string& entity_id, const std::string& resource,
                                      const std::optional<std::vector<Limit>>& limits = {});

  // ---- entities -----------------------------------------------------------
  Entity CreateEntity(const std::string& entity_id, const CreateEntityOptions& options = {});
  std::optional<Entity> GetEntity(const std::string& entity_id);
  // Deletes the entity, its configs and buckets. Returns items deleted.
  int64_t DeleteEntity(const std::string& entity_id);
  std::vector<Entity> GetChildren(const std::string& parent_id);

  // ---- stored limits ------------------------------------------------------
  // Entity level; resource "_default_" = every resource of the entity.
  void SetLimits(const std::string& entity_id, const std::vector<Limit>& limits,
                 const std::string& resource = "_default_");
  std::vector<Limit> GetLimits(const std::string& entity_id,
                               const std::string& resource = "_default_");
  void DeleteLimits(const std::string& entity_id, const std::string& resource = "_default_");
  Page<std::string> ListEntitiesWithCustomLimits(const std::string& resource, int limit = 100,
                                                 const std::string& cursor = "");
  std::vector<std::string> ListResourcesWithEntityConfigs();

  void SetResourceDefaults(const std::string& resource, const std::vector<Limit>& limits);
  std::vector<Limit> GetResourceDefaults(const std::string& resource);
  void DeleteResourceDefaults(const std::string& resource);
  std::vector<std::string> ListResourcesWithDefaults();

  void SetSystemDefaults(const std::vector<Limit>& limits,
                         std::optional<OnUnavailable> on_unavailable = {});
  SystemDefaults GetSystemDefaults();
  void DeleteSystemDefaults();

  // The limits an acquire would use, and where they came from.
  ResolvedLimits ResolveLimits(const std::string& entity_id, const std::string& resource);

  // ---- capacity -----------------------------------------------------------
  // How much of limit `limit_name` of `resource` is left across every entity
  // that has a bucket for it: the ops view of a model's budget. Reads every
  // bucket of the resource (GSI2, all pages) and refills each as of now;
  // writes nothing. Per entity, a sharded bucket counts once: capacity is
  // the stored (undivided) capacity, available the sum over its shards of
  // each shard's share, capped at the capacity. Entities whose bucket lacks
  // the limit are not listed; a resource with no buckets gives empty totals.
  // With `parents_only`, only entities whose record exists and has no parent
  // (the top of a hierarchy) are counted; a cascading child's consumption
  // shows up in its parent's bucket anyway.
  // Cost: one Query page per page of buckets, plus (parents_only) one
  // BatchGet of the entity records. Thread-safe.
  // Throws InvalidNameError for a malformed resource or limit name (or the
  // reserved "wcu"), StoreError when the store fails or holds a corrupt bucket.
  ResourceCapacity GetResourceCapacity(const std::string& resource, const std::string& limit_name,
                                       bool parents_only = false);

  // ---- audit, cache -------------------------------------------------------
  // Newest first. entity_id may be "$SYSTEM" or "$RESOURCE:{resource}".
  Page<AuditEvent> GetAuditEvents(const std::string& entity_id, int limit = 100,
                                  const std::string& cursor = "");
  // Usage snapshots, newest window first; query needs an entity or resource.
  Page<UsageSnapshot> GetUsageSnapshots(const UsageQuery& query, int limit = 100,
                                        const std::string& cursor = "");
  UsageSummary GetUsageSummary(const UsageQuery& query);

  // Days audit events are kept (their ttl); default 90. Stored on the
  // namespace's system config item as `audit_retention_days`.
  int64_t GetAuditRetentionDays();
  void SetAuditRetentionDays(int64_t days);  // 1..3650

  CacheStats GetCacheStats() const;
  void InvalidateConfigCache();

  const std::string& namespace_name() const;
  const std::string& namespace_id() const;
  Store& store();

 private:
  struct Deferred;  // opened while the store was unreachable
  explicit RateLimiter(std::shared_ptr<RateLimiterImpl> impl);
  explicit RateLimiter(std::shared_ptr<Deferred> deferred);
  // The open limiter; resolves a deferred one first (throws StoreError while
  // the store is still unreachable).
  RateLimiterImpl& impl();
  // The open limiter, or nullptr while a deferred one cannot resolve (one
  // attempt at most once per second, bounded by options.timeout).
  RateLimiterImpl* TryImpl();
  // Shared with asynchronous calls in flight, which keep it alive. Null
  // when the limiter was opened deferred: then deferred_ holds it once
  // resolved.
  std::shared_ptr<RateLimiterImpl> impl_;
  std::shared_ptr<Deferred> deferred_;
};

}  // namespace zae

#endif  // ZAE_RATE_LIMITER_H_

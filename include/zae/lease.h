// Lease: the consumption of one Acquire, adjustable until it is committed.
//
// The initial consumption is already durable when you hold a Lease
// (write-on-enter). Consume/Adjust/Release change a local view; the net
// difference is written when the lease commits. Leaving scope commits
// normally and rolls back (refunds the initial consumption, discards local
// changes) when the scope is left by an exception. Commit()/Rollback() do it
// explicitly; afterwards every method throws LeaseExpiredError.
//
// A lease covers every limit of the buckets it touched (child and, when
// cascading, parent), including limits not named in the acquire, and
// remembers the shard it consumed from.
//
// Errors: Consume returns a Denial instead of throwing when a limit would be
// exceeded. Commit throws StoreError if the write fails: the lease is then
// still active and may be retried or rolled back, except when the error's
// outcome_unknown() is set (the delta may have been applied; a retry could
// apply it twice): then the lease has ended. A failing rollback from the
// destructor is swallowed.
// Thread safety: single owner; not thread-safe. Movable, not copyable.
//
// Asynchronous commit and rollback (CommitAsync, RollbackAsync) write the
// same as Commit/Rollback and complete through a callback or a future; who
// runs the callback is said in include/zae/rate_limiter.h ("Asynchronous
// API"). The lease is inactive as soon as the call returns, and the write
// owns everything it needs: the Lease, its limiter and its store may be
// destroyed while it is in flight. A failed asynchronous commit rolls the
// lease back (refunds the initial consumption) exactly once before it
// reports the commit's error: there is no lease left to retry with; not
// when its outcome is unknown (outcome_unknown(): the delta may stand). A
// Lease destroyed on a completion thread (inside a callback) commits or
// rolls back asynchronously instead of blocking that thread.
#ifndef ZAE_LEASE_H_
#define ZAE_LEASE_H_

#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "zae/bucket.h"
#include "zae/limit.h"
#include "zae/limit_status.h"
#include "zae/types.h"

namespace zae {

class BucketWriter;  // internal: writes commits and rollbacks to the store
namespace detail {
struct LeaseLimit;  // internal: one limit of one bucket (entity, resource, limit, shard)
}

struct LeaseEntry {
  std::string entity_id;
  std::string resource;
  Limit limit;
  BucketState state;     // local view after the lease's changes
  int64_t consumed = 0;  // net tokens during the lease (initial + changes)
  int64_t initial_consumed = 0;
  int shard = 0;
};

class Lease {
 public:
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  // Consumes more (amounts >= 0) if every named limit has the tokens.
  // Returns the denial and changes nothing otherwise. Unknown names and
  // negative amounts throw ValidationError.
  std::optional<Denial> Consume(const Amounts& amounts);
  // Adds to (positive) or refunds (negative) the consumption; may go into
  // debt; never denied.
  void Adjust(const Amounts& amounts);
  // Adjust with negated amounts.
  void Release(const Amounts& amounts);

  void Commit();
  void Rollback();

  // `done` runs once with a null error when the write is durable (or there
  // was nothing to write), else with the error Commit()/Rollback() would
  // have thrown; it may be empty. Throw LeaseExpiredError at once when the
  // lease is not active.
  using DoneCallback = std::function<void(std::exception_ptr error)>;
  void CommitAsync(DoneCallback done);
  void RollbackAsync(DoneCallback done);
  std::future<void> CommitAsync();
  std::future<void> RollbackAsync();

  // Net consumption per limit name, summed over entities.
  Amounts consumed() const;
  // One entry per limit of every bucket the lease touched. Built on demand
  // (the lease itself keeps a compact form); valid until the lease changes.
  const std::vector<LeaseEntry>& entries() const;
  // True for the lease returned when the store was unavailable and the
  // policy is "allow": it holds nothing and writes nothing.
  bool is_noop() const { return noop_; }
  bool active() const { return !done_; }

 private:
  friend class RateLimiterImpl;
  // Per limit: the shared, immutable description and this lease's numbers.
  struct Slot {
    const detail::LeaseLimit* limit = nullptr;
    BucketState state;
    int64_t consumed = 0;
    int64_t initial = 0;
  };
  // Warm leases fit inline, so acquiring one allocates nothing.
  static constexpr size_t kInlineSlots = 4;

  Lease(BucketWriter* writer, std::shared_ptr<const void> keep_alive, bool noop);
  void AddSlot(const detail::LeaseLimit* limit, const BucketState& state, int64_t consumed);
  size_t size() const { return size_; }
  Slot& slot(size_t i) { return i < kInlineSlots ? inline_.slots[i] : overflow_[i - kInlineSlots]; }
  const Slot& slot(size_t i) const {
    return i < kInlineSlots ? inline_.slots[i] : overflow_[i - kInlineSlots];
  }
  const Slot* Find(const std::string& name) const;
  void CheckActive() const;
  void CheckNames(const Amounts& amounts, const char* what) const;
  void ApplyLocal(const Amounts& amounts, bool negate);
  // Writes `delta(slot)` tokens per slot (grouped per bucket); events is
  // added to the usage snapshots' total_events.
  template <class Delta>
  void WriteDeltas(Delta delta, int64_t events);
  // The same writes as owned operations, for an asynchronous call.
  template <class Delta>
  std::vector<WriteOp> DeltaOps(Delta delta) const;
  void FinishAsync(bool commit, DoneCallback done);

  BucketWriter* writer_ = nullptr;
  // Keeps the writer and the LeaseLimits alive (a warm bucket, or a block
  // made for this lease).
  std::shared_ptr<const void> keep_alive_;
  // Left uninitialized: only the first min(size_, kInlineSlots) are used,
  // and zeroing the rest on every acquire costs more than the acquire.
  union InlineSlots {
    InlineSlots() {}
    Slot slots[kInlineSlots];
  } inline_;
  std::vector<Slot> overflow_;
  size_t size_ = 0;
  mutable std::vector<LeaseEntry> entries_view_;
  bool noop_ = false;
  bool done_ = false;
  int uncaught_at_start_ = 0;
};

// One status per entry of the lease: the tokens available as of `now_ms`
// (after the lease's changes) and, as `requested`, its net consumption.
std::vector<LimitStatus> StatusesOf(const Lease& lease, int64_t now_ms);

}  // namespace zae

#endif  // ZAE_LEASE_H_

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
// exceeded. Commit throws StoreError if the write fails (the lease is then
// still active and may be retried or rolled back); a failing rollback from
// the destructor is swallowed.
// Thread safety: single owner; not thread-safe. Movable, not copyable.
#ifndef ZAE_LEASE_H_
#define ZAE_LEASE_H_

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

  // Net consumption per limit name, summed over entities.
  Amounts consumed() const;
  const std::vector<LeaseEntry>& entries() const { return entries_; }
  // True for the lease returned when the store was unavailable and the
  // policy is "allow": it holds nothing and writes nothing.
  bool is_noop() const { return noop_; }
  bool active() const { return !done_; }

 private:
  friend class RateLimiterImpl;
  Lease(std::shared_ptr<BucketWriter> writer, std::vector<LeaseEntry> entries, bool noop);
  void CheckActive() const;
  void ApplyLocal(const Amounts& amounts, bool negate);

  std::shared_ptr<BucketWriter> writer_;
  std::vector<LeaseEntry> entries_;
  bool noop_ = false;
  bool done_ = false;
  int uncaught_at_start_ = 0;
};

}  // namespace zae

#endif  // ZAE_LEASE_H_

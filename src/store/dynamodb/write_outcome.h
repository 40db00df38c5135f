// Which single-item writes were applied when their answer was lost.
//
// A PutItem or UpdateItem whose connection broke after sending, which timed
// out, or which got a 5xx or an unreadable 200, may or may not have been
// applied (aws::OutcomeUnknown); the client does not resend it, because an
// ADD applied twice counts a consumption twice. The DynamoDB store then
// reads the item (consistently) and asks Judge() what the read shows:
//
//   - a create (Put with attribute_not_exists(PK)): no item → not applied;
//     an item whose every non-counter attribute (rf, ttl, keys, flags) is
//     the Put's → applied; anything else → unknown;
//   - a compare-and-set (an Update whose condition pins an attribute it
//     SETs, the slow path's rf): the new value → applied, the old one → not
//     applied;
//   - an ADD (fast path, commit deltas, rollbacks): the item's numbers as
//     this process last knew them (`before`, taken when it was sent, from
//     the ALL_NEW of this process's previous write of the item) plus the
//     deltas → applied; unchanged → not applied; anything else → unknown;
//   - SET/REMOVE only: resending is idempotent → not applied.
//
// "Not applied" is resent; "applied" is answered from the read; "unknown"
// fails the write with a StoreError (the limiter's on_unavailable). The
// guarantee, precisely: an ADD is applied exactly once when no other write
// of the same item (from any process) lands between this process's
// previous write of it and the resolving read, and this process had no
// other write of it in flight; otherwise the write is reported unknown,
// never resent, so it counts at most once. No item layout changes: the
// ledger lives in this process's memory.
//
// Thread safety: WriteLedger is thread-safe (striped locks; writes of
// unrelated items share no lock with good probability). Judge is pure.
#ifndef ZAE_STORE_DYNAMODB_WRITE_OUTCOME_H_
#define ZAE_STORE_DYNAMODB_WRITE_OUTCOME_H_

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "zae/store.h"

namespace zae::store {

enum class WriteVerdict { kApplied, kNotApplied, kUnknown };

// What resolving a write needs, taken when it was sent.
struct SentWrite {
  uint64_t key_hash = 0;
  uint64_t epoch = 0;        // the ledger entry's epoch after Begin
  bool tracked = false;      // counted in the ledger's in-flight writes
  bool alone = false;        // no other write of the item was in flight
  bool have_before = false;  // `before` is known (see the file comment)
  // Per Update::add entry, in order: the attribute's number before the
  // write (nullopt: absent).
  std::vector<std::optional<int64_t>> before;
};

class WriteLedger {
 public:
  // Before sending `op` (a Put, Update or Delete; checks are not tracked).
  SentWrite Begin(const WriteOp& op);
  // The same for an Update of `key` that ADDs to `adds[0..n)`, in order
  // (the typed bucket write, which builds no Update).
  SentWrite BeginAdds(const ItemKey& key, const std::string_view* adds, size_t n);
  // The write got a definite answer (or gave up): `after` is the item it
  // left (its ALL_NEW, or the resolving read), nullptr when not known.
  void End(const SentWrite& sent, const Item* after);
  // The same with the item's number attributes, sorted by name (nullptr:
  // not known).
  using Number = std::pair<std::string_view, int64_t>;
  void EndNumbers(const SentWrite& sent, const Number* numbers, size_t n, bool known);
  // The item was written some other way (a transaction): what this process
  // knew of it is stale.
  void Invalidate(const ItemKey& key);

  size_t tracked_items() const;

 private:
  struct Entry {
    std::string pk, sk;
    int in_flight = 0;
    uint64_t epoch = 0;  // Begin()s so far
    bool known = false;  // `numbers` is the item after the last write
    std::vector<std::pair<std::string, int64_t>> numbers;  // sorted by name
  };
  struct alignas(64) Stripe {
    mutable std::mutex mu;
    std::unordered_map<uint64_t, Entry> entries;
  };
  static constexpr size_t kNotAnUpdate = SIZE_MAX;  // BeginAdds' n for a Put or Delete
  static constexpr size_t kStripes = 16;
  // Past this many items per stripe the stripe forgets them all: a bounded
  // memory, at the price of "unknown" for a write sent just then.
  static constexpr size_t kMaxPerStripe = 4096;
  std::array<Stripe, kStripes> stripes_;
};

// What the item read after the lost answer (`now`, nullptr: absent) says
// about `op` (see the file comment).
WriteVerdict Judge(const WriteOp& op, const SentWrite& sent, const Item* now);

// The key hash the ledger uses (FNV-1a of pk, a separator, sk).
uint64_t WriteKeyHash(const ItemKey& key);

}  // namespace zae::store

#endif  // ZAE_STORE_DYNAMODB_WRITE_OUTCOME_H_

// Store: the persistence contract every backend implements.
//
// A Store is a small DynamoDB-shaped item store: items are attribute maps
// addressed by a (PK, SK) string key, written with conditional Put / Update /
// Delete, read by key or by Query on the table or one of four secondary
// indexes. The limiter expresses *all* of its logic (token buckets, configs,
// registries, namespaces, audit) as these operations, so the rules live once
// in src/limiter and every backend stores byte-for-byte the item layout of
// the reference (shared/spec/format.md):
//   - DynamoDB (src/store/dynamodb) maps each call to one API call;
//   - SQLite   (src/store/sqlite) runs each call in one short transaction;
//   - memory   (src/store/memory) runs each call under one lock.
//
// Why this shape: it lets the DynamoDB store admit a warm request with one
// conditional UpdateItem (ADD deltas guarded by `tk >= n`, no config read),
// create a bucket with a conditional Put, refill under the optimistic `rf`
// lock, and send a cascade's child and parent writes concurrently
// (WriteEach) or atomically (Transact).
//
// Semantics every backend must honour (the conformance suite checks them):
//   - Each Write/Get is atomic and linearizable on its item.
//   - Update upserts: on a missing item it starts from {PK, SK} (unless the
//     condition fails). ADD on a missing number starts from 0; ADD to a
//     missing set creates it; DELETE of the last set member removes the
//     attribute. Number arithmetic saturates at the int64 range.
//   - Conditions are evaluated against the item before the write; a missing
//     item has no attributes. Comparisons between different types are false.
//   - A failed condition is a result (WriteStatus::kConditionFailed), never an
//     exception; with return_old_on_failure the old item is returned.
//   - Transact applies all operations or none; on a failed condition it
//     reports which operations failed.
//   - Infrastructure failures (I/O, network, corrupt data, throttling after
//     retries) throw zae::StoreError.
//   - Query returns items in ascending sort-key order (descending when
//     !forward) and pages with `limit` / `start_after`; index queries return
//     full items (backends may read the table to complete a KEYS_ONLY index).
//
// Thread safety: every Store implementation is safe for concurrent use.
#ifndef ZAE_STORE_H_
#define ZAE_STORE_H_

#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace zae {

// An attribute value. Numbers are int64: every number in the item layout is
// an integer (format.md §0).
class Value {
 public:
  using Map = std::map<std::string, Value>;
  using List = std::vector<Value>;
  using StringSet = std::set<std::string>;
  enum class Type { kNull, kBool, kNumber, kString, kStringSet, kList, kMap };

  Value() = default;  // NULL
  Value(bool b) : v_(b) {}
  Value(int64_t n) : v_(n) {}
  Value(int n) : v_(static_cast<int64_t>(n)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(StringSet ss) : v_(std::move(ss)) {}
  Value(List l) : v_(std::move(l)) {}
  Value(Map m) : v_(std::move(m)) {}

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::kNull; }
  bool is_number() const { return type() == Type::kNumber; }
  bool is_string() const { return type() == Type::kString; }

  // Typed accessors; throw StoreError naming the expected type on mismatch.
  bool as_bool() const;
  int64_t as_number() const;
  const std::string& as_string() const;
  const StringSet& as_string_set() const;
  const List& as_list() const;
  const Map& as_map() const;
  // The number in place, or nullptr when the value is not a number. For
  // backends that update counters without rebuilding the value.
  int64_t* mutable_number() { return std::get_if<int64_t>(&v_); }

  friend bool operator==(const Value&, const Value&) = default;

 private:
  std::variant<std::monostate, bool, int64_t, std::string, StringSet, List, Map> v_;
};

using Item = std::map<std::string, Value>;

struct ItemKey {
  std::string pk;
  std::string sk;
  friend auto operator<=>(const ItemKey&, const ItemKey&) = default;
};

// Reads PK/SK of an item (throws StoreError if absent).
ItemKey KeyOf(const Item& item);

// One comparison on one attribute.
struct Predicate {
  enum class Op { kExists, kNotExists, kEq, kNe, kLt, kLe, kGt, kGe };
  std::string attr;
  Op op;
  Value operand;  // unused for kExists / kNotExists
};

// A condition in conjunctive normal form: every clause must hold, and a
// clause holds when any of its predicates does. Empty = always true.
struct Condition {
  std::vector<std::vector<Predicate>> clauses;

  Condition& Exists(std::string attr);
  Condition& NotExists(std::string attr);
  Condition& Compare(std::string attr, Predicate::Op op, Value operand);
  Condition& AnyOf(std::vector<Predicate> alternatives);
  bool empty() const { return clauses.empty(); }
};

// True when `cond` holds for `item` (nullptr = missing item). Backends that
// evaluate conditions themselves (memory, SQLite) share this one definition.
bool Evaluate(const Condition& cond, const Item* item);

struct Put {
  Item item;  // must contain PK and SK
  Condition condition;
  bool return_old_on_failure = false;
};

struct Update {
  ItemKey key;
  std::vector<std::pair<std::string, Value>> set;
  std::vector<std::pair<std::string, Value>> set_if_not_exists;
  std::vector<std::pair<std::string, int64_t>> add;  // numeric ADD
  std::vector<std::pair<std::string, Value::StringSet>> add_to_set;
  std::vector<std::pair<std::string, Value::StringSet>> delete_from_set;
  std::vector<std::string> remove;
  Condition condition;
  bool return_new = false;             // ALL_NEW on success
  bool return_old_on_failure = false;  // ALL_OLD on a failed condition
};

struct Delete {
  ItemKey key;
  Condition condition;
  bool return_old = false;  // the deleted item on success, the item on failure
};

struct ConditionCheck {
  ItemKey key;
  Condition condition;
};

using WriteOp = std::variant<Put, Update, Delete, ConditionCheck>;

enum class WriteStatus { kOk, kConditionFailed };

struct WriteResult {
  WriteStatus status = WriteStatus::kOk;
  // Update+return_new: the new item. Failed condition + return_old*: the old
  // item (nullopt when the item did not exist). Delete+return_old: old item.
  std::optional<Item> item;
  bool ok() const { return status == WriteStatus::kOk; }
};

struct TransactResult {
  bool ok = true;
  // When !ok: per operation, whether its condition failed, and the item it
  // saw (for Update/Put with return_old_on_failure; nullopt if missing).
  std::vector<bool> failed;
  std::vector<std::optional<Item>> old_items;
  // When ok: per operation, the new item of an Update with return_new.
  // Only the embedded stores fill it (DynamoDB transactions return no items).
  std::vector<std::optional<Item>> new_items;
};

enum class Index { kTable, kGsi1, kGsi2, kGsi3, kGsi4 };

struct QueryRequest {
  Index index = Index::kTable;
  std::string hash;                        // PK, or GSI{n}PK
  std::optional<std::string> sort_prefix;  // begins_with on SK / GSI{n}SK
  bool forward = true;
  int limit = 0;  // 0 = backend's page size
  // Continue after this item (the last item of the previous page).
  std::optional<Item> start_after;
  bool consistent = false;
};

struct QueryPage {
  std::vector<Item> items;
  std::optional<Item> last_evaluated;  // set when more items may follow
};

// Per-backend call counters, for the benchmark tool and request-count tests.
struct StoreStats {
  std::map<std::string, int64_t> calls;  // by operation name, e.g. "UpdateItem"
  double read_units = 0;
  double write_units = 0;
};

struct Capabilities {
  // Writes to one bucket can be spread over shards (DynamoDB).
  bool sharding = false;
  // WriteEach really overlaps the writes (one network round trip).
  bool concurrent_writes = false;
  // WriteEachAsync really is asynchronous: it returns before the store
  // answers and completes on the store's I/O thread (DynamoDB). Otherwise
  // it completes inline, before it returns.
  bool async_io = false;
  // WriteBucketsAsync returns before its writes are done and completes on
  // a thread of the store: the I/O thread with async_io (DynamoDB), the
  // writer thread that groups queued writes into one transaction (SQLite).
  // Otherwise it completes inline.
  bool async_bucket_writes = false;
  // The store deletes items whose `ttl` has passed by itself.
  bool native_ttl = false;
  // Usage snapshots come from the store's change stream (an aggregator
  // process); otherwise the limiter writes them inside each bucket write.
  bool usage_from_stream = false;
};

struct ProvisionOptions {
  // DynamoDB only: project GSI2 KEYS_ONLY instead of ALL, so a warm acquire
  // costs 1 WCU. See docs/dynamodb.md for what this changes for Python clients.
  bool narrow_gsi2 = false;
};

// ---- typed bucket writes (the hot path) ----------------------------------
//
// A bucket item (format.md §2.3) keeps each limit L in the number attributes
// b_{L}_tk, b_{L}_cp, b_{L}_ra, b_{L}_rp, b_{L}_tc, and its refill time in
// `rf`. A warm acquire, a lease's commit and an undo are all the same write:
// add to tk and tc of some limits of one bucket, guarded by tk >= x, plus the
// same amounts into the bucket's usage-snapshot items. BucketWrite states
// exactly that, with no Item built, so each backend can apply it natively
// (memory: typed records; SQLite: typed columns; DynamoDB: the UpdateItem of
// store::BucketWriteAsUpdate). Its semantics are those of that Update:
//
//   condition: the item exists
//              && (ttl_after == kNoTtlCheck || ttl absent || ttl > ttl_after)
//              && for every guarded limit: b_{L}_tk is a number >= guard_milli
//   on success: b_{L}_tk -= consume_milli, b_{L}_tc += consume_milli
//              (saturating; a missing number starts at 0), and per usage window
//              ADD floor(consume_milli / 1000) to attribute L (limits with
//              count_usage, non-zero amounts) and `events` to total_events; a
//              missing snapshot item is first created from its template.
//   on failure: nothing changes.
//
// Ownership: every pointer in a BucketWrite is the caller's and only needs to
// live for the call; the backend keeps none of them.
// One known difference between the forms: a `ttl` attribute that is not a
// number counts as absent for the native backends, while the Update's
// condition fails on it. Nothing writes such a ttl; a hand-edited item could.
struct BucketLimitDelta {
  std::string_view name;      // the limit name L
  int64_t consume_milli = 0;  // tk -= consume_milli, tc += consume_milli
  bool guard = false;         // the write fails unless b_{L}_tk >= guard_milli
  int64_t guard_milli = 0;
  bool count_usage = true;  // false for the hidden wcu limit
};

// One limit as the write left it (success) or found it (failure).
struct BucketLimitView {
  bool present = false;  // b_{L}_tk is a number on the item
  int64_t tk = 0, cp = 0, ra = 0, rp = 0;
  std::optional<int64_t> tc;
};

// A backend's cached reference to one bucket item, so that repeated typed
// writes to it skip the key lookup (Store::OpenBucket). Opaque to callers.
class BucketHandle {
 public:
  virtual ~BucketHandle() = default;
};

struct BucketWrite {
  static constexpr int64_t kNoTtlCheck = INT64_MIN;

  // ---- input
  const ItemKey* key = nullptr;
  // From Store::OpenBucket for this key, or nullptr. A stale handle (the
  // item was deleted and made again) is detected by the backend.
  BucketHandle* handle = nullptr;
  const BucketLimitDelta* limits = nullptr;
  size_t limit_count = 0;
  int64_t ttl_after = kNoTtlCheck;
  // Usage snapshots written in the same transaction (empty: none). Each
  // template's key is the snapshot item; its set / set_if_not_exists make
  // the item when missing; its add and condition are ignored.
  const Update* usage = nullptr;
  size_t usage_count = 0;
  int64_t usage_events = 0;
  // The caller's id for this set of templates (e.g. the hour): equal
  // non-zero ids on one bucket promise equal templates, so a backend may
  // reuse what it resolved for them. 0: no promise.
  int64_t usage_window = 0;
  // ---- output (views: the caller's array of limit_count entries, or null).
  // status is always set; views, exists, rf and shard_count only when views
  // is non-null (the default implementation then asks for the item back, and
  // otherwise does not).
  BucketLimitView* views = nullptr;
  WriteStatus status = WriteStatus::kOk;
  bool exists = false;      // the item existed before the write
  int64_t rf = 0;           // the item's rf (0 when absent)
  int64_t shard_count = 1;  // the item's shard_count (1 when absent)

  bool ok() const { return status == WriteStatus::kOk; }
};

class Store {
 public:
  virtual ~Store() = default;

  // A short description for messages, e.g. "sqlite:/var/lib/zae.db".
  virtual std::string Describe() const = 0;
  virtual Capabilities capabilities() const = 0;

  // Creates tables/schema if missing. Idempotent.
  virtual void Provision(const ProvisionOptions& options) = 0;

  virtual std::optional<Item> Get(const ItemKey& key, bool consistent = false) = 0;
  // One result per key, in order (nullopt = missing). Backends chunk and
  // retry unprocessed keys themselves.
  virtual std::vector<std::optional<Item>> BatchGet(const std::vector<ItemKey>& keys,
                                                    bool consistent = false) = 0;

  virtual WriteResult Write(const WriteOp& op) = 0;
  // Independent writes, not atomic together; overlapped when the backend
  // can. One result per op, in order. A StoreError of one op is rethrown
  // after all have finished.
  virtual std::vector<WriteResult> WriteEach(const std::vector<WriteOp>& ops) = 0;
  // All or nothing (at most 100 ops).
  virtual TransactResult Transact(const std::vector<WriteOp>& ops) = 0;
  // Unconditional deletes/puts of many items; backends chunk and retry.
  virtual void BatchWrite(const std::vector<WriteOp>& puts_or_deletes) = 0;

  virtual QueryPage Query(const QueryRequest& request) = 0;

  // ---- asynchronous form (the limiter's async API, include/zae/rate_limiter.h)
  //
  // WriteEach, completing through `done`, which runs exactly once with the
  // results (and a null error) or with the error (and null results). With
  // capabilities().async_io it runs on the store's I/O thread, where it must
  // not block or call a synchronous method of this store (those throw
  // StoreError there); otherwise it runs inline before WriteEachAsync
  // returns. The store must outlive the call's completion. The default runs
  // WriteEach inline.
  using WriteEachCallback =
      std::function<void(std::vector<WriteResult>* results, std::exception_ptr error)>;
  virtual void WriteEachAsync(std::vector<WriteOp> ops, WriteEachCallback done);
  // True on a thread that delivers this store's completions (where waiting
  // for another call of the store would deadlock).
  virtual bool OnCompletionThread() const { return false; }

  // Typed bucket writes (see BucketWrite), each on its own (with its usage
  // snapshots) and overlapped where the backend can, as WriteEach. A
  // StoreError of one write is rethrown after all have finished. The default
  // maps each write to its Update (store::BucketWriteAsUpdate) and runs
  // Write / WriteEach / Transact; the embedded stores override it.
  virtual void WriteBuckets(BucketWrite* writes, size_t count);
  // WriteBuckets, completing through `done`: exactly once, with a null
  // error when every write's outputs are set, else with the first
  // StoreError after all writes finished. `writes` and everything they point
  // at must stay valid until `done` runs. With capabilities().async_io
  // `done` runs on the store's I/O thread (see WriteEachAsync for what it
  // may do there); with async_bucket_writes alone, on the store's own
  // thread (SqliteStore::WriteBucketsAsync says what it may do there);
  // otherwise inline, before this returns. A malformed write
  // (null pointers) fails with ValidationError through `done`, after the
  // others ran, as in WriteBuckets. The default runs WriteBuckets inline; DynamoDB sends each
  // write's UpdateItem built straight from it (src/store/dynamodb/bucket_request.h).
  using WriteBucketsCallback = std::function<void(std::exception_ptr error)>;
  virtual void WriteBucketsAsync(BucketWrite* writes, size_t count, WriteBucketsCallback done);
  // A handle that speeds up WriteBuckets on this key; nullptr when the
  // backend has none. Valid for the store's lifetime; thread-safe.
  virtual std::shared_ptr<BucketHandle> OpenBucket(const ItemKey& key);

  // Removes items whose `ttl` (epoch seconds) is before `now_seconds`.
  // On stores without native_ttl the RateLimiter calls it for retention
  // (expired buckets, audit events): when it opens, then at most once an
  // hour of its clock, from the slow path and admin writes. DynamoDB
  // expires items natively (and this returns 0).
  virtual int64_t DeleteExpired(int64_t now_seconds) = 0;

  virtual StoreStats stats() const = 0;
  virtual void ResetStats() = 0;
};

// Opens a store from a URL: "memory:", "sqlite:PATH",
// "dynamodb://TABLE?region=R&endpoint=URL". Throws ValidationError for a
// malformed URL and StoreError when the backend cannot be opened.
std::unique_ptr<Store> OpenStore(const std::string& url);

}  // namespace zae

#endif  // ZAE_STORE_H_

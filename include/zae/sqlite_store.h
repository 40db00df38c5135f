// SqliteStore: the embedded default backend, a Store kept in one SQLite file
// that several threads and several processes on one host may share.
//
// Schema (version 2; docs/sqlite.md explains it at length):
//
//   CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
//     -- ('schema_version', '2')
//   CREATE TABLE items2(
//     pk TEXT NOT NULL, sk TEXT NOT NULL,
//     gsi1pk TEXT, gsi1sk TEXT, gsi2pk TEXT, gsi2sk TEXT,
//     gsi3pk TEXT, gsi3sk TEXT, gsi4pk TEXT, gsi4sk TEXT,
//     ttl INTEGER,
//     rf INTEGER, shard_count INTEGER,  -- bucket items only
//     data TEXT NOT NULL,  -- the item minus its typed numbers, typed JSON (item_codec.h)
//     PRIMARY KEY(pk, sk)) WITHOUT ROWID;
//   CREATE INDEX items2_gsiN ON items2(gsiNpk, gsiNsk) WHERE both NOT NULL;  -- N=1..4
//   CREATE INDEX items2_ttl ON items2(ttl) WHERE ttl IS NOT NULL;
//   CREATE TABLE bucket_limits(pk TEXT NOT NULL, name TEXT NOT NULL,
//     tk INTEGER, cp INTEGER, ra INTEGER, rp INTEGER, tc INTEGER,
//     PRIMARY KEY(pk, name)) WITHOUT ROWID;
//   CREATE TABLE usage_counters(pk TEXT NOT NULL, sk TEXT NOT NULL, attr TEXT NOT NULL,
//     n INTEGER NOT NULL, PRIMARY KEY(pk, sk, attr)) WITHOUT ROWID;
//
// An item is `data` plus its typed numbers, which are kept only in the typed
// places: for a bucket item (SK '#STATE') the numeric rf and shard_count in
// their columns and every numeric b_{L}_{tk,cp,ra,rp,tc} in bucket_limits
// (NULL = not a number there); for a usage snapshot (SK '#USAGE#...') every
// numeric attribute but ttl in usage_counters. Anything else (a non-number,
// other attributes, other items) stays in `data`. The gsi and ttl columns are
// copies, kept only so SQL can index them; an item whose GSI key attributes
// are missing or not strings is absent from that index, as in DynamoDB.
//
// Versions: a version 1 file (one `items` table, all in `data`) is migrated
// on open in one transaction; a file of any other version is refused. The
// table is renamed on purpose: a v1 process that still has the file open
// fails every later statement ("no such table: items") instead of misreading
// or overwriting the migrated items, and a v1 binary refuses to open it.
//
// Transactions: every Store call is one short SQLite transaction. Writes run
// under BEGIN IMMEDIATE, so the read-modify-write of a conditional update is
// atomic across threads and processes; reads of typed items run in one
// deferred read transaction, so the row and its typed rows are one snapshot.
// WriteBuckets runs natively on the typed tables (no item decoded or
// encoded on the warm path); concurrent calls share one transaction (group
// commit), each write with its usage windows in its own savepoint;
// WriteBucketsAsync queues them for a writer thread that does the same. The file
// is put in WAL mode with synchronous=NORMAL: a commit survives a process
// crash; the last commits may be lost on power failure. The store runs the
// WAL checkpoints itself, after a write released the writers' locks.
//
// Thread safety: safe for concurrent use. Each call borrows a connection from
// a small pool owned by the store (a connection and its cached prepared
// statements are used by one thread at a time). Writers of one process queue
// on a mutex, then writers of all processes on a POSIX record lock of
// "<path>-lock" (they sleep in the kernel until the holder commits; a dead
// holder's lock is released by the kernel, and fork() does not share it). Anyone else holding
// SQLite's lock is waited for through the busy timeout, then the call is retried `busy_retries`
// times before it throws a retryable StoreError.
//
// Errors: the constructor throws StoreError when the file cannot be opened or
// written (missing directory, permissions, not a database, unknown schema
// version); calls throw StoreError for I/O errors, lock timeouts and corrupt
// rows. Parent directories are not created.
#ifndef ZAE_SQLITE_STORE_H_
#define ZAE_SQLITE_STORE_H_

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "zae/store.h"

namespace zae {

struct SqliteOptions {
  // How long one statement waits for another connection's lock.
  std::chrono::milliseconds busy_timeout{5000};
  // Extra attempts of a whole call that still found the database busy.
  int busy_retries = 3;
  // Query page size when QueryRequest::limit is 0.
  int default_page_size = 1000;
  // Idle connections kept open for reuse; more are opened on demand.
  size_t max_idle_connections = 8;
};

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database file at `path` and its schema.
  explicit SqliteStore(std::string path, SqliteOptions opts = {});
  ~SqliteStore() override;

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  std::string Describe() const override { return "sqlite:" + path_; }
  Capabilities capabilities() const override {
    Capabilities c;
    c.async_bucket_writes = true;
    return c;
  }
  void Provision(const ProvisionOptions& options) override;

  std::optional<Item> Get(const ItemKey& key, bool consistent = false) override;
  std::vector<std::optional<Item>> BatchGet(const std::vector<ItemKey>& keys,
                                            bool consistent = false) override;
  WriteResult Write(const WriteOp& op) override;
  std::vector<WriteResult> WriteEach(const std::vector<WriteOp>& ops) override;
  TransactResult Transact(const std::vector<WriteOp>& ops) override;
  void BatchWrite(const std::vector<WriteOp>& ops) override;
  QueryPage Query(const QueryRequest& request) override;
  // Natively on the typed tables, no item decoded or encoded on the warm
  // path. Group commit: calls from several threads at once share one
  // BEGIN IMMEDIATE transaction, each write (bucket and usage windows
  // together) in its own savepoint, so each is still all or nothing and
  // independent of the others; a call returns once its group committed. A
  // write's error fails that write only; a failed commit fails the group.
  void WriteBuckets(BucketWrite* writes, size_t count) override;
  // Queues the writes for the store's writer thread (started on the first
  // call) and returns. The thread writes what is queued as WriteBuckets
  // groups it (up to 128 writes per transaction, each on its own), then
  // runs each call's `done` on itself, in queue order, after the group
  // committed and the writers' locks were released. `done` may call any
  // method of this store (synchronous writes queue as usual) but holds up
  // the queued writes while it runs, so it should be short. The store's
  // destructor writes what is still queued and runs its callbacks first.
  void WriteBucketsAsync(BucketWrite* writes, size_t count, WriteBucketsCallback done) override;
  int64_t DeleteExpired(int64_t now_seconds) override;
  StoreStats stats() const override;
  void ResetStats() override;

  const std::string& path() const { return path_; }
  // Write transactions this store committed: WriteBuckets calls divided by
  // it is the mean group size (for tests and benchmarks).
  int64_t commits() const { return commits_.load(std::memory_order_relaxed); }

  // The schema version recorded in the file at `path` ("1", "2"), read
  // without opening it as a store, so without migrating it; nullopt when
  // there is no such file or it has no zae-limiter schema (e.g. an empty or
  // foreign database). Throws StoreError when the file cannot be read or is
  // not a database.
  static std::optional<std::string> FileSchemaVersion(const std::string& path);
  // Removes the database file at `path` and its companions (-wal, -shm,
  // -journal, -lock). Returns false when the file did not exist. Processes
  // that still have it open keep writing to the removed file.
  // Throws StoreError when a file cannot be removed.
  static bool RemoveFiles(const std::string& path);

  class Connection;  // one sqlite3 handle and its statement cache

 private:
  enum Op {
    kGetItem,
    kBatchGetItem,
    kPutItem,
    kUpdateItem,
    kDeleteItem,
    kConditionCheck,
    kTransactWriteItems,
    kBatchWriteItem,
    kQuery,
    kNumOps
  };

  // Borrows a connection for the duration of one call.
  class Lease;
  std::unique_ptr<Connection> Acquire();
  void Release(std::unique_ptr<Connection> conn);

  // Runs `body` inside one transaction, retrying on SQLITE_BUSY, then
  // MaybeCheckpoint (RunWriteLocked: without it).
  template <class F>
  auto RunWrite(F&& body);
  template <class F>
  auto RunWriteLocked(F&& body);

  // WAL checkpoints run after a write released the writers' locks, not in
  // the commit that crossed the threshold: SQLite's automatic checkpoint
  // runs there, holding every writer of this process behind its fsyncs.
  struct WalState {
    std::atomic<bool> due{false};
    std::atomic<bool> running{false};  // a checkpoint is under way
    std::atomic<int> at_pages{1000};   // checkpoint once the WAL is this big
  };
  static constexpr int kCheckpointPages = 1000;  // SQLite's default threshold
  void MaybeCheckpoint();
  WalState wal_;
  template <class F>
  auto RunRead(F&& body);

  void Count(Op op) { calls_[op].fetch_add(1, std::memory_order_relaxed); }

  // The group-commit queue of WriteBuckets (a singly linked list of the
  // waiting calls, each on its caller's stack).
  struct BucketBatch;
  void WriteGroup(BucketBatch* first, size_t calls, size_t total,
                  std::chrono::steady_clock::time_point deadline);
  std::mutex batch_mu_;
  BucketBatch* batch_head_ = nullptr;
  BucketBatch* batch_tail_ = nullptr;
  // WriteBucketsAsync's queue (heap-allocated batches, owned by the queue)
  // and the writer thread that drains it. Shared with the thread: the last
  // reference to the store may go in one of the callbacks the thread runs,
  // and the thread must then stop without touching the store.
  struct AsyncQueue;
  void AsyncWriterLoop(const std::shared_ptr<AsyncQueue>& q);
  std::shared_ptr<AsyncQueue> async_;
  std::thread async_writer_;

  const std::string path_;
  const SqliteOptions opts_;

  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
  // Serializes this process's writers so they queue instead of polling
  // SQLite's file lock.
  std::timed_mutex write_mu_;  // waited for until the call's deadline
  // The file "<path>-lock": writers of every process queue on a POSIX
  // record lock of its first byte.
  int lock_fd_ = -1;

  std::array<std::atomic<int64_t>, kNumOps> calls_{};
  std::atomic<int64_t> commits_{0};
};

}  // namespace zae

#endif  // ZAE_SQLITE_STORE_H_

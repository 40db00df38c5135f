#include "zae/sqlite_store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <variant>

#include "core/deadline.h"
#include "core/pair_hash.h"
#include "store/apply.h"
#include "store/bucket_write.h"
#include "store/sqlite/item_codec.h"
#include "zae/errors.h"

namespace zae {
namespace {

constexpr const char* kSchemaVersion = "2";

// Schema version 2 (docs/sqlite.md). The item table is `items2`, not v1's
// `items`, on purpose: a v1 process that still has the file open finds its
// table gone when the migration commits, so every statement it runs from
// then on fails ("no such table: items") instead of reading items whose
// numbers moved to the typed tables, or writing ones that would shadow them.
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE IF NOT EXISTS items2(
  pk TEXT NOT NULL, sk TEXT NOT NULL,
  gsi1pk TEXT, gsi1sk TEXT, gsi2pk TEXT, gsi2sk TEXT,
  gsi3pk TEXT, gsi3sk TEXT, gsi4pk TEXT, gsi4sk TEXT,
  ttl INTEGER,
  rf INTEGER, shard_count INTEGER,
  data TEXT NOT NULL,
  PRIMARY KEY(pk, sk)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items2_gsi1 ON items2(gsi1pk, gsi1sk)
  WHERE gsi1pk IS NOT NULL AND gsi1sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items2_gsi2 ON items2(gsi2pk, gsi2sk)
  WHERE gsi2pk IS NOT NULL AND gsi2sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items2_gsi3 ON items2(gsi3pk, gsi3sk)
  WHERE gsi3pk IS NOT NULL AND gsi3sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items2_gsi4 ON items2(gsi4pk, gsi4sk)
  WHERE gsi4pk IS NOT NULL AND gsi4sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items2_ttl ON items2(ttl) WHERE ttl IS NOT NULL;
CREATE TABLE IF NOT EXISTS bucket_limits(
  pk TEXT NOT NULL, name TEXT NOT NULL,
  tk INTEGER, cp INTEGER, ra INTEGER, rp INTEGER, tc INTEGER,
  PRIMARY KEY(pk, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_counters(
  pk TEXT NOT NULL, sk TEXT NOT NULL, attr TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY(pk, sk, attr)) WITHOUT ROWID;
)sql";

// The bucket item's sort key (format.md §2.3) and the usage snapshots' sort
// key prefix (§2.11): the items whose numbers live in typed tables.
constexpr std::string_view kBucketSk = "#STATE";
constexpr std::string_view kUsageSkPrefix = "#USAGE#";
// b_{L}_{field} fields kept in bucket_limits, in column order.
constexpr std::array<std::string_view, 5> kLimitFields = {"tk", "cp", "ra", "rp", "tc"};

bool IsBucketSk(std::string_view sk) { return sk == kBucketSk; }
bool IsUsageSk(std::string_view sk) {
  return sk.substr(0, kUsageSkPrefix.size()) == kUsageSkPrefix;
}

// Rows deleted per transaction by DeleteExpired, so retention never holds
// the write lock for long.
constexpr int kExpireChunk = 1000;
// Ops per transaction in BatchWrite.
constexpr size_t kBatchChunk = 500;

// SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: the call may succeed
// if repeated.
class BusyError : public StoreError {
 public:
  explicit BusyError(const std::string& m) : StoreError(m, /*retryable=*/true) {}
};

// The columns SQL indexes, copied from the item.
struct IndexColumns {
  std::array<std::optional<std::string>, 8> gsi;  // GSI1PK, GSI1SK, ..., GSI4SK
  std::optional<int64_t> ttl;
  friend bool operator==(const IndexColumns&, const IndexColumns&) = default;
};

IndexColumns ColumnsOf(const Item& item) {
  static const char* const kNames[] = {"GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK",
                                       "GSI3PK", "GSI3SK", "GSI4PK", "GSI4SK"};
  IndexColumns c;
  for (size_t i = 0; i < c.gsi.size(); ++i) {
    auto it = item.find(kNames[i]);
    if (it != item.end() && it->second.is_string()) c.gsi[i] = it->second.as_string();
  }
  auto ttl = item.find("ttl");
  if (ttl != item.end() && ttl->second.is_number()) c.ttl = ttl->second.as_number();
  return c;
}

const char* IndexColumnName(Index index, bool hash) {
  switch (index) {
    case Index::kTable:
      return hash ? "pk" : "sk";
    case Index::kGsi1:
      return hash ? "gsi1pk" : "gsi1sk";
    case Index::kGsi2:
      return hash ? "gsi2pk" : "gsi2sk";
    case Index::kGsi3:
      return hash ? "gsi3pk" : "gsi3sk";
    case Index::kGsi4:
      return hash ? "gsi4pk" : "gsi4sk";
  }
  return hash ? "pk" : "sk";
}

// The smallest string greater than every string starting with `prefix`, or
// nullopt when there is none (prefix of only 0xFF bytes).
std::optional<std::string> PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xFF) prefix.pop_back();
  if (prefix.empty()) return std::nullopt;
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

// Waits for another connection's lock with short sleeps: SQLite's default
// handler sleeps whole milliseconds, far longer than our transactions last.
int OnBusy(void* arg, int count);

}  // namespace

class SqliteStore::Connection {
 public:
  Connection(const std::string& path, const SqliteOptions& opts, SqliteStore::WalState* wal)
      : busy_timeout_(opts.busy_timeout) {
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw StoreError("cannot open SQLite store '" + path + "': " + msg + Diagnose(path));
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_handler(db_, OnBusy, this);
    if (sqlite3_db_readonly(db_, "main") == 1) {
      sqlite3_close(db_);
      db_ = nullptr;
      throw StoreError("cannot open SQLite store '" + path + "': the file is not writable");
    }
    try {
      // WAL lets readers run beside the one writer; NORMAL syncs at
      // checkpoints only, which is durable against process crashes.
      std::string mode;
      Statement pragma(*this, "PRAGMA journal_mode=WAL");
      if (pragma.Step()) mode = pragma.Text(0);
      if (mode != "wal") {
        throw StoreError("cannot put SQLite store '" + path +
                         "' in WAL mode (journal_mode=" + mode + ")");
      }
      pragma.Done();
      Exec("PRAGMA synchronous=NORMAL");
      // Replaces SQLite's automatic checkpoint (SqliteStore::MaybeCheckpoint).
      sqlite3_wal_hook(db_, OnWal, wal);
    } catch (const StoreError& e) {
      Close();
      // "file is not a database" and friends surface on the first statement.
      throw StoreError("cannot open SQLite store '" + path + "': " + e.what(), e.retryable());
    }
  }

  ~Connection() { Close(); }

  // Called by SQLite after each commit with the WAL's size in pages: marks
  // a checkpoint due once it reaches the threshold.
  static int OnWal(void* arg, sqlite3*, const char*, int pages) {
    auto* wal = static_cast<SqliteStore::WalState*>(arg);
    if (pages >= wal->at_pages.load(std::memory_order_relaxed)) {
      wal->due.store(true, std::memory_order_relaxed);
    }
    return SQLITE_OK;
  }

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A prepared statement from this connection's cache, reset and unbound
  // when the Statement goes out of scope.
  class Statement {
   public:
    Statement(Connection& c, const std::string& sql) : c_(c), s_(c.Prepare(sql)) {}
    // A statement held by the connection (Connection::Hot), for the hot
    // path: no SQL text to hash.
    Statement(Connection& c, sqlite3_stmt* s) : c_(c), s_(s) {}
    ~Statement() { Done(); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    // The text must outlive the Statement (bound without copying).
    void Bind(int i, const std::string& text) {
      Check(sqlite3_bind_text(s_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC));
    }
    void Bind(int i, int64_t n) { Check(sqlite3_bind_int64(s_, i, n)); }
    // The text must outlive the Statement (bound without copying).
    void BindView(int i, std::string_view text) {
      Check(sqlite3_bind_text(s_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC));
    }
    void Bind(int i, const std::optional<std::string>& text) {
      if (text) {
        Bind(i, *text);
      } else {
        Check(sqlite3_bind_null(s_, i));
      }
    }
    void Bind(int i, const std::optional<int64_t>& n) {
      if (n) {
        Bind(i, *n);
      } else {
        Check(sqlite3_bind_null(s_, i));
      }
    }

    // True for a row, false when done.
    bool Step() {
      const int rc = sqlite3_step(s_);
      if (rc == SQLITE_ROW) return true;
      if (rc == SQLITE_DONE) return false;
      c_.Fail(rc, "step");
    }
    std::string_view Text(int col) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
      return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(s_, col)))
               : std::string_view();
    }
    bool Null(int col) { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
    // A typed number column: nullopt for NULL; anything else but an integer
    // is a damaged row.
    std::optional<int64_t> Int(int col) {
      const int type = sqlite3_column_type(s_, col);
      if (type == SQLITE_NULL) return std::nullopt;
      if (type != SQLITE_INTEGER) {
        throw StoreError("corrupt row in SQLite store: column " +
                         std::string(sqlite3_column_name(s_, col)) + " is not an integer");
      }
      return sqlite3_column_int64(s_, col);
    }
    // Ends the statement early, so it holds no read lock.
    void Done() {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }

   private:
    void Check(int rc) {
      if (rc != SQLITE_OK) c_.Fail(rc, "bind");
    }
    Connection& c_;
    sqlite3_stmt* s_;
  };

  void Exec(const std::string& sql) {
    Statement s(*this, sql);
    while (s.Step()) {
    }
  }

  // Runs a script of several statements (DDL); not cached.
  void ExecScript(const char* sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      Fail(rc, msg);
    }
  }

  // Rolls back an open transaction. False when the connection is unusable.
  bool RollbackQuietly() {
    if (sqlite3_get_autocommit(db_)) return true;
    return sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK;
  }

  [[noreturn]] void Fail(int rc, const std::string& what) {
    std::string msg =
        "SQLite " + what + ": " + sqlite3_errmsg(db_) + " (" + std::to_string(rc) + ")";
    const int primary = rc & 0xFF;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) throw BusyError(msg);
    throw StoreError(msg);
  }

  // The statements of the hot paths (WriteBuckets, RunWrite), prepared once
  // and held by pointer so a call hashes no SQL text.
  enum HotSql {
    kBegin,
    kCommit,
    kSavepoint,
    kRelease,
    kRollbackTo,
    kBucketRead,
    kLimitUpdate,
    kUsageRead,
    kCounterAdd,
    kNumHot
  };
  sqlite3_stmt* Hot(HotSql which) {
    static const char* const kSql[kNumHot] = {
        "BEGIN IMMEDIATE", "COMMIT",
        // One write of a group commit (SqliteStore::WriteBuckets).
        "SAVEPOINT w", "RELEASE w", "ROLLBACK TO w",
        // The bucket row and all its typed limits in one statement.
        "SELECT i.ttl, i.rf, i.shard_count, l.name, l.tk, l.cp, l.ra, l.rp, l.tc "
        "FROM items2 AS i LEFT JOIN bucket_limits AS l ON l.pk = i.pk "
        "WHERE i.pk = ?1 AND i.sk = '#STATE'",
        "UPDATE bucket_limits SET tk = ?3, tc = ?4 WHERE pk = ?1 AND name = ?2",
        "SELECT data FROM items2 WHERE pk = ?1 AND sk = ?2",
        // ADD n, saturating at the int64 range as the Store contract says
        // (SQLite itself would turn an overflowing sum into a REAL).
        "INSERT INTO usage_counters(pk, sk, attr, n) VALUES(?1, ?2, ?3, ?4) "
        "ON CONFLICT(pk, sk, attr) DO UPDATE SET n = CASE "
        "WHEN excluded.n > 0 AND n > ?5 - excluded.n THEN ?5 "
        "WHEN excluded.n < 0 AND n < ?6 - excluded.n THEN ?6 "
        "ELSE n + excluded.n END"};
    if (!hot_[which]) hot_[which] = Prepare(kSql[which]);
    return hot_[which];
  }

  // Snapshot items whose stored `data` this connection has seen to be
  // unchanged by their usage template's SET / SET-if-not-exists (so a warm
  // window write only adds to its counters). Checked against the stored
  // bytes on every use, so another connection's write simply misses.
  // One entry per snapshot item (two per bucket: its hour and its day), so
  // a server writing many keys finds them all; cleared when full.
  struct UsageSeen {
    std::string data;
    std::vector<std::pair<std::string, Value>> set;
    std::vector<std::string> attrs;  // the attribute names in `data`, sorted
  };
  static constexpr size_t kMaxUsageSeen = 4096;
  std::unordered_map<std::pair<std::string, std::string>, UsageSeen, StringPairHash, StringPairEq>
      usage_seen;

  sqlite3* db() { return db_; }
  std::chrono::milliseconds busy_timeout() const { return busy_timeout_; }
  std::chrono::steady_clock::time_point busy_since;

 private:
  sqlite3_stmt* Prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(s);
      Fail(rc, "prepare");
    }
    cache_.emplace(sql, s);
    return s;
  }

  void Close() {
    hot_ = {};
    for (auto& [sql, s] : cache_) sqlite3_finalize(s);
    cache_.clear();
    if (db_) sqlite3_close(db_);
    db_ = nullptr;
  }

  static std::string Diagnose(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path dir = fs::path(path).parent_path();
    if (dir.empty()) dir = ".";
    if (!fs::exists(dir, ec)) return " (directory '" + dir.string() + "' does not exist)";
    if (!fs::is_directory(dir, ec)) return " ('" + dir.string() + "' is not a directory)";
    if (fs::is_directory(path, ec)) return " ('" + path + "' is a directory)";
    if (access(dir.c_str(), W_OK | X_OK) != 0) {
      return " (directory '" + dir.string() + "' is not writable)";
    }
    return "";
  }

  sqlite3* db_ = nullptr;
  std::chrono::milliseconds busy_timeout_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
  std::array<sqlite3_stmt*, kNumHot> hot_{};  // owned by cache_
};

namespace {

int OnBusy(void* arg, int count) {
  auto* c = static_cast<SqliteStore::Connection*>(arg);
  const auto now = std::chrono::steady_clock::now();
  if (count == 0) c->busy_since = now;
  if (now - c->busy_since >= c->busy_timeout() || now >= CurrentDeadline()) return 0;
  // 20us doubling to ~1ms, with jitter so waiting processes do not convoy.
  thread_local std::minstd_rand rng(std::random_device{}());
  const int base = 20 << std::min(count, 6);
  std::this_thread::sleep_for(std::chrono::microseconds(base / 2 + rng() % base));
  return 1;
}

}  // namespace

using Connection = SqliteStore::Connection;
using Statement = SqliteStore::Connection::Statement;

// Returns the connection to the pool unless it is broken.
class SqliteStore::Lease {
 public:
  explicit Lease(SqliteStore& s) : s_(s), c_(s.Acquire()) {}
  ~Lease() {
    if (c_) s_.Release(std::move(c_));
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Connection& operator*() { return *c_; }
  Connection* operator->() { return c_.get(); }
  void Discard() { c_.reset(); }

 private:
  SqliteStore& s_;
  std::unique_ptr<Connection> c_;
};

namespace {

// b_{name}_{field} of a bucket item (format.md §2.3: split at the last
// underscore): the limit name and the field's index in kLimitFields, or
// nullopt for any other attribute.
std::optional<std::pair<std::string_view, size_t>> ParseLimitAttr(std::string_view attr) {
  if (attr.size() < 5 || attr.substr(0, 2) != "b_") return std::nullopt;
  const size_t us = attr.rfind('_');
  if (us < 2) return std::nullopt;
  const std::string_view field = attr.substr(us + 1);
  for (size_t f = 0; f < kLimitFields.size(); ++f) {
    if (field == kLimitFields[f]) return std::make_pair(attr.substr(2, us - 2), f);
  }
  return std::nullopt;
}

[[noreturn]] void Shadowed(const ItemKey& key, const std::string& attr) {
  throw StoreError("corrupt item in SQLite store: (" + key.pk + ", " + key.sk + ") has '" + attr +
                   "' both in data and in a typed table");
}

// Adds the typed numbers of the item at `key` (rf and shard_count columns,
// bucket_limits or usage_counters rows) to `item`, decoded from `data`.
void MergeTyped(Connection& c, const ItemKey& key, Item& item, std::optional<int64_t> rf,
                std::optional<int64_t> shard_count) {
  if (IsBucketSk(key.sk)) {
    if (rf && !item.emplace("rf", Value(*rf)).second) Shadowed(key, "rf");
    if (shard_count && !item.emplace("shard_count", Value(*shard_count)).second) {
      Shadowed(key, "shard_count");
    }
    Statement s(c, "SELECT name, tk, cp, ra, rp, tc FROM bucket_limits WHERE pk = ?1");
    s.Bind(1, key.pk);
    while (s.Step()) {
      const std::string_view name = s.Text(0);
      for (size_t f = 0; f < kLimitFields.size(); ++f) {
        if (std::optional<int64_t> n = s.Int(static_cast<int>(1 + f))) {
          std::string attr = store::BucketAttr(name, kLimitFields[f]);
          if (item.count(attr)) Shadowed(key, attr);
          item.emplace(std::move(attr), Value(*n));
        }
      }
    }
  } else if (IsUsageSk(key.sk)) {
    Statement s(c, "SELECT attr, n FROM usage_counters WHERE pk = ?1 AND sk = ?2");
    s.Bind(1, key.pk);
    s.Bind(2, key.sk);
    while (s.Step()) {
      std::string attr(s.Text(0));
      const std::optional<int64_t> n = s.Int(1);
      if (!n) throw StoreError("corrupt usage counter in SQLite store: NULL");
      if (item.count(attr)) Shadowed(key, attr);
      item.emplace(std::move(attr), Value(*n));
    }
  }
}

// Decodes a row of items2 and checks it holds its own key.
Item DecodeRow(const ItemKey& key, std::string_view data) {
  Item item = sqlite::DecodeItem(data);
  if (!(KeyOf(item) == key)) {
    throw StoreError("corrupt item in SQLite store: row (" + key.pk + ", " + key.sk +
                     ") holds another item's key");
  }
  return item;
}

// Callers run inside a transaction when the key is typed, so the row and
// its typed rows are read from one snapshot.
std::optional<Item> Load(Connection& c, const ItemKey& key) {
  Statement s(c, "SELECT data, rf, shard_count FROM items2 WHERE pk = ?1 AND sk = ?2");
  s.Bind(1, key.pk);
  s.Bind(2, key.sk);
  if (!s.Step()) return std::nullopt;
  Item item = DecodeRow(key, s.Text(0));
  const std::optional<int64_t> rf = s.Int(1), shard_count = s.Int(2);
  s.Done();
  MergeTyped(c, key, item, rf, shard_count);
  return item;
}

void DeleteTyped(Connection& c, const ItemKey& key) {
  if (IsBucketSk(key.sk)) {
    Statement s(c, "DELETE FROM bucket_limits WHERE pk = ?1");
    s.Bind(1, key.pk);
    s.Step();
  } else if (IsUsageSk(key.sk)) {
    Statement s(c, "DELETE FROM usage_counters WHERE pk = ?1 AND sk = ?2");
    s.Bind(1, key.pk);
    s.Bind(2, key.sk);
    s.Step();
  }
}

// Persists `change` for the item at `key`. `before`: the index columns of the
// stored row (nullopt when there was none or it was not read). Bucket and
// snapshot items are split: their numbers go to the typed tables, the rest
// to `data`.
void Persist(Connection& c, const ItemKey& key, const std::optional<IndexColumns>& before,
             store::Change change, const Item& item) {
  if (change == store::Change::kErase) {
    Statement s(c, "DELETE FROM items2 WHERE pk = ?1 AND sk = ?2");
    s.Bind(1, key.pk);
    s.Bind(2, key.sk);
    s.Step();
    s.Done();
    DeleteTyped(c, key);
    return;
  }
  if (change != store::Change::kUpsert) return;
  const bool bucket = IsBucketSk(key.sk), usage = IsUsageSk(key.sk);
  std::optional<int64_t> rf, shard_count;
  std::map<std::string_view, std::array<std::optional<int64_t>, kLimitFields.size()>> limits;
  std::vector<std::pair<std::string_view, int64_t>> counters;
  Item rest;
  const Item* data_item = &item;
  if (bucket || usage) {
    for (const auto& [attr, v] : item) {
      if (v.is_number() && bucket) {
        if (attr == "rf") {
          rf = v.as_number();
          continue;
        }
        if (attr == "shard_count") {
          shard_count = v.as_number();
          continue;
        }
        if (auto f = ParseLimitAttr(attr)) {
          limits[f->first][f->second] = v.as_number();
          continue;
        }
      }
      if (v.is_number() && usage && attr != "ttl") {
        counters.emplace_back(attr, v.as_number());
        continue;
      }
      rest.emplace(attr, v);
    }
    data_item = &rest;
  }
  const std::string data = sqlite::EncodeItem(*data_item);
  const IndexColumns cols = ColumnsOf(item);
  if (before && *before == cols) {
    // The common warm write (a bucket's counters): touch no index.
    Statement s(c,
                "UPDATE items2 SET data = ?3, rf = ?4, shard_count = ?5 WHERE pk = ?1 AND sk = ?2");
    s.Bind(1, key.pk);
    s.Bind(2, key.sk);
    s.Bind(3, data);
    s.Bind(4, rf);
    s.Bind(5, shard_count);
    s.Step();
  } else {
    Statement s(c,
                "INSERT OR REPLACE INTO items2(pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, "
                "gsi3sk, gsi4pk, gsi4sk, ttl, rf, shard_count, data) VALUES(?1, ?2, ?3, ?4, ?5, "
                "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
    s.Bind(1, key.pk);
    s.Bind(2, key.sk);
    for (size_t i = 0; i < cols.gsi.size(); ++i) s.Bind(static_cast<int>(3 + i), cols.gsi[i]);
    s.Bind(11, cols.ttl);
    s.Bind(12, rf);
    s.Bind(13, shard_count);
    s.Bind(14, data);
    s.Step();
  }
  if (!bucket && !usage) return;
  DeleteTyped(c, key);
  if (bucket) {
    Statement s(c,
                "INSERT INTO bucket_limits(pk, name, tk, cp, ra, rp, tc) "
                "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    for (const auto& [name, fields] : limits) {
      s.Bind(1, key.pk);
      s.BindView(2, name);
      for (size_t f = 0; f < fields.size(); ++f) s.Bind(static_cast<int>(3 + f), fields[f]);
      s.Step();
      s.Done();
    }
  } else {
    Statement s(c, "INSERT INTO usage_counters(pk, sk, attr, n) VALUES(?1, ?2, ?3, ?4)");
    for (const auto& [attr, n] : counters) {
      s.Bind(1, key.pk);
      s.Bind(2, key.sk);
      s.BindView(3, attr);
      s.Bind(4, n);
      s.Step();
      s.Done();
    }
  }
}

// A row loaded for a write: the item (empty when missing) and its index
// columns as stored.
struct Loaded {
  Item item;
  bool exists = false;
  std::optional<IndexColumns> columns;
};

Loaded LoadForWrite(Connection& c, const ItemKey& key) {
  Loaded l;
  if (std::optional<Item> item = Load(c, key)) {
    l.item = std::move(*item);
    l.exists = true;
    l.columns = ColumnsOf(l.item);
  }
  return l;
}

WriteResult WriteIn(Connection& c, const WriteOp& op) {
  const ItemKey key = store::KeyOfOp(op);
  WriteResult result;
  // Blind writes need not read the old item: that saves a lookup, and lets
  // them replace a row that no longer decodes.
  if (const Put* p = std::get_if<Put>(&op); p && p->condition.empty()) {
    Item item;
    Persist(c, key, std::nullopt, store::ApplyInPlace(op, item, false, result), item);
    return result;
  }
  if (const Delete* d = std::get_if<Delete>(&op); d && d->condition.empty() && !d->return_old) {
    Persist(c, key, std::nullopt, store::Change::kErase, Item{});
    return result;
  }
  Loaded l = LoadForWrite(c, key);
  Persist(c, key, l.columns, store::ApplyInPlace(op, l.item, l.exists, result), l.item);
  return result;
}

// ---- schema versions

bool TableExists(Connection& c, const char* name) {
  Statement s(c, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1");
  const std::string n = name;
  s.Bind(1, n);
  return s.Step();
}

// v1 -> v2, inside the caller's BEGIN IMMEDIATE transaction (so all or
// nothing, and a racing process re-reads the version after it).
void MigrateV1(Connection& c) {
  c.ExecScript(kSchemaV2);
  c.Exec(
      "INSERT INTO items2(pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk, gsi4pk, "
      "gsi4sk, ttl, data) SELECT pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk, gsi4pk, "
      "gsi4sk, ttl, data FROM items");
  // Split the numbers of bucket and snapshot items out of `data`. A row that
  // does not decode stays as it was: it keeps failing its readers, as in v1,
  // and a blind Put still replaces it.
  std::vector<std::pair<ItemKey, std::string>> rows;
  {
    Statement s(c,
                "SELECT pk, sk, data FROM items2 WHERE sk = '#STATE' OR "
                "(sk >= '#USAGE#' AND sk < '#USAGE$')");
    while (s.Step()) {
      rows.push_back({{std::string(s.Text(0)), std::string(s.Text(1))}, std::string(s.Text(2))});
    }
  }
  for (const auto& [key, data] : rows) {
    std::optional<Item> item;
    try {
      item = DecodeRow(key, data);
    } catch (const StoreError&) {
      continue;
    }
    const IndexColumns cols = ColumnsOf(*item);
    Persist(c, key, cols, store::Change::kUpsert, *item);
  }
  c.Exec("DROP TABLE items");
  c.Exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'");
}

// ---- typed bucket writes

constexpr size_t kMaxHotLimits = 16;

// The typed numbers of one limit as stored: tk, cp, ra, rp, tc.
using LimitRow = std::array<std::optional<int64_t>, kLimitFields.size()>;

void FillViews(BucketWrite& w, const LimitRow* rows) {
  if (!w.views) return;
  for (size_t i = 0; i < w.limit_count; ++i) {
    BucketLimitView& v = w.views[i];
    v = {};
    const LimitRow& r = rows[i];
    if (!r[0]) continue;
    v.present = true;
    v.tk = *r[0];
    v.cp = r[1].value_or(0);
    v.ra = r[2].value_or(0);
    v.rp = r[3].value_or(0);
    v.tc = r[4];
  }
}

// Window `i` of `w` through the generic item path (same transaction).
void GenericWindow(Connection& c, const BucketWrite& w, size_t i) {
  const Update u = store::UsageWindowUpdate(w, i);
  Loaded l = LoadForWrite(c, u.key);
  WriteResult r;
  Persist(c, u.key, l.columns, store::ApplyInPlace(u, l.item, l.exists, r), l.item);
}

// The whole of `w` through the generic item path (same transaction): for
// the shapes the typed path does not cover (a non-bucket key, a number that
// is missing or not a number where the write adds to it, many limits).
void GenericBucketWrite(Connection& c, BucketWrite& w) {
  Update u = store::BucketWriteAsUpdate(w);
  u.return_new = true;
  u.return_old_on_failure = true;
  Loaded l = LoadForWrite(c, u.key);
  WriteResult r;
  Persist(c, u.key, l.columns, store::ApplyInPlace(u, l.item, l.exists, r), l.item);
  w.status = r.status;
  w.exists = l.exists;
  store::ReadBucketOutputs(w, r.item ? &*r.item : nullptr);
  if (!r.ok()) return;
  for (size_t i = 0; i < w.usage_count; ++i) GenericWindow(c, w, i);
}

bool Contains(const std::vector<std::string>& sorted, std::string_view name) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), name,
                             [](const std::string& a, std::string_view b) { return a < b; });
  return it != sorted.end() && *it == name;
}

// Window `i` of `w`: when this connection has seen the snapshot item as its
// template leaves it, only the counters are added; otherwise the generic
// path writes it once and the result is remembered.
void WriteWindow(Connection& c, const BucketWrite& w, size_t i) {
  const Update& t = w.usage[i];
  bool typed = IsUsageSk(t.key.sk);
  // A number SET every time would be a counter that the SET resets.
  for (const auto& [attr, v] : t.set) typed = typed && !(v.is_number() && attr != "ttl");
  if (!typed) return GenericWindow(c, w, i);

  Statement rd(c, c.Hot(Connection::kUsageRead));
  rd.BindView(1, t.key.pk);
  rd.BindView(2, t.key.sk);
  Connection::UsageSeen* seen = nullptr;
  if (rd.Step()) {
    const std::string_view data = rd.Text(0);
    auto it = c.usage_seen.find(std::pair<std::string_view, std::string_view>(t.key.pk, t.key.sk));
    if (it != c.usage_seen.end() && it->second.data == data && it->second.set == t.set) {
      seen = &it->second;
    }
  }
  rd.Done();
  if (seen) {
    for (const auto& [attr, v] : t.set_if_not_exists) {
      if (!Contains(seen->attrs, attr)) seen = nullptr;
    }
  }
  if (seen) {
    // A counter must not collide with a non-number of the same name in data
    // (the generic ADD would fail there).
    for (size_t l = 0; l < w.limit_count && seen; ++l) {
      if (store::UsageTokens(w.limits[l]) != 0 && Contains(seen->attrs, w.limits[l].name)) {
        seen = nullptr;
      }
    }
    if (w.usage_events != 0 && seen && Contains(seen->attrs, store::kTotalEventsAttr)) {
      seen = nullptr;
    }
  }
  if (!seen) {
    GenericWindow(c, w, i);
    Statement again(c, c.Hot(Connection::kUsageRead));
    again.BindView(1, t.key.pk);
    again.BindView(2, t.key.sk);
    if (!again.Step()) return;
    if (c.usage_seen.size() >= Connection::kMaxUsageSeen) c.usage_seen.clear();
    Connection::UsageSeen& e = c.usage_seen[{t.key.pk, t.key.sk}];
    e.data = std::string(again.Text(0));
    e.set = t.set;
    e.attrs.clear();
    for (const auto& [attr, v] : sqlite::DecodeItem(e.data)) e.attrs.push_back(attr);
    return;
  }
  Statement add(c, c.Hot(Connection::kCounterAdd));
  auto counter = [&](std::string_view attr, int64_t n) {
    add.BindView(1, t.key.pk);
    add.BindView(2, t.key.sk);
    add.BindView(3, attr);
    add.Bind(4, n);
    add.Bind(5, std::numeric_limits<int64_t>::max());
    add.Bind(6, std::numeric_limits<int64_t>::min());
    add.Step();
    add.Done();
  };
  for (size_t l = 0; l < w.limit_count; ++l) {
    if (const int64_t n = store::UsageTokens(w.limits[l]); n != 0) counter(w.limits[l].name, n);
  }
  if (w.usage_events != 0) counter(store::kTotalEventsAttr, w.usage_events);
}

// One BucketWrite inside the caller's BEGIN IMMEDIATE transaction.
void WriteBucketIn(Connection& c, BucketWrite& w) {
  bool typed = IsBucketSk(w.key->sk) && w.limit_count <= kMaxHotLimits;
  for (size_t i = 0; typed && i < w.limit_count; ++i) {
    for (size_t j = 0; j < i; ++j) typed = typed && w.limits[j].name != w.limits[i].name;
  }
  if (!typed) return GenericBucketWrite(c, w);

  std::array<LimitRow, kMaxHotLimits> rows{};
  bool exists = false;
  std::optional<int64_t> ttl, rf, shard_count;
  {
    Statement rd(c, c.Hot(Connection::kBucketRead));
    rd.BindView(1, w.key->pk);
    while (rd.Step()) {
      if (!exists) {
        exists = true;
        ttl = rd.Int(0);
        rf = rd.Int(1);
        shard_count = rd.Int(2);
      }
      if (rd.Null(3)) continue;  // a bucket without typed limits
      const std::string_view name = rd.Text(3);
      for (size_t l = 0; l < w.limit_count; ++l) {
        if (w.limits[l].name != name) continue;
        for (size_t f = 0; f < kLimitFields.size(); ++f) {
          rows[l][f] = rd.Int(static_cast<int>(4 + f));
        }
        break;
      }
    }
  }
  std::array<const int64_t*, kMaxHotLimits> tk{};
  for (size_t l = 0; l < w.limit_count; ++l) tk[l] = rows[l][0] ? &*rows[l][0] : nullptr;
  w.exists = exists;
  w.rf = rf.value_or(0);
  w.shard_count = shard_count.value_or(1);
  if (!store::BucketWriteHolds(w, exists, ttl ? &*ttl : nullptr, tk.data())) {
    w.status = WriteStatus::kConditionFailed;
    FillViews(w, rows.data());
    return;
  }
  // ADD to a number that is not in the typed table: it is either missing
  // (starts at 0) or not a number (the ADD fails); the generic path knows.
  for (size_t l = 0; l < w.limit_count; ++l) {
    if (w.limits[l].consume_milli != 0 && (!rows[l][0] || !rows[l][4])) {
      return GenericBucketWrite(c, w);
    }
  }
  Statement up(c, c.Hot(Connection::kLimitUpdate));
  for (size_t l = 0; l < w.limit_count; ++l) {
    const int64_t m = w.limits[l].consume_milli;
    if (m == 0) continue;
    // Exactly the generic ADDs: tk += (0 - m) and tc += m, both saturating.
    rows[l][0] = SaturatingAdd(*rows[l][0], SaturatingNeg(m));
    rows[l][4] = SaturatingAdd(*rows[l][4], m);
    up.BindView(1, w.key->pk);
    up.BindView(2, w.limits[l].name);
    up.Bind(3, *rows[l][0]);
    up.Bind(4, *rows[l][4]);
    up.Step();
    up.Done();
  }
  for (size_t i = 0; i < w.usage_count; ++i) WriteWindow(c, w, i);
  w.status = WriteStatus::kOk;
  FillViews(w, rows.data());
}

}  // namespace

// WriteBucketsAsync's queue (see the header).
struct SqliteStore::AsyncQueue {
  std::mutex mu;
  std::condition_variable cv;
  BucketBatch* head = nullptr;
  BucketBatch* tail = nullptr;
  bool idle = false;  // the writer waits on cv
  bool stop = false;
  // Set by the store's destructor when it runs on the writer thread (read
  // only there, so no lock).
  bool store_gone = false;
};

SqliteStore::SqliteStore(std::string path, SqliteOptions opts)
    : path_(std::move(path)), opts_(opts) {
  async_ = std::make_shared<AsyncQueue>();
  if (path_.empty() || path_ == ":memory:" || path_.rfind("file:", 0) == 0) {
    throw StoreError("SqliteStore needs a file path, got '" + path_ +
                     "' (use MemoryStore for an in-memory store)");
  }
  // Writers of all processes queue on a lock of this file before BEGIN
  // IMMEDIATE (RunWrite), so they sleep in the kernel until the holder is
  // done instead of polling SQLite's lock; the kernel drops the lock of a
  // process that dies, so a killed holder blocks nobody.
  // A first connection, so a bad path is reported with SQLite's diagnosis.
  Release(Acquire());
  const std::string lock_path = path_ + "-lock";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    throw StoreError("cannot open SQLite store '" + path_ + "': cannot open lock file '" +
                     lock_path + "': " + std::strerror(errno));
  }
  try {
    Provision({});
  } catch (...) {
    close(lock_fd_);
    throw;
  }
}

SqliteStore::~SqliteStore() {
  // The writer thread first: it writes what is queued and runs its
  // callbacks. Unless this runs on it, in one of those callbacks: then it
  // stops once that callback returns.
  {
    std::lock_guard lock(async_->mu);
    async_->stop = true;
  }
  async_->cv.notify_one();
  if (async_writer_.joinable()) {
    if (async_writer_.get_id() == std::this_thread::get_id()) {
      async_->store_gone = true;
      async_writer_.detach();
    } else {
      async_writer_.join();
    }
  }
  {
    // Connections first: they must not outlive the lock they were used under.
    std::lock_guard lock(pool_mu_);
    idle_.clear();
  }
  close(lock_fd_);
}

namespace {

// Holds the writers' lock of one store for one transaction: a POSIX record
// lock (fcntl) on the lock file's first byte. Not flock(): an flock belongs
// to the open file description, which fork() shares, so a child forked
// while its parent holds the lock (a pre-fork server) would keep it held
// after the parent died; a POSIX lock belongs to the process alone and goes
// with it. (Its per-process quirks only matter for two stores on one file in
// one process: they do not exclude each other here, and SQLite's own lock
// still serializes them.)
class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {
    if (Set(F_WRLCK, F_SETLK)) return;  // free: no wait, no clock read
    if (errno != EACCES && errno != EAGAIN && errno != EINTR) Fail();
    if (!HasDeadline()) {
      while (!Set(F_WRLCK, F_SETLKW)) {
        if (errno != EINTR) Fail();
      }
      return;
    }
    // A limiter call's deadline: poll, since F_SETLKW cannot time out.
    const auto deadline = CurrentDeadline();
    for (int n = 0; !Set(F_WRLCK, F_SETLK); ++n) {
      if (errno != EACCES && errno != EAGAIN && errno != EINTR) Fail();
      if (DeadlineClock::now() >= deadline) {
        throw StoreError("SQLite: another process held the write lock past the call's deadline",
                         /*retryable=*/true);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50 << std::min(n, 5)));
    }
  }
  // Unlocking a range of an open descriptor cannot fail.
  ~FileLock() { Set(F_UNLCK, F_SETLK); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  bool Set(short type, int cmd) {
    struct flock range = {};
    range.l_type = type;
    range.l_whence = SEEK_SET;
    range.l_start = 0;
    range.l_len = 1;
    return fcntl(fd_, cmd, &range) == 0;
  }
  [[noreturn]] static void Fail() {
    throw StoreError(std::string("SQLite lock file: ") + std::strerror(errno));
  }
  int fd_;
};

// write_mu_, waited for until the calling limiter call's deadline.
class WriterLock {
 public:
  explicit WriterLock(std::timed_mutex& mu) : mu_(mu) {
    if (mu_.try_lock()) return;  // free: no clock read
    if (!HasDeadline()) {
      mu_.lock();
    } else if (!mu_.try_lock_until(CurrentDeadline())) {
      throw StoreError(
          "SQLite: the writers of this process held the store past the call's deadline",
          /*retryable=*/true);
    }
  }
  ~WriterLock() { mu_.unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  std::timed_mutex& mu_;
};

}  // namespace

std::unique_ptr<Connection> SqliteStore::Acquire() {
  {
    std::lock_guard lock(pool_mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  // Opening may wait on another process converting the file to WAL.
  for (int attempt = 0;; ++attempt) {
    try {
      return std::make_unique<Connection>(path_, opts_, &wal_);
    } catch (const StoreError& e) {
      if (!e.retryable() || attempt >= opts_.busy_retries) throw;
    }
  }
}

void SqliteStore::Release(std::unique_ptr<Connection> conn) {
  std::lock_guard lock(pool_mu_);
  if (idle_.size() < opts_.max_idle_connections) idle_.push_back(std::move(conn));
}

template <class F>
auto SqliteStore::RunWrite(F&& body) {
  auto result = RunWriteLocked(std::forward<F>(body));
  MaybeCheckpoint();
  return result;
}

void SqliteStore::MaybeCheckpoint() {
  if (!wal_.due.exchange(false, std::memory_order_relaxed)) return;
  // One checkpointer at a time: commits go on while it copies, and each of
  // them past the threshold asks again. A second checkpoint beside the
  // first only gets SQLITE_BUSY (SQLite's checkpoint lock), and used to
  // count as a failure that asked for another one after every commit.
  if (wal_.running.exchange(true, std::memory_order_acquire)) return;
  // PASSIVE: copies what no reader still needs, waits for nobody, and runs
  // beside this process's and other processes' writers. A checkpoint that
  // could not finish (a reader pinned old frames) is tried again once the
  // WAL grew by another threshold, not after every commit.
  //
  // The bulk (and its fsyncs) is copied outside the writers' locks. But
  // under a steady stream of writes, frames are appended while it copies,
  // so the WAL is never wholly copied when the next writer starts, SQLite
  // never rewinds it, and it grows without bound. So the few frames written
  // meanwhile are copied under the writers' locks: the next writer then
  // finds the WAL copied and starts it again from the beginning.
  try {
    Lease conn(*this);
    int log = 0, copied = 0;
    int rc =
        sqlite3_wal_checkpoint_v2(conn->db(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc == SQLITE_OK && copied == log) {
      WriterLock writer(write_mu_);
      FileLock file_lock(lock_fd_);
      rc = sqlite3_wal_checkpoint_v2(conn->db(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    }
    // SQLITE_BUSY: another process is checkpointing; the next commit past
    // the threshold tries again.
    if (rc == SQLITE_OK) {
      wal_.at_pages.store(copied == log ? kCheckpointPages : log + kCheckpointPages,
                          std::memory_order_relaxed);
    }
  } catch (const StoreError&) {
    // No connection or lock now: the next commit past the threshold tries again.
  }
  wal_.running.store(false, std::memory_order_release);
}

template <class F>
auto SqliteStore::RunWriteLocked(F&& body) {
  WriterLock writer(write_mu_);
  FileLock file_lock(lock_fd_);
  for (int attempt = 0;; ++attempt) {
    Lease conn(*this);
    try {
      {
        Statement begin(*conn, conn->Hot(Connection::kBegin));
        begin.Step();
      }
      auto result = body(*conn);
      {
        Statement commit(*conn, conn->Hot(Connection::kCommit));
        commit.Step();
      }
      commits_.fetch_add(1, std::memory_order_relaxed);
      return result;
    } catch (const BusyError&) {
      if (!conn->RollbackQuietly()) conn.Discard();
      if (attempt >= opts_.busy_retries) throw;
    } catch (...) {
      if (!conn->RollbackQuietly()) conn.Discard();
      throw;
    }
  }
}

template <class F>
auto SqliteStore::RunRead(F&& body) {
  for (int attempt = 0;; ++attempt) {
    Lease conn(*this);
    try {
      return body(*conn);
    } catch (const BusyError&) {
      if (!conn->RollbackQuietly()) conn.Discard();
      if (attempt >= opts_.busy_retries) throw;
    } catch (...) {
      if (!conn->RollbackQuietly()) conn.Discard();
      throw;
    }
  }
}

std::optional<std::string> SqliteStore::FileSchemaVersion(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> guard(db, sqlite3_close);
  auto fail = [&](int code) -> StoreError {
    return StoreError("cannot read SQLite store '" + path +
                      "': " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(code)));
  };
  if (rc != SQLITE_OK) throw fail(rc);
  sqlite3_busy_timeout(db, 5000);
  // No meta table: an empty or foreign database, not ours.
  sqlite3_stmt* st = nullptr;
  rc = sqlite3_prepare_v2(db,
                          "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'meta'",
                          -1, &st, nullptr);
  if (rc != SQLITE_OK) throw fail(rc);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) throw fail(rc);
  rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
                          nullptr);
  if (rc != SQLITE_OK) throw fail(rc);
  std::optional<std::string> version;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    if (text) version = text;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw fail(rc);
  return version;
}

bool SqliteStore::RemoveFiles(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool existed = fs::exists(path, ec);
  for (const char* suffix : {"", "-wal", "-shm", "-journal", "-lock"}) {
    const std::string file = path + suffix;
    if (!fs::remove(file, ec) && ec) {
      throw StoreError("cannot remove '" + file + "': " + ec.message());
    }
  }
  return existed;
}

void SqliteStore::Provision(const ProvisionOptions&) {
  RunWrite([&](Connection& c) {
    c.ExecScript(
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) "
        "WITHOUT ROWID");
    std::string version;
    {
      Statement s(c, "SELECT value FROM meta WHERE key = 'schema_version'");
      if (s.Step()) version = std::string(s.Text(0));
    }
    if (version.empty()) {
      if (TableExists(c, "items")) {
        throw StoreError("SQLite store '" + path_ + "' has an items table but no schema version");
      }
      c.ExecScript(kSchemaV2);
      c.Exec("INSERT INTO meta(key, value) VALUES('schema_version', '2')");
    } else if (version == "1") {
      MigrateV1(c);
    } else if (version == kSchemaVersion) {
      c.ExecScript(kSchemaV2);  // idempotent: makes what is missing
    } else {
      throw StoreError("SQLite store '" + path_ + "' has schema version '" + version +
                       "'; this build reads version " + kSchemaVersion +
                       " (and migrates version 1 on open)");
    }
    return 0;
  });
}

std::optional<Item> SqliteStore::Get(const ItemKey& key, bool) {
  Count(kGetItem);
  return RunRead([&](Connection& c) {
    if (!IsBucketSk(key.sk) && !IsUsageSk(key.sk)) return Load(c, key);
    // The row and its typed rows from one snapshot.
    c.Exec("BEGIN");
    std::optional<Item> item = Load(c, key);
    c.Exec("COMMIT");
    return item;
  });
}

std::vector<std::optional<Item>> SqliteStore::BatchGet(const std::vector<ItemKey>& keys, bool) {
  Count(kBatchGetItem);
  return RunRead([&](Connection& c) {
    // One read transaction: the keys are read from one snapshot.
    c.Exec("BEGIN");
    std::vector<std::optional<Item>> out;
    out.reserve(keys.size());
    for (const auto& key : keys) out.push_back(Load(c, key));
    c.Exec("COMMIT");
    return out;
  });
}

WriteResult SqliteStore::Write(const WriteOp& op) {
  static constexpr Op kOps[] = {kPutItem, kUpdateItem, kDeleteItem, kConditionCheck};
  Count(kOps[op.index()]);
  return RunWrite([&](Connection& c) { return WriteIn(c, op); });
}

std::vector<WriteResult> SqliteStore::WriteEach(const std::vector<WriteOp>& ops) {
  return store::WriteEachInTurn(*this, ops);
}

TransactResult SqliteStore::Transact(const std::vector<WriteOp>& ops) {
  Count(kTransactWriteItems);
  return RunWrite([&](Connection& c) {
    std::vector<ItemKey> keys;
    std::vector<Loaded> rows;
    rows.reserve(ops.size());
    for (const auto& op : ops) {
      keys.push_back(store::KeyOfOp(op));
      rows.push_back(LoadForWrite(c, keys.back()));
    }
    std::vector<Item*> items;
    std::vector<bool> exists;
    for (auto& row : rows) {
      items.push_back(&row.item);
      exists.push_back(row.exists);
    }
    std::vector<store::Change> changes;
    TransactResult result = store::ApplyTransaction(ops, items, exists, changes);
    for (size_t i = 0; i < ops.size(); ++i) {
      Persist(c, keys[i], rows[i].columns, changes[i], rows[i].item);
    }
    return result;
  });
}

void SqliteStore::BatchWrite(const std::vector<WriteOp>& ops) {
  Count(kBatchWriteItem);
  for (size_t begin = 0; begin < ops.size(); begin += kBatchChunk) {
    const size_t end = std::min(ops.size(), begin + kBatchChunk);
    RunWrite([&](Connection& c) {
      for (size_t i = begin; i < end; ++i) WriteIn(c, ops[i]);
      return 0;
    });
  }
}

QueryPage SqliteStore::Query(const QueryRequest& req) {
  Count(kQuery);
  const std::string sort_attr = store::IndexAttributes(req.index).second;
  const std::string h = IndexColumnName(req.index, true);
  const std::string s = IndexColumnName(req.index, false);
  const bool table = req.index == Index::kTable;
  const int page = req.limit > 0 ? req.limit : opts_.default_page_size;

  // The SQL narrows to at most one page plus one row (to know whether more
  // follow) using the index; store::QueryItems then applies the contract's
  // exact filtering, order and paging to that, as the memory store does.
  std::string sql = "SELECT pk, sk, data, rf, shard_count FROM items2 WHERE " + h + " = ?";
  std::vector<std::string> args{req.hash};
  if (!table) sql += " AND " + s + " IS NOT NULL";
  if (req.sort_prefix && !req.sort_prefix->empty()) {
    sql += " AND " + s + " >= ?";
    args.push_back(*req.sort_prefix);
    if (auto end = PrefixEnd(*req.sort_prefix)) {
      sql += " AND " + s + " < ?";
      args.push_back(*end);
    }
  }
  const char* cmp = req.forward ? " > " : " < ";
  if (req.start_after) {
    auto str = [&](const std::string& attr) -> const std::string* {
      auto it = req.start_after->find(attr);
      return it != req.start_after->end() && it->second.is_string() ? &it->second.as_string()
                                                                    : nullptr;
    };
    const std::string *after_sort = str(sort_attr), *after_pk = str("PK"), *after_sk = str("SK");
    if (!after_sort || !after_pk || !after_sk) {
      throw ValidationError("start_after", "", "continuation key lacks the index keys");
    }
    if (table) {
      sql += " AND sk" + std::string(cmp) + "?";
      args.push_back(*after_sk);
    } else {
      sql += " AND (" + s + ", pk, sk)" + cmp + "(?, ?, ?)";
      args.insert(args.end(), {*after_sort, *after_pk, *after_sk});
    }
  }
  const char* dir = req.forward ? " ASC" : " DESC";
  sql += " ORDER BY " + s + dir;
  if (!table) sql += std::string(", pk") + dir + ", sk" + dir;
  sql += " LIMIT " + std::to_string(static_cast<int64_t>(page) + 1);

  std::vector<Item> rows = RunRead([&](Connection& c) {
    // One read transaction: the rows and their typed rows from one snapshot.
    c.Exec("BEGIN");
    std::vector<Item> out;
    {
      Statement st(c, sql);
      for (size_t i = 0; i < args.size(); ++i) st.Bind(static_cast<int>(i + 1), args[i]);
      while (st.Step()) {
        ItemKey key{std::string(st.Text(0)), std::string(st.Text(1))};
        Item item = DecodeRow(key, st.Text(2));
        MergeTyped(c, key, item, st.Int(3), st.Int(4));
        out.push_back(std::move(item));
      }
    }
    c.Exec("COMMIT");
    return out;
  });
  std::vector<const Item*> candidates;
  candidates.reserve(rows.size());
  for (const auto& item : rows) candidates.push_back(&item);
  return store::QueryItems(std::move(candidates), req, opts_.default_page_size);
}

int64_t SqliteStore::DeleteExpired(int64_t now_seconds) {
  int64_t total = 0;
  for (;;) {
    const int64_t n = RunWrite([&](Connection& c) {
      std::vector<ItemKey> keys;
      {
        Statement s(
            c, "SELECT pk, sk FROM items2 WHERE ttl < ?1 LIMIT " + std::to_string(kExpireChunk));
        s.Bind(1, now_seconds);
        while (s.Step()) keys.push_back({std::string(s.Text(0)), std::string(s.Text(1))});
      }
      // Each with its typed rows.
      for (const ItemKey& key : keys) Persist(c, key, std::nullopt, store::Change::kErase, {});
      return static_cast<int64_t>(keys.size());
    });
    total += n;
    if (n < kExpireChunk) return total;
  }
}

// One WriteBuckets call in the group-commit queue; lives on its caller's
// stack until `done`.
struct SqliteStore::BucketBatch {
  BucketWrite* writes = nullptr;
  size_t count = 0;
  // The caller's deadline when it had to queue (max: none or not queued).
  DeadlineClock::time_point deadline = DeadlineClock::time_point::max();
  std::exception_ptr error;  // the first error of its writes
  bool done = false;
  BucketBatch* next = nullptr;
  std::condition_variable cv;
  WriteBucketsCallback on_done;  // WriteBucketsAsync's; then nobody waits on cv

  // The group a writer takes from a queue starting here: this call and
  // those after it, up to kMaxGroupWrites writes (this one always). The
  // group is a count of calls (`last->next` may change once the queue's
  // lock is released: callers append to the tail), with its total writes
  // and its earliest deadline. Returns the group's last call.
  BucketBatch* TakeGroup(size_t* calls, size_t* total, DeadlineClock::time_point* earliest);
};

namespace {

// The writes one transaction takes from the queue. Enough to amortize the
// commit over a server's calls in flight; few enough that the first caller
// of a group does not wait long for the last.
constexpr size_t kMaxGroupWrites = 128;

}  // namespace

SqliteStore::BucketBatch* SqliteStore::BucketBatch::TakeGroup(size_t* calls, size_t* total,
                                                              DeadlineClock::time_point* earliest) {
  BucketBatch* last = this;
  *calls = 1;
  *total = count;
  *earliest = deadline;
  while (last->next && *total + last->next->count <= kMaxGroupWrites) {
    last = last->next;
    ++*calls;
    *total += last->count;
    *earliest = std::min(*earliest, last->deadline);
  }
  return last;
}

void SqliteStore::WriteBuckets(BucketWrite* writes, size_t count) {
  if (count > 0 && !writes) throw ValidationError("writes", "", "null with a non-zero count");
  if (count == 0) return;
  // Group commit, as LevelDB's writers do: callers queue; the one at the
  // head takes the queued calls, writes all their writes in one transaction
  // (each in a savepoint, so one write's error or failed condition leaves
  // the others as they would be alone) and wakes them. Alone, a call is its
  // own group and waits for nobody. With many threads this turns a convoy
  // of one transaction per write (a commit and its WAL frames each) into one
  // per group, and queues callers on a condition variable in arrival order
  // instead of on the writer mutex.
  BucketBatch me;
  me.writes = writes;
  me.count = count;
  std::unique_lock lock(batch_mu_);
  if (batch_tail_) {
    me.deadline = CurrentDeadline();  // someone writes before us: we wait
    batch_tail_->next = &me;
  } else {
    batch_head_ = &me;
  }
  batch_tail_ = &me;
  while (!me.done && batch_head_ != &me) me.cv.wait(lock);
  if (me.done) {
    if (me.error) std::rethrow_exception(me.error);
    return;
  }
  // We lead: take the queue up to kMaxGroupWrites (our own deadline, if we
  // queued, is this thread's and bounds the group already).
  size_t calls = 0, total = 0;
  DeadlineClock::time_point deadline;
  BucketBatch* last = me.TakeGroup(&calls, &total, &deadline);
  lock.unlock();
  WriteGroup(&me, calls, total, deadline);
  lock.lock();
  BucketBatch* next = last->next;
  batch_head_ = next;
  if (!next) batch_tail_ = nullptr;
  for (BucketBatch* b = me.next; b != next; b = b->next) {
    b->done = true;
    b->cv.notify_one();
  }
  if (next) next->cv.notify_one();  // the next group's leader
  lock.unlock();
  MaybeCheckpoint();  // with the group answered and the next one writing
  if (me.error) std::rethrow_exception(me.error);
}

void SqliteStore::WriteBucketsAsync(BucketWrite* writes, size_t count, WriteBucketsCallback done) {
  if (count > 0 && !writes) {
    done(std::make_exception_ptr(ValidationError("writes", "", "null with a non-zero count")));
    return;
  }
  if (count == 0) {
    done(nullptr);
    return;
  }
  // Queued, so the caller (a server's event loop) is free at once, and the
  // writer thread makes one transaction of everything that queued while it
  // wrote the last one: with many calls in flight the commit is shared
  // however few threads the callers run on.
  auto batch = std::make_unique<BucketBatch>();
  batch->writes = writes;
  batch->count = count;
  batch->deadline = CurrentDeadline();
  batch->on_done = std::move(done);
  AsyncQueue& q = *async_;
  bool wake = false;
  {
    std::lock_guard lock(q.mu);
    if (!async_writer_.joinable()) {
      async_writer_ = std::thread([this, q = async_] { AsyncWriterLoop(q); });
    }
    BucketBatch* b = batch.release();  // the queue owns it from here
    if (q.tail) {
      q.tail->next = b;
    } else {
      q.head = b;
    }
    q.tail = b;
    wake = q.idle;
  }
  if (wake) q.cv.notify_one();
}

void SqliteStore::AsyncWriterLoop(const std::shared_ptr<AsyncQueue>& q) {
  pthread_setname_np(pthread_self(), "zae-sqlite-w");
  std::unique_lock lock(q->mu);
  for (;;) {
    if (!q->head) {
      if (q->stop) return;  // stopped with nothing left to write
      q->idle = true;
      q->cv.wait(lock, [&] { return q->head || q->stop; });
      q->idle = false;
      continue;
    }
    BucketBatch* first = q->head;
    size_t calls = 0, total = 0;
    DeadlineClock::time_point deadline;
    BucketBatch* last = first->TakeGroup(&calls, &total, &deadline);
    q->head = last->next;
    if (!q->head) q->tail = nullptr;
    last->next = nullptr;
    lock.unlock();
    WriteGroup(first, calls, total, deadline);
    MaybeCheckpoint();
    for (BucketBatch* b = first; b;) {
      std::unique_ptr<BucketBatch> owned(b);
      b = b->next;
      owned->on_done(owned->error);
    }
    if (q->store_gone) break;  // a callback dropped the last reference: `this` is gone
    lock.lock();
  }
  // Only writes queued without keeping the store alive can be left; their
  // callers broke the contract, but still hear of it.
  lock.lock();
  while (BucketBatch* b = q->head) {
    std::unique_ptr<BucketBatch> owned(b);
    q->head = b->next;
    lock.unlock();
    owned->on_done(std::make_exception_ptr(StoreError("the SQLite store was destroyed")));
    lock.lock();
  }
}

void SqliteStore::WriteGroup(BucketBatch* first, size_t calls, size_t total,
                             DeadlineClock::time_point deadline) {
  // The earliest deadline of the group bounds its waits.
  std::optional<DeadlineScope> scope;
  if (deadline != DeadlineClock::time_point::max()) scope.emplace(deadline);
  // Calls first .. first + calls - 1 of the list.
  auto each = [first, calls](auto&& fn) {
    BucketBatch* b = first;
    for (size_t n = 0; n < calls; ++n, b = b->next) fn(*b);
  };
  each([&](BucketBatch& b) {
    for (size_t i = 0; i < b.count; ++i) {
      try {
        store::ValidateBucketWrite(b.writes[i], /*usage_keys=*/true);
        // The same calls the default implementation counts.
        Count(b.writes[i].usage_count == 0 ? kUpdateItem : kTransactWriteItems);
      } catch (...) {
        if (!b.error) b.error = std::current_exception();
      }
    }
  });
  const bool alone = total == 1;
  try {
    RunWriteLocked([&](Connection& c) {
      each([&](BucketBatch& b) {
        b.error = nullptr;  // a retry after SQLITE_BUSY starts over
        for (size_t i = 0; i < b.count; ++i) {
          BucketWrite& w = b.writes[i];
          try {
            store::ValidateBucketWrite(w, /*usage_keys=*/true);
          } catch (...) {
            if (!b.error) b.error = std::current_exception();
            continue;
          }
          // Alone, the transaction is the write's unit: RunWrite rolls it back.
          if (alone) {
            WriteBucketIn(c, w);
            continue;
          }
          Statement(c, c.Hot(Connection::kSavepoint)).Step();
          try {
            WriteBucketIn(c, w);
          } catch (const BusyError&) {
            throw;  // the whole group retries
          } catch (...) {
            if (!b.error) b.error = std::current_exception();
            Statement(c, c.Hot(Connection::kRollbackTo)).Step();
          }
          Statement(c, c.Hot(Connection::kRelease)).Step();
        }
      });
      return 0;
    });
  } catch (...) {
    // Nothing of the group was committed.
    each([](BucketBatch& b) { b.error = std::current_exception(); });
  }
}

StoreStats SqliteStore::stats() const {
  static const char* const kNames[kNumOps] = {
      "GetItem",        "BatchGetItem",       "PutItem",        "UpdateItem", "DeleteItem",
      "ConditionCheck", "TransactWriteItems", "BatchWriteItem", "Query"};
  StoreStats out;
  for (int i = 0; i < kNumOps; ++i) {
    const int64_t n = calls_[i].load(std::memory_order_relaxed);
    if (n > 0) out.calls[kNames[i]] = n;
  }
  return out;
}

void SqliteStore::ResetStats() {
  for (auto& c : calls_) c.store(0, std::memory_order_relaxed);
}

}  // namespace zae

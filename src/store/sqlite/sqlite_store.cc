#include "zae/sqlite_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <thread>
#include <unordered_map>
#include <variant>

#include "store/apply.h"
#include "store/sqlite/item_codec.h"
#include "zae/errors.h"

namespace zae {
namespace {

constexpr const char* kSchemaVersion = "1";

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1');
CREATE TABLE IF NOT EXISTS items(
  pk TEXT NOT NULL, sk TEXT NOT NULL,
  gsi1pk TEXT, gsi1sk TEXT, gsi2pk TEXT, gsi2sk TEXT,
  gsi3pk TEXT, gsi3sk TEXT, gsi4pk TEXT, gsi4sk TEXT,
  ttl INTEGER,
  data TEXT NOT NULL,
  PRIMARY KEY(pk, sk)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items(gsi1pk, gsi1sk)
  WHERE gsi1pk IS NOT NULL AND gsi1sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items(gsi2pk, gsi2sk)
  WHERE gsi2pk IS NOT NULL AND gsi2sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi3 ON items(gsi3pk, gsi3sk)
  WHERE gsi3pk IS NOT NULL AND gsi3sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi4 ON items(gsi4pk, gsi4sk)
  WHERE gsi4pk IS NOT NULL AND gsi4sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_ttl ON items(ttl) WHERE ttl IS NOT NULL;
)sql";

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
  Connection(const std::string& path, const SqliteOptions& opts)
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
    } catch (const StoreError& e) {
      Close();
      // "file is not a database" and friends surface on the first statement.
      throw StoreError("cannot open SQLite store '" + path + "': " + e.what(), e.retryable());
    }
  }

  ~Connection() { Close(); }

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A prepared statement from this connection's cache, reset and unbound
  // when the Statement goes out of scope.
  class Statement {
   public:
    Statement(Connection& c, const std::string& sql) : c_(c), s_(c.Prepare(sql)) {}
    ~Statement() { Done(); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    // The text must outlive the Statement (bound without copying).
    void Bind(int i, const std::string& text) {
      Check(sqlite3_bind_text(s_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC));
    }
    void Bind(int i, int64_t n) { Check(sqlite3_bind_int64(s_, i, n)); }
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
};

namespace {

int OnBusy(void* arg, int count) {
  auto* c = static_cast<SqliteStore::Connection*>(arg);
  const auto now = std::chrono::steady_clock::now();
  if (count == 0) c->busy_since = now;
  if (now - c->busy_since >= c->busy_timeout()) return 0;
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

std::optional<Item> Load(Connection& c, const ItemKey& key) {
  Statement s(c, "SELECT data FROM items WHERE pk = ?1 AND sk = ?2");
  s.Bind(1, key.pk);
  s.Bind(2, key.sk);
  if (!s.Step()) return std::nullopt;
  Item item = sqlite::DecodeItem(s.Text(0));
  if (!(KeyOf(item) == key)) {
    throw StoreError("corrupt item in SQLite store: row (" + key.pk + ", " + key.sk +
                     ") holds another item's key");
  }
  return item;
}

// Persists `change` for the item at `key`. `before`: the index columns of the
// stored row (nullopt when there was none).
void Persist(Connection& c, const ItemKey& key, const std::optional<IndexColumns>& before,
             store::Change change, const Item& item) {
  if (change == store::Change::kErase) {
    Statement s(c, "DELETE FROM items WHERE pk = ?1 AND sk = ?2");
    s.Bind(1, key.pk);
    s.Bind(2, key.sk);
    s.Step();
    return;
  }
  if (change != store::Change::kUpsert) return;
  const std::string data = sqlite::EncodeItem(item);
  const IndexColumns cols = ColumnsOf(item);
  if (before && *before == cols) {
    // The common warm write (a bucket's counters): touch no index.
    Statement s(c, "UPDATE items SET data = ?3 WHERE pk = ?1 AND sk = ?2");
    s.Bind(1, key.pk);
    s.Bind(2, key.sk);
    s.Bind(3, data);
    s.Step();
    return;
  }
  Statement s(c,
              "INSERT OR REPLACE INTO items(pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, "
              "gsi3sk, gsi4pk, gsi4sk, ttl, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
              "?11, ?12)");
  s.Bind(1, key.pk);
  s.Bind(2, key.sk);
  for (size_t i = 0; i < cols.gsi.size(); ++i) s.Bind(static_cast<int>(3 + i), cols.gsi[i]);
  s.Bind(11, cols.ttl);
  s.Bind(12, data);
  s.Step();
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

}  // namespace

SqliteStore::SqliteStore(std::string path, SqliteOptions opts)
    : path_(std::move(path)), opts_(opts) {
  if (path_.empty() || path_ == ":memory:" || path_.rfind("file:", 0) == 0) {
    throw StoreError("SqliteStore needs a file path, got '" + path_ +
                     "' (use MemoryStore for an in-memory store)");
  }
  Provision({});
}

SqliteStore::~SqliteStore() = default;

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
      return std::make_unique<Connection>(path_, opts_);
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
  std::lock_guard writer(write_mu_);
  for (int attempt = 0;; ++attempt) {
    Lease conn(*this);
    try {
      conn->Exec("BEGIN IMMEDIATE");
      auto result = body(*conn);
      conn->Exec("COMMIT");
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

void SqliteStore::Provision(const ProvisionOptions&) {
  RunWrite([&](Connection& c) {
    c.ExecScript(kSchema);
    Statement s(c, "SELECT value FROM meta WHERE key = 'schema_version'");
    const std::string version = s.Step() ? std::string(s.Text(0)) : "";
    if (version != kSchemaVersion) {
      throw StoreError("SQLite store '" + path_ + "' has schema version '" + version +
                       "'; this build reads version " + kSchemaVersion);
    }
    return 0;
  });
}

std::optional<Item> SqliteStore::Get(const ItemKey& key, bool) {
  Count(kGetItem);
  return RunRead([&](Connection& c) { return Load(c, key); });
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
  std::string sql = "SELECT data FROM items WHERE " + h + " = ?";
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
    Statement st(c, sql);
    for (size_t i = 0; i < args.size(); ++i) st.Bind(static_cast<int>(i + 1), args[i]);
    std::vector<Item> out;
    while (st.Step()) out.push_back(sqlite::DecodeItem(st.Text(0)));
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
      Statement s(c,
                  "DELETE FROM items WHERE (pk, sk) IN "
                  "(SELECT pk, sk FROM items WHERE ttl < ?1 LIMIT " +
                      std::to_string(kExpireChunk) + ")");
      s.Bind(1, now_seconds);
      s.Step();
      return static_cast<int64_t>(sqlite3_changes(c.db()));
    });
    total += n;
    if (n < kExpireChunk) return total;
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

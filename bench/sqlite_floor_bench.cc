// The floor of SQLite itself next to what SqliteStore and the limiter make
// of it, measured in the same run so the ratio is always at hand:
//
//   BM_SqliteBareLoop/U/R      raw sqlite3: one BEGIN IMMEDIATE transaction per
//                              acquire, a prepared guarded UPDATE on a typed WITHOUT
//                              ROWID table (R=1: RETURNING tk; R=0: sqlite3_changes),
//                              and (U=1) two prepared usage upserts (hourly, daily)
//   BM_SqliteWriteBuckets/U/L  SqliteStore::WriteBuckets of one warm acquire with
//                              L limits (1: rpm; 2: rpm + the hidden wcu, the
//                              limiter's shape) and (U=1) both usage windows
//   BM_*2Proc                  the same on one file from 2 forked processes, each
//                              running kProcSeconds; counter ops_per_s = both
//                              processes' operations per second
//   BM_SqliteLimiter2Proc/U    RateLimiter Acquire + Commit, 2 processes (the
//                              1-process figure is BM_AcquireCommit/1/1/U)
//
// Run: flock /tmp/zae-build.lock build/release/bench/zae_limiter_bench
//        --benchmark_filter='Sqlite|AcquireCommit/1/'
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "zae/rate_limiter.h"
#include "zae/sqlite_store.h"

namespace {

constexpr double kProcSeconds = 1.0;
constexpr int kProcs = 2;

std::string FreshPath(const char* tag) {
  const std::string path =
      "/tmp/zae-floor-" + std::string(tag) + "-" + std::to_string(getpid()) + ".db";
  for (const char* suffix : {"", "-wal", "-shm", "-lock"}) std::filesystem::remove(path + suffix);
  return path;
}

void RemoveDb(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-lock"}) std::filesystem::remove(path + suffix);
}

// ---- the bare loop (raw sqlite3 API)

class BareLoop {
 public:
  // `returning`: the guarded UPDATE reports success by RETURNING tk (the
  // shape the limiter needs, tk back in the same statement); false: by
  // sqlite3_changes(), which spares SQLite RETURNING's temporary table.
  BareLoop(const std::string& path, bool usage, bool returning = true)
      : usage_(usage), returning_(returning) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open");
    sqlite3_busy_timeout(db_, 5000);
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=NORMAL");
    Exec(
        "CREATE TABLE IF NOT EXISTS buckets(pk TEXT NOT NULL PRIMARY KEY, tk INTEGER NOT NULL, "
        "tc INTEGER NOT NULL, rf INTEGER NOT NULL) WITHOUT ROWID");
    Exec(
        "CREATE TABLE IF NOT EXISTS usage(pk TEXT NOT NULL, sk TEXT NOT NULL, n INTEGER NOT "
        "NULL, PRIMARY KEY(pk, sk)) WITHOUT ROWID");
    Exec("INSERT OR IGNORE INTO buckets VALUES('ns/BUCKET#key#res#0', 9000000000000000000, 0, 0)");
    begin_ = Prepare("BEGIN IMMEDIATE");
    commit_ = Prepare("COMMIT");
    update_ = Prepare(returning ? "UPDATE buckets SET tk = tk - ?1, tc = tc + ?1, rf = ?2 "
                                  "WHERE pk = ?3 AND tk >= ?1 RETURNING tk"
                                : "UPDATE buckets SET tk = tk - ?1, tc = tc + ?1, rf = ?2 "
                                  "WHERE pk = ?3 AND tk >= ?1");
    upsert_ = Prepare(
        "INSERT INTO usage(pk, sk, n) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(pk, sk) DO UPDATE SET n = n + excluded.n");
  }
  ~BareLoop() {
    for (sqlite3_stmt* s : {begin_, commit_, update_, upsert_}) sqlite3_finalize(s);
    sqlite3_close(db_);
  }

  // One acquire; false when denied.
  bool Acquire(int64_t rf) {
    for (;;) {
      if (Step(begin_) == SQLITE_BUSY) continue;  // waited busy_timeout: retry
      sqlite3_bind_int64(update_, 1, 1000);
      sqlite3_bind_int64(update_, 2, rf);
      sqlite3_bind_text(update_, 3, kPk, -1, SQLITE_STATIC);
      const int rc = Step(update_);
      const bool ok = returning_ ? rc == SQLITE_ROW : sqlite3_changes(db_) == 1;
      sqlite3_reset(update_);
      if (ok && usage_) {
        Upsert("#USAGE#res#2026-12-01T08:00:00Z");
        Upsert("#USAGE#res#2026-12-01T00:00:00Z#daily");
      }
      if (Step(commit_) == SQLITE_BUSY) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        continue;
      }
      return ok;
    }
  }

 private:
  static constexpr const char* kPk = "ns/BUCKET#key#res#0";
  void Exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string(sql) + ": " + sqlite3_errmsg(db_));
    }
  }
  sqlite3_stmt* Prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string(sql) + ": " + sqlite3_errmsg(db_));
    }
    return s;
  }
  int Step(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    if (s != update_) sqlite3_reset(s);
    return rc;
  }
  void Upsert(const char* sk) {
    sqlite3_bind_text(upsert_, 1, "ns/ENTITY#key", -1, SQLITE_STATIC);
    sqlite3_bind_text(upsert_, 2, sk, -1, SQLITE_STATIC);
    sqlite3_bind_int64(upsert_, 3, 1);
    Step(upsert_);
  }

  sqlite3* db_ = nullptr;
  bool usage_, returning_;
  sqlite3_stmt *begin_ = nullptr, *commit_ = nullptr, *update_ = nullptr, *upsert_ = nullptr;
};

// ---- SqliteStore::WriteBuckets, shaped like one warm acquire

class TypedWrites {
 public:
  TypedWrites(const std::string& path, bool usage, int limits)
      : store_(std::make_unique<zae::SqliteStore>(path)) {
    zae::Item bucket{{"PK", zae::Value(key_.pk)},
                     {"SK", zae::Value(key_.sk)},
                     {"rf", zae::Value(int64_t{1})},
                     {"shard_count", zae::Value(1)},
                     {"entity_id", zae::Value("key")},
                     {"resource", zae::Value("res")},
                     {"GSI2PK", zae::Value("ns/RESOURCE#res")},
                     {"GSI2SK", zae::Value("BUCKET#key#0")}};
    for (const char* l : {"rpm", "wcu"}) {
      const std::string b = std::string("b_") + l + "_";
      for (const char* f : {"tk", "cp", "ra"})
        bucket[b + f] = zae::Value(int64_t{9'000'000'000'000'000'000});
      bucket[b + "rp"] = zae::Value(60'000);
      bucket[b + "tc"] = zae::Value(0);
    }
    // Only the first process to get here creates the bucket.
    zae::Put put{bucket};
    put.condition.NotExists("PK");
    store_->Write(put);
    deltas_.push_back({"rpm", 1000, true, 1000, true});
    if (limits == 2) deltas_.push_back({"wcu", 1000, true, 1000, false});
    views_.resize(deltas_.size());
    if (usage) {
      for (const char* window : {"hourly", "daily"}) {
        const std::string start =
            window == std::string("hourly") ? "2026-12-01T08:00:00Z" : "2026-12-01T00:00:00Z";
        zae::Update u;
        u.key = {"ns/ENTITY#key",
                 "#USAGE#res#" + start + (window == std::string("hourly") ? "" : "#daily")};
        u.set = {{"entity_id", zae::Value("key")},
                 {"GSI2PK", zae::Value("ns/RESOURCE#res")},
                 {"GSI2SK", zae::Value("USAGE#" + start + "#key")}};
        u.set_if_not_exists = {{"resource", zae::Value("res")},
                               {"window", zae::Value(window)},
                               {"window_start", zae::Value(start)},
                               {"ttl", zae::Value(int64_t{1'804'000'000})}};
        usage_.push_back(std::move(u));
      }
    }
  }

  bool Acquire() {
    zae::BucketWrite w;
    w.key = &key_;
    w.limits = deltas_.data();
    w.limit_count = deltas_.size();
    w.usage = usage_.data();
    w.usage_count = usage_.size();
    w.usage_events = 1;
    w.views = views_.data();
    store_->WriteBuckets(&w, 1);
    return w.status == zae::WriteStatus::kOk;
  }

 private:
  std::unique_ptr<zae::SqliteStore> store_;
  zae::ItemKey key_{"ns/BUCKET#key#res#0", "#STATE"};
  std::vector<zae::BucketLimitDelta> deltas_;
  std::vector<zae::BucketLimitView> views_;
  std::vector<zae::Update> usage_;
};

// ---- the limiter through its public API

class LimiterLoop {
 public:
  LimiterLoop(const std::string& path, bool usage) {
    zae::RateLimiterOptions options;
    if (!usage) options.usage = zae::UsageTracking::kOff;
    limiter_ = zae::RateLimiter::Open(std::make_shared<zae::SqliteStore>(path), options);
    limiter_->SetResourceDefaults("res", {zae::Limit::PerSecond("rpm", 1'000'000'000)});
  }
  bool Acquire() {
    auto r = limiter_->Acquire("key", "res", {{"rpm", 1}});
    if (!r) return false;
    r.lease().Commit();
    return true;
  }

 private:
  std::unique_ptr<zae::RateLimiter> limiter_;
};

// Forks kProcs children that each build a loop with `make` (after the fork:
// SQLite connections must not cross it) and run it for kProcSeconds; returns
// all children's operations per second.
double RunProcesses(const std::function<std::function<bool()>()>& make, int64_t& denied) {
  std::vector<std::pair<pid_t, int>> children;
  for (int p = 0; p < kProcs; ++p) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      int64_t out[2] = {0, 0};
      try {
        std::function<bool()> op = make();
        const auto end =
            std::chrono::steady_clock::now() + std::chrono::duration<double>(kProcSeconds);
        while (std::chrono::steady_clock::now() < end) ++out[op() ? 0 : 1];
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child: %s\n", e.what());
        out[0] = -1;
      }
      if (write(fds[1], out, sizeof out) != sizeof out) _exit(2);
      _exit(0);
    }
    close(fds[1]);
    children.emplace_back(pid, fds[0]);
  }
  int64_t total = 0;
  bool failed = false;
  for (auto [pid, fd] : children) {
    int64_t in[2] = {-1, 0};
    if (read(fd, in, sizeof in) != sizeof in || in[0] < 0) failed = true;
    close(fd);
    waitpid(pid, nullptr, 0);
    total += in[0];
    denied += in[1];
  }
  if (failed) throw std::runtime_error("a benchmark child failed");
  return static_cast<double>(total) / kProcSeconds;
}

void BM_SqliteBareLoop(benchmark::State& st) {
  const std::string path = FreshPath("bare");
  const bool usage = st.range(0) == 1;
  const bool returning = st.range(1) == 1;
  int64_t denied = 0;
  {
    BareLoop loop(path, usage, returning);
    int64_t rf = 0;
    for (auto _ : st) denied += loop.Acquire(++rf) ? 0 : 1;
  }
  RemoveDb(path);
  st.counters["denied"] = static_cast<double>(denied);
  st.SetItemsProcessed(st.iterations());
  st.SetLabel(std::string("bare sqlite3, ") + (returning ? "RETURNING" : "sqlite3_changes") +
              (usage ? ", usage on" : ", usage off"));
}
// Args: usage (1 on, 0 off), RETURNING (1, the specified floor) or
// sqlite3_changes() (0, SQLite without RETURNING's temporary table).
BENCHMARK(BM_SqliteBareLoop)->ArgsProduct({{1, 0}, {1, 0}})->UseRealTime();

void BM_SqliteWriteBuckets(benchmark::State& st) {
  const std::string path = FreshPath("typed");
  const bool usage = st.range(0) == 1;
  int64_t denied = 0;
  {
    TypedWrites loop(path, usage, static_cast<int>(st.range(1)));
    for (auto _ : st) denied += loop.Acquire() ? 0 : 1;
  }
  RemoveDb(path);
  st.counters["denied"] = static_cast<double>(denied);
  st.SetItemsProcessed(st.iterations());
  st.SetLabel(std::string("SqliteStore::WriteBuckets, ") + (st.range(1) == 2 ? "rpm+wcu" : "rpm") +
              (usage ? ", usage on" : ", usage off"));
}
BENCHMARK(BM_SqliteWriteBuckets)->ArgsProduct({{1, 0}, {1, 2}})->UseRealTime();

void Report2Proc(benchmark::State& st, const std::function<std::function<bool()>()>& make,
                 const std::string& label, const std::string& path) {
  int64_t denied = 0;
  double ops = 0;
  for (auto _ : st) ops = RunProcesses(make, denied);
  RemoveDb(path);
  st.counters["ops_per_s"] = ops;
  st.counters["denied"] = static_cast<double>(denied);
  st.SetLabel(label);
}

void BM_SqliteBareLoop2Proc(benchmark::State& st) {
  const std::string path = FreshPath("bare2");
  const bool usage = st.range(0) == 1;
  { BareLoop setup(path, usage); }
  Report2Proc(
      st,
      [&] {
        auto loop = std::make_shared<BareLoop>(path, usage);
        auto rf = std::make_shared<int64_t>(0);
        return std::function<bool()>([loop, rf] { return loop->Acquire(++*rf); });
      },
      usage ? "bare sqlite3, 2 processes, usage on" : "bare sqlite3, 2 processes, usage off", path);
}
BENCHMARK(BM_SqliteBareLoop2Proc)->Arg(1)->Arg(0)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_SqliteWriteBuckets2Proc(benchmark::State& st) {
  const std::string path = FreshPath("typed2");
  const bool usage = st.range(0) == 1;
  const int limits = static_cast<int>(st.range(1));
  { TypedWrites setup(path, usage, limits); }
  Report2Proc(
      st,
      [&] {
        auto loop = std::make_shared<TypedWrites>(path, usage, limits);
        return std::function<bool()>([loop] { return loop->Acquire(); });
      },
      std::string("WriteBuckets, 2 processes, ") + (limits == 2 ? "rpm+wcu" : "rpm") +
          (usage ? ", usage on" : ", usage off"),
      path);
}
BENCHMARK(BM_SqliteWriteBuckets2Proc)
    ->ArgsProduct({{1, 0}, {1, 2}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

void BM_SqliteLimiter2Proc(benchmark::State& st) {
  const std::string path = FreshPath("limiter2");
  const bool usage = st.range(0) == 1;
  { LimiterLoop setup(path, usage); }
  Report2Proc(
      st,
      [&] {
        auto loop = std::make_shared<LimiterLoop>(path, usage);
        return std::function<bool()>([loop] { return loop->Acquire(); });
      },
      usage ? "limiter acquire+commit, 2 processes, usage on"
            : "limiter acquire+commit, 2 processes, usage off",
      path);
}
BENCHMARK(BM_SqliteLimiter2Proc)->Arg(1)->Arg(0)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

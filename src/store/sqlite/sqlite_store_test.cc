// SqliteStore behaviour beyond the shared contract (store_conformance_test.cc):
// opening errors, the schema, persistence, corrupt rows, lock timeouts.
#include "zae/sqlite_store.h"

#include <fcntl.h>
#include <grp.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/store_test_util.h"
#include "zae/errors.h"

namespace zae {
namespace {

using testing::DeleteOf;
using testing::MakeItem;
using testing::PutOf;
using testing::ScratchDir;

// A raw connection, to look at or damage the file behind the store's back.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << sql << ": " << (err ? err : "");
    sqlite3_free(err);
  }
  // The first column of the first row, as text ("" for none/NULL).
  std::string One(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return out;
  }
  // All rows of a one-column query, joined by '\n'.
  std::string All(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    std::string out;
    while (sqlite3_step(s) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(s, sqlite3_column_count(s) - 1);
      out += std::string(t ? reinterpret_cast<const char*>(t) : "") + "\n";
    }
    sqlite3_finalize(s);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string OpenError(const std::string& path) {
  try {
    SqliteStore store(path);
  } catch (const StoreError& e) {
    return e.what();
  }
  return "";
}

TEST(SqliteStoreTest, MissingDirectoryIsAClearError) {
  ScratchDir dir;
  const std::string err = OpenError(dir.path() + "/no/such/dir/zae.db");
  EXPECT_NE(err.find("cannot open SQLite store"), std::string::npos) << err;
  EXPECT_NE(err.find("does not exist"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/no"));  // not created
}

// Root may write anywhere (and CI runs as root): there the open runs in a
// child process that first drops to the unprivileged user "nobody".
TEST(SqliteStoreTest, UnwritableDirectoryIsAClearError) {
  ScratchDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);  // "nobody" may look inside
  const std::string ro = dir.path() + "/ro";
  ASSERT_EQ(mkdir(ro.c_str(), 0555), 0);
  std::string err;
  if (geteuid() != 0) {
    err = OpenError(ro + "/zae.db");
  } else {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      constexpr uid_t kNobody = 65534;
      if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(2);
      if (geteuid() == 0) _exit(3);
      const std::string e = OpenError(ro + "/zae.db");
      if (write(fds[1], e.data(), e.size()) != static_cast<ssize_t>(e.size())) _exit(4);
      _exit(0);
    }
    close(fds[1]);
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child could not drop privileges (status " << status << ")";
  }
  EXPECT_NE(err.find("cannot open SQLite store"), std::string::npos) << err;
  EXPECT_NE(err.find("not writable"), std::string::npos) << err;
}

TEST(SqliteStoreTest, DirectoryOrNonDatabaseFileIsAClearError) {
  ScratchDir dir;
  std::string err = OpenError(dir.path());
  EXPECT_NE(err.find("cannot open SQLite store"), std::string::npos) << err;
  const std::string junk = dir.path() + "/junk.db";
  std::ofstream(junk) << std::string(4096, 'x');
  err = OpenError(junk);
  EXPECT_NE(err.find("not a database"), std::string::npos) << err;
}

TEST(SqliteStoreTest, RejectsInMemoryPaths) {
  EXPECT_THROW(SqliteStore(""), StoreError);
  EXPECT_THROW(SqliteStore(":memory:"), StoreError);
}

TEST(SqliteStoreTest, UnknownSchemaVersionIsRefused) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  SqliteStore(path).Provision({});
  RawDb(path).Exec("UPDATE meta SET value = '3' WHERE key = 'schema_version'");
  const std::string err = OpenError(path);
  EXPECT_NE(err.find("schema version '3'"), std::string::npos) << err;
}

TEST(SqliteStoreTest, SchemaIsAsDocumented) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  SqliteStore store(path);
  store.Provision({});
  store.Provision({});  // idempotent
  RawDb db(path);
  EXPECT_EQ(db.One("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(db.One("SELECT value FROM meta WHERE key = 'schema_version'"), "2");
  EXPECT_EQ(db.All("SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'items2_%' "
                   "ORDER BY name"),
            "items2_gsi1\nitems2_gsi2\nitems2_gsi3\nitems2_gsi4\nitems2_ttl\n");

  ASSERT_TRUE(store
                  .Write(PutOf(MakeItem("ns/BUCKET#e#r#0", "#STATE",
                                        {{"GSI2PK", Value("ns/RESOURCE#r")},
                                         {"GSI2SK", Value("BUCKET#e#0")},
                                         {"GSI4PK", Value(7)},  // not a string: not indexed
                                         {"ttl", Value(123)},
                                         {"tk", Value(5)}})))
                  .ok());
  EXPECT_EQ(db.One("SELECT gsi2pk || '|' || gsi2sk || '|' || ttl || '|' || "
                   "(gsi1pk IS NULL) || (gsi4pk IS NULL) FROM items2"),
            "ns/RESOURCE#r|BUCKET#e#0|123|11");
  EXPECT_EQ(db.One("SELECT json_extract(data, '$.tk.N') FROM items2"), "5");

  // The query shapes SqliteStore::Query uses are served by the indexes
  // without a sort.
  const std::string plan = db.All(
      "EXPLAIN QUERY PLAN SELECT data FROM items2 WHERE gsi2pk = ? AND gsi2sk IS NOT NULL "
      "AND gsi2sk >= ? AND gsi2sk < ? AND (gsi2sk, pk, sk) > (?, ?, ?) "
      "ORDER BY gsi2sk ASC, pk ASC, sk ASC LIMIT 11");
  EXPECT_NE(plan.find("items2_gsi2"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
  const std::string ttl_plan =
      db.All("EXPLAIN QUERY PLAN SELECT pk, sk FROM items2 WHERE ttl < ?1 LIMIT 1000");
  EXPECT_NE(ttl_plan.find("items2_ttl"), std::string::npos) << ttl_plan;
}

// Where the numbers of bucket and snapshot items live (the header's schema
// comment), and that the warm path's statements are key lookups.
TEST(SqliteStoreTest, BucketAndSnapshotNumbersLiveInTypedTables) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  SqliteStore store(path);
  const Item bucket = MakeItem("ns/BUCKET#e#r#0", "#STATE",
                               {{"rf", Value(17)},
                                {"shard_count", Value(2)},
                                {"b_rpm_tk", Value(-5)},
                                {"b_rpm_cp", Value(9)},
                                {"b_a_b_tc", Value(3)},
                                {"b_x_tk", Value("not a number")},
                                {"b_y_zz", Value(1)},
                                {"ttl", Value(99)}});
  const Item snapshot = MakeItem("ns/ENTITY#e", "#USAGE#r#2026-12-01T08:00:00Z",
                                 {{"rpm", Value(4)},
                                  {"total_events", Value(2)},
                                  {"window", Value("hourly")},
                                  {"ttl", Value(1000)}});
  ASSERT_TRUE(store.Write(PutOf(bucket)).ok());
  ASSERT_TRUE(store.Write(PutOf(snapshot)).ok());
  EXPECT_EQ(store.Get(KeyOf(bucket)), bucket);
  EXPECT_EQ(store.Get(KeyOf(snapshot)), snapshot);
  RawDb db(path);
  EXPECT_EQ(db.All("SELECT name || ':' || coalesce(tk, '-') || ',' || coalesce(cp, '-') || ',' "
                   "|| coalesce(tc, '-') FROM bucket_limits ORDER BY name"),
            "a_b:-,-,3\nrpm:-5,9,-\n");
  EXPECT_EQ(db.One("SELECT rf || ',' || shard_count FROM items2 WHERE sk = '#STATE'"), "17,2");
  EXPECT_EQ(db.One("SELECT data FROM items2 WHERE sk = '#STATE'"),
            "{\"PK\":{\"S\":\"ns/BUCKET#e#r#0\"},\"SK\":{\"S\":\"#STATE\"},"
            "\"b_x_tk\":{\"S\":\"not a number\"},\"b_y_zz\":{\"N\":\"1\"},"
            "\"ttl\":{\"N\":\"99\"}}");
  EXPECT_EQ(db.All("SELECT attr || '=' || n FROM usage_counters ORDER BY attr"),
            "rpm=4\ntotal_events=2\n");
  // Deleting the items removes their typed rows.
  ASSERT_TRUE(store.Write(DeleteOf(KeyOf(bucket))).ok());
  ASSERT_TRUE(store.Write(DeleteOf(KeyOf(snapshot))).ok());
  EXPECT_EQ(db.One("SELECT (SELECT count(*) FROM bucket_limits) + "
                   "(SELECT count(*) FROM usage_counters)"),
            "0");
  const std::string plan = db.All(
      "EXPLAIN QUERY PLAN SELECT i.ttl, i.rf, i.shard_count, l.name, l.tk, l.cp, l.ra, l.rp, "
      "l.tc FROM items2 AS i LEFT JOIN bucket_limits AS l ON l.pk = i.pk "
      "WHERE i.pk = ?1 AND i.sk = '#STATE'");
  EXPECT_EQ(plan.find("SCAN"), std::string::npos) << plan;
}

TEST(SqliteStoreTest, DataPersistsAndIsSharedBetweenInstances) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  const Item item = MakeItem("p", "s", {{"v", Value(1)}});
  {
    SqliteStore a(path);
    SqliteStore b(path);
    ASSERT_TRUE(a.Write(PutOf(item)).ok());
    EXPECT_EQ(b.Get({"p", "s"}), item);
    Update u;
    u.key = {"p", "s"};
    u.add = {{"v", 1}};
    ASSERT_TRUE(b.Write(u).ok());
    EXPECT_EQ(a.Get({"p", "s"})->at("v"), Value(2));
  }
  SqliteStore reopened(path);
  EXPECT_EQ(reopened.Get({"p", "s"})->at("v"), Value(2));
  EXPECT_EQ(reopened.Describe(), "sqlite:" + path);
}

TEST(SqliteStoreTest, ArbitraryBytesInKeysAndPrefixes) {
  ScratchDir dir;
  SqliteStore store(dir.path() + "/zae.db");
  const std::string nul("a\0b", 3);
  for (const std::string& sk : {std::string("a"), std::string("a\xff"), std::string("a\xff\xff"),
                                std::string("b"), nul, std::string("\xff")}) {
    ASSERT_TRUE(store.Write(PutOf(MakeItem(nul, sk, {{"sk", Value(sk)}}))).ok());
    EXPECT_EQ(store.Get({nul, sk})->at("sk"), Value(sk));
  }
  QueryRequest q;
  q.hash = nul;
  q.sort_prefix = "a\xff";
  std::vector<std::string> got;
  for (const auto& item : store.Query(q).items) got.push_back(item.at("SK").as_string());
  EXPECT_EQ(got, (std::vector<std::string>{"a\xff", "a\xff\xff"}));
  q.sort_prefix = "\xff";
  EXPECT_EQ(store.Query(q).items.size(), 1u);
  q.sort_prefix = "a";
  EXPECT_EQ(store.Query(q).items.size(), 4u);
}

TEST(SqliteStoreTest, CorruptRowsThrowStoreErrorAndLeaveTheStoreUsable) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  SqliteStore store(path);
  ASSERT_TRUE(store.Write(PutOf(MakeItem("p", "good"))).ok());
  RawDb db(path);
  db.Exec("INSERT INTO items2(pk, sk, data) VALUES('p', 'bad', '{\"PK\":{\"S\":')");
  db.Exec(
      "INSERT INTO items2(pk, sk, data) VALUES('p', 'moved', "
      "'{\"PK\":{\"S\":\"p\"},\"SK\":{\"S\":\"elsewhere\"}}')");
  EXPECT_THROW(store.Get({"p", "bad"}), StoreError);
  EXPECT_THROW(store.Get({"p", "moved"}), StoreError);
  EXPECT_THROW(store.BatchGet({{"p", "good"}, {"p", "bad"}}), StoreError);
  Update u;
  u.key = {"p", "bad"};
  u.add = {{"n", 1}};
  EXPECT_THROW(store.Write(u), StoreError);
  EXPECT_THROW(store.Transact({PutOf(MakeItem("p", "new")), u}), StoreError);
  EXPECT_EQ(store.Get({"p", "new"}), std::nullopt);  // rolled back
  QueryRequest q;
  q.hash = "p";
  EXPECT_THROW(store.Query(q), StoreError);
  // Other rows still work, and a blind Put or Delete replaces a damaged row.
  EXPECT_TRUE(store.Get({"p", "good"}));
  ASSERT_TRUE(store.Write(PutOf(MakeItem("p", "bad"))).ok());
  EXPECT_EQ(store.Get({"p", "bad"}), MakeItem("p", "bad"));
  EXPECT_THROW(store.Write(DeleteOf({"p", "moved"}, {}, true)), StoreError);
  ASSERT_TRUE(store.Write(DeleteOf({"p", "moved"})).ok());
  EXPECT_EQ(store.Query(q).items.size(), 2u);
}

TEST(SqliteStoreTest, LockTimeoutIsARetryableStoreError) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  SqliteOptions opts;
  opts.busy_timeout = std::chrono::milliseconds(100);
  opts.busy_retries = 1;
  SqliteStore store(path, opts);
  ASSERT_TRUE(store.Write(PutOf(MakeItem("p", "s"))).ok());
  RawDb other(path);
  other.Exec("BEGIN IMMEDIATE");  // holds the write lock
  const auto start = std::chrono::steady_clock::now();
  try {
    store.Write(PutOf(MakeItem("p", "t")));
    ADD_FAILURE() << "write succeeded under another writer's lock";
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.retryable()) << e.what();
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(150));  // two attempts of 100 ms
  EXPECT_LT(waited, std::chrono::seconds(3));
  // Readers are not blocked by a writer (WAL).
  EXPECT_TRUE(store.Get({"p", "s"}));
  other.Exec("ROLLBACK");
  EXPECT_TRUE(store.Write(PutOf(MakeItem("p", "t"))).ok());
}

// Writers of all processes queue on a lock of "<path>-lock" (a POSIX record
// lock on its first byte) before BEGIN IMMEDIATE; the kernel drops it when
// its holder dies, so a writer killed mid-transaction blocks nobody.
TEST(SqliteStoreTest, AKilledHolderOfTheWriterLockBlocksNobody) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  SqliteStore store(path);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int fd = open((path + "-lock").c_str(), O_RDWR);
    struct flock range = {};
    range.l_type = F_WRLCK;
    range.l_whence = SEEK_SET;
    range.l_len = 1;
    if (fd < 0 || fcntl(fd, F_SETLKW, &range) != 0) _exit(1);
    if (write(ready[1], "x", 1) != 1) _exit(1);
    pause();  // holds the lock until killed
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    EXPECT_TRUE(store.Write(PutOf(MakeItem("p", "s"))).ok());
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(done);  // queued behind the holder
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  writer.join();
  EXPECT_TRUE(done);
  EXPECT_TRUE(store.Get({"p", "s"}));
  close(ready[0]);
  close(ready[1]);
}

// The bucket of entity `e` with one limit, rpm, holding 5 tokens.
Item RpmBucket(const std::string& e) {
  return MakeItem("ns/BUCKET#" + e + "#r#0", "#STATE",
                  {{"b_rpm_tk", Value(5000)},
                   {"b_rpm_cp", Value(5000)},
                   {"b_rpm_ra", Value(5000)},
                   {"b_rpm_rp", Value(60000)},
                   {"b_rpm_tc", Value(0)}});
}

// Group commit: calls that queue while another writes share one
// transaction, and each write in it still succeeds, fails its condition or
// fails with an error exactly as it would alone.
TEST(SqliteStoreTest, QueuedBucketWritesShareATransactionAndStayIndependent) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  SqliteStore store(path);
  for (const char* e : {"a", "b", "c"}) ASSERT_TRUE(store.Write(PutOf(RpmBucket(e))).ok());
  RawDb db(path);
  db.Exec("UPDATE bucket_limits SET tk = 'x' WHERE pk = 'ns/BUCKET#b#r#0'");  // damaged
  const ItemKey ka{"ns/BUCKET#a#r#0", "#STATE"}, kb{"ns/BUCKET#b#r#0", "#STATE"},
      kc{"ns/BUCKET#c#r#0", "#STATE"};
  // Each call: one write of 1000 milli-tokens guarded by `guard`.
  struct Call {
    const ItemKey* key;
    int64_t guard;
    BucketLimitDelta delta;
    BucketLimitView view;
    BucketWrite w;
    std::string error;
  };
  auto make = [](const ItemKey* key, int64_t guard) {
    auto c = std::make_unique<Call>();
    c->key = key;
    c->delta = BucketLimitDelta{"rpm", 1000, true, guard};
    c->w.key = key;
    c->w.limits = &c->delta;
    c->w.limit_count = 1;
    c->w.views = &c->view;
    return c;
  };
  std::vector<std::unique_ptr<Call>> calls;
  calls.push_back(make(&ka, 1000));   // leads the first group, alone
  calls.push_back(make(&kb, 1000));   // a damaged row: an error
  calls.push_back(make(&kc, 1000));   // succeeds
  calls.push_back(make(&ka, 99000));  // its condition fails
  const int64_t commits0 = store.commits();
  db.Exec("BEGIN IMMEDIATE");  // the first call waits on SQLite's lock
  std::vector<std::thread> threads;
  for (size_t i = 0; i < calls.size(); ++i) {
    threads.emplace_back([&store, c = calls[i].get()] {
      try {
        store.WriteBuckets(&c->w, 1);
      } catch (const StoreError& e) {
        c->error = e.what();
      }
    });
    // The first call must hold the head of the queue before the others.
    std::this_thread::sleep_for(std::chrono::milliseconds(i == 0 ? 300 : 50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  db.Exec("COMMIT");
  for (auto& t : threads) t.join();
  EXPECT_EQ(store.commits() - commits0, 2);  // the first alone, then the other three
  EXPECT_EQ(calls[0]->error, "");
  EXPECT_TRUE(calls[0]->w.ok());
  EXPECT_NE(calls[1]->error.find("corrupt"), std::string::npos) << calls[1]->error;
  EXPECT_EQ(calls[2]->error, "");
  EXPECT_TRUE(calls[2]->w.ok());
  EXPECT_EQ(calls[2]->view.tk, 4000);
  EXPECT_EQ(calls[3]->error, "");
  EXPECT_EQ(calls[3]->w.status, WriteStatus::kConditionFailed);
  EXPECT_TRUE(calls[3]->view.present);
  EXPECT_EQ(calls[3]->view.tk, 4000);  // as the first call left it
  EXPECT_EQ(db.All("SELECT pk || '=' || tk || '/' || tc FROM bucket_limits ORDER BY pk"),
            "ns/BUCKET#a#r#0=4000/1000\nns/BUCKET#b#r#0=x/0\nns/BUCKET#c#r#0=4000/1000\n");
}

// Many threads on a few buckets through group commit: every admitted write
// is counted once, none beyond the capacity.
TEST(SqliteStoreTest, GroupCommitNeverOverAdmits) {
  ScratchDir dir;
  SqliteStore store(dir.path() + "/zae.db");
  const int kBuckets = 3, kThreads = 8, kCalls = 150;
  std::vector<ItemKey> keys;
  for (int b = 0; b < kBuckets; ++b) {
    keys.push_back({"ns/BUCKET#e" + std::to_string(b) + "#r#0", "#STATE"});
    ASSERT_TRUE(store
                    .Write(PutOf(MakeItem(keys.back().pk, "#STATE",
                                          {{"b_rpm_tk", Value(200'000)}, {"b_rpm_tc", Value(0)}})))
                    .ok());
  }
  std::atomic<int64_t> admitted[kBuckets] = {};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const int b = (t + i) % kBuckets;
        BucketLimitDelta d{"rpm", 1000, true, 1000};
        BucketWrite w;
        w.key = &keys[static_cast<size_t>(b)];
        w.limits = &d;
        w.limit_count = 1;
        store.WriteBuckets(&w, 1);
        if (w.ok()) ++admitted[b];
      }
    });
  }
  for (auto& t : threads) t.join();
  int64_t total = 0;
  for (int b = 0; b < kBuckets; ++b) {
    const auto item = store.Get(keys[static_cast<size_t>(b)]);
    ASSERT_TRUE(item);
    EXPECT_EQ(admitted[b].load(), 200) << b;  // 400 tries on a 200-token bucket
    EXPECT_EQ(item->at("b_rpm_tk").as_number(), 0) << b;
    EXPECT_EQ(item->at("b_rpm_tc").as_number(), admitted[b].load() * 1000) << b;
    total += admitted[b].load();
  }
  EXPECT_EQ(total, kBuckets * 200);
  EXPECT_LE(store.commits(), kThreads * kCalls + kBuckets);
}

// The store checkpoints the WAL itself (after a write released the writers'
// locks, in place of SQLite's automatic checkpoint inside the commit): the
// WAL stays near the threshold instead of growing with every transaction.
TEST(SqliteStoreTest, TheWalIsCheckpointedOutsideTheCommit) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  SqliteStore store(path);
  const ItemKey key{"ns/BUCKET#e#r#0", "#STATE"};
  ASSERT_TRUE(
      store.Write(PutOf(MakeItem(key.pk, key.sk, {{"b_rpm_tk", Value(0)}, {"b_rpm_tc", Value(0)}})))
          .ok());
  // Each write rewrites a few pages: 4000 of them are far more than the
  // 1000-page threshold without checkpoints.
  const std::string filler(3000, 'x');
  for (int i = 0; i < 4000; ++i) {
    ASSERT_TRUE(
        store.Write(PutOf(MakeItem("p" + std::to_string(i), "s", {{"v", Value(filler)}}))).ok());
  }
  const auto wal = std::filesystem::file_size(path + "-wal");
  EXPECT_LT(wal, 8u << 20) << "the WAL grew to " << wal << " bytes";
  RawDb db(path);
  EXPECT_EQ(db.One("SELECT count(*) FROM items2"), "4001");
}

// WriteBucketsAsync: the calls return at once; the writer thread writes
// what queued behind a held lock as one transaction, each write as it
// would be alone, and runs the callbacks, in order, on itself.
TEST(SqliteStoreTest, QueuedAsyncBucketWritesShareATransactionOnTheWriterThread) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  SqliteStore store(path);
  ASSERT_TRUE(store.capabilities().async_bucket_writes);
  for (const char* e : {"a", "b", "c"}) ASSERT_TRUE(store.Write(PutOf(RpmBucket(e))).ok());
  RawDb db(path);
  db.Exec("UPDATE bucket_limits SET tk = 'x' WHERE pk = 'ns/BUCKET#b#r#0'");  // damaged
  const ItemKey ka{"ns/BUCKET#a#r#0", "#STATE"}, kb{"ns/BUCKET#b#r#0", "#STATE"},
      kc{"ns/BUCKET#c#r#0", "#STATE"};
  struct Call {
    BucketLimitDelta delta;
    BucketLimitView view;
    BucketWrite w;
    std::string error;
    std::thread::id thread;
    int order = -1;
  };
  Call calls[4];
  const ItemKey* keys[4] = {&ka, &kb, &kc, &ka};
  const int64_t guards[4] = {1000, 1000, 1000, 99000};  // the last one's condition fails
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  const int64_t commits0 = store.commits();
  db.Exec("BEGIN IMMEDIATE");  // the first write waits on SQLite's lock
  for (int i = 0; i < 4; ++i) {
    Call& c = calls[i];
    c.delta = BucketLimitDelta{"rpm", 1000, true, guards[i]};
    c.w.key = keys[i];
    c.w.limits = &c.delta;
    c.w.limit_count = 1;
    c.w.views = &c.view;
    store.WriteBucketsAsync(&c.w, 1, [&, i](std::exception_ptr error) {
      std::lock_guard lock(mu);
      if (error) {
        try {
          std::rethrow_exception(error);
        } catch (const StoreError& e) {
          calls[i].error = e.what();
        }
      }
      calls[i].thread = std::this_thread::get_id();
      calls[i].order = finished++;
      cv.notify_all();
    });
    // The first write must be under way (waiting on the lock) before the
    // others queue behind it.
    if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(finished, 0) << "the calls returned before their writes were done";
  }
  db.Exec("COMMIT");
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return finished == 4; }));
  }
  EXPECT_EQ(store.commits() - commits0, 2);  // the first alone, then the other three
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(calls[i].order, i);
    EXPECT_NE(calls[i].thread, std::this_thread::get_id());
    EXPECT_EQ(calls[i].thread, calls[0].thread);
  }
  EXPECT_EQ(calls[0].error, "");
  EXPECT_TRUE(calls[0].w.ok());
  EXPECT_NE(calls[1].error.find("corrupt"), std::string::npos) << calls[1].error;
  EXPECT_EQ(calls[2].error, "");
  EXPECT_TRUE(calls[2].w.ok());
  EXPECT_EQ(calls[2].view.tk, 4000);
  EXPECT_EQ(calls[3].error, "");
  EXPECT_EQ(calls[3].w.status, WriteStatus::kConditionFailed);
  EXPECT_EQ(calls[3].view.tk, 4000);  // as the first write left it
  EXPECT_EQ(db.All("SELECT pk || '=' || tk || '/' || tc FROM bucket_limits ORDER BY pk"),
            "ns/BUCKET#a#r#0=4000/1000\nns/BUCKET#b#r#0=x/0\nns/BUCKET#c#r#0=4000/1000\n");
}

// Destroying the store with writes still queued writes them and runs their
// callbacks before it returns; bad input fails through the callback.
TEST(SqliteStoreTest, DestroyingTheStoreFinishesItsQueuedWrites) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  constexpr int kWrites = 200;
  std::vector<ItemKey> keys;
  for (int i = 0; i < kWrites; ++i)
    keys.push_back({"ns/BUCKET#e" + std::to_string(i) + "#r#0", "#STATE"});
  std::vector<BucketLimitDelta> deltas(kWrites);
  std::vector<BucketLimitView> views(kWrites);
  std::vector<BucketWrite> writes(kWrites);
  std::atomic<int> done{0}, failed{0};
  {
    SqliteStore store(path);
    std::vector<WriteOp> puts;
    for (const ItemKey& k : keys) {
      puts.push_back(
          PutOf(MakeItem(k.pk, k.sk, {{"b_rpm_tk", Value(5000)}, {"b_rpm_tc", Value(0)}})));
    }
    store.BatchWrite(puts);
    std::exception_ptr bad;
    store.WriteBucketsAsync(nullptr, 1, [&](std::exception_ptr e) { bad = e; });
    EXPECT_THROW(std::rethrow_exception(bad), ValidationError);
    for (int i = 0; i < kWrites; ++i) {
      deltas[i] = BucketLimitDelta{"rpm", 1000, true, 1000};
      writes[i].key = &keys[i];
      writes[i].limits = &deltas[i];
      writes[i].limit_count = 1;
      writes[i].views = &views[i];
      store.WriteBucketsAsync(&writes[i], 1, [&](std::exception_ptr e) {
        ++done;
        if (e) ++failed;
      });
    }
  }
  EXPECT_EQ(done.load(), kWrites);
  EXPECT_EQ(failed.load(), 0);
  RawDb db(path);
  EXPECT_EQ(db.One("SELECT count(*) FROM bucket_limits WHERE tc = 1000"), std::to_string(kWrites));
}

// The last reference to the store may go in a callback on its own writer
// thread (a limiter call keeps the store alive until it completes).
TEST(SqliteStoreTest, TheLastReferenceCanGoInAWriteCallback) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  auto store = std::make_shared<SqliteStore>(path);
  const ItemKey key{"ns/BUCKET#a#r#0", "#STATE"};
  ASSERT_TRUE(store
                  ->Write(PutOf(MakeItem(key.pk, key.sk,
                                         {{"b_rpm_tk", Value(5000)}, {"b_rpm_tc", Value(0)}})))
                  .ok());
  BucketLimitDelta delta{"rpm", 1000, true, 1000};
  BucketWrite w;
  w.key = &key;
  w.limits = &delta;
  w.limit_count = 1;
  std::promise<bool> done;
  SqliteStore* raw = store.get();
  raw->WriteBucketsAsync(&w, 1, [keep = std::move(store), &done](std::exception_ptr e) mutable {
    keep.reset();  // ~SqliteStore, on the writer thread
    done.set_value(e == nullptr);
  });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(f.get());
  RawDb db(path);
  EXPECT_EQ(db.One("SELECT tc FROM bucket_limits"), "1000");
}

// Writers that never pause: a checkpoint outside the writers' locks always
// finds frames appended while it copied, so SQLite would never rewind the
// WAL (it only does once every frame is copied).
TEST(SqliteStoreTest, TheWalStaysSmallUnderWritersThatNeverPause) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  SqliteStore store(path);
  const std::string filler(3000, 'x');
  constexpr int kThreads = 4, kWrites = 4000;
  std::atomic<uintmax_t> largest{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        const std::string pk = "p" + std::to_string(t) + "-" + std::to_string(i);
        ASSERT_TRUE(store.Write(PutOf(MakeItem(pk, "s", {{"v", Value(filler)}}))).ok());
        if (t == 0 && i % 100 == 0) {
          std::error_code ec;
          const uintmax_t now = std::filesystem::file_size(path + "-wal", ec);
          if (!ec && now > largest.load()) largest.store(now);
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  std::error_code ec;
  largest.store(std::max<uintmax_t>(largest.load(), std::filesystem::file_size(path + "-wal", ec)));
  // 16000 writes of a page or more each: ~300 MB of WAL here if it never
  // rewinds. It rewinds after each checkpoint, and grows past the 1000
  // pages by what the writers append while one checkpoint copies and syncs
  // (25-45 MB here, with these four writers that never pause).
  EXPECT_LT(largest.load(), 96u << 20) << "the WAL grew to " << largest.load() << " bytes";
  RawDb db(path);
  EXPECT_EQ(db.One("SELECT count(*) FROM items2"), std::to_string(kThreads * kWrites));
}

TEST(SqliteStoreTest, DeleteExpiredWorksInChunks) {
  ScratchDir dir;
  SqliteStore store(dir.path() + "/zae.db");
  std::vector<WriteOp> puts;
  for (int i = 0; i < 2500; ++i) {
    puts.push_back(PutOf(MakeItem("p", std::to_string(i), {{"ttl", Value(i % 2 ? 10 : 100)}})));
  }
  store.BatchWrite(puts);
  EXPECT_EQ(store.DeleteExpired(50), 1250);
  QueryRequest q;
  q.hash = "p";
  q.limit = 5000;
  EXPECT_EQ(store.Query(q).items.size(), 1250u);
}

}  // namespace
}  // namespace zae

// Schema v1 -> v2 migration of SqliteStore, on a file written by the v1
// binary, and what a v1 process that still has the file open sees.
//
// testdata/sqlite/v1_store.db was written by the CLI built from the commit
// before schema v2 (9372f30), with real time (2026-12-01T08:30:53Z):
//   S="--store sqlite:v1.db"
//   zae-limiter $S deploy
//   zae-limiter $S entity create proj-acme --display-name "Acme Corp"
//   zae-limiter $S entity create key-1 --parent proj-acme --cascade
//   zae-limiter $S entity set-limits key-1 -r gpt-4 -l rpm:100 -l tpm:50000
//   zae-limiter $S resource set-defaults gpt-4 -l rpm:60 -l tpm:100000
//   zae-limiter $S system set-defaults -l rpm:1000 --on-unavailable allow
//   zae-limiter $S acquire key-1 gpt-4 -c rpm=1 -c tpm=1000
//   zae-limiter $S acquire key-1 gpt-4 -c rpm=1 -c tpm=500 --adjust tpm=-100
//   zae-limiter $S acquire proj-acme gpt-4 -c rpm=2
//   zae-limiter $S acquire proj-acme claude -c rpm=1
#include <sqlite3.h>

#include <filesystem>
#include <map>

#include "store/sqlite/item_codec.h"
#include "store/store_test_util.h"
#include "zae/clock.h"
#include "zae/errors.h"
#include "zae/rate_limiter.h"
#include "zae/sqlite_store.h"

namespace zae {
namespace {

using testing::ScratchDir;

const std::string kNs = "T1wzG-QOLt1";  // the fixture's namespace id

std::string CopyFixture(const ScratchDir& dir) {
  const std::string path = dir.path() + "/v1.db";
  std::filesystem::copy_file(std::string(ZAE_SOURCE_DIR) + "/testdata/sqlite/v1_store.db", path);
  return path;
}

// Every item of a v1 file, read with raw SQL and the (unchanged) v1 row
// codec: what the migration must preserve.
std::map<ItemKey, Item> ReadV1Items(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT data FROM items", -1, &s, nullptr), SQLITE_OK);
  std::map<ItemKey, Item> out;
  while (sqlite3_step(s) == SQLITE_ROW) {
    Item item = sqlite::DecodeItem(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    out.emplace(KeyOf(item), std::move(item));
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

std::string One(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), SQLITE_OK) << sql;
  std::string out;
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  }
  sqlite3_finalize(s);
  return out;
}

int64_t Num(const Item& item, const std::string& attr) { return item.at(attr).as_number(); }

TEST(SqliteMigrationTest, EveryItemOfAV1FileSurvivesExactly) {
  ScratchDir dir;
  const std::string path = CopyFixture(dir);
  const std::map<ItemKey, Item> v1 = ReadV1Items(path);
  ASSERT_EQ(v1.size(), 24u);

  SqliteStore store(path);
  // Every item, by key and by a query of its partition.
  std::map<std::string, size_t> per_pk;
  for (const auto& [key, item] : v1) {
    EXPECT_EQ(store.Get(key), item) << key.pk << " " << key.sk;
    ++per_pk[key.pk];
  }
  for (const auto& [pk, n] : per_pk) {
    QueryRequest q;
    q.hash = pk;
    const QueryPage page = store.Query(q);
    ASSERT_EQ(page.items.size(), n) << pk;
    for (const Item& item : page.items) EXPECT_EQ(item, v1.at(KeyOf(item)));
  }
  // The numbers moved to the typed tables; v1's table is gone.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(One(db, "SELECT value FROM meta WHERE key = 'schema_version'"), "2");
  EXPECT_EQ(One(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'items'"), "0");
  EXPECT_EQ(One(db, "SELECT count(*) FROM bucket_limits"), "8");    // 3 + 2 + 3 limits
  EXPECT_EQ(One(db, "SELECT count(*) FROM usage_counters"), "16");  // 3+3+2+2+3+3
  EXPECT_EQ(One(db, "SELECT count(*) FROM items2 WHERE instr(data, '\"b_') > 0"), "0");
  EXPECT_EQ(One(db,
                "SELECT tk || ',' || cp || ',' || tc FROM bucket_limits "
                "WHERE pk = 'T1wzG-QOLt1/BUCKET#key-1#gpt-4#0' AND name = 'tpm'"),
            "48600000,50000000,1400000");
  sqlite3_close(db);

  // Reopening a v2 file changes nothing.
  SqliteStore again(path);
  for (const auto& [key, item] : v1) EXPECT_EQ(again.Get(key), item);
}

TEST(SqliteMigrationTest, TheLimiterReadsEveryEntityLimitEventAndSnapshot) {
  ScratchDir dir;
  const std::string path = CopyFixture(dir);
  FakeClock clock(1'796'113'860'000);  // 2026-12-01T08:31:00Z, 6 s after the fixture
  RateLimiterOptions options;
  options.clock = &clock;
  auto limiter = RateLimiter::Open(std::make_shared<SqliteStore>(path), options);
  ASSERT_EQ(limiter->namespace_id(), kNs);

  const std::optional<Entity> parent = limiter->GetEntity("proj-acme");
  ASSERT_TRUE(parent);
  EXPECT_EQ(parent->name, "Acme Corp");
  EXPECT_EQ(parent->parent_id, std::nullopt);
  const std::optional<Entity> child = limiter->GetEntity("key-1");
  ASSERT_TRUE(child);
  EXPECT_EQ(child->parent_id, "proj-acme");
  EXPECT_TRUE(child->cascade);
  const std::vector<Entity> children = limiter->GetChildren("proj-acme");
  ASSERT_EQ(children.size(), 1u);
  EXPECT_EQ(children[0].id, "key-1");

  auto check = [](const std::vector<Limit>& got, const std::vector<Limit>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].name, want[i].name);
      EXPECT_EQ(got[i].capacity, want[i].capacity);
      EXPECT_EQ(got[i].refill_amount, want[i].refill_amount);
      EXPECT_EQ(got[i].refill_period_seconds, want[i].refill_period_seconds);
    }
  };
  check(limiter->GetLimits("key-1", "gpt-4"),
        {Limit::Custom("rpm", 100, 100, 60), Limit::Custom("tpm", 50000, 50000, 60)});
  check(limiter->GetResourceDefaults("gpt-4"),
        {Limit::Custom("rpm", 60, 60, 60), Limit::Custom("tpm", 100000, 100000, 60)});
  const SystemDefaults system = limiter->GetSystemDefaults();
  check(system.limits, {Limit::Custom("rpm", 1000, 1000, 60)});
  EXPECT_EQ(system.on_unavailable, OnUnavailable::kAllow);

  const auto key1_events = limiter->GetAuditEvents("key-1").items;
  ASSERT_EQ(key1_events.size(), 2u);  // newest first
  EXPECT_EQ(key1_events[0].event_id, "01M8RBMV9DNWYPCHJPBSE4F2RH");
  EXPECT_EQ(key1_events[0].action, "limits_set");
  EXPECT_EQ(key1_events[0].resource, "gpt-4");
  EXPECT_EQ(key1_events[1].event_id, "01M8RBMV8GVCZN46KFNRJHBCP4");
  EXPECT_EQ(key1_events[1].action, "entity_created");
  EXPECT_EQ(key1_events[1].principal, "cli");
  EXPECT_EQ(limiter->GetAuditEvents("proj-acme").items.size(), 1u);
  EXPECT_EQ(limiter->GetAuditEvents("$SYSTEM").items.size(), 1u);
  EXPECT_EQ(limiter->GetAuditEvents("$RESOURCE:gpt-4").items.size(), 1u);

  auto usage = [&](const std::string& entity, const std::string& resource) {
    UsageQuery q;
    q.entity_id = entity;
    q.resource = resource;
    return limiter->GetUsageSnapshots(q).items;
  };
  const auto key1 = usage("key-1", "gpt-4");
  ASSERT_EQ(key1.size(), 2u);  // hourly and daily
  for (const UsageSnapshot& s : key1) {
    EXPECT_EQ(s.counters, (std::map<std::string, int64_t>{{"rpm", 2}, {"tpm", 1400}}));
    EXPECT_EQ(s.total_events, 2);
  }
  const auto acme = usage("proj-acme", "gpt-4");
  ASSERT_EQ(acme.size(), 2u);
  for (const UsageSnapshot& s : acme) {
    EXPECT_EQ(s.counters, (std::map<std::string, int64_t>{{"rpm", 4}, {"tpm", 1400}}));
    EXPECT_EQ(s.total_events, 3);
  }

  // The buckets kept their state: 6 s of refill on top of the stored tokens.
  Store& store = limiter->store();
  const std::optional<Item> bucket = store.Get({kNs + "/BUCKET#key-1#gpt-4#0", "#STATE"});
  ASSERT_TRUE(bucket);
  EXPECT_EQ(Num(*bucket, "b_rpm_tk"), 98000);
  EXPECT_EQ(Num(*bucket, "b_rpm_tc"), 2000);
  EXPECT_EQ(Num(*bucket, "b_tpm_tc"), 1400000);
  EXPECT_EQ(Num(*bucket, "rf"), 1796113853852);
  EXPECT_EQ(Num(*bucket, "shard_count"), 1);

  // And it keeps working: one more acquire lands on the migrated counters.
  auto r = limiter->Acquire("key-1", "gpt-4", {{"rpm", 1}, {"tpm", 10}});
  ASSERT_TRUE(r);
  r.lease().Commit();
  for (const UsageSnapshot& s : usage("key-1", "gpt-4")) {
    EXPECT_EQ(s.counters, (std::map<std::string, int64_t>{{"rpm", 3}, {"tpm", 1410}}));
    EXPECT_EQ(s.total_events, 3);
  }
  const std::optional<Item> after = store.Get({kNs + "/BUCKET#key-1#gpt-4#0", "#STATE"});
  ASSERT_TRUE(after);
  EXPECT_EQ(Num(*after, "b_rpm_tc"), 3000);
  EXPECT_EQ(Num(*after, "b_tpm_tc"), 1410000);

  // Expiry removes typed rows with their items: the two buckets with a ttl.
  EXPECT_EQ(store.DeleteExpired(1796114274), 2);
  EXPECT_FALSE(store.Get({kNs + "/BUCKET#proj-acme#claude#0", "#STATE"}));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(One(db, "SELECT count(DISTINCT pk) FROM bucket_limits"), "1");
  sqlite3_close(db);
}

// A v1 process that has the file open while a v2 process migrates it: its
// prepared statements (v1 reads and writes `items` only) fail on their next
// use instead of reading or writing the migrated items.
TEST(SqliteMigrationTest, AV1ProcessStillOpenFailsClearlyAfterTheMigration) {
  ScratchDir dir;
  const std::string path = CopyFixture(dir);
  sqlite3* v1 = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &v1), SQLITE_OK);
  sqlite3_stmt* read = nullptr;
  sqlite3_stmt* write = nullptr;
  ASSERT_EQ(sqlite3_prepare_v3(v1, "SELECT data FROM items WHERE pk = ?1 AND sk = ?2", -1,
                               SQLITE_PREPARE_PERSISTENT, &read, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_prepare_v3(v1, "UPDATE items SET data = ?3 WHERE pk = ?1 AND sk = ?2", -1,
                               SQLITE_PREPARE_PERSISTENT, &write, nullptr),
            SQLITE_OK);
  const std::string pk = kNs + "/BUCKET#key-1#gpt-4#0";
  sqlite3_bind_text(read, 1, pk.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(read, 2, "#STATE", -1, SQLITE_STATIC);
  ASSERT_EQ(sqlite3_step(read), SQLITE_ROW);
  sqlite3_reset(read);

  { SqliteStore migrated(path); }

  EXPECT_EQ(sqlite3_step(read), SQLITE_ERROR);
  EXPECT_EQ(std::string(sqlite3_errmsg(v1)), "no such table: items");
  sqlite3_bind_text(write, 1, pk.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(write, 2, "#STATE", -1, SQLITE_STATIC);
  sqlite3_bind_text(write, 3, "{}", -1, SQLITE_STATIC);
  EXPECT_EQ(sqlite3_step(write), SQLITE_ERROR);
  EXPECT_EQ(std::string(sqlite3_errmsg(v1)), "no such table: items");
  sqlite3_finalize(read);
  sqlite3_finalize(write);
  sqlite3_close(v1);

  // v1's open runs its schema script and then refuses the version, in one
  // transaction that it rolls back: the file is as v2 left it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "BEGIN IMMEDIATE; "
                         "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1'); "
                         "CREATE TABLE IF NOT EXISTS items(pk TEXT NOT NULL, sk TEXT NOT NULL, "
                         "data TEXT NOT NULL, PRIMARY KEY(pk, sk)) WITHOUT ROWID;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_EQ(One(db, "SELECT value FROM meta WHERE key = 'schema_version'"), "2");
  ASSERT_EQ(sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_EQ(One(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'items'"), "0");
  sqlite3_close(db);
  SqliteStore store(path);
  EXPECT_EQ(Num(*store.Get({pk, "#STATE"}), "b_rpm_tc"), 2000);
}

TEST(SqliteMigrationTest, AFileOfANewerVersionIsRefusedUntouched) {
  ScratchDir dir;
  const std::string path = dir.path() + "/v3.db";
  { SqliteStore store(path); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '3' WHERE key = 'schema_version'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  try {
    SqliteStore store(path);
    ADD_FAILURE() << "opened a version 3 file";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("has schema version '3'; this build reads version 2"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(One(db, "SELECT value FROM meta WHERE key = 'schema_version'"), "3");
  sqlite3_close(db);
}

}  // namespace
}  // namespace zae

// The native WriteBuckets of the stores (memory: typed records; SQLite:
// typed tables; DynamoDB: the UpdateItem written from the write) against
// the definition: the base class's generic
// path (Store::WriteBuckets -> Update / Transact) run on a second store of
// the same kind. Every write's outputs and every item afterwards must be
// identical.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <limits>
#include <thread>

#include "store/store_test_util.h"
#include "zae/errors.h"
#include "zae/memory_store.h"
#include "zae/sqlite_store.h"

namespace zae {
namespace {

using testing::ScratchDir;

const ItemKey kBucketKey{"ns/BUCKET#e#r#0", "#STATE"};
const std::string kEntityPk = "ns/ENTITY#e";

Item BucketItem() {
  Item item{{"PK", Value(kBucketKey.pk)},
            {"SK", Value(kBucketKey.sk)},
            {"entity_id", Value("e")},
            {"resource", Value("r")},
            {"rf", Value(int64_t{1'700'000'000'000})},
            {"shard_count", Value(1)},
            {"ttl", Value(2000)},
            {"GSI2PK", Value("ns/RESOURCE#r")},
            {"GSI2SK", Value("BUCKET#e#0")}};
  for (const char* l : {"rpm", "wcu", "a_b"}) {
    const std::string b = std::string("b_") + l + "_";
    item[b + "tk"] = Value(10'000);
    item[b + "cp"] = Value(10'000);
    item[b + "ra"] = Value(10'000);
    item[b + "rp"] = Value(60'000);
    item[b + "tc"] = Value(0);
  }
  return item;
}

// The usage template of one window, as src/limiter/usage.cc makes it.
Update Window(const std::string& window, const std::string& key, int64_t ttl) {
  Update u;
  u.key = {kEntityPk, "#USAGE#r#" + key + (window == "hourly" ? "" : "#" + window)};
  u.set = {{"entity_id", Value("e")},
           {"GSI2PK", Value("ns/RESOURCE#r")},
           {"GSI2SK", Value("USAGE#" + key + "#e")}};
  u.set_if_not_exists = {{"resource", Value("r")},     {"window", Value(window)},
                         {"window_start", Value(key)}, {"GSI4PK", Value("ns")},
                         {"GSI4SK", Value(kEntityPk)}, {"ttl", Value(ttl)}};
  return u;
}

struct Step {
  std::vector<BucketLimitDelta> limits;
  int64_t ttl_after = BucketWrite::kNoTtlCheck;
  bool usage = true;
  int64_t events = 1;
  bool views = true;
  ItemKey key = kBucketKey;
};

bool DynamoDbHere() { return std::getenv("ZAE_TEST_DYNAMODB_ENDPOINT") != nullptr; }

// DynamoDB: a fresh table of DynamoDB Local, whose typed form is the
// UpdateItem of src/store/dynamodb/bucket_request.h (writes with usage
// windows take the generic transaction there too). Without an endpoint a
// memory store stands in and SetUp skips (or fails, when required).
std::unique_ptr<Store> MakeStore(const std::string& kind, const std::string& path) {
  if (kind == "memory" || (kind == "dynamodb" && !DynamoDbHere())) {
    return std::make_unique<MemoryStore>();
  }
  if (kind == "dynamodb") return testing::OpenFreshDynamoTable();
  return std::make_unique<SqliteStore>(path);
}

class TypedVsGeneric : public ::testing::TestWithParam<std::string> {
 protected:
  TypedVsGeneric()
      : typed_holder_(MakeStore(GetParam(), dir_.path() + "/typed.db")),
        generic_holder_(MakeStore(GetParam(), dir_.path() + "/generic.db")),
        typed_(*typed_holder_),
        generic_(*generic_holder_) {}
  void SetUp() override {
    if (GetParam() == "dynamodb" && !DynamoDbHere()) {
      ZAE_DYNAMODB_UNAVAILABLE("ZAE_TEST_DYNAMODB_ENDPOINT is not set");
    }
    for (Store* s : {&typed_, &generic_}) ASSERT_TRUE(s->Write(Put{BucketItem()}).ok());
  }

  // Runs `step` on both stores and compares the outputs.
  void Run(const Step& step, int64_t ttl = 5000) {
    SCOPED_TRACE("write #" + std::to_string(statuses_.size()));
    std::vector<Update> usage = {Window("hourly", "2026-12-01T08:00:00Z", ttl),
                                 Window("daily", "2026-12-01T00:00:00Z", ttl)};
    std::vector<BucketLimitView> views[2];
    BucketWrite w[2];
    for (int i = 0; i < 2; ++i) {
      views[i].resize(step.limits.size());
      w[i].key = &step.key;
      w[i].limits = step.limits.data();
      w[i].limit_count = step.limits.size();
      w[i].ttl_after = step.ttl_after;
      if (step.usage) {
        w[i].usage = usage.data();
        w[i].usage_count = usage.size();
        w[i].usage_events = step.events;
      }
      w[i].views = step.views ? views[i].data() : nullptr;
    }
    typed_.WriteBuckets(&w[0], 1);
    generic_.Store::WriteBuckets(&w[1], 1);
    EXPECT_EQ(w[0].status, w[1].status);
    // Without views the generic path asks for no item back, so it reports
    // rf 0, shard_count 1 and (on failure) exists false whatever the item
    // holds; the typed path reports the item's values. (On DynamoDB a write
    // with usage windows is the generic transaction on both.)
    const bool typed_form = !(GetParam() == "dynamodb" && step.usage);
    if (w[1].views) {  // null also for an empty limit list
      EXPECT_EQ(w[0].exists, w[1].exists);
      EXPECT_EQ(w[0].rf, w[1].rf);
      EXPECT_EQ(w[0].shard_count, w[1].shard_count);
    } else if (step.key == kBucketKey && typed_form) {
      EXPECT_TRUE(w[0].exists);
      EXPECT_EQ(w[0].rf, 1'700'000'000'000);
      EXPECT_EQ(w[0].shard_count, 1);
    }
    for (size_t l = 0; l < step.limits.size(); ++l) {
      EXPECT_EQ(views[0][l].present, views[1][l].present) << l;
      EXPECT_EQ(views[0][l].tk, views[1][l].tk) << l;
      EXPECT_EQ(views[0][l].cp, views[1][l].cp) << l;
      EXPECT_EQ(views[0][l].ra, views[1][l].ra) << l;
      EXPECT_EQ(views[0][l].rp, views[1][l].rp) << l;
      EXPECT_EQ(views[0][l].tc, views[1][l].tc) << l;
    }
    statuses_.push_back(w[0].status);
  }

  // Every item of both stores, by Get and by Query.
  void ExpectSameItems() {
    for (const std::string& pk : {kBucketKey.pk, kEntityPk, std::string("ns/BUCKET#gone#r#0")}) {
      QueryRequest q;
      q.hash = pk;
      const QueryPage a = typed_.Query(q), b = generic_.Query(q);
      EXPECT_EQ(a.items, b.items) << pk;
      for (const Item& item : b.items) EXPECT_EQ(typed_.Get(KeyOf(item)), item);
    }
  }

  ScratchDir dir_;
  std::unique_ptr<Store> typed_holder_, generic_holder_;
  Store& typed_;    // runs its native WriteBuckets
  Store& generic_;  // runs Store::WriteBuckets, the definition
  std::vector<WriteStatus> statuses_;
};

BucketLimitDelta D(std::string_view name, int64_t milli, bool guard = true,
                   int64_t guard_milli = -1, bool count_usage = true) {
  return {name, milli, guard, guard_milli < 0 ? milli : guard_milli, count_usage};
}

TEST_P(TypedVsGeneric, EveryShapeOfWriteGivesTheSameItems) {
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  // Warm acquires: the first creates both windows, the rest only add.
  for (int i = 0; i < 3; ++i) Run({{D("rpm", 1000), D("wcu", 1000, true, 1000, false)}});
  // A limit name with an underscore, partial tokens (floor), negative
  // (undo) amounts, an unguarded limit, a zero amount.
  Run({{D("a_b", 1500), D("rpm", 0, true, 0)}});
  Run({{D("a_b", -1500, false), D("rpm", -999, false)}});
  Run({{D("rpm", 2500, false)}, BucketWrite::kNoTtlCheck, true, 0});
  // Guards that fail: not enough tokens, an expired ttl, a missing limit.
  Run({{D("rpm", 1000, true, 1'000'000)}});
  Run({{D("rpm", 1000)}, /*ttl_after=*/2000});
  Run({{D("tpm", 1000)}});
  // A live ttl, then a new (unguarded) limit: starts at 0 and goes negative.
  Run({{D("rpm", 1000)}, /*ttl_after=*/1999});
  Run({{D("tpm", 7000, false)}});
  Run({{D("tpm", 1000, false), D("rpm", 1000)}});
  // Saturation at both ends.
  Run({{D("rpm", kMin, false)}});
  Run({{D("rpm", kMax, false)}});
  Run({{D("rpm", kMax, false)}});
  // Without usage, without views, with events only.
  Run({{D("wcu", 1000, true, 1000, false)}, BucketWrite::kNoTtlCheck, false});
  Run({{D("wcu", 1000, true, 1000, false)}, BucketWrite::kNoTtlCheck, true, 1, false});
  Run({{D("rpm", 5, true, kMax)}, BucketWrite::kNoTtlCheck, true, 1, false});
  Run({{}, BucketWrite::kNoTtlCheck, true, 3});
  // A bucket that does not exist; a key that is no bucket item.
  Run({{D("rpm", 1000)},
       BucketWrite::kNoTtlCheck,
       true,
       1,
       true,
       {"ns/BUCKET#gone#r#0", "#STATE"}});
  Run({{D("rpm", 1000, false)}, BucketWrite::kNoTtlCheck, false, 1, true, {kEntityPk, "#META"}});
  ExpectSameItems();
  // Both outcomes were exercised.
  EXPECT_GT(std::count(statuses_.begin(), statuses_.end(), WriteStatus::kOk), 10);
  EXPECT_GE(std::count(statuses_.begin(), statuses_.end(), WriteStatus::kConditionFailed), 5);
}

// The shapes again without usage windows: on DynamoDB (whose usage comes
// from its stream) these are the writes the typed UpdateItem sends.
TEST_P(TypedVsGeneric, EveryShapeWithoutUsageGivesTheSameItems) {
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t t = BucketWrite::kNoTtlCheck;
  for (int i = 0; i < 3; ++i) Run({{D("rpm", 1000), D("wcu", 1000, true, 1000, false)}, t, false});
  Run({{D("a_b", 1500), D("rpm", 0, true, 0)}, t, false});
  Run({{D("a_b", -1500, false), D("rpm", -999, false)}, t, false});
  Run({{D("rpm", 1000, true, 1'000'000)}, t, false});  // not enough tokens
  Run({{D("rpm", 1000)}, /*ttl_after=*/2000, false});  // expired
  Run({{D("tpm", 1000)}, t, false});                   // a missing limit
  Run({{D("rpm", 1000)}, /*ttl_after=*/1999, false});
  Run({{D("tpm", 7000, false)}, t, false});  // a new limit starts at 0
  Run({{D("rpm", kMin, false)}, t, false});
  Run({{D("rpm", kMax, false)}, t, false});
  Run({{D("rpm", kMax, false)}, t, false});
  Run({{D("rpm", 5, true, kMax)}, t, false, 1, false});  // no views, failing
  Run({{D("rpm", 1000, false)}, t, false, 1, false});    // no views
  Run({{}, t, false});
  Run({{D("rpm", 1000)}, t, false, 1, true, {"ns/BUCKET#gone#r#0", "#STATE"}});
  Run({{D("rpm", 1000, false)}, t, false, 1, true, {kEntityPk, "#META"}});
  ExpectSameItems();
  EXPECT_GT(std::count(statuses_.begin(), statuses_.end(), WriteStatus::kOk), 8);
  EXPECT_GE(std::count(statuses_.begin(), statuses_.end(), WriteStatus::kConditionFailed), 5);
}

TEST_P(TypedVsGeneric, SnapshotsChangedBehindTheWarmPathStayExact) {
  Run({{D("rpm", 1000)}});
  Run({{D("rpm", 1000)}});
  // Another writer changes a snapshot (a SET attribute, a counter, a new
  // attribute): the next warm write must see it, not its memory of the item.
  for (Store* s : {&typed_, &generic_}) {
    Update u;
    u.key = {kEntityPk, "#USAGE#r#2026-12-01T08:00:00Z"};
    u.set = {{"entity_id", Value("someone-else")}, {"note", Value("x")}};
    u.add = {{"rpm", 40}};
    u.remove = {"window"};
    ASSERT_TRUE(s->Write(u).ok());
  }
  Run({{D("rpm", 1000)}}, /*ttl=*/9999);
  Run({{D("rpm", 1000)}});
  ExpectSameItems();
  // A counter named like a string attribute of the snapshot: the ADD fails
  // on both, and the transaction leaves nothing behind.
  const std::vector<BucketLimitDelta> bad = {D("resource", 1000, false)};
  BucketWrite w[2];
  const std::vector<Update> usage = {Window("hourly", "2026-12-01T08:00:00Z", 1)};
  for (BucketWrite& x : w) {
    x.key = &kBucketKey;
    x.limits = bad.data();
    x.limit_count = bad.size();
    x.usage = usage.data();
    x.usage_count = usage.size();
    x.usage_events = 1;
  }
  EXPECT_THROW(typed_.WriteBuckets(&w[0], 1), Error);
  EXPECT_THROW(generic_.Store::WriteBuckets(&w[1], 1), Error);
  ExpectSameItems();
}

TEST_P(TypedVsGeneric, RefusesNullInputs) {
  BucketWrite w;
  EXPECT_THROW(typed_.WriteBuckets(&w, 1), ValidationError);  // no key
  w.key = &kBucketKey;
  w.limit_count = 1;
  EXPECT_THROW(typed_.WriteBuckets(&w, 1), ValidationError);  // no limits
  EXPECT_THROW(typed_.WriteBuckets(nullptr, 1), ValidationError);
  typed_.WriteBuckets(nullptr, 0);
}

TEST_P(TypedVsGeneric, OneFailingWriteDoesNotStopTheOthers) {
  const std::vector<BucketLimitDelta> ok = {D("rpm", 1000)};
  BucketWrite w[3];
  w[0].key = &kBucketKey;
  w[0].limits = ok.data();
  w[0].limit_count = 1;
  w[2] = w[0];  // w[1] has no key
  EXPECT_THROW(typed_.WriteBuckets(w, 3), ValidationError);
  EXPECT_EQ(w[0].status, WriteStatus::kOk);
  EXPECT_EQ(w[2].status, WriteStatus::kOk);
  EXPECT_EQ(typed_.Get(kBucketKey)->at("b_rpm_tk"), Value(8000));
}

// The typed path across processes: guarded writes from 3 processes x 2
// threads on one bucket never overdraw it, and the usage counters count
// exactly the writes that succeeded.
INSTANTIATE_TEST_SUITE_P(Stores, TypedVsGeneric, ::testing::Values("memory", "sqlite", "dynamodb"),
                         [](const auto& p) { return p.param; });

TEST(SqliteWriteBucketsTest, GuardedWritesFromSeveralProcessesStayExact) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  {
    SqliteStore store(path);
    Item bucket = BucketItem();
    bucket["b_rpm_tk"] = Value(500'000);  // 500 writes of 1000
    ASSERT_TRUE(store.Write(Put{bucket}).ok());
  }
  constexpr int kProcs = 3, kThreads = 2, kWrites = 100;  // 600 attempts
  std::vector<pid_t> children;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int failures = 0;
      try {
        SqliteStore store(path);
        const std::vector<Update> usage = {Window("hourly", "2026-12-01T08:00:00Z", 1),
                                           Window("daily", "2026-12-01T00:00:00Z", 1)};
        const std::vector<BucketLimitDelta> limits = {D("rpm", 1000)};
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
          threads.emplace_back([&] {
            for (int i = 0; i < kWrites; ++i) {
              BucketWrite w;
              w.key = &kBucketKey;
              w.limits = limits.data();
              w.limit_count = limits.size();
              w.usage = usage.data();
              w.usage_count = usage.size();
              w.usage_events = 1;
              store.WriteBuckets(&w, 1);
            }
          });
        }
        for (auto& t : threads) t.join();
      } catch (...) {
        failures = 1;
      }
      _exit(failures);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  SqliteStore store(path);
  const std::optional<Item> bucket = store.Get(kBucketKey);
  ASSERT_TRUE(bucket);
  EXPECT_EQ(bucket->at("b_rpm_tk"), Value(0));
  EXPECT_EQ(bucket->at("b_rpm_tc"), Value(500'000));
  for (const char* sk : {"#USAGE#r#2026-12-01T08:00:00Z", "#USAGE#r#2026-12-01T00:00:00Z#daily"}) {
    const std::optional<Item> snapshot = store.Get({kEntityPk, sk});
    ASSERT_TRUE(snapshot) << sk;
    EXPECT_EQ(snapshot->at("rpm"), Value(500)) << sk;
    EXPECT_EQ(snapshot->at("total_events"), Value(500)) << sk;
  }
}

}  // namespace
}  // namespace zae

// The DynamoDB Streams aggregator against DynamoDB Local
// (ZAE_TEST_DYNAMODB_ENDPOINT): snapshot totals equal the consumption a
// scripted workload was admitted, also when the aggregator is killed
// (SIGKILL) at random points and restarted; and the snapshot item has the
// layout of format.md §2.11.
#include "aggregator/aggregator.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include "aggregator/aggregator_test_util.h"
#include "limiter/usage.h"
#include "store/store_test_util.h"
#include "zae/rate_limiter.h"

namespace zae::testing {
namespace {

// Net tokens admitted per (entity, limit), and requests per entity.
struct Expected {
  std::map<std::string, std::map<std::string, int64_t>> tokens;
  std::map<std::string, int64_t> events;  // by the rule of docs/usage.md
  void Add(const std::string& entity, const Amounts& a) {
    for (const auto& [name, n] : a) tokens[entity][name] += n;
  }
};

class AggregatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Endpoint()) ZAE_DYNAMODB_UNAVAILABLE("ZAE_TEST_DYNAMODB_ENDPOINT is not set");
    store_ = std::shared_ptr<Store>(OpenFreshDynamoTable());
    table_ = TableOf(*store_);
    limiter_ = RateLimiter::Open(store_, {.timeout = testing::kTestTimeout});
    limiter_->CreateEntity("proj", {});
    limiter_->CreateEntity("key", {.parent_id = "proj", .cascade = true});
    limiter_->CreateEntity("solo", {});
    limiter_->SetResourceDefaults(
        "gpt-4", {Limit::PerMinute("rpm", 100000), Limit::PerMinute("tpm", 100'000'000)});
  }

  // Acquires (the first ones create the buckets), adjusts both ways, a
  // rollback, a denial, through a cascade and a plain entity.
  void Workload(int rounds, uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < rounds; ++i) {
      const bool cascade = rng() % 3 != 0;
      const std::string entity = cascade ? "key" : "solo";
      const int64_t tpm = 100 + static_cast<int64_t>(rng() % 900);
      if (i % 7 == 3) {  // rolled back: counts nothing
        try {
          Lease lease = limiter_->Acquire(entity, "gpt-4", {{"rpm", 1}, {"tpm", tpm}}).take_lease();
          throw std::runtime_error("upstream failed");
        } catch (const std::runtime_error&) {
        }
        continue;
      }
      Lease lease = limiter_->Acquire(entity, "gpt-4", {{"rpm", 1}, {"tpm", tpm}}).take_lease();
      Amounts used = {{"rpm", 1}, {"tpm", tpm}};
      if (i % 2 == 0) {
        const int64_t adj = static_cast<int64_t>(rng() % 400) - 200;  // real use differs
        lease.Adjust({{"tpm", adj}});
        used["tpm"] += adj;
      }
      lease.Commit();
      expected_.Add(entity, used);
      if (cascade) expected_.Add("proj", used);
      // The acquire's record +1; the adjust's commit +1 or -1.
      const int64_t adj_events = used["tpm"] > tpm ? 2 : (used["tpm"] < tpm ? 0 : 1);
      expected_.events[entity] += adj_events;
      if (cascade) expected_.events["proj"] += adj_events;
    }
    // Denied: admits nothing.
    EXPECT_FALSE(limiter_->Acquire("solo", "gpt-4", {{"tpm", 1'000'000'000}}).allowed());
  }

  void ExpectTotals() {
    for (const std::string window : {"hourly", "daily"}) {
      for (const auto& [entity, want] : expected_.tokens) {
        UsageSummary s = limiter_->GetUsageSummary({.entity_id = entity, .window_type = window});
        for (const auto& [limit, n] : want) {
          EXPECT_EQ(s.total[limit], n) << entity << " " << limit << " " << window;
        }
        int64_t events = 0;
        std::string cursor;
        do {
          auto page = limiter_->GetUsageSnapshots({.entity_id = entity, .window_type = window}, 100,
                                                  cursor);
          for (const auto& snap : page.items) events += snap.total_events;
          cursor = page.next_cursor;
        } while (!cursor.empty());
        EXPECT_EQ(events, expected_.events[entity]) << entity << " total_events " << window;
      }
    }
  }

  std::shared_ptr<Store> store_;
  std::string table_;
  std::unique_ptr<RateLimiter> limiter_;
  Expected expected_;
};

TEST_F(AggregatorTest, OnceTotalsEqualAdmittedConsumption) {
  Workload(30, 1);
  // Nothing is written by the limiter itself on DynamoDB.
  EXPECT_EQ(limiter_->GetUsageSummary({.entity_id = "key"}).snapshot_count, 0);

  Aggregator agg(OptionsFor(table_));
  AggregatorStats s = agg.RunOnce();
  EXPECT_GT(s.records, 0);
  EXPECT_GT(s.bucket_records, 0);
  EXPECT_GT(s.snapshots_updated, 0);
  EXPECT_GE(s.shards, 1);
  ExpectTotals();

  // A second pass (a new process, or the same) finds nothing new.
  Aggregator again(OptionsFor(table_));
  AggregatorStats s2 = again.RunOnce();
  EXPECT_EQ(s2.snapshots_updated, 0);
  EXPECT_EQ(agg.RunOnce().snapshots_updated, 0);
  ExpectTotals();

  // More traffic after a checkpoint: picked up from there.
  Workload(10, 2);
  EXPECT_GT(agg.RunOnce().snapshots_updated, 0);
  ExpectTotals();

  // The checkpoint item.
  const auto ckpts = store_->Query({.hash = "_/AGGREGATOR#" + table_});
  ASSERT_GE(ckpts.items.size(), 1u);
  const Item& ck = ckpts.items[0];
  EXPECT_TRUE(ck.at("SK").as_string().starts_with("#SHARD#"));
  EXPECT_FALSE(ck.at("sequence_number").as_string().empty());
  EXPECT_FALSE(ck.at("stream_arn").as_string().empty());
}

// format.md §2.11: exactly the reference's attributes (daily key suffixed,
// docs/architecture.md).
TEST_F(AggregatorTest, SnapshotItemLayout) {
  const int64_t before_s = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  Lease lease = limiter_->Acquire("solo", "gpt-4", {{"rpm", 1}, {"tpm", 250}}).take_lease();
  lease.Commit();
  AggregatorOptions o = OptionsFor(table_);
  o.retention_days = 30;
  Aggregator agg(o);
  agg.RunOnce();
  auto daily = limiter_->GetUsageSnapshots({.entity_id = "solo", .window_type = "daily"});
  ASSERT_EQ(daily.items.size(), 1u);
  const std::string day = daily.items[0].window_start;
  const std::string ns = limiter_->namespace_id();
  auto item = store_->Get({ns + "/ENTITY#solo", "#USAGE#gpt-4#" + day + "#daily"}, true);
  ASSERT_TRUE(item);
  std::set<std::string> attrs;
  for (const auto& [name, value] : *item) attrs.insert(name);
  EXPECT_EQ(attrs, (std::set<std::string>{"PK", "SK", "entity_id", "resource", "window",
                                          "window_start", "rpm", "tpm", "total_events", "GSI2PK",
                                          "GSI2SK", "GSI4PK", "GSI4SK", "ttl"}));
  EXPECT_EQ(item->at("entity_id"), Value("solo"));
  EXPECT_EQ(item->at("resource"), Value("gpt-4"));
  EXPECT_EQ(item->at("window"), Value("daily"));
  EXPECT_EQ(item->at("window_start"), Value(day));
  EXPECT_EQ(item->at("rpm"), Value(1));  // tokens, not milli: the first consumption counts
  EXPECT_EQ(item->at("tpm"), Value(250));
  EXPECT_EQ(item->at("total_events"), Value(1));
  EXPECT_EQ(item->at("GSI2PK"), Value(ns + "/RESOURCE#gpt-4"));
  EXPECT_EQ(item->at("GSI2SK"), Value("USAGE#" + day + "#solo"));
  EXPECT_EQ(item->at("GSI4PK"), Value(ns));
  EXPECT_EQ(item->at("GSI4SK"), Value(ns + "/ENTITY#solo"));
  const int64_t ttl = item->at("ttl").as_number();
  // Stream record times are whole seconds on AWS, whole minutes on DynamoDB Local.
  EXPECT_GE(ttl, before_s - 120 + 30 * 86400);
  EXPECT_LE(ttl, before_s + 120 + 30 * 86400);
  // The hourly item: the reference's key, no suffix.
  auto hourly = limiter_->GetUsageSnapshots({.entity_id = "solo", .window_type = "hourly"});
  ASSERT_EQ(hourly.items.size(), 1u);
  EXPECT_TRUE(
      store_->Get({ns + "/ENTITY#solo", "#USAGE#gpt-4#" + hourly.items[0].window_start}, true));
}

// The aggregator in a child process (this binary re-executed with
// --gtest_filter=AggregatorChild.*), killed with SIGKILL at random points
// and restarted; a final drain must leave exact totals. The kill delays
// come from TestSeed() (ZAE_TEST_SEED reproduces a run). The first six
// children never stop by themselves, so exactly six are killed; later
// ones run until drained, and two must finish.
TEST_F(AggregatorTest, ExactAfterRepeatedKills) {
  Workload(120, 3);
  std::mt19937_64 rng(TestSeed());
  constexpr int kKills = 6;
  int killed = 0, finished = 0;
  for (int round = 0; round < kKills + 6 && finished < 2; ++round) {
    const bool forever = round < kKills;
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      setenv("ZAE_AGGREGATOR_CHILD_TABLE", table_.c_str(), 1);
      if (forever) setenv("ZAE_AGGREGATOR_CHILD_FOREVER", "1", 1);
      execl("/proc/self/exe", "zae_aggregator_test", "--gtest_also_run_disabled_tests",
            "--gtest_filter=AggregatorChild.DISABLED_Run", static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    if (forever) {
      const int delay_ms = 50 + static_cast<int>(rng() % 700);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0) << "a child that runs forever exited";
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ++killed;
    } else {
      waitpid(pid, &status, 0);
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed";
      ++finished;
    }
  }
  EXPECT_EQ(killed, kKills);
  EXPECT_EQ(finished, 2);
  Aggregator agg(OptionsFor(table_));
  AggregatorStats last = agg.RunOnce();
  std::cout << "killed " << killed << " times; final drain: " << last.records << " records, "
            << last.snapshots_updated << " snapshot updates, " << last.replays_skipped
            << " replays skipped\n";
  ExpectTotals();
}

// Run by ExactAfterRepeatedKills in a child process: small transactions and
// pages, so a kill lands between (and inside) many commits.
// Disabled: it only runs as that child (--gtest_also_run_disabled_tests).
TEST(AggregatorChild, DISABLED_Run) {
  const char* table = std::getenv("ZAE_AGGREGATOR_CHILD_TABLE");
  ASSERT_TRUE(table && Endpoint()) << "only run as the crash test's child";
  AggregatorOptions o = OptionsFor(table);
  o.max_transaction_ops = 3;
  o.get_records_limit = 2;
  if (std::getenv("ZAE_AGGREGATOR_CHILD_FOREVER")) {
    for (;;) {  // until killed
      Aggregator(o).RunOnce();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  Aggregator(o).RunOnce();
}

TEST(AggregatorOptionsTest, Validation) {
  AggregatorOptions o;
  EXPECT_THROW(Aggregator{o}, ValidationError);
  o.table = "t";
  o.region = "us-east-1";
  o.endpoint = "http://127.0.0.1:1";
  o.access_key_id = "a";
  o.secret_access_key = "b";
  o.windows = {"weekly"};
  EXPECT_THROW(Aggregator{o}, ValidationError);
  o.windows = {"hourly"};
  o.max_transaction_ops = 101;
  EXPECT_THROW(Aggregator{o}, ValidationError);
  o.max_transaction_ops = 100;
  EXPECT_NO_THROW(Aggregator{o});
  EXPECT_EQ(Aggregator::CheckpointKey("tbl", "shardId-1").pk, "_/AGGREGATOR#tbl");
  EXPECT_EQ(Aggregator::CheckpointKey("tbl", "shardId-1").sk, "#SHARD#shardId-1");
}

}  // namespace
}  // namespace zae::testing

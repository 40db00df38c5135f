// Each scenario runs for a fraction of a second so the tool keeps working.
// No timing assertions: only that work happened and was accounted for.
#include "bench/bench.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "zae/errors.h"
#include "zae/memory_store.h"

namespace zae::bench {
namespace {

class BenchScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(BenchScenario, RunsAndReportsEveryField) {
  auto store = std::make_shared<MemoryStore>();
  Options o;
  o.scenario = GetParam();
  o.threads = 2;
  o.duration_seconds = 0.2;
  o.warmup_seconds = 0.05;
  o.entities = 5;
  Result r = bench::Run(store, o);
  EXPECT_GT(r.operations, 0);
  EXPECT_EQ(r.errors, 0) << r.first_error;
  EXPECT_EQ(r.operations, r.allowed + r.denied);
  if (o.scenario == "deny") {
    EXPECT_GT(r.denied, r.allowed);
  } else {
    EXPECT_EQ(r.denied, 0);
  }
  EXPECT_FALSE(r.calls_per_op.empty());
  EXPECT_GT(r.client_cpu_us_per_op, 0);
  EXPECT_LE(r.p50_ms, r.p999_ms);
  EXPECT_GT(r.rss_start_mb, 0);
  EXPECT_GT(r.rss_end_mb, 0);
  rapidjson::Document doc;
  doc.Parse(ToJson(r).c_str());
  ASSERT_FALSE(doc.HasParseError());
  for (const char* key : {"scenario", "store", "threads", "inflight", "operations", "ops_per_sec",
                          "latency_ms", "allowed", "denied", "errors", "calls_per_op", "rcu_per_op",
                          "wcu_per_op", "cost_per_million_usd", "client_cpu_us_per_op", "rss_mb"}) {
    EXPECT_TRUE(doc.HasMember(key)) << key;
  }
  for (const char* key : {"p50", "p95", "p99", "p999"}) {
    EXPECT_TRUE(doc["latency_ms"].HasMember(key)) << key;
  }
  EXPECT_NE(ToTable({r}).find(o.scenario), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(All, BenchScenario, ::testing::ValuesIn(Scenarios()),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(Bench, OpsLimitAndValidation) {
  auto store = std::make_shared<MemoryStore>();
  Options o;
  o.ops = 500;
  o.warmup_seconds = 0;
  Result r = bench::Run(store, o);
  EXPECT_EQ(r.operations, 500);
  o.scenario = "nope";
  EXPECT_THROW(bench::Run(store, o), ValidationError);
  o.scenario = "single";
  o.threads = 0;
  EXPECT_THROW(bench::Run(store, o), ValidationError);
  o.threads = 1;
  o.limit_period = "hour";
  EXPECT_THROW(bench::Run(store, o), ValidationError);
  o.limit_period = "second";
  EXPECT_EQ(bench::Run(store, o).operations, 500);
}

// Both modes run exactly --ops operations and count every one; the async
// mode's adjust scenario commits through CommitAsync.
TEST(Bench, BothModesCountExactly) {
  for (bool async : {true, false}) {
    for (const char* scenario : {"multi", "adjust", "deny"}) {
      auto store = std::make_shared<MemoryStore>();
      Options o;
      o.scenario = scenario;
      o.async = async;
      // One client thread: with two, one may claim every batch of --ops
      // and the other none, which changes how many entities are used.
      o.threads = 1;
      o.inflight = 8;
      o.ops = 4096;
      o.warmup_seconds = 0;
      Result r = bench::Run(store, o);
      EXPECT_EQ(r.operations, 4096) << scenario << " async=" << async;
      EXPECT_EQ(r.errors, 0) << r.first_error;
      EXPECT_EQ(r.allowed + r.denied, 4096);
      if (std::string(scenario) == "deny" && async) {
        // One thread cycles over its 8 entities: each admits once (1/hour).
        EXPECT_EQ(r.allowed, 8);
      } else if (std::string(scenario) == "deny") {
        // 8 worker threads claim batches of 256 operations; a thread that
        // claims none never touches its entity.
        EXPECT_GE(r.allowed, 1);
        EXPECT_LE(r.allowed, 8);
      } else {
        EXPECT_EQ(r.denied, 0);
      }
      EXPECT_EQ(r.async, async);
      rapidjson::Document doc;
      doc.Parse(ToJson(r).c_str());
      EXPECT_STREQ(doc["mode"].GetString(), async ? "async" : "threads");
    }
  }
}

}  // namespace
}  // namespace zae::bench

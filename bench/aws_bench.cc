// DynamoDB client benchmarks (zae_aws_bench).
//  - client CPU per request, no network: build + serialize + sign an
//    UpdateItem; parse an UpdateItem response;
//  - requests/s against DynamoDB Local with 1, 8 and 64 requests in flight,
//    only when ZAE_BENCH_DYNAMODB_ENDPOINT is set; cpu_us_per_req is the
//    whole process's CPU (I/O threads included) per request: plain ADDs on a
//    table without indexes, and the limiter's own fast-path update on real
//    buckets in the reference's table (the like-for-like baseline for
//    `zae-limiter bench` at the same number in flight).
#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <unistd.h>
#include "calibration.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>

#include "aws/client.h"
#include "zae/dynamodb_store.h"
#include "zae/rate_limiter.h"

namespace zae::aws {
namespace {

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// DynamoDB Local's URL, or nullptr after marking the benchmark skipped.
const char* EndpointOrSkip(benchmark::State& state) {
  const char* endpoint = std::getenv("ZAE_BENCH_DYNAMODB_ENDPOINT");
  if (endpoint != nullptr && *endpoint != '\0') return endpoint;
  state.SkipWithError("ZAE_BENCH_DYNAMODB_ENDPOINT not set");
  return nullptr;
}

UpdateItemRequest SampleUpdate(const std::string& table, int i) {
  UpdateItemRequest r;
  r.table_name = table;
  r.key = {{"PK", AttributeValue::S("default/ENTITY#user-" + std::to_string(i))},
           {"SK", AttributeValue::S("#BUCKET#gpt-4#0")}};
  r.update_expression = "ADD #b0_tk :d0, #b1_tk :d1 SET #rf = :now";
  r.condition_expression = "#rf = :expected";
  r.expression_attribute_names = {{"#b0_tk", "b_rpm_tk"}, {"#b1_tk", "b_tpm_tk"}, {"#rf", "rf"}};
  r.expression_attribute_values = {{":d0", AttributeValue::N(int64_t{-1000})},
                                   {":d1", AttributeValue::N(int64_t{-250000})},
                                   {":now", AttributeValue::N(int64_t{1700000000123})},
                                   {":expected", AttributeValue::N(int64_t{1700000000000})}};
  r.return_values = "ALL_NEW";
  r.return_consumed_capacity = "TOTAL";
  return r;
}

void BM_AwsSignSerializeUpdateItem(benchmark::State& state) {
  Credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", {}};
  int i = 0;
  for (auto _ : state) {
    HttpRequest req;
    req.headers = {{"Host", "dynamodb.us-east-1.amazonaws.com"},
                   {"Content-Type", "application/x-amz-json-1.0"},
                   {"X-Amz-Target", "DynamoDB_20120810.UpdateItem"}};
    req.body = Serialize(SampleUpdate("rate_limits", i++));
    SigningResult s =
        SignRequest(req, creds, "us-east-1", "dynamodb", std::chrono::system_clock::now());
    benchmark::DoNotOptimize(s.signature);
  }
}
BENCHMARK(BM_AwsSignSerializeUpdateItem);

// The two halves of the above, to see which one moves.
void BM_AwsSignUpdateItem(benchmark::State& state) {
  Credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", {}};
  const std::string body = Serialize(SampleUpdate("rate_limits", 1));
  for (auto _ : state) {
    HttpRequest req;
    req.headers = {{"Host", "dynamodb.us-east-1.amazonaws.com"},
                   {"Content-Type", "application/x-amz-json-1.0"},
                   {"X-Amz-Target", "DynamoDB_20120810.UpdateItem"}};
    req.body = body;
    SigningResult s =
        SignRequest(req, creds, "us-east-1", "dynamodb", std::chrono::system_clock::now());
    benchmark::DoNotOptimize(s.signature);
  }
}
BENCHMARK(BM_AwsSignUpdateItem);

void BM_AwsSerializeUpdateItem(benchmark::State& state) {
  const UpdateItemRequest r = SampleUpdate("rate_limits", 1);
  for (auto _ : state) {
    std::string body = Serialize(r);
    benchmark::DoNotOptimize(body);
  }
}
BENCHMARK(BM_AwsSerializeUpdateItem);

void BM_AwsParseUpdateItemResponse(benchmark::State& state) {
  const std::string body =
      R"({"Attributes":{"PK":{"S":"default/ENTITY#user-1"},"SK":{"S":"#BUCKET#gpt-4#0"},)"
      R"("b_rpm_tk":{"N":"59000"},"b_rpm_cp":{"N":"60000"},"b_rpm_ra":{"N":"60000"},)"
      R"("b_tpm_tk":{"N":"9750000"},"b_tpm_cp":{"N":"10000000"},"rf":{"N":"1700000000123"},)"
      R"("ttl":{"N":"1700086400"}},"ConsumedCapacity":{"TableName":"rate_limits",)"
      R"("CapacityUnits":1.0,"WriteCapacityUnits":1.0}})";
  for (auto _ : state) {
    UpdateItemResponse r;
    Parse(body, &r);
    benchmark::DoNotOptimize(r.attributes);
  }
}
BENCHMARK(BM_AwsParseUpdateItemResponse);

// Requests/s against DynamoDB Local; Arg = requests in flight per batch. CPU
// is the whole process (I/O threads included); cpu_us_per_req divides it by
// the requests sent.
void BM_AwsDynamoLocalUpdateItem(benchmark::State& state) {
  const char* endpoint = EndpointOrSkip(state);
  if (endpoint == nullptr) return;
  ClientConfig config;
  config.endpoint = endpoint;
  config.region = "us-east-1";
  config.credentials = std::make_shared<StaticCredentials>(Credentials{"test", "test", "", {}});
  DynamoClient client(config);
  const std::string table =
      "zae_aws_bench_" + std::to_string(::getpid()) + "_" + std::to_string(state.range(0));
  CreateTableRequest create;
  create.table_name = table;
  create.attribute_definitions = {{"PK", "S"}, {"SK", "S"}};
  create.key_schema = {{"PK", "HASH"}, {"SK", "RANGE"}};
  client.CreateTable(create);
  client.WaitForTable(table);

  const int inflight = static_cast<int>(state.range(0));
  int n = 0;
  const double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    std::vector<Request> batch;
    for (int i = 0; i < inflight; ++i) {
      UpdateItemRequest r = SampleUpdate(table, n++ % 1000);
      r.condition_expression.clear();
      r.expression_attribute_names.erase("#rf");
      r.update_expression = "ADD #b0_tk :d0, #b1_tk :d1";
      r.expression_attribute_values.erase(":now");
      r.expression_attribute_values.erase(":expected");
      batch.push_back(std::move(r));
    }
    for (Result& r : client.ExecuteAll(std::move(batch))) {
      if (!r.ok()) state.SkipWithError("request failed");
    }
  }
  state.SetItemsProcessed(state.iterations() * inflight);
  const double requests = static_cast<double>(state.iterations() * inflight);
  state.counters["cpu_us_per_req"] = (ProcessCpuSeconds() - cpu0) * 1e6 / std::max(1.0, requests);
  OpStats s = client.Metrics().of(Op::kUpdateItem);
  state.counters["wcu_per_call"] = s.calls ? s.write_units / static_cast<double>(s.calls) : 0;
  client.DeleteTable({table});
}
BENCHMARK(BM_AwsDynamoLocalUpdateItem)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();

// The write the limiter's fast path sends for a warm one-limit acquire
// (src/limiter/fast_path.cc: ADD tk/tc and the hidden wcu limit, guarded by
// tk >= n, the item existing and not expired), on buckets the limiter
// created, through the store, `inflight` per round trip.
void BM_DynamoLocalFastPathUpdate(benchmark::State& state) {
  const char* endpoint = EndpointOrSkip(state);
  if (endpoint == nullptr) return;
  const int inflight = static_cast<int>(state.range(0));
  DynamoDbOptions o;
  o.table = "zae_aws_bench_fast_" + std::to_string(::getpid()) + "_" + std::to_string(inflight);
  o.region = "us-east-1";
  o.endpoint = endpoint;
  o.access_key_id = "test";
  o.secret_access_key = "test";
  o.delete_table_on_destroy = true;
  auto store = std::make_shared<DynamoDbStore>(o);
  store->Provision({});
  auto limiter = RateLimiter::Open(store);
  limiter->SetResourceDefaults("bench", {Limit::PerSecond("rpm", 1'000'000'000'000)});
  std::vector<WriteOp> ops;
  const int64_t now_s = ::time(nullptr);
  for (int i = 0; i < inflight; ++i) {
    const std::string entity = "e-" + std::to_string(i);
    limiter->Acquire(entity, "bench", {{"rpm", 1}}).lease().Commit();  // creates the bucket
    Update u;
    u.key = {limiter->namespace_id() + "/BUCKET#" + entity + "#bench#0", "#STATE"};
    u.add = {{"b_rpm_tk", -1000}, {"b_rpm_tc", 1000}, {"b_wcu_tk", -1000}, {"b_wcu_tc", 1000}};
    u.condition.Compare("b_rpm_tk", Predicate::Op::kGe, Value(1000));
    u.condition.Compare("b_wcu_tk", Predicate::Op::kGe, Value(1000));
    u.condition.Exists("PK");
    u.condition.AnyOf(
        {{"ttl", Predicate::Op::kNotExists, {}}, {"ttl", Predicate::Op::kGt, Value(now_s)}});
    u.return_new = true;
    u.return_old_on_failure = true;
    ops.push_back(std::move(u));
  }
  int64_t refused = 0;
  const double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    for (const WriteResult& r : store->WriteEach(ops)) refused += r.ok() ? 0 : 1;
  }
  const double requests = static_cast<double>(state.iterations() * inflight);
  state.SetItemsProcessed(state.iterations() * inflight);
  state.counters["cpu_us_per_req"] = (ProcessCpuSeconds() - cpu0) * 1e6 / std::max(1.0, requests);
  // wcu refills at 1000/s per bucket: refusals mean the bench outran it.
  state.counters["refused"] = static_cast<double>(refused);
}
BENCHMARK(BM_DynamoLocalFastPathUpdate)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();

}  // namespace
}  // namespace zae::aws

BENCHMARK_MAIN();

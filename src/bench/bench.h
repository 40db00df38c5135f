// The load tool behind `zae-limiter bench`: runs one scenario against any
// store and reports throughput, latency, store calls and capacity units per
// operation, cost per million operations, and client CPU per operation.
// Run() is synchronous and thread-safe per call; it creates its own
// namespace so it never touches other data in the store.
//
// The tool stays out of the way at millions of operations per second:
// workers count locally and publish every 256 operations, check the clock
// as often, and time one operation in 8 for the latency percentiles. The
// `noop` scenario measures what is left: the loop's own cost per operation.
#ifndef ZAE_BENCH_BENCH_H_
#define ZAE_BENCH_BENCH_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "zae/store.h"

namespace zae::bench {

// single, multi, cascade, adjust, stored, stored-cold, many-entities, hot, deny, noop
const std::vector<std::string>& Scenarios();
std::string DescribeScenario(const std::string& name);

struct Options {
  std::string scenario = "single";
  int threads = 1;
  // Requests kept in flight per thread (threads x inflight in all).
  int inflight = 1;
  // true: each thread keeps its requests in flight through the asynchronous
  // API (AcquireAsync, CommitAsync); false: one worker thread per request,
  // calling the synchronous API.
  bool async = true;
  double duration_seconds = 5;
  int64_t ops = 0;  // > 0: stop after this many operations instead
  int entities = 100;
  // The refill period of the scenarios' limits ("second" or "minute"). A
  // bucket's TTL is seven periods (the reference's rule) and the fast path
  // requires it unexpired, so under per-second limits every bucket takes
  // the slow path (a read and a full write) every 7 s; under per-minute
  // limits, as the names rpm and tpm say, every 7 minutes.
  std::string limit_period = "minute";
  double warmup_seconds = 1;
  uint64_t seed = 1;
  double wcu_price_per_million = 0.625;  // us-east-1 on-demand
  double rcu_price_per_million = 0.125;
  // Called about once a second with a one-line status.
  std::function<void(const std::string&)> progress;
};

struct Result {
  std::string scenario, store;
  int threads = 0, inflight = 0;
  bool async = true;
  int64_t operations = 0;
  double ops_per_sec = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, p999_ms = 0;
  int64_t allowed = 0, denied = 0, errors = 0;
  std::map<std::string, double> calls_per_op;
  double rcu_per_op = 0, wcu_per_op = 0;
  double cost_per_million_usd = 0;
  double client_cpu_us_per_op = 0;
  // Resident memory when the measured phase starts and ends: growth over a
  // long --ops run is a leak (latencies go to a fixed-size histogram).
  double rss_start_mb = 0, rss_end_mb = 0;
  std::string first_error;
};

// Throws ValidationError for an unknown scenario or bad option values.
Result Run(std::shared_ptr<Store> store, const Options& options);

// One JSON object with the keys of issue #8 (scenario, store, threads,
// inflight, mode, operations, ops_per_sec, latency_ms{p50,p95,p99,p999}, allowed,
// denied, errors, calls_per_op, rcu_per_op, wcu_per_op,
// cost_per_million_usd, client_cpu_us_per_op).
std::string ToJson(const Result& r);
std::string ToTable(const std::vector<Result>& results);

}  // namespace zae::bench

#endif  // ZAE_BENCH_BENCH_H_

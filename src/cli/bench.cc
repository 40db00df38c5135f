// zae-limiter bench: the load tool (src/bench) against any store URL.
#include <iostream>

#include "bench/bench.h"
#include "cli/app.h"
#include "server/load_client.h"

namespace zae::cli {
namespace {

struct BenchArgs {
  std::vector<std::string> scenarios = {"multi"};
  int threads = 1;
  int inflight = 1;
  std::string mode = "async";
  double duration = 5;
  int64_t ops = 0;
  int entities = 100;
  std::string period = "minute";
  double warmup = 1;
  uint64_t seed = 1;
  double wcu_price = 0.625;
  double rcu_price = 0.125;
  std::string target;
  int server_pid = 0;
  int keys = 100;
  std::string domain = "bench";
  std::string key = "api_key";
  std::string lease;  // RESOURCE:LIMIT
};

// bench --target: a running server instead of a store.
int RunTarget(Context& ctx, const BenchArgs& a) {
  server::LoadOptions o;
  o.target = a.target;
  o.inflight = a.threads * a.inflight;
  o.duration_seconds = a.duration;
  o.warmup_seconds = a.warmup;
  o.keys = a.keys;
  o.domain = a.domain;
  o.key = a.key;
  o.server_pid = a.server_pid;
  if (!a.lease.empty()) {
    const size_t colon = a.lease.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == a.lease.size()) {
      throw CommandError("--lease wants RESOURCE:LIMIT, got '" + a.lease + "'", kExitUsage);
    }
    o.lease_resource = a.lease.substr(0, colon);
    o.lease_limit = a.lease.substr(colon + 1);
  }
  o.progress = [&ctx](const std::string& line) { ctx.err() << "\r" << line << std::flush; };
  server::LoadResult r;
  try {
    r = server::RunLoad(o);
  } catch (const std::invalid_argument& e) {
    throw CommandError(e.what(), kExitUsage);
  }
  ctx.err() << "\r" << std::string(78, ' ') << "\r" << std::flush;
  if (ctx.json()) {
    ctx.out() << server::ToJson(r) << "\n";
  } else {
    ctx.out() << server::ToTable(r);
  }
  return r.errors > 0 ? static_cast<int>(kExitError) : static_cast<int>(kExitOk);
}

}  // namespace

void AddBenchCommand(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<BenchArgs>();
  std::string help = "Measure acquire throughput, latency, store calls and cost. Scenarios:";
  for (const auto& s : bench::Scenarios()) help += "\n  " + s + ": " + bench::DescribeScenario(s);
  CLI::App* cmd = app.add_subcommand("bench", help);
  cmd->add_option("-s,--scenario", a->scenarios, "Scenario(s) to run, or 'all' (default: multi)")
      ->delimiter(',');
  cmd->add_option("--threads", a->threads, "Client threads")->check(CLI::Range(1, 256));
  cmd->add_option("--inflight", a->inflight,
                  "Requests in flight per thread (requests, not threads, in async mode)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--mode", a->mode,
                  "async: each thread keeps --inflight requests in flight through the "
                  "asynchronous API; threads: one worker thread per request, synchronous API")
      ->check(CLI::IsMember({"async", "threads"}));
  cmd->add_option("--duration", a->duration, "Seconds per scenario")->check(CLI::PositiveNumber);
  cmd->add_option("--ops", a->ops, "Stop after this many operations instead of --duration")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--entities", a->entities, "Entities for many-entities")
      ->check(CLI::Range(1, 10'000'000));
  cmd->add_option("--period", a->period,
                  "Refill period of the scenarios' limits: minute (TTL refresh every 7 min) or "
                  "second (every 7 s, the slow path's share grows)")
      ->check(CLI::IsMember({"second", "minute"}));
  cmd->add_option("--warmup", a->warmup, "Warm-up seconds before measuring")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", a->seed, "Random seed");
  cmd->add_option("--wcu-price", a->wcu_price, "USD per million write units")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--rcu-price", a->rcu_price, "USD per million read units")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--target", a->target,
                  "Drive a running 'zae-limiter serve' instead of a store: grpc://HOST:PORT "
                  "(ShouldRateLimit, --threads x --inflight calls in flight from one thread) "
                  "or http://HOST:PORT (POST /json, one connection per call in flight)");
  cmd->add_option("--server-pid", a->server_pid,
                  "With --target: the server's pid, to report its CPU per call")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--keys", a->keys, "With --target: distinct descriptor values")
      ->check(CLI::Range(1, 10'000'000));
  cmd->add_option("--domain", a->domain, "With --target: the request's domain")
      ->capture_default_str();
  cmd->add_option("--descriptor-key", a->key, "With --target: the descriptor entry's key")
      ->capture_default_str();
  cmd->add_option("--lease", a->lease,
                  "With an http:// --target: time the lease round trip instead (POST "
                  "/v1/acquire of 1 LIMIT on RESOURCE for key k<i>, then commit), RESOURCE:LIMIT");
  OnRun(cmd, ctx, [&ctx, a] {
    if (!a->target.empty()) return RunTarget(ctx, *a);
    std::vector<std::string> names = a->scenarios;
    if (names.size() == 1 && names[0] == "all") names = bench::Scenarios();
    for (const auto& n : names) {
      if (bench::DescribeScenario(n).empty()) {
        throw CommandError("unknown scenario '" + n + "' (see zae-limiter bench --help)",
                           kExitUsage);
      }
    }
    std::vector<bench::Result> results;
    for (const auto& n : names) {
      bench::Options o;
      o.scenario = n;
      o.threads = a->threads;
      o.inflight = a->inflight;
      o.async = a->mode == "async";
      o.duration_seconds = a->duration;
      o.ops = a->ops;
      o.entities = a->entities;
      o.limit_period = a->period;
      o.warmup_seconds = a->warmup;
      o.seed = a->seed;
      o.wcu_price_per_million = a->wcu_price;
      o.rcu_price_per_million = a->rcu_price;
      o.progress = [&ctx](const std::string& line) { ctx.err() << "\r" << line << std::flush; };
      results.push_back(bench::Run(ctx.store(), o));
      ctx.err() << "\r" << std::string(78, ' ') << "\r" << std::flush;
    }
    if (ctx.json()) {  // one document: an object, or an array of them
      std::string doc = names.size() == 1 ? "" : "[";
      for (size_t i = 0; i < results.size(); ++i) {
        doc += (i ? "," : "") + bench::ToJson(results[i]);
      }
      ctx.out() << doc << (names.size() == 1 ? "" : "]") << "\n";
    } else {
      ctx.out() << "store: " << ctx.store()->Describe() << "\n" << bench::ToTable(results);
    }
    for (const auto& r : results) {
      if (r.errors > 0) return static_cast<int>(kExitError);
    }
    return static_cast<int>(kExitOk);
  });
}

}  // namespace zae::cli

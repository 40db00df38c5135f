#include "bench/bench.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "bench/histogram.h"
#include "core/process_stats.h"
#include "zae/errors.h"
#include "zae/rate_limiter.h"

namespace zae::bench {
namespace {

// Written by the noop scenario so the compiler keeps its loop.
std::atomic<uint64_t> benchmark_sink_atomic{0};
thread_local uint64_t benchmark_sink = 0;

using Clock = std::chrono::steady_clock;

const std::map<std::string, std::string>& Descriptions() {
  static const std::map<std::string, std::string> d = {
      {"single", "one limit (rpm), each worker its own entity"},
      {"multi", "rpm + tpm in one acquire"},
      {"cascade", "API keys cascading to one project (two buckets per acquire)"},
      {"adjust", "acquire rpm + tpm, then adjust tpm with the real cost"},
      {"stored", "limits stored per entity, config cache warm"},
      {"stored-cold", "limits stored per entity, config cache off (read every time)"},
      {"many-entities", "round robin over --entities entities"},
      {"hot", "every worker on one bucket"},
      {"deny", "a limit of 1 per hour: almost everything denied"},
      {"noop", "the load loop alone, no limiter call: this tool's own cost per operation"},
  };
  return d;
}

// Resident set size now (not the peak), in MiB.
double RssMb() { return ProcessResidentBytes() / (1 << 20); }

struct Counters {
  std::atomic<int64_t> ops{0}, allowed{0}, denied{0}, errors{0};
  std::mutex mu;
  std::string first_error;
};

// A worker's own counts, added to the shared Counters in batches: at a
// few million operations per second, one shared atomic per operation would
// cost more than the operation and bounce between cores.
struct Local {
  int64_t allowed = 0, denied = 0;
};

// Operations between flushes of Local and checks of the clock.
constexpr int64_t kBatch = 256;
// One operation in kSampleEvery is timed (two clock reads each).
constexpr int64_t kSampleEvery = 8;

using Op = std::function<void(int worker, int64_t i, Local&)>;

// What one operation of a scenario does: acquire `consume` on
// entity(worker, i), then adjust by `adjust` (when not empty) and commit.
struct Scenario {
  RateLimiter* limiter = nullptr;
  std::function<const std::string&(int, int64_t)> entity;
  Amounts consume;
  Amounts adjust;
  bool noop = false;
};

// Builds the scenario's data. Entity names are made here, once, not per
// operation.
Scenario Setup(RateLimiter& limiter, std::unique_ptr<RateLimiter>& cold, const Options& o,
               int workers) {
  // Large enough that nothing is denied but the deny scenario.
  const bool per_second = o.limit_period == "second";
  auto big_limit = [per_second](const char* name) {
    return per_second ? Limit::PerSecond(name, 1'000'000'000'000)
                      : Limit::PerMinute(name, 1'000'000'000'000);
  };
  const std::vector<Limit> big = {big_limit("rpm"), big_limit("tpm")};
  auto names = [](const std::string& prefix, int n) {
    auto out = std::make_shared<std::vector<std::string>>();
    for (int i = 0; i < n; ++i) out->push_back(prefix + std::to_string(i));
    return out;
  };
  const auto worker_names = names("e-", workers);
  auto per_worker = [worker_names](int w, int64_t) -> const std::string& {
    return (*worker_names)[static_cast<size_t>(w)];
  };
  const std::string& s = o.scenario;
  if (s == "deny") {
    limiter.SetResourceDefaults("bench", {Limit::PerHour("rpm", 1)});
  } else {
    limiter.SetResourceDefaults("bench", big);
  }
  Scenario sc{&limiter, per_worker, {{"rpm", 1}}, {}, false};
  if (s == "single" || s == "deny") return sc;
  if (s == "multi") {
    sc.consume = {{"rpm", 1}, {"tpm", 100}};
    return sc;
  }
  if (s == "noop") {
    sc.noop = true;
    return sc;
  }
  if (s == "hot") {
    static const std::string hot = "hot";
    sc.entity = [](int, int64_t) -> const std::string& { return hot; };
    return sc;
  }
  if (s == "many-entities") {
    const int n = o.entities;
    const auto all = names("e-", n);
    sc.entity = [all, n, workers](int w, int64_t i) -> const std::string& {
      return (*all)[static_cast<size_t>((i * workers + w) % n)];
    };
    return sc;
  }
  if (s == "cascade") {
    limiter.CreateEntity("proj", {});
    for (int w = 0; w < workers; ++w) {
      limiter.CreateEntity("key-" + std::to_string(w), {.parent_id = "proj", .cascade = true});
    }
    const auto keys = names("key-", workers);
    sc.entity = [keys](int w, int64_t) -> const std::string& {
      return (*keys)[static_cast<size_t>(w)];
    };
    return sc;
  }
  if (s == "adjust") {
    sc.consume = {{"rpm", 1}, {"tpm", 100}};
    sc.adjust = {{"tpm", 50}};
    return sc;
  }
  if (s == "stored" || s == "stored-cold") {
    for (int w = 0; w < workers; ++w) limiter.SetLimits("e-" + std::to_string(w), big, "bench");
    if (s == "stored-cold") sc.limiter = cold.get();
    return sc;
  }
  throw ValidationError("scenario", s, "unknown scenario");
}

// The synchronous operation: one worker thread per request in flight.
Op SyncOp(const Scenario& sc) {
  if (sc.noop) {
    return [](int, int64_t i, Local& c) {
      benchmark_sink = benchmark_sink + static_cast<uint64_t>(i);
      ++c.allowed;
    };
  }
  return [sc](int w, int64_t i, Local& c) {
    AcquireResult r = sc.limiter->Acquire(sc.entity(w, i), "bench", sc.consume);
    if (!r) {
      ++c.denied;
      return;
    }
    ++c.allowed;
    if (!sc.adjust.empty()) r.lease().Adjust(sc.adjust);
    r.lease().Commit();
  };
}

// One client thread of the asynchronous mode: keeps `inflight` operations
// in flight through the async API. An operation's completion starts the
// next one itself, on whatever thread completes it (DynamoDB's I/O thread,
// SQLite's writer thread), as a caller on an event loop would: handing each
// completion back to this thread cost a wakeup of it and of the I/O thread
// per operation. A completion that runs inline, inside the call that
// started it (memory, a denial decided without the store), hands its slot
// back to this thread's loop instead, so the stack stays flat. Counts are
// atomic and the latency histogram has a lock (one operation in
// kSampleEvery takes it).
struct AsyncClient {
  std::atomic<int64_t> allowed{0}, denied{0}, errors{0};
  std::atomic<int64_t> next{0};   // the next operation's index
  std::atomic<bool> over{false};  // a completion found the phase over
  std::mutex mu;                  // for first_error and the histogram
  std::string first_error;
  std::mutex slots_mu;
  std::condition_variable slots_cv;
  int free_slots = 0;

  void TakeSlot() {
    std::unique_lock lock(slots_mu);
    slots_cv.wait(lock, [&] { return free_slots > 0; });
    --free_slots;
  }
  // Notifies under the lock: the last slot given back lets WaitAll's thread
  // return and destroy this object, so nothing may touch it after unlocking.
  void GiveSlot() {
    std::lock_guard lock(slots_mu);
    ++free_slots;
    slots_cv.notify_one();
  }
  void WaitAll(int inflight) {
    std::unique_lock lock(slots_mu);
    slots_cv.wait(lock, [&] { return free_slots == inflight; });
  }
};

// Inside an AsyncClient's start of an operation on this thread: a
// completion seen here ran inline.
thread_local int t_starting = 0;

}  // namespace

const std::vector<std::string>& Scenarios() {
  static const std::vector<std::string> names = {"single",        "multi",  "cascade",
                                                 "adjust",        "stored", "stored-cold",
                                                 "many-entities", "hot",    "deny"};
  return names;
}

std::string DescribeScenario(const std::string& name) {
  auto it = Descriptions().find(name);
  return it == Descriptions().end() ? "" : it->second;
}

Result Run(std::shared_ptr<Store> store, const Options& o) {
  if (!Descriptions().count(o.scenario)) {
    throw ValidationError("scenario", o.scenario, "unknown scenario (see --help)");
  }
  if (o.threads < 1 || o.threads > 256) throw ValidationError("threads", "", "must be 1..256");
  if (o.inflight < 1 || o.inflight > 256) throw ValidationError("inflight", "", "must be 1..256");
  if (o.ops <= 0 && o.duration_seconds <= 0) {
    throw ValidationError("duration", "", "give a positive --duration or --ops");
  }
  if (o.entities < 1) throw ValidationError("entities", "", "must be positive");
  if (o.limit_period != "second" && o.limit_period != "minute") {
    throw ValidationError("limit_period", o.limit_period, "must be 'second' or 'minute'");
  }
  const int workers = o.threads * o.inflight;
  std::mt19937_64 rng(o.seed ^ static_cast<uint64_t>(Clock::now().time_since_epoch().count()));
  RateLimiterOptions lo;
  lo.namespace_name = "bench-" + o.scenario + "-" + std::to_string(rng() % 1'000'000'000);
  // The benchmark measures the store under load, where queueing is part of
  // the latency it reports; a call failing its deadline would hide it.
  lo.timeout = std::chrono::seconds(60);
  auto limiter = RateLimiter::Open(store, lo);
  lo.config_cache_ttl_seconds = 0;
  std::unique_ptr<RateLimiter> cold = RateLimiter::Open(store, lo);
  const Scenario scenario = Setup(*limiter, cold, o, workers);
  const Op op = SyncOp(scenario);

  // The asynchronous mode: o.threads client threads, each keeping
  // o.inflight operations in flight. Worker w = thread * inflight + slot
  // names the entity, as in the threads mode.
  auto async_client = [&](int t, const std::atomic<bool>& stop, int64_t max_ops, auto deadline,
                          Counters& c, Histogram* lat) {
    AsyncClient client;
    client.free_slots = o.inflight;
    auto fail = [&client](std::exception_ptr e) {
      ++client.errors;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::lock_guard lock(client.mu);
        if (client.first_error.empty()) client.first_error = ex.what();
      }
    };
    // A completion's claim on one more operation: false once the phase is
    // over (then the slot goes back and the loop below stops too).
    auto claim_next = [&]() -> bool {
      const bool more = !stop.load(std::memory_order_relaxed) &&
                        (max_ops > 0 ? c.ops.fetch_add(1) < max_ops : Clock::now() < deadline);
      if (!more) client.over.store(true, std::memory_order_relaxed);
      return more;
    };
    std::function<void(int64_t)> start;
    // An operation is over: start the next one here, unless this runs
    // inline in start() or the phase is over.
    auto done = [&](bool timed, Clock::time_point t0) {
      if (timed) {
        const int64_t ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
        std::lock_guard lock(client.mu);
        lat->Add(ns);
      }
      if (t_starting == 0 && claim_next()) {
        start(client.next.fetch_add(1, std::memory_order_relaxed));
      } else {
        client.GiveSlot();
      }
    };
    start = [&](int64_t i) {
      const int w = t * o.inflight + static_cast<int>(i % o.inflight);
      if (scenario.noop) {
        benchmark_sink = benchmark_sink + static_cast<uint64_t>(i);
        ++client.allowed;
        client.GiveSlot();
        return;
      }
      const bool timed = lat && i % kSampleEvery == 0;
      const auto t0 = timed ? Clock::now() : Clock::time_point();
      ++t_starting;
      scenario.limiter->AcquireAsync(
          scenario.entity(w, i), "bench", scenario.consume,
          [&client, &scenario, &done, fail, timed, t0](AcquireResult* r, std::exception_ptr e) {
            if (e) {
              fail(e);
            } else if (!r->allowed()) {
              ++client.denied;
            } else {
              ++client.allowed;
              if (!scenario.adjust.empty()) {
                Lease lease = r->take_lease();
                lease.Adjust(scenario.adjust);
                lease.CommitAsync([&done, fail, timed, t0](std::exception_ptr ce) {
                  if (ce) fail(ce);
                  done(timed, t0);
                });
                return;
              }
            }
            done(timed, t0);  // an unadjusted lease commits writing nothing
          });
      --t_starting;
    };
    int64_t claimed = 0;
    for (int64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
      if (max_ops > 0 && claimed == 0) {
        const int64_t base = c.ops.fetch_add(kBatch);
        if (base >= max_ops) break;
        claimed = std::min(kBatch, max_ops - base);
      }
      client.TakeSlot();
      // With --ops, operations this loop claimed are still its to run.
      if (max_ops <= 0 && client.over.load(std::memory_order_relaxed)) {
        client.GiveSlot();
        break;
      }
      start(client.next.fetch_add(1, std::memory_order_relaxed));
      if (max_ops > 0) --claimed;
      if ((n + 1) % kBatch == 0) {
        if (max_ops <= 0 && Clock::now() >= deadline) break;
      }
    }
    client.WaitAll(o.inflight);
    c.allowed += client.allowed.load();
    c.denied += client.denied.load();
    c.errors += client.errors.load();
    if (!client.first_error.empty()) {
      std::lock_guard lock(c.mu);
      if (c.first_error.empty()) c.first_error = client.first_error;
    }
    benchmark_sink_atomic += benchmark_sink;
  };

  auto run_phase = [&](double seconds, int64_t max_ops, bool measure, Counters& c,
                       std::vector<Histogram>* lat) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; o.async && t < o.threads; ++t) {
      threads.emplace_back([&, t] {
        async_client(t, stop, max_ops, deadline, c,
                     lat ? &(*lat)[static_cast<size_t>(t)] : nullptr);
      });
    }
    for (int w = 0; !o.async && w < workers; ++w) {
      threads.emplace_back([&, w] {
        Local local;
        auto flush = [&] {
          c.allowed += local.allowed;
          c.denied += local.denied;
          local = {};
        };
        int64_t claimed = 0;  // operations this worker may still run (--ops)
        for (int64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
          if (max_ops > 0 && claimed == 0) {
            const int64_t base = c.ops.fetch_add(kBatch);
            if (base >= max_ops) break;
            claimed = std::min(kBatch, max_ops - base);
          }
          const bool timed = lat && i % kSampleEvery == 0;
          const auto t0 = timed ? Clock::now() : Clock::time_point();
          try {
            op(w, i, local);
          } catch (const std::exception& e) {
            ++c.errors;
            std::lock_guard lock(c.mu);
            if (c.first_error.empty()) c.first_error = e.what();
          }
          if (timed) {
            (*lat)[static_cast<size_t>(w)].Add(
                std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
          }
          if (max_ops > 0) --claimed;
          if ((i + 1) % kBatch == 0) {
            flush();
            if (max_ops <= 0 && Clock::now() >= deadline) break;
          }
        }
        flush();
        benchmark_sink_atomic += benchmark_sink;
      });
    }
    auto last = Clock::now();
    while (true) {
      bool done = true;
      for (auto& t : threads) done &= !t.joinable();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const bool finished = max_ops > 0
                                ? c.allowed.load() + c.denied.load() + c.errors.load() >= max_ops
                                : Clock::now() >= deadline;
      if (measure && o.progress && Clock::now() - last >= std::chrono::seconds(1)) {
        last = Clock::now();
        char line[160];
        std::snprintf(line, sizeof line, "%s: %lld ops, %lld allowed, %lld denied, %lld errors",
                      o.scenario.c_str(),
                      static_cast<long long>(c.allowed.load() + c.denied.load() + c.errors.load()),
                      static_cast<long long>(c.allowed.load()),
                      static_cast<long long>(c.denied.load()),
                      static_cast<long long>(c.errors.load()));
        o.progress(line);
      }
      if (finished || done) break;
    }
    stop = true;
    for (auto& t : threads) t.join();
  };

  if (o.warmup_seconds > 0) {
    Counters warm;
    run_phase(o.warmup_seconds, 0, false, warm, nullptr);
  }
  Counters c;
  std::vector<Histogram> lat(static_cast<size_t>(workers));
  store->ResetStats();
  const double rss0 = RssMb();
  const double cpu0 = ProcessCpuSeconds();
  const auto t0 = Clock::now();
  run_phase(o.ops > 0 ? 1e9 : o.duration_seconds, o.ops, true, c, &lat);
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = ProcessCpuSeconds() - cpu0;
  const StoreStats stats = store->stats();
  const double rss1 = RssMb();

  Result r;
  r.scenario = o.scenario;
  r.store = store->Describe();
  r.threads = o.threads;
  r.inflight = o.inflight;
  r.async = o.async;
  r.allowed = c.allowed;
  r.denied = c.denied;
  r.errors = c.errors;
  r.operations = r.allowed + r.denied + r.errors;
  r.first_error = c.first_error;
  r.ops_per_sec = wall > 0 ? static_cast<double>(r.operations) / wall : 0;
  Histogram all;
  for (const Histogram& h : lat) all.Merge(h);
  // Sampled latencies, in nanoseconds.
  r.p50_ms = all.Percentile(0.50) / 1e6;
  r.p95_ms = all.Percentile(0.95) / 1e6;
  r.p99_ms = all.Percentile(0.99) / 1e6;
  r.p999_ms = all.Percentile(0.999) / 1e6;
  r.rss_start_mb = rss0;
  r.rss_end_mb = rss1;
  const double n = std::max<double>(1, static_cast<double>(r.operations));
  for (const auto& [name, calls] : stats.calls)
    r.calls_per_op[name] = static_cast<double>(calls) / n;
  r.rcu_per_op = stats.read_units / n;
  r.wcu_per_op = stats.write_units / n;
  r.cost_per_million_usd =
      r.rcu_per_op * o.rcu_price_per_million + r.wcu_per_op * o.wcu_price_per_million;
  r.client_cpu_us_per_op = cpu * 1e6 / n;
  return r;
}

std::string ToJson(const Result& r) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&](const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
  };
  auto num = [&](const char* k, double v) {
    w.Key(k);
    w.Double(v);
  };
  auto count = [&](const char* k, int64_t v) {
    w.Key(k);
    w.Int64(v);
  };
  auto object = [&](const char* k, const std::vector<std::pair<const char*, double>>& fields) {
    w.Key(k);
    w.StartObject();
    for (const auto& [name, v] : fields) num(name, v);
    w.EndObject();
  };
  w.StartObject();
  str("scenario", r.scenario);
  str("store", r.store);
  count("threads", r.threads);
  count("inflight", r.inflight);
  str("mode", r.async ? "async" : "threads");
  count("operations", r.operations);
  num("ops_per_sec", r.ops_per_sec);
  object("latency_ms",
         {{"p50", r.p50_ms}, {"p95", r.p95_ms}, {"p99", r.p99_ms}, {"p999", r.p999_ms}});
  count("allowed", r.allowed);
  count("denied", r.denied);
  count("errors", r.errors);
  w.Key("calls_per_op");
  w.StartObject();
  for (const auto& [name, v] : r.calls_per_op) num(name.c_str(), v);
  w.EndObject();
  num("rcu_per_op", r.rcu_per_op);
  num("wcu_per_op", r.wcu_per_op);
  num("cost_per_million_usd", r.cost_per_million_usd);
  num("client_cpu_us_per_op", r.client_cpu_us_per_op);
  object("rss_mb", {{"start", r.rss_start_mb}, {"end", r.rss_end_mb}});
  if (!r.first_error.empty()) str("first_error", r.first_error);
  w.EndObject();
  return buf.GetString();
}

std::string ToTable(const std::vector<Result>& results) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-14s %5s %9s %10s %8s %8s %8s %8s %8s %7s %6s %6s %8s %8s\n",
                "scenario", "thr", "ops", "ops/s", "p50ms", "p95ms", "p99ms", "p999ms", "denied",
                "errors", "rcu", "wcu", "$/M", "cpu_us");
  out += line;
  for (const Result& r : results) {
    std::snprintf(line, sizeof line,
                  "%-14s %2dx%-2d %9lld %10.0f %8.3f %8.3f %8.3f %8.3f %8lld %7lld %6.2f %6.2f "
                  "%8.3f %8.1f\n",
                  r.scenario.c_str(), r.threads, r.inflight, static_cast<long long>(r.operations),
                  r.ops_per_sec, r.p50_ms, r.p95_ms, r.p99_ms, r.p999_ms,
                  static_cast<long long>(r.denied), static_cast<long long>(r.errors), r.rcu_per_op,
                  r.wcu_per_op, r.cost_per_million_usd, r.client_cpu_us_per_op);
    out += line;
    std::string calls = "  calls/op:";
    for (const auto& [name, v] : r.calls_per_op) {
      std::snprintf(line, sizeof line, " %s=%.2f", name.c_str(), v);
      calls += line;
    }
    std::snprintf(line, sizeof line, "  rss %.1f -> %.1f MiB", r.rss_start_mb, r.rss_end_mb);
    out += calls + line + "\n";
    if (!r.first_error.empty()) out += "  first error: " + r.first_error + "\n";
  }
  return out;
}

}  // namespace zae::bench

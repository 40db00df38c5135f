// Acquire+commit on a warm bucket through the whole limiter, per embedded
// store (the fast path: one conditional write), and with one and two
// limits. Run: build/release/bench/zae_limiter_bench
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "zae/memory_store.h"
#include "zae/rate_limiter.h"
#include "zae/sqlite_store.h"

namespace {

std::shared_ptr<zae::Store> MakeStore(int kind) {
  if (kind == 0) return std::make_shared<zae::MemoryStore>();
  const std::string path = "/tmp/zae-bench-" + std::to_string(getpid()) + ".db";
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  return std::make_shared<zae::SqliteStore>(path);
}

void BM_AcquireCommit(benchmark::State& st) {
  auto store = MakeStore(static_cast<int>(st.range(0)));
  const bool two = st.range(1) == 2;
  zae::RateLimiterOptions options;
  if (st.range(2) == 0) options.usage = zae::UsageTracking::kOff;
  auto limiter = zae::RateLimiter::Open(store, options);
  std::vector<zae::Limit> limits = {zae::Limit::PerSecond("rpm", 1'000'000'000)};
  if (two) limits.push_back(zae::Limit::PerSecond("tpm", 1'000'000'000));
  limiter->SetResourceDefaults("res", limits);
  zae::Amounts consume = {{"rpm", 1}};
  if (two) consume["tpm"] = 100;
  int64_t denied = 0;
  for (auto _ : st) {
    auto r = limiter->Acquire("key", "res", consume);
    if (r) {
      r.lease().Commit();
    } else {
      ++denied;
    }
  }
  st.counters["denied"] = static_cast<double>(denied);
  st.SetItemsProcessed(st.iterations());
  st.SetLabel(std::string(st.range(0) == 0 ? "memory" : "sqlite") + (two ? " rpm+tpm" : " rpm") +
              (st.range(2) == 0 ? ", usage off" : ""));
}
// Args: store (0 memory, 1 SQLite), limits (1 or 2), inline usage snapshots (1 on, 0 off).
BENCHMARK(BM_AcquireCommit)->ArgsProduct({{0, 1}, {1, 2}, {1, 0}});

// Heap bytes per bucket on the memory store: one acquire each on 20,000 new
// entities (the bucket item, the limiter's cache entries, and with usage on
// the hourly and daily snapshot items). Arg: inline usage (1 on, 0 off).
void BM_MemoryPerBucket(benchmark::State& st) {
  constexpr int kBuckets = 20000;
  double bytes = 0;
  for (auto _ : st) {
    auto store = std::make_shared<zae::MemoryStore>();
    zae::RateLimiterOptions options;
    if (st.range(0) == 0) options.usage = zae::UsageTracking::kOff;
    auto limiter = zae::RateLimiter::Open(store, options);
    limiter->SetResourceDefaults("res", {zae::Limit::PerSecond("rpm", 1'000'000)});
    const size_t before = mallinfo2().uordblks;
    for (int i = 0; i < kBuckets; ++i) {
      limiter->Acquire("entity-" + std::to_string(i), "res", {{"rpm", 1}}).lease().Commit();
    }
    bytes = static_cast<double>(mallinfo2().uordblks - before) / kBuckets;
  }
  st.counters["bytes_per_bucket"] = bytes;
  st.SetLabel(st.range(0) == 0 ? "memory, usage off" : "memory, usage on");
}
BENCHMARK(BM_MemoryPerBucket)->Arg(1)->Arg(0)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

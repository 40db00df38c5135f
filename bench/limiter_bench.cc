// Acquire+commit on a warm bucket through the whole limiter, per embedded
// store (the fast path: one conditional write), and with one and two
// limits. Run: build/release/bench/zae_limiter_bench
#include <benchmark/benchmark.h>
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
  auto limiter = zae::RateLimiter::Open(store);
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
  st.SetLabel(std::string(st.range(0) == 0 ? "memory" : "sqlite") + (two ? " rpm+tpm" : " rpm"));
}
BENCHMARK(BM_AcquireCommit)->Args({0, 1})->Args({0, 2})->Args({1, 1})->Args({1, 2});

}  // namespace

BENCHMARK_MAIN();

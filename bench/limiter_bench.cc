// Acquire+commit on a warm bucket through the whole limiter, per embedded
// store (the typed warm path: one BucketWrite), with one and two limits,
// usage snapshots on and off; two threads on two buckets; a warm denial;
// heap allocations per operation (a counting operator new) and heap bytes
// per bucket. Run: build/release/bench/zae_limiter_bench
#include <benchmark/benchmark.h>

#include <malloc.h>
#include <unistd.h>
#include "calibration.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <new>

#include "zae/memory_store.h"
#include "zae/rate_limiter.h"
#include "zae/sqlite_store.h"

// The replacement operator new below allocates with malloc, so free is its
// matching release; GCC cannot see that through the replacement.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Every heap allocation of this process is counted, so each benchmark can
// report allocations per operation measured, not assumed.
namespace {
std::atomic<int64_t> g_allocations{0};
}  // namespace

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace {

std::shared_ptr<zae::Store> MakeStore(int kind) {
  if (kind == 0) return std::make_shared<zae::MemoryStore>();
  const std::string path = "/tmp/zae-bench-" + std::to_string(getpid()) + ".db";
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  return std::make_shared<zae::SqliteStore>(path);
}

// Allocations per iteration of the timed loop (the counter is global, so
// with several threads it is the process's total over all iterations).
class AllocationCounter {
 public:
  AllocationCounter() : start_(g_allocations.load()) {}
  double PerOp(const benchmark::State& st) const {
    return static_cast<double>(g_allocations.load() - start_) /
           static_cast<double>(std::max<int64_t>(1, st.iterations()));
  }

 private:
  int64_t start_;
};

std::unique_ptr<zae::RateLimiter> OpenLimiter(std::shared_ptr<zae::Store> store, bool usage,
                                              bool two) {
  zae::RateLimiterOptions options;
  if (!usage) options.usage = zae::UsageTracking::kOff;
  auto limiter = zae::RateLimiter::Open(std::move(store), options);
  std::vector<zae::Limit> limits = {zae::Limit::PerSecond("rpm", 1'000'000'000)};
  if (two) limits.push_back(zae::Limit::PerSecond("tpm", 1'000'000'000));
  limiter->SetResourceDefaults("res", limits);
  return limiter;
}

void BM_AcquireCommit(benchmark::State& st) {
  const bool two = st.range(1) == 2;
  auto limiter = OpenLimiter(MakeStore(static_cast<int>(st.range(0))), st.range(2) == 1, two);
  zae::Amounts consume = {{"rpm", 1}};
  if (two) consume["tpm"] = 100;
  limiter->Acquire("key", "res", consume).lease().Commit();  // warm: verified by the slow path
  int64_t denied = 0;
  AllocationCounter allocs;
  for (auto _ : st) {
    auto r = limiter->Acquire("key", "res", consume);
    if (r) {
      r.lease().Commit();
    } else {
      ++denied;
    }
  }
  st.counters["allocs_per_op"] = allocs.PerOp(st);
  st.counters["denied"] = static_cast<double>(denied);
  st.SetItemsProcessed(st.iterations());
  st.SetLabel(std::string(st.range(0) == 0 ? "memory" : "sqlite") + (two ? " rpm+tpm" : " rpm") +
              (st.range(2) == 0 ? ", usage off" : ""));
}
// Args: store (0 memory, 1 SQLite), limits (1 or 2), inline usage snapshots (1 on, 0 off).
BENCHMARK(BM_AcquireCommit)->ArgsProduct({{0, 1}, {1, 2}, {1, 0}});

// Threads on the memory store, each on its own bucket (entity key-<thread>):
// what unrelated buckets cost each other. items_per_second is the total.
// Arg: inline usage (1 on, 0 off).
void BM_AcquireCommitThreads(benchmark::State& st) {
  static std::shared_ptr<zae::RateLimiter> shared;
  if (st.thread_index() == 0) shared = OpenLimiter(MakeStore(0), st.range(0) == 1, false);
  // Google Benchmark starts every thread's loop together, after setup.
  const std::string entity = "key-" + std::to_string(st.thread_index());
  const zae::Amounts consume = {{"rpm", 1}};
  int64_t denied = 0;
  for (auto _ : st) {
    auto r = shared->Acquire(entity, "res", consume);
    if (r) {
      r.lease().Commit();
    } else {
      ++denied;
    }
  }
  st.counters["denied"] = static_cast<double>(denied);
  st.SetItemsProcessed(st.iterations());
  st.SetLabel(st.range(0) == 1 ? "memory rpm" : "memory rpm, usage off");
}
BENCHMARK(BM_AcquireCommitThreads)->Arg(1)->Arg(0)->Threads(1)->Threads(2)->UseRealTime();

// A warm denial: the bucket is empty and refills far slower than the loop
// runs, so every acquire is refused from what the one typed write saw.
void BM_Denial(benchmark::State& st) {
  zae::RateLimiterOptions options;
  options.usage = zae::UsageTracking::kOff;
  auto limiter = zae::RateLimiter::Open(MakeStore(static_cast<int>(st.range(0))), options);
  limiter->SetResourceDefaults("res", {zae::Limit::PerHour("rpm", 1)});
  limiter->Acquire("key", "res", {{"rpm", 1}}).lease().Commit();  // empties the bucket
  const zae::Amounts consume = {{"rpm", 1}};
  int64_t allowed = 0;
  AllocationCounter allocs;
  for (auto _ : st) {
    auto r = limiter->Acquire("key", "res", consume);
    allowed += r.allowed();
    benchmark::DoNotOptimize(r);
  }
  st.counters["allocs_per_op"] = allocs.PerOp(st);
  st.counters["allowed"] = static_cast<double>(allowed);
  st.SetItemsProcessed(st.iterations());
  st.SetLabel(st.range(0) == 0 ? "memory" : "sqlite");
}
BENCHMARK(BM_Denial)->Arg(0)->Arg(1);

// Heap bytes per bucket on the memory store: one acquire each on 20,000 new
// entities (the bucket item, the limiter's cache entries, and with usage on
// the hourly and daily snapshot items). Args: inline usage (1 on, 0 off),
// limits (1 or 2).
void BM_MemoryPerBucket(benchmark::State& st) {
  constexpr int kBuckets = 20000;
  double bytes = 0;
  const bool two = st.range(1) == 2;
  zae::Amounts consume = {{"rpm", 1}};
  if (two) consume["tpm"] = 1;
  double store_bytes = 0;
  for (auto _ : st) {
    auto store = MakeStore(0);
    auto limiter = OpenLimiter(store, st.range(0) == 1, two);
    const size_t before = mallinfo2().uordblks;
    for (int i = 0; i < kBuckets; ++i) {
      limiter->Acquire("entity-" + std::to_string(i), "res", consume).lease().Commit();
    }
    const size_t after = mallinfo2().uordblks;
    bytes = static_cast<double>(after - before) / kBuckets;
    // What stays once the limiter (and its caches) is gone: the store's share.
    const size_t limiter_before = mallinfo2().uordblks;
    limiter.reset();
    const double limiter_share =
        static_cast<double>(limiter_before - mallinfo2().uordblks) / kBuckets;
    store_bytes = bytes - limiter_share;
  }
  st.counters["bytes_per_bucket"] = bytes;
  st.counters["store_bytes"] = store_bytes;
  st.counters["limiter_cache_bytes"] = bytes - store_bytes;
  st.SetLabel(std::string(two ? "memory rpm+tpm" : "memory rpm") +
              (st.range(0) == 0 ? ", usage off" : ", usage on"));
}
BENCHMARK(BM_MemoryPerBucket)
    ->ArgsProduct({{1, 0}, {1, 2}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// ns/op of the pure token-bucket math: refill and try-consume for 1 and 4
// limits. Run: build/release/bench/zae_core_bench
#include <benchmark/benchmark.h>

#include "calibration.h"

#include <vector>

#include "zae/bucket.h"

namespace {

std::vector<zae::BucketState> Buckets(int n) {
  std::vector<zae::BucketState> v;
  for (int i = 0; i < n; ++i) {
    v.push_back(
        zae::BucketState::FromLimit(zae::Limit::PerMinute("l" + std::to_string(i), 1000 + i), 0));
  }
  return v;
}

void BM_Refill(benchmark::State& st) {
  auto buckets = Buckets(static_cast<int>(st.range(0)));
  int64_t now = 0;
  for (auto _ : st) {
    now += 7;
    for (auto& b : buckets) {
      zae::Refilled r = zae::Refill(b, now);
      benchmark::DoNotOptimize(r);
    }
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_Refill)->Arg(1)->Arg(4);

void BM_TryConsume(benchmark::State& st) {
  auto buckets = Buckets(static_cast<int>(st.range(0)));
  int64_t now = 0;
  for (auto _ : st) {
    now += 7;
    for (auto& b : buckets) {
      zae::ConsumeResult r = zae::TryConsume(b, 1, now);
      if (r.success) {
        b.tokens_milli = r.tokens_milli;
        b.last_refill_ms = r.refill_ms;
      }
      benchmark::DoNotOptimize(r);
    }
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_TryConsume)->Arg(1)->Arg(4);

}  // namespace

BENCHMARK_MAIN();

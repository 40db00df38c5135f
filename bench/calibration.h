// BM_Calibration: a fixed CPU workload (integer mixing and table lookups
// that stay in L1/L2) registered in every benchmark binary. The regression
// guard (scripts/bench_guard.py) divides each guarded figure by this one,
// measured in the same process, so the speed of the machine cancels out and
// only a change in our code moves the ratio.
#ifndef ZAE_BENCH_CALIBRATION_H_
#define ZAE_BENCH_CALIBRATION_H_

#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>

namespace zae::bench {

inline void BM_Calibration(benchmark::State& st) {
  std::array<uint64_t, 4096> table{};  // 32 KiB
  for (size_t i = 0; i < table.size(); ++i) table[i] = i * 0x9E3779B97F4A7C15ull;
  uint64_t x = 1;
  for (auto _ : st) {
    for (int i = 0; i < 256; ++i) {
      // splitmix64, then a dependent lookup and store.
      x += 0x9E3779B97F4A7C15ull;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      uint64_t& slot = table[(z ^ (z >> 31)) & (table.size() - 1)];
      slot += z;
      x ^= slot;
    }
    benchmark::DoNotOptimize(x);
  }
}
BENCHMARK(BM_Calibration);

}  // namespace zae::bench

#endif  // ZAE_BENCH_CALIBRATION_H_

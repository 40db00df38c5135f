// A fixed-size latency histogram, so a long benchmark run records every
// operation without its memory growing (the steady-memory check reads RSS):
// exact below 64 units, then 64 linear sub-buckets per power of two (under 1.6%
// relative error). The unit is the caller's (the bench tool records ns).
// Thread-compatible: one per worker, merged at the end.
#ifndef ZAE_BENCH_HISTOGRAM_H_
#define ZAE_BENCH_HISTOGRAM_H_

#include <array>
#include <cstdint>

namespace zae::bench {

class Histogram {
 public:
  void Add(int64_t micros);
  void Merge(const Histogram& other);
  int64_t count() const { return count_; }
  // The value below which a fraction `p` (0..1) of the samples lie, in µs:
  // the midpoint of the bucket holding that rank (0 when empty).
  double Percentile(double p) const;

 private:
  static constexpr int kSub = 64;                    // sub-buckets per power of two
  static constexpr int kBuckets = kSub + 57 * kSub;  // up to 2^63 µs
  static int IndexOf(int64_t micros);
  static double MidpointOf(int index);

  std::array<int64_t, kBuckets> counts_{};
  int64_t count_ = 0;
};

}  // namespace zae::bench

#endif  // ZAE_BENCH_HISTOGRAM_H_

#include "bench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace zae::bench {
namespace {

TEST(Histogram, EmptyIsZero) { EXPECT_EQ(Histogram().Percentile(0.5), 0); }

TEST(Histogram, ExactBelowSixtyFourMicroseconds) {
  Histogram h;
  for (int v = 0; v < 50; ++v) h.Add(v);
  EXPECT_EQ(h.count(), 50);
  EXPECT_EQ(h.Percentile(0), 0);
  EXPECT_EQ(h.Percentile(0.5), 25);
  EXPECT_EQ(h.Percentile(1), 49);
}

// Against sorting the samples, over many magnitudes: within 1.6%.
TEST(Histogram, PercentilesMatchSortedSamples) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(6, 2);  // ~400 µs median, long tail
  std::vector<int64_t> samples;
  Histogram a, b;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<int64_t>(dist(rng));
    samples.push_back(v);
    (i % 2 ? a : b).Add(v);
  }
  a.Merge(b);
  std::sort(samples.begin(), samples.end());
  for (double p : {0.01, 0.5, 0.95, 0.99, 0.999}) {
    const auto want = static_cast<double>(samples[static_cast<size_t>(p * 100000)]);
    EXPECT_NEAR(a.Percentile(p), want, std::max(1.0, want * 0.016)) << p;
  }
}

TEST(Histogram, HugeAndNegativeValuesAreClamped) {
  Histogram h;
  h.Add(-5);
  h.Add(INT64_MAX);
  EXPECT_EQ(h.Percentile(0), 0);
  EXPECT_GT(h.Percentile(1), 1e18);
}

}  // namespace
}  // namespace zae::bench

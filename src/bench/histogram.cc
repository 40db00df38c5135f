#include "bench/histogram.h"

#include <bit>
#include <cstddef>

namespace zae::bench {

int Histogram::IndexOf(int64_t micros) {
  if (micros < kSub) return micros < 0 ? 0 : static_cast<int>(micros);
  const auto v = static_cast<uint64_t>(micros);
  const int exp = std::bit_width(v) - 1;  // >= 6
  const int sub = static_cast<int>((v >> (exp - 6)) & (kSub - 1));
  return kSub + (exp - 6) * kSub + sub;
}

double Histogram::MidpointOf(int index) {
  if (index < kSub) return index;
  const int exp = (index - kSub) / kSub + 6;
  const int sub = (index - kSub) % kSub;
  const double width = static_cast<double>(uint64_t{1} << (exp - 6));
  return static_cast<double>(uint64_t{1} << exp) + sub * width + (width - 1) / 2;
}

void Histogram::Add(int64_t micros) {
  ++counts_[static_cast<std::size_t>(IndexOf(micros))];
  ++count_;
}

void Histogram::Merge(const Histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
}

double Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  // The same rank as indexing a sorted sample vector at floor(p * n).
  int64_t rank = static_cast<int64_t>(p * static_cast<double>(count_));
  if (rank >= count_) rank = count_ - 1;
  int64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen > rank) return MidpointOf(static_cast<int>(i));
  }
  return MidpointOf(kBuckets - 1);
}

}  // namespace zae::bench

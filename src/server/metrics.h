// The server's Prometheus metrics (GET /metrics; docs/server.md lists them).
//
// Every series has a fixed, small label set (API, endpoint, code, decision):
// no entity, key or descriptor value is ever a label, so the cardinality is
// bounded whatever clients send. Counters are relaxed atomics in fixed
// arrays, so recording takes no lock and allocates nothing; Render() reads
// them without stopping writers (a scrape may see one request's counters
// half-updated, as with any Prometheus client).
// Thread safety: every method may be called from any thread.
#ifndef ZAE_SERVER_METRICS_H_
#define ZAE_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace zae::server {

enum class Endpoint : uint8_t {
  kShouldRateLimit,  // gRPC ShouldRateLimit
  kJson,             // POST /json
  kAcquire,
  kAdjust,
  kCommit,
  kRelease,
  kAvailable,
  kCount
};

// Outcome of one request (the `code` label).
enum class Code : uint8_t {
  kOk,
  kOverLimit,
  kBadRequest,
  kNotFound,
  kTooLarge,
  kUnavailable,
  kInternal,
  kCount
};

// What the RLS answered for one descriptor.
enum class Decision : uint8_t {
  kOk,
  kOverLimit,
  kShadowOverLimit,  // over limit, answered OK (shadow rule)
  kUnmatched,        // no rule: OK without a limit
  kCount
};

class Metrics {
 public:
  // Latency buckets, seconds: sub-millisecond to the 20 ms Envoy waits and
  // past it.
  static constexpr std::array<double, 12> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.02,    0.05,   0.1,   0.5,    2.5};

  explicit Metrics(std::string version);

  void Request(Endpoint endpoint, Code code, double seconds);
  void Decide(Decision decision, uint64_t n = 1) {
    decisions_[static_cast<size_t>(decision)].fetch_add(n, std::memory_order_relaxed);
  }
  void Charged(int64_t tokens) {
    if (tokens > 0) tokens_charged_.fetch_add(uint64_t(tokens), std::memory_order_relaxed);
  }
  void StoreError() { store_errors_.fetch_add(1, std::memory_order_relaxed); }
  void Reload(bool ok) {
    (ok ? reloads_ok_ : reloads_failed_).fetch_add(1, std::memory_order_relaxed);
  }
  void SetOpenLeases(int64_t n) { open_leases_.store(n, std::memory_order_relaxed); }
  void SetReady(bool ready) { ready_.store(ready, std::memory_order_relaxed); }

  // Text exposition format 0.0.4; ends with a newline.
  std::string Render() const;
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  uint64_t requests(Endpoint endpoint, Code code) const {
    return requests_[Index(endpoint, code)].load(std::memory_order_relaxed);
  }
  uint64_t decisions(Decision d) const {
    return decisions_[static_cast<size_t>(d)].load(std::memory_order_relaxed);
  }

 private:
  static size_t Index(Endpoint e, Code c) {
    return static_cast<size_t>(e) * static_cast<size_t>(Code::kCount) + static_cast<size_t>(c);
  }
  static constexpr size_t kEndpoints = static_cast<size_t>(Endpoint::kCount);
  struct Histogram {
    std::array<std::atomic<uint64_t>, kBuckets.size()> buckets{};  // not cumulative
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_ns{0};
  };

  const std::string version_;
  const double start_time_seconds_;
  std::array<std::atomic<uint64_t>, kEndpoints* static_cast<size_t>(Code::kCount)> requests_{};
  std::array<Histogram, kEndpoints> latency_{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Decision::kCount)> decisions_{};
  std::atomic<uint64_t> tokens_charged_{0};
  std::atomic<uint64_t> store_errors_{0};
  std::atomic<uint64_t> reloads_ok_{0}, reloads_failed_{0};
  std::atomic<int64_t> open_leases_{0};
  std::atomic<bool> ready_{false};
};

// Prometheus label-value escaping: backslash, double quote and newline.
std::string EscapeLabelValue(const std::string& value);

}  // namespace zae::server

#endif  // ZAE_SERVER_METRICS_H_

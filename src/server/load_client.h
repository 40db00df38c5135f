// The load generator behind `zae-limiter bench --target URL`: drives a
// running `zae-limiter serve` with ShouldRateLimit calls, over gRPC
// (grpc://HOST:PORT, callback API: `inflight` calls in flight from one
// thread) or HTTP (http://HOST:PORT, POST /json from `inflight` threads,
// one keep-alive connection each). Each call carries one descriptor
// {key: "k<i>"} of `domain`, cycling over `keys` values, so the server's
// rule file must limit that key (scripts/bench-serve.sh). The descriptor
// carries a limit of 10^9/s, used where no limit is stored.
// Reports throughput, latency percentiles, OK/OVER_LIMIT/errors, the
// client's CPU per call and, given the server's pid (same machine), the
// server's CPU per call from /proc.
// With `lease_resource` (http:// only) each call is instead the HTTP lease
// round trip: POST /v1/acquire {entity_id "k<i>", resource, consume
// {lease_limit: 1}}, then POST /v1/leases/{id}/commit; its latency is both.
// RunLoad is synchronous; throws std::invalid_argument for a bad target.
#ifndef ZAE_SERVER_LOAD_CLIENT_H_
#define ZAE_SERVER_LOAD_CLIENT_H_

#include <cstdint>
#include <functional>
#include <string>

namespace zae::server {

struct LoadOptions {
  std::string target;  // grpc://HOST:PORT or http://HOST:PORT
  int inflight = 64;
  double duration_seconds = 5;
  double warmup_seconds = 1;
  int keys = 100;
  std::string domain = "bench";
  std::string key = "api_key";
  int server_pid = 0;          // > 0: report the server's CPU per call
  std::string lease_resource;  // non-empty: the lease round trip (http://)
  std::string lease_limit = "rpm";
  std::function<void(const std::string&)> progress;
};

struct LoadResult {
  std::string target;
  std::string call;  // what one call is, e.g. "ShouldRateLimit"
  int inflight = 0;
  int64_t calls = 0;
  double calls_per_sec = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0;
  int64_t ok = 0, over_limit = 0, errors = 0;
  double client_cpu_us_per_call = 0;
  double server_cpu_us_per_call = -1;  // -1: no --server-pid
  std::string first_error;
};

LoadResult RunLoad(const LoadOptions& options);
std::string ToJson(const LoadResult& r);
std::string ToTable(const LoadResult& r);

}  // namespace zae::server

#endif  // ZAE_SERVER_LOAD_CLIENT_H_

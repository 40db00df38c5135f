// The HTTP/JSON API of `zae-limiter serve` (docs/server.md#http-api):
//   POST /v1/acquire                {"entity_id","resource","consume":{..},"lease_seconds"?}
//   POST /v1/leases/{id}/adjust     {"adjust": {"tpm": -200}}
//   POST /v1/leases/{id}/commit     POST /v1/leases/{id}/release (roll back)
//   GET  /v1/available?entity_id=&resource=
//   POST /json                      Envoy's proto-JSON RateLimitRequest
//   GET  /healthz /readyz /healthcheck /metrics
// Errors are {"error": "..."} with 400 (bad JSON, names, amounts), 404
// (unknown path or lease), 413 (body over the limit), 429 (refused, with
// Retry-After), 503 (store unavailable under `block`, too many leases,
// draining for readyz).
// Handlers run on the HTTP server's pool threads and call the limiter's
// synchronous API there (cpp-httplib serves one connection per thread).
// Thread safety: Install once; the handlers are thread-safe.
#ifndef ZAE_SERVER_HTTP_API_H_
#define ZAE_SERVER_HTTP_API_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "server/leases.h"
#include "server/metrics.h"
#include "server/rls.h"
#include "zae/clock.h"
#include "zae/rate_limiter.h"

namespace httplib {
class Server;
}

namespace zae::server {

struct HttpApiOptions {
  int64_t default_lease_seconds = 60;
  int64_t max_lease_seconds = 3600;
  size_t max_body_bytes = 1 << 20;
};

class HttpApi {
 public:
  // `ready` says whether /readyz answers 200, and why not ("" when ready).
  HttpApi(std::shared_ptr<RateLimiter> limiter, RlsService* rls, LeaseTable* leases,
          Metrics* metrics, const Clock* clock, std::function<std::string()> not_ready,
          HttpApiOptions options);
  void Install(httplib::Server& server);

 private:
  std::shared_ptr<RateLimiter> limiter_;
  RlsService* rls_;
  LeaseTable* leases_;
  Metrics* metrics_;
  const Clock* clock_;
  std::function<std::string()> not_ready_;
  HttpApiOptions options_;
};

}  // namespace zae::server

#endif  // ZAE_SERVER_HTTP_API_H_

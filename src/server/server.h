// `zae-limiter serve`: the RLS over gRPC and the HTTP API, with their
// listeners, TLS, the rule file, leases' expiry and the drain.
//
// Start() binds both listeners (port 0 picks a free one; the bound ports
// are grpc_port()/http_port()) and returns once they accept calls. The
// gRPC side uses gRPC's callback API: a ShouldRateLimit holds no thread
// while the store answers. Drain: BeginDrain() makes readyz answer 503 and
// gRPC health NOT_SERVING while calls are still served; Stop() then stops
// accepting, waits for calls in flight (up to `grace`), and commits every
// open lease. The destructor calls Stop() if it was not called.
// Errors: Start throws ServerError (bad address, port in use, unreadable
// TLS files) or ConfigError (rule file). Reload never throws: on an error
// the previous rules stay and the error is logged and counted.
// Thread safety: every method may be called from any thread.
#ifndef ZAE_SERVER_SERVER_H_
#define ZAE_SERVER_SERVER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "server/http_api.h"
#include "server/leases.h"
#include "server/metrics.h"
#include "server/rls.h"
#include "zae/clock.h"
#include "zae/rate_limiter.h"

namespace zae::server {

class ServerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ServerOptions {
  std::string grpc_listen = "127.0.0.1:8081";  // HOST:PORT; "" = no gRPC listener
  std::string http_listen = "127.0.0.1:8080";  // HOST:PORT; "" = no HTTP listener
  std::string config_path;                     // the rule file; "" = no rules
  // PEM files. With cert and key both listeners speak TLS; with a client
  // CA too they require and verify client certificates (mTLS).
  std::string tls_cert, tls_key, tls_client_ca;
  int http_threads = 8;  // connections served at once
  // Each HTTP connection: idle or slow reads end it after this long.
  std::chrono::seconds http_read_timeout{5};
  size_t max_open_leases = 100'000;
  HttpApiOptions http;
  const Clock* clock = nullptr;  // nullptr = SystemClock::Default()
  std::string version = "unknown";
  // One line per start, stop, reload and error; never credentials.
  std::function<void(const std::string&)> log;
};

// Splits "host:port" or "[v6]:port"; throws ServerError.
std::pair<std::string, int> ParseListen(const std::string& address, const std::string& what);

class Server {
 public:
  static std::unique_ptr<Server> Start(std::shared_ptr<RateLimiter> limiter, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int grpc_port() const;
  int http_port() const;

  // Re-reads the rule file; true when the new rules are in effect.
  bool Reload();
  // Reload() when the file changed (inode, size or mtime) since last read.
  bool ReloadIfChanged();

  void BeginDrain();
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // "" when ready, else why not (draining, store unavailable).
  std::string NotReady();

  Metrics& metrics();
  LeaseTable& leases();
  RlsService& rls();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zae::server

#endif  // ZAE_SERVER_SERVER_H_

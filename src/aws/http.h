// HTTP/1.1 transport: Boost.Beast's serializer and parser over Boost.Asio,
// OpenSSL for TLS.
//
// HttpClient runs a few I/O threads, each with its own connection pool, so
// connections are kept alive and reused. Send() queues a request and returns
// at once; many requests are in flight per thread. TLS peer and host
// verification are always on (SNI for host names; an address must be in the
// certificate). Names are resolved off the I/O thread (Asio's resolver
// thread). A kept-alive connection found dead when a request goes out on it
// is replaced once, unless the request is send_once.
//
// Thread safety: Send() may be called from any thread, including from inside a
// completion callback. Called from a callback of the same client, the request
// joins that I/O thread's own queue (no lock, no wakeup), so a caller that
// sends its next request from the answer to the last keeps one thread busy
// and the other idle. Callbacks run on an I/O thread: they must be short and
// must never wait for another request's result (that would stall the thread
// that has to deliver it). The destructor fails queued and in-flight
// requests with a cancelled result (their callbacks may send again; those
// fail too) and joins the threads.
// Proxies: HttpOptions::proxies, or curl's variables read once per process.
// Errors: transport failures are reported in HttpResult, never thrown.
#ifndef ZAE_AWS_HTTP_H_
#define ZAE_AWS_HTTP_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aws/sigv4.h"

namespace zae::aws {

// Proxies for HttpOptions::proxies, as curl's variables would give them:
// "[http://][user:password@]host[:port]" (port 1080 when left out; only
// http:// proxies), and a no_proxy list of host names and domains separated
// by commas ("*": none goes through a proxy).
struct ProxyOptions {
  std::string http;   // for http:// origins; empty: direct
  std::string https;  // for https:// origins, through a CONNECT tunnel
  std::string no_proxy;
};

struct HttpOptions {
  std::chrono::milliseconds connect_timeout{3000};
  // One thread serves thousands of requests a second; a second one split
  // the answers of one caller's requests between two loops, each woken
  // for its own (measured: more CPU per request, no more throughput).
  int io_threads = 1;
  long max_connections_per_thread = 256;  // kept-alive connections cached per thread
  std::string ca_file;                    // empty: system default bundle
  size_t max_response_bytes = 64 << 20;   // larger bodies fail the request
  // Unset: from the environment (http_proxy, https_proxy, all_proxy,
  // no_proxy and their upper-case forms but HTTP_PROXY), read once per
  // process.
  std::optional<ProxyOptions> proxies;
};

struct HttpResult {
  bool transport_ok = false;  // a complete HTTP response was received
  bool timed_out = false;
  bool cancelled = false;  // the client shut down; do not retry
  // When !transport_ok: the request may have reached the server (it was
  // being sent or answered when the transfer failed); false when it failed
  // before a request was sent (connecting, resolving, TLS).
  bool maybe_sent = false;
  std::string error;  // what failed, when !transport_ok
  long status = 0;
  std::string body;
  // The x-amzn-ErrorType response header (at most 256 bytes), the only header
  // kept: it names the error when a body does not.
  std::string error_type;
  // The request's body, handed back: a retry sends it again without a copy.
  std::string request_body;
};

class HttpClient {
 public:
  using Callback = std::function<void(HttpResult&&)>;
  using Clock = std::chrono::steady_clock;

  explicit HttpClient(HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // url: scheme://host[:port] (the request supplies path and query).
  // The request starts no earlier than not_before and is abandoned after
  // `timeout` (whole transfer).
  void Send(const std::string& base_url, HttpRequest request, std::chrono::milliseconds timeout,
            Callback done, Clock::time_point not_before = {});

 private:
  class Worker;
  // The worker of this client whose loop runs on the calling thread (inside
  // one of its completion callbacks), or null.
  Worker* CallingWorker() const;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<size_t> next_{0};
};

// True on one of any HttpClient's I/O threads, i.e. inside a completion
// callback. Code that would block waiting for another request checks it.
bool OnIoThread();

// One blocking request on its own connection; for credential endpoints.
HttpResult HttpFetch(const std::string& url, const std::string& method,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     std::chrono::milliseconds timeout);

}  // namespace zae::aws

#endif  // ZAE_AWS_HTTP_H_

// HTTP transport on libcurl's multi interface.
//
// HttpClient runs a few I/O threads, each with its own curl multi handle (and
// therefore its own connection cache, so connections are kept alive and
// reused). Send() queues a request and returns at once; many requests are in
// flight per thread. TLS peer and host verification are always on.
//
// Thread safety: Send() may be called from any thread, including from inside a
// completion callback. Called from a callback of the same client, the request
// joins that I/O thread's own loop (no lock, no wakeup), so a caller that
// sends its next request from the answer to the last keeps one thread busy
// and the other idle. Callbacks run on an I/O thread: they must be short and
// must never wait for another request's result (that would stall the thread
// that has to deliver it). The destructor fails queued requests with a
// NetworkError-style result (their callbacks may send again; those fail too)
// and joins the threads.
// Proxies: curl's proxy variables (http_proxy, https_proxy, all_proxy and
// their upper-case forms) are read once per process;
// with none set, curl is told not to look them up on every transfer.
// Errors: transport failures are reported in HttpResult, never thrown.
#ifndef ZAE_AWS_HTTP_H_
#define ZAE_AWS_HTTP_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "aws/sigv4.h"

namespace zae::aws {

struct HttpOptions {
  std::chrono::milliseconds connect_timeout{3000};
  int io_threads = 2;
  long max_connections_per_thread = 256;  // kept-alive connections cached per thread
  std::string ca_file;                    // empty: system default bundle
  size_t max_response_bytes = 64 << 20;   // larger bodies fail the request
};

struct HttpResult {
  bool transport_ok = false;  // a complete HTTP response was received
  bool timed_out = false;
  bool cancelled = false;  // the client shut down; do not retry
  // When !transport_ok: the request may have reached the server (it was
  // being sent or answered when the transfer failed); false when it failed
  // before a request was sent (connecting, resolving, TLS).
  bool maybe_sent = false;
  std::string error;  // curl's description when !transport_ok
  long status = 0;
  std::string body;
  // The x-amzn-ErrorType response header (at most 256 bytes), the only header
  // kept: it names the error when a body does not.
  std::string error_type;
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

#include "aws/http.h"

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "aws/protocol.h"
#include "aws/url.h"
#include "core/thread_exit.h"

namespace zae::aws {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    // OpenSSL's exit handler deletes the key of its per-thread state, so it
    // must run after exit has waited for the I/O and pool threads
    // (core/thread_exit.h). Initialised lazily by the first signature, it
    // was registered after that wait and ran first: an I/O thread still
    // ending leaked its error state (ASan caught it). libcurl's global init
    // used to initialise OpenSSL here; now it is done here, followed by a
    // wait that runs before it even when a pool thread started earlier.
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr);
    WaitForHeldThreadsBeforeEarlierExitHandlers();
    // TLS leaves OpenSSL state on the I/O threads (and signing on the
    // limiter's); freed here, it is gone before exit proceeds
    // (core/thread_exit.h).
    AtHeldThreadEnd([] { OPENSSL_thread_stop(); });
  });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A proxy from the environment: http:// only (what curl did by default).
struct Proxy {
  Url origin;
  std::string authorization;  // "Basic ..." when the URL carried user:password
  std::string error;          // set: the variable is unusable; requests fail with it
};

std::optional<Proxy> ProxyFrom(const char* name, const char* v) {
  if (v == nullptr || *v == '\0') return std::nullopt;
  Proxy p;
  std::string_view url = v;
  if (url.find("://") != std::string_view::npos &&
      !IEquals(url.substr(0, url.find("://")), "http")) {
    p.error = std::string("proxy in ") + name + ": only http:// proxies are supported";
    return p;
  }
  const std::string error = ParseUrl(url, true, &p.origin);
  if (!error.empty()) {
    p.error = std::string("proxy in ") + name + ": " + error;
    return p;
  }
  if (!p.origin.userinfo.empty()) {
    p.authorization = "Basic " + Base64Encode(PercentDecode(p.origin.userinfo));
  }
  return p;
}

// curl's variables, read once per process: http_proxy (lower case only, as
// curl: an upper-case HTTP_PROXY can come from a CGI request's "Proxy:"
// header), https_proxy, all_proxy and no_proxy in either case.
struct ProxyEnvironment {
  std::optional<Proxy> http, https;
  bool no_proxy_all = false;
  std::vector<std::string> no_proxy;  // lower case, without a leading dot

  const Proxy* For(const Url& o) const {
    const std::optional<Proxy>& p = o.tls ? https : http;
    if (!p) return nullptr;
    if (no_proxy_all) return nullptr;
    const std::string host = Lower(o.host);
    for (const std::string& entry : no_proxy) {
      if (host == entry) return nullptr;
      if (host.size() > entry.size() &&
          host.compare(host.size() - entry.size(), entry.size(), entry) == 0 &&
          host[host.size() - entry.size() - 1] == '.') {
        return nullptr;
      }
    }
    return &*p;
  }
};

void ParseNoProxy(const char* np, ProxyEnvironment* e) {
  if (np == nullptr) return;
  std::string_view list = np;
  while (!list.empty()) {
    size_t cut = list.find_first_of(", ");
    std::string_view entry = list.substr(0, cut);
    list = cut == std::string_view::npos ? "" : list.substr(cut + 1);
    if (entry == "*") e->no_proxy_all = true;
    while (!entry.empty() && entry.front() == '.') entry.remove_prefix(1);
    if (!entry.empty() && entry.front() == '[' && entry.back() == ']') {
      entry = entry.substr(1, entry.size() - 2);
    }
    if (!entry.empty()) e->no_proxy.push_back(Lower(entry));
  }
}

ProxyEnvironment FromOptions(const ProxyOptions& o) {
  ProxyEnvironment e;
  e.http = ProxyFrom("HttpOptions::proxies.http", o.http.c_str());
  e.https = ProxyFrom("HttpOptions::proxies.https", o.https.c_str());
  ParseNoProxy(o.no_proxy.c_str(), &e);
  return e;
}

const ProxyEnvironment& EnvironmentProxies() {
  static const ProxyEnvironment env = [] {
    ProxyEnvironment e;
    auto first = [](std::initializer_list<const char*> names) -> std::optional<Proxy> {
      for (const char* n : names) {
        if (auto p = ProxyFrom(n, std::getenv(n))) return p;
      }
      return std::nullopt;
    };
    e.http = first({"http_proxy", "all_proxy", "ALL_PROXY"});
    e.https = first({"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"});
    const char* np = std::getenv("no_proxy");
    ParseNoProxy(np != nullptr && *np != '\0' ? np : std::getenv("NO_PROXY"), &e);
    return e;
  }();
  return env;
}

// How requests to one base URL travel: parsed once per worker and base URL.
struct Route {
  std::string error;  // set: every request to this base URL fails with it
  Url origin;
  const Proxy* proxy = nullptr;
  std::string pool_key;         // connections are shared by requests of one key
  std::string connect_target;   // CONNECT's host:port (TLS through a proxy)
  std::string absolute_prefix;  // http through a proxy: the absolute-form start
};

Route MakeRoute(const std::string& base_url, const ProxyEnvironment& proxies) {
  Route r;
  r.error = ParseUrl(base_url, false, &r.origin);
  if (!r.error.empty()) {
    r.error = "bad URL '" + base_url + "': " + r.error;
    return r;
  }
  r.proxy = proxies.For(r.origin);
  if (r.proxy != nullptr && !r.proxy->error.empty()) {
    r.error = r.proxy->error;
    return r;
  }
  const std::string origin_key =
      std::string(r.origin.tls ? "https://" : "http://") + r.origin.authority;
  if (r.proxy == nullptr) {
    r.pool_key = origin_key;
  } else if (r.origin.tls) {
    r.pool_key = origin_key + " via " + r.proxy->origin.authority;
    const bool v6 = r.origin.host.find(':') != std::string::npos;
    r.connect_target = (v6 ? "[" + r.origin.host + "]" : r.origin.host) + ":" + r.origin.port;
  } else {
    // Plain HTTP through a proxy: one connection to the proxy serves any origin.
    r.pool_key = "proxy " + r.proxy->origin.authority;
    r.absolute_prefix = origin_key;
  }
  return r;
}

// A connection, kept alive between requests of one pool key.
struct Connection {
  // Room for a whole answer of the usual size: Beast reads at most what the
  // buffer has room for (at least 512 bytes), one system call and one pass
  // of the loop each.
  explicit Connection(asio::io_context& io) : socket(io) { buffer.reserve(16 * 1024); }
  tcp::socket socket;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls;  // set for https origins
  beast::flat_buffer buffer;                       // bytes read past an answer
  const std::string* pool_key = nullptr;           // the route's (routes live as long)

  // A kept-alive connection the server closed (or wrote to unasked) while it
  // sat idle: one non-blocking peek instead of a watch on every idle socket.
  bool Alive() {
    if (!socket.is_open()) return false;
    char byte;
    const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

// An answer as the client keeps it: Beast's parser told to keep the status,
// the body and the one header callers read (x-amzn-ErrorType), instead of
// a message whose every field is a node of its own (a dozen allocations
// per answer).
class AnswerParser : public bhttp::basic_parser<false> {
 public:
  explicit AnswerParser(size_t max_body) : max_body_(max_body) {
    body_limit(max_body);
    header_limit(64 * 1024);
  }
  int status() const { return status_; }
  std::string& body() { return body_; }
  std::string& error_type() { return error_type_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int,
                       error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, error_code&) override { status_ = code; }
  void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value,
                     error_code&) override {
    if (IEquals({name.data(), name.size()}, "x-amzn-ErrorType")) {
      const auto v = value.substr(0, 256);
      error_type_.assign(v.data(), v.size());
    }
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    if (length) body_.reserve(static_cast<size_t>(std::min<std::uint64_t>(*length, max_body_)));
  }
  size_t on_body_impl(beast::string_view s, error_code&) override {
    body_.append(s.data(), s.size());
    return s.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, error_code&) override {
    body_.append(s.data(), s.size());
    return s.size();
  }
  void on_finish_impl(error_code&) override {}

  size_t max_body_;
  int status_ = 0;
  std::string body_;
  std::string error_type_;
};

// Whether an error means the connection died (as a kept-alive connection
// the server closed does), rather than the exchange being refused.
bool ConnectionLost(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == bhttp::error::end_of_stream ||
         ec == bhttp::error::partial_message || ec == ssl::error::stream_truncated;
}

}  // namespace

namespace {
// The worker whose loop runs on this thread, if any (see CallingWorker).
// (void*: the Worker type is private to HttpClient.)
thread_local void* t_worker = nullptr;
}  // namespace

bool OnIoThread() { return t_worker != nullptr; }

// One I/O thread: an Asio io_context driving Beast's HTTP/1.1 serializer and
// parser over kept-alive connections (OpenSSL for TLS). Everything below
// runs on that thread except the constructor, the destructor and Add.
class HttpClient::Worker {
 public:
  Worker(const HttpClient* owner, const HttpOptions& options)
      : owner_(owner), options_(options), io_(1), guard_(io_.get_executor()), timer_(io_) {
    if (options_.proxies) {
      own_proxies_ = FromOptions(*options_.proxies);
      proxies_ = &own_proxies_;
    }
    thread_ = std::thread([this] {
      HoldExitUntilThreadEnds();  // may be joined by a detached thread
      t_worker = this;
      io_.run();
      t_worker = nullptr;
    });
  }

  ~Worker() {
    asio::post(io_, [this] { Stop(); });
    guard_.reset();
    thread_.join();
  }

  const HttpClient* owner() const { return owner_; }

  struct Transfer;
  struct Resolve;
  // From any thread (on this worker's own, Asio queues it without a lock
  // or a wakeup).
  void Add(std::unique_ptr<Transfer> t) {
    asio::post(io_, [this, t = std::move(t)]() mutable { Begin(std::move(t)); });
  }

  // From a completion callback on this worker's thread: started as soon as
  // the callback returns, without Asio's queue (a pass of the loop, an
  // epoll_wait, per request). Not from inside it: the send wakes the
  // server's thread, which the kernel, told by the socket that the sender
  // will sleep next, runs on this core; sent mid-callback, the rest of the
  // callback was preempted a third of the time and finished later with
  // cold caches. Bounded: a callback that sends again from a failure that
  // comes at once (a bad URL, shutdown) would otherwise recurse without end.
  void AddFromLoop(std::unique_ptr<Transfer> t) {
    if (callbacks_ > 0) {
      deferred_.push_back(std::move(t));
      return;
    }
    static thread_local int depth = 0;
    if (depth >= 4) return Add(std::move(t));
    ++depth;
    Begin(std::move(t));
    --depth;
  }

  using Fields = bhttp::basic_fields<std::pmr::polymorphic_allocator<char>>;
  using Request = bhttp::request<bhttp::string_body, Fields>;

  struct Transfer {
    // A transfer is ~2.5 KB, past malloc's per-thread cache; the I/O thread
    // frees one and takes one per request, so each thread keeps a few.
    static void* operator new(size_t size);
    static void operator delete(void* p, size_t size);
    // The base URL, in url_room when it fits (the endpoints we know do).
    void SetBaseUrl(const std::string& url) {
      if (url.size() <= sizeof url_room) {
        std::memcpy(url_room, url.data(), url.size());
        base_url = std::string_view(url_room, url.size());
      } else {
        url_heap = url;
        base_url = url_heap;
      }
    }
    std::string_view base_url;
    char url_room[96];
    std::string url_heap;
    HttpRequest request;
    std::chrono::milliseconds timeout{};
    Callback done;
    Clock::time_point not_before;
    // Set by the worker.
    const Route* route = nullptr;
    Clock::time_point deadline;        // of the whole transfer
    Clock::time_point phase_deadline;  // of what it waits for now (a connect)
    std::unique_ptr<Connection> conn;
    Resolve* resolving = nullptr;
    bool built = false;  // req holds the request (a resend reuses it)
    std::optional<asio::steady_timer> delay;
    // The request's header fields live in the transfer itself: Beast keeps
    // each field as a node of its own (eight allocations per request).
    alignas(std::max_align_t) char field_room[1536];
    std::pmr::monotonic_buffer_resource field_arena{field_room, sizeof field_room};
    Request req{std::piecewise_construct, std::make_tuple(),
                std::make_tuple(std::pmr::polymorphic_allocator<char>(&field_arena))};
    std::optional<bhttp::request_serializer<bhttp::string_body, Fields>> serializer;  // of req
    std::optional<AnswerParser> parser;
    std::optional<bhttp::request<bhttp::empty_body>> connect_req;
    std::optional<bhttp::response_parser<bhttp::empty_body>> connect_parser;
    bool reused = false;   // on a kept-alive connection
    bool retried = false;  // once on a fresh connection after a reused one died
    bool sending = false;  // the request started out: it may have been applied
    bool timed_out = false;
    bool cancelled = false;
    bool connect_slot = false;  // counted in the worker's connecting_
    bool queued = false;        // in the worker's queued_, for a connect slot
    const char* phase = "connect";
    Transfer* prev = nullptr;  // the worker's list of started transfers
    Transfer* next = nullptr;
  };

  // A name lookup on Asio's resolver thread. It belongs to its handler, so a
  // transfer that times out meanwhile completes at once, not when
  // getaddrinfo returns.
  struct Resolve {
    explicit Resolve(asio::io_context& io) : resolver(io) {}
    tcp::resolver resolver;
    Transfer* transfer;
  };

 private:
  using Owned = std::unique_ptr<Transfer>;

  void Begin(Owned t) {
    if (stopping_) return Fail(std::move(t), "HTTP client shut down");
    if (t->not_before > Clock::now()) {
      Transfer* raw = t.get();
      raw->delay.emplace(io_, raw->not_before);
      delayed_.push_back(raw);
      raw->delay->async_wait([this, t = std::move(t)](const error_code&) mutable {
        delayed_.erase(std::find(delayed_.begin(), delayed_.end(), t.get()));
        t->delay.reset();
        t->not_before = {};
        Begin(std::move(t));
      });
      return;
    }
    auto it = routes_.find(t->base_url);
    if (it == routes_.end()) {
      // Kept for the worker's life: transfers and pooled connections point
      // into them, and a client is only ever given a few base URLs.
      const std::string url(t->base_url);
      it = routes_.emplace(url, MakeRoute(url, *proxies_)).first;
    }
    t->route = &it->second;
    if (!t->route->error.empty()) {
      const std::string error = t->route->error;
      return Fail(std::move(t), error);
    }
    t->deadline = Clock::now() + std::max(std::chrono::milliseconds(1), t->timeout);
    t->phase_deadline = t->deadline;
    Transfer* raw = t.release();  // owned by the active list until Finish
    Link(raw);
    ArmTimer(raw->deadline);
    if (std::unique_ptr<Connection> c = TakeIdle(raw->route->pool_key)) {
      raw->conn = std::move(c);
      raw->reused = true;
      return SendRequest(raw);
    }
    StartConnect(raw);
  }

  // A live kept-alive connection of that pool (the dead ones found on the
  // way are dropped), or null.
  std::unique_ptr<Connection> TakeIdle(const std::string& pool_key) {
    auto pool = idle_.find(pool_key);
    if (pool == idle_.end()) return nullptr;
    while (!pool->second.empty()) {
      std::unique_ptr<Connection> c = std::move(pool->second.back());
      pool->second.pop_back();
      --idle_count_;
      if (c->Alive()) return c;
    }
    return nullptr;
  }

  // At most kMaxConnecting new connections at once, from the connect to
  // their first answer: a burst of new requests (a cold client, 64 in
  // flight) would otherwise fill a small listen backlog faster than a busy
  // server accepts (DynamoDB Local's is Java's default of 50); the kernel
  // then drops the handshakes past it, and TCP's retransmissions recover
  // them only seconds later, past a write's timeout. A connection counts
  // until its first answer because only that shows the server took it off
  // the backlog. The other requests wait, in order, for a slot or for a
  // connection another request puts back.
  static constexpr size_t kMaxConnecting = 32;

  void StartConnect(Transfer* t) {
    if (!t->connect_slot) {
      if (connecting_ >= kMaxConnecting) {
        t->phase = "wait for a connection";
        t->queued = true;
        queued_.push_back(t);
        return;
      }
      t->connect_slot = true;
      ++connecting_;
    }
    Connect(t);
  }

  void ReleaseConnectSlot(Transfer* t) {
    if (!t->connect_slot) return;
    t->connect_slot = false;
    --connecting_;
    ScheduleQueued();
  }

  // The queued transfers start from the loop, never inside the code that
  // freed a slot or parked a connection (a timer pass aborting a list of
  // transfers, a callback in progress).
  void ScheduleQueued() {
    if (queued_.empty() || queued_scheduled_ || stopping_) return;
    queued_scheduled_ = true;
    asio::post(io_, [this] {
      queued_scheduled_ = false;
      while (!queued_.empty() && !stopping_) {
        Transfer* t = queued_.front();
        std::unique_ptr<Connection> c = TakeIdle(t->route->pool_key);
        if (!c && connecting_ >= kMaxConnecting) return;
        queued_.pop_front();
        t->queued = false;  // SendRequest or Connect sets its phase
        if (c) {
          t->conn = std::move(c);
          t->reused = true;
          SendRequest(t);
        } else {
          StartConnect(t);
        }
      }
    });
  }

  void Connect(Transfer* t) {
    t->phase = "connect";
    t->reused = false;
    t->conn = std::make_unique<Connection>(io_);
    t->conn->pool_key = &t->route->pool_key;
    t->phase_deadline = std::min(t->deadline, Clock::now() + options_.connect_timeout);
    ArmTimer(t->phase_deadline);
    const Url& to = t->route->proxy ? t->route->proxy->origin : t->route->origin;
    if (to.ip_literal) {
      error_code bad;
      const auto address = asio::ip::make_address(to.host, bad);
      if (bad) return Failed(t, bad, "connect");
      tcp::endpoint at(address, static_cast<unsigned short>(std::stoi(to.port)));
      t->conn->socket.async_connect(at, [this, t](const error_code& ec) { OnConnected(t, ec); });
      return;
    }
    // The system resolver may block; Asio runs it on a thread of its own.
    auto* r = new Resolve(io_);
    r->transfer = t;
    t->resolving = r;
    r->resolver.async_resolve(
        to.host, to.port, [this, r](const error_code& ec, tcp::resolver::results_type results) {
          std::unique_ptr<Resolve> own(r);
          Transfer* waiting = r->transfer;
          if (waiting == nullptr) return;  // the transfer ended meanwhile
          waiting->resolving = nullptr;
          if (ec) return Failed(waiting, ec, "resolve");
          asio::async_connect(waiting->conn->socket, results,
                              [this, waiting](const error_code& e, const tcp::endpoint&) {
                                OnConnected(waiting, e);
                              });
        });
  }

  void OnConnected(Transfer* t, const error_code& ec) {
    if (ec) return Failed(t, ec, "connect");
    // The connect left the socket registered for writability, edge
    // triggered: kept, every request's ACK would wake the loop for nothing.
    // Registered anew, it waits for reads only until a write has to wait.
    error_code re;
    const tcp protocol = t->conn->socket.local_endpoint(re).protocol();
    if (!re) {
      const int fd = t->conn->socket.release(re);
      if (!re) t->conn->socket.assign(protocol, fd, re);
    }
    if (re) return Failed(t, re, "connect");
    error_code ignored;
    t->conn->socket.set_option(tcp::no_delay(true), ignored);
    t->conn->socket.set_option(asio::socket_base::keep_alive(true), ignored);
    if (t->route->proxy && t->route->origin.tls) return ProxyConnect(t);
    if (t->route->origin.tls) return Handshake(t);
    SendRequest(t);
  }

  // TLS through a proxy: a CONNECT tunnel first.
  void ProxyConnect(Transfer* t) {
    t->phase = "proxy CONNECT";
    auto& req = t->connect_req.emplace(bhttp::verb::connect, t->route->connect_target, 11);
    req.set(bhttp::field::host, t->route->connect_target);
    if (!t->route->proxy->authorization.empty()) {
      req.set(bhttp::field::proxy_authorization, t->route->proxy->authorization);
    }
    bhttp::async_write(t->conn->socket, req, [this, t](const error_code& ec, size_t) {
      if (ec) return Failed(t, ec, "proxy CONNECT");
      auto& p = t->connect_parser.emplace();
      p.skip(true);  // a CONNECT answer has no body
      bhttp::async_read(
          t->conn->socket, t->conn->buffer, p, [this, t](const error_code& e, size_t) {
            if (e) return Failed(t, e, "proxy CONNECT");
            const unsigned status = t->connect_parser->get().result_int();
            t->connect_parser.reset();
            t->connect_req.reset();
            if (status / 100 != 2) {
              return Finish(
                  t, Failure("proxy refused CONNECT with HTTP " + std::to_string(status), false));
            }
            Handshake(t);
          });
    });
  }

  void Handshake(Transfer* t) {
    t->phase = "TLS handshake";
    std::string error;
    ssl::context* ctx = TlsContext(&error);
    if (ctx == nullptr) return Finish(t, Failure(error, false));
    Connection& c = *t->conn;
    c.tls = std::make_unique<ssl::stream<tcp::socket&>>(c.socket, *ctx);
    SSL* s = c.tls->native_handle();
    const Url& o = t->route->origin;
    // Server name and the name the certificate must carry: a host name is
    // both, an address is only checked (RFC 6066 has no SNI for addresses).
    if (o.ip_literal) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), o.host.c_str());
    } else {
      SSL_set_tlsext_host_name(s, o.host.c_str());
      SSL_set1_host(s, o.host.c_str());
    }
    c.tls->async_handshake(ssl::stream_base::client, [this, t](const error_code& ec) {
      if (ec) return Failed(t, ec, "TLS handshake");
      SendRequest(t);
    });
  }

  ssl::context* TlsContext(std::string* error) {
    if (tls_) return &*tls_;
    try {
      tls_.emplace(ssl::context::tls_client);
      tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      tls_->set_verify_mode(ssl::verify_peer);
      if (options_.ca_file.empty()) {
        tls_->set_default_verify_paths();
      } else {
        tls_->load_verify_file(options_.ca_file);
      }
      return &*tls_;
    } catch (const std::exception& e) {
      tls_.reset();
      *error = "TLS setup (CA file '" + options_.ca_file + "'): " + e.what();
      return nullptr;
    }
  }

  void SendRequest(Transfer* t) {
    t->phase = "send";
    t->phase_deadline = t->deadline;
    HttpRequest& r = t->request;
    const bhttp::verb verb = bhttp::string_to_verb(r.method);
    if (verb == bhttp::verb::unknown) {
      return Finish(t, Failure("unsupported HTTP method '" + r.method + "'", false));
    }
    auto& req = t->req;
    if (t->built) return Write(t);
    t->built = true;
    req.method(verb);
    req.version(11);
    std::string target = t->route->absolute_prefix + t->route->origin.prefix + r.path;
    if (!r.query.empty()) target.append("?").append(r.query);
    req.target(target);
    bool host = false;
    for (const auto& [name, value] : r.headers) {
      host = host || IEquals(name, "host");
      req.insert(name, value);
    }
    if (!host) req.set(bhttp::field::host, t->route->origin.authority);
    if (t->route->proxy && !t->route->origin.tls && !t->route->proxy->authorization.empty()) {
      req.set(bhttp::field::proxy_authorization, t->route->proxy->authorization);
    }
    if (verb != bhttp::verb::get || !r.body.empty()) {
      req.body() = std::move(r.body);  // kept in req: a stale connection resends it
      req.prepare_payload();
    }
    Write(t);
  }

  void Write(Transfer* t) {
    t->sending = true;
    if (t->conn->tls) {
      Exchange(t, *t->conn->tls);
    } else {
      Exchange(t, t->conn->socket);
    }
  }

  // Writes the request, then reads the answer. On a plain connection the
  // request is first written at once without waiting (it nearly always fits
  // the socket's buffer): Asio would complete even an immediate write
  // through its queue, one more pass of the loop (an epoll_wait) per request.
  template <class Stream>
  void Exchange(Transfer* t, Stream& stream) {
    auto& sr = t->serializer.emplace(t->req);
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      error_code ec;
      if (!stream.non_blocking()) stream.non_blocking(true, ec);
      if (!ec) bhttp::write(stream, sr, ec);
      if (!ec) {
        StartReceive(t);
        return AwaitAnswer(t);
      }
      if (ec != asio::error::would_block && ec != asio::error::try_again) {
        return Failed(t, ec, "send");
      }
    }
    bhttp::async_write(stream, sr, [this, t, &stream](const error_code& ec, size_t) {
      if (ec) return Failed(t, ec, "send");
      Receive(t, stream);
    });
  }

  void StartReceive(Transfer* t) {
    t->phase = "receive";
    t->parser.emplace(options_.max_response_bytes);
  }

  // A plain connection's answer: Asio reads into the connection's buffer
  // and the bytes go to the parser here, with no extra pass of the loop.
  // (Asio 1.74 first tries the read at once, a recv that finds nothing; a
  // wait for readability would instead re-register the socket with
  // epoll_ctl. Either is one system call.)
  void AwaitAnswer(Transfer* t) {
    beast::flat_buffer& b = t->conn->buffer;
    const size_t room = b.capacity() - b.size();
    t->conn->socket.async_receive(b.prepare(room >= 4096 ? room : 16 * 1024),
                                  [this, t](const error_code& ec, size_t n) {
                                    t->conn->buffer.commit(n);
                                    ReadAnswer(t, ec);
                                  });
  }

  void ReadAnswer(Transfer* t, error_code ec) {
    auto& p = *t->parser;
    beast::flat_buffer& b = t->conn->buffer;
    if (ec == asio::error::eof) {
      // Closed by the server: the end of an answer without a length, or of
      // the connection (bhttp::read's rule).
      ec = {};
      if (!p.got_some()) {
        ec = bhttp::error::end_of_stream;
      } else {
        p.put_eof(ec);
      }
      if (ec) return Failed(t, ec, "receive");
      if (p.is_done()) return OnAnswer(t);
      return Failed(t, bhttp::error::partial_message, "receive");
    }
    if (ec) return Failed(t, ec, "receive");
    while (b.size() > 0 && !p.is_done()) {
      // The header alone first, then the body: see Receive.
      p.eager(p.is_header_done());
      const size_t used = p.put(b.data(), ec);
      b.consume(used);
      if (ec == bhttp::error::need_more) break;
      if (ec) return Failed(t, ec, "receive");
      if (used == 0) break;
    }
    if (p.is_done()) return OnAnswer(t);
    AwaitAnswer(t);
  }

  // The answer's header first, then its body. (Beast 1.74's eager parse,
  // which async_read uses, lets a body past body_limit through when it
  // arrives with its header; a header read alone reports it.)
  template <class Stream>
  void Receive(Transfer* t, Stream& stream) {
    StartReceive(t);
    bhttp::async_read_header(stream, t->conn->buffer, *t->parser,
                             [this, t, &stream](const error_code& e, size_t) {
                               if (e) return Failed(t, e, "receive");
                               if (t->parser->is_done()) return OnAnswer(t);
                               bhttp::async_read(stream, t->conn->buffer, *t->parser,
                                                 [this, t](const error_code& e2, size_t) {
                                                   if (e2) return Failed(t, e2, "receive");
                                                   OnAnswer(t);
                                                 });
                             });
  }

  void OnAnswer(Transfer* t) {
    AnswerParser& p = *t->parser;
    HttpResult result;
    result.transport_ok = true;
    result.status = p.status();
    result.error_type = std::move(p.error_type());
    result.body = std::move(p.body());
    if (p.keep_alive() && t->conn->buffer.size() == 0 && !stopping_) {
      Park(std::move(t->conn));
    }
    Finish(t, std::move(result));
  }

  // A connection back to its pool; at the cap, another idle one makes room.
  void Park(std::unique_ptr<Connection> c) {
    const long cap = std::max(1L, options_.max_connections_per_thread);
    if (idle_count_ >= static_cast<size_t>(cap)) {
      for (auto& [key, pool] : idle_) {
        if (!pool.empty()) {
          pool.erase(pool.begin());  // the oldest of that pool
          --idle_count_;
          break;
        }
      }
    }
    idle_[*c->pool_key].push_back(std::move(c));
    ++idle_count_;
    ScheduleQueued();
  }

  static HttpResult Failure(std::string error, bool maybe_sent) {
    HttpResult r;
    r.error = std::move(error);
    r.maybe_sent = maybe_sent;
    return r;
  }

  void Failed(Transfer* t, const error_code& ec, const std::string& what) {
    if (t->cancelled) {
      HttpResult r = Failure("HTTP client shut down", t->sending);
      r.cancelled = true;
      return Finish(t, std::move(r));
    }
    if (t->timed_out) {
      HttpResult r = Failure(
          std::string(t->phase) + " timed out after " + std::to_string(t->timeout.count()) + " ms",
          t->sending);
      r.timed_out = true;
      return Finish(t, std::move(r));
    }
    if (ec == bhttp::error::body_limit) return Finish(t, Failure("response too large", true));
    const bool no_answer = !t->parser || !t->parser->got_some();
    if (t->reused && t->sending && no_answer && ConnectionLost(ec)) {
      // A kept-alive connection the server had closed: the usual fate of
      // idle connections, and retried once on a new one, unless the
      // request must not be sent twice (the first may have been applied).
      if (t->request.send_once) {
        return Finish(t, Failure("connection lost after the request was sent (not resent)", true));
      }
      if (!t->retried) {
        t->retried = true;
        t->sending = false;
        t->parser.reset();
        return StartConnect(t);
      }
    }
    std::string error = what;
    if (t->route) error += " " + t->route->origin.authority;
    error += ": " + ec.message();
    Finish(t, Failure(std::move(error), t->sending));
  }

  // The transfer's end: its callback runs once, with nothing of the worker
  // locked, and may send again.
  void Finish(Transfer* t, HttpResult&& result) {
    Unlink(t);
    if (t->queued) queued_.erase(std::find(queued_.begin(), queued_.end(), t));
    ReleaseConnectSlot(t);
    Owned own(t);
    own->conn.reset();  // closed unless parked
    result.request_body = own->built ? std::move(own->req.body()) : std::move(own->request.body);
    Callback done = std::move(own->done);
    own.reset();
    RunCallback(done, std::move(result));
  }

  void RunCallback(Callback& done, HttpResult&& result) {
    ++callbacks_;
    done(std::move(result));
    --callbacks_;
    if (callbacks_ == 0) StartDeferred();
  }

  // The requests callbacks sent, in order; one started here may fail at
  // once and its callback send more, which this loop then starts too.
  void StartDeferred() {
    if (starting_deferred_) return;
    starting_deferred_ = true;
    // By index: a request started here may append more.
    for (size_t i = 0; i < deferred_.size(); ++i) AddFromLoop(std::move(deferred_[i]));
    deferred_.clear();
    starting_deferred_ = false;
  }

  void Fail(Owned t, std::string error) {
    HttpResult r = Failure(std::move(error), false);
    r.cancelled = stopping_;
    r.request_body = std::move(t->request.body);  // not built yet
    Callback done = std::move(t->done);
    t.reset();
    RunCallback(done, std::move(r));
  }

  void Link(Transfer* t) {
    t->next = active_;
    if (active_) active_->prev = t;
    active_ = t;
  }
  void Unlink(Transfer* t) {
    if (t->prev) t->prev->next = t->next;
    if (t->next) t->next->prev = t->prev;
    if (active_ == t) active_ = t->next;
    t->prev = t->next = nullptr;
  }

  // One timer for every transfer's deadline, moved only when a deadline
  // comes before it: a request that is answered in time costs no timer
  // operation. When it fires, transfers past their deadline are aborted
  // and it is set for the earliest of the rest.
  void ArmTimer(Clock::time_point at) {
    if (at >= timer_at_) return;
    timer_at_ = at;
    timer_.expires_at(at);
    timer_.async_wait([this](const error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      timer_at_ = Clock::time_point::max();
      if (stopping_) return;
      const auto now = Clock::now();
      Clock::time_point next = Clock::time_point::max();
      std::vector<Transfer*> late;
      for (Transfer* t = active_; t != nullptr; t = t->next) {
        if (t->timed_out) continue;
        if (t->phase_deadline <= now) {
          late.push_back(t);
        } else {
          next = std::min(next, t->phase_deadline);
        }
      }
      for (Transfer* t : late) {
        t->timed_out = true;
        Abort(t);
      }
      if (next != Clock::time_point::max()) ArmTimer(next);
    });
  }

  // Ends what the transfer waits for; its handler then finishes it.
  void Abort(Transfer* t) {
    if (t->queued) return Failed(t, asio::error::operation_aborted, t->phase);
    if (t->resolving != nullptr) {
      t->resolving->transfer = nullptr;  // its handler only frees it
      t->resolving = nullptr;
      return Failed(t, asio::error::operation_aborted, "resolve");
    }
    if (t->conn) {
      error_code ignored;
      t->conn->socket.close(ignored);
    }
  }

  // Fails everything this worker owns so no caller waits forever; callbacks
  // that send again are failed too (Begin sees stopping_).
  void Stop() {
    stopping_ = true;
    timer_.cancel();
    idle_.clear();
    idle_count_ = 0;
    std::vector<Transfer*> started;
    for (Transfer* t = active_; t != nullptr; t = t->next) started.push_back(t);
    for (Transfer* t : started) {
      t->cancelled = true;
      Abort(t);
    }
    for (Transfer* t : delayed_) t->delay->cancel();
  }

  const HttpClient* owner_;
  HttpOptions options_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  asio::steady_timer timer_;
  Clock::time_point timer_at_ = Clock::time_point::max();
  std::optional<ssl::context> tls_;  // made at the first https connection
  bool stopping_ = false;
  Transfer* active_ = nullptr;
  std::vector<Transfer*> delayed_;
  int callbacks_ = 0;            // completion callbacks running (RunCallback)
  std::vector<Owned> deferred_;  // requests they sent (AddFromLoop)
  bool starting_deferred_ = false;
  size_t connecting_ = 0;         // transfers holding a connect slot
  std::deque<Transfer*> queued_;  // waiting for one (StartConnect)
  bool queued_scheduled_ = false;
  ProxyEnvironment own_proxies_;  // from options_.proxies, when set
  const ProxyEnvironment* proxies_ = &EnvironmentProxies();
  std::map<std::string, Route, std::less<>> routes_;  // by base URL
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
  size_t idle_count_ = 0;
  std::thread thread_;
};

namespace {
// Transfers freed on a thread, kept for its next ones (Transfer::operator
// new). Closed when the thread ends: a transfer freed after that (a client
// destroyed at exit) goes back to malloc.
struct TransferCache {
  static constexpr size_t kKeep = 8;
  void* blocks[kKeep];
  size_t count = 0;
  bool closed = false;
  ~TransferCache() {
    for (size_t i = 0; i < count; ++i) ::operator delete(blocks[i]);
    count = 0;
    closed = true;
  }
};
thread_local TransferCache t_transfers;
// Under AddressSanitizer every transfer is malloc's, so a use after its end
// is still caught.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheTransfers = false;
#else
constexpr bool kCacheTransfers = true;
#endif
}  // namespace

void* HttpClient::Worker::Transfer::operator new(size_t size) {
  TransferCache& c = t_transfers;
  if (c.count > 0) return c.blocks[--c.count];  // every block is sizeof(Transfer)
  return ::operator new(size);
}

void HttpClient::Worker::Transfer::operator delete(void* p, size_t) {
  TransferCache& c = t_transfers;
  if (kCacheTransfers && !c.closed && c.count < TransferCache::kKeep) {
    c.blocks[c.count++] = p;
    return;
  }
  ::operator delete(p);
}

HttpClient::HttpClient(HttpOptions options) {
  GlobalInit();
  int n = std::max(1, options.io_threads);
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(this, options));
}

HttpClient::Worker* HttpClient::CallingWorker() const {
  auto* w = static_cast<Worker*>(t_worker);
  return w != nullptr && w->owner() == this ? w : nullptr;
}

HttpClient::~HttpClient() {
  if (CallingWorker() == nullptr) return;  // the workers stop and join as members
  // The last owner let go inside a completion callback, on one of these
  // threads: it cannot join itself. The callback has returned by the time
  // this runs (it runs while the finished transfer's callback is destroyed),
  // so a detached thread stops and joins the workers once this one is back
  // in its loop.
  std::thread([workers = std::move(workers_)]() mutable {
    HoldExitUntilThreadEnds();
    workers.clear();
  }).detach();
}

void HttpClient::Send(const std::string& base_url, HttpRequest request,
                      std::chrono::milliseconds timeout, Callback done,
                      Clock::time_point not_before) {
  auto t = std::make_unique<Worker::Transfer>();
  t->SetBaseUrl(base_url);
  t->request = std::move(request);
  t->timeout = timeout;
  t->done = std::move(done);
  t->not_before = not_before;
  if (Worker* own = CallingWorker()) return own->AddFromLoop(std::move(t));
  workers_[next_.fetch_add(1, std::memory_order_relaxed) % workers_.size()]->Add(std::move(t));
}

HttpResult HttpFetch(const std::string& url, const std::string& method,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     std::chrono::milliseconds timeout) {
  // scheme://authority, then the path and query.
  const size_t sep = url.find("://");
  const size_t path_at = url.find_first_of("/?", sep == std::string::npos ? 0 : sep + 3);
  const std::string base = url.substr(0, path_at);
  HttpRequest request;
  request.method = method;
  request.headers = headers;
  if (path_at != std::string::npos) {
    std::string rest = url.substr(path_at);
    const size_t q = rest.find('?');
    request.path = rest.substr(0, q);
    if (request.path.empty()) request.path = "/";
    if (q != std::string::npos) request.query = rest.substr(q + 1);
  }
  HttpOptions options;
  options.io_threads = 1;
  options.connect_timeout = std::min(options.connect_timeout, timeout);
  options.max_response_bytes = 1 << 20;
  std::promise<HttpResult> answer;
  std::future<HttpResult> result = answer.get_future();
  {
    HttpClient client(options);
    client.Send(base, std::move(request), timeout,
                [&answer](HttpResult&& r) { answer.set_value(std::move(r)); });
    result.wait();
  }
  return result.get();
}

}  // namespace zae::aws

#include "server/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <httplib.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "server/grpc_runtime.h"

namespace zae::server {
// Not anonymous: Server::Impl holds these.
namespace server_detail {

using SteadyClock = std::chrono::steady_clock;
constexpr const char* kRlsService = "envoy.service.ratelimit.v3.RateLimitService";

std::string ReadPem(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw ServerError("cannot read " + what + " '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  if (s.str().find("-----BEGIN") == std::string::npos) {
    throw ServerError(what + " '" + path + "' is not a PEM file");
  }
  return s.str();
}

class RlsGrpc final : public envoy::service::ratelimit::v3::RateLimitService::CallbackService {
 public:
  RlsGrpc(RlsService* rls, Metrics* metrics) : rls_(rls), metrics_(metrics) {}

  grpc::ServerUnaryReactor* ShouldRateLimit(grpc::CallbackServerContext* context,
                                            const rlspb::RateLimitRequest* request,
                                            rlspb::RateLimitResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const auto start = SteadyClock::now();
    rls_->ShouldRateLimit(*request, response, [this, reactor, response, start](Outcome o) {
      Code code = Code::kOk;
      grpc::Status status = grpc::Status::OK;
      switch (o.kind) {
        case Outcome::kOk:
          code = response->overall_code() == rlspb::RateLimitResponse::OVER_LIMIT ? Code::kOverLimit
                                                                                  : Code::kOk;
          break;
        case Outcome::kInvalid:
          code = Code::kBadRequest;
          status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, o.message);
          break;
        case Outcome::kUnavailable:
          code = Code::kUnavailable;
          status = grpc::Status(grpc::StatusCode::UNAVAILABLE, o.message);
          break;
        case Outcome::kInternal:
          code = Code::kInternal;
          status = grpc::Status(grpc::StatusCode::INTERNAL, o.message);
          break;
      }
      metrics_->Request(Endpoint::kShouldRateLimit, code,
                        std::chrono::duration<double>(SteadyClock::now() - start).count());
      reactor->Finish(status);
    });
    return reactor;
  }

 private:
  RlsService* rls_;
  Metrics* metrics_;
};

struct FileStamp {
  ino_t ino = 0;
  off_t size = -1;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp StampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_ino, st.st_size, int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

}  // namespace server_detail

using namespace server_detail;

std::pair<std::string, int> ParseListen(const std::string& address, const std::string& what) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    throw ServerError(what + " '" + address + "' must be HOST:PORT (e.g. 127.0.0.1:8080)");
  }
  std::string host = address.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) {
      throw ServerError(what + " '" + address + "': an IPv6 host is written [addr]");
    }
    host = host.substr(1, host.size() - 2);
  }
  int port = -1;
  const std::string digits = address.substr(colon + 1);
  if (digits.size() <= 5 && digits.find_first_not_of("0123456789") == std::string::npos) {
    port = std::stoi(digits);
  }
  if (port < 0 || port > 65535) {
    throw ServerError(what + " '" + address + "': the port must be 0..65535");
  }
  return {host, port};
}

struct Server::Impl {
  ServerOptions options;
  const Clock* clock;
  std::shared_ptr<RateLimiter> limiter;
  Metrics metrics;
  LeaseTable leases;
  RlsService rls;
  HttpApi http_api;
  std::unique_ptr<RlsGrpc> grpc_service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<httplib::Server> http_server;
  std::thread http_thread, expiry_thread;
  int grpc_port = 0, http_port = 0;
  std::atomic<bool> draining{false};
  std::mutex mu;  // guards stopped, stamp and the expiry thread's wait
  std::condition_variable cv;
  bool stopped = false;
  FileStamp stamp;

  Impl(std::shared_ptr<RateLimiter> l, ServerOptions o, std::shared_ptr<const RuleSet> rules)
      : options(std::move(o)),
        clock(options.clock ? options.clock : SystemClock::Default()),
        limiter(std::move(l)),
        metrics(options.version),
        leases(clock, options.max_open_leases, [this](int64_t n) { metrics.SetOpenLeases(n); }),
        rls(limiter, std::move(rules), &metrics, clock),
        http_api(
            limiter, &rls, &leases, &metrics, clock, [this] { return NotReady(); }, options.http) {}

  void Log(const std::string& line) {
    if (options.log) options.log(line);
  }

  std::string NotReady() {
    if (draining.load()) return "draining";
    if (!limiter->IsAvailable()) return "store unavailable";
    return "";
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<Server> Server::Start(std::shared_ptr<RateLimiter> limiter, ServerOptions options) {
  if (options.grpc_listen.empty() && options.http_listen.empty()) {
    throw ServerError("nothing to serve: both --grpc-listen and --http-listen are off");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    throw ServerError("TLS needs both --tls-cert and --tls-key");
  }
  if (!options.tls_client_ca.empty() && options.tls_cert.empty()) {
    throw ServerError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  if (options.http_threads < 1 || options.http_threads > 1024) {
    throw ServerError("--http-threads must be 1..1024");
  }
  std::shared_ptr<const RuleSet> rules = options.config_path.empty()
                                             ? RuleSet::Parse("domains: []", "(no rule file)")
                                             : RuleSet::Load(options.config_path);
  auto impl = std::make_unique<Impl>(std::move(limiter), std::move(options), rules);
  Impl& s = *impl;
  const ServerOptions& o = s.options;
  if (!o.config_path.empty()) s.stamp = StampOf(o.config_path);
  const bool tls = !o.tls_cert.empty();
  std::string cert, key, ca;
  if (tls) {
    cert = ReadPem(o.tls_cert, "--tls-cert");
    key = ReadPem(o.tls_key, "--tls-key");
    if (!o.tls_client_ca.empty()) ca = ReadPem(o.tls_client_ca, "--tls-client-ca");
  }

  if (!o.grpc_listen.empty()) {
    auto [host, port] = ParseListen(o.grpc_listen, "--grpc-listen");
    std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
    if (tls) {
      grpc::SslServerCredentialsOptions ssl(
          ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                     : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
      ssl.pem_root_certs = ca;
      ssl.pem_key_cert_pairs.push_back({key, cert});
      creds = grpc::SslServerCredentials(ssl);
    }
    ConfigureGrpcRuntime();
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    const std::string address =
        (o.grpc_listen.front() == '[' ? "[" + host + "]" : host) + ":" + std::to_string(port);
    builder.AddListeningPort(address, creds, &s.grpc_port);
    s.grpc_service = std::make_unique<RlsGrpc>(&s.rls, &s.metrics);
    builder.RegisterService(s.grpc_service.get());
    // A hostile or broken client cannot hold unbounded memory or streams.
    builder.SetMaxReceiveMessageSize(1 << 20);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 1000);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 5 * 60 * 1000);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    // SO_REUSEPORT would let a second server share the port silently.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    grpc::ResourceQuota quota("zae-serve");
    quota.Resize(256 << 20);
    builder.SetResourceQuota(quota);
    s.grpc_server = builder.BuildAndStart();
    if (!s.grpc_server || s.grpc_port == 0) {
      throw ServerError("cannot listen for gRPC on " + o.grpc_listen +
                        " (address in use or not local?)");
    }
    s.grpc_server->GetHealthCheckService()->SetServingStatus(true);
    s.grpc_server->GetHealthCheckService()->SetServingStatus(kRlsService, true);
  }

  if (!o.http_listen.empty()) {
    auto [host, port] = ParseListen(o.http_listen, "--http-listen");
    if (tls) {
      auto ssl = std::make_unique<httplib::SSLServer>(
          o.tls_cert.c_str(), o.tls_key.c_str(),
          o.tls_client_ca.empty() ? nullptr : o.tls_client_ca.c_str());
      if (!ssl->is_valid()) throw ServerError("the TLS certificate or key cannot be loaded");
      s.http_server = std::move(ssl);
    } else {
      s.http_server = std::make_unique<httplib::Server>();
    }
    httplib::Server& http = *s.http_server;
    const int threads = o.http_threads;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
    // httplib's default adds SO_REUSEPORT, which lets a second server share
    // the port silently: a port in use must be an error.
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    // Headers and body go out in separate writes: without this, Nagle and
    // delayed ACKs add 40 ms to every keep-alive request.
    http.set_tcp_nodelay(true);
    http.set_read_timeout(o.http_read_timeout);
    http.set_write_timeout(o.http_read_timeout);
    http.set_keep_alive_timeout(o.http_read_timeout.count());
    http.set_keep_alive_max_count(1000);
    s.http_api.Install(http);
    s.http_port =
        port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
    if (s.http_port <= 0) {
      if (s.grpc_server) s.grpc_server->Shutdown();
      throw ServerError("cannot listen for HTTP on " + o.http_listen +
                        " (address in use or not local?)");
    }
    s.http_thread = std::thread([&http] { http.listen_after_bind(); });
    while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  s.expiry_thread = std::thread([&s] {
    std::unique_lock lock(s.mu);
    while (!s.stopped) {
      s.cv.wait_for(lock, std::chrono::milliseconds(250));
      if (s.stopped) break;
      lock.unlock();
      int failed = 0;
      const int n = s.leases.ExpireDue(&failed);
      if (n > 0 && failed > 0) {
        s.Log("lease expiry: " + std::to_string(failed) + " of " + std::to_string(n) +
              " commits failed");
      }
      lock.lock();
    }
  });
  s.metrics.SetReady(true);
  s.Log("serving: grpc " + (s.grpc_server ? std::to_string(s.grpc_port) : std::string("off")) +
        ", http " + (s.http_server ? std::to_string(s.http_port) : std::string("off")) +
        (tls ? (ca.empty() ? ", tls" : ", mtls") : "") + ", " +
        std::to_string(rules->rule_count()) + " rules" +
        (o.config_path.empty() ? "" : " from " + o.config_path));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::~Server() { Stop(std::chrono::milliseconds(0)); }

int Server::grpc_port() const { return impl_->grpc_port; }
int Server::http_port() const { return impl_->http_port; }
Metrics& Server::metrics() { return impl_->metrics; }
LeaseTable& Server::leases() { return impl_->leases; }
RlsService& Server::rls() { return impl_->rls; }
std::string Server::NotReady() { return impl_->NotReady(); }

bool Server::Reload() {
  Impl& s = *impl_;
  if (s.options.config_path.empty()) return false;
  {
    std::lock_guard lock(s.mu);
    s.stamp = StampOf(s.options.config_path);
  }
  try {
    std::shared_ptr<const RuleSet> rules = RuleSet::Load(s.options.config_path);
    const size_t n = rules->rule_count();
    s.rls.SetRules(std::move(rules));
    s.metrics.Reload(true);
    s.Log("reloaded " + s.options.config_path + ": " + std::to_string(n) + " rules");
    return true;
  } catch (const std::exception& e) {
    s.metrics.Reload(false);
    s.Log(std::string("reload failed, the previous rules stay: ") + e.what());
    return false;
  }
}

bool Server::ReloadIfChanged() {
  Impl& s = *impl_;
  if (s.options.config_path.empty()) return false;
  {
    std::lock_guard lock(s.mu);
    if (StampOf(s.options.config_path) == s.stamp) return false;
  }
  return Reload();
}

void Server::BeginDrain() {
  Impl& s = *impl_;
  if (s.draining.exchange(true)) return;
  s.metrics.SetReady(false);
  if (s.grpc_server) {
    s.grpc_server->GetHealthCheckService()->SetServingStatus(false);
    s.grpc_server->GetHealthCheckService()->SetServingStatus(kRlsService, false);
  }
  s.Log("draining: not ready, still serving");
}

void Server::Stop(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    if (s.stopped) return;
    s.stopped = true;
  }
  s.cv.notify_all();
  BeginDrain();
  if (s.grpc_server) {
    // Calls in flight finish (up to the grace period); new ones are refused.
    s.grpc_server->Shutdown(std::chrono::system_clock::now() + grace);
    s.grpc_server->Wait();
  }
  if (s.http_server) {
    s.http_server->stop();
    if (s.http_thread.joinable()) s.http_thread.join();  // pool threads finish their requests
  }
  if (s.expiry_thread.joinable()) s.expiry_thread.join();
  int failed = 0;
  const int n = s.leases.CommitAll(&failed);
  s.Log("stopped: committed " + std::to_string(n) + " open leases" +
        (failed ? " (" + std::to_string(failed) + " failed)" : ""));
}

}  // namespace zae::server

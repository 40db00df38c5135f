// zae-limiter serve: the server (src/server, docs/server.md) on the store
// and namespace of the global options, until SIGTERM or SIGINT.
#include <signal.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <mutex>

#include "cli/app.h"
#include "server/server.h"
#include "zae/version.h"

namespace zae::cli {
namespace {

struct ServeArgs {
  server::ServerOptions options;
  double drain_seconds = 5;
  std::string on_unavailable;
  // The calls that need more than one store round trip wait on these
  // threads: on DynamoDB each waits a round trip, and with per-second
  // limits every bucket takes that path when its TTL (7 refill periods)
  // runs out, so the library's default of 2 queues them behind each other.
  int async_threads = 16;
};

// Log lines go to stderr with a UTC timestamp, one write per line.
void LogLine(const std::string& line) {
  static std::mutex mu;
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::lock_guard lock(mu);
  std::cerr << stamp << " zae-limiter serve: " << line << std::endl;
}

int Serve(Context& ctx, ServeArgs& a) {
  if (!a.on_unavailable.empty()) ctx.open_policy = ParseOnUnavailable(a.on_unavailable);
  ctx.async_threads = a.async_threads;
  // Every thread started from here on inherits the mask, so the signals
  // reach only the sigtimedwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const bool create = ctx.global.namespace_name == "default" && ctx.embedded_store();
  std::shared_ptr<RateLimiter> limiter = ctx.OpenLimiter(ctx.global.namespace_name, create);
  a.options.version = ZAE_VERSION_STRING;
  a.options.log = LogLine;
  std::unique_ptr<server::Server> srv;
  try {
    srv = server::Server::Start(limiter, a.options);
  } catch (const server::ServerError& e) {
    throw CommandError(e.what());
  } catch (const server::ConfigError& e) {
    throw CommandError(std::string("rule file: ") + e.what(), kExitUsage);
  }
  LogLine("store " + ctx.StoreUrl() + ", namespace " + limiter->namespace_name());

  timespec tick{1, 0};
  for (;;) {
    siginfo_t info;
    const int sig = sigtimedwait(&signals, &info, &tick);
    if (sig == SIGHUP) {
      srv->Reload();
    } else if (sig == SIGTERM || sig == SIGINT) {
      break;
    } else {
      srv->ReloadIfChanged();
    }
  }
  srv->BeginDrain();
  char drain[64];
  std::snprintf(drain, sizeof drain, "draining for %g s", a.drain_seconds);
  LogLine(drain);
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(std::llround(a.drain_seconds * 1000));
  while (std::chrono::steady_clock::now() < until) {
    const auto left = until - std::chrono::steady_clock::now();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec wait{time_t(ns / 1'000'000'000), long(ns % 1'000'000'000)};
    siginfo_t info;
    const int sig = sigtimedwait(&signals, &info, &wait);
    if (sig == SIGTERM || sig == SIGINT) {
      LogLine("second signal: stopping now");
      break;
    }
  }
  srv->Stop(std::chrono::seconds(5));
  return kExitOk;
}

}  // namespace

void AddServeCommand(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve the limiter: Envoy's rate limit service (gRPC), an HTTP/JSON API with leases, "
      "and Prometheus metrics (docs/server.md). SIGHUP reloads the rule file; SIGTERM drains "
      "and exits 0.");
  server::ServerOptions& o = a->options;
  cmd->add_option("--grpc-listen", o.grpc_listen,
                  "HOST:PORT for Envoy's RLS v3 and grpc.health.v1 ('' = off)")
      ->capture_default_str();
  cmd->add_option("--http-listen", o.http_listen,
                  "HOST:PORT for the HTTP API, /json, /metrics, /healthz, /readyz ('' = off)")
      ->capture_default_str();
  cmd->add_option("--config", o.config_path,
                  "YAML rule file mapping Envoy descriptors to entity, resource and limit; "
                  "reloaded on SIGHUP and when it changes")
      ->check(CLI::ExistingFile);
  cmd->add_option("--drain-seconds", a->drain_seconds,
                  "On SIGTERM: seconds of answering not-ready while still serving")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  cmd->add_option("--tls-cert", o.tls_cert, "PEM certificate (chain) for both listeners")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-client-ca", o.tls_client_ca,
                  "PEM CA bundle: require client certificates it signed (mTLS)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--http-threads", o.http_threads, "HTTP connections served at once")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--lease-seconds", o.http.default_lease_seconds,
                  "Default lease_seconds of POST /v1/acquire (an open lease is committed "
                  "after it)")
      ->check(CLI::Range(int64_t{1}, int64_t{3600}))
      ->capture_default_str();
  cmd->add_option("--on-unavailable", a->on_unavailable,
                  "Policy while the store cannot be read: allow or block (default: the "
                  "namespace's stored policy)")
      ->check(CLI::IsMember({"allow", "block"}));
  cmd->add_option("--async-threads", a->async_threads,
                  "Threads for the calls that need more than one store round trip (a bucket's "
                  "first acquire, a refill, a cascade's parent)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  OnRun(cmd, ctx, [&ctx, a] { return Serve(ctx, *a); });
}

}  // namespace zae::cli

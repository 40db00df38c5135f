#include "server/load_client.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bench/histogram.h"
#include "core/process_stats.h"
#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "server/grpc_runtime.h"
#include "server/json.h"
#include "server/server.h"

namespace zae::server {
namespace {

using SteadyClock = std::chrono::steady_clock;
namespace rlspb = envoy::service::ratelimit::v3;

// utime + stime of another process, from /proc/PID/stat; -1 if unreadable.
double PidCpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  double utime = 0, stime = 0;
  // After the command: state is field 3; utime and stime are 14 and 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stod(f);
    if (i == 15) stime = std::stod(f);
  }
  return (utime + stime) / double(sysconf(_SC_CLK_TCK));
}

rlspb::RateLimitRequest RequestFor(const LoadOptions& o, int i) {
  rlspb::RateLimitRequest r;
  r.set_domain(o.domain);
  auto* d = r.add_descriptors();
  auto* e = d->add_entries();
  e->set_key(o.key);
  e->set_value("k" + std::to_string(i % o.keys));
  // Envoy's per-request limit: the fallback where nothing is stored (a
  // memory store starts empty), so every call is decided and none refused.
  d->mutable_limit()->set_requests_per_unit(1'000'000'000);
  d->mutable_limit()->set_unit(envoy::type::v3::SECOND);
  return r;
}

// Counts shared by the callers; latencies go to one histogram under a lock.
struct Tally {
  std::atomic<bool> measuring{false}, stop{false};
  std::atomic<int64_t> ok{0}, over{0}, errors{0};
  std::mutex mu;
  bench::Histogram latency;
  std::string first_error;

  void Record(SteadyClock::time_point start, int code, const std::string& error) {
    if (!measuring.load(std::memory_order_relaxed)) return;
    const int64_t us =
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - start).count();
    (code == 1 ? ok : code == 2 ? over : errors).fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu);
    latency.Add(us);
    if (code == 0 && first_error.empty()) first_error = error;
  }
};

// Every gRPC object is destroyed on the thread that runs RunLoad, never in a
// completion callback: when the last reference to a channel drops on one of
// gRPC's callback threads, gRPC 1.51 tears its callback queue down from that
// same thread and frees it twice (seen under ASan). So the calls live in
// slots owned here, not in the callbacks' captures.
class GrpcLoad {
 public:
  GrpcLoad(const LoadOptions& o, const std::string& address, Tally* tally)
      : o_(o),
        tally_(tally),
        stub_(rlspb::RateLimitService::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {
    for (int i = 0; i < o_.inflight; ++i) slots_.push_back(std::make_unique<InFlight>());
  }
  // Wait() has returned, so no callback is left to touch a slot.
  ~GrpcLoad() {
    slots_.clear();
    stub_.reset();
  }

  void Start() {
    {
      std::lock_guard lock(mu_);
      running_ = o_.inflight;
    }
    for (int i = 0; i < o_.inflight; ++i) Send(i, i);
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return running_ == 0; });
  }

 private:
  struct InFlight {
    std::unique_ptr<grpc::ClientContext> context;
    rlspb::RateLimitRequest request;
    rlspb::RateLimitResponse response;
    SteadyClock::time_point start;
  };

  void Send(int slot, int i) {
    InFlight* call = slots_[slot].get();
    // Replacing the finished call's context here is safe: the stub still
    // holds the channel, so this never drops its last reference.
    call->context = std::make_unique<grpc::ClientContext>();
    call->request = RequestFor(o_, i);
    call->response.Clear();
    call->context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    call->start = SteadyClock::now();
    stub_->async()->ShouldRateLimit(
        call->context.get(), &call->request, &call->response,
        [this, call, slot, i](grpc::Status s) {
          tally_->Record(call->start, s.ok() ? int(call->response.overall_code()) : 0,
                         s.error_message());
          if (tally_->stop.load()) {
            std::lock_guard lock(mu_);
            if (--running_ == 0) cv_.notify_all();
            return;
          }
          Send(slot, i + o_.inflight);
        });
  }

  const LoadOptions& o_;
  Tally* tally_;
  std::unique_ptr<rlspb::RateLimitService::Stub> stub_;
  std::vector<std::unique_ptr<InFlight>> slots_;
  int running_ = 0;  // guarded by mu_
  std::mutex mu_;
  std::condition_variable cv_;
};

void HttpWorker(const LoadOptions& o, const std::string& host, int port, int first, Tally* tally) {
  httplib::Client client(host, port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  for (int i = first; !tally->stop.load(); i += o.inflight) {
    std::string body;
    (void)google::protobuf::util::MessageToJsonString(RequestFor(o, i), &body);
    const auto start = SteadyClock::now();
    auto res = client.Post("/json", body, "application/json");
    const int code = !res ? 0 : res->status == 200 ? 1 : res->status == 429 ? 2 : 0;
    tally->Record(start, code,
                  res ? "HTTP " + std::to_string(res->status) + ": " + res->body
                      : "no answer: " + httplib::to_string(res.error()));
  }
}

// The HTTP lease round trip: acquire, then commit the lease.
void LeaseWorker(const LoadOptions& o, const std::string& host, int port, int first, Tally* tally) {
  httplib::Client client(host, port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  for (int i = first; !tally->stop.load(); i += o.inflight) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("entity_id");
    w.String("k" + std::to_string(i % o.keys));
    w.Key("resource");
    w.String(o.lease_resource);
    w.Key("consume");
    w.StartObject();
    w.Key(o.lease_limit.c_str(), rapidjson::SizeType(o.lease_limit.size()));
    w.Int(1);
    w.EndObject();
    w.EndObject();
    const auto start = SteadyClock::now();
    auto res = client.Post("/v1/acquire", buf.GetString(), "application/json");
    if (!res || res->status != 200) {
      const int code = res && res->status == 429 ? 2 : 0;
      tally->Record(start, code,
                    res ? "acquire: HTTP " + std::to_string(res->status) + ": " + res->body
                        : "acquire: no answer: " + httplib::to_string(res.error()));
      continue;
    }
    rapidjson::Document d;
    d.Parse(res->body.c_str());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("lease_id") ||
        !d["lease_id"].IsString()) {
      tally->Record(start, 0, "acquire: no lease_id in " + res->body);
      continue;
    }
    auto done = client.Post("/v1/leases/" + std::string(d["lease_id"].GetString()) + "/commit", "",
                            "application/json");
    tally->Record(start, done && done->status == 200 ? 1 : 0,
                  done ? "commit: HTTP " + std::to_string(done->status) + ": " + done->body
                       : "commit: no answer: " + httplib::to_string(done.error()));
  }
}

}  // namespace

LoadResult RunLoad(const LoadOptions& o) {
  const bool grpc_target = o.target.rfind("grpc://", 0) == 0;
  const bool http_target = o.target.rfind("http://", 0) == 0;
  if (!grpc_target && !http_target) {
    throw std::invalid_argument("--target must be grpc://HOST:PORT or http://HOST:PORT, not '" +
                                o.target + "'");
  }
  if (o.inflight < 1 || o.keys < 1 || o.duration_seconds <= 0) {
    throw std::invalid_argument("inflight, keys and duration must be positive");
  }
  if (!o.lease_resource.empty() && !http_target) {
    throw std::invalid_argument("the lease round trip needs an http:// target");
  }
  const std::string address = o.target.substr(7);  // both schemes are 7 characters
  std::pair<std::string, int> hp;
  try {
    hp = ParseListen(address, "--target");
  } catch (const ServerError& e) {
    throw std::invalid_argument(e.what());
  }
  Tally tally;
  std::unique_ptr<GrpcLoad> grpc_load;
  std::vector<std::thread> workers;
  if (grpc_target) {
    ConfigureGrpcRuntime();
    grpc_load = std::make_unique<GrpcLoad>(o, address, &tally);
    grpc_load->Start();
  } else {
    for (int i = 0; i < o.inflight; ++i) {
      workers.emplace_back(o.lease_resource.empty() ? HttpWorker : LeaseWorker, std::cref(o),
                           hp.first, hp.second, i, &tally);
    }
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_seconds));
  const double cpu0 = ProcessCpuSeconds();
  const double server0 = o.server_pid > 0 ? PidCpuSeconds(o.server_pid) : -1;
  const auto t0 = SteadyClock::now();
  tally.measuring = true;
  const auto end = t0 + std::chrono::duration<double>(o.duration_seconds);
  while (SteadyClock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (o.progress) {
      o.progress(std::to_string(tally.ok + tally.over + tally.errors) + " calls");
    }
  }
  tally.measuring = false;
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  const double cpu = ProcessCpuSeconds() - cpu0;
  const double server = o.server_pid > 0 ? PidCpuSeconds(o.server_pid) - server0 : -1;
  tally.stop = true;
  if (grpc_load) grpc_load->Wait();
  for (auto& t : workers) t.join();

  LoadResult r;
  r.target = o.target;
  r.call = grpc_target                ? "ShouldRateLimit"
           : o.lease_resource.empty() ? "POST /json"
                                      : "lease round trip (POST /v1/acquire + commit)";
  r.inflight = o.inflight;
  r.ok = tally.ok;
  r.over_limit = tally.over;
  r.errors = tally.errors;
  r.calls = r.ok + r.over_limit + r.errors;
  r.calls_per_sec = double(r.calls) / seconds;
  r.p50_ms = tally.latency.Percentile(0.5) / 1000;
  r.p99_ms = tally.latency.Percentile(0.99) / 1000;
  r.p999_ms = tally.latency.Percentile(0.999) / 1000;
  if (r.calls > 0) {
    r.client_cpu_us_per_call = cpu * 1e6 / double(r.calls);
    if (server >= 0 && server0 >= 0) r.server_cpu_us_per_call = server * 1e6 / double(r.calls);
  }
  r.first_error = tally.first_error;
  return r;
}

std::string ToJson(const LoadResult& r) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("target");
  w.String(r.target);
  w.Key("call");
  w.String(r.call);
  w.Key("inflight");
  w.Int(r.inflight);
  w.Key("calls");
  w.Int64(r.calls);
  w.Key("calls_per_sec");
  w.Double(r.calls_per_sec);
  w.Key("latency_ms");
  w.StartObject();
  w.Key("p50");
  w.Double(r.p50_ms);
  w.Key("p99");
  w.Double(r.p99_ms);
  w.Key("p999");
  w.Double(r.p999_ms);
  w.EndObject();
  w.Key("ok");
  w.Int64(r.ok);
  w.Key("over_limit");
  w.Int64(r.over_limit);
  w.Key("errors");
  w.Int64(r.errors);
  w.Key("client_cpu_us_per_call");
  w.Double(r.client_cpu_us_per_call);
  w.Key("server_cpu_us_per_call");
  if (r.server_cpu_us_per_call < 0) {
    w.Null();
  } else {
    w.Double(r.server_cpu_us_per_call);
  }
  if (!r.first_error.empty()) {
    w.Key("first_error");
    w.String(r.first_error);
  }
  w.EndObject();
  return buf.GetString();
}

std::string ToTable(const LoadResult& r) {
  char server_cpu[64];
  std::snprintf(server_cpu, sizeof server_cpu, "%.1f us/call", r.server_cpu_us_per_call);
  char line[512];
  std::snprintf(
      line, sizeof line,
      "target %s, %s, %d in flight\n  calls/s %.0f   p50 %.3f ms   p99 %.3f ms   p99.9 %.3f "
      "ms\n  ok %lld   over_limit %lld   errors %lld\n  client CPU %.1f us/call   "
      "server CPU %s\n",
      r.target.c_str(), r.call.c_str(), r.inflight, r.calls_per_sec, r.p50_ms, r.p99_ms, r.p999_ms,
      (long long)r.ok, (long long)r.over_limit, (long long)r.errors, r.client_cpu_us_per_call,
      r.server_cpu_us_per_call < 0 ? "(give --server-pid)" : server_cpu);
  std::string out = line;
  if (!r.first_error.empty()) out += "  first error: " + r.first_error + "\n";
  return out;
}

}  // namespace zae::server

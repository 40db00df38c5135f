#include "server/metrics.h"

#include <charconv>
#include <chrono>
#include <cstdio>

#include "core/process_stats.h"

namespace zae::server {
namespace {

const char* EndpointName(size_t e) {
  static constexpr const char* kNames[] = {
      "should_rate_limit", "json", "acquire", "adjust", "commit", "release", "available"};
  return kNames[e];
}

const char* ApiOf(size_t e) { return e == 0 ? "grpc" : "http"; }

const char* CodeName(size_t c) {
  static constexpr const char* kNames[] = {"ok",        "over_limit",  "bad_request", "not_found",
                                           "too_large", "unavailable", "internal"};
  return kNames[c];
}

const char* DecisionName(size_t d) {
  static constexpr const char* kNames[] = {"ok", "over_limit", "shadow_over_limit", "unmatched"};
  return kNames[d];
}

// The shortest text that reads back as `v` (0.0005, not 0.00050000000000000001).
std::string Number(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, r.ptr);
}

void Family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Metrics::Metrics(std::string version)
    : version_(std::move(version)),
      start_time_seconds_(
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count()) {}

void Metrics::Request(Endpoint endpoint, Code code, double seconds) {
  requests_[Index(endpoint, code)].fetch_add(1, std::memory_order_relaxed);
  Histogram& h = latency_[static_cast<size_t>(endpoint)];
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  if (b < kBuckets.size()) h.buckets[b].fetch_add(1, std::memory_order_relaxed);
  h.count.fetch_add(1, std::memory_order_relaxed);
  h.sum_ns.fetch_add(uint64_t(seconds > 0 ? seconds * 1e9 : 0), std::memory_order_relaxed);
}

std::string Metrics::Render() const {
  std::string out;
  out.reserve(8192);
  Family(out, "zae_requests_total", "counter", "Requests answered, by API, endpoint and outcome.");
  for (size_t e = 0; e < kEndpoints; ++e) {
    for (size_t c = 0; c < static_cast<size_t>(Code::kCount); ++c) {
      const uint64_t v = requests_[e * static_cast<size_t>(Code::kCount) + c].load();
      if (v == 0) continue;
      out += "zae_requests_total{api=\"";
      out += ApiOf(e);
      out += "\",endpoint=\"";
      out += EndpointName(e);
      out += "\",code=\"";
      out += CodeName(c);
      out += "\"} " + std::to_string(v) + "\n";
    }
  }
  Family(out, "zae_request_duration_seconds", "histogram",
         "Time from a request's arrival to its answer, by API and endpoint.");
  for (size_t e = 0; e < kEndpoints; ++e) {
    const Histogram& h = latency_[e];
    const uint64_t count = h.count.load();
    if (count == 0) continue;
    const std::string labels =
        std::string("api=\"") + ApiOf(e) + "\",endpoint=\"" + EndpointName(e) + "\"";
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += h.buckets[b].load();
      out += "zae_request_duration_seconds_bucket{" + labels + ",le=\"" + Number(kBuckets[b]) +
             "\"} " + std::to_string(cumulative) + "\n";
    }
    // +Inf equals _count by construction, even while writers race.
    out += "zae_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
           std::to_string(std::max(count, cumulative)) + "\n";
    out += "zae_request_duration_seconds_sum{" + labels + "} " +
           Number(double(h.sum_ns.load()) / 1e9) + "\n";
    out += "zae_request_duration_seconds_count{" + labels + "} " +
           std::to_string(std::max(count, cumulative)) + "\n";
  }
  Family(out, "zae_rls_descriptor_decisions_total", "counter",
         "Envoy descriptors answered, by decision.");
  for (size_t d = 0; d < static_cast<size_t>(Decision::kCount); ++d) {
    out += "zae_rls_descriptor_decisions_total{decision=\"";
    out += DecisionName(d);
    out += "\"} " + std::to_string(decisions_[d].load()) + "\n";
  }
  Family(out, "zae_tokens_charged_total", "counter",
         "Tokens consumed by requests (every limit summed), adjustments excluded.");
  out += "zae_tokens_charged_total " + std::to_string(tokens_charged_.load()) + "\n";
  Family(out, "zae_store_errors_total", "counter",
         "Requests that failed because the store failed or timed out.");
  out += "zae_store_errors_total " + std::to_string(store_errors_.load()) + "\n";
  Family(out, "zae_config_reloads_total", "counter", "Rule file reloads, by result.");
  out +=
      "zae_config_reloads_total{result=\"success\"} " + std::to_string(reloads_ok_.load()) + "\n";
  out += "zae_config_reloads_total{result=\"failure\"} " + std::to_string(reloads_failed_.load()) +
         "\n";
  Family(out, "zae_open_leases", "gauge", "HTTP leases acquired and not yet committed.");
  out += "zae_open_leases " + std::to_string(open_leases_.load()) + "\n";
  Family(out, "zae_ready", "gauge", "1 when the server is ready (see /readyz).");
  out += std::string("zae_ready ") + (ready_.load() ? "1" : "0") + "\n";
  Family(out, "zae_build_info", "gauge", "The version of this server; always 1.");
  out += "zae_build_info{version=\"" + EscapeLabelValue(version_) + "\"} 1\n";
  Family(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
  out += "process_cpu_seconds_total " + Number(ProcessCpuSeconds()) + "\n";
  Family(out, "process_resident_memory_bytes", "gauge", "Resident memory size.");
  out += "process_resident_memory_bytes " + Number(ProcessResidentBytes()) + "\n";
  Family(out, "process_start_time_seconds", "gauge", "Start time since the Unix epoch.");
  out += "process_start_time_seconds " + Number(start_time_seconds_) + "\n";
  return out;
}

}  // namespace zae::server

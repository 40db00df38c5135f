#include "server/http_api.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include <chrono>
#include <future>

#include "server/json.h"
#include "zae/errors.h"
#include "zae/limit_status.h"
#include "zae/validate.h"

namespace zae::server {
namespace {

using SteadyClock = std::chrono::steady_clock;

// An error answered as {"error": message} with `status`.
struct HttpError {
  int status;
  std::string message;
};

Code CodeOf(int status) {
  switch (status) {
    case 200:
      return Code::kOk;
    case 429:
      return Code::kOverLimit;
    case 400:
      return Code::kBadRequest;
    case 404:
      return Code::kNotFound;
    case 413:
      return Code::kTooLarge;
    case 503:
      return Code::kUnavailable;
    default:
      return Code::kInternal;
  }
}

void Quote(std::string& out, const std::string& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  out += buf.GetString();
}

std::string ErrorBody(const std::string& message) {
  std::string out = "{\"error\":";
  Quote(out, message);
  out += "}";
  return out;
}

std::string AmountsJson(const Amounts& amounts) {
  std::string out = "{";
  for (const auto& [name, n] : amounts) {
    if (out.size() > 1) out += ",";
    Quote(out, name);
    out += ":" + std::to_string(n);
  }
  return out + "}";
}

rapidjson::Document ParseObject(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  if (d.HasParseError()) {
    throw HttpError{400, std::string("bad JSON: ") +
                             rapidjson::GetParseError_En(d.GetParseError()) + " at offset " +
                             std::to_string(d.GetErrorOffset())};
  }
  if (!d.IsObject()) throw HttpError{400, "the body must be a JSON object"};
  return d;
}

void OnlyFields(const rapidjson::Value& o, std::initializer_list<const char*> fields) {
  for (auto it = o.MemberBegin(); it != o.MemberEnd(); ++it) {
    const std::string key(it->name.GetString(), it->name.GetStringLength());
    bool known = false;
    for (const char* f : fields) known |= key == f;
    if (!known) throw HttpError{400, "unknown field '" + key + "'"};
  }
}

std::string StringField(const rapidjson::Value& o, const char* name) {
  auto it = o.FindMember(name);
  if (it == o.MemberEnd()) throw HttpError{400, std::string("'") + name + "' is required"};
  if (!it->value.IsString()) throw HttpError{400, std::string("'") + name + "' must be a string"};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// {"name": integer, ...}; negative amounts only with allow_negative.
Amounts AmountsField(const rapidjson::Value& o, const char* name, bool allow_negative) {
  auto it = o.FindMember(name);
  if (it == o.MemberEnd()) throw HttpError{400, std::string("'") + name + "' is required"};
  if (!it->value.IsObject() || it->value.MemberCount() == 0) {
    throw HttpError{400, std::string("'") + name + "' must be an object of limit name to amount"};
  }
  Amounts out;
  for (auto m = it->value.MemberBegin(); m != it->value.MemberEnd(); ++m) {
    const std::string limit(m->name.GetString(), m->name.GetStringLength());
    if (!m->value.IsInt64()) {
      throw HttpError{400, std::string(name) + "." + limit + " must be an integer"};
    }
    const int64_t n = m->value.GetInt64();
    if (n < 0 && !allow_negative) {
      throw HttpError{400, std::string(name) + "." + limit + " must not be negative"};
    }
    if (n > kMaxLimitValue || n < -kMaxLimitValue) {
      throw HttpError{400, std::string(name) + "." + limit + " is too large"};
    }
    if (!out.emplace(limit, n).second) {
      throw HttpError{400, std::string(name) + "." + limit + " is given twice"};
    }
  }
  return out;
}

}  // namespace

HttpApi::HttpApi(std::shared_ptr<RateLimiter> limiter, RlsService* rls, LeaseTable* leases,
                 Metrics* metrics, const Clock* clock, std::function<std::string()> not_ready,
                 HttpApiOptions options)
    : limiter_(std::move(limiter)),
      rls_(rls),
      leases_(leases),
      metrics_(metrics),
      clock_(clock),
      not_ready_(std::move(not_ready)),
      options_(options) {}

void HttpApi::Install(httplib::Server& server) {
  // Runs `fn`, maps errors to JSON answers and records the request.
  auto handle = [this](Endpoint endpoint, auto fn) {
    return [this, endpoint, fn](const httplib::Request& req, httplib::Response& res) {
      const auto start = SteadyClock::now();
      res.status = 200;  // httplib fills it in only after the handler
      try {
        fn(req, res);
      } catch (const HttpError& e) {
        res.status = e.status;
        res.set_content(ErrorBody(e.message), "application/json");
      } catch (const BadJson& e) {
        res.status = 400;
        res.set_content(ErrorBody(e.what()), "application/json");
      } catch (const ValidationError& e) {
        res.status = 400;
        res.set_content(ErrorBody(e.what()), "application/json");
      } catch (const RateLimiterUnavailable& e) {
        metrics_->StoreError();
        res.status = 503;
        res.set_content(ErrorBody(e.what()), "application/json");
      } catch (const StoreError& e) {
        metrics_->StoreError();
        res.status = 503;
        res.set_content(ErrorBody(std::string("store unavailable: ") + e.what()),
                        "application/json");
      } catch (const std::exception& e) {
        res.status = 500;
        res.set_content(ErrorBody(e.what()), "application/json");
      }
      metrics_->Request(endpoint, CodeOf(res.status),
                        std::chrono::duration<double>(SteadyClock::now() - start).count());
    };
  };

  server.Post(
      "/v1/acquire",
      handle(Endpoint::kAcquire, [this](const httplib::Request& req, httplib::Response& res) {
        const rapidjson::Document d = ParseObject(req.body);
        OnlyFields(d, {"entity_id", "resource", "consume", "lease_seconds"});
        const std::string entity = StringField(d, "entity_id");
        const std::string resource = StringField(d, "resource");
        ValidateIdentifier(entity, "entity_id");
        ValidateResource(resource);
        const Amounts consume = AmountsField(d, "consume", false);
        int64_t lease_seconds = options_.default_lease_seconds;
        if (auto it = d.FindMember("lease_seconds"); it != d.MemberEnd()) {
          if (!it->value.IsInt64() || it->value.GetInt64() < 1 ||
              it->value.GetInt64() > options_.max_lease_seconds) {
            throw HttpError{400, "'lease_seconds' must be an integer from 1 to " +
                                     std::to_string(options_.max_lease_seconds)};
          }
          lease_seconds = it->value.GetInt64();
        }
        AcquireResult result = limiter_->Acquire(entity, resource, consume);
        if (!result.allowed()) {
          const Denial& denial = result.denial();
          std::string body = "{\"allowed\":false,\"retry_after_seconds\":";
          rapidjson::StringBuffer buf;
          rapidjson::Writer<rapidjson::StringBuffer> w(buf);
          w.Double(denial.retry_after_seconds());
          body += buf.GetString();
          body += ",\"limits\":" + StatusesJson(denial.statuses()) + "}";
          res.status = 429;
          res.set_header("Retry-After", denial.retry_after_header());
          res.set_content(body, "application/json");
          return;
        }
        Lease lease = result.take_lease();
        const std::string limits = StatusesJson(StatusesOf(lease, clock_->NowMs()));
        const bool noop = lease.is_noop();
        for (const auto& [name, n] : consume) metrics_->Charged(n);
        std::optional<std::string> id = leases_->Add(std::move(lease), lease_seconds);
        if (!id) {
          throw HttpError{503, "too many open leases; commit or release some"};
        }
        std::string body = "{\"allowed\":true,\"lease_id\":\"" + *id +
                           "\",\"lease_seconds\":" + std::to_string(lease_seconds) +
                           ",\"noop\":" + (noop ? "true" : "false") +
                           ",\"consumed\":" + AmountsJson(consume) + ",\"limits\":" + limits + "}";
        res.set_content(body, "application/json");
      }));

  server.Post(
      R"(/v1/leases/([^/]+)/adjust)",
      handle(Endpoint::kAdjust, [this](const httplib::Request& req, httplib::Response& res) {
        const std::string id = req.matches[1];
        const rapidjson::Document d = ParseObject(req.body);
        OnlyFields(d, {"adjust"});
        const Amounts adjust = AmountsField(d, "adjust", true);
        Amounts consumed;
        if (!leases_->With(id, [&](Lease& lease) {
              lease.Adjust(adjust);
              consumed = lease.consumed();
            })) {
          throw HttpError{404, "no open lease '" + id + "'"};
        }
        res.set_content("{\"lease_id\":\"" + id + "\",\"consumed\":" + AmountsJson(consumed) + "}",
                        "application/json");
      }));

  auto finish = [this](bool commit) {
    return [this, commit](const httplib::Request& req, httplib::Response& res) {
      const std::string id = req.matches[1];
      int64_t expires = 0;
      std::optional<Lease> lease = leases_->Take(id, &expires);
      if (!lease) throw HttpError{404, "no open lease '" + id + "'"};
      const Amounts consumed = lease->consumed();
      try {
        commit ? lease->Commit() : lease->Rollback();
      } catch (const StoreError&) {
        // Still active (the write surely did not land): the client may retry.
        if (lease->active()) leases_->Restore(id, std::move(*lease), expires);
        throw;
      }
      res.set_content(std::string("{\"lease_id\":\"") + id + "\",\"" +
                          (commit ? "committed" : "released") +
                          "\":true,\"consumed\":" + (commit ? AmountsJson(consumed) : "{}") + "}",
                      "application/json");
    };
  };
  server.Post(R"(/v1/leases/([^/]+)/commit)", handle(Endpoint::kCommit, finish(true)));
  server.Post(R"(/v1/leases/([^/]+)/release)", handle(Endpoint::kRelease, finish(false)));

  server.Get("/v1/available", handle(Endpoint::kAvailable, [this](const httplib::Request& req,
                                                                  httplib::Response& res) {
               if (!req.has_param("entity_id") || !req.has_param("resource")) {
                 throw HttpError{400, "query parameters 'entity_id' and 'resource' are required"};
               }
               const std::string entity = req.get_param_value("entity_id");
               const std::string resource = req.get_param_value("resource");
               ValidateIdentifier(entity, "entity_id");
               ValidateResource(resource);
               const Amounts available = limiter_->Available(entity, resource);
               std::string body = "{\"entity_id\":";
               Quote(body, entity);
               body += ",\"resource\":";
               Quote(body, resource);
               body += ",\"available\":" + AmountsJson(available) + "}";
               res.set_content(body, "application/json");
             }));

  server.Post(
      "/json", handle(Endpoint::kJson, [this](const httplib::Request& req, httplib::Response& res) {
        rlspb::RateLimitRequest request;
        const auto parsed = google::protobuf::util::JsonStringToMessage(req.body, &request);
        if (!parsed.ok()) {
          throw HttpError{400, "bad RateLimitRequest: " + std::string(parsed.message())};
        }
        rlspb::RateLimitResponse response;
        std::promise<Outcome> done;
        std::future<Outcome> outcome = done.get_future();
        rls_->ShouldRateLimit(request, &response,
                              [&done](Outcome o) { done.set_value(std::move(o)); });
        const Outcome o = outcome.get();
        if (o.kind == Outcome::kInvalid) throw HttpError{400, o.message};
        if (o.kind == Outcome::kUnavailable) {
          throw HttpError{503, o.message};
        }
        if (o.kind != Outcome::kOk) throw HttpError{500, o.message};
        std::string body;
        google::protobuf::util::JsonPrintOptions print;
        print.preserve_proto_field_names = false;
        // limitRemaining 0 is an answer, not an absent field.
        print.always_print_primitive_fields = true;
        (void)google::protobuf::util::MessageToJsonString(response, &body, print);
        res.status = response.overall_code() == rlspb::RateLimitResponse::OVER_LIMIT ? 429 : 200;
        res.set_content(body, "application/json");
      }));

  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("OK\n", "text/plain");
  });
  server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const std::string why = not_ready_();
    res.status = why.empty() ? 200 : 503;
    res.set_content(
        why.empty() ? "{\"ready\":true}" : "{\"ready\":false,\"reason\":\"" + why + "\"}",
        "application/json");
  });
  // envoyproxy/ratelimit's probe: 500 once the server is not ready.
  server.Get("/healthcheck", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = not_ready_().empty();
    res.status = ready ? 200 : 500;
    res.set_content(ready ? "OK" : "NOT READY", "text/plain");
  });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_->Render(), Metrics::kContentType);
  });

  server.set_payload_max_length(options_.max_body_bytes);
  // Errors httplib answers itself (404 unknown path, 413 body too large,
  // 400 unreadable request) get a JSON body too.
  server.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message =
        res.status == 404 ? "no such endpoint"
        : res.status == 413
            ? "the body is larger than " + std::to_string(options_.max_body_bytes) + " bytes"
            : "bad request";
    res.set_content(ErrorBody(message), "application/json");
  });
}

}  // namespace zae::server

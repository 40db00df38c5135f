// A Server on free loopback ports over a memory store with a FakeClock,
// plus clients of both listeners: the real gRPC stack and an HTTP client.
#ifndef ZAE_SERVER_SERVER_TEST_UTIL_H_
#define ZAE_SERVER_SERVER_TEST_UTIL_H_

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <memory>
#include <string>

#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "server/server.h"
#include "zae/clock.h"
#include "zae/memory_store.h"
#include "zae/rate_limiter.h"

namespace zae::server::testing {

inline const char* kGatewayRules = R"(
domains:
  - name: gateway
    response_headers: true
    rules:
      - match: [api_key]
        entity: $api_key
        resource: api
        limit: rpm
      - match: [api_key, {limit: rpm}]
        entity: $api_key
        resource: gpt-4
        limit: rpm
      - match: [api_key, {limit: tpm}]
        entity: $api_key
        resource: gpt-4
        limit: tpm
      - match: [api_key, {charge: tpm}]
        entity: $api_key
        resource: gpt-4
        limit: tpm
        overdraft: true
      - match: [shadow_key]
        entity: $shadow_key
        resource: api
        limit: rpm
        shadow: true
)";

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartWith(kGatewayRules); }

  void StartWith(const std::string& rules, ServerOptions options = {}) {
    rules_path_ = ::testing::TempDir() + "/rules-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".yaml";
    WriteRules(rules);
    if (!limiter_) {
      RateLimiterOptions lo;
      lo.clock = &clock_;
      limiter_ = RateLimiter::Open(std::make_shared<MemoryStore>(), lo);
      limiter_->SetResourceDefaults("api", {Limit::PerMinute("rpm", 3)});
      limiter_->SetResourceDefaults("gpt-4",
                                    {Limit::PerMinute("rpm", 10), Limit::PerMinute("tpm", 1000)});
    }
    options.grpc_listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options.config_path = rules_path_;
    options.clock = &clock_;
    options.version = "test";
    server_ = Server::Start(limiter_, options);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = envoy::service::ratelimit::v3::RateLimitService::NewStub(channel_);
    http_ = std::make_unique<httplib::Client>("127.0.0.1", server_->http_port());
  }

  void WriteRules(const std::string& rules) { std::ofstream(rules_path_) << rules; }

  // A request of one descriptor per {entries}, with optional hits.
  struct Desc {
    std::vector<std::pair<std::string, std::string>> entries;
    std::optional<uint64_t> hits;
  };
  static rlspb::RateLimitRequest Request(const std::string& domain, std::vector<Desc> descs,
                                         uint32_t hits_addend = 0) {
    rlspb::RateLimitRequest r;
    r.set_domain(domain);
    r.set_hits_addend(hits_addend);
    for (const Desc& d : descs) {
      auto* out = r.add_descriptors();
      for (const auto& [k, v] : d.entries) {
        auto* e = out->add_entries();
        e->set_key(k);
        e->set_value(v);
      }
      if (d.hits) out->mutable_hits_addend()->set_value(*d.hits);
    }
    return r;
  }

  grpc::Status Call(const rlspb::RateLimitRequest& request, rlspb::RateLimitResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->ShouldRateLimit(&context, request, response);
  }

  rlspb::RateLimitResponse MustCall(const rlspb::RateLimitRequest& request) {
    rlspb::RateLimitResponse response;
    const grpc::Status s = Call(request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_NE(response.overall_code(), rlspb::RateLimitResponse::UNKNOWN);
    EXPECT_EQ(response.statuses_size(), request.descriptors_size());
    return response;
  }

  FakeClock clock_;
  std::shared_ptr<RateLimiter> limiter_;
  std::string rules_path_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<envoy::service::ratelimit::v3::RateLimitService::Stub> stub_;
  std::unique_ptr<httplib::Client> http_;
};

}  // namespace zae::server::testing

#endif  // ZAE_SERVER_SERVER_TEST_UTIL_H_

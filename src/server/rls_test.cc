// The RLS through a real gRPC client on loopback (server_test_util.h).
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"

#include "limiter/keys.h"
#include "server/server_test_util.h"

namespace zae::server::testing {
namespace {

using Code = rlspb::RateLimitResponse;
using Unit = rlspb::RateLimitResponse::RateLimit;

TEST_F(ServerTest, OkThenOverLimitAtTheExactCapacityWithTruthfulStatuses) {
  for (int i = 0; i < 3; ++i) {
    auto r = MustCall(Request("gateway", {{{{"api_key", "k1"}}}}));
    ASSERT_EQ(r.overall_code(), Code::OK) << i;
    const auto& s = r.statuses(0);
    EXPECT_EQ(s.code(), Code::OK);
    EXPECT_EQ(s.current_limit().name(), "rpm");
    EXPECT_EQ(s.current_limit().requests_per_unit(), 3u);
    EXPECT_EQ(s.current_limit().unit(), Unit::MINUTE);
    EXPECT_EQ(s.limit_remaining(), uint32_t(2 - i));
    // (3 - remaining) tokens at 3/min: 20 s each.
    EXPECT_EQ(s.duration_until_reset().seconds(), 20 * (i + 1));
  }
  auto refused = MustCall(Request("gateway", {{{{"api_key", "k1"}}}}));
  EXPECT_EQ(refused.overall_code(), Code::OVER_LIMIT);
  EXPECT_EQ(refused.statuses(0).code(), Code::OVER_LIMIT);
  EXPECT_EQ(refused.statuses(0).limit_remaining(), 0u);
  EXPECT_EQ(refused.statuses(0).duration_until_reset().seconds(), 21);  // ceil(20.001)
  // The RateLimit-* headers follow the tightest status.
  std::map<std::string, std::string> headers;
  for (const auto& h : refused.response_headers_to_add()) headers[h.key()] = h.value();
  EXPECT_EQ(headers["RateLimit-Limit"], "3, 3;w=60");
  EXPECT_EQ(headers["RateLimit-Remaining"], "0");
  EXPECT_EQ(headers["RateLimit-Reset"], "21");
  // Another key has its own bucket; time refills this one.
  EXPECT_EQ(MustCall(Request("gateway", {{{{"api_key", "k9"}}}})).overall_code(), Code::OK);
  clock_.Advance(20'001);
  EXPECT_EQ(MustCall(Request("gateway", {{{{"api_key", "k1"}}}})).overall_code(), Code::OK);
}

TEST_F(ServerTest, RpmAndTpmOfOneRequestAreAllOrNothing) {
  auto both = [&](uint64_t tokens) {
    return Request("gateway", {{{{"api_key", "k2"}, {"limit", "rpm"}}},
                               {{{"api_key", "k2"}, {"limit", "tpm"}}, tokens}});
  };
  auto ok = MustCall(both(900));
  ASSERT_EQ(ok.overall_code(), Code::OK);
  EXPECT_EQ(ok.statuses(0).limit_remaining(), 9u);
  EXPECT_EQ(ok.statuses(1).limit_remaining(), 100u);
  auto refused = MustCall(both(200));
  ASSERT_EQ(refused.overall_code(), Code::OVER_LIMIT);
  EXPECT_EQ(refused.statuses(0).code(), Code::OK);  // rpm had room...
  EXPECT_EQ(refused.statuses(1).code(), Code::OVER_LIMIT);
  // ...but nothing was consumed.
  const Amounts left = limiter_->Available("k2", "gpt-4");
  EXPECT_EQ(left.at("rpm"), 9);
  EXPECT_EQ(left.at("tpm"), 100);
}

TEST_F(ServerTest, ARefusedRequestCostsNothingAcrossBuckets) {
  // k3's api bucket is drained; a request that also asks gpt-4 is refused
  // and gpt-4's consumption is rolled back.
  for (int i = 0; i < 3; ++i) MustCall(Request("gateway", {{{{"api_key", "k3"}}}}));
  auto r = MustCall(
      Request("gateway", {{{{"api_key", "k3"}, {"limit", "rpm"}}}, {{{"api_key", "k3"}}}}));
  EXPECT_EQ(r.overall_code(), Code::OVER_LIMIT);
  EXPECT_EQ(limiter_->Available("k3", "gpt-4").at("rpm"), 10);
}

TEST_F(ServerTest, CheckOnlyThenAPostStreamChargeIntoDebtThenRefusal) {
  auto check = Request("gateway", {{{{"api_key", "k4"}, {"limit", "tpm"}}, 0}});
  auto c1 = MustCall(check);
  ASSERT_EQ(c1.overall_code(), Code::OK);
  EXPECT_EQ(c1.statuses(0).limit_remaining(), 1000u);  // charged nothing
  // The stream's real cost, sent after the response: lands into debt.
  auto charge = MustCall(Request("gateway", {{{{"api_key", "k4"}, {"charge", "tpm"}}, 1500}}));
  EXPECT_EQ(charge.statuses(0).code(), Code::OVER_LIMIT);  // it went over, and landed
  EXPECT_EQ(charge.statuses(0).limit_remaining(), 0u);
  EXPECT_EQ(limiter_->Available("k4", "gpt-4").at("tpm"), -500);
  // Check-only is refused while in debt, and says when it will pass.
  auto c2 = MustCall(check);
  EXPECT_EQ(c2.overall_code(), Code::OVER_LIMIT);
  EXPECT_EQ(c2.statuses(0).duration_until_reset().seconds(), 31);  // 501 tokens at 1000/min
  // A second charge while in debt still lands.
  MustCall(Request("gateway", {{{{"api_key", "k4"}, {"charge", "tpm"}}, 100}}));
  EXPECT_EQ(limiter_->Available("k4", "gpt-4").at("tpm"), -600);
  clock_.Advance(36'001);  // back to 0 tokens: still refused
  EXPECT_EQ(MustCall(check).overall_code(), Code::OVER_LIMIT);
  clock_.Advance(60);  // one whole token
  EXPECT_EQ(MustCall(check).overall_code(), Code::OK);
}

TEST_F(ServerTest, HitsAreEnvoys) {
  // Unset descriptor hits: max(1, request hits_addend).
  auto r = MustCall(Request("gateway", {{{{"api_key", "k5"}, {"limit", "tpm"}}}}, 250));
  EXPECT_EQ(r.statuses(0).limit_remaining(), 750u);
  r = MustCall(Request("gateway", {{{{"api_key", "k5"}, {"limit", "tpm"}}}}, 0));
  EXPECT_EQ(r.statuses(0).limit_remaining(), 749u);
  // The descriptor's own value wins.
  r = MustCall(Request("gateway", {{{{"api_key", "k5"}, {"limit", "tpm"}}, 49}}, 250));
  EXPECT_EQ(r.statuses(0).limit_remaining(), 700u);
}

TEST_F(ServerTest, UnknownDescriptorsAndDomainsAnswerOkWithoutALimit) {
  auto r = MustCall(Request("gateway", {{{{"other", "x"}}}, {{{"api_key", "k6"}}}}));
  EXPECT_EQ(r.overall_code(), Code::OK);
  EXPECT_FALSE(r.statuses(0).has_current_limit());
  EXPECT_TRUE(r.statuses(1).has_current_limit());
  auto d = MustCall(Request("nobody", {{{{"api_key", "k6"}}}}));
  EXPECT_EQ(d.overall_code(), Code::OK);
  EXPECT_FALSE(d.statuses(0).has_current_limit());
}

TEST_F(ServerTest, ShadowRulesCountButAnswerOk) {
  for (int i = 0; i < 5; ++i) {
    auto r = MustCall(Request("gateway", {{{{"shadow_key", "s1"}}}}));
    EXPECT_EQ(r.overall_code(), Code::OK) << i;
  }
  EXPECT_EQ(limiter_->Available("s1", "api").at("rpm"), 0);
  EXPECT_EQ(server_->metrics().decisions(Decision::kShadowOverLimit), 2u);
}

TEST_F(ServerTest, BadRequestsAreGrpcErrors) {
  rlspb::RateLimitResponse response;
  EXPECT_EQ(Call(Request("", {{{{"api_key", "k"}}}}), &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Call(Request("gateway", {}), &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Call(Request("gateway", {{{}}}), &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // An entity id the limiter refuses ('#' is the key separator).
  EXPECT_EQ(Call(Request("gateway", {{{{"api_key", "a#b"}}}}), &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServerTest, AReloadSwapsTheRulesAndABadFileKeepsTheOldOnes) {
  EXPECT_TRUE(
      MustCall(Request("gateway", {{{{"api_key", "k7"}}}})).statuses(0).has_current_limit());
  WriteRules(
      "domains:\n  - name: gateway\n    rules: [{match: [user], entity: $user, "
      "resource: api, limit: rpm}]\n");
  EXPECT_TRUE(server_->Reload());
  EXPECT_FALSE(
      MustCall(Request("gateway", {{{{"api_key", "k7"}}}})).statuses(0).has_current_limit());
  EXPECT_TRUE(MustCall(Request("gateway", {{{{"user", "u1"}}}})).statuses(0).has_current_limit());
  WriteRules("domains: [ {name: gateway, rules: [{match: [x]}]} ]\n");
  EXPECT_FALSE(server_->Reload());
  EXPECT_TRUE(MustCall(Request("gateway", {{{{"user", "u1"}}}})).statuses(0).has_current_limit());
  EXPECT_NE(server_->metrics().Render().find("zae_config_reloads_total{result=\"failure\"} 1"),
            std::string::npos);
}

TEST_F(ServerTest, TheDescriptorLimitIsTheFallbackWhenNothingIsStored) {
  auto request = Request("gateway", {{{{"api_key", "k8"}, {"limit", "tpm"}}, 5}});
  limiter_->DeleteResourceDefaults("gpt-4");
  // No stored limit and no override: the request is an error.
  rlspb::RateLimitResponse response;
  EXPECT_EQ(Call(request, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto* limit = request.mutable_descriptors(0)->mutable_limit();
  limit->set_requests_per_unit(7);
  limit->set_unit(envoy::type::v3::SECOND);
  auto r = MustCall(request);
  EXPECT_EQ(r.overall_code(), Code::OK);
  EXPECT_EQ(r.statuses(0).current_limit().requests_per_unit(), 7u);
  EXPECT_EQ(r.statuses(0).current_limit().unit(), Unit::SECOND);
  EXPECT_EQ(r.statuses(0).limit_remaining(), 2u);
}

TEST_F(ServerTest, ContendedClientsNeverOverAdmitAndTcEqualsAdmitted) {
  limiter_->SetLimits("hot", {Limit::PerMinute("rpm", 50)}, "api");
  std::atomic<int> admitted{0}, refused{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      // Each client its own channel, as separate Envoys would be.
      auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                         grpc::InsecureChannelCredentials());
      auto stub = envoy::service::ratelimit::v3::RateLimitService::NewStub(channel);
      for (int i = 0; i < 30; ++i) {
        grpc::ClientContext context;
        rlspb::RateLimitResponse response;
        ASSERT_TRUE(
            stub->ShouldRateLimit(&context, Request("gateway", {{{{"api_key", "hot"}}}}), &response)
                .ok());
        (response.overall_code() == Code::OK ? admitted : refused)++;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(admitted.load(), 50);
  EXPECT_EQ(refused.load(), 70);
  EXPECT_EQ(limiter_->Available("hot", "api").at("rpm"), 0);
  // The bucket's consumption counter, read from the store: exactly what was
  // admitted (milli-tokens), none of the refusals.
  const auto bucket =
      limiter_->store().Get(keys::Bucket(limiter_->namespace_id(), "hot", "api", 0), true);
  ASSERT_TRUE(bucket);
  EXPECT_EQ(bucket->at("b_rpm_tc").as_number(), int64_t{admitted.load()} * 1000);
}

TEST_F(ServerTest, GrpcHealthTurnsNotServingWhenDraining) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  auto check = [&](const std::string& service) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    EXPECT_TRUE(health->Check(&context, request, &response).ok());
    return response.status();
  };
  using H = grpc::health::v1::HealthCheckResponse;
  EXPECT_EQ(check(""), H::SERVING);
  EXPECT_EQ(check("envoy.service.ratelimit.v3.RateLimitService"), H::SERVING);
  server_->BeginDrain();
  EXPECT_EQ(check(""), H::NOT_SERVING);
  EXPECT_EQ(check("envoy.service.ratelimit.v3.RateLimitService"), H::NOT_SERVING);
  // Still serving while draining.
  EXPECT_EQ(MustCall(Request("gateway", {{{{"api_key", "d1"}}}})).overall_code(), Code::OK);
}

TEST(PerUnitTest, PicksTheSmallestWholeUnit) {
  EXPECT_EQ(ToPerUnit(Limit::PerMinute("a", 60)).unit, Unit::SECOND);
  EXPECT_EQ(ToPerUnit(Limit::PerMinute("a", 60)).requests_per_unit, 1u);
  EXPECT_EQ(ToPerUnit(Limit::PerMinute("a", 90)).unit, Unit::MINUTE);
  EXPECT_EQ(ToPerUnit(Limit::Custom("a", 10, 5, 7200)).unit, Unit::DAY);
  EXPECT_EQ(ToPerUnit(Limit::Custom("a", 10, 5, 7200)).requests_per_unit, 60u);
  EXPECT_EQ(ToPerUnit(Limit::Custom("a", 10, 1, 7)).requests_per_unit, 12342u);  // floored/day
  EXPECT_EQ(SecondsUntilFull(Limit::PerMinute("a", 3), 3), 0);
  EXPECT_EQ(SecondsUntilFull(Limit::PerMinute("a", 3), -1), 80);
}

}  // namespace
}  // namespace zae::server::testing

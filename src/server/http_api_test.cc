// The HTTP API through a real HTTP client on loopback (server_test_util.h).
#include "server/json.h"
#include "server/server_test_util.h"
#include "zae/dynamodb_store.h"

namespace zae::server::testing {
namespace {

rapidjson::Document Parse(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  EXPECT_FALSE(d.HasParseError()) << body;
  return d;
}

class HttpApiTest : public ServerTest {
 protected:
  // POST `body`; returns the status and fills the parsed JSON answer.
  int Post(const std::string& path, const std::string& body, rapidjson::Document* out = nullptr,
           httplib::Headers* headers = nullptr) {
    auto res = http_->Post(path.c_str(), body, "application/json");
    EXPECT_TRUE(res) << "no answer from " << path;
    if (!res) return -1;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << path;
    rapidjson::Document d = Parse(res->body);
    if (res->status >= 400 && res->status != 429) {
      EXPECT_TRUE(d.IsObject() && d.HasMember("error") && d["error"].IsString()) << res->body;
    }
    if (out) *out = std::move(d);
    if (headers) *headers = res->headers;
    return res->status;
  }

  std::string AcquireLease(const std::string& entity, const std::string& consume,
                           const std::string& extra = "") {
    rapidjson::Document d;
    EXPECT_EQ(Post("/v1/acquire",
                   R"({"entity_id":")" + entity + R"(","resource":"gpt-4","consume":)" + consume +
                       extra + "}",
                   &d),
              200);
    EXPECT_TRUE(d["allowed"].GetBool());
    return d["lease_id"].GetString();
  }
};

TEST_F(HttpApiTest, TheWholeLeaseFlow) {
  rapidjson::Document d;
  ASSERT_EQ(Post("/v1/acquire",
                 R"({"entity_id":"h1","resource":"gpt-4","consume":{"rpm":1,"tpm":500}})", &d),
            200);
  ASSERT_TRUE(d["allowed"].GetBool());
  const std::string id = d["lease_id"].GetString();
  EXPECT_EQ(id.size(), 32u);
  ASSERT_TRUE(d["limits"].IsArray());
  ASSERT_EQ(d["limits"].Size(), 2u);
  // The limits entries are acquire --output json's.
  const auto& first = d["limits"][0];
  for (const char* key :
       {"entity_id", "resource", "limit_name", "capacity", "refill_amount", "refill_period_seconds",
        "available", "requested", "exceeded", "retry_after_seconds"}) {
    EXPECT_TRUE(first.HasMember(key)) << key;
  }
  ASSERT_EQ(Post("/v1/leases/" + id + "/adjust", R"({"adjust":{"tpm":-200}})", &d), 200);
  EXPECT_EQ(d["consumed"]["tpm"].GetInt64(), 300);
  ASSERT_EQ(Post("/v1/leases/" + id + "/commit", "", &d), 200);
  EXPECT_TRUE(d["committed"].GetBool());
  EXPECT_EQ(d["consumed"]["tpm"].GetInt64(), 300);
  auto res = http_->Get("/v1/available?entity_id=h1&resource=gpt-4");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  rapidjson::Document a = Parse(res->body);
  EXPECT_EQ(a["available"]["tpm"].GetInt64(), 700);
  EXPECT_EQ(a["available"]["rpm"].GetInt64(), 9);
  // Gone once committed.
  EXPECT_EQ(Post("/v1/leases/" + id + "/commit", ""), 404);
  EXPECT_EQ(Post("/v1/leases/" + id + "/adjust", R"({"adjust":{"tpm":1}})"), 404);
}

TEST_F(HttpApiTest, ReleaseRollsBack) {
  const std::string id = AcquireLease("h2", R"({"rpm":1,"tpm":400})");
  EXPECT_EQ(limiter_->Available("h2", "gpt-4").at("tpm"), 600);
  rapidjson::Document d;
  ASSERT_EQ(Post("/v1/leases/" + id + "/release", "", &d), 200);
  EXPECT_TRUE(d["released"].GetBool());
  EXPECT_EQ(limiter_->Available("h2", "gpt-4").at("tpm"), 1000);
  EXPECT_EQ(Post("/v1/leases/" + id + "/release", ""), 404);
}

TEST_F(HttpApiTest, ALeaseLeftOpenIsCommittedAsItStandsWhenItExpires) {
  const std::string id = AcquireLease("h3", R"({"tpm":500})", R"(,"lease_seconds":10)");
  ASSERT_EQ(Post("/v1/leases/" + id + "/adjust", R"({"adjust":{"tpm":100}})"), 200);
  EXPECT_EQ(server_->leases().size(), 1u);
  clock_.Advance(9'000);
  EXPECT_EQ(server_->leases().ExpireDue(), 0);
  clock_.Advance(1'000);
  EXPECT_EQ(server_->leases().ExpireDue(), 1);
  EXPECT_EQ(server_->leases().size(), 0u);
  // 600 spent, refilled by 10 s at 1000/min.
  EXPECT_EQ(limiter_->Available("h3", "gpt-4").at("tpm"), 1000 - 600 + 166);
  EXPECT_EQ(Post("/v1/leases/" + id + "/commit", ""), 404);
}

TEST_F(HttpApiTest, RefusalIs429WithRetryAfter) {
  rapidjson::Document d;
  httplib::Headers headers;
  ASSERT_EQ(Post("/v1/acquire", R"({"entity_id":"h4","resource":"gpt-4","consume":{"tpm":1001}})",
                 &d, &headers),
            429);
  EXPECT_FALSE(d["allowed"].GetBool());
  EXPECT_GT(d["retry_after_seconds"].GetDouble(), 0);
  EXPECT_EQ(headers.find("Retry-After")->second, "1");  // 1 token at 1000/min: 61 ms
  EXPECT_TRUE(d["limits"].IsArray());
}

TEST_F(HttpApiTest, EveryErrorCode) {
  const std::string ok_head = R"({"entity_id":"h5","resource":"gpt-4",)";
  EXPECT_EQ(Post("/v1/acquire", "{not json"), 400);
  EXPECT_EQ(Post("/v1/acquire", "[1]"), 400);
  EXPECT_EQ(Post("/v1/acquire", R"({"resource":"gpt-4","consume":{"rpm":1}})"), 400);
  EXPECT_EQ(Post("/v1/acquire", R"({"entity_id":"a#b","resource":"gpt-4","consume":{"rpm":1}})"),
            400);
  EXPECT_EQ(Post("/v1/acquire", ok_head + R"("consume":{"rpm":-1}})"), 400);
  EXPECT_EQ(Post("/v1/acquire", ok_head + R"("consume":{"rpm":1.5}})"), 400);
  EXPECT_EQ(Post("/v1/acquire", ok_head + R"("consume":{}})"), 400);
  EXPECT_EQ(Post("/v1/acquire", ok_head + R"("consume":{"nope":1}})"), 400);
  EXPECT_EQ(Post("/v1/acquire", ok_head + R"("consume":{"rpm":1},"lease_seconds":0})"), 400);
  EXPECT_EQ(Post("/v1/acquire", ok_head + R"("consume":{"rpm":1},"extra":1})"), 400);
  const std::string id = AcquireLease("h5", R"({"rpm":1})");
  EXPECT_EQ(Post("/v1/leases/" + id + "/adjust", R"({"adjust":{"nope":1}})"), 400);
  EXPECT_EQ(Post("/v1/leases/" + id + "/adjust", R"({"adjust":"x"})"), 400);
  EXPECT_EQ(Post("/v1/leases/unknown/adjust", R"({"adjust":{"rpm":1}})"), 404);
  EXPECT_EQ(Post("/v1/nothing", "{}"), 404);
  EXPECT_EQ(Post("/v1/acquire", std::string(2 << 20, ' ')), 413);
  auto res = http_->Get("/v1/available?entity_id=h5");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
}

TEST_F(HttpApiTest, JsonIsEnvoysProtoJson) {
  rapidjson::Document d;
  const std::string body =
      R"({"domain":"gateway","descriptors":[{"entries":[{"key":"api_key","value":"j1"}]}]})";
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Post("/json", body, &d), 200);
    EXPECT_STREQ(d["overallCode"].GetString(), "OK");
    EXPECT_EQ(d["statuses"][0]["limitRemaining"].GetInt(), 2 - i);
  }
  ASSERT_EQ(Post("/json", body, &d), 429);
  EXPECT_STREQ(d["overallCode"].GetString(), "OVER_LIMIT");
  EXPECT_EQ(Post("/json", "{bad"), 400);
  EXPECT_EQ(Post("/json", R"({"domain":"gateway","descriptors":[],"bogus":1})"), 400);
  EXPECT_EQ(Post("/json", R"({"domain":"","descriptors":[]})"), 400);
}

TEST_F(HttpApiTest, HealthReadinessAndMetrics) {
  auto healthz = http_->Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);
  auto ready = http_->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  AcquireLease("m1", R"({"rpm":1})");
  auto metrics = http_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), Metrics::kContentType);
  EXPECT_NE(
      metrics->body.find("zae_requests_total{api=\"http\",endpoint=\"acquire\",code=\"ok\"} 1"),
      std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("zae_open_leases 1\n"), std::string::npos);
  EXPECT_EQ(metrics->body.find("m1"), std::string::npos);  // no entity in any label
  server_->BeginDrain();
  ready = http_->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(http_->Get("/healthcheck")->status, 500);
  EXPECT_EQ(http_->Get("/healthz")->status, 200);
}

TEST_F(HttpApiTest, StopCommitsOpenLeases) {
  const std::string id = AcquireLease("h6", R"({"tpm":100})");
  ASSERT_EQ(Post("/v1/leases/" + id + "/adjust", R"({"adjust":{"tpm":100}})"), 200);
  server_->Stop(std::chrono::seconds(1));
  EXPECT_EQ(server_->leases().size(), 0u);
  EXPECT_EQ(limiter_->Available("h6", "gpt-4").at("tpm"), 800);
}

// The store is gone (nothing listens where it should be): block answers
// UNAVAILABLE / 503, allow answers OK.
class StoreGoneTest : public ServerTest {
 protected:
  void SetUp() override {}
  void StartOnDeadStore(OnUnavailable policy) {
    DynamoDbOptions o;
    o.table = "gone";
    o.region = "us-east-1";
    o.endpoint = "http://127.0.0.1:9";  // discard port: connection refused
    o.access_key_id = "test";
    o.secret_access_key = "test";
    RateLimiterOptions lo;
    lo.clock = &clock_;
    lo.on_unavailable = policy;
    lo.timeout = std::chrono::milliseconds(300);
    limiter_ = RateLimiter::Open(std::make_shared<DynamoDbStore>(o), lo);
    StartWith(kGatewayRules);
  }
};

TEST_F(StoreGoneTest, BlockAnswersUnavailableAnd503) {
  StartOnDeadStore(OnUnavailable::kBlock);
  rlspb::RateLimitResponse response;
  EXPECT_EQ(Call(Request("gateway", {{{{"api_key", "g1"}}}}), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  auto res =
      http_->Post("/v1/acquire", R"({"entity_id":"g1","resource":"gpt-4","consume":{"rpm":1}})",
                  "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  auto ready = http_->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_NE(ready->body.find("store unavailable"), std::string::npos);
  EXPECT_GE(server_->metrics().Render().find("zae_store_errors_total 2"), 0u);
}

TEST_F(StoreGoneTest, AllowAnswersOk) {
  StartOnDeadStore(OnUnavailable::kAllow);
  auto r = MustCall(Request("gateway", {{{{"api_key", "g2"}}}}));
  EXPECT_EQ(r.overall_code(), rlspb::RateLimitResponse::OK);
  auto res =
      http_->Post("/v1/acquire", R"({"entity_id":"g2","resource":"gpt-4","consume":{"rpm":1}})",
                  "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("\"noop\":true"), std::string::npos);
}

}  // namespace
}  // namespace zae::server::testing

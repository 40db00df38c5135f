// bench --target's load generator against an in-process server.
#include "server/load_client.h"

#include <unistd.h>

#include "server/json.h"
#include "server/server_test_util.h"

namespace zae::server::testing {
namespace {

const char* kBenchRules = R"(
domains:
  - name: bench
    rules:
      - match: [api_key]
        entity: $api_key
        resource: api
        limit: rpm
)";

class LoadClientTest : public ServerTest {
 protected:
  void SetUp() override { StartWith(kBenchRules); }
  LoadOptions Options(const std::string& scheme, int port) {
    LoadOptions o;
    o.target = scheme + "://127.0.0.1:" + std::to_string(port);
    o.inflight = 4;
    o.duration_seconds = 0.3;
    o.warmup_seconds = 0.05;
    o.keys = 3;
    o.server_pid = getpid();
    return o;
  }
};

TEST_F(LoadClientTest, DrivesBothListenersAndCountsEveryAnswer) {
  // "api" allows 3/min per key and the descriptor's fallback is not used
  // where a limit is stored: most calls are refused, none fail.
  for (auto [scheme, port] :
       {std::pair{"grpc", server_->grpc_port()}, std::pair{"http", server_->http_port()}}) {
    const LoadResult r = RunLoad(Options(scheme, port));
    EXPECT_GT(r.calls, 0) << scheme;
    EXPECT_EQ(r.errors, 0) << scheme << ": " << r.first_error;
    EXPECT_EQ(r.calls, r.ok + r.over_limit);
    EXPECT_GT(r.over_limit, 0) << scheme;
    EXPECT_GT(r.calls_per_sec, 0);
    EXPECT_GT(r.p99_ms, 0);
    EXPECT_GE(r.server_cpu_us_per_call, 0);  // this process is the server
    rapidjson::Document d;
    d.Parse(ToJson(r).c_str());
    ASSERT_FALSE(d.HasParseError());
    EXPECT_EQ(d["calls"].GetInt64(), r.calls);
    EXPECT_NE(ToTable(r).find("calls/s"), std::string::npos);
  }
  // The bench keys got at most their capacity.
  for (const char* key : {"k0", "k1", "k2"}) {
    EXPECT_GE(limiter_->Available(key, "api").at("rpm"), 0) << key;
  }
}

TEST_F(LoadClientTest, ErrorsAreCountedWithTheFirstOne) {
  LoadOptions o = Options("grpc", server_->grpc_port());
  o.domain = "";  // INVALID_ARGUMENT for every call
  const LoadResult r = RunLoad(o);
  EXPECT_GT(r.errors, 0);
  EXPECT_EQ(r.ok + r.over_limit, 0);
  EXPECT_NE(r.first_error.find("domain"), std::string::npos) << r.first_error;
  EXPECT_NE(ToJson(r).find("first_error"), std::string::npos);
}

TEST_F(LoadClientTest, TheLeaseRoundTripAcquiresAndCommits) {
  limiter_->SetResourceDefaults("chat", {Limit::PerMinute("rpm", 1'000'000)});
  LoadOptions o = Options("http", server_->http_port());
  o.lease_resource = "chat";
  const LoadResult r = RunLoad(o);
  EXPECT_EQ(r.errors, 0) << r.first_error;
  EXPECT_GT(r.ok, 0);
  EXPECT_EQ(r.over_limit, 0);
  EXPECT_NE(r.call.find("lease"), std::string::npos);
  // Every measured round trip took a token (the warm-up's took some more;
  // the clock stands still, so nothing refilled).
  int64_t taken = 0;
  for (const char* key : {"k0", "k1", "k2"}) {
    taken += 1'000'000 - limiter_->Available(key, "chat").at("rpm");
  }
  EXPECT_GE(taken, r.ok);
  // A drained bucket: every round trip refused.
  limiter_->SetResourceDefaults("tiny", {Limit::PerMinute("rpm", 1)});
  o.lease_resource = "tiny";
  const LoadResult refused = RunLoad(o);
  EXPECT_EQ(refused.ok, 0);
  EXPECT_GT(refused.over_limit, 0);
  EXPECT_EQ(refused.errors, 0) << refused.first_error;
  o.lease_limit = "no such";  // a bad name: every call an error, the first kept
  const LoadResult bad = RunLoad(o);
  EXPECT_GT(bad.errors, 0);
  EXPECT_NE(bad.first_error.find("acquire: HTTP 400"), std::string::npos) << bad.first_error;
}

TEST(LoadClientOptionsTest, BadTargetsAreRefused) {
  LoadOptions o;
  o.target = "tcp://127.0.0.1:1";
  EXPECT_THROW(RunLoad(o), std::invalid_argument);
  o.target = "grpc://nohost";
  EXPECT_THROW(RunLoad(o), std::invalid_argument);
  o.target = "grpc://127.0.0.1:1";
  o.lease_resource = "chat";  // leases are HTTP only
  EXPECT_THROW(RunLoad(o), std::invalid_argument);
  o.lease_resource.clear();
  o.inflight = 0;
  EXPECT_THROW(RunLoad(o), std::invalid_argument);
}

}  // namespace
}  // namespace zae::server::testing

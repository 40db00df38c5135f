// DynamoDB Local stopped (SIGKILL) and restarted mid-run (issue #14): a
// DynamoDB Local of the test's own, keeping its tables on disk
// (scripts/dynamodb-local.sh with ZAE_DYNAMODB_DBPATH), serves acquires
// and lease commits; it is killed, calls go on (each within its deadline,
// following the policy), it is restarted on the same port with the same
// data, calls succeed again, and what the limiter acknowledged is what the
// bucket counted.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "limiter/keys.h"
#include "store/require_backend.h"
#include "store/store_test_util.h"
#include "zae/errors.h"
#include "zae/rate_limiter.h"
#ifdef ZAE_TEST_HAVE_DYNAMODB_STORE
#include "zae/dynamodb_store.h"
#endif

namespace zae::testing {
namespace store_restart_test {

#ifdef ZAE_TEST_HAVE_DYNAMODB_STORE

using std::chrono::milliseconds;
using RsSteady = std::chrono::steady_clock;

constexpr milliseconds kRsDeadline{300};  // of the calls while it is down
constexpr milliseconds kRsSlack{1500};    // scheduling on a loaded machine, as in deadline_test

milliseconds RsSince(RsSteady::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(RsSteady::now() - t0);
}

std::string RsQuote(const std::string& s) { return "'" + s + "'"; }

// A DynamoDB Local process of this test, started and stopped with the
// project's script; its tables live in `db_dir`.
class RsEmulator {
 public:
  RsEmulator(std::string state_dir, std::string db_dir)
      : state_(std::move(state_dir)), db_(std::move(db_dir)) {}
  ~RsEmulator() {
    std::string ignored;
    Script("stop", &ignored);
  }
  RsEmulator(const RsEmulator&) = delete;
  RsEmulator& operator=(const RsEmulator&) = delete;

  // Starts it (on `port`, or a free one when 0); its endpoint, or "" with
  // the script's output in *error.
  std::string Start(int port, std::string* error) {
    std::string env = "ZAE_DYNAMODB_DBPATH=" + RsQuote(db_) + " ";
    if (port != 0) env += "ZAE_DYNAMODB_PORT=" + std::to_string(port) + " ";
    std::string out;
    if (!Script("start", &out, env)) {
      *error = out;
      return "";
    }
    const size_t at = out.rfind("http://");
    if (at == std::string::npos) {
      *error = "no endpoint in: " + out;
      return "";
    }
    std::string endpoint = out.substr(at);
    while (!endpoint.empty() && std::isspace(static_cast<unsigned char>(endpoint.back()))) {
      endpoint.pop_back();
    }
    return endpoint;
  }

  int port() const {
    std::ifstream in(state_ + "/port");
    int p = 0;
    in >> p;
    return p;
  }

  // SIGKILL, no shutdown of any kind: what survives is what DynamoDB Local
  // had made durable. Returns once the process is gone.
  void Kill() {
    std::ifstream in(state_ + "/pid");
    pid_t pid = 0;
    in >> pid;
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    const auto t0 = RsSteady::now();
    // Not our child (the script's): gone, or a zombie nobody reaped yet.
    while (RsSince(t0) < std::chrono::seconds(10)) {
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string pid_s, comm, state;
      if (!(stat >> pid_s >> comm >> state) || state == "Z") break;
      std::this_thread::sleep_for(milliseconds(20));
    }
    std::filesystem::remove(state_ + "/pid");  // the stop script has nothing to stop
  }

 private:
  bool Script(const std::string& verb, std::string* out, const std::string& env = "") {
    const std::string cmd = env +
                            RsQuote(std::string(ZAE_SOURCE_DIR) + "/scripts/dynamodb-local.sh") +
                            " " + verb + " " + RsQuote(state_) + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return false;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
    return ::pclose(p) == 0;
  }

  const std::string state_;
  const std::string db_;
};

TEST(StoreRestart, CallsFollowThePolicyWhileDownAndCountExactlyAfterARestart) {
  // Runs where the DynamoDB Local tests run (it needs java and the emulator).
  const char* shared = std::getenv("ZAE_TEST_DYNAMODB_ENDPOINT");
  if (!shared || !*shared) ZAE_DYNAMODB_UNAVAILABLE("ZAE_TEST_DYNAMODB_ENDPOINT is not set");
  ScratchDir dir;
  RsEmulator emulator(dir.path() + "/state", dir.path() + "/db");
  std::string error;
  const std::string endpoint = emulator.Start(0, &error);
  if (endpoint.empty()) ZAE_DYNAMODB_UNAVAILABLE("cannot start DynamoDB Local: " + error);
  const int port = emulator.port();
  ASSERT_GT(port, 0);

  DynamoDbOptions o = FreshDynamoOptions();
  o.endpoint = endpoint;
  o.delete_table_on_destroy = false;  // the directory goes with the test
  auto store = std::make_shared<DynamoDbStore>(o);
  store->Provision({});
  FakeClock clock(1'750'000'000'000);  // no refill: counts are exact
  // Healthy calls get a generous deadline (a freshly started JVM is slow);
  // those while it is down get kRsDeadline each.
  auto limiter = RateLimiter::Open(store, {.clock = &clock,
                                           .bucket_ttl_multiplier = 0,  // the fake clock is old
                                           .timeout = milliseconds(3000),
                                           .on_unavailable = OnUnavailable::kAllow});
  limiter->SetResourceDefaults(
      "gpt-4", {Limit::PerMinute("rpm", 1'000'000), Limit::PerMinute("tpm", 1'000'000'000)});
  int64_t admitted_rpm = 0, admitted_tpm = 0;
  auto healthy_round = [&](int i) {
    Lease lease = limiter->Acquire("k1", "gpt-4", {{"rpm", 1}, {"tpm", 100}}).take_lease();
    ASSERT_FALSE(lease.is_noop()) << "round " << i;
    lease.Adjust({{"tpm", i}});
    lease.Commit();
    admitted_rpm += 1;
    admitted_tpm += 100 + i;
  };
  for (int i = 0; i < 20; ++i) healthy_round(i);
  // Held across the outage: its commit fails while down and is retried.
  Lease held = limiter->Acquire("k1", "gpt-4", {{"rpm", 1}, {"tpm", 100}}).take_lease();
  ASSERT_FALSE(held.is_noop());
  admitted_rpm += 1;
  admitted_tpm += 100;
  held.Adjust({{"tpm", 40}});

  emulator.Kill();
  for (int i = 0; i < 10; ++i) {
    const bool allow = i % 2 == 0;
    const AcquireOptions per_call{
        .on_unavailable = allow ? OnUnavailable::kAllow : OnUnavailable::kBlock,
        .timeout = kRsDeadline};
    const auto t0 = RsSteady::now();
    try {
      AcquireResult r = limiter->Acquire("k1", "gpt-4", {{"rpm", 1}}, per_call);
      EXPECT_TRUE(allow) << "block admitted while the store is down";
      ASSERT_TRUE(r.allowed());
      EXPECT_TRUE(r.lease().is_noop()) << "a real lease from a stopped store";
    } catch (const RateLimiterUnavailable&) {
      EXPECT_FALSE(allow) << "allow threw";
    }
    EXPECT_LT(RsSince(t0), kRsDeadline + kRsSlack) << "call " << i;
  }
  {
    const auto t0 = RsSteady::now();
    // The lease's commit has the limiter's 3 s deadline.
    EXPECT_THROW(held.Commit(), StoreError);
    EXPECT_LT(RsSince(t0), milliseconds(3000) + kRsSlack);
    EXPECT_TRUE(held.active()) << "a failed commit keeps the lease";
  }

  const std::string again = emulator.Start(port, &error);
  ASSERT_EQ(again, endpoint) << "restart on port " << port << ": " << error;
  held.Commit();  // the retry, now that the store is back
  admitted_tpm += 40;
  for (int i = 0; i < 20; ++i) healthy_round(100 + i);

  auto bucket = store->Get(keys::Bucket(limiter->namespace_id(), "k1", "gpt-4", 0), true);
  ASSERT_TRUE(bucket) << "the bucket did not survive the restart";
  EXPECT_EQ(bucket->at(keys::BucketAttr("rpm", "tc")).as_number() / 1000, admitted_rpm);
  EXPECT_EQ(bucket->at(keys::BucketAttr("tpm", "tc")).as_number() / 1000, admitted_tpm);
}

#endif  // ZAE_TEST_HAVE_DYNAMODB_STORE

}  // namespace store_restart_test
}  // namespace zae::testing

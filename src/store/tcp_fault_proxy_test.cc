// The test proxy itself (tcp_fault_proxy.h), in front of DynamoDB Local and
// driven by the project's DynamoDB store: each per-request fault does what
// its description says (forwarded or not, answered or not), as seen from
// the client (its retries, its errors, its latency) and from the server (the
// counter the write adds to, read directly).
#include "store/tcp_fault_proxy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "store/require_backend.h"
#include "store/store_test_util.h"
#include "zae/errors.h"
#ifdef ZAE_TEST_HAVE_DYNAMODB_STORE
#include "zae/dynamodb_store.h"
#endif

namespace zae::testing {
namespace tcp_fault_proxy_test {

#ifdef ZAE_TEST_HAVE_DYNAMODB_STORE

using Fault = TcpFaultProxy::Fault;
using std::chrono::milliseconds;
using PxSteady = std::chrono::steady_clock;

// One write through the proxy, as the client saw it.
struct PxOutcome {
  bool ok = false;
  std::string error;
  milliseconds took{0};
  int requests = 0;  // the proxy saw during the write (attempts, resolving reads)
};

class TcpFaultProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* endpoint = std::getenv("ZAE_TEST_DYNAMODB_ENDPOINT");
    if (!endpoint || !*endpoint) ZAE_DYNAMODB_UNAVAILABLE("ZAE_TEST_DYNAMODB_ENDPOINT is not set");
    proxy_ = TcpFaultProxy::For(endpoint);
    DynamoDbOptions o = FreshDynamoOptions();
    direct_ = std::make_unique<DynamoDbStore>(o);  // deletes the table at the end
    direct_->Provision({});
    o.endpoint = proxy_->url();
    o.delete_table_on_destroy = false;
    // A short attempt timeout, so that a request never answered is retried
    // quickly (the client's own retry, not the limiter's deadline).
    o.request_timeout = milliseconds(1000);
    o.call_timeout = milliseconds(10000);
    behind_ = std::make_unique<DynamoDbStore>(o);
  }
  void TearDown() override {
    behind_.reset();
    proxy_.reset();
    direct_.reset();
  }

  using Outcome = PxOutcome;

  // Faults the next request only with `fault`, then writes n += 1 once.
  Outcome WriteOnceWith(const Fault& fault) {
    const int first = proxy_->requests();
    proxy_->set_plan([first, fault](int i) { return i == first ? fault : Fault::Pass(); });
    Update add;
    add.key = {"p", "counter"};
    add.add = {{"n", 1}};
    Outcome out;
    const auto t0 = PxSteady::now();
    try {
      out.ok = behind_->Write(add).ok();
    } catch (const StoreError& e) {
      out.error = e.what();
    }
    out.took = std::chrono::duration_cast<milliseconds>(PxSteady::now() - t0);
    out.requests = proxy_->requests() - first;
    proxy_->set_plan({});
    return out;
  }

  // The counter as DynamoDB Local holds it, not through the proxy.
  int64_t Stored() {
    auto item = direct_->Get({"p", "counter"}, true);
    return item ? item->at("n").as_number() : 0;
  }

  std::unique_ptr<TcpFaultProxy> proxy_;
  std::unique_ptr<DynamoDbStore> direct_;
  std::unique_ptr<DynamoDbStore> behind_;
};

// What the client does after a fault (resend, resolve by a read, or fail)
// is the client's business; these check what holds whatever it does:
//   - the faulted attempt gave the client no success, so a write that
//     succeeded took more than one request;
//   - a fault before forwarding applied nothing: the counter holds 1 when
//     the write succeeded (its one applied attempt), 0 when it failed;
//   - a fault after forwarding applied the attempt: the counter holds at
//     least 1 even when the write failed.
void ExpectNotForwarded(const PxOutcome& o, int64_t stored, const std::string& what) {
  EXPECT_TRUE(!o.ok || o.requests >= 2) << what << ": a success from the faulted attempt";
  EXPECT_EQ(stored, o.ok ? 1 : 0) << what << ": " << (o.ok ? "ok" : o.error);
}

TEST_F(TcpFaultProxyTest, PassForwardsAndCountsRequests) {
  Outcome o = WriteOnceWith(Fault::Pass());
  EXPECT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.requests, 1);
  EXPECT_EQ(Stored(), 1);
  EXPECT_GE(proxy_->count(Fault::Kind::kPass), 1);
  EXPECT_EQ(proxy_->abandoned(), 0);
}

TEST_F(TcpFaultProxyTest, ResetBeforeForwardIsNotApplied) {
  Outcome o = WriteOnceWith(Fault::ResetBeforeForward());
  ExpectNotForwarded(o, Stored(), "ResetBeforeForward");
  EXPECT_EQ(proxy_->count(Fault::Kind::kResetBeforeForward), 1);
}

TEST_F(TcpFaultProxyTest, ResetAfterAnswerIsAppliedAndNeverHeardOf) {
  Outcome o = WriteOnceWith(Fault::ResetAfterAnswer());
  EXPECT_TRUE(!o.ok || o.requests >= 2) << "a success from the reset attempt";
  EXPECT_GE(Stored(), 1) << (o.ok ? "ok" : o.error);  // applied, whatever the client heard
  EXPECT_EQ(proxy_->count(Fault::Kind::kResetAfterAnswer), 1);
}

TEST_F(TcpFaultProxyTest, NeverAnswerKeepsTheClientWaitingUntilItsTimeout) {
  Outcome o = WriteOnceWith(Fault::NeverAnswer());
  EXPECT_GE(o.took, milliseconds(900));  // the attempt timeout (1 s) cut it
  ExpectNotForwarded(o, Stored(), "NeverAnswer");
  EXPECT_EQ(proxy_->count(Fault::Kind::kNeverAnswer), 1);
  EXPECT_EQ(proxy_->abandoned(), 0);  // nothing was forwarded to abandon
}

TEST_F(TcpFaultProxyTest, DelayHoldsThenForwards) {
  Outcome o = WriteOnceWith(Fault::Delay(300));
  EXPECT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.requests, 1);
  EXPECT_GE(o.took, milliseconds(280));  // the poll's 20 ms granularity
  EXPECT_EQ(Stored(), 1);
  EXPECT_EQ(proxy_->count(Fault::Kind::kDelay), 1);
}

TEST_F(TcpFaultProxyTest, ADelayPastTheClientsTimeoutIsNeverForwarded) {
  Outcome o = WriteOnceWith(Fault::Delay(1500));  // the attempt timeout is 1 s
  ExpectNotForwarded(o, Stored(), "Delay1500ms");
  EXPECT_EQ(proxy_->abandoned(), 0);
}

TEST_F(TcpFaultProxyTest, CannedAnswersBeforeForwardingApplyNothing) {
  for (const Fault& f :
       {Fault::Http500(), Fault::Http503Html(), Fault::Throttling(),
        Fault::ProvisionedThroughputExceeded(), Fault::MalformedJson200(), Fault::NonJson200()}) {
    direct_->Write(DeleteOf({"p", "counter"}));
    Outcome o = WriteOnceWith(f);
    ExpectNotForwarded(o, Stored(), f.name);
  }
  EXPECT_EQ(proxy_->count(Fault::Kind::kRespondBefore), 6);
}

TEST_F(TcpFaultProxyTest, RetryableCannedErrorsAreRetriedOnAReadOfTheClient) {
  // A read is always safe to resend: the client retries 5xx and throttling.
  for (const Fault& f : {Fault::Http500(), Fault::Http503Html(), Fault::Throttling(),
                         Fault::ProvisionedThroughputExceeded()}) {
    const int first = proxy_->requests();
    proxy_->set_plan([first, f](int i) { return i == first ? f : Fault::Pass(); });
    EXPECT_NO_THROW(behind_->Get({"p", "absent"}, true)) << f.name;
    EXPECT_EQ(proxy_->requests() - first, 2) << f.name;
  }
  proxy_->set_plan({});
}

TEST_F(TcpFaultProxyTest, RespondAfterReplacesTheAnswerOfAnAppliedRequest) {
  Outcome o = WriteOnceWith(Fault::Http500AfterForward());
  EXPECT_TRUE(!o.ok || o.requests >= 2) << "a success from the replaced answer";
  EXPECT_GE(Stored(), 1) << (o.ok ? "ok" : o.error);  // applied, whatever the client heard
  EXPECT_EQ(proxy_->count(Fault::Kind::kRespondAfter), 1);
}

TEST_F(TcpFaultProxyTest, DestructorReturnsPromptlyWithConnectionsOpen) {
  proxy_->set_plan([](int) { return Fault::NeverAnswer(); });
  std::thread writer([this] {
    Update add;
    add.key = {"p", "counter"};
    add.add = {{"n", 1}};
    try {
      behind_->Write(add);
    } catch (const StoreError&) {
      // expected: the proxy goes away under it
    }
  });
  std::this_thread::sleep_for(milliseconds(200));  // the request is held, unanswered
  const auto t0 = PxSteady::now();
  proxy_.reset();
  EXPECT_LT(std::chrono::duration_cast<milliseconds>(PxSteady::now() - t0), milliseconds(500));
  writer.join();
}

#endif  // ZAE_TEST_HAVE_DYNAMODB_STORE

}  // namespace tcp_fault_proxy_test
}  // namespace zae::testing

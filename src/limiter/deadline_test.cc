// RateLimiterOptions::timeout and ::on_unavailable against stores that stop
// answering for real: DynamoDB Local behind a TCP proxy that goes silent, a
// socket that never answers, a SQLite file whose write lock another
// connection holds. Each call must return within its deadline plus a slack
// (ASan, a loaded 2-core machine) and follow the policy; what was admitted
// is what the store counted.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <future>
#include <thread>

#include "store/faulty_store.h"
#include "store/require_backend.h"
#include "store/store_test_util.h"
#include "store/tcp_fault_proxy.h"
#include "zae/errors.h"
#include "zae/memory_store.h"
#include "zae/rate_limiter.h"
#include "zae/sqlite_store.h"
#ifdef ZAE_TEST_HAVE_DYNAMODB_STORE
#include "zae/dynamodb_store.h"
#endif

namespace zae::testing {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

// What a call may take beyond its deadline: scheduling on a loaded machine
// under ASan, not retries (those are inside the deadline).
constexpr milliseconds kSlack{1500};

milliseconds Since(Steady::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(Steady::now() - t0);
}

const std::vector<Limit> kRpm100 = {Limit::PerMinute("rpm", 100)};

#ifdef ZAE_TEST_HAVE_DYNAMODB_STORE

// A DynamoDB store whose every request goes through `proxy`; its client's
// own timeouts are long, so only the limiter's deadline can cut a call.
std::shared_ptr<Store> StoreBehind(const TcpFaultProxy& proxy, bool delete_table = true) {
  DynamoDbOptions o = FreshDynamoOptions();
  o.endpoint = proxy.url();
  o.delete_table_on_destroy = delete_table;
  return std::make_shared<DynamoDbStore>(o);
}

TEST(Deadline, OpenWithAPolicyOnASilentStoreAnswersWithThePolicy) {
  auto hole = TcpFaultProxy::BlackHole();
  auto store = StoreBehind(*hole, /*delete_table=*/false);  // there is none
  auto t0 = Steady::now();
  auto limiter = RateLimiter::Open(
      store, {.timeout = milliseconds(200), .on_unavailable = OnUnavailable::kAllow});
  EXPECT_LT(Since(t0), milliseconds(200) + kSlack);
  EXPECT_EQ(limiter->namespace_id(), "");  // not resolved
  EXPECT_GE(hole->connections(), 1);       // it did try

  t0 = Steady::now();
  AcquireResult allowed = limiter->Acquire("k1", "gpt-4", {{"rpm", 1}});
  ASSERT_TRUE(allowed.allowed());
  EXPECT_TRUE(allowed.lease().is_noop());
  EXPECT_LT(Since(t0), kSlack);  // no second attempt within the first second

  try {
    limiter->Acquire("k1", "gpt-4", {{"rpm", 1}}, {.on_unavailable = OnUnavailable::kBlock});
    ADD_FAILURE() << "block admitted";
  } catch (const RateLimiterUnavailable& e) {
    EXPECT_EQ(e.entity_id(), "k1");
    EXPECT_NE(std::string(e.what()).find("namespace 'default' not resolved"), std::string::npos)
        << e.what();
  }
  std::future<AcquireResult> async = limiter->AcquireAsync("k2", "gpt-4", {{"rpm", 1}});
  ASSERT_EQ(async.wait_for(milliseconds(200) + kSlack), std::future_status::ready);
  AcquireResult a = async.get();
  ASSERT_TRUE(a.allowed());
  EXPECT_TRUE(a.lease().is_noop());
  // Input errors are still errors.
  EXPECT_THROW(limiter->Acquire("", "gpt-4", {{"rpm", 1}}), ValidationError);
  // Admin calls say the namespace is not resolved.
  EXPECT_THROW(limiter->GetEntity("k1"), StoreError);
}

TEST(Deadline, AHungStoreIsCutAtTheDeadlineAndTheCountsStayExact) {
  const char* endpoint = std::getenv("ZAE_TEST_DYNAMODB_ENDPOINT");
  if (!endpoint || !*endpoint) ZAE_DYNAMODB_UNAVAILABLE("ZAE_TEST_DYNAMODB_ENDPOINT is not set");
  auto proxy = TcpFaultProxy::For(endpoint);
  auto store = StoreBehind(*proxy);
  store->Provision({});
  FakeClock clock(1'750'000'000'000);  // no refill: availability is exact
  // Generous for the healthy calls (DynamoDB Local under a parallel ASan
  // run); the hung ones use a short per-call deadline.
  auto limiter = RateLimiter::Open(store, {.clock = &clock, .timeout = milliseconds(3000)});
  limiter->SetResourceDefaults("gpt-4", kRpm100);
  limiter->Acquire("k1", "gpt-4", {{"rpm", 1}}).take_lease().Commit();  // warm

  proxy->set_mode(TcpFaultProxy::Mode::kHang);
  const milliseconds deadline(300);
  auto t0 = Steady::now();
  AcquireResult allowed = limiter->Acquire(
      "k1", "gpt-4", {{"rpm", 1}}, {.on_unavailable = OnUnavailable::kAllow, .timeout = deadline});
  EXPECT_LT(Since(t0), deadline + kSlack);
  ASSERT_TRUE(allowed.allowed());
  EXPECT_TRUE(allowed.lease().is_noop());

  t0 = Steady::now();
  EXPECT_THROW(limiter->Acquire("k1", "gpt-4", {{"rpm", 1}},
                                {.on_unavailable = OnUnavailable::kBlock, .timeout = deadline}),
               RateLimiterUnavailable);
  EXPECT_LT(Since(t0), deadline + kSlack);

  std::future<AcquireResult> async = limiter->AcquireAsync(
      "k1", "gpt-4", {{"rpm", 1}}, {.on_unavailable = OnUnavailable::kAllow, .timeout = deadline});
  ASSERT_EQ(async.wait_for(deadline + kSlack), std::future_status::ready);
  EXPECT_TRUE(async.get().lease().is_noop());

  t0 = Steady::now();
  EXPECT_THROW(limiter->Available("k1", "gpt-4"), StoreError);  // the limiter's 3 s
  EXPECT_LT(Since(t0), milliseconds(3000) + kSlack);

  // Back: the writes cut at the deadline never reached the store (the
  // proxy dropped them), so the bucket holds exactly the two admitted ones.
  proxy->set_mode(TcpFaultProxy::Mode::kPass);
  Lease real = limiter->Acquire("k1", "gpt-4", {{"rpm", 1}}).take_lease();
  EXPECT_FALSE(real.is_noop());
  real.Commit();
  EXPECT_EQ(limiter->Available("k1", "gpt-4").at("rpm"), 98);
}

#endif  // ZAE_TEST_HAVE_DYNAMODB_STORE

TEST(Deadline, ADeferredOpenResolvesWhenTheStoreComesBack) {
  auto memory = std::make_shared<MemoryStore>();
  RateLimiter::Open(memory)->SetResourceDefaults("gpt-4", kRpm100);
  auto faulty = std::make_shared<FaultyStore>(memory);
  // Open's first call is a Get; everything after it fails too.
  faulty->FailNth(StoreOp::kGet, 1, StoreError("injected: down", true), /*down=*/true);
  auto limiter = RateLimiter::Open(faulty, {.on_unavailable = OnUnavailable::kBlock});
  EXPECT_EQ(limiter->namespace_id(), "");
  EXPECT_THROW(limiter->Acquire("k1", "gpt-4", {{"rpm", 1}}), RateLimiterUnavailable);
  AcquireResult per_call =
      limiter->Acquire("k1", "gpt-4", {{"rpm", 1}}, {.on_unavailable = OnUnavailable::kAllow});
  EXPECT_TRUE(per_call.lease().is_noop());

  faulty->Heal();
  // At most one attempt per second: the next one is due a second after the
  // failed open.
  std::this_thread::sleep_for(milliseconds(1100));
  Lease lease = limiter->Acquire("k1", "gpt-4", {{"rpm", 1}}).take_lease();
  EXPECT_FALSE(lease.is_noop());
  EXPECT_NE(limiter->namespace_id(), "");
  lease.Commit();
  EXPECT_EQ(limiter->Available("k1", "gpt-4").at("rpm"), 99);
  EXPECT_EQ(limiter->GetResourceDefaults("gpt-4"), kRpm100);
}

TEST(Deadline, ASqliteWriteLockHeldPastTheDeadlineFollowsThePolicy) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  auto store = std::make_shared<SqliteStore>(path);
  auto limiter = RateLimiter::Open(store, {.timeout = milliseconds(200)});
  limiter->SetResourceDefaults("gpt-4", kRpm100);

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto t0 = Steady::now();
  AcquireResult allowed =
      limiter->Acquire("k1", "gpt-4", {{"rpm", 1}}, {.on_unavailable = OnUnavailable::kAllow});
  // The store's own busy timeout is 5 s, with retries: the deadline cut it.
  EXPECT_LT(Since(t0), milliseconds(200) + kSlack);
  ASSERT_TRUE(allowed.allowed());
  EXPECT_TRUE(allowed.lease().is_noop());
  EXPECT_THROW(limiter->Acquire("k1", "gpt-4", {{"rpm", 1}}), RateLimiterUnavailable);
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);

  limiter->Acquire("k1", "gpt-4", {{"rpm", 1}}).take_lease().Commit();
  EXPECT_EQ(limiter->Available("k1", "gpt-4").at("rpm"), 99);
}

TEST(Deadline, BadTimeoutsAreValidationErrors) {
  auto memory = std::make_shared<MemoryStore>();
  EXPECT_THROW(RateLimiter::Open(memory, {.timeout = milliseconds(0)}), ValidationError);
  EXPECT_THROW(RateLimiter::Open(memory, {.timeout = std::chrono::hours(2)}), ValidationError);
  auto limiter = RateLimiter::Open(memory);
  limiter->SetResourceDefaults("gpt-4", kRpm100);
  EXPECT_THROW(limiter->Acquire("k1", "gpt-4", {{"rpm", 1}}, {.timeout = milliseconds(-1)}),
               ValidationError);
  std::future<AcquireResult> f =
      limiter->AcquireAsync("k1", "gpt-4", {{"rpm", 1}}, {.timeout = milliseconds(0)});
  EXPECT_THROW(f.get(), ValidationError);
}

}  // namespace
}  // namespace zae::testing

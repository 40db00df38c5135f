// The asynchronous API (rate_limiter.h "Asynchronous API", lease.h) on
// every store: memory completes inline, SQLite inline or (a warm acquire)
// on its writer thread, DynamoDB Local on the client's I/O threads, with
// many calls in flight from one thread.
// Store failures come from FaultyStore (store/faulty_store.h), which
// forwards to the real store and fails the call it is told to.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "limiter/limiter_test_util.h"
#include "store/faulty_store.h"
#include "zae/errors.h"
#include "zae/sqlite_store.h"

namespace zae::testing {
namespace {

using namespace std::chrono_literals;

class AsyncTest : public LimiterTest {
 protected:
  bool async_store() const { return store_->capabilities().async_io; }
  // The store call a warm acquire's or a commit's write arrives as: typed
  // bucket writes on the embedded stores; on DynamoDB, WriteEachAsync, which
  // FaultyStore runs as WriteEach.
  StoreOp write_op() const { return async_store() ? StoreOp::kWriteEach : StoreOp::kWriteBuckets; }
  // A limiter on `faulty`, which wraps this test's store, on the fake clock.
  std::unique_ptr<RateLimiter> OpenOn(std::shared_ptr<Store> faulty) {
    RateLimiterOptions options;
    options.clock = &clock_;
    options.timeout = testing::kTestTimeout;
    return RateLimiter::Open(std::move(faulty), options);
  }
  // The callback's arguments, checked to arrive exactly once.
  struct Outcome {
    std::mutex mu;
    std::condition_variable cv;
    int calls = 0;
    std::optional<AcquireResult> result;
    std::exception_ptr error;
    std::thread::id thread;
  };
  static RateLimiter::AcquireCallback Into(std::shared_ptr<Outcome> o) {
    return [o](AcquireResult* r, std::exception_ptr e) {
      std::lock_guard lock(o->mu);
      ++o->calls;
      EXPECT_TRUE((r == nullptr) != (e == nullptr)) << "exactly one of result and error";
      if (r) o->result.emplace(std::move(*r));
      o->error = e;
      o->thread = std::this_thread::get_id();
      o->cv.notify_all();
    };
  }
  static void Wait(Outcome& o) {
    std::unique_lock lock(o.mu);
    ASSERT_TRUE(o.cv.wait_for(lock, 30s, [&] { return o.calls > 0; })) << "no completion";
  }
};

TEST_P(AsyncTest, ManyInFlightFromOneThreadAdmitExactlyTheCapacity) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 40)});
  // Warm the bucket (the first acquire creates it through the slow path).
  ASSERT_TRUE(limiter().AcquireAsync("k", "gpt-4", {{"rpm", 1}}).get().allowed());
  std::vector<std::future<AcquireResult>> in_flight;
  for (int i = 0; i < 64; ++i)
    in_flight.push_back(limiter().AcquireAsync("k", "gpt-4", {{"rpm", 1}}));
  int allowed = 0, denied = 0;
  for (auto& f : in_flight) {
    AcquireResult r = f.get();
    if (r) {
      ++allowed;
      r.lease().Commit();
    } else {
      ++denied;
      EXPECT_EQ(r.denial().primary_violation().limit_name, "rpm");
    }
  }
  EXPECT_EQ(allowed, 39);
  EXPECT_EQ(denied, 25);
  EXPECT_EQ(limiter().Available("k", "gpt-4")["rpm"], 0);
}

TEST_P(AsyncTest, CallbackRunsOnceAndCanKeepTheLease) {
  limiter().SetResourceDefaults("gpt-4",
                                {Limit::PerMinute("rpm", 10), Limit::PerMinute("tpm", 1000)});
  auto o = std::make_shared<Outcome>();
  limiter().AcquireAsync("k", "gpt-4", {{"rpm", 1}, {"tpm", 500}}, Into(o));
  if (!async_store()) {
    EXPECT_EQ(o->calls, 1) << "embedded stores complete inline";
  }
  Wait(*o);
  ASSERT_FALSE(o->error);
  ASSERT_TRUE(o->result && o->result->allowed());
  Lease lease = o->result->take_lease();
  lease.Adjust({{"tpm", -200}});
  lease.CommitAsync().get();
  EXPECT_FALSE(lease.active());
  EXPECT_THROW(lease.CommitAsync(nullptr), LeaseExpiredError);
  EXPECT_EQ(limiter().Available("k", "gpt-4")["tpm"], 700);
  EXPECT_EQ(limiter().Available("k", "gpt-4")["rpm"], 9);
  std::lock_guard lock(o->mu);
  EXPECT_EQ(o->calls, 1);
}

TEST_P(AsyncTest, WarmAcquiresCompleteOnTheStoresThreadOrInline) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10)});
  limiter().Acquire("k", "gpt-4", {{"rpm", 1}}).lease().Commit();  // warm
  auto o = std::make_shared<Outcome>();
  limiter().AcquireAsync("k", "gpt-4", {{"rpm", 1}}, Into(o));
  Wait(*o);
  ASSERT_TRUE(o->result && o->result->allowed());
  // DynamoDB's I/O thread or SQLite's writer thread; memory: inline.
  if (store_->capabilities().async_bucket_writes) {
    EXPECT_NE(o->thread, std::this_thread::get_id());
  } else {
    EXPECT_EQ(o->thread, std::this_thread::get_id());
  }
}

TEST_P(AsyncTest, BadInputArrivesAsTheSyncError) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10)});
  EXPECT_THROW(limiter().AcquireAsync("k", "gpt-4", {}).get(), ValidationError);
  EXPECT_THROW(limiter().AcquireAsync("k", "gpt-4", {{"rpm", -1}}).get(), ValidationError);
  EXPECT_THROW(limiter().AcquireAsync("bad id!", "gpt-4", {{"rpm", 1}}).get(), ValidationError);
  EXPECT_THROW(limiter().AcquireAsync("k", "no-limits", {{"rpm", 1}}).get(), ValidationError);
  EXPECT_THROW(limiter().AvailableAsync("k", "no-limits").get(), ValidationError);
  auto o = std::make_shared<Outcome>();
  limiter().AcquireAsync("k", "gpt-4", {{"rpm", 1}, {"nope", 1}}, Into(o));
  Wait(*o);
  EXPECT_THROW(std::rethrow_exception(o->error), ValidationError);
  EXPECT_EQ(limiter().Available("k", "gpt-4")["rpm"], 10);  // nothing consumed
}

TEST_P(AsyncTest, AvailableAsyncMatchesAvailable) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10)});
  limiter().Acquire("k", "gpt-4", {{"rpm", 3}}).lease().Commit();
  Amounts a = limiter().AvailableAsync("k", "gpt-4").get();
  EXPECT_EQ(a, limiter().Available("k", "gpt-4"));
  EXPECT_EQ(a.at("rpm"), 7);
}

TEST_P(AsyncTest, StoreFailureFollowsThePolicy) {
  auto faulty = std::make_shared<FaultyStore>(store_);
  auto l = OpenOn(faulty);
  l->SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10)});
  l->Acquire("k", "gpt-4", {{"rpm", 1}}).lease().Commit();  // warm: the fast path fails first

  // The warm write fails, and every call after it: the store is down. A
  // warm acquire is a typed bucket write on every store.
  faulty->FailNth(StoreOp::kWriteBuckets, 1, StoreError("injected write failure"), /*down=*/true);
  try {
    l->AcquireAsync("k", "gpt-4", {{"rpm", 1}}, {.on_unavailable = OnUnavailable::kBlock}).get();
    ADD_FAILURE() << "no error under block";
  } catch (const RateLimiterUnavailable& e) {
    EXPECT_EQ(e.entity_id(), "k");
    EXPECT_EQ(e.resource(), "gpt-4");
    EXPECT_NE(std::string(e.what()).find("injected write failure"), std::string::npos) << e.what();
  }
  AcquireResult allowed =
      l->AcquireAsync("k", "gpt-4", {{"rpm", 1}}, {.on_unavailable = OnUnavailable::kAllow}).get();
  ASSERT_TRUE(allowed.allowed());
  EXPECT_TRUE(allowed.lease().is_noop());
  allowed.lease().CommitAsync().get();  // a no-op lease writes nothing
  EXPECT_TRUE(faulty->fired());
  faulty->Heal();
  EXPECT_EQ(l->Available("k", "gpt-4")["rpm"], 9);
}

TEST_P(AsyncTest, FailedAsyncCommitRollsBackExactlyOnce) {
  auto faulty = std::make_shared<FaultyStore>(store_);
  auto l = OpenOn(faulty);
  l->SetResourceDefaults("gpt-4", {Limit::PerMinute("tpm", 1000)});
  Lease lease = l->AcquireAsync("k", "gpt-4", {{"tpm", 100}}).get().take_lease();
  lease.Adjust({{"tpm", 300}});
  EXPECT_EQ(l->Available("k", "gpt-4")["tpm"], 900);
  // The commit's write fails, the rollback's does not.
  faulty->FailNth(write_op(), 1, StoreError("injected write failure"));
  EXPECT_THROW(lease.CommitAsync().get(), StoreError);
  EXPECT_FALSE(lease.active());
  EXPECT_EQ(faulty->calls(write_op()), 2) << faulty->log();  // the commit, then one rollback
  EXPECT_EQ(l->Available("k", "gpt-4")["tpm"], 1000);        // the initial 100 refunded once
}

TEST_P(AsyncTest, RollbackAsyncRefundsTheInitialConsumption) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("tpm", 1000)});
  Lease lease = limiter().AcquireAsync("k", "gpt-4", {{"tpm", 250}}).get().take_lease();
  lease.Adjust({{"tpm", 100}});  // local only: a rollback discards it
  EXPECT_EQ(limiter().Available("k", "gpt-4")["tpm"], 750);
  lease.RollbackAsync().get();
  EXPECT_EQ(limiter().Available("k", "gpt-4")["tpm"], 1000);
}

TEST_P(AsyncTest, TheCallersExecutorRunsTheCallbacks) {
  std::mutex mu;
  std::deque<std::function<void()>> queue;
  RateLimiterOptions options;
  options.executor = [&](std::function<void()> f) {
    std::lock_guard lock(mu);
    queue.push_back(std::move(f));
  };
  auto l = Open(options);
  l->SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10)});
  auto o = std::make_shared<Outcome>();
  l->AcquireAsync("k", "gpt-4", {{"rpm", 1}}, Into(o));
  // Nothing runs the callback until this thread drains the queue.
  for (auto until = std::chrono::steady_clock::now() + 30s;
       std::chrono::steady_clock::now() < until;) {
    std::function<void()> f;
    {
      std::lock_guard lock(mu);
      if (!queue.empty()) {
        f = std::move(queue.front());
        queue.pop_front();
      }
    }
    if (f) {
      f();
      break;
    }
    std::this_thread::sleep_for(1ms);
  }
  std::lock_guard lock(o->mu);
  EXPECT_EQ(o->calls, 1);
  EXPECT_EQ(o->thread, std::this_thread::get_id());
  ASSERT_TRUE(o->result && o->result->allowed());
  o->result->lease().Commit();
}

TEST_P(AsyncTest, DestroyingTheLimiterAndFuturesInFlightLosesNothing) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 1000)});
  limiter().Acquire("k", "gpt-4", {{"rpm", 1}}).lease().Commit();
  std::atomic<int> calls{0};
  {
    auto l = Open();
    for (int i = 0; i < 32; ++i) {
      l->AcquireAsync("k", "gpt-4", {{"rpm", 1}}, [&calls](AcquireResult* r, std::exception_ptr) {
        // The lease dies here, on the completion thread: it commits
        // without blocking it.
        if (r && r->allowed()) r->lease().Adjust({{"rpm", 1}});
        ++calls;
      });
    }
    for (int i = 0; i < 8; ++i) (void)l->AcquireAsync("k", "gpt-4", {{"rpm", 1}});  // abandoned
  }  // the limiter goes while calls are in flight
  for (auto until = std::chrono::steady_clock::now() + 30s;
       calls.load() < 32 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(calls.load(), 32);
  // 1 + 32 x 2 (acquire + adjust) + 8 abandoned, once their commits land.
  int64_t available = 0;
  for (auto until = std::chrono::steady_clock::now() + 30s;
       std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(5ms)) {
    available = limiter().Available("k", "gpt-4")["rpm"];
    if (available == 1000 - 73) break;
  }
  EXPECT_EQ(available, 1000 - 73);
}

// Embedded stores run callbacks inline on the caller's thread, where a
// synchronous call is fine; on an I/O thread it would deadlock, so it fails.
TEST_P(AsyncTest, SyncCallInsideACallbackFailsInsteadOfDeadlocking) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 10)});
  limiter().Acquire("k", "gpt-4", {{"rpm", 1}}).lease().Commit();
  std::promise<std::string> seen;
  limiter().AcquireAsync("k", "gpt-4", {{"rpm", 1}}, [&](AcquireResult*, std::exception_ptr) {
    try {
      AcquireResult r =
          limiter().Acquire("k", "gpt-4", {{"rpm", 1}}, {.on_unavailable = OnUnavailable::kBlock});
      seen.set_value(r.allowed() ? "allowed" : "denied");
    } catch (const InfrastructureError& e) {
      seen.set_value(e.what());
    }
  });
  auto f = seen.get_future();
  ASSERT_EQ(f.wait_for(30s), std::future_status::ready);
  const std::string what = f.get();
  if (async_store()) {
    EXPECT_NE(what.find("would deadlock"), std::string::npos) << what;
  } else {
    EXPECT_EQ(what, "allowed");
  }
}

// SQLite: warm acquires in flight from one thread queue for the writer
// thread and share commits. The first of them waits on a lock held by
// another connection, so the rest surely queue behind it.
TEST(SqliteAsync, WarmAcquiresInFlightShareCommits) {
  ScratchDir dir;
  const std::string path = dir.path() + "/zae.db";
  auto store = std::make_shared<SqliteStore>(path);
  RateLimiterOptions options;
  options.timeout = kTestTimeout;
  auto limiter = RateLimiter::Open(store, options);
  limiter->SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 40)});
  ASSERT_TRUE(limiter->Acquire("k", "gpt-4", {{"rpm", 1}}).allowed());  // warm
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const int64_t commits0 = store->commits();
  std::vector<std::future<AcquireResult>> in_flight;
  in_flight.push_back(limiter->AcquireAsync("k", "gpt-4", {{"rpm", 1}}));
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < 49; ++i)
    in_flight.push_back(limiter->AcquireAsync("k", "gpt-4", {{"rpm", 1}}));
  for (auto& f : in_flight) EXPECT_EQ(f.wait_for(0s), std::future_status::timeout);
  ASSERT_EQ(sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  int allowed = 0;
  for (auto& f : in_flight) allowed += f.get().allowed() ? 1 : 0;
  EXPECT_EQ(allowed, 39);  // 40 per minute, one taken before
  // The first write alone, then the other 49 in one transaction; each
  // refusal is decided on the pool without another write.
  EXPECT_EQ(store->commits() - commits0, 2);
  EXPECT_EQ(limiter->Available("k", "gpt-4")["rpm"], 0);
}

INSTANTIATE_TEST_SUITE_P(Stores, AsyncTest, ::testing::ValuesIn(StoreFactories()), FactoryName);

}  // namespace
}  // namespace zae::testing

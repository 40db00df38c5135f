// Many threads, and several processes on one SQLite file, hammer one bucket
// through the limiter. The clock stands still, so exactly the capacity may be
// admitted; the bucket's tc counter must equal what was admitted.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "limiter/keys.h"
#include "limiter/limiter_test_util.h"

namespace zae::testing {
namespace {

int64_t StoredTc(Store& store, const std::string& ns, const std::string& entity) {
  auto item = store.Get(keys::Bucket(ns, entity, "res", 0), true);
  return item ? item->at("b_rpm_tc").as_number() : 0;  // no bucket: nothing admitted
}

// Runs `attempts` acquires; returns how many were admitted.
int64_t Hammer(RateLimiter& limiter, const std::string& entity, int attempts) {
  int64_t admitted = 0;
  for (int i = 0; i < attempts; ++i) {
    auto r = limiter.Acquire(entity, "res", {{"rpm", 1}});
    if (r.allowed()) {
      ++admitted;
      r.lease().Commit();
    }
  }
  return admitted;
}

// Over-subscribed about 2.4x; smaller against DynamoDB Local, whose
// round trips are milliseconds.
class LimiterContention : public LimiterTest {
 protected:
  bool Remote() const { return GetParam().name == "dynamodb"; }
  int64_t kCapacity = 0;
  int kAttempts = 0;
  void SetUp() override {
    LimiterTest::SetUp();
    kCapacity = Remote() ? 30 : 150;
    kAttempts = Remote() ? 12 : 60;
  }
};

TEST_P(LimiterContention, ThreadsNeverOverAdmit) {
  limiter().SetResourceDefaults("res", {Limit::PerHour("rpm", kCapacity)});
  std::atomic<int64_t> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] { admitted += Hammer(limiter(), "hot", kAttempts); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), kCapacity);
  EXPECT_EQ(StoredTc(*store_, limiter().namespace_id(), "hot"), kCapacity * 1000);
}

TEST_P(LimiterContention, CascadeChildrenShareTheParentExactly) {
  limiter().CreateEntity("proj", {});
  limiter().SetLimits("proj", {Limit::PerHour("rpm", kCapacity)}, "res");
  limiter().SetResourceDefaults("res", {Limit::PerHour("rpm", 1000)});
  std::atomic<int64_t> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    const std::string child = "key-" + std::to_string(t);
    limiter().CreateEntity(child, {.parent_id = "proj", .cascade = true});
    threads.emplace_back([&, child] { admitted += Hammer(limiter(), child, kAttempts); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), kCapacity);
  EXPECT_EQ(StoredTc(*store_, limiter().namespace_id(), "proj"), kCapacity * 1000);
  int64_t children_tc = 0;
  for (int t = 0; t < 4; ++t) {
    children_tc += StoredTc(*store_, limiter().namespace_id(), "key-" + std::to_string(t));
  }
  EXPECT_EQ(children_tc, kCapacity * 1000);
}

// Each child process opens the same store by its URL (sqlite:PATH or
// dynamodb://TABLE?...), as separate application processes would.
using LimiterProcesses = LimiterContention;

TEST_P(LimiterProcesses, ProcessesNeverOverAdmit) {
  limiter().SetResourceDefaults("res", {Limit::PerHour("rpm", kCapacity)});
  const std::string url = store_->Describe();
  constexpr int kProcs = 4;
  std::vector<std::pair<pid_t, int>> children;
  for (int p = 0; p < kProcs; ++p) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      int64_t n = -1;
      try {
        setenv("AWS_ACCESS_KEY_ID", "test", 0);  // DynamoDB Local accepts any key
        setenv("AWS_SECRET_ACCESS_KEY", "test", 0);
        std::shared_ptr<Store> store = OpenStore(url);
        RateLimiterOptions o;
        o.clock = &clock_;
        o.timeout = testing::kTestTimeout;
        auto lim = RateLimiter::Open(store, o);
        n = Hammer(*lim, "hot", kAttempts);
      } catch (...) {
      }
      (void)!write(fds[1], &n, sizeof n);
      _exit(0);
    }
    close(fds[1]);
    children.emplace_back(pid, fds[0]);
  }
  int64_t admitted = 0;
  for (auto [pid, fd] : children) {
    int64_t n = -1;
    ASSERT_EQ(read(fd, &n, sizeof n), static_cast<ssize_t>(sizeof n));
    close(fd);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_GE(n, 0) << "child failed";
    admitted += n;
  }
  EXPECT_EQ(admitted, kCapacity);
  EXPECT_EQ(StoredTc(*store_, limiter().namespace_id(), "hot"), kCapacity * 1000);
}

INSTANTIATE_TEST_SUITE_P(Stores, LimiterContention, ::testing::ValuesIn(StoreFactories()),
                         FactoryName);
// Not memory: a memory store lives in one process.
INSTANTIATE_TEST_SUITE_P(Stores, LimiterProcesses,
                         ::testing::ValuesIn(StoreFactoriesExcept({"memory"})), FactoryName);

}  // namespace
}  // namespace zae::testing

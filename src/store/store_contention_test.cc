// Store-level contention: the limiter's hot path is a conditional ADD
// guarded by `tk >= n`. Under many concurrent writers (threads, and for
// SQLite several processes on one file) the counter must never go below
// zero, and it must end at exactly start + refills - admitted.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "store/store_test_util.h"
#include "zae/errors.h"

namespace zae {
namespace {

using testing::StoreTest;

const ItemKey kBucket{"ns/BUCKET#e#r#0", "#STATE"};
constexpr int64_t kStart = 300;

struct Tally {
  int64_t admitted = 0;  // tokens taken by successful decrements
  int64_t refilled = 0;
  int64_t denied = 0;
  bool went_negative = false;
};

// One worker: mostly guarded decrements of 1..4, sometimes a refill of 1.
Tally Hammer(Store& store, int ops, unsigned seed) {
  std::mt19937 rng(seed);
  Tally t;
  for (int i = 0; i < ops; ++i) {
    Update u;
    u.key = kBucket;
    u.return_new = true;
    if (rng() % 8 == 0) {
      u.add = {{"tk", 1}};
      if (!store.Write(u).ok()) t.went_negative = true;  // unconditional: must succeed
      ++t.refilled;
      continue;
    }
    const int64_t n = 1 + static_cast<int64_t>(rng() % 4);
    u.add = {{"tk", -n}};
    u.condition.Compare("tk", Predicate::Op::kGe, Value(n));
    WriteResult r = store.Write(u);
    if (r.ok()) {
      t.admitted += n;
      if (!r.item || r.item->at("tk").as_number() < 0) t.went_negative = true;
    } else {
      ++t.denied;
    }
  }
  return t;
}

void Seed(Store& store) {
  Put p;
  p.item = Item{{"PK", Value(kBucket.pk)}, {"SK", Value(kBucket.sk)}, {"tk", Value(kStart)}};
  ASSERT_TRUE(store.Write(p).ok());
}

using StoreContentionTest = StoreTest;

TEST_P(StoreContentionTest, ThreadsNeverOverdrawAConditionalCounter) {
  Seed(store());
  constexpr int kThreads = 8;
  constexpr int kOps = 250;
  std::vector<Tally> tallies(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] { tallies[i] = Hammer(store(), kOps, 1000 + i); });
  }
  for (auto& th : threads) th.join();
  Tally total;
  for (const auto& t : tallies) {
    EXPECT_FALSE(t.went_negative);
    total.admitted += t.admitted;
    total.refilled += t.refilled;
    total.denied += t.denied;
  }
  const int64_t tk = store().Get(kBucket, true)->at("tk").as_number();
  EXPECT_GE(tk, 0);
  EXPECT_EQ(tk, kStart + total.refilled - total.admitted);
  EXPECT_GT(total.denied, 0) << "the test should exhaust the counter";
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContentionTest,
                         ::testing::ValuesIn(testing::StoreFactories()), testing::FactoryName);

// Several processes, each with two threads and its own SqliteStore, on one
// file: SQLite's locking (BEGIN IMMEDIATE + busy handling) must make each
// read-modify-write atomic across processes too.
TEST(SqliteContentionTest, ProcessesNeverOverdrawAConditionalCounter) {
  testing::ScratchDir dir;
  const std::string path = dir.path() + "/shared.db";
  {
    SqliteStore store(path);
    Seed(store);
  }
  constexpr int kProcs = 4;
  constexpr int kThreadsPerProc = 2;
  constexpr int kOps = 200;
  struct Child {
    pid_t pid;
    int fd;
  };
  std::vector<Child> children;
  for (int p = 0; p < kProcs; ++p) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Child: no gtest assertions; report through the pipe and _exit.
      close(fds[0]);
      Tally total;
      bool failed = false;
      try {
        SqliteStore store(path);
        std::vector<Tally> tallies(kThreadsPerProc);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreadsPerProc; ++t) {
          threads.emplace_back([&, t] {
            try {
              tallies[t] = Hammer(store, kOps, 77 * p + t);
            } catch (const std::exception&) {
              tallies[t].went_negative = true;
            }
          });
        }
        for (auto& th : threads) th.join();
        for (const auto& t : tallies) {
          total.admitted += t.admitted;
          total.refilled += t.refilled;
          total.denied += t.denied;
          failed |= t.went_negative;
        }
      } catch (const std::exception&) {
        failed = true;
      }
      const int64_t out[4] = {total.admitted, total.refilled, total.denied, failed ? 1 : 0};
      const bool written = write(fds[1], out, sizeof out) == static_cast<ssize_t>(sizeof out);
      _exit(written ? 0 : 1);
    }
    close(fds[1]);
    children.push_back({pid, fds[0]});
  }
  Tally total;
  for (const auto& c : children) {
    int64_t in[4] = {0, 0, 0, 1};
    EXPECT_EQ(read(c.fd, in, sizeof in), static_cast<ssize_t>(sizeof in));
    close(c.fd);
    int status = 0;
    EXPECT_EQ(waitpid(c.pid, &status, 0), c.pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(in[3], 0) << "a child saw an error or a negative counter";
    total.admitted += in[0];
    total.refilled += in[1];
    total.denied += in[2];
  }
  SqliteStore store(path);
  const int64_t tk = store.Get(kBucket, true)->at("tk").as_number();
  EXPECT_GE(tk, 0);
  EXPECT_EQ(tk, kStart + total.refilled - total.admitted);
  EXPECT_GT(total.denied, 0);
}

}  // namespace
}  // namespace zae

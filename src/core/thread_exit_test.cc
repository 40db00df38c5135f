#include "core/thread_exit.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace zae {
namespace {

std::mutex g_mu;
std::vector<std::string> g_events;

void Record(const std::string& what) {
  std::lock_guard lock(g_mu);
  g_events.push_back(what);
}

struct Local {
  ~Local() { Record("thread-local destroyed"); }
};

// The hook is what frees state kept outside C++ thread-locals (OpenSSL's):
// it must run after every other thread-local of the thread (they may still
// use that state) and before the thread counts as ended.
// Once per process: a hook registered twice runs twice.
void RegisterHookOnce() {
  static const bool registered = (AtHeldThreadEnd([] { Record("hook"); }), true);
  (void)registered;
}

TEST(ThreadExitTest, HookRunsAfterTheThreadsLocalsAsItEnds) {
  RegisterHookOnce();
  g_events.clear();
  std::thread t([] {
    HoldExitUntilThreadEnds();
    thread_local Local local;
    (void)&local;
    Record("body");
  });
  t.join();
  std::lock_guard lock(g_mu);
  EXPECT_EQ(g_events, (std::vector<std::string>{"body", "thread-local destroyed", "hook"}));
}

TEST(ThreadExitTest, ThreadsThatAreNotHeldRunNoHook) {
  RegisterHookOnce();
  g_events.clear();
  std::thread t([] { Record("body"); });
  t.join();
  std::lock_guard lock(g_mu);
  EXPECT_EQ(g_events, (std::vector<std::string>{"body"}));
}

}  // namespace
}  // namespace zae

#include "core/thread_exit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
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

// A library's exit handler registered after a held thread started (OpenSSL
// initialised lazily) would run before the exit wait and find the thread
// still running; a wait registered after it runs first.
std::atomic<bool> g_ended{false};
void ExitWith(bool wait_after) {
  std::thread([] {
    HoldExitUntilThreadEnds();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    g_ended = true;
  }).detach();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the held thread runs
  std::atexit([] { std::_Exit(g_ended ? 0 : 3); });            // the library's handler
  if (wait_after) WaitForHeldThreadsBeforeEarlierExitHandlers();
  std::exit(0);
}

TEST(ThreadExitDeathTest, AWaitRegisteredAfterALibrarysExitHandlerRunsBeforeIt) {
  EXPECT_EXIT(ExitWith(true), ::testing::ExitedWithCode(0), "");
  // Without it, the handler sees the thread still running: what the wait
  // is for (and what this test would catch).
  EXPECT_EXIT(ExitWith(false), ::testing::ExitedWithCode(3), "");
}

}  // namespace
}  // namespace zae

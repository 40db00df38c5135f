#include "core/thread_exit.h"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace zae {
namespace {

struct Registry {
  std::mutex mu;
  std::condition_variable cv;
  int live = 0;
  std::vector<void (*)()> hooks;
};

// Never destroyed: a thread still running after the wait below gave up
// may touch it.
Registry& TheRegistry() {
  static Registry* r = new Registry;
  return *r;
}

void WaitForHeldThreads() {
  Registry& r = TheRegistry();
  std::unique_lock lock(r.mu);
  r.cv.wait_for(lock, std::chrono::seconds(5), [&] { return r.live == 0; });
}

struct ExitWaiter {
  ~ExitWaiter() { WaitForHeldThreads(); }
};

// Constructed first on its thread, so destroyed after every other
// thread-local of that thread.
struct Token {
  Token() {
    Registry& r = TheRegistry();
    std::lock_guard lock(r.mu);
    ++r.live;
  }
  ~Token() {
    Registry& r = TheRegistry();
    std::vector<void (*)()> hooks;
    {
      std::lock_guard lock(r.mu);
      hooks = r.hooks;
    }
    for (auto hook : hooks) hook();
    std::lock_guard lock(r.mu);
    --r.live;
    r.cv.notify_all();
  }
};

}  // namespace

void AtHeldThreadEnd(void (*hook)()) {
  Registry& r = TheRegistry();
  std::lock_guard lock(r.mu);
  r.hooks.push_back(hook);
}

void WaitForHeldThreadsBeforeEarlierExitHandlers() { std::atexit(WaitForHeldThreads); }

void HoldExitUntilThreadEnds() {
  static ExitWaiter waiter;  // destroyed at exit, before main's statics
  thread_local Token token;
}

}  // namespace zae

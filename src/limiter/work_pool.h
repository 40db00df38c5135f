// WorkPool: a few threads that run the parts of asynchronous limiter calls
// that block (the slow path, the on_unavailable policy, Available) on
// stores whose completions arrive on I/O threads, where nothing may block.
//
// Thread safety: Post may be called from any thread, including a pool
// thread. The destructor stops the threads after the queued work has run;
// called on one of its own threads (the last reference to the limiter was
// dropped by a task), it hands the joining to a detached thread instead of
// joining itself.
#ifndef ZAE_LIMITER_WORK_POOL_H_
#define ZAE_LIMITER_WORK_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace zae {

class WorkPool {
 public:
  explicit WorkPool(int threads);
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  void Post(std::function<void()> task);
  // True on a thread of any WorkPool.
  static bool OnPoolThread();

 private:
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> tasks;
    bool stop = false;
  };
  static void Run(std::shared_ptr<Shared> shared);

  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
};

}  // namespace zae

#endif  // ZAE_LIMITER_WORK_POOL_H_

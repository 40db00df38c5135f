#include "limiter/work_pool.h"

#include <algorithm>

#include "core/thread_exit.h"

namespace zae {
namespace {
thread_local bool t_on_pool_thread = false;
}  // namespace

WorkPool::WorkPool(int threads) : shared_(std::make_shared<Shared>()) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back(Run, shared_);
}

WorkPool::~WorkPool() {
  {
    std::lock_guard lock(shared_->mu);
    shared_->stop = true;
  }
  shared_->cv.notify_all();
  const auto self = std::this_thread::get_id();
  bool on_own_thread = false;
  for (const std::thread& t : threads_) on_own_thread |= t.get_id() == self;
  if (!on_own_thread) {
    for (std::thread& t : threads_) t.join();
    return;
  }
  // The threads hold `shared_` themselves, so they may outlive this object.
  for (std::thread& t : threads_) {
    if (t.get_id() == self) {
      t.detach();
    } else {
      std::thread([t = std::move(t)]() mutable {
        HoldExitUntilThreadEnds();
        t.join();
      }).detach();
    }
  }
}

void WorkPool::Post(std::function<void()> task) {
  {
    std::lock_guard lock(shared_->mu);
    shared_->tasks.push_back(std::move(task));
  }
  shared_->cv.notify_one();
}

bool WorkPool::OnPoolThread() { return t_on_pool_thread; }

void WorkPool::Run(std::shared_ptr<Shared> shared) {
  HoldExitUntilThreadEnds();  // may detach itself when the pool goes
  t_on_pool_thread = true;
  std::unique_lock lock(shared->mu);
  while (true) {
    shared->cv.wait(lock, [&] { return shared->stop || !shared->tasks.empty(); });
    if (shared->tasks.empty()) return;  // stopped, and everything queued has run
    std::function<void()> task = std::move(shared->tasks.front());
    shared->tasks.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // its captures are released before the lock is taken again
    lock.lock();
  }
}

}  // namespace zae

// The deadline of the limiter call running on this thread.
//
// A RateLimiter call (acquire, available, a lease's commit/adjust/rollback)
// opens a DeadlineScope for its duration; the stores that wait read
// CurrentDeadline() and stop waiting when it passes: the DynamoDB client
// bounds each attempt and its back-off by it, the SQLite busy handler gives
// up the lock wait. The store call then fails with a retryable StoreError
// and the limiter applies on_unavailable.
//
// Why a thread-local and not a Store parameter: every store call of a
// limiter call inherits the deadline without each of the Store methods
// (and every Store implementation) growing an argument. Asynchronous
// continuations, which run on other threads, reopen a scope with the
// deadline they saved when the call began.
//
// Scopes nest: the effective deadline is the earliest of the open ones, so
// a lease commit inside an acquire's scope cannot extend it.
// Thread safety: per thread by construction.
#ifndef ZAE_CORE_DEADLINE_H_
#define ZAE_CORE_DEADLINE_H_

#include <algorithm>
#include <chrono>

namespace zae {

using DeadlineClock = std::chrono::steady_clock;

namespace detail {
inline thread_local DeadlineClock::time_point current_deadline = DeadlineClock::time_point::max();
}

// The earliest deadline of the scopes open on this thread;
// time_point::max() when there is none.
inline DeadlineClock::time_point CurrentDeadline() { return detail::current_deadline; }

class DeadlineScope {
 public:
  explicit DeadlineScope(DeadlineClock::time_point deadline) : previous_(detail::current_deadline) {
    detail::current_deadline = std::min(previous_, deadline);
  }
  // now + timeout.
  explicit DeadlineScope(std::chrono::milliseconds timeout)
      : DeadlineScope(DeadlineClock::now() + timeout) {}
  ~DeadlineScope() { detail::current_deadline = previous_; }
  DeadlineScope(const DeadlineScope&) = delete;
  DeadlineScope& operator=(const DeadlineScope&) = delete;

 private:
  DeadlineClock::time_point previous_;
};

}  // namespace zae

#endif  // ZAE_CORE_DEADLINE_H_

// The deadline of the limiter call running on this thread.
//
// A RateLimiter call (acquire, available, a lease's commit/rollback) opens a
// DeadlineScope for its duration; the stores that wait read
// CurrentDeadline() and stop waiting when it passes: the DynamoDB client
// bounds each attempt and its back-off by it, the SQLite busy handler, writer
// lock and lock file give up. The store call then fails with a retryable
// StoreError and the limiter applies on_unavailable.
//
// Why a thread-local and not a Store parameter: every store call of a
// limiter call inherits the deadline without each of the Store methods (and
// every Store implementation) growing an argument. Asynchronous
// continuations, which run on other threads, reopen a scope with the
// deadline they saved when the call began.
//
// A scope opened with a timeout reads no clock: the deadline is fixed
// (now + timeout) by the first CurrentDeadline() inside it, so a call on a
// store that never waits (memory, an uncontended SQLite file) costs no clock
// read. On DynamoDB that first read is the first request, at the call's
// start. HasDeadline() asks without fixing it.
//
// Scopes nest: the effective deadline is the earliest of the open ones, so
// a nested scope cannot extend the one around it.
// Thread safety: per thread by construction.
#ifndef ZAE_CORE_DEADLINE_H_
#define ZAE_CORE_DEADLINE_H_

#include <algorithm>
#include <chrono>

namespace zae {

using DeadlineClock = std::chrono::steady_clock;

namespace detail {
struct DeadlineState {
  DeadlineClock::time_point at = DeadlineClock::time_point::max();
  std::chrono::milliseconds pending{0};  // a timeout whose start is not fixed yet
};
inline thread_local DeadlineState current_deadline;
}  // namespace detail

inline bool HasDeadline() {
  const detail::DeadlineState& s = detail::current_deadline;
  return s.pending.count() != 0 || s.at != DeadlineClock::time_point::max();
}

// The earliest deadline of the scopes open on this thread;
// time_point::max() when there is none.
inline DeadlineClock::time_point CurrentDeadline() {
  detail::DeadlineState& s = detail::current_deadline;
  if (s.pending.count() != 0) {
    s.at = std::min(s.at, DeadlineClock::now() + s.pending);
    s.pending = std::chrono::milliseconds(0);
  }
  return s.at;
}

class DeadlineScope {
 public:
  explicit DeadlineScope(DeadlineClock::time_point deadline) {
    CurrentDeadline();  // fixes an outer pending one before it is saved
    previous_ = detail::current_deadline;
    detail::current_deadline.at = std::min(previous_.at, deadline);
  }
  // now + timeout, now being the first time a store asks.
  explicit DeadlineScope(std::chrono::milliseconds timeout) {
    detail::DeadlineState& s = detail::current_deadline;
    if (!HasDeadline()) {
      previous_ = s;
      s.pending = timeout;
      return;
    }
    CurrentDeadline();
    previous_ = s;
    s.at = std::min(s.at, DeadlineClock::now() + timeout);
  }
  ~DeadlineScope() { detail::current_deadline = previous_; }
  DeadlineScope(const DeadlineScope&) = delete;
  DeadlineScope& operator=(const DeadlineScope&) = delete;

 private:
  detail::DeadlineState previous_;
};

}  // namespace zae

#endif  // ZAE_CORE_DEADLINE_H_

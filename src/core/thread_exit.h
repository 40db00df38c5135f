// Threads that may outlive their owner (the limiter's pool and the HTTP
// client's I/O threads detach when the last owner lets go on one of them)
// call HoldExitUntilThreadEnds() first thing. At process exit, static
// destruction then waits (at most 5 s) until every such thread has ended,
// its thread-local state included (OpenSSL contexts, signing-key caches),
// so a process that exits right after dropping a limiter neither cuts a
// teardown short nor leaves what a leak checker reports.
// Thread safety: call from any thread, any number of times.
#ifndef ZAE_CORE_THREAD_EXIT_H_
#define ZAE_CORE_THREAD_EXIT_H_

namespace zae {

void HoldExitUntilThreadEnds();

}  // namespace zae

#endif  // ZAE_CORE_THREAD_EXIT_H_

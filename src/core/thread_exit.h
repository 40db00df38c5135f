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

// Runs `hook` on each such thread as it ends: after the thread's other
// thread-locals are destroyed, before process exit may go on. For state a
// library keeps per thread outside C++ thread-locals (OpenSSL's error queue
// lives in a pthread key whose destructor runs only after every
// thread-local, by which time exit may have deleted the key: the queue then
// leaks and a leak checker says so). Hooks registered twice run twice.
void AtHeldThreadEnd(void (*hook)());

// One more exit-time wait for held threads, run before every exit handler
// registered before this call (handlers run in reverse order): for a
// library initialised lazily, after the first held thread started, whose
// own exit handler would otherwise tear down what those threads still use
// (OpenSSL's cleanup deletes the key of its per-thread state).
void WaitForHeldThreadsBeforeEarlierExitHandlers();

}  // namespace zae

#endif  // ZAE_CORE_THREAD_EXIT_H_

#include "server/grpc_runtime.h"

#include <absl/synchronization/mutex.h>

#include <mutex>

namespace zae::server {

void ConfigureGrpcRuntime() {
  static std::once_flag once;
  std::call_once(once, [] {
    // gRPC's locks are absl::Mutex. Debian builds Abseil without NDEBUG, so
    // by default every lock and unlock also maintains a process-wide
    // lock-order graph for deadlock detection (a debugging aid), behind one
    // global lock that all of gRPC's threads share; it showed up in the
    // server's profile. Turning it off changes no behaviour.
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  });
}

}  // namespace zae::server

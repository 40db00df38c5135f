#include "server/grpc_runtime.h"

#include <absl/synchronization/mutex.h>

#include <gtest/gtest.h>

namespace zae::server {
namespace {

// Debian's Abseil tracks lock order by default and aborts the process on an
// inversion; after ConfigureGrpcRuntime it tracks nothing, so taking two
// mutexes in both orders (harmless on one thread) must not abort.
TEST(GrpcRuntimeTest, MutexLockOrderIsNotTracked) {
  ConfigureGrpcRuntime();
  ConfigureGrpcRuntime();  // idempotent
  absl::Mutex a, b;
  {
    absl::MutexLock la(&a);
    absl::MutexLock lb(&b);
  }
  {
    absl::MutexLock lb(&b);
    absl::MutexLock la(&a);
  }
  SUCCEED();
}

}  // namespace
}  // namespace zae::server

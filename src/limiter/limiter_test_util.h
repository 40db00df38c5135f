// Fixture of the limiter suites: a fresh store per test from the store
// factories (memory, SQLite, and DynamoDB Local when configured), a fake
// clock, and an opened limiter.
#ifndef ZAE_LIMITER_LIMITER_TEST_UTIL_H_
#define ZAE_LIMITER_LIMITER_TEST_UTIL_H_

#include <memory>

#include "store/store_test_util.h"
#include "zae/rate_limiter.h"

namespace zae::testing {

class LimiterTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    ZAE_SKIP_UNLESS_AVAILABLE(GetParam());
    store_ = std::shared_ptr<Store>(GetParam().open(dir_.path()));
    limiter_ = Open();
  }
  void TearDown() override {
    limiter_.reset();
    store_.reset();
  }

  std::unique_ptr<RateLimiter> Open(RateLimiterOptions options = {}) {
    options.clock = &clock_;
    if (options.timeout == RateLimiterOptions{}.timeout) options.timeout = testing::kTestTimeout;
    return RateLimiter::Open(store_, options);
  }

  RateLimiter& limiter() { return *limiter_; }

  FakeClock clock_{1'750'000'000'000};
  ScratchDir dir_;
  std::shared_ptr<Store> store_;
  std::unique_ptr<RateLimiter> limiter_;
};

}  // namespace zae::testing

#endif  // ZAE_LIMITER_LIMITER_TEST_UTIL_H_

// Whether a test run must have DynamoDB Local, so that its DynamoDB cases
// fail instead of skipping when it is not there. The test command
// (scripts/test.sh) starts DynamoDB Local and sets ZAE_REQUIRE_DYNAMODB=1:
// a case that would skip there (endpoint not exported, emulator missing)
// is a failure, and ctest's skipped count stays an honest zero.
#ifndef ZAE_STORE_REQUIRE_BACKEND_H_
#define ZAE_STORE_REQUIRE_BACKEND_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace zae::testing {

// True when backend `name` must run: ZAE_REQUIRE_DYNAMODB set (not "0")
// for "dynamodb".
inline bool BackendRequired(const std::string& name) {
  if (name != "dynamodb") return false;
  const char* v = std::getenv("ZAE_REQUIRE_DYNAMODB");
  return v && *v && std::string(v) != "0";
}

}  // namespace zae::testing

// In a test body or SetUp, when DynamoDB cannot run here (`why`): fails if
// the run requires it, skips otherwise.
#define ZAE_DYNAMODB_UNAVAILABLE(why)                                                      \
  do {                                                                                     \
    if (::zae::testing::BackendRequired("dynamodb"))                                       \
      GTEST_FAIL() << "DynamoDB is required here (ZAE_REQUIRE_DYNAMODB=1) but: " << (why); \
    GTEST_SKIP() << (why);                                                                 \
  } while (0)

#endif  // ZAE_STORE_REQUIRE_BACKEND_H_

// The error helpers of include/zae/errors.h that are more than a class.
#include "zae/errors.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace zae {
namespace {

TEST(ErrorsTest, IsOutcomeUnknownReadsTheFlagOfAStoreErrorOnly) {
  EXPECT_FALSE(IsOutcomeUnknown(nullptr));
  EXPECT_FALSE(IsOutcomeUnknown(std::make_exception_ptr(StoreError("down", true))));
  EXPECT_TRUE(IsOutcomeUnknown(std::make_exception_ptr(StoreError("lost", false, true))));
  EXPECT_FALSE(IsOutcomeUnknown(std::make_exception_ptr(std::runtime_error("other"))));
  EXPECT_FALSE(IsOutcomeUnknown(std::make_exception_ptr(42)));
}

}  // namespace
}  // namespace zae

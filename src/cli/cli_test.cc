// Runs the real zae-limiter binary (see the full suite below as it grows).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace {

TEST(Cli, Version) {
  FILE* p = popen(ZAE_CLI_BINARY " --version", "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {};
  const size_t n = fread(buf, 1, sizeof buf - 1, p);
  EXPECT_EQ(pclose(p), 0);
  EXPECT_NE(std::string(buf, n).find("zae-limiter "), std::string::npos);
}

}  // namespace

#include "core/pair_hash.h"

#include <gtest/gtest.h>

#include <string>
#include <unordered_map>
#include <utility>

namespace zae {
namespace {

TEST(PairHash, TheSeparatorKeepsSplitsApart) {
  EXPECT_NE(PairHash("ab", "c"), PairHash("a", "bc"));
  EXPECT_NE(PairHash("", "abc"), PairHash("abc", ""));
  EXPECT_NE(PairHash("a", "b"), PairHash("b", "a"));
  EXPECT_EQ(PairHash("key-1", "gpt-4"), PairHash(std::string("key-1"), std::string("gpt-4")));
}

TEST(PairHash, StringPairsAreFoundByViews) {
  std::unordered_map<std::pair<std::string, std::string>, int, StringPairHash, StringPairEq> m;
  m[{"k1", "gpt-4"}] = 1;
  m[{"k", "1gpt-4"}] = 2;
  const std::string_view e = "k1", r = "gpt-4";
  auto it = m.find(std::pair<std::string_view, std::string_view>(e, r));
  ASSERT_NE(it, m.end());
  EXPECT_EQ(it->second, 1);
  EXPECT_EQ(m.find(std::pair<std::string_view, std::string_view>("k1", "gpt-3")), m.end());
  EXPECT_EQ(m.size(), 2u);
}

}  // namespace
}  // namespace zae

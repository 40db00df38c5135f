#include "store/sqlite/item_codec.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "zae/errors.h"

namespace zae::sqlite {
namespace {

Item Sample() {
  Value::Map m{{"n", Value(int64_t{-42})}, {"s", Value(std::string("a\0b", 3))}};
  return Item{{"PK", Value("ns/BUCKET#e#r#0")},
              {"SK", Value("#STATE")},
              {"null", Value()},
              {"t", Value(true)},
              {"min", Value(std::numeric_limits<int64_t>::min())},
              {"max", Value(std::numeric_limits<int64_t>::max())},
              {"utf8", Value("é\"\\\n\x01")},
              {"bytes", Value("\xff\xfe")},
              {"ss", Value(Value::StringSet{"", "b", "a"})},
              {"empty_ss", Value(Value::StringSet{})},
              {"l", Value(Value::List{Value(1), Value(m), Value(Value::List{})})},
              {"m", Value(m)},
              {std::string("na\0me", 5), Value(0)}};
}

TEST(ItemCodecTest, RoundTripsEveryValueType) {
  const Item item = Sample();
  EXPECT_EQ(DecodeItem(EncodeItem(item)), item);
}

TEST(ItemCodecTest, EncodingIsDynamoDbJson) {
  const Item item{{"PK", Value("p")},
                  {"SK", Value("s")},
                  {"n", Value(-5)},
                  {"b", Value(false)},
                  {"x", Value()},
                  {"ss", Value(Value::StringSet{"a"})},
                  {"l", Value(Value::List{Value(1)})},
                  {"m", Value(Value::Map{{"k", Value("v")}})}};
  EXPECT_EQ(EncodeItem(item),
            R"({"PK":{"S":"p"},"SK":{"S":"s"},"b":{"BOOL":false},"l":{"L":[{"N":"1"}]},)"
            R"("m":{"M":{"k":{"S":"v"}}},"n":{"N":"-5"},"ss":{"SS":["a"]},"x":{"NULL":true}})");
}

Value Nest(int depth) {
  Value v(1);
  for (int i = 0; i < depth; ++i) v = Value(Value::List{v});
  return v;
}

TEST(ItemCodecTest, NestingIsLimited) {
  Item item{{"PK", Value("p")}, {"SK", Value("s")}, {"v", Nest(kMaxDepth)}};
  EXPECT_EQ(DecodeItem(EncodeItem(item)), item);
  item["v"] = Nest(kMaxDepth + 1);
  EXPECT_THROW(EncodeItem(item), StoreError);
}

TEST(ItemCodecTest, RejectsMalformedInput) {
  const std::string key = R"("PK":{"S":"p"},"SK":{"S":"s"})";
  const std::vector<std::string> bad = {
      "",
      "null",
      "[]",
      "{",
      "{}",  // no key
      R"({"PK":{"S":"p"}})",
      R"({"PK":{"N":"1"},"SK":{"S":"s"}})",
      "{" + key + "} trailing",
      "{" + key + R"(,"a":1})",
      "{" + key + R"(,"a":{}})",
      "{" + key + R"(,"a":{"S":"x","N":"1"}})",
      "{" + key + R"(,"a":{"Q":"x"}})",
      "{" + key + R"(,"a":{"S":1}})",
      "{" + key + R"(,"a":{"N":1}})",
      "{" + key + R"(,"a":{"N":"1.5"}})",
      "{" + key + R"(,"a":{"N":""}})",
      "{" + key + R"(,"a":{"N":"+1"}})",
      "{" + key + R"(,"a":{"N":" 1"}})",
      "{" + key + R"(,"a":{"N":"9223372036854775808"}})",
      "{" + key + R"(,"a":{"N":"-9223372036854775809"}})",
      "{" + key + R"(,"a":{"BOOL":"true"}})",
      "{" + key + R"(,"a":{"NULL":false}})",
      "{" + key + R"(,"a":{"SS":"a"}})",
      "{" + key + R"(,"a":{"SS":["a",1]}})",
      "{" + key + R"(,"a":{"SS":["a","a"]}})",
      "{" + key + R"(,"a":{"L":{}}})",
      "{" + key + R"(,"a":{"L":[1]}})",
      "{" + key + R"(,"a":{"M":[]}})",
      "{" + key + R"(,"a":{"M":{"k":{"S":"v"},"k":{"S":"w"}}}})",
      "{" + key + R"(,"a":{"S":"x"},"a":{"S":"y"}})",
      "{" + key + R"(,"a":{"S":"\ud800"}})",
  };
  for (const auto& s : bad) {
    SCOPED_TRACE(s);
    EXPECT_THROW(DecodeItem(s), StoreError);
  }
}

TEST(ItemCodecTest, DeepNestingIsAnErrorNotAStackOverflow) {
  for (const char* open : {"[", "{\"a\":"}) {
    std::string s;
    for (int i = 0; i < 200000; ++i) s += open;
    EXPECT_THROW(DecodeItem(s), StoreError);
  }
  std::string typed = R"({"PK":{"S":"p"},"SK":{"S":"s"},"a":)";
  for (int i = 0; i < 100; ++i) typed += R"({"L":[)";
  typed += R"({"N":"1"})";
  for (int i = 0; i < 100; ++i) typed += "]}";
  typed += "}";
  EXPECT_THROW(DecodeItem(typed), StoreError);
}

// Decodes `s`: either a StoreError, or an item that round-trips.
void ExpectSafe(const std::string& s) {
  Item item;
  try {
    item = DecodeItem(s);
  } catch (const StoreError&) {
    return;
  }
  ASSERT_EQ(DecodeItem(EncodeItem(item)), item) << s;
}

TEST(ItemCodecTest, RandomBytesNeverCrash) {
  std::mt19937 rng(1234);
  using namespace std::string_literals;
  const std::string alphabet = "{}[]\":,\\ 0123456789-.eE+truefalsnNSBOLMLUu\x00\xff"s;
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 48, '\0');
    const bool json_ish = i % 2 == 0;
    for (char& c : s) {
      c = json_ish ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng());
    }
    ExpectSafe(s);
  }
}

TEST(ItemCodecTest, MutatedEncodingsNeverCrash) {
  const std::string valid = EncodeItem(Sample());
  const std::string tokens[] = {"{",        "}",     "[",     "]",      "\"",    ":",
                                ",",        "\"N\"", "\"S\"", "\"M\"",  "\"L\"", "\"SS\"",
                                "\"NULL\"", "true",  "1",     "\\u0000"};
  std::mt19937 rng(99);
  for (int i = 0; i < 20000; ++i) {
    std::string s = valid;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t pos = rng() % s.size();
      switch (rng() % 5) {
        case 0:
          s[pos] = static_cast<char>(rng());
          break;
        case 1:
          s.erase(pos, 1 + rng() % 8);
          break;
        case 2:
          s.insert(pos, tokens[rng() % std::size(tokens)]);
          break;
        case 3:
          s.resize(pos);
          break;
        case 4:  // duplicate a span
          s.insert(pos, s.substr(rng() % s.size(), rng() % 32));
          break;
      }
    }
    ExpectSafe(s);
  }
}

}  // namespace
}  // namespace zae::sqlite

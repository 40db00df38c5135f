#include "cli/limit_syntax.h"

#include <gtest/gtest.h>

namespace zae::cli {
namespace {

TEST(ParseLimit, RateDefaultsToPerMinute) {
  EXPECT_EQ(ParseLimit("rpm:100"), Limit::Custom("rpm", 100, 100, 60));
}

TEST(ParseLimit, Periods) {
  EXPECT_EQ(ParseLimit("rps:5/sec").refill_period_seconds, 1);
  EXPECT_EQ(ParseLimit("rpm:5/min").refill_period_seconds, 60);
  EXPECT_EQ(ParseLimit("rph:5/hour").refill_period_seconds, 3600);
  EXPECT_EQ(ParseLimit("rpd:5/day").refill_period_seconds, 86400);
  EXPECT_EQ(ParseLimit("x:5/10sec").refill_period_seconds, 10);
  EXPECT_EQ(ParseLimit("x:5/5min").refill_period_seconds, 300);
  EXPECT_EQ(ParseLimit("x:5/2day").refill_period_seconds, 172800);
}

TEST(ParseLimit, BurstBecomesCapacity) {
  EXPECT_EQ(ParseLimit("tpm:10000/min:20000"), Limit::Custom("tpm", 20000, 10000, 60));
  EXPECT_EQ(ParseLimit("tpm:10000:20000"), Limit::Custom("tpm", 20000, 10000, 60));
}

TEST(ParseLimit, NamesWithDotsAndDashes) {
  EXPECT_EQ(ParseLimit("gpt-4.tokens:7").name, "gpt-4.tokens");
}

void ExpectError(const std::string& text, const std::string& message) {
  try {
    ParseLimit(text);
    ADD_FAILURE() << "no error for " << text;
  } catch (const SyntaxError& e) {
    EXPECT_EQ(e.what(), message) << text;
  }
}

TEST(ParseLimit, FormatErrors) {
  const std::string expected = "'. Expected 'name:rate[/period]' or 'name:rate[/period]:burst'";
  ExpectError("rpm", "Invalid limit format: 'rpm" + expected);
  ExpectError("a:1:2:3", "Invalid limit format: 'a:1:2:3" + expected);
  ExpectError("", "Invalid limit format: '" + expected);
}

TEST(ParseLimit, PeriodErrors) {
  ExpectError("rpm:100/x", "Invalid period: '/x'. Use /[N]sec, /[N]min, /[N]hour, or /[N]day");
  ExpectError("rpm:100/", "Invalid period: '/'. Use /[N]sec, /[N]min, /[N]hour, or /[N]day");
  ExpectError("rpm:100/minute",
              "Invalid period: '/minute'. Use /[N]sec, /[N]min, /[N]hour, or /[N]day");
  ExpectError("rpm:100/-5min",
              "Invalid period: '/-5min'. Use /[N]sec, /[N]min, /[N]hour, or /[N]day");
}

TEST(ParseLimit, ValueErrors) {
  ExpectError("rpm:abc", "Invalid limit values in 'rpm:abc': rate 'abc' is not an integer");
  ExpectError("rpm:1.5", "Invalid limit values in 'rpm:1.5': rate '1.5' is not an integer");
  ExpectError("rpm:10:x", "Invalid limit values in 'rpm:10:x': burst 'x' is not an integer");
  ExpectError("rpm:0",
              "Invalid limit values in 'rpm:0': Invalid capacity: capacity must be positive");
  ExpectError("rpm:-5",
              "Invalid limit values in 'rpm:-5': Invalid capacity: capacity must be positive");
  ExpectError("rpm:5/0min",
              "Invalid limit values in 'rpm:5/0min': Invalid refill_period_seconds: "
              "refill_period_seconds must be positive");
  EXPECT_THROW(ParseLimit("wcu:5"), SyntaxError);   // reserved
  EXPECT_THROW(ParseLimit("r#m:5"), SyntaxError);   // delimiter
  EXPECT_THROW(ParseLimit("1rpm:5"), SyntaxError);  // must start with a letter
  EXPECT_THROW(ParseLimit(":5"), SyntaxError);      // empty name
  EXPECT_THROW(ParseLimit("x:99999999999999999999"), SyntaxError);
  EXPECT_THROW(ParseLimit("x:5/99999999999999999999day"), SyntaxError);
  EXPECT_THROW(ParseLimit("x:9223372036854775807"), SyntaxError);  // x1000 overflows
}

TEST(ParseLimits, RejectsDuplicates) {
  EXPECT_EQ(ParseLimits({"rpm:1", "tpm:2"}).size(), 2u);
  EXPECT_THROW(ParseLimits({"rpm:1", "rpm:2"}), SyntaxError);
}

TEST(FormatLimit, ReadsLikeTheReference) {
  EXPECT_EQ(FormatLimit(Limit::Custom("rpm", 2000, 1000, 60)), "rpm: 1,000/min (burst: 2,000)");
  EXPECT_EQ(FormatLimit(Limit::Custom("rpm", 100, 100, 60)), "rpm: 100/min");
  EXPECT_EQ(FormatLimit(Limit::Custom("x", 5, 5, 300)), "x: 5/5min");
  EXPECT_EQ(FormatLimit(Limit::Custom("x", 5, 5, 90)), "x: 5/90sec");
  EXPECT_EQ(FormatLimit(Limit::Custom("x", 5, 5, 7200)), "x: 5/2hour");
}

TEST(FormatLimit, RoundTrips) {
  for (const char* text : {"rpm:100", "tpm:10000/min:20000", "x:5/90sec", "y:1/3day:4"}) {
    const Limit l = ParseLimit(text);
    const std::string again = l.name + ":" + std::to_string(l.refill_amount) + "/" +
                              FormatPeriod(l.refill_period_seconds) + ":" +
                              std::to_string(l.capacity);
    EXPECT_EQ(ParseLimit(again), l) << text;
  }
}

TEST(ParseAmounts, ConsumeAndAdjust) {
  EXPECT_EQ(ParseAmounts({"rpm=1", "tpm=500"}, false, "-c"), (Amounts{{"rpm", 1}, {"tpm", 500}}));
  EXPECT_EQ(ParseAmounts({"tpm=-120", "rpm=+2"}, true, "--adjust"),
            (Amounts{{"rpm", 2}, {"tpm", -120}}));
  EXPECT_THROW(ParseAmounts({"tpm=-1"}, false, "-c"), SyntaxError);
  EXPECT_THROW(ParseAmounts({"tpm"}, false, "-c"), SyntaxError);
  EXPECT_THROW(ParseAmounts({"=5"}, false, "-c"), SyntaxError);
  EXPECT_THROW(ParseAmounts({"tpm=x"}, false, "-c"), SyntaxError);
  EXPECT_THROW(ParseAmounts({"tpm=1", "tpm=2"}, false, "-c"), SyntaxError);
  EXPECT_THROW(ParseAmounts({"bad#name=1"}, false, "-c"), SyntaxError);
  EXPECT_THROW(ParseAmounts({"tpm=+-1"}, true, "--adjust"), SyntaxError);
}

TEST(Commas, GroupsThousands) {
  EXPECT_EQ(Commas(0), "0");
  EXPECT_EQ(Commas(999), "999");
  EXPECT_EQ(Commas(1000), "1,000");
  EXPECT_EQ(Commas(-1234567), "-1,234,567");
  EXPECT_EQ(Commas(INT64_MIN), "-9,223,372,036,854,775,808");
}

}  // namespace
}  // namespace zae::cli

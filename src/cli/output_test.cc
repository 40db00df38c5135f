#include "cli/output.h"

#include <gtest/gtest.h>

#include <sstream>

namespace zae::cli {
namespace {

TEST(Json, KeepsKeyOrderAndEscapes) {
  Json j = Json::MakeObject().Set("b", 1).Set("a", "x\"y").Set("c", Json()).Set("d", true);
  EXPECT_EQ(j.Dump(false), R"({"b":1,"a":"x\"y","c":null,"d":true})");
  j.Set("b", 2);
  EXPECT_EQ(j.Dump(false), R"({"b":2,"a":"x\"y","c":null,"d":true})");
}

TEST(Json, Limits) {
  EXPECT_EQ(ToJson(Limit::Custom("rpm", 10, 5, 60)).Dump(false),
            R"({"name":"rpm","capacity":10,"refill_amount":5,"refill_period_seconds":60})");
}

TEST(Table, AlignsColumns) {
  Table t({"A", "LONGER"});
  t.Add({"xyz", ""});
  std::ostringstream os;
  t.Print(os);
  EXPECT_EQ(os.str(), "A    LONGER\nxyz  -\n");
}

TEST(FormatSeconds, Trims) {
  EXPECT_EQ(FormatSeconds(1.5), "1.5");
  EXPECT_EQ(FormatSeconds(0.001), "0.001");
  EXPECT_EQ(FormatSeconds(2.0), "2");
}

}  // namespace
}  // namespace zae::cli

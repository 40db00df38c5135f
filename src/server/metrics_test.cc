#include "server/metrics.h"

#include <gtest/gtest.h>

namespace zae::server {
namespace {

TEST(MetricsTest, HistogramsAreCumulativeAndInfEqualsCount) {
  Metrics m("1.2.3");
  m.Request(Endpoint::kShouldRateLimit, Code::kOk, 0.0003);
  m.Request(Endpoint::kShouldRateLimit, Code::kOverLimit, 0.004);
  m.Request(Endpoint::kShouldRateLimit, Code::kOk, 10.0);  // past every bucket
  const std::string text = m.Render();
  EXPECT_NE(
      text.find("zae_requests_total{api=\"grpc\",endpoint=\"should_rate_limit\",code=\"ok\"} 2\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("endpoint=\"should_rate_limit\",le=\"0.0005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("endpoint=\"should_rate_limit\",le=\"0.005\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("endpoint=\"should_rate_limit\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(
      text.find(
          "zae_request_duration_seconds_count{api=\"grpc\",endpoint=\"should_rate_limit\"} 3\n"),
      std::string::npos);
  EXPECT_NE(text.find("zae_build_info{version=\"1.2.3\"} 1\n"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  Metrics m("v\"1\n");
  EXPECT_NE(m.Render().find("zae_build_info{version=\"v\\\"1\\n\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace zae::server

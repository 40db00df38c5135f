#include "zae/limit_status.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace zae {
namespace {

LimitStatus Status(const char* name, int64_t avail, int64_t req, bool exceeded, double retry) {
  return LimitStatus{"key-1", "gpt-4", name,     Limit::PerMinute(name, 100),
                     avail,   req,     exceeded, retry};
}

TEST(LimitStatus, Deficit) {
  EXPECT_EQ(Status("rpm", 3, 5, true, 1).deficit(), 2);
  EXPECT_EQ(Status("rpm", 7, 5, false, 0).deficit(), 0);
  EXPECT_EQ(Status("rpm", -4, 1, true, 1).deficit(), 5);
}

TEST(Denial, RequiresAViolation) {
  EXPECT_THROW(Denial({Status("rpm", 5, 1, false, 0)}), std::invalid_argument);
  EXPECT_THROW(Denial({}), std::invalid_argument);
}

TEST(Denial, PrimaryIsFirstMaximum) {
  Denial d({Status("rpm", 5, 1, false, 0), Status("tpm", 0, 10, true, 2.5),
            Status("tpd", 0, 10, true, 2.5), Status("rph", 0, 1, true, 1.0)});
  EXPECT_EQ(d.primary_violation().limit_name, "tpm");
  EXPECT_EQ(d.violations().size(), 3u);
  EXPECT_EQ(d.passed().size(), 1u);
  EXPECT_DOUBLE_EQ(d.retry_after_seconds(), 2.5);
  EXPECT_EQ(d.retry_after_ms(), 2500);
  EXPECT_EQ(d.retry_after_header(), "3");
  EXPECT_EQ(d.message(), "Rate limit exceeded for key-1/gpt-4: [tpm, tpd, rph]. Retry after 2.5s");
}

TEST(Denial, RetryFormsTruncate) {
  // 6.001 s -> 6001 ms; 0.0299 s * 1000 = 29.9 -> 29; header always +1
  EXPECT_EQ(Denial({Status("rpm", 0, 1, true, 6.001)}).retry_after_ms(), 6001);
  EXPECT_EQ(Denial({Status("rpm", 0, 1, true, 0.0299)}).retry_after_ms(), 29);
  EXPECT_EQ(Denial({Status("rpm", 0, 1, true, 2.0)}).retry_after_header(), "3");
  EXPECT_EQ(Denial({Status("rpm", 0, 1, true, 0.0)}).retry_after_header(), "1");
  EXPECT_EQ(Denial({Status("rpm", 0, 1, true, 0.05)}).message(),
            "Rate limit exceeded for key-1/gpt-4: [rpm]. Retry after 0.1s");
}

TEST(Denial, JsonHasTheReferenceKeys) {
  Denial d({Status("rpm", 5, 1, false, 0), Status("tpm", -2, 10, true, 6.001)});
  rapidjson::Document doc;
  doc.Parse(d.ToJson().c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["error"].GetString(), "rate_limit_exceeded");
  EXPECT_EQ(std::string(doc["message"].GetString()), d.message());
  EXPECT_DOUBLE_EQ(doc["retry_after_seconds"].GetDouble(), 6.001);
  EXPECT_EQ(doc["retry_after_ms"].GetInt64(), 6001);
  ASSERT_EQ(doc["limits"].Size(), 2u);
  const auto& l = doc["limits"][1];
  for (const char* key :
       {"entity_id", "resource", "limit_name", "capacity", "refill_amount", "refill_period_seconds",
        "available", "requested", "exceeded", "retry_after_seconds"}) {
    EXPECT_TRUE(l.HasMember(key)) << key;
  }
  EXPECT_EQ(l.MemberCount(), 10u);
  EXPECT_EQ(l["available"].GetInt64(), -2);
  EXPECT_EQ(l["refill_period_seconds"].GetInt64(), 60);
  EXPECT_TRUE(l["exceeded"].GetBool());
  EXPECT_FALSE(doc["limits"][0]["exceeded"].GetBool());
}

TEST(RateLimitExceeded, CarriesTheDenial) {
  try {
    throw RateLimitExceeded(Denial({Status("rpm", 0, 1, true, 1.5)}));
  } catch (const RateLimitError& e) {
    EXPECT_EQ(std::string(e.what()),
              "Rate limit exceeded for key-1/gpt-4: [rpm]. Retry after 1.5s");
    EXPECT_EQ(dynamic_cast<const RateLimitExceeded&>(e).denial().retry_after_ms(), 1500);
  }
}

}  // namespace
}  // namespace zae

#include "cli/store_url.h"

#include <gtest/gtest.h>

#include "zae/errors.h"

namespace zae::cli {
namespace {

TEST(StoreUrl, Memory) { EXPECT_EQ(ParseStoreUrl("memory:").kind, StoreUrl::Kind::kMemory); }

TEST(StoreUrl, Sqlite) {
  EXPECT_EQ(ParseStoreUrl("sqlite:/tmp/x.db").path, "/tmp/x.db");
  EXPECT_EQ(ParseStoreUrl("sqlite:rel.db").path, "rel.db");
  EXPECT_EQ(ParseStoreUrl("sqlite:///tmp/x.db").path, "/tmp/x.db");
  EXPECT_THROW(ParseStoreUrl("sqlite:"), ValidationError);
}

TEST(StoreUrl, DynamoDb) {
  const StoreUrl u = ParseStoreUrl("dynamodb://limits?region=eu-west-1&endpoint=http%3A//h:8000");
  EXPECT_EQ(u.kind, StoreUrl::Kind::kDynamoDb);
  EXPECT_EQ(u.table, "limits");
  EXPECT_EQ(u.region, "eu-west-1");
  EXPECT_EQ(u.endpoint, "http://h:8000");
  EXPECT_EQ(ParseStoreUrl("dynamodb://zae-limiter").region, "");
  EXPECT_THROW(ParseStoreUrl("dynamodb://ab"), ValidationError);
  EXPECT_THROW(ParseStoreUrl("dynamodb://a b c"), ValidationError);
  EXPECT_THROW(ParseStoreUrl("dynamodb://tbl?color=red"), ValidationError);
  EXPECT_THROW(ParseStoreUrl("dynamodb://tbl?region"), ValidationError);
}

TEST(StoreUrl, RoundTrip) {
  const std::string url = DynamoDbUrl("zae-limiter", "us-east-1", "http://127.0.0.1:8000");
  EXPECT_EQ(url, "dynamodb://zae-limiter?region=us-east-1&endpoint=http://127.0.0.1:8000");
  const StoreUrl u = ParseStoreUrl(url);
  EXPECT_EQ(u.endpoint, "http://127.0.0.1:8000");
  EXPECT_EQ(DynamoDbUrl("t12", "", ""), "dynamodb://t12");
}

TEST(StoreUrl, UnknownScheme) {
  try {
    ParseStoreUrl("postgres://x");
    FAIL();
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.field(), "store");
    EXPECT_NE(std::string(e.what()).find("expected memory:"), std::string::npos);
  }
}

}  // namespace
}  // namespace zae::cli

#include "aws/url.h"

#include <gtest/gtest.h>

namespace zae::aws {
namespace {

Url Parsed(const std::string& url, bool proxy = false) {
  Url u;
  const std::string error = ParseUrl(url, proxy, &u);
  EXPECT_EQ(error, "") << url;
  return u;
}

TEST(UrlTest, BaseUrlsSplitIntoWhatARequestNeeds) {
  Url u = Parsed("http://127.0.0.1:8000");
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, "8000");
  EXPECT_EQ(u.authority, "127.0.0.1:8000");
  EXPECT_EQ(u.prefix, "");
  EXPECT_TRUE(u.ip_literal);

  u = Parsed("HTTPS://dynamodb.us-east-1.amazonaws.com");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.port, "443");
  EXPECT_EQ(u.authority, "dynamodb.us-east-1.amazonaws.com");  // default port left out
  EXPECT_FALSE(u.ip_literal);

  u = Parsed("http://[::1]:9000/base");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.authority, "[::1]:9000");
  EXPECT_EQ(u.prefix, "/base");
  EXPECT_TRUE(u.ip_literal);

  EXPECT_EQ(Parsed("http://localhost").port, "80");
}

TEST(UrlTest, ProxyUrlsMayLeaveOutTheSchemeAndCarryCredentials) {
  Url u = Parsed("proxy.internal", true);
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.port, "1080");
  u = Parsed("http://user:p%40ss@10.0.0.1:3128", true);
  EXPECT_EQ(u.userinfo, "user:p%40ss");
  EXPECT_EQ(u.authority, "10.0.0.1:3128");
  EXPECT_EQ(PercentDecode(u.userinfo), "user:p@ss");
}

TEST(UrlTest, AnythingUnusualIsRefusedWithAReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"ftp://h", "unsupported URL scheme"},
      {"h:80", "without a scheme"},
      {"http://", "without a host"},
      {"http://:80", "without a host"},
      {"http://h:", "bad port"},
      {"http://h:0", "out of range"},
      {"http://h:65536", "out of range"},
      {"http://h:123456", "bad port"},
      {"http://h:8x", "bad port"},
      {"http://u:p@h", "credentials"},
      {"http://[::1", "unterminated"},
      {"http://[::1]x", "after an IPv6"},
      {"http://[nope]", "bad IPv6"},
      {"http://a:b:c", "bad character in the URL's host"},
      {"http://h\r\nX: y", "control characters"},
      {"http://h /x", "spaces"},
      {"http://h\"", "bad character"},
  };
  for (const auto& [url, want] : cases) {
    Url u;
    const std::string error = ParseUrl(url, false, &u);
    EXPECT_NE(error.find(want), std::string::npos) << url << ": '" << error << "'";
  }
}

TEST(UrlTest, PercentDecodeKeepsWhatIsNotAnEscape) {
  EXPECT_EQ(PercentDecode("a%20b%2"), "a b%2");
  EXPECT_EQ(PercentDecode("%zz%41%6a"), "%zzAj");
  EXPECT_EQ(PercentDecode(""), "");
}

}  // namespace
}  // namespace zae::aws

#include "server/rules.h"

#include <gtest/gtest.h>

namespace zae::server {
namespace {

const char* kRules = R"(
domains:
  - name: gateway
    response_headers: true
    rules:
      - match: [api_key, model]
        entity: $api_key
        resource: $model
        limit: tpm
        overdraft: true
      - match: [api_key]
        entity: $api_key
        resource: api
        limit: rpm
      - match: [{tier: free}, api_key]
        entity: $api_key
        resource: api
        limit: rpm
        shadow: true
)";

TEST(RulesTest, MatchesKeysInOrderAndPinnedValues) {
  auto rules = RuleSet::Parse(kRules, "test.yaml");
  const Domain* d = rules->FindDomain("gateway");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->response_headers);
  EXPECT_EQ(rules->rule_count(), 3u);
  EXPECT_EQ(rules->FindDomain("other"), nullptr);

  const std::vector<Entry> two = {{"api_key", "k1"}, {"model", "gpt-4"}};
  const Rule* r = RuleSet::Match(*d, two);
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->overdraft);
  EXPECT_EQ(*RuleSet::Resolve(r->entity, two), "k1");
  EXPECT_EQ(*RuleSet::Resolve(r->resource, two), "gpt-4");
  EXPECT_EQ(*RuleSet::Resolve(r->limit, two), "tpm");

  // Order matters: model first matches nothing.
  EXPECT_EQ(RuleSet::Match(*d, {{"model", "gpt-4"}, {"api_key", "k1"}}), nullptr);
  // A pinned value must match.
  const Rule* free = RuleSet::Match(*d, {{"tier", "free"}, {"api_key", "k1"}});
  ASSERT_NE(free, nullptr);
  EXPECT_TRUE(free->shadow);
  EXPECT_EQ(RuleSet::Match(*d, {{"tier", "paid"}, {"api_key", "k1"}}), nullptr);
  const Rule* one = RuleSet::Match(*d, {{"api_key", "k1"}});
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(*RuleSet::Resolve(one->resource, {{"api_key", "k1"}}), "api");
}

void ExpectError(const std::string& yaml, const std::string& part) {
  try {
    RuleSet::Parse(yaml, "bad.yaml");
    FAIL() << "no error for:\n" << yaml;
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.yaml"), std::string::npos) << e.what();
  }
}

TEST(RulesTest, BadFilesSayWhereAndWhat) {
  ExpectError("domains: [", "bad.yaml:");
  ExpectError("- a\n- b\n", "expected a mapping");
  ExpectError("domains: {}\n", "'domains' must be a list");
  ExpectError("domain: []\n", "unknown key 'domain'");
  ExpectError("domains:\n  - rules: []\n", "needs a name");
  ExpectError("domains:\n  - name: a\n    rules: []\n  - name: a\n    rules: []\n", "twice");
  ExpectError("domains:\n  - name: a\n", "'rules' list");
  const std::string rule = "domains:\n  - name: a\n    rules:\n      - ";
  ExpectError(rule + "{entity: x, resource: r, limit: rpm}\n", "match must be a list");
  ExpectError(rule + "{match: [k], resource: r, limit: rpm}\n", "entity is required");
  ExpectError(rule + "{match: [k], entity: $other, resource: r, limit: rpm}\n",
              "'$other' is not one of the matched keys");
  ExpectError(rule + "{match: [k], entity: $k, resource: r, limit: wcu}\n", "limit");
  ExpectError(rule + "{match: [k], entity: $k, resource: '1bad', limit: rpm}\n", "resource");
  ExpectError(rule + "{match: [k], entity: 'a#b', resource: r, limit: rpm}\n", "entity");
  ExpectError(rule + "{match: [k, k], entity: $k, resource: r, limit: rpm}\n", "twice");
  ExpectError(rule + "{match: [k], entity: $k, resource: r, limit: rpm, shadow: maybe}\n",
              "true or false");
  ExpectError(rule + "{match: [k], entity: $k, resource: r, limit: rpm, burst: 3}\n",
              "unknown key 'burst'");
  ExpectError(rule + "{match: [k], entity: $, resource: r, limit: rpm}\n", "must name");
}

TEST(RulesTest, LoadReportsAnUnreadableFile) {
  EXPECT_THROW(RuleSet::Load("/nonexistent/rules.yaml"), ConfigError);
}

}  // namespace
}  // namespace zae::server

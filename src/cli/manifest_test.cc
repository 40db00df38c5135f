#include "cli/manifest.h"

#include <gtest/gtest.h>

namespace zae::cli {
namespace {

constexpr const char* kFull = R"(
namespace: tenant-a
system:
  on_unavailable: allow
  limits:
    rpm: {capacity: 1000}
resources:
  gpt-4:
    limits:
      rpm: {capacity: 100, burst: 150}
      tpm: {capacity: 100000, refill_amount: 50000, refill_period: 30}
entities:
  key-1:
    resources:
      _default_:
        limits:
          rpm: {capacity: 10}
      openai/gpt-4:
        limits:
          tpm: {capacity: 5}
)";

TEST(Manifest, ParsesEveryLevel) {
  const Manifest m = ParseManifest(kFull);
  EXPECT_EQ(m.namespace_name, "tenant-a");
  EXPECT_TRUE(m.has_system);
  EXPECT_EQ(m.on_unavailable, OnUnavailable::kAllow);
  EXPECT_EQ(m.system_limits, std::vector<Limit>{Limit::Custom("rpm", 1000, 1000, 60)});
  // burst replaces capacity; refill_amount defaults to the replaced capacity.
  EXPECT_EQ(m.resources.at("gpt-4"), (std::vector<Limit>{Limit::Custom("rpm", 150, 150, 60),
                                                         Limit::Custom("tpm", 100000, 50000, 30)}));
  EXPECT_EQ(m.entities.at("key-1").size(), 2u);
  EXPECT_EQ(m.entities.at("key-1").at("_default_"),
            std::vector<Limit>{Limit::Custom("rpm", 10, 10, 60)});
  EXPECT_TRUE(m.hash.starts_with("sha256:"));
  EXPECT_EQ(m.hash.size(), 7u + 64u);
  EXPECT_EQ(ParseManifest(kFull).hash, m.hash);
}

void ExpectManifestError(const std::string& yaml, const std::string& fragment) {
  try {
    ParseManifest(yaml);
    ADD_FAILURE() << "no error for:\n" << yaml;
  } catch (const ManifestError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << e.what() << "\nexpected to contain: " << fragment;
  }
}

TEST(Manifest, Errors) {
  ExpectManifestError("resources: {}", "namespace: is required");
  ExpectManifestError("namespace: a\n  b: [", "invalid YAML");
  ExpectManifestError("- 1", "must be a mapping");
  ExpectManifestError("namespace: x\ncolour: red", "unknown key 'colour'");
  ExpectManifestError("namespace: x\nresources:\n  gpt-4:\n    limits:\n      rpm: {burst: 5}",
                      "resources.gpt-4.limits.rpm: 'capacity' is required");
  ExpectManifestError("namespace: x\nresources:\n  gpt-4:\n    limits:\n      rpm: {capacity: 1.5}",
                      "resources.gpt-4.limits.rpm.capacity: '1.5' is not an integer");
  ExpectManifestError("namespace: x\nresources:\n  gpt-4:\n    limits:\n      rpm: {capacity: 0}",
                      "capacity must be positive");
  ExpectManifestError("namespace: x\nresources:\n  gpt-4:\n    limits:\n      wcu: {capacity: 5}",
                      "reserved limit name");
  ExpectManifestError(
      "namespace: x\nresources:\n  _default_:\n    limits:\n      rpm: {capacity: 5}",
      "resources._default_");
  ExpectManifestError(
      "namespace: x\nentities:\n  bad#id:\n    resources:\n      r:\n        limits:\n"
      "          rpm: {capacity: 5}",
      "entities.bad#id");
  ExpectManifestError(
      "namespace: x\nsystem:\n  on_unavailable: maybe\n  limits:\n    rpm: {capacity: 1}",
      "must be 'allow' or 'block'");
  ExpectManifestError("namespace: x\nresources:\n  gpt-4: {}", "at least one limit");
  ExpectManifestError("namespace: _\n", "namespace");
}

TEST(Plan, ReferenceAlgorithm) {
  const Manifest m = ParseManifest(kFull);
  ProvisionerState before;
  before.managed_system = false;
  before.managed_resources = {"gpt-4", "old-model"};
  before.managed_entities = {{"key-1", {"_default_"}}, {"key-2", {"gpt-4"}}};
  const auto changes = Plan(m, before);
  std::vector<std::string> got;
  for (const auto& c : changes) got.push_back(c.action + " " + c.level + " " + c.target());
  EXPECT_EQ(got, (std::vector<std::string>{
                     "create system ",
                     "update resource gpt-4",
                     "delete resource old-model",
                     "update entity key-1/_default_",
                     "create entity key-1/openai/gpt-4",
                     "delete entity key-2/gpt-4",
                 }));
}

TEST(Plan, EmptyManifestDeletesEverythingManaged) {
  const Manifest m = ParseManifest("namespace: x");
  ProvisionerState before;
  before.managed_system = true;
  before.managed_resources = {"r"};
  const auto changes = Plan(m, before);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].action, "delete");
  EXPECT_EQ(changes[0].level, "system");
}

TEST(ProvisionerState, ItemLayoutIsFormat29) {
  const Manifest m = ParseManifest(kFull);
  const ProvisionerState s = StateOf(m, "2026-02-19T12:00:00.123456+00:00");
  const Item item = StateToItem("abcdefghijk", s);
  EXPECT_EQ(item.at("PK"), Value("abcdefghijk/SYSTEM#"));
  EXPECT_EQ(item.at("SK"), Value("#PROVISIONER"));
  EXPECT_EQ(item.at("managed_system"), Value(true));
  EXPECT_EQ(item.at("managed_resources"), Value(Value::List{Value("gpt-4")}));
  EXPECT_EQ(
      item.at("managed_entities"),
      Value(Value::Map{{"key-1", Value(Value::List{Value("_default_"), Value("openai/gpt-4")})}}));
  EXPECT_EQ(item.at("last_applied"), Value("2026-02-19T12:00:00.123456+00:00"));
  EXPECT_EQ(item.at("applied_hash"), Value(m.hash));
  EXPECT_EQ(item.at("GSI4PK"), Value("abcdefghijk"));
  EXPECT_FALSE(item.contains("GSI4SK"));  // as the reference: not in GSI4
  EXPECT_EQ(item.size(), 8u);

  const ProvisionerState back = StateFromItem(item);
  EXPECT_EQ(back.managed_system, true);
  EXPECT_EQ(back.managed_resources, s.managed_resources);
  EXPECT_EQ(back.managed_entities, s.managed_entities);
  EXPECT_EQ(back.applied_hash, m.hash);
}

TEST(IsoNowMicros, PythonIsoformat) {
  const std::string s = IsoNowMicros();
  ASSERT_EQ(s.size(), 32u) << s;
  EXPECT_EQ(s.substr(26), "+00:00");
  EXPECT_EQ(s[10], 'T');
  EXPECT_EQ(s[19], '.');
}

}  // namespace
}  // namespace zae::cli

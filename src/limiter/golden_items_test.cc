// Every kind of write produces exactly the item of shared/spec/format.md §2,
// read back raw; and items written in the reference's layout are read
// correctly. Runs on every store (on DynamoDB Local in CI).
#include <gtest/gtest.h>

#include "limiter/limiter_test_util.h"
#include "zae/admin.h"

namespace zae::testing {
namespace {

using GoldenItems = LimiterTest;

Item Raw(Store& store, const std::string& pk, const std::string& sk) {
  auto item = store.Get({pk, sk}, true);
  EXPECT_TRUE(item) << pk << " " << sk;
  return item.value_or(Item{});
}

TEST_P(GoldenItems, BucketCreatedByTheSlowPath) {
  const std::string ns = limiter().namespace_id();
  limiter().CreateEntity("proj", {});
  limiter().CreateEntity("k-1", {.parent_id = "proj", .cascade = true});
  limiter().SetResourceDefaults("openai/gpt-4",
                                {Limit::PerMinute("rpm", 100), Limit::PerMinute("tpm-x.v2", 9000)});
  const int64_t now = clock_.NowMs();
  auto r = limiter().Acquire("k-1", "openai/gpt-4", {{"rpm", 1}, {"tpm-x.v2", 300}});
  ASSERT_TRUE(r.allowed());
  r.lease().Commit();
  const Item item = Raw(*store_, ns + "/BUCKET#k-1#openai/gpt-4#0", "#STATE");
  const Item want{
      {"PK", Value(ns + "/BUCKET#k-1#openai/gpt-4#0")},
      {"SK", Value("#STATE")},
      {"entity_id", Value("k-1")},
      {"resource", Value("openai/gpt-4")},
      {"rf", Value(now)},
      {"cascade", Value(true)},
      {"parent_id", Value("proj")},
      {"shard_count", Value(1)},
      {"GSI2PK", Value(ns + "/RESOURCE#openai/gpt-4")},
      {"GSI2SK", Value("BUCKET#k-1#0")},
      {"GSI3PK", Value(ns + "/ENTITY#k-1")},
      {"GSI3SK", Value("BUCKET#openai/gpt-4#0")},
      {"GSI4PK", Value(ns)},
      {"GSI4SK", Value("BUCKET#k-1#openai/gpt-4#0")},
      // resource-level config: ttl = now_s + 7 x 60 s
      {"ttl", Value(now / 1000 + 420)},
      {"b_rpm_tk", Value(99'000)},
      {"b_rpm_cp", Value(100'000)},
      {"b_rpm_ra", Value(100'000)},
      {"b_rpm_rp", Value(60'000)},
      {"b_rpm_tc", Value(1'000)},
      {"b_tpm-x.v2_tk", Value(8'700'000)},
      {"b_tpm-x.v2_cp", Value(9'000'000)},
      {"b_tpm-x.v2_ra", Value(9'000'000)},
      {"b_tpm-x.v2_rp", Value(60'000)},
      {"b_tpm-x.v2_tc", Value(300'000)},
      {"b_wcu_tk", Value(1'000'000)},
      {"b_wcu_cp", Value(1'000'000)},
      {"b_wcu_ra", Value(1'000'000)},
      {"b_wcu_rp", Value(1'000)},
      {"b_wcu_tc", Value(0)},
  };
  EXPECT_EQ(item, want);
  // The parent bucket: no parent_id, cascade false.
  const Item parent = Raw(*store_, ns + "/BUCKET#proj#openai/gpt-4#0", "#STATE");
  EXPECT_EQ(parent.at("cascade"), Value(false));
  EXPECT_EQ(parent.count("parent_id"), 0u);
  EXPECT_EQ(parent.at("b_rpm_tc"), Value(1'000));
}

TEST_P(GoldenItems, EntityConfigRegistriesAuditAndVersion) {
  const std::string ns = limiter().namespace_id();
  limiter().CreateEntity(
      "k-1", {.name = "Key one", .parent_id = "proj", .metadata = {{"team", Value("ml")}}});
  const Item meta = Raw(*store_, ns + "/ENTITY#k-1", "#META");
  EXPECT_EQ(meta.at("entity_id"), Value("k-1"));
  EXPECT_EQ(meta.at("name"), Value("Key one"));
  EXPECT_EQ(meta.at("parent_id"), Value("proj"));
  EXPECT_EQ(meta.at("cascade"), Value(false));
  EXPECT_EQ(meta.at("metadata"), Value(Value::Map{{"team", Value("ml")}}));
  EXPECT_EQ(meta.at("created_at").as_string().size(), 20u);  // YYYY-MM-DDTHH:MM:SSZ
  EXPECT_EQ(meta.at("GSI1PK"), Value(ns + "/PARENT#proj"));
  EXPECT_EQ(meta.at("GSI1SK"), Value("CHILD#k-1"));
  EXPECT_EQ(meta.at("GSI4PK"), Value(ns));
  EXPECT_EQ(meta.at("GSI4SK"), Value(ns + "/ENTITY#k-1"));

  limiter().SetLimits("k-1", {Limit::PerMinute("rpm", 5, 8)}, "gpt-4");
  const Item config = Raw(*store_, ns + "/ENTITY#k-1", "#CONFIG#gpt-4");
  EXPECT_EQ(config, (Item{{"PK", Value(ns + "/ENTITY#k-1")},
                          {"SK", Value("#CONFIG#gpt-4")},
                          {"entity_id", Value("k-1")},
                          {"resource", Value("gpt-4")},
                          {"config_version", Value(1)},
                          {"l_rpm_cp", Value(8)},
                          {"l_rpm_ra", Value(5)},
                          {"l_rpm_rp", Value(60)},
                          {"GSI3PK", Value(ns + "/ENTITY_CONFIG#gpt-4")},
                          {"GSI3SK", Value("k-1")},
                          {"GSI4PK", Value(ns)},
                          {"GSI4SK", Value(ns + "/ENTITY#k-1")}}));
  EXPECT_EQ(Raw(*store_, ns + "/SYSTEM#", "#ENTITY_CONFIG_RESOURCES"),
            (Item{{"PK", Value(ns + "/SYSTEM#")},
                  {"SK", Value("#ENTITY_CONFIG_RESOURCES")},
                  {"gpt-4", Value(1)},
                  {"GSI4PK", Value(ns)},
                  {"GSI4SK", Value(ns + "/SYSTEM#")}}));

  limiter().SetResourceDefaults("gpt-4", {Limit::PerHour("rph", 7)});
  EXPECT_EQ(Raw(*store_, ns + "/RESOURCE#gpt-4", "#CONFIG"),
            (Item{{"PK", Value(ns + "/RESOURCE#gpt-4")},
                  {"SK", Value("#CONFIG")},
                  {"resource", Value("gpt-4")},
                  {"config_version", Value(1)},
                  {"l_rph_cp", Value(7)},
                  {"l_rph_ra", Value(7)},
                  {"l_rph_rp", Value(3600)},
                  {"GSI4PK", Value(ns)},
                  {"GSI4SK", Value(ns + "/RESOURCE#gpt-4")}}));
  EXPECT_EQ(Raw(*store_, ns + "/SYSTEM#", "#RESOURCES").at("resources"),
            Value(Value::StringSet{"gpt-4"}));

  limiter().SetSystemDefaults({Limit::PerDay("rpd", 1000)}, OnUnavailable::kAllow);
  const Item sys = Raw(*store_, ns + "/SYSTEM#", "#CONFIG");
  EXPECT_EQ(sys.at("on_unavailable"), Value("allow"));
  EXPECT_EQ(sys.at("l_rpd_rp"), Value(86400));
  EXPECT_EQ(sys.at("config_version"), Value(1));

  QueryRequest q;
  q.hash = ns + "/AUDIT#$SYSTEM";
  const auto audit = store_->Query(q).items;
  ASSERT_EQ(audit.size(), 1u);
  const Item& ev = audit[0];
  EXPECT_EQ(ev.at("SK").as_string(), "#AUDIT#" + ev.at("event_id").as_string());
  EXPECT_EQ(ev.at("action"), Value("limits_set"));
  EXPECT_EQ(ev.at("principal"), Value());
  EXPECT_EQ(ev.at("resource"), Value());
  EXPECT_EQ(ev.at("ttl"), Value(clock_.NowMs() / 1000 + 90 * 86400));
  EXPECT_EQ(ev.at("GSI4SK"), Value(ns + "/AUDIT#$SYSTEM"));
  const auto& limits = ev.at("details").as_map().at("limits").as_list();
  EXPECT_EQ(limits[0], Value(Value::Map{{"name", Value("rpd")},
                                        {"capacity", Value(1000)},
                                        {"refill_amount", Value(1000)},
                                        {"refill_period_seconds", Value(86400)}}));

  const Item version = Raw(*store_, "_/SYSTEM#", "#VERSION");
  EXPECT_EQ(version.at("schema_version"), Value("0.10.0"));
  EXPECT_EQ(version.at("lambda_version"), Value());
  EXPECT_EQ(version.at("client_min_version"), Value("0.0.0"));
  EXPECT_EQ(version.at("GSI4PK"), Value("_"));
  const Item forward = Raw(*store_, "_/SYSTEM#", "#NAMESPACE#default");
  EXPECT_EQ(forward.at("namespace_id"), Value(ns));
  EXPECT_EQ(forward.at("status"), Value("active"));
  EXPECT_EQ(Raw(*store_, "_/SYSTEM#", "#NSID#" + ns).at("namespace_name"), Value("default"));
}

// Items as the Python reference writes them (no wcu refill, rf in the past,
// a limit name containing '_', an entity config without GSI keys as the
// provisioner writes it) are read and updated correctly.
TEST_P(GoldenItems, ReadsItemsWrittenInTheReferenceLayout) {
  const std::string ns = limiter().namespace_id();
  const int64_t now = clock_.NowMs();
  store_->Write(Put{Item{{"PK", Value(ns + "/ENTITY#py")},
                         {"SK", Value("#CONFIG#chat")},
                         {"l_req_per_min_cp", Value(10)},
                         {"l_req_per_min_ra", Value(10)},
                         {"l_req_per_min_rp", Value(60)}},
                    {},
                    false});
  store_->Write(Put{Item{{"PK", Value(ns + "/BUCKET#py#chat#0")},
                         {"SK", Value("#STATE")},
                         {"entity_id", Value("py")},
                         {"resource", Value("chat")},
                         {"rf", Value(now - 30'000)},
                         {"cascade", Value(false)},
                         {"shard_count", Value(1)},
                         {"b_req_per_min_tk", Value(-2'500)},
                         {"b_req_per_min_cp", Value(10'000)},
                         {"b_req_per_min_ra", Value(10'000)},
                         {"b_req_per_min_rp", Value(60'000)},
                         {"b_req_per_min_tc", Value(12'500)},
                         {"b_wcu_tk", Value(990'000)},
                         {"b_wcu_cp", Value(1'000'000)},
                         {"b_wcu_ra", Value(1'000'000)},
                         {"b_wcu_rp", Value(1'000)},
                         {"b_wcu_tc", Value(10'000)}},
                    {},
                    false});
  // -2.5 + 30 s x 10/min = 2.5 tokens -> floor 2
  EXPECT_EQ(limiter().Available("py", "chat")["req_per_min"], 2);
  auto r = limiter().Acquire("py", "chat", {{"req_per_min", 2}});
  ASSERT_TRUE(r.allowed());
  r.lease().Commit();
  const Item after = Raw(*store_, ns + "/BUCKET#py#chat#0", "#STATE");
  EXPECT_EQ(after.at("b_req_per_min_tk"), Value(500));
  EXPECT_EQ(after.at("b_req_per_min_tc"), Value(14'500));
  EXPECT_EQ(after.at("rf"), Value(now));
  EXPECT_EQ(after.count("ttl"), 0u);  // entity-specific config: no TTL
}

INSTANTIATE_TEST_SUITE_P(Stores, GoldenItems, ::testing::ValuesIn(StoreFactories()), FactoryName);

}  // namespace
}  // namespace zae::testing

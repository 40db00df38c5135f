// The limiter's behaviour, run against every store (memory, SQLite, and
// DynamoDB Local when ZAE_TEST_DYNAMODB_ENDPOINT is set). Time is a FakeClock.
#include <gtest/gtest.h>

#include <stdexcept>

#include "limiter/limiter_test_util.h"
#include "zae/admin.h"
#include "zae/errors.h"

namespace zae::testing {
namespace {

const std::vector<Limit> kLlm = {Limit::PerMinute("rpm", 10), Limit::PerMinute("tpm", 1000)};

using LimiterConformance = LimiterTest;

TEST_P(LimiterConformance, AdmitsUntilEmptyThenDeniesWithRetryAfter) {
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("rpm", 3)});
  for (int i = 0; i < 3; ++i) {
    auto r = limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}});
    ASSERT_TRUE(r.allowed()) << i;
    r.lease().Commit();
  }
  auto denied = limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}});
  ASSERT_FALSE(denied.allowed());
  // 1 token at 3/min = 20 s, plus 1 ms.
  EXPECT_DOUBLE_EQ(denied.denial().retry_after_seconds(), 20.001);
  EXPECT_EQ(denied.denial().retry_after_header(), "21");
  clock_.Advance(20'001);
  EXPECT_TRUE(limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}}).allowed());
}

TEST_P(LimiterConformance, MultipleLimitsAreAllOrNothing) {
  limiter().SetResourceDefaults("gpt-4", kLlm);
  auto first = limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}, {"tpm", 900}});
  ASSERT_TRUE(first.allowed());
  first.lease().Commit();
  // tpm would be exceeded: nothing is consumed, rpm included.
  auto second = limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}, {"tpm", 200}});
  ASSERT_FALSE(second.allowed());
  ASSERT_EQ(second.denial().violations().size(), 1u);
  EXPECT_EQ(second.denial().primary_violation().limit_name, "tpm");
  auto avail = limiter().Available("key-1", "gpt-4");
  EXPECT_EQ(avail["rpm"], 9);
  EXPECT_EQ(avail["tpm"], 100);
}

TEST_P(LimiterConformance, AdjustGoesIntoDebtWhichBlocksUntilRefilled) {
  limiter().SetResourceDefaults("gpt-4", kLlm);
  {
    Lease lease = limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}, {"tpm", 100}}).take_lease();
    lease.Adjust({{"tpm", 1400}});  // the call used 1500 tokens
    EXPECT_EQ(lease.consumed().at("tpm"), 1500);
  }  // committed
  EXPECT_EQ(limiter().Available("key-1", "gpt-4")["tpm"], -500);
  // In debt: even a request for rpm only is denied (tpm at 0 requested).
  auto r = limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}});
  ASSERT_FALSE(r.allowed());
  EXPECT_EQ(r.denial().primary_violation().limit_name, "tpm");
  // 500 tokens at 1000/min = 30 s (+1 ms).
  EXPECT_DOUBLE_EQ(r.denial().retry_after_seconds(), 30.001);
  clock_.Advance(30'001);
  EXPECT_TRUE(limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}}).allowed());
}

TEST_P(LimiterConformance, AnOverdraftLandsIntoDebtAndIsNeverDenied) {
  limiter().SetResourceDefaults("gpt-4", kLlm);
  AcquireOptions overdraft;
  overdraft.overdraft = true;
  // On a new bucket, more than its capacity.
  auto first = limiter().Acquire("key-1", "gpt-4", {{"tpm", 1200}}, overdraft);
  ASSERT_TRUE(first.allowed());
  first.lease().Commit();
  EXPECT_EQ(limiter().Available("key-1", "gpt-4")["tpm"], -200);
  // Already in debt: still lands, and rpm is charged too.
  auto second = limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}, {"tpm", 300}}, overdraft);
  ASSERT_TRUE(second.allowed());
  second.lease().Commit();
  auto avail = limiter().Available("key-1", "gpt-4");
  EXPECT_EQ(avail["tpm"], -500);
  EXPECT_EQ(avail["rpm"], 9);
  // A normal acquire is refused until the debt has refilled.
  ASSERT_FALSE(limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}}).allowed());
  clock_.Advance(30'001);
  EXPECT_TRUE(limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}}).allowed());
}

TEST_P(LimiterConformance, ReleaseAndLeaseConsume) {
  limiter().SetResourceDefaults("gpt-4", kLlm);
  {
    Lease lease = limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}, {"tpm", 500}}).take_lease();
    lease.Release({{"tpm", 300}});
    EXPECT_FALSE(lease.Consume({{"tpm", 100}}).has_value());
    auto denial = lease.Consume({{"tpm", 10'000}});
    ASSERT_TRUE(denial.has_value());
    EXPECT_EQ(denial->primary_violation().limit_name, "tpm");
    EXPECT_THROW(lease.Consume({{"bogus", 1}}), ValidationError);
    lease.Commit();
    EXPECT_THROW(lease.Adjust({{"tpm", 1}}), LeaseExpiredError);
  }
  EXPECT_EQ(limiter().Available("key-1", "gpt-4")["tpm"], 700);
}

TEST_P(LimiterConformance, ExceptionRollsBackTheInitialConsumption) {
  limiter().SetResourceDefaults("gpt-4", kLlm);
  try {
    Lease lease = limiter().Acquire("key-1", "gpt-4", {{"rpm", 1}, {"tpm", 400}}).take_lease();
    // Write-on-enter: the estimate is durable before user code runs.
    EXPECT_EQ(limiter().Available("key-1", "gpt-4")["tpm"], 600);
    lease.Adjust({{"tpm", 100}});
    throw std::runtime_error("upstream failed");
  } catch (const std::runtime_error&) {
  }
  auto avail = limiter().Available("key-1", "gpt-4");
  EXPECT_EQ(avail["rpm"], 10);
  EXPECT_EQ(avail["tpm"], 1000);
}

TEST_P(LimiterConformance, CascadeConsumesFromParentAndReportsParentDenial) {
  limiter().CreateEntity("proj", {});
  limiter().CreateEntity("key-a", {.name = "", .parent_id = "proj", .cascade = true});
  limiter().CreateEntity("key-b", {.name = "", .parent_id = "proj", .cascade = true});
  limiter().SetLimits("proj", {Limit::PerMinute("tpm", 1000)}, "gpt-4");
  limiter().SetResourceDefaults("gpt-4", {Limit::PerMinute("tpm", 600)});
  {
    Lease lease = limiter().Acquire("key-a", "gpt-4", {{"tpm", 500}}).take_lease();
    EXPECT_EQ(lease.consumed().at("tpm"), 1000);  // child + parent
  }
  EXPECT_EQ(limiter().Available("proj", "gpt-4")["tpm"], 500);
  // key-b has 600 of its own, but the project only 500 left.
  auto r = limiter().Acquire("key-b", "gpt-4", {{"tpm", 550}});
  ASSERT_FALSE(r.allowed());
  EXPECT_EQ(r.denial().primary_violation().entity_id, "proj");
  EXPECT_EQ(limiter().Available("key-b", "gpt-4")["tpm"], 500);  // min with parent
  // Nothing was taken from key-b by the denied request.
  EXPECT_EQ(limiter().Available("key-b", "gpt-4", std::nullopt)["tpm"], 500);
  auto ok = limiter().Acquire("key-b", "gpt-4", {{"tpm", 100}});
  ASSERT_TRUE(ok.allowed());
  ok.lease().Commit();
  // Warm path again (fast path) on both buckets.
  auto again = limiter().Acquire("key-a", "gpt-4", {{"tpm", 50}});
  ASSERT_TRUE(again.allowed());
  again.lease().Commit();
  EXPECT_EQ(limiter().Available("proj", "gpt-4")["tpm"], 350);
  // key-a: 50 of 600 left -> 350 short at 600/min = 35 s; the parent is
  // only 50 short (3 s): the longer wait wins.
  EXPECT_DOUBLE_EQ(limiter().TimeUntilAvailable("key-a", "gpt-4", {{"tpm", 400}}), 35.001);
}

TEST_P(LimiterConformance, StoredLimitsPrecedenceAndFallback) {
  const std::vector<Limit> fallback = {Limit::PerMinute("rpm", 1)};
  // Nothing stored: the passed limits are the fallback.
  EXPECT_EQ(limiter().ResolveLimits("e1", "res").source, std::nullopt);
  auto r = limiter().Acquire("e1", "res", {{"rpm", 1}}, {.limits = fallback});
  EXPECT_TRUE(r.allowed());
  limiter().SetSystemDefaults({Limit::PerMinute("rpm", 2)});
  EXPECT_EQ(limiter().ResolveLimits("e1", "res").source, ConfigSource::kSystem);
  limiter().SetResourceDefaults("res", {Limit::PerMinute("rpm", 3)});
  EXPECT_EQ(limiter().ResolveLimits("e1", "res").source, ConfigSource::kResource);
  limiter().SetLimits("e1", {Limit::PerMinute("rpm", 4)});
  EXPECT_EQ(limiter().ResolveLimits("e1", "res").source, ConfigSource::kEntityDefault);
  limiter().SetLimits("e1", {Limit::PerMinute("rpm", 5)}, "res");
  auto resolved = limiter().ResolveLimits("e1", "res");
  EXPECT_EQ(resolved.source, ConfigSource::kEntity);
  EXPECT_EQ(resolved.limits[0].capacity, 5);
  // Stored limits win over the passed fallback.
  EXPECT_EQ(limiter().Available("e2", "res", fallback)["rpm"], 3);
  limiter().DeleteLimits("e1", "res");
  EXPECT_EQ(limiter().ResolveLimits("e1", "res").limits[0].capacity, 4);
}

TEST_P(LimiterConformance, ConfigChangesReachExistingBucketsWithinOneCacheTtl) {
  auto other = Open();  // another process's view, with its own cache
  limiter().SetResourceDefaults("res", {Limit::PerMinute("rpm", 100)});
  ASSERT_TRUE(other->Acquire("e1", "res", {{"rpm", 1}}).allowed());
  // Ops lower the limit and add a new one elsewhere.
  limiter().SetResourceDefaults("res", {Limit::PerMinute("rpm", 2), Limit::PerMinute("tpm", 50)});
  clock_.Advance(61'000);  // one cache TTL later
  auto r = other->Acquire("e1", "res", {{"rpm", 2}, {"tpm", 10}});
  ASSERT_TRUE(r.allowed());
  r.lease().Commit();
  auto denied = other->Acquire("e1", "res", {{"rpm", 1}});
  ASSERT_FALSE(denied.allowed());
  EXPECT_EQ(denied.denial().primary_violation().limit.capacity, 2);
  EXPECT_EQ(other->Available("e1", "res")["tpm"], 40);
}

TEST_P(LimiterConformance, ConfigCacheCountsHitsAndMissesAndCanBeDisabled) {
  limiter().SetResourceDefaults("res", {Limit::PerMinute("rpm", 100)});
  limiter().InvalidateConfigCache();
  limiter().ResolveLimits("e1", "res");
  CacheStats s1 = limiter().GetCacheStats();
  EXPECT_EQ(s1.misses, 4);
  limiter().ResolveLimits("e1", "res");
  CacheStats s2 = limiter().GetCacheStats();
  EXPECT_EQ(s2.hits, s1.hits + 4);
  EXPECT_EQ(s2.size, 4);  // negative entries included
  EXPECT_EQ(s2.ttl_seconds, 60);
  auto uncached = Open({.config_cache_ttl_seconds = 0});
  uncached->ResolveLimits("e1", "res");
  uncached->ResolveLimits("e1", "res");
  EXPECT_EQ(uncached->GetCacheStats().hits, 0);
  EXPECT_EQ(uncached->GetCacheStats().size, 0);
}

TEST_P(LimiterConformance, ValidationErrors) {
  limiter().SetResourceDefaults("res", {Limit::PerMinute("rpm", 100)});
  EXPECT_THROW(limiter().Acquire("bad#id", "res", {{"rpm", 1}}), InvalidIdentifierError);
  EXPECT_THROW(limiter().Acquire("e1", "/res", {{"rpm", 1}}), InvalidNameError);
  EXPECT_THROW(limiter().Acquire("e1", "res", {{"rpm", -1}}), ValidationError);
  EXPECT_THROW(limiter().Acquire("e1", "res", {{"wcu", 1}}), InvalidNameError);
  EXPECT_THROW(limiter().Acquire("e1", "res", {}), ValidationError);
  try {
    limiter().Acquire("e1", "res", {{"tpm", 1}});
    FAIL() << "unknown limit name accepted";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.field(), "consume");
    EXPECT_NE(std::string(e.what()).find("'tpm' is not a limit"), std::string::npos);
  }
  EXPECT_THROW(limiter().Acquire("e1", "other", {{"rpm", 1}}), ValidationError);  // no limits
  EXPECT_THROW(limiter().SetLimits("e1", {}), ValidationError);
  EXPECT_THROW(limiter().CreateEntity("k", {.name = "", .parent_id = "k"}), ValidationError);
  EXPECT_THROW(limiter().SetResourceDefaults("_default_", {Limit::PerMinute("rpm", 1)}),
               InvalidNameError);
}

TEST_P(LimiterConformance, EntitiesChildrenAndDelete) {
  limiter().CreateEntity("proj", {.name = "Project", .metadata = {{"tier", Value("gold")}}});
  EXPECT_THROW(limiter().CreateEntity("proj", {}), EntityExistsError);
  limiter().CreateEntity("k1", {.name = "", .parent_id = "proj", .cascade = true});
  limiter().CreateEntity("k2", {.name = "", .parent_id = "proj"});
  auto proj = limiter().GetEntity("proj");
  ASSERT_TRUE(proj);
  EXPECT_EQ(proj->name, "Project");
  EXPECT_EQ(proj->metadata.at("tier").as_string(), "gold");
  auto children = limiter().GetChildren("proj");
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(children[0].id, "k1");
  EXPECT_TRUE(children[0].cascade);
  limiter().SetLimits("k2", {Limit::PerMinute("rpm", 5)}, "res");
  ASSERT_TRUE(limiter().Acquire("k2", "res", {{"rpm", 1}}).allowed());
  EXPECT_EQ(limiter().ListResourcesWithEntityConfigs(), std::vector<std::string>{"res"});
  // META, config, bucket; and the hourly and daily usage snapshots where
  // they are written inline (not on DynamoDB, where a stream makes them).
  EXPECT_EQ(limiter().DeleteEntity("k2"), store_->capabilities().usage_from_stream ? 3 : 5);
  EXPECT_EQ(limiter().DeleteEntity("k2"), 0);
  EXPECT_FALSE(limiter().GetEntity("k2"));
  EXPECT_TRUE(limiter().ListResourcesWithEntityConfigs().empty());
  EXPECT_TRUE(limiter().GetLimits("k2", "res").empty());
}

TEST_P(LimiterConformance, RegistriesNeverDrift) {
  limiter().SetResourceDefaults("b", {Limit::PerMinute("rpm", 1)});
  limiter().SetResourceDefaults("a", {Limit::PerMinute("rpm", 1)});
  limiter().SetResourceDefaults("a", {Limit::PerMinute("rpm", 2)});
  EXPECT_EQ(limiter().ListResourcesWithDefaults(), (std::vector<std::string>{"a", "b"}));
  limiter().DeleteResourceDefaults("b");
  EXPECT_EQ(limiter().ListResourcesWithDefaults(), (std::vector<std::string>{"a"}));
  limiter().DeleteResourceDefaults("a");
  EXPECT_TRUE(limiter().ListResourcesWithDefaults().empty());

  limiter().SetLimits("e1", {Limit::PerMinute("rpm", 1)}, "x");
  limiter().SetLimits("e1", {Limit::PerMinute("rpm", 2)}, "x");  // overwrite: count stays 1
  limiter().SetLimits("e2", {Limit::PerMinute("rpm", 1)}, "x");
  auto page = limiter().ListEntitiesWithCustomLimits("x", 1);
  ASSERT_EQ(page.items.size(), 1u);
  auto page2 = limiter().ListEntitiesWithCustomLimits("x", 1, page.next_cursor);
  ASSERT_EQ(page2.items.size(), 1u);
  EXPECT_NE(page.items[0], page2.items[0]);
  limiter().DeleteLimits("e1", "x");
  EXPECT_EQ(limiter().ListResourcesWithEntityConfigs(), std::vector<std::string>{"x"});
  limiter().DeleteLimits("e2", "x");
  EXPECT_TRUE(limiter().ListResourcesWithEntityConfigs().empty());
}

TEST_P(LimiterConformance, AuditEventsForEveryConfigChange) {
  limiter().CreateEntity("e1", {});
  limiter().SetLimits("e1", {Limit::PerMinute("rpm", 1)}, "res");
  clock_.Advance(5);
  limiter().DeleteLimits("e1", "res");
  auto events = limiter().GetAuditEvents("e1");
  ASSERT_EQ(events.items.size(), 3u);
  EXPECT_EQ(events.items[0].action, "limits_deleted");  // newest first
  EXPECT_EQ(events.items[2].action, "entity_created");
  EXPECT_EQ(events.items[0].event_id.size(), 26u);
  EXPECT_EQ(events.items[1].details.at("limits").as_list().size(), 1u);
  limiter().SetSystemDefaults({Limit::PerMinute("rpm", 1)}, OnUnavailable::kAllow);
  auto sys = limiter().GetAuditEvents("$SYSTEM");
  ASSERT_EQ(sys.items.size(), 1u);
  EXPECT_EQ(sys.items[0].details.at("on_unavailable").as_string(), "allow");
  auto principal = Open({.principal = "ops@example.com"});
  principal->SetResourceDefaults("res", {Limit::PerMinute("rpm", 1)});
  auto res = limiter().GetAuditEvents("$RESOURCE:res");
  ASSERT_EQ(res.items.size(), 1u);
  EXPECT_EQ(res.items[0].principal, "ops@example.com");
}

TEST_P(LimiterConformance, AuditRetentionIsConfigurableAndSurvivesSystemDefaults) {
  EXPECT_EQ(limiter().GetAuditRetentionDays(), 90);
  limiter().SetAuditRetentionDays(7);
  limiter().SetSystemDefaults({Limit::PerMinute("rpm", 1)});  // must keep it
  EXPECT_EQ(limiter().GetAuditRetentionDays(), 7);
  EXPECT_EQ(limiter().GetSystemDefaults().limits.size(), 1u);
  limiter().CreateEntity("e1", {});
  QueryRequest q;
  q.hash = limiter().namespace_id() + "/AUDIT#e1";
  const auto events = store_->Query(q).items;
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].at("ttl"), Value(clock_.NowMs() / 1000 + 7 * 86400));
  EXPECT_THROW(limiter().SetAuditRetentionDays(0), ValidationError);
}

TEST_P(LimiterConformance, NamespacesAreIsolated) {
  auto tenant = Open({.namespace_name = "tenant-a"});
  EXPECT_NE(tenant->namespace_id(), limiter().namespace_id());
  EXPECT_EQ(tenant->namespace_id().size(), 11u);
  tenant->SetResourceDefaults("res", {Limit::PerMinute("rpm", 1)});
  EXPECT_TRUE(limiter().ListResourcesWithDefaults().empty());
  EXPECT_THROW(limiter().Acquire("e1", "res", {{"rpm", 1}}), ValidationError);
  ASSERT_TRUE(tenant->Acquire("e1", "res", {{"rpm", 1}}).allowed());

  auto names = ListNamespaces(*store_);
  ASSERT_EQ(names.size(), 2u);
  const std::string id = tenant->namespace_id();
  DeleteNamespace(*store_, "tenant-a");
  EXPECT_FALSE(ResolveNamespace(*store_, "tenant-a"));
  EXPECT_THROW(Open({.namespace_name = "tenant-a", .create_namespace = false}),
               NamespaceNotFoundError);
  ASSERT_EQ(ListOrphanNamespaces(*store_).size(), 1u);
  RecoverNamespace(*store_, id);
  EXPECT_EQ(ResolveNamespace(*store_, "tenant-a"), id);
  EXPECT_THROW(RecoverNamespace(*store_, id), NamespaceStateError);
  EXPECT_THROW(PurgeNamespace(*store_, id), NamespaceStateError);
  DeleteNamespace(*store_, "tenant-a");
  // Exactly the namespace's items (GSI4): the resource config, the resource
  // registry, its audit event, the bucket, and inline usage snapshots.
  int64_t items = 0;
  QueryRequest all;
  all.index = Index::kGsi4;
  all.hash = id;
  for (QueryPage page = store_->Query(all);; page = store_->Query(all)) {
    items += static_cast<int64_t>(page.items.size());
    if (!page.last_evaluated) break;
    all.start_after = page.last_evaluated;
  }
  EXPECT_EQ(items, store_->capabilities().usage_from_stream ? 4 : 6);
  EXPECT_EQ(PurgeNamespace(*store_, id), items);
  EXPECT_TRUE(ListOrphanNamespaces(*store_).empty());
  QueryRequest q;
  q.index = Index::kGsi4;
  q.hash = id;
  EXPECT_TRUE(store_->Query(q).items.empty());
  EXPECT_THROW(RegisterNamespace(*store_, "_"), ValidationError);
}

TEST_P(LimiterConformance, VersionRecordAndSchemaCheck) {
  auto v = ReadVersion(*store_);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->schema_version, "0.10.0");
  EXPECT_EQ(v->client_min_version, "0.0.0");
  EXPECT_FALSE(v->lambda_version);
  Update u;
  u.key = {"_/SYSTEM#", "#VERSION"};
  u.set = {{"schema_version", Value("1.0.0")}};
  store_->Write(u);
  EXPECT_THROW(Open(), IncompatibleSchemaError);
  EXPECT_THROW(Deploy(*store_), IncompatibleSchemaError);
}

INSTANTIATE_TEST_SUITE_P(Stores, LimiterConformance, ::testing::ValuesIn(StoreFactories()),
                         FactoryName);

}  // namespace
}  // namespace zae::testing

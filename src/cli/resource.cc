// resource set-defaults|get-defaults|delete-defaults|list (format.md §8.2),
// and capacity (RateLimiter::GetResourceCapacity; not in the reference CLI).
#include <cstdio>
#include <memory>

#include "cli/app.h"
#include "cli/limit_syntax.h"
#include "zae/validate.h"

namespace zae::cli {
namespace {

struct ResourceArgs {
  std::string resource;
  std::vector<std::string> limits;
  std::string limit_name;
  bool parents_only = false;
  bool yes = false;
};

// 27.5 -> "27.5%", 100 -> "100.0%": one decimal.
std::string Percent(double pct) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", pct);
  return buf;
}

void PrintCapacity(Context& ctx, const ResourceCapacity& c, bool parents_only) {
  if (ctx.json()) {
    Json entities = Json::MakeArray();
    for (const EntityCapacity& e : c.entities) {
      entities.Push(Json::MakeObject()
                        .Set("entity_id", e.entity_id)
                        .Set("capacity", e.capacity)
                        .Set("available", e.available)
                        .Set("utilization_pct", e.utilization_pct));
    }
    ctx.PrintJson(Json::MakeObject()
                      .Set("resource", c.resource)
                      .Set("limit_name", c.limit_name)
                      .Set("parents_only", parents_only)
                      .Set("total_capacity", c.total_capacity)
                      .Set("total_available", c.total_available)
                      .Set("utilization_pct", c.utilization_pct)
                      .Set("entities", entities));
    return;
  }
  if (c.entities.empty()) {
    ctx.out() << "No " << (parents_only ? "parent entity has" : "entity has") << " a '"
              << c.limit_name << "' bucket for resource " << c.resource << ".\n";
    return;
  }
  Table t({"ENTITY", "CAPACITY", "AVAILABLE", "UTILIZATION"});
  for (const EntityCapacity& e : c.entities) {
    t.Add({e.entity_id, Commas(e.capacity), Commas(e.available), Percent(e.utilization_pct)});
  }
  t.Add({"TOTAL", Commas(c.total_capacity), Commas(c.total_available), Percent(c.utilization_pct)});
  t.Print(ctx.out());
}

}  // namespace

void AddResourceCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("resource", "Default limits of a resource (e.g. a model)");
  group->require_subcommand(1);
  auto a = std::make_shared<ResourceArgs>();

  auto* set = group->add_subcommand("set-defaults", "Set the default limits of a resource");
  set->add_option("resource", a->resource, "Resource name, e.g. gpt-4 or openai/gpt-4")->required();
  AddLimitOption(set, &a->limits, true);
  OnRun(set, ctx, [&ctx, a] {
    const auto limits = ParseLimits(a->limits);
    ValidateResource(a->resource);
    ctx.limiter().SetResourceDefaults(a->resource, limits);
    if (ctx.json()) {
      ctx.PrintJson(Json::MakeObject().Set("resource", a->resource).Set("limits", ToJson(limits)));
    } else {
      ctx.out() << "Set " << limits.size() << " default limit(s) on resource " << a->resource
                << ":\n";
      for (const Limit& l : limits) ctx.out() << "  " << FormatLimit(l) << "\n";
    }
    return kExitOk;
  });

  auto* get = group->add_subcommand("get-defaults", "Show the default limits of a resource");
  get->add_option("resource", a->resource, "Resource name")->required();
  OnRun(get, ctx, [&ctx, a] {
    ValidateResource(a->resource);
    PrintLimitsResult(ctx, Json::MakeObject().Set("resource", a->resource),
                      ctx.limiter().GetResourceDefaults(a->resource),
                      "No default limits for resource " + a->resource + ".");
    return kExitOk;
  });

  auto* del = group->add_subcommand("delete-defaults", "Delete the default limits of a resource");
  del->add_option("resource", a->resource, "Resource name")->required();
  AddYes(del, &a->yes);
  OnRun(del, ctx, [&ctx, a] {
    ValidateResource(a->resource);
    ctx.Confirm("Delete the default limits of resource '" + a->resource + "'?", a->yes);
    ctx.limiter().DeleteResourceDefaults(a->resource);
    if (ctx.json()) {
      ctx.PrintJson(Json::MakeObject().Set("resource", a->resource).Set("deleted", true));
    } else {
      ctx.out() << "Deleted default limits of resource " << a->resource << "\n";
    }
    return kExitOk;
  });

  auto* capacity = group->add_subcommand(
      "capacity", "Capacity left of one limit of a resource, per entity and in total");
  capacity->add_option("resource", a->resource, "Resource name")->required();
  capacity->add_option("limit", a->limit_name, "Limit name, e.g. rpm or tpm")->required();
  capacity->add_flag("--parents-only", a->parents_only,
                     "Only entities without a parent (the top of each hierarchy)");
  OnRun(capacity, ctx, [&ctx, a] {
    PrintCapacity(ctx,
                  ctx.limiter().GetResourceCapacity(a->resource, a->limit_name, a->parents_only),
                  a->parents_only);
    return kExitOk;
  });

  auto* list = group->add_subcommand("list", "List resources that have default limits");
  OnRun(list, ctx, [&ctx] {
    PrintNames(ctx, "resources", ctx.limiter().ListResourcesWithDefaults(),
               "No resources with default limits.");
    return kExitOk;
  });
}

}  // namespace zae::cli

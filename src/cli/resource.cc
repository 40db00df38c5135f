// resource set-defaults|get-defaults|delete-defaults|list (format.md §8.2).
#include <memory>

#include "cli/app.h"
#include "cli/limit_syntax.h"
#include "zae/validate.h"

namespace zae::cli {
namespace {

struct ResourceArgs {
  std::string resource;
  std::vector<std::string> limits;
  bool yes = false;
};

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

  auto* list = group->add_subcommand("list", "List resources that have default limits");
  OnRun(list, ctx, [&ctx] {
    PrintNames(ctx, "resources", ctx.limiter().ListResourcesWithDefaults(),
               "No resources with default limits.");
    return kExitOk;
  });
}

}  // namespace zae::cli

// system set-defaults|get-defaults|delete-defaults (format.md §8.2): the
// lowest stored level, plus the namespace's on_unavailable policy.
#include <memory>

#include "cli/app.h"
#include "cli/limit_syntax.h"

namespace zae::cli {
namespace {

struct SystemArgs {
  std::vector<std::string> limits;
  std::string on_unavailable;
  bool yes = false;
};

Json SystemDefaultsJson(const SystemDefaults& d) {
  return Json::MakeObject()
      .Set("limits", cli::ToJson(d.limits))
      .Set("on_unavailable", d.on_unavailable ? Json(zae::ToString(*d.on_unavailable)) : Json());
}

}  // namespace

void AddSystemCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("system", "System-wide default limits and on_unavailable");
  group->require_subcommand(1);
  auto a = std::make_shared<SystemArgs>();

  auto* set = group->add_subcommand(
      "set-defaults", "Set the system default limits (replaces them) and/or on_unavailable");
  AddLimitOption(set, &a->limits, false);
  set->add_option("--on-unavailable", a->on_unavailable,
                  "What acquire does when the store is unreachable")
      ->check(CLI::IsMember({"allow", "block"}));
  OnRun(set, ctx, [&ctx, a] {
    if (a->limits.empty() && a->on_unavailable.empty()) {
      throw CommandError("give -l/--limit and/or --on-unavailable", kExitUsage);
    }
    auto limits = ParseLimits(a->limits);
    RateLimiter& limiter = ctx.limiter();
    // The system item is replaced as a whole (as in the reference); keep
    // whichever half the user did not give so one flag never wipes the other.
    const SystemDefaults current = limiter.GetSystemDefaults();
    std::optional<OnUnavailable> policy = current.on_unavailable;
    if (!a->on_unavailable.empty()) policy = ParseOnUnavailable(a->on_unavailable);
    if (a->limits.empty()) limits = current.limits;
    limiter.SetSystemDefaults(limits, policy);
    const SystemDefaults now{limits, policy};
    if (ctx.json()) {
      ctx.PrintJson(SystemDefaultsJson(now));
    } else {
      ctx.out() << "Set " << limits.size() << " system default limit(s)";
      if (policy) ctx.out() << ", on_unavailable=" << zae::ToString(*policy);
      ctx.out() << "\n";
      for (const Limit& l : limits) ctx.out() << "  " << FormatLimit(l) << "\n";
    }
    return kExitOk;
  });

  auto* get = group->add_subcommand("get-defaults", "Show the system default limits");
  OnRun(get, ctx, [&ctx] {
    const SystemDefaults d = ctx.limiter().GetSystemDefaults();
    if (ctx.json()) {
      ctx.PrintJson(SystemDefaultsJson(d));
      return kExitOk;
    }
    ctx.out() << "on_unavailable: "
              << (d.on_unavailable ? zae::ToString(*d.on_unavailable) : "block (not set)") << "\n";
    if (d.limits.empty()) {
      ctx.out() << "No system default limits.\n";
    } else {
      PrintLimits(ctx.out(), d.limits);
    }
    return kExitOk;
  });

  auto* del = group->add_subcommand("delete-defaults", "Delete the system default limits");
  AddYes(del, &a->yes);
  OnRun(del, ctx, [&ctx, a] {
    ctx.Confirm("Delete the system default limits (and on_unavailable)?", a->yes);
    ctx.limiter().DeleteSystemDefaults();
    if (ctx.json()) {
      ctx.PrintJson(Json::MakeObject().Set("deleted", true));
    } else {
      ctx.out() << "Deleted system default limits\n";
    }
    return kExitOk;
  });
}

}  // namespace zae::cli

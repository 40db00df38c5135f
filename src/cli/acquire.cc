// acquire and available: the data path from the command line, for scripts
// and for poking at a live store. acquire commits before it returns (with
// --adjust applied), so it is one complete request of an application.
#include <memory>
#include <span>

#include "cli/app.h"
#include "cli/limit_syntax.h"
#include "zae/bucket.h"
#include "zae/clock.h"
#include "zae/validate.h"

namespace zae::cli {
namespace {

struct AcquireArgs {
  std::string entity_id;
  std::string resource;
  std::vector<std::string> consume;
  std::vector<std::string> limits;
  std::vector<std::string> adjust;
  std::string on_unavailable;
};

Json StatusesArray(std::span<const LimitStatus> statuses) {
  Json a = Json::MakeArray();
  for (const auto& s : statuses) a.Push(ToJson(s));
  return a;
}

void PrintStatuses(Context& ctx, std::span<const LimitStatus> statuses) {
  Table t({"ENTITY", "LIMIT", "REQUESTED", "AVAILABLE", "CAPACITY", "RETRY_AFTER"});
  for (const auto& s : statuses) {
    t.Add({s.entity_id, s.limit_name, Commas(s.requested), Commas(s.available),
           Commas(s.limit.capacity), s.exceeded ? FormatSeconds(s.retry_after_seconds) + "s" : ""});
  }
  t.Print(ctx.out());
}

int Acquire(Context& ctx, const AcquireArgs& a) {
  const Amounts consume = ParseAmounts(a.consume, false, "-c/--consume");
  const Amounts adjust = ParseAmounts(a.adjust, true, "--adjust");
  const auto limits = ParseLimits(a.limits);
  ValidateIdentifier(a.entity_id, "entity_id");
  ValidateResource(a.resource);

  AcquireOptions options;
  if (!limits.empty()) options.limits = limits;
  if (!a.on_unavailable.empty()) options.on_unavailable = ParseOnUnavailable(a.on_unavailable);
  // Also when opening: an unreachable store is then answered by the policy.
  ctx.open_policy = options.on_unavailable;

  AcquireResult result = ctx.limiter().Acquire(a.entity_id, a.resource, consume, options);
  Json doc = Json::MakeObject()
                 .Set("allowed", result.allowed())
                 .Set("entity_id", a.entity_id)
                 .Set("resource", a.resource);

  if (!result.allowed()) {
    const Denial& d = result.denial();
    doc.Set("consumed", Json::MakeObject())
        .Set("retry_after_seconds", d.retry_after_seconds())
        .Set("retry_after_ms", d.retry_after_ms())
        .Set("limits", StatusesArray(d.statuses()));
    if (ctx.json()) {
      ctx.PrintJson(doc);
    } else {
      ctx.out() << d.message() << " (Retry-After: " << d.retry_after_header() << ")\n";
      PrintStatuses(ctx, d.statuses());
    }
    return kExitRateLimited;
  }

  Lease lease = result.take_lease();
  if (!adjust.empty()) lease.Adjust(adjust);
  // What the lease did, per limit, read before the commit ends it.
  Amounts consumed;
  for (const LeaseEntry& e : lease.entries()) {
    if (e.entity_id == a.entity_id) consumed[e.limit.name] += e.consumed;
  }
  const std::vector<LimitStatus> statuses = StatusesOf(lease, SystemClock::Default()->NowMs());
  const bool noop = lease.is_noop();
  if (noop) {
    // The store was unreachable and the policy is "allow": nothing was
    // recorded, so report what was asked for.
    consumed = consume;
    for (const auto& [k, v] : adjust) consumed[k] += v;
  }
  lease.Commit();

  doc.Set("consumed", ToJson(consumed))
      .Set("retry_after_seconds", 0.0)
      .Set("retry_after_ms", 0)
      .Set("limits", StatusesArray(statuses));
  if (ctx.json()) {
    ctx.PrintJson(doc);
    return kExitOk;
  }
  ctx.out() << "Allowed: " << a.entity_id << "/" << a.resource << " consumed";
  for (const auto& [k, v] : consumed) ctx.out() << " " << k << "=" << v;
  ctx.out() << "\n";
  if (noop) {
    ctx.out() << "(store unavailable; allowed by on_unavailable=allow, nothing recorded)\n";
  } else {
    PrintStatuses(ctx, statuses);
  }
  return kExitOk;
}

int Available(Context& ctx, const AcquireArgs& a) {
  const auto limits = ParseLimits(a.limits);
  ValidateIdentifier(a.entity_id, "entity_id");
  ValidateResource(a.resource);
  std::optional<std::vector<Limit>> fallback;
  if (!limits.empty()) fallback = limits;
  const Amounts available = ctx.limiter().Available(a.entity_id, a.resource, fallback);
  if (ctx.json()) {
    ctx.PrintJson(ToJson(available));
    return kExitOk;
  }
  if (available.empty()) {
    ctx.out() << "No limits apply to " << a.entity_id << "/" << a.resource << ".\n";
    return kExitOk;
  }
  Table t({"LIMIT", "AVAILABLE"});
  for (const auto& [k, v] : available) t.Add({k, Commas(v)});
  t.Print(ctx.out());
  return kExitOk;
}

}  // namespace

void AddAcquireCommands(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<AcquireArgs>();

  auto* acq = app.add_subcommand(
      "acquire", "Consume tokens for ENTITY on RESOURCE (exit 3 when rate limited)");
  acq->add_option("entity_id", a->entity_id, "Entity id")->required();
  acq->add_option("resource", a->resource, "Resource name")->required();
  acq->add_option("-c,--consume", a->consume, "NAME=N tokens to consume; repeatable")
      ->type_name("NAME=N")
      ->required();
  AddLimitOption(acq, &a->limits, false)
      ->description("Fallback limit, used only when no stored limits apply; repeatable");
  acq->add_option("--adjust", a->adjust,
                  "NAME=[+|-]N correction applied before commit (the real cost); repeatable")
      ->type_name("NAME=N");
  acq->add_option("--on-unavailable", a->on_unavailable, "Override the namespace's policy")
      ->check(CLI::IsMember({"allow", "block"}));
  OnRun(acq, ctx, [&ctx, a] { return Acquire(ctx, *a); });

  auto* avail = app.add_subcommand("available", "Tokens available now for ENTITY on RESOURCE");
  avail->add_option("entity_id", a->entity_id, "Entity id")->required();
  avail->add_option("resource", a->resource, "Resource name")->required();
  AddLimitOption(avail, &a->limits, false)
      ->description("Fallback limit, used only when no stored limits apply; repeatable");
  OnRun(avail, ctx, [&ctx, a] { return Available(ctx, *a); });
}

}  // namespace zae::cli

// usage list|summary (format.md §2.11, §8.2). Usage snapshots are written by
// the aggregator (issue 7), which has not landed; until it does these
// commands say so and exit 1 instead of printing an empty table that would
// look like "no usage".
#include <memory>

#include "cli/app.h"

namespace zae::cli {
namespace {

struct UsageArgs {
  std::string entity_id;
  std::string resource;
  std::string window = "hourly";
  std::string start;
  std::string end;
  int limit = 100;
  bool plot = false;
};

int NotYetAvailable() {
  throw CommandError(
      "usage snapshots are not yet available in zae-limiter-cpp (the aggregator has not "
      "landed); see docs/cli.md");
}

void AddFilters(CLI::App* cmd, UsageArgs& a) {
  cmd->add_option("-e,--entity-id", a.entity_id, "Entity id");
  cmd->add_option("-r,--resource", a.resource, "Resource name");
  cmd->add_option("-w,--window", a.window, "Window")
      ->check(CLI::IsMember({"hourly", "daily"}))
      ->capture_default_str();
  cmd->add_option("--start", a.start, "First window start, e.g. 2026-01-01T00:00:00Z");
  cmd->add_option("--end", a.end, "Last window start");
}

}  // namespace

void AddUsageCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("usage", "Usage snapshots (hourly/daily consumption)");
  group->require_subcommand(1);
  auto a = std::make_shared<UsageArgs>();

  auto* list = group->add_subcommand("list", "List usage snapshots");
  AddFilters(list, *a);
  list->add_option("-l,--limit", a->limit, "Maximum snapshots")->capture_default_str();
  list->add_flag("-p,--plot", a->plot, "Plot as an ASCII chart");
  OnRun(list, ctx, [a] {
    if (a->entity_id.empty() && a->resource.empty()) {
      throw CommandError("give --entity-id and/or --resource", kExitUsage);
    }
    return NotYetAvailable();
  });

  auto* summary = group->add_subcommand("summary", "Totals and averages per limit");
  AddFilters(summary, *a);
  OnRun(summary, ctx, [a] {
    if (a->entity_id.empty() && a->resource.empty()) {
      throw CommandError("give --entity-id and/or --resource", kExitUsage);
    }
    return NotYetAvailable();
  });
}

}  // namespace zae::cli

// usage list|summary (format.md §2.11, §8.2): hourly/daily consumption per
// entity and resource. On embedded stores the limiter writes the snapshots
// with every bucket write; on DynamoDB an aggregator does.
#include <algorithm>
#include <memory>
#include <set>

#include "cli/app.h"
#include "cli/limit_syntax.h"
#include "zae/validate.h"

namespace zae::cli {
namespace {

struct UsageArgs {
  std::string entity_id;
  std::string resource;
  std::string window;
  std::string start;
  std::string end;
  int limit = 100;
  bool plot = false;
};

void AddFilters(CLI::App* cmd, UsageArgs& a) {
  cmd->add_option("-e,--entity-id", a.entity_id, "Entity id");
  cmd->add_option("-r,--resource", a.resource, "Resource name");
  cmd->add_option("-w,--window", a.window, "Window type (default: both)")
      ->check(CLI::IsMember({"hourly", "daily"}));
  cmd->add_option("--start", a.start, "First window start, e.g. 2026-01-01T00:00:00Z");
  cmd->add_option("--end", a.end, "Last window start");
}

UsageQuery MakeQuery(const UsageArgs& a) {
  if (a.entity_id.empty() && a.resource.empty()) {
    throw CommandError("give --entity-id and/or --resource", kExitUsage);
  }
  UsageQuery q;
  if (!a.entity_id.empty()) {
    ValidateIdentifier(a.entity_id, "entity_id");
    q.entity_id = a.entity_id;
  }
  if (!a.resource.empty()) {
    ValidateResource(a.resource);
    q.resource = a.resource;
  }
  if (!a.window.empty()) q.window_type = a.window;
  if (!a.start.empty()) q.start = a.start;
  if (!a.end.empty()) q.end = a.end;
  return q;
}

Json SnapshotJson(const UsageSnapshot& s) {
  return Json::MakeObject()
      .Set("entity_id", s.entity_id)
      .Set("resource", s.resource)
      .Set("window", s.window_type)
      .Set("window_start", s.window_start)
      .Set("window_end", s.window_end)
      .Set("counters", cli::ToJson(s.counters))
      .Set("total_events", s.total_events);
}

// One bar chart per limit, oldest window first.
void Plot(std::ostream& out, std::vector<UsageSnapshot> snaps, const std::set<std::string>& names) {
  std::reverse(snaps.begin(), snaps.end());
  for (const std::string& name : names) {
    int64_t max = 0;
    for (const auto& s : snaps) {
      auto it = s.counters.find(name);
      if (it != s.counters.end()) max = std::max(max, it->second);
    }
    out << name << " (max " << Commas(max) << ")\n";
    for (const auto& s : snaps) {
      auto it = s.counters.find(name);
      const int64_t v = it == s.counters.end() ? 0 : it->second;
      const int64_t width = max > 0 ? v * 50 / max : 0;
      out << "  " << s.window_start << " " << s.entity_id << " |" << std::string(width, '#') << " "
          << Commas(v) << "\n";
    }
  }
}

int List(Context& ctx, const UsageArgs& a) {
  const UsageQuery q = MakeQuery(a);
  std::vector<UsageSnapshot> snaps;
  std::string cursor;
  do {
    auto page =
        ctx.limiter().GetUsageSnapshots(q, a.limit - static_cast<int>(snaps.size()), cursor);
    snaps.insert(snaps.end(), page.items.begin(), page.items.end());
    cursor = page.next_cursor;
  } while (!cursor.empty() && static_cast<int>(snaps.size()) < a.limit);

  if (ctx.json()) {
    Json arr = Json::MakeArray();
    for (const auto& s : snaps) arr.Push(SnapshotJson(s));
    ctx.PrintJson(Json::MakeObject().Set("snapshots", arr));
    return kExitOk;
  }
  if (snaps.empty()) {
    ctx.out() << "No usage snapshots.\n";
    return kExitOk;
  }
  std::set<std::string> names;
  for (const auto& s : snaps) {
    for (const auto& [k, _] : s.counters) names.insert(k);
  }
  if (a.plot) {
    Plot(ctx.out(), snaps, names);
    return kExitOk;
  }
  std::vector<std::string> headers = {"WINDOW_START", "WINDOW", "ENTITY", "RESOURCE"};
  for (const auto& n : names) headers.push_back(n);
  headers.push_back("EVENTS");
  Table t(headers);
  for (const auto& s : snaps) {
    std::vector<std::string> row = {s.window_start, s.window_type, s.entity_id, s.resource};
    for (const auto& n : names) {
      auto it = s.counters.find(n);
      row.push_back(it == s.counters.end() ? "" : Commas(it->second));
    }
    row.push_back(std::to_string(s.total_events));
    t.Add(row);
  }
  t.Print(ctx.out());
  if (!cursor.empty()) ctx.out() << "(more snapshots: raise --limit)\n";
  return kExitOk;
}

int Summary(Context& ctx, const UsageArgs& a) {
  const UsageSummary s = ctx.limiter().GetUsageSummary(MakeQuery(a));
  if (ctx.json()) {
    Json avg = Json::MakeObject();
    for (const auto& [k, v] : s.average) avg.Set(k, v);
    ctx.PrintJson(Json::MakeObject()
                      .Set("snapshot_count", s.snapshot_count)
                      .Set("total", cli::ToJson(s.total))
                      .Set("average", avg)
                      .Set("min_window_start", s.min_window_start)
                      .Set("max_window_start", s.max_window_start));
    return kExitOk;
  }
  if (s.snapshot_count == 0) {
    ctx.out() << "No usage snapshots.\n";
    return kExitOk;
  }
  ctx.out() << s.snapshot_count << " snapshot(s), windows " << s.min_window_start << " .. "
            << s.max_window_start << "\n";
  Table t({"LIMIT", "TOTAL", "AVERAGE"});
  for (const auto& [k, v] : s.total) {
    auto it = s.average.find(k);
    t.Add({k, Commas(v), it == s.average.end() ? "" : FormatSeconds(it->second)});
  }
  t.Print(ctx.out());
  return kExitOk;
}

}  // namespace

void AddUsageCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("usage", "Usage snapshots (hourly/daily consumption)");
  group->require_subcommand(1);
  auto a = std::make_shared<UsageArgs>();

  auto* list = group->add_subcommand("list", "List usage snapshots, newest first");
  AddFilters(list, *a);
  list->add_option("-l,--limit", a->limit, "Maximum snapshots")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  list->add_flag("-p,--plot", a->plot, "Plot as an ASCII bar chart per limit");
  OnRun(list, ctx, [&ctx, a] { return List(ctx, *a); });

  auto* summary = group->add_subcommand("summary", "Totals and averages per limit");
  AddFilters(summary, *a);
  OnRun(summary, ctx, [&ctx, a] { return Summary(ctx, *a); });
}

}  // namespace zae::cli

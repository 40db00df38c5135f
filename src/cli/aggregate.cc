// zae-limiter aggregate: usage snapshots from a DynamoDB table's stream
// (src/aggregator). Embedded stores write snapshots inline and need none.
#include <sstream>

#include "aggregator/aggregator.h"
#include "cli/app.h"
#include "cli/store_url.h"

namespace zae::cli {
namespace {

struct AggregateArgs {
  bool once = false;
  std::vector<std::string> windows = {"hourly", "daily"};
  int64_t retention_days = 90;
  int64_t poll_interval_ms = 1000;
};

}  // namespace

void AddAggregateCommand(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<AggregateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "aggregate", "Write usage snapshots from the table's DynamoDB stream (exactly once)");
  cmd->add_flag("--once", a->once, "Drain every shard once and exit (default: follow)");
  cmd->add_option("--window", a->windows, "Snapshot windows (default: hourly,daily)")
      ->delimiter(',')
      ->check(CLI::IsMember({"hourly", "daily", "monthly"}));
  cmd->add_option("--retention-days", a->retention_days, "Snapshot retention")
      ->check(CLI::Range(int64_t{1}, int64_t{3650}));
  cmd->add_option("--poll-interval-ms", a->poll_interval_ms, "Pause between passes when following")
      ->check(CLI::Range(int64_t{10}, int64_t{600000}));
  OnRun(cmd, ctx, [&ctx, a] {
    const StoreUrl url = ParseStoreUrl(ctx.StoreUrl());
    if (url.kind != StoreUrl::Kind::kDynamoDb) {
      throw CommandError(
          "aggregate reads a DynamoDB stream; SQLite and memory stores write usage "
          "snapshots with every acquire already",
          kExitUsage);
    }
    AggregatorOptions o;
    o.table = url.table;
    o.region = url.region;
    o.endpoint = url.endpoint;
    o.windows = a->windows;
    o.once = a->once;
    o.retention_days = a->retention_days;
    o.poll_interval_ms = a->poll_interval_ms;
    return RunAggregateCommand(o, ctx.out(), ctx.err());
  });
}

}  // namespace zae::cli

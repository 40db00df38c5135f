// The zae-limiter command: global options, store selection, the shared
// Context every command runs in, and the mapping from errors to exit codes.
//
// Exit codes (docs/cli.md): 0 success / allowed, 1 error, 2 usage error,
// 3 rate limited, 4 store unavailable.
#ifndef ZAE_CLI_APP_H_
#define ZAE_CLI_APP_H_

#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "CLI/CLI.hpp"
#include "cli/output.h"
#include "zae/rate_limiter.h"
#include "zae/store.h"

namespace zae::cli {

// The git commit this binary was built from ("unknown" outside a checkout);
// generated at build time by cmake/build_info.cmake.
extern const char* const kBuildCommit;

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,
  kExitUsage = 2,
  kExitRateLimited = 3,
  kExitUnavailable = 4,
};

// Ends the command with `code` after printing "Error: {message}" (unless the
// message is empty). For outcomes the library does not express as an
// exception, e.g. "entity not found" on show.
class CommandError : public std::runtime_error {
 public:
  CommandError(const std::string& message, int code = kExitError)
      : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

struct GlobalOptions {
  std::string store;         // --store URL
  std::string name;          // --name/-n TABLE (DynamoDB)
  std::string region;        // --region (DynamoDB)
  std::string endpoint_url;  // --endpoint-url (DynamoDB)
  std::string namespace_name = "default";
  std::string output = "table";
  bool verbose = false;
  double timeout_seconds = 2;  // --timeout: RateLimiterOptions::timeout
};

class Context {
 public:
  Context(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

  GlobalOptions global;
  // The policy the limiter applies when the store cannot be reached, from
  // opening on (RateLimiterOptions::on_unavailable): set by commands that
  // take --on-unavailable before they first call limiter().
  std::optional<OnUnavailable> open_policy;
  // RateLimiterOptions::async_threads of the limiters opened from here on.
  int async_threads = RateLimiterOptions{}.async_threads;

  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  bool json() const { return global.output == "json"; }
  // Prints a JSON document (json mode).
  void PrintJson(const Json& doc) { out_ << doc.Dump(); }
  // Detail printed on stderr only with --verbose.
  void Verbose(const std::string& line);

  // The store URL from --store, --name/--region/--endpoint-url, ZAEL_STORE,
  // or the default SQLite file; "" never.
  std::string StoreUrl() const;
  bool embedded_store() const;  // memory: or sqlite:
  // Whether the user chose a store (--store, --name/--region/--endpoint-url
  // or ZAEL_STORE) rather than getting the default SQLite file.
  bool store_chosen() const;
  // Opens the store on first use. Embedded stores get their schema here so
  // that every command works on a fresh file without `deploy`.
  std::shared_ptr<Store> store();
  // A limiter in --namespace. "default" is registered on first use on an
  // embedded store; other names must exist (`namespace register`), so a
  // typo in -N is an error rather than a new namespace.
  RateLimiter& limiter();
  // A limiter for an explicit namespace (the manifest's, the demo's).
  std::unique_ptr<RateLimiter> OpenLimiter(const std::string& namespace_name, bool create_namespace,
                                           const Clock* clock = nullptr);

  // Asks "question [y/N]" on a terminal; refuses without one. `yes` skips it.
  // Throws CommandError("Aborted") when not confirmed.
  void Confirm(const std::string& question, bool yes);

  // The command to run once parsing succeeded (set by the command's callback).
  std::function<int()> action;

 private:
  std::ostream& out_;
  std::ostream& err_;
  std::shared_ptr<Store> store_;
  std::unique_ptr<RateLimiter> limiter_;
};

// Makes `fn` the action of `cmd`: it runs after the whole command line has
// been parsed, so global options given after the command are already set.
void OnRun(CLI::App* cmd, Context& ctx, std::function<int()> fn);

// Adds the options every destructive command takes.
CLI::Option* AddYes(CLI::App* cmd, bool* yes);
// -l/--limit LIMIT (repeatable).
CLI::Option* AddLimitOption(CLI::App* cmd, std::vector<std::string>* limits, bool required);

// Prints `limits` under `header` (json: header + "limits"; table: a limits
// table, or `empty_message` when there are none).
void PrintLimitsResult(Context& ctx, const Json& header, const std::vector<Limit>& limits,
                       const std::string& empty_message);
// Prints a list of names (json: {key: [...]}; table: one per line or
// `empty_message`).
void PrintNames(Context& ctx, const std::string& key, const std::vector<std::string>& names,
                const std::string& empty_message);

// The default SQLite file: $XDG_DATA_HOME/zae-limiter/zae.db, falling back
// to ~/.local/share/zae-limiter/zae.db. Does not create anything.
std::string DefaultSqlitePath();

// Runs the command line; returns the exit code. `out`/`err` receive output.
int Main(int argc, const char* const* argv, std::ostream& out = std::cout,
         std::ostream& err = std::cerr);

// Command groups, one file each.
void AddInfraCommands(CLI::App& app, Context& ctx);      // infra.cc
void AddEntityCommands(CLI::App& app, Context& ctx);     // entity.cc
void AddResourceCommands(CLI::App& app, Context& ctx);   // resource.cc
void AddSystemCommands(CLI::App& app, Context& ctx);     // system.cc
void AddNamespaceCommands(CLI::App& app, Context& ctx);  // namespace.cc
void AddAuditCommands(CLI::App& app, Context& ctx);      // audit.cc
void AddUsageCommands(CLI::App& app, Context& ctx);      // usage.cc
void AddAcquireCommands(CLI::App& app, Context& ctx);    // acquire.cc
void AddLimitsCommands(CLI::App& app, Context& ctx);     // limits_manifest.cc
void AddLocalCommands(CLI::App& app, Context& ctx);      // local.cc
void AddDemoCommand(CLI::App& app, Context& ctx);        // demo.cc
void AddBenchCommand(CLI::App& app, Context& ctx);       // bench.cc
void AddAggregateCommand(CLI::App& app, Context& ctx);   // aggregate.cc
void AddServeCommand(CLI::App& app, Context& ctx);       // serve.cc

}  // namespace zae::cli

#endif  // ZAE_CLI_APP_H_

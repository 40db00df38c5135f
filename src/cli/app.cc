#include "cli/app.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <typeinfo>

#include "cli/limit_syntax.h"
#include "cli/store_url.h"
#include "zae/admin.h"
#include "zae/errors.h"
#include "zae/limit_status.h"

namespace zae::cli {
namespace {

constexpr const char* kDescription =
    "zae-limiter: distributed rate limits (token buckets) on SQLite, memory or DynamoDB.\n"
    "Exit codes: 0 ok/allowed, 1 error, 2 usage error, 3 rate limited, 4 store unavailable.";

bool DynamoDbFlagsGiven(const GlobalOptions& g) {
  return !g.name.empty() || !g.region.empty() || !g.endpoint_url.empty();
}

void AddGlobalOptions(CLI::App& app, GlobalOptions& g) {
  const char* group = "Global options (before or after the command)";
  app.add_option("--store", g.store,
                 "Store URL: sqlite:PATH, memory:, dynamodb://TABLE?region=R&endpoint=URL "
                 "(env ZAEL_STORE; default sqlite:$XDG_DATA_HOME/zae-limiter/zae.db)")
      ->group(group);
  app.add_option("-n,--name", g.name, "DynamoDB table name (selects DynamoDB; default zae-limiter)")
      ->group(group);
  app.add_option("--region", g.region, "AWS region (selects DynamoDB)")->group(group);
  app.add_option("--endpoint-url", g.endpoint_url,
                 "DynamoDB endpoint, e.g. http://localhost:8000 (selects DynamoDB)")
      ->group(group);
  app.add_option("-N,--namespace", g.namespace_name, "Namespace (env ZAEL_NAMESPACE)")
      ->envname("ZAEL_NAMESPACE")
      ->capture_default_str()
      ->group(group);
  app.add_option("--output", g.output, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str()
      ->group(group);
  app.add_flag("-v,--verbose", g.verbose, "Print details of what happens and of errors")
      ->group(group);
  app.add_option("--timeout", g.timeout_seconds,
                 "Seconds an acquire, available or commit may wait for the store, retries "
                 "included; then --on-unavailable applies")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str()
      ->group(group);
}

std::string ErrorKind(const std::exception& e) {
  if (dynamic_cast<const StoreError*>(&e)) return "store error";
  if (dynamic_cast<const ValidationError*>(&e)) return "validation error";
  if (dynamic_cast<const NamespaceNotFoundError*>(&e)) return "namespace not found";
  if (dynamic_cast<const NamespaceStateError*>(&e)) return "namespace state error";
  if (dynamic_cast<const IncompatibleSchemaError*>(&e)) return "incompatible schema";
  if (dynamic_cast<const EntityError*>(&e)) return "entity error";
  return typeid(e).name();
}

}  // namespace

void Context::Verbose(const std::string& line) {
  if (global.verbose) err_ << "[verbose] " << line << "\n";
}

std::string DefaultSqlitePath() {
  namespace fs = std::filesystem;
  const char* xdg = std::getenv("XDG_DATA_HOME");
  fs::path base;
  if (xdg != nullptr && *xdg == '/') {
    base = xdg;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    base = fs::path(home) / ".local" / "share";
  } else {
    base = ".";
  }
  return (base / "zae-limiter" / "zae.db").string();
}

std::string Context::StoreUrl() const {
  if (!global.store.empty()) {
    if (DynamoDbFlagsGiven(global)) {
      throw CommandError("--store cannot be combined with --name, --region or --endpoint-url",
                         kExitUsage);
    }
    return global.store;
  }
  if (DynamoDbFlagsGiven(global)) {
    return DynamoDbUrl(global.name.empty() ? "zae-limiter" : global.name, global.region,
                       global.endpoint_url);
  }
  if (const char* env = std::getenv("ZAEL_STORE"); env != nullptr && *env != '\0') return env;
  return "sqlite:" + DefaultSqlitePath();
}

bool Context::embedded_store() const {
  return ParseStoreUrl(StoreUrl()).kind != StoreUrl::Kind::kDynamoDb;
}

bool Context::store_chosen() const {
  return !global.store.empty() || DynamoDbFlagsGiven(global) ||
         std::getenv("ZAEL_STORE") != nullptr;
}

std::shared_ptr<Store> Context::store() {
  if (store_) return store_;
  const std::string url = StoreUrl();
  const auto parsed = ParseStoreUrl(url);  // ValidationError on a bad URL
  if (!store_chosen()) {
    // The user never chose a location: create ours (like any XDG app).
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(parsed.path).parent_path(), ec);
  }
  Verbose("store: " + url);
  try {
    store_ = std::shared_ptr<Store>(OpenStore(url));
    if (parsed.kind != StoreUrl::Kind::kDynamoDb) {
      // An embedded store is deployed on first use (schema, version record,
      // 'default' namespace), so a fresh file needs no `deploy`. DynamoDB
      // tables are only ever created by `deploy`.
      store_->Provision({});
      if (!ReadVersion(*store_)) {
        DeployOptions options;
        options.updated_by = std::string("cli:") + kLibraryVersion;
        Deploy(*store_, options);
      }
    }
  } catch (const StoreError& e) {
    throw StoreError("cannot open store " + url + ": " + e.what(), e.retryable());
  }
  return store_;
}

std::unique_ptr<RateLimiter> Context::OpenLimiter(const std::string& namespace_name,
                                                  bool create_namespace, const Clock* clock) {
  RateLimiterOptions options;
  options.namespace_name = namespace_name;
  options.create_namespace = create_namespace;
  options.clock = clock;
  options.principal = "cli";
  options.timeout = std::chrono::milliseconds(std::llround(global.timeout_seconds * 1000));
  options.on_unavailable = open_policy;
  options.async_threads = async_threads;
  try {
    return RateLimiter::Open(store(), options);
  } catch (const NamespaceNotFoundError&) {
    std::string hint = namespace_name == "default" && !embedded_store()
                           ? " Run 'zae-limiter deploy' first."
                           : " Register it first ('zae-limiter namespace register " +
                                 namespace_name + "') or check for typos.";
    throw CommandError("Namespace '" + namespace_name + "' not found." + hint);
  }
}

RateLimiter& Context::limiter() {
  if (!limiter_) {
    const bool create = global.namespace_name == "default" && embedded_store();
    limiter_ = OpenLimiter(global.namespace_name, create);
    Verbose("namespace: " + limiter_->namespace_name() + " (id " + limiter_->namespace_id() + ")");
  }
  return *limiter_;
}

void Context::Confirm(const std::string& question, bool yes) {
  if (yes) return;
  if (!isatty(STDIN_FILENO)) {
    throw CommandError(question + " Refusing without --yes because stdin is not a terminal.");
  }
  err_ << question << " [y/N] " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  if (answer != "y" && answer != "Y" && answer != "yes") throw CommandError("Aborted.");
}

void OnRun(CLI::App* cmd, Context& ctx, std::function<int()> fn) {
  cmd->callback([&ctx, fn = std::move(fn)]() { ctx.action = fn; });
}

CLI::Option* AddYes(CLI::App* cmd, bool* yes) {
  return cmd->add_flag("-y,--yes", *yes, "Do not ask for confirmation");
}

CLI::Option* AddLimitOption(CLI::App* cmd, std::vector<std::string>* limits, bool required) {
  auto* opt = cmd->add_option("-l,--limit", *limits,
                              "Limit name:rate[/period][:burst], period [N]sec|min|hour|day "
                              "(default min); repeatable. E.g. rpm:100 tpm:10000/min:20000");
  opt->type_name("LIMIT");
  if (required) opt->required();
  return opt;
}

int Main(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  Context ctx(out, err);
  CLI::App app(kDescription, "zae-limiter");
  // Options unknown to a subcommand fall through to its parents, so global
  // options work before and after the command name.
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("zae-limiter ") + kLibraryVersion + " (commit " +
                                        kBuildCommit + ", schema " + kSchemaVersion + ")");
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("Error: ") + e.what() + "\nRun with --help for more information.\n";
  });
  AddGlobalOptions(app, ctx.global);

  AddInfraCommands(app, ctx);
  AddEntityCommands(app, ctx);
  AddResourceCommands(app, ctx);
  AddSystemCommands(app, ctx);
  AddNamespaceCommands(app, ctx);
  AddAuditCommands(app, ctx);
  AddUsageCommands(app, ctx);
  AddAcquireCommands(app, ctx);
  AddLimitsCommands(app, ctx);
  AddLocalCommands(app, ctx);
  AddDemoCommand(app, ctx);
  AddBenchCommand(app, ctx);
  AddServeCommand(app, ctx);
  AddAggregateCommand(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!ctx.action) {
    out << app.help();
    return kExitUsage;
  }

  auto fail = [&](const std::exception& e, int code, const std::string& message) {
    err << "Error: " << message << "\n";
    if (ctx.global.verbose) {
      err << "[verbose] " << ErrorKind(e) << "; exit code " << code << "\n";
      try {
        err << "[verbose] store: " << ctx.StoreUrl() << ", namespace: " << ctx.global.namespace_name
            << "\n";
      } catch (...) {
      }
    }
    return code;
  };
  try {
    return ctx.action();
  } catch (const CommandError& e) {
    if (e.what()[0] == '\0') return e.code();
    return fail(e, e.code(), e.what());
  } catch (const SyntaxError& e) {
    return fail(e, kExitUsage, e.what());
  } catch (const RateLimitExceeded& e) {
    return fail(e, kExitRateLimited, e.what());
  } catch (const RateLimiterUnavailable& e) {
    return fail(e, kExitUnavailable, std::string("store unavailable: ") + e.what());
  } catch (const StoreError& e) {
    std::string message = e.what();
    if (message.find("ResourceNotFoundException") != std::string::npos) {
      message += " (run 'zae-limiter deploy' to create the table)";
    }
    return fail(e, kExitUnavailable, message);
  } catch (const NamespaceNotFoundError& e) {
    return fail(
        e, kExitError,
        "Namespace '" + e.namespace_name() + "' not found. Register it first or check for typos.");
  } catch (const ValidationError& e) {
    return fail(e, kExitError, e.what());
  } catch (const Error& e) {
    return fail(e, kExitError, e.what());
  } catch (const std::exception& e) {
    return fail(e, kExitError, e.what());
  }
}

}  // namespace zae::cli

// deploy, status, version, check, cfn-template, delete, list, upgrade
// (format.md §7, §8.2). Unlike the reference, status/version/check never
// create anything: they read the version record and the namespace registry
// only. delete/list/upgrade work on the table or file itself, not on a
// CloudFormation stack.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli/app.h"
#include "cli/cfn_template.h"
#include "cli/store_url.h"
#include "zae/admin.h"
#include "zae/dynamodb_store.h"
#include "zae/errors.h"
#include "zae/sqlite_store.h"

namespace zae::cli {
namespace {

struct InfraArgs {
  bool narrow_gsi2 = false;
  std::string output_file;
  bool yes = false;
};

constexpr const char* kNotInitialised =
    "not initialised (no version record); run 'zae-limiter deploy' first";

Json VersionJson(const std::optional<VersionRecord>& v) {
  if (!v) return Json();
  return Json::MakeObject()
      .Set("schema_version", v->schema_version)
      .Set("lambda_version", OptionalString(v->lambda_version))
      .Set("client_min_version", v->client_min_version)
      .Set("updated_at", v->updated_at)
      .Set("updated_by", OptionalString(v->updated_by));
}

// The verdict of CheckCompatible as (ok, message).
std::pair<bool, std::string> Compatibility(const std::optional<VersionRecord>& v) {
  if (!v) return {false, "not initialised (no version record); run 'zae-limiter deploy'"};
  try {
    CheckCompatible(*v);
    return {true, "compatible"};
  } catch (const IncompatibleSchemaError& e) {
    return {false, e.what()};
  }
}

int Deploy(Context& ctx, const InfraArgs& a) {
  auto store = ctx.store();
  DeployOptions options;
  options.provision.narrow_gsi2 = a.narrow_gsi2;
  options.updated_by = std::string("cli:") + kLibraryVersion;
  const VersionRecord v = zae::Deploy(*store, options);
  if (ctx.json()) {
    ctx.PrintJson(Json::MakeObject()
                      .Set("store", store->Describe())
                      .Set("version", VersionJson(v))
                      .Set("namespace", "default"));
  } else {
    ctx.out() << "Deployed " << store->Describe() << "\n"
              << "  schema version: " << v.schema_version << "\n"
              << "  namespace 'default' registered\n";
  }
  return kExitOk;
}

int Status(Context& ctx) {
  auto store = ctx.store();
  const auto v = ReadVersion(*store);  // StoreError -> exit 4 (unreachable)
  const auto namespaces = ListNamespaces(*store);
  const auto [ok, verdict] = Compatibility(v);
  if (ctx.json()) {
    Json ns = Json::MakeArray();
    for (const auto& n : namespaces) ns.Push(n.name);
    ctx.PrintJson(Json::MakeObject()
                      .Set("store", store->Describe())
                      .Set("available", true)
                      .Set("initialized", v.has_value())
                      .Set("compatible", ok)
                      .Set("version", VersionJson(v))
                      .Set("namespaces", ns));
    return kExitOk;
  }
  Table t({"FIELD", "VALUE"});
  t.Add({"store", store->Describe()});
  t.Add({"available", "yes"});
  t.Add({"schema_version", v ? v->schema_version : "(not initialised)"});
  t.Add({"updated_at", v ? v->updated_at : ""});
  t.Add({"updated_by", v ? v->updated_by.value_or("") : ""});
  t.Add({"compatibility", verdict});
  std::string names;
  for (const auto& n : namespaces) names += (names.empty() ? "" : ", ") + n.name;
  t.Add({"namespaces", names});
  t.Print(ctx.out());
  return kExitOk;
}

int Version(Context& ctx) {
  const auto v = ReadVersion(*ctx.store());
  const auto [ok, verdict] = Compatibility(v);
  if (ctx.json()) {
    ctx.PrintJson(Json::MakeObject()
                      .Set("client_version", kLibraryVersion)
                      .Set("schema_version", kSchemaVersion)
                      .Set("stored", VersionJson(v))
                      .Set("compatible", ok)
                      .Set("message", verdict));
    return kExitOk;
  }
  Table t({"FIELD", "VALUE"});
  t.Add({"client_version", kLibraryVersion});
  t.Add({"client_schema_version", kSchemaVersion});
  t.Add({"stored_schema_version", v ? v->schema_version : "(none)"});
  t.Add({"stored_lambda_version", v ? v->lambda_version.value_or("") : ""});
  t.Add({"client_min_version", v ? v->client_min_version : ""});
  t.Add({"updated_at", v ? v->updated_at : ""});
  t.Add({"updated_by", v ? v->updated_by.value_or("") : ""});
  t.Add({"compatibility", verdict});
  t.Print(ctx.out());
  return kExitOk;
}

int Check(Context& ctx) {
  const auto v = ReadVersion(*ctx.store());
  const auto [ok, verdict] = Compatibility(v);
  if (ctx.json()) {
    ctx.PrintJson(Json::MakeObject()
                      .Set("compatible", ok)
                      .Set("message", verdict)
                      .Set("schema_version", v ? Json(v->schema_version) : Json()));
  } else {
    ctx.out() << (ok ? "OK: " : "FAIL: ") << verdict
              << (v ? " (schema " + v->schema_version + ")" : std::string()) << "\n";
  }
  return ok ? kExitOk : kExitError;
}

int CfnTemplateCommand(Context& ctx, const InfraArgs& a) {
  const std::string t = CfnTemplate(a.narrow_gsi2);
  if (a.output_file.empty()) {
    ctx.out() << t;
    return kExitOk;
  }
  std::ofstream f(a.output_file);
  f << t;
  f.close();
  if (!f) throw CommandError("cannot write " + a.output_file);
  if (!ctx.json()) ctx.out() << "Wrote " << a.output_file << "\n";
  return kExitOk;
}

// delete: the SQLite file (with its -wal/-shm/-lock files) or the DynamoDB
// table, after checking that it is a zae-limiter store.
int DeleteStoreCommand(Context& ctx, const InfraArgs& a) {
  const std::string url = ctx.StoreUrl();
  const StoreUrl u = ParseStoreUrl(url);
  std::string what;
  if (u.kind == StoreUrl::Kind::kMemory) {
    throw CommandError("a memory: store lives for one command; there is nothing to delete",
                       kExitUsage);
  }
  if (u.kind == StoreUrl::Kind::kSqlite) {
    if (!std::filesystem::exists(u.path)) throw CommandError("SQLite store not found: " + u.path);
    if (!SqliteStore::FileSchemaVersion(u.path)) {
      throw CommandError(u.path + " is not a zae-limiter SQLite store; not deleting it");
    }
    what = "SQLite store " + u.path;
    ctx.Confirm("Delete " + what + " and all its data? This cannot be undone.", a.yes);
    SqliteStore::RemoveFiles(u.path);
  } else {
    auto store = ctx.store();
    auto* table = dynamic_cast<DynamoDbStore*>(store.get());
    if (table == nullptr) throw CommandError("not a DynamoDB store: " + url);
    if (!table->TableExists()) throw CommandError("DynamoDB table not found: " + u.table);
    bool ours = false;
    try {
      ours = ReadVersion(*store).has_value();
    } catch (const StoreError& e) {
      if (e.retryable()) throw;  // unreachable: exit 4
      ctx.Verbose(std::string("reading the version record: ") + e.what());
    }
    if (!ours) {
      throw CommandError("table " + u.table +
                         " has no zae-limiter version record; not deleting it");
    }
    what = "DynamoDB table " + u.table + " (" + store->Describe() + ")";
    ctx.Confirm("Delete " + what + " and all its data? This cannot be undone.", a.yes);
    table->DeleteTable();
  }
  if (ctx.json()) {
    ctx.PrintJson(Json::MakeObject().Set("store", url).Set("deleted", true));
  } else {
    ctx.out() << "Deleted " << what << "\n";
  }
  return kExitOk;
}

// list: the DynamoDB tables of the region that carry a version record.
int ListTablesCommand(Context& ctx) {
  const std::string url = ctx.store_chosen() ? ctx.StoreUrl() : DynamoDbUrl("zae-limiter", "", "");
  const StoreUrl u = ParseStoreUrl(url);
  if (u.kind != StoreUrl::Kind::kDynamoDb) {
    throw CommandError(
        "'list' shows the zae-limiter tables of a DynamoDB region, but the store is " + url +
            " (one file, no tables); give --region and/or --endpoint-url",
        kExitUsage);
  }
  DynamoDbOptions options;
  options.region = u.region;
  options.endpoint = u.endpoint;
  const std::vector<std::string> names = DynamoDbStore::ListTables(options);
  Json tables = Json::MakeArray();
  Table t({"TABLE", "SCHEMA", "COMPATIBLE", "UPDATED_AT", "UPDATED_BY"});
  for (const std::string& name : names) {
    std::optional<VersionRecord> v;
    try {
      v = ReadVersion(*OpenDynamoDbStore(name, u.region, u.endpoint));
    } catch (const StoreError& e) {
      if (e.retryable()) throw;
      // Another key schema, a table being deleted...: not one of ours.
      ctx.Verbose("skipping table " + name + ": " + e.what());
      continue;
    }
    if (!v) {
      ctx.Verbose("skipping table " + name + ": no version record");
      continue;
    }
    bool compatible = true;
    try {
      CheckCompatible(*v);
    } catch (const IncompatibleSchemaError&) {
      compatible = false;
    }
    tables.Push(Json::MakeObject()
                    .Set("name", name)
                    .Set("schema_version", v->schema_version)
                    .Set("compatible", compatible)
                    .Set("updated_at", v->updated_at)
                    .Set("updated_by", OptionalString(v->updated_by)));
    t.Add({name, v->schema_version, compatible ? "yes" : "no", v->updated_at,
           v->updated_by.value_or("")});
  }
  if (ctx.json()) {
    ctx.PrintJson(Json::MakeObject()
                      .Set("region", u.region.empty() ? Json() : Json(u.region))
                      .Set("endpoint", u.endpoint.empty() ? Json() : Json(u.endpoint))
                      .Set("tables", tables));
  } else if (t.empty()) {
    ctx.out() << "No zae-limiter tables (" << names.size() << " table"
              << (names.size() == 1 ? "" : "s") << " in all).\n";
  } else {
    t.Print(ctx.out());
  }
  return kExitOk;
}

// upgrade: pending migrations. Today the only one is the SQLite file format
// (1 -> 2), which opening the store applies; the item schema has none.
int Upgrade(Context& ctx) {
  const std::string url = ctx.StoreUrl();
  const StoreUrl u = ParseStoreUrl(url);
  std::optional<std::string> file_before;
  if (u.kind == StoreUrl::Kind::kSqlite) {
    if (!std::filesystem::exists(u.path)) {
      throw CommandError("SQLite store not found: " + u.path + "; run 'zae-limiter deploy' first");
    }
    file_before = SqliteStore::FileSchemaVersion(u.path);
    if (!file_before) throw CommandError(u.path + " is not a zae-limiter SQLite store");
  }
  auto store = ctx.store();  // SQLite: migrates the file format here
  const auto v = ReadVersion(*store);
  if (!v) throw CommandError(std::string("store ") + store->Describe() + " is " + kNotInitialised);
  CheckCompatible(*v);  // another major version: IncompatibleSchemaError, exit 1
  std::optional<std::string> file_after;
  if (u.kind == StoreUrl::Kind::kSqlite) file_after = SqliteStore::FileSchemaVersion(u.path);
  std::vector<std::string> applied;
  if (file_before != file_after) {
    applied.push_back("sqlite file format " + file_before.value_or("none") + " -> " +
                      file_after.value_or("none"));
  }
  if (ctx.json()) {
    Json migrations = Json::MakeArray();
    for (const auto& m : applied) migrations.Push(m);
    Json doc = Json::MakeObject()
                   .Set("store", store->Describe())
                   .Set("schema_version", v->schema_version)
                   .Set("client_schema_version", kSchemaVersion);
    if (u.kind == StoreUrl::Kind::kSqlite) {
      doc.Set("file_format_before", OptionalString(file_before))
          .Set("file_format_after", OptionalString(file_after));
    }
    ctx.PrintJson(doc.Set("migrations", migrations).Set("changed", !applied.empty()));
    return kExitOk;
  }
  Table t({"FIELD", "VALUE"});
  t.Add({"store", store->Describe()});
  t.Add({"schema_version", v->schema_version + " (client " + kSchemaVersion + ")"});
  if (u.kind == StoreUrl::Kind::kSqlite) {
    t.Add({"file_format", file_before.value_or("none") + " -> " + file_after.value_or("none")});
  }
  t.Print(ctx.out());
  if (applied.empty()) {
    ctx.out() << "Already up to date: no migrations to apply.\n";
  } else {
    for (const auto& m : applied) ctx.out() << "Applied: " << m << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddInfraCommands(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<InfraArgs>();

  auto* deploy =
      app.add_subcommand("deploy",
                         "Provision the store (DynamoDB table or SQLite schema), version record, "
                         "'default' namespace; idempotent");
  deploy->add_flag("--narrow-gsi2", a->narrow_gsi2,
                   "DynamoDB: project GSI2 KEYS_ONLY so a warm acquire costs 1 WCU");
  OnRun(deploy, ctx, [&ctx, a] { return Deploy(ctx, *a); });

  auto* status = app.add_subcommand("status", "Show the store, its version record, namespaces");
  OnRun(status, ctx, [&ctx] { return Status(ctx); });

  auto* version = app.add_subcommand("version", "Client and stored schema versions");
  OnRun(version, ctx, [&ctx] { return Version(ctx); });

  auto* check = app.add_subcommand("check", "Check compatibility with the store (exit 1 if not)");
  OnRun(check, ctx, [&ctx] { return Check(ctx); });

  auto* cfn = app.add_subcommand("cfn-template", "Print the CloudFormation template of the table");
  cfn->add_option("-o,--output-file", a->output_file, "Write to FILE instead of stdout");
  cfn->add_flag("--narrow-gsi2", a->narrow_gsi2, "Project GSI2 KEYS_ONLY");
  OnRun(cfn, ctx, [&ctx, a] { return CfnTemplateCommand(ctx, *a); });

  auto* del = app.add_subcommand(
      "delete",
      "Delete the store and all its data: the DynamoDB table, or the SQLite file (asks first)");
  AddYes(del, &a->yes);
  OnRun(del, ctx, [&ctx, a] { return DeleteStoreCommand(ctx, *a); });

  auto* list = app.add_subcommand(
      "list",
      "List the zae-limiter tables of a DynamoDB region (--region/--endpoint-url) and their "
      "schema versions");
  OnRun(list, ctx, [&ctx] { return ListTablesCommand(ctx); });

  auto* upgrade = app.add_subcommand(
      "upgrade", "Apply pending schema migrations (idempotent; reports versions before and after)");
  OnRun(upgrade, ctx, [&ctx] { return Upgrade(ctx); });
}

}  // namespace zae::cli

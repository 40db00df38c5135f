// deploy, status, version, check, cfn-template (format.md §7, §8.2).
// Unlike the reference, status/version/check never create anything: they
// read the version record and the namespace registry only.
#include <fstream>
#include <memory>

#include "cli/app.h"
#include "cli/cfn_template.h"
#include "zae/admin.h"
#include "zae/errors.h"

namespace zae::cli {
namespace {

struct InfraArgs {
  bool narrow_gsi2 = false;
  std::string output_file;
};

Json ToJson(const std::optional<VersionRecord>& v) {
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
                      .Set("version", ToJson(v))
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
                      .Set("version", ToJson(v))
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
                      .Set("stored", ToJson(v))
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
}

}  // namespace zae::cli

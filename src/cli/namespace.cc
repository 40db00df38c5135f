// namespace register|list|show|delete|recover|orphans|purge (format.md §4,
// §8.2). These work on the table, not inside one namespace, so they use the
// admin functions on the Store directly and ignore -N.
#include <memory>

#include "cli/app.h"
#include "zae/admin.h"
#include "zae/validate.h"

namespace zae::cli {
namespace {

struct NamespaceArgs {
  std::vector<std::string> names;
  std::string name;
  std::string id;
  bool yes = false;
};

Json NamespaceJson(const NamespaceInfo& n) {
  return Json::MakeObject()
      .Set("name", n.name)
      .Set("namespace_id", n.id)
      .Set("status", n.status)
      .Set("created_at", n.created_at)
      .Set("deleted_at", OptionalString(n.deleted_at));
}

void PrintNamespaces(Context& ctx, const std::vector<NamespaceInfo>& list, bool deleted) {
  if (ctx.json()) {
    Json a = Json::MakeArray();
    for (const auto& n : list) a.Push(NamespaceJson(n));
    return ctx.PrintJson(Json::MakeObject().Set("namespaces", a));
  }
  if (list.empty()) {
    ctx.out() << (deleted ? "No orphaned namespaces.\n" : "No namespaces.\n");
    return;
  }
  Table t(deleted ? std::vector<std::string>{"NAME", "ID", "STATUS", "DELETED"}
                  : std::vector<std::string>{"NAME", "ID", "STATUS", "CREATED"});
  for (const auto& n : list) {
    t.Add({n.name, n.id, n.status, deleted ? n.deleted_at.value_or("") : n.created_at});
  }
  t.Print(ctx.out());
}

NamespaceInfo RequireNamespace(Store& store, const std::string& name) {
  ValidateNamespaceName(name);
  auto n = ShowNamespace(store, name);
  if (!n) throw CommandError("Namespace '" + name + "' not found.");
  return *n;
}

}  // namespace

void AddNamespaceCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("namespace", "Namespaces: isolated tenants in one store");
  group->require_subcommand(1);
  auto a = std::make_shared<NamespaceArgs>();

  auto* reg = group->add_subcommand("register", "Register one or more namespaces (idempotent)");
  reg->add_option("names", a->names, "Namespace names")->required();
  OnRun(reg, ctx, [&ctx, a] {
    for (const auto& n : a->names) ValidateNamespaceName(n);
    std::vector<NamespaceInfo> done;
    for (const auto& n : a->names) done.push_back(RegisterNamespace(*ctx.store(), n));
    if (ctx.json()) {
      Json arr = Json::MakeArray();
      for (const auto& n : done) arr.Push(NamespaceJson(n));
      ctx.PrintJson(Json::MakeObject().Set("namespaces", arr));
    } else {
      for (const auto& n : done)
        ctx.out() << "Registered namespace " << n.name << " (id " << n.id << ")\n";
    }
    return kExitOk;
  });

  auto* list = group->add_subcommand("list", "List active namespaces");
  OnRun(list, ctx, [&ctx] {
    PrintNamespaces(ctx, ListNamespaces(*ctx.store()), false);
    return kExitOk;
  });

  auto* show = group->add_subcommand("show", "Show a namespace");
  show->add_option("name", a->name, "Namespace name")->required();
  OnRun(show, ctx, [&ctx, a] {
    const NamespaceInfo n = RequireNamespace(*ctx.store(), a->name);
    if (ctx.json()) {
      ctx.PrintJson(NamespaceJson(n));
    } else {
      Table t({"FIELD", "VALUE"});
      t.Add({"name", n.name});
      t.Add({"namespace_id", n.id});
      t.Add({"status", n.status});
      t.Add({"created_at", n.created_at});
      t.Print(ctx.out());
    }
    return kExitOk;
  });

  auto* del = group->add_subcommand(
      "delete", "Soft-delete a namespace (its data stays until purged; see recover)");
  del->add_option("name", a->name, "Namespace name")->required();
  AddYes(del, &a->yes);
  OnRun(del, ctx, [&ctx, a] {
    const NamespaceInfo n = RequireNamespace(*ctx.store(), a->name);
    ctx.Confirm("Delete namespace '" + n.name + "' (id " + n.id + ")?", a->yes);
    DeleteNamespace(*ctx.store(), n.name);
    if (ctx.json()) {
      ctx.PrintJson(Json::MakeObject()
                        .Set("name", n.name)
                        .Set("namespace_id", n.id)
                        .Set("status", "deleted"));
    } else {
      ctx.out() << "Deleted namespace " << n.name << " (id " << n.id
                << "). Recover it with 'zae-limiter namespace recover " << n.id << "'.\n";
    }
    return kExitOk;
  });

  auto* rec = group->add_subcommand("recover", "Reactivate a soft-deleted namespace by its id");
  rec->add_option("namespace_id", a->id, "Namespace id (see 'namespace orphans')")->required();
  OnRun(rec, ctx, [&ctx, a] {
    const NamespaceInfo n = RecoverNamespace(*ctx.store(), a->id);
    if (ctx.json()) {
      ctx.PrintJson(NamespaceJson(n));
    } else {
      ctx.out() << "Recovered namespace " << n.name << " (id " << n.id << ")\n";
    }
    return kExitOk;
  });

  auto* orphans = group->add_subcommand("orphans", "List soft-deleted namespaces");
  OnRun(orphans, ctx, [&ctx] {
    PrintNamespaces(ctx, ListOrphanNamespaces(*ctx.store()), true);
    return kExitOk;
  });

  auto* purge = group->add_subcommand(
      "purge", "Delete every item of a soft-deleted namespace (irreversible)");
  purge->add_option("namespace_id", a->id, "Namespace id (see 'namespace orphans')")->required();
  AddYes(purge, &a->yes);
  OnRun(purge, ctx, [&ctx, a] {
    ctx.Confirm("Purge all data of namespace id '" + a->id + "'? This cannot be undone.", a->yes);
    const int64_t n = PurgeNamespace(*ctx.store(), a->id);
    if (ctx.json()) {
      ctx.PrintJson(Json::MakeObject().Set("namespace_id", a->id).Set("items_deleted", n));
    } else {
      ctx.out() << "Purged namespace id " << a->id << " (" << n << " items)\n";
    }
    return kExitOk;
  });
}

}  // namespace zae::cli

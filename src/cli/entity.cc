// entity create|show|delete|children|set-limits|get-limits|delete-limits|
// list|list-resources (format.md §8.2).
#include <memory>

#include "cli/app.h"
#include "cli/limit_syntax.h"
#include "zae/errors.h"
#include "zae/validate.h"

namespace zae::cli {
namespace {

struct EntityArgs {
  std::string id;
  std::string display_name;
  std::string parent;
  bool cascade = false;
  std::string resource = "_default_";
  std::vector<std::string> limits;
  bool yes = false;
  std::string with_custom_limits;
  int limit = 100;
};

void PrintEntity(Context& ctx, const Entity& e) {
  if (ctx.json()) return ctx.PrintJson(ToJson(e));
  Table t({"FIELD", "VALUE"});
  t.Add({"entity_id", e.id});
  t.Add({"name", e.name});
  t.Add({"parent_id", e.parent_id.value_or("")});
  t.Add({"cascade", e.cascade ? "true" : "false"});
  t.Add({"created_at", e.created_at});
  if (!e.metadata.empty()) t.Add({"metadata", ToJson(e.metadata).Dump(false)});
  t.Print(ctx.out());
}

void PrintEntities(Context& ctx, const std::vector<Entity>& entities) {
  if (ctx.json()) {
    Json a = Json::MakeArray();
    for (const Entity& e : entities) a.Push(ToJson(e));
    return ctx.PrintJson(a);
  }
  Table t({"ENTITY", "NAME", "PARENT", "CASCADE", "CREATED"});
  for (const Entity& e : entities) {
    t.Add({e.id, e.name, e.parent_id.value_or(""), e.cascade ? "yes" : "no", e.created_at});
  }
  t.Print(ctx.out());
}

Entity RequireEntity(RateLimiter& limiter, const std::string& id) {
  ValidateIdentifier(id, "entity_id");
  auto e = limiter.GetEntity(id);
  if (!e) throw EntityNotFoundError(id);
  return *e;
}

}  // namespace

void PrintLimitsResult(Context& ctx, const Json& header, const std::vector<Limit>& limits,
                       const std::string& empty_message) {
  if (ctx.json()) {
    Json doc = header;
    doc.Set("limits", ToJson(limits));
    return ctx.PrintJson(doc);
  }
  if (limits.empty()) {
    ctx.out() << empty_message << "\n";
    return;
  }
  PrintLimits(ctx.out(), limits);
}

void PrintNames(Context& ctx, const std::string& key, const std::vector<std::string>& names,
                const std::string& empty_message) {
  if (ctx.json()) {
    Json arr = Json::MakeArray();
    for (const auto& n : names) arr.Push(n);
    return ctx.PrintJson(Json::MakeObject().Set(key, arr));
  }
  if (names.empty()) {
    ctx.out() << empty_message << "\n";
    return;
  }
  for (const auto& n : names) ctx.out() << n << "\n";
}

void AddEntityCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("entity", "Entities (callers: API keys, projects, users)");
  group->require_subcommand(1);
  auto a = std::make_shared<EntityArgs>();

  auto* create = group->add_subcommand("create", "Create an entity");
  create->add_option("entity_id", a->id, "Entity id")->required();
  create->add_option("--display-name", a->display_name, "Display name (default: the id)");
  create->add_option("--parent", a->parent, "Parent entity id (e.g. the project of an API key)");
  create->add_flag("--cascade,!--no-cascade", a->cascade,
                   "Also consume from the parent on every acquire");
  OnRun(create, ctx, [&ctx, a] {
    if (a->cascade && a->parent.empty()) {
      throw CommandError("--cascade needs --parent", kExitUsage);
    }
    CreateEntityOptions o;
    o.name = a->display_name;
    if (!a->parent.empty()) o.parent_id = a->parent;
    o.cascade = a->cascade;
    Entity e = ctx.limiter().CreateEntity(a->id, o);
    if (ctx.json()) {
      ctx.PrintJson(ToJson(e));
    } else {
      ctx.out() << "Created entity " << e.id;
      if (e.parent_id)
        ctx.out() << " (parent " << *e.parent_id << (e.cascade ? ", cascade" : "") << ")";
      ctx.out() << "\n";
    }
    return kExitOk;
  });

  auto* show = group->add_subcommand("show", "Show an entity");
  show->add_option("entity_id", a->id, "Entity id")->required();
  OnRun(show, ctx, [&ctx, a] {
    PrintEntity(ctx, RequireEntity(ctx.limiter(), a->id));
    return kExitOk;
  });

  auto* del = group->add_subcommand("delete", "Delete an entity with its limits and buckets");
  del->add_option("entity_id", a->id, "Entity id")->required();
  AddYes(del, &a->yes);
  OnRun(del, ctx, [&ctx, a] {
    RateLimiter& limiter = ctx.limiter();
    RequireEntity(limiter, a->id);
    ctx.Confirm("Delete entity '" + a->id + "' with its limits and buckets?", a->yes);
    const int64_t n = limiter.DeleteEntity(a->id);
    if (ctx.json()) {
      ctx.PrintJson(Json::MakeObject().Set("entity_id", a->id).Set("records_deleted", n));
    } else {
      ctx.out() << "Deleted entity " << a->id << " (" << n << " records)\n";
    }
    return kExitOk;
  });

  auto* children = group->add_subcommand("children", "List the children of an entity");
  children->add_option("entity_id", a->id, "Parent entity id")->required();
  OnRun(children, ctx, [&ctx, a] {
    ValidateIdentifier(a->id, "entity_id");
    PrintEntities(ctx, ctx.limiter().GetChildren(a->id));
    return kExitOk;
  });

  auto* set = group->add_subcommand("set-limits", "Set an entity's limits for a resource");
  set->add_option("entity_id", a->id, "Entity id")->required();
  set->add_option("-r,--resource", a->resource, "Resource, or _default_ for all resources")
      ->capture_default_str();
  AddLimitOption(set, &a->limits, true);
  OnRun(set, ctx, [&ctx, a] {
    const auto limits = ParseLimits(a->limits);
    ValidateIdentifier(a->id, "entity_id");
    ValidateEntityConfigResource(a->resource);
    ctx.limiter().SetLimits(a->id, limits, a->resource);
    if (ctx.json()) {
      ctx.PrintJson(Json::MakeObject()
                        .Set("entity_id", a->id)
                        .Set("resource", a->resource)
                        .Set("limits", ToJson(limits)));
    } else {
      ctx.out() << "Set " << limits.size() << " limit(s) on " << a->id << " for " << a->resource
                << ":\n";
      for (const Limit& l : limits) ctx.out() << "  " << FormatLimit(l) << "\n";
    }
    return kExitOk;
  });

  auto* get = group->add_subcommand("get-limits", "Show an entity's stored limits for a resource");
  get->add_option("entity_id", a->id, "Entity id")->required();
  get->add_option("-r,--resource", a->resource, "Resource, or _default_")->capture_default_str();
  OnRun(get, ctx, [&ctx, a] {
    ValidateIdentifier(a->id, "entity_id");
    ValidateEntityConfigResource(a->resource);
    const auto limits = ctx.limiter().GetLimits(a->id, a->resource);
    PrintLimitsResult(ctx, Json::MakeObject().Set("entity_id", a->id).Set("resource", a->resource),
                      limits, "No limits stored for " + a->id + " on " + a->resource + ".");
    return kExitOk;
  });

  auto* dl = group->add_subcommand("delete-limits", "Delete an entity's limits for a resource");
  dl->add_option("entity_id", a->id, "Entity id")->required();
  dl->add_option("-r,--resource", a->resource, "Resource, or _default_")->capture_default_str();
  AddYes(dl, &a->yes);
  OnRun(dl, ctx, [&ctx, a] {
    ValidateIdentifier(a->id, "entity_id");
    ValidateEntityConfigResource(a->resource);
    ctx.Confirm("Delete the limits of '" + a->id + "' for '" + a->resource + "'?", a->yes);
    ctx.limiter().DeleteLimits(a->id, a->resource);
    if (ctx.json()) {
      ctx.PrintJson(Json::MakeObject()
                        .Set("entity_id", a->id)
                        .Set("resource", a->resource)
                        .Set("deleted", true));
    } else {
      ctx.out() << "Deleted limits of " << a->id << " for " << a->resource << "\n";
    }
    return kExitOk;
  });

  auto* list = group->add_subcommand("list", "List entities with custom limits for a resource");
  list->add_option("--with-custom-limits", a->with_custom_limits, "Resource")->required();
  list->add_option("--limit", a->limit, "Page size for the listing")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  OnRun(list, ctx, [&ctx, a] {
    ValidateEntityConfigResource(a->with_custom_limits);
    std::vector<std::string> ids;
    std::string cursor;
    do {
      auto page =
          ctx.limiter().ListEntitiesWithCustomLimits(a->with_custom_limits, a->limit, cursor);
      ids.insert(ids.end(), page.items.begin(), page.items.end());
      cursor = page.next_cursor;
    } while (!cursor.empty());
    PrintNames(ctx, "entities", ids,
               "No entities with custom limits for " + a->with_custom_limits + ".");
    return kExitOk;
  });

  auto* lr = group->add_subcommand("list-resources", "List resources that have entity limits");
  OnRun(lr, ctx, [&ctx] {
    const auto resources = ctx.limiter().ListResourcesWithEntityConfigs();
    PrintNames(ctx, "resources", resources, "No resources with entity-level limits.");
    return kExitOk;
  });
}

}  // namespace zae::cli

// audit list (format.md §5, §8.2): config-change events, newest first.
#include <memory>

#include "cli/app.h"
#include "zae/validate.h"

namespace zae::cli {
namespace {

struct AuditArgs {
  std::string entity_id;
  int limit = 100;
  std::string start_event_id;
};

Json AuditEventJson(const AuditEvent& e) {
  return Json::MakeObject()
      .Set("event_id", e.event_id)
      .Set("entity_id", e.entity_id)
      .Set("timestamp", e.timestamp)
      .Set("action", e.action)
      .Set("principal", OptionalString(e.principal))
      .Set("resource", OptionalString(e.resource))
      .Set("details", cli::ToJson(e.details));
}

}  // namespace

void AddAuditCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("audit", "Audit events of configuration changes");
  group->require_subcommand(1);
  auto a = std::make_shared<AuditArgs>();

  auto* list = group->add_subcommand("list", "List audit events of an entity, newest first");
  list->add_option("-e,--entity-id", a->entity_id,
                   "Entity id, or $SYSTEM, or $RESOURCE:{resource} for default changes")
      ->required();
  list->add_option("-l,--limit", a->limit, "Events per page")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  list->add_option("--start-event-id", a->start_event_id,
                   "Continue after this event id (printed when more events exist)");
  OnRun(list, ctx, [&ctx, a] {
    // $SYSTEM and $RESOURCE:... are the reference's pseudo-entities (ADR-106).
    if (!a->entity_id.starts_with("$")) ValidateIdentifier(a->entity_id, "entity_id");
    const Page<AuditEvent> page =
        ctx.limiter().GetAuditEvents(a->entity_id, a->limit, a->start_event_id);
    if (ctx.json()) {
      Json events = Json::MakeArray();
      for (const auto& e : page.items) events.Push(AuditEventJson(e));
      ctx.PrintJson(
          Json::MakeObject()
              .Set("entity_id", a->entity_id)
              .Set("events", events)
              .Set("next_event_id", page.next_cursor.empty() ? Json() : Json(page.next_cursor)));
      return kExitOk;
    }
    if (page.items.empty()) {
      ctx.out() << "No audit events for " << a->entity_id << ".\n";
      return kExitOk;
    }
    Table t({"TIMESTAMP", "ACTION", "RESOURCE", "PRINCIPAL", "EVENT_ID", "DETAILS"});
    for (const auto& e : page.items) {
      t.Add({e.timestamp, e.action, e.resource.value_or(""), e.principal.value_or(""), e.event_id,
             cli::ToJson(e.details).Dump(false)});
    }
    t.Print(ctx.out());
    if (!page.next_cursor.empty()) {
      ctx.out() << "More events: --start-event-id " << page.next_cursor << "\n";
    }
    return kExitOk;
  });
}

}  // namespace zae::cli

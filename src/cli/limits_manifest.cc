// limits plan|apply|diff -f manifest.yaml (format.md §9), applied directly to
// the store instead of through the reference's provisioner Lambda.
//
//   plan   what apply would do, by the reference's algorithm: every manifest
//          item is a create or an update, items managed before and now
//          missing are deletes (state = the #PROVISIONER record).
//   apply  does it. Config writes go through the RateLimiter's admin API, so
//          unlike the reference's provisioner they keep the registries, GSI
//          keys, bucket parameters and audit trail right; the #PROVISIONER
//          record is written through the Store exactly as §2.9.
//   diff   compares the manifest with the *live* limits (what the
//          reference's docs promise): unchanged items are reported as such,
//          and out-of-band edits show up as updates.
//
// The manifest's `namespace` decides where it applies (as in the reference);
// -N is not used.
#include <memory>

#include "cli/app.h"
#include "cli/limit_syntax.h"
#include "cli/manifest.h"
#include "zae/admin.h"

namespace zae::cli {
namespace {

struct LimitsArgs {
  std::string file;
};

const char* Symbol(const std::string& action) {
  if (action == "create") return "+";
  if (action == "update") return "~";
  if (action == "delete") return "-";
  return "=";
}

std::string Describe(const std::vector<Limit>& limits) {
  std::string s;
  for (const Limit& l : limits) s += (s.empty() ? "" : "; ") + FormatLimit(l);
  return s;
}

Json ChangeJson(const Change& c) {
  return Json::MakeObject()
      .Set("action", c.action)
      .Set("level", c.level)
      .Set("target", c.level == "system" ? Json() : Json(c.target()));
}

struct Counts {
  int created = 0, updated = 0, deleted = 0, unchanged = 0;
  void Count(const std::string& action) {
    if (action == "create") ++created;
    if (action == "update") ++updated;
    if (action == "delete") ++deleted;
    if (action == "unchanged") ++unchanged;
  }
};

ProvisionerState ReadState(Store& store, const std::optional<std::string>& namespace_id) {
  if (!namespace_id) return {};
  auto item = store.Get(ProvisionerKey(*namespace_id), /*consistent=*/true);
  return item ? StateFromItem(*item) : ProvisionerState{};
}

std::vector<Limit> Sorted(std::vector<Limit> v) {
  std::sort(v.begin(), v.end(), [](const Limit& a, const Limit& b) { return a.name < b.name; });
  return v;
}

// The live limits of the item a change targets.
std::vector<Limit> LiveLimits(RateLimiter& limiter, const Change& c,
                              std::optional<OnUnavailable>* on_unavailable) {
  if (c.level == "system") {
    SystemDefaults d = limiter.GetSystemDefaults();
    *on_unavailable = d.on_unavailable;
    return Sorted(d.limits);
  }
  if (c.level == "resource") return Sorted(limiter.GetResourceDefaults(c.resource));
  return Sorted(limiter.GetLimits(c.entity_id, c.resource));
}

void Apply(RateLimiter& limiter, const Change& c) {
  if (c.level == "system") {
    if (c.action == "delete") return limiter.DeleteSystemDefaults();
    return limiter.SetSystemDefaults(c.limits, c.on_unavailable);
  }
  if (c.level == "resource") {
    if (c.action == "delete") return limiter.DeleteResourceDefaults(c.resource);
    return limiter.SetResourceDefaults(c.resource, c.limits);
  }
  if (c.action == "delete") return limiter.DeleteLimits(c.entity_id, c.resource);
  return limiter.SetLimits(c.entity_id, c.limits, c.resource);
}

int Run(Context& ctx, const LimitsArgs& a, const std::string& mode) {
  Manifest m;
  try {
    m = LoadManifest(a.file);
  } catch (const ManifestError& e) {
    throw CommandError(e.what());
  }
  if (ctx.global.namespace_name != "default" && ctx.global.namespace_name != m.namespace_name) {
    ctx.err() << "note: -N " << ctx.global.namespace_name
              << " is not used; the manifest's namespace '" << m.namespace_name << "' decides\n";
  }
  Store& store = *ctx.store();
  const bool apply = mode == "apply";
  std::optional<std::string> ns_id = ResolveNamespace(store, m.namespace_name);
  std::unique_ptr<RateLimiter> limiter;
  if (apply || ns_id) {
    // apply registers a missing namespace (as the reference's CLI does).
    limiter = ctx.OpenLimiter(m.namespace_name, apply);
    ns_id = limiter->namespace_id();
  }
  const ProvisionerState state = ReadState(store, ns_id);
  std::vector<Change> changes = Plan(m, state);

  // diff: compare with the live items instead of the provisioner record.
  std::vector<std::string> details(changes.size());
  if (mode == "diff") {
    for (size_t i = 0; i < changes.size(); ++i) {
      Change& c = changes[i];
      std::optional<OnUnavailable> live_ou;
      const auto live = limiter ? LiveLimits(*limiter, c, &live_ou) : std::vector<Limit>{};
      if (c.action == "delete") {
        if (live.empty() && !live_ou) c.action = "unchanged";  // already gone
        details[i] = Describe(live);
        continue;
      }
      const bool same =
          live == Sorted(c.limits) && (c.level != "system" || live_ou == c.on_unavailable);
      if (same) {
        c.action = "unchanged";
      } else {
        c.action = live.empty() ? "create" : "update";
        details[i] = (live.empty() ? "" : Describe(live) + "  ->  ") + Describe(c.limits);
      }
    }
  } else {
    for (size_t i = 0; i < changes.size(); ++i) details[i] = Describe(changes[i].limits);
  }

  Counts counts;
  std::vector<std::string> errors;
  for (const Change& c : changes) {
    if (apply) {
      try {
        Apply(*limiter, c);
      } catch (const std::exception& e) {
        // Per-change errors are collected, not fatal (as the reference).
        errors.push_back(c.level + (c.level == "system" ? "" : " " + c.target()) + ": " + e.what());
        continue;
      }
    }
    counts.Count(c.action);
  }
  if (apply) {
    store.Write(Put{StateToItem(*ns_id, StateOf(m, IsoNowMicros())), {}, false});
  }

  if (ctx.json()) {
    Json list = Json::MakeArray();
    for (const Change& c : changes) list.Push(ChangeJson(c));
    Json doc = Json::MakeObject()
                   .Set("status", apply ? "applied" : "planned")
                   .Set("namespace", m.namespace_name)
                   .Set("changes", list)
                   .Set("created", counts.created)
                   .Set("updated", counts.updated)
                   .Set("deleted", counts.deleted);
    if (mode == "diff") doc.Set("unchanged", counts.unchanged);
    Json errs = Json::MakeArray();
    for (const auto& e : errors) errs.Push(e);
    doc.Set("errors", errs);
    ctx.PrintJson(doc);
  } else {
    std::ostream& out = ctx.out();
    const char* title = mode == "apply"  ? "Applied"
                        : mode == "diff" ? "Diff against the store"
                                         : "Plan";
    out << title << " for namespace '" << m.namespace_name << "'"
        << (ns_id ? "" : " (not registered yet; apply registers it)") << ":\n";
    for (size_t i = 0; i < changes.size(); ++i) {
      const Change& c = changes[i];
      std::string target = c.level == "system" ? "system" : c.level + " " + c.target();
      out << "  " << Symbol(c.action) << " " << c.action << std::string(10 - c.action.size(), ' ')
          << target;
      if (!details[i].empty()) out << "  [" << details[i] << "]";
      out << "\n";
    }
    if (changes.empty()) out << "  (nothing to do)\n";
    out << counts.created << " to create, " << counts.updated << " to update, " << counts.deleted
        << " to delete";
    if (mode == "diff") out << ", " << counts.unchanged << " unchanged";
    out << (apply ? " (done)" : "") << ".\n";
  }
  if (!errors.empty()) {
    ctx.err() << "Error: " << errors.size() << " change(s) failed: " << errors.front() << "\n";
    for (size_t i = 1; i < errors.size(); ++i) ctx.err() << "  " << errors[i] << "\n";
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

void AddLimitsCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("limits", "Declarative limits from a YAML manifest");
  group->require_subcommand(1);
  auto a = std::make_shared<LimitsArgs>();
  for (const char* mode : {"plan", "apply", "diff"}) {
    const char* help = std::string(mode) == "plan"    ? "Show what apply would change"
                       : std::string(mode) == "apply" ? "Apply the manifest to the store"
                                                      : "Compare the manifest with the live limits";
    auto* cmd = group->add_subcommand(mode, help);
    cmd->add_option("-f,--file", a->file, "Manifest file (YAML)")
        ->required()
        ->check(CLI::ExistingFile);
    OnRun(cmd, ctx, [&ctx, a, m = std::string(mode)] { return Run(ctx, *a, m); });
  }
}

}  // namespace zae::cli

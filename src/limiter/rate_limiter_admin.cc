// Administrative operations (runtime.md §6, format.md §3.5): entities,
// stored limits at every level, the registries, and audit events. Every
// local config write evicts what it changed from this process's caches.
#include <algorithm>

#include "limiter/keys.h"
#include "limiter/query.h"
#include "limiter/rate_limiter_impl.h"
#include "zae/errors.h"
#include "zae/validate.h"

namespace zae {
namespace {

constexpr int64_t kAuditRetentionDays = 90;
const std::string kSystemAuditId = "$SYSTEM";

std::string ResourceAuditId(const std::string& resource) { return "$RESOURCE:" + resource; }

Item ConfigItem(const ItemKey& key, const std::vector<Limit>& limits) {
  Item item{{"PK", Value(key.pk)}, {"SK", Value(key.sk)}, {"config_version", Value(1)}};
  codec::EncodeConfigLimits(limits, item);
  return item;
}

}  // namespace

void RateLimiterImpl::Audit(const std::string& entity_id, const std::string& action,
                            std::optional<std::string> resource, Value::Map details) {
  const int64_t now = clock_.NowMs();
  const std::string id = codec::NewUlid(now);
  const std::string pk = keys::AuditPk(ns_, entity_id);
  Item item{{"PK", Value(pk)},
            {"SK", Value("#AUDIT#" + id)},
            {"entity_id", Value(entity_id)},
            {"event_id", Value(id)},
            {"timestamp", Value(codec::IsoSeconds(now))},
            {"action", Value(action)},
            {"principal", options_.principal.empty() ? Value() : Value(options_.principal)},
            {"resource", resource ? Value(*resource) : Value()},
            {"details", Value(std::move(details))},
            {"ttl", Value(FloorDiv(now, 1000) + GetAuditRetentionDays() * 86400)},
            {"GSI4PK", Value(ns_)},
            {"GSI4SK", Value(pk)}};
  store_->Write(Put{std::move(item), {}, false});
  MaybeDeleteExpired(now);
}

Entity RateLimiterImpl::CreateEntity(const std::string& id, const CreateEntityOptions& o) {
  ValidateIdentifier(id);
  if (o.parent_id) {
    ValidateIdentifier(*o.parent_id, "parent_id");
    if (*o.parent_id == id)
      throw ValidationError("parent_id", id, "an entity cannot be its own parent");
  }
  if (o.cascade && !o.parent_id) {
    throw ValidationError("cascade", id, "cascade requires a parent_id");
  }
  Entity e{id,         o.name.empty() ? id : o.name,     o.parent_id, o.cascade,
           o.metadata, codec::IsoSeconds(clock_.NowMs())};
  const ItemKey key = keys::EntityMeta(ns_, id);
  Item item{{"PK", Value(key.pk)},
            {"SK", Value(key.sk)},
            {"entity_id", Value(id)},
            {"name", Value(e.name)},
            {"parent_id", e.parent_id ? Value(*e.parent_id) : Value()},
            {"cascade", Value(e.cascade)},
            {"metadata", Value(e.metadata)},
            {"created_at", Value(e.created_at)},
            {"GSI4PK", Value(ns_)},
            {"GSI4SK", Value(key.pk)}};
  if (e.parent_id) {
    item["GSI1PK"] = Value(ns_ + "/PARENT#" + *e.parent_id);
    item["GSI1SK"] = Value("CHILD#" + id);
  }
  if (!store_->Write(Put{std::move(item), Condition().NotExists("PK"), false}).ok()) {
    throw EntityExistsError(id);
  }
  RememberEntity(id, {e.cascade, e.parent_id});
  Audit(id, "entity_created", std::nullopt,
        {{"name", Value(e.name)},
         {"parent_id", e.parent_id ? Value(*e.parent_id) : Value()},
         {"cascade", Value(e.cascade)},
         {"metadata", Value(e.metadata)}});
  return e;
}

std::optional<Entity> RateLimiterImpl::GetEntity(const std::string& id) {
  ValidateIdentifier(id);
  auto item = store_->Get(keys::EntityMeta(ns_, id), false);
  if (!item) return std::nullopt;
  Entity e = codec::DecodeEntity(*item);
  RememberEntity(id, {e.cascade, e.parent_id});
  return e;
}

int64_t RateLimiterImpl::DeleteEntity(const std::string& id) {
  ValidateIdentifier(id);
  QueryRequest own;
  own.hash = keys::EntityPk(ns_, id);
  QueryRequest buckets;
  buckets.index = Index::kGsi3;
  buckets.hash = keys::EntityPk(ns_, id);
  buckets.sort_prefix = "BUCKET#";
  std::vector<WriteOp> deletes;
  std::vector<std::string> config_resources;
  for (const auto& req : {own, buckets}) {
    for (const Item& item : QueryAll(*store_, req)) {
      const ItemKey key = KeyOf(item);
      if (key.sk.rfind("#CONFIG#", 0) == 0) config_resources.push_back(key.sk.substr(8));
      deletes.push_back(Delete{key, {}, false});
    }
  }
  if (deletes.empty()) return 0;
  store_->BatchWrite(deletes);
  // Keep the entity-config registry exact (the reference leaves it stale).
  for (const auto& resource : config_resources) {
    Update u;
    u.key = keys::EntityConfigRegistry(ns_);
    u.add.emplace_back(resource, -1);
    u.condition.Exists(resource);
    store_->Write(u);
    Update cleanup;
    cleanup.key = keys::EntityConfigRegistry(ns_);
    cleanup.remove.push_back(resource);
    cleanup.condition.Compare(resource, Predicate::Op::kLe, Value(0));
    store_->Write(cleanup);
    cache_.Evict(keys::EntityConfig(ns_, id, resource));
  }
  ForgetBuckets();
  Audit(id, "entity_deleted", std::nullopt,
        {{"records_deleted", Value(static_cast<int64_t>(deletes.size()))}});
  return static_cast<int64_t>(deletes.size());
}

std::vector<Entity> RateLimiterImpl::GetChildren(const std::string& parent_id) {
  ValidateIdentifier(parent_id, "parent_id");
  QueryRequest req;
  req.index = Index::kGsi1;
  req.hash = ns_ + "/PARENT#" + parent_id;
  req.sort_prefix = "CHILD#";
  std::vector<Entity> out;
  for (const Item& item : QueryAll(*store_, req)) out.push_back(codec::DecodeEntity(item));
  return out;
}

void RateLimiterImpl::SetLimits(const std::string& id, const std::vector<Limit>& limits,
                                const std::string& resource) {
  ValidateIdentifier(id);
  ValidateEntityConfigResource(resource);
  if (limits.empty()) throw ValidationError("limits", "", "at least one limit is required");
  ValidateLimits(limits);
  const ItemKey key = keys::EntityConfig(ns_, id, resource);
  Item item = ConfigItem(key, limits);
  item["entity_id"] = Value(id);
  item["resource"] = Value(resource);
  item["GSI3PK"] = Value(ns_ + "/ENTITY_CONFIG#" + resource);
  item["GSI3SK"] = Value(id);
  item["GSI4PK"] = Value(ns_);
  item["GSI4SK"] = Value(key.pk);
  Update registry;
  registry.key = keys::EntityConfigRegistry(ns_);
  registry.set_if_not_exists = {{"GSI4PK", Value(ns_)}, {"GSI4SK", Value(keys::SystemPk(ns_))}};
  registry.add.emplace_back(resource, 1);
  const TransactResult t =
      store_->Transact({Put{item, Condition().NotExists("PK"), false}, registry});
  if (!t.ok) store_->Write(Put{std::move(item), {}, false});  // overwrite; count unchanged
  cache_.Evict(key);
  ForgetBuckets();
  Audit(id, "limits_set", resource, {{"limits", codec::LimitsAsList(limits)}});
}

std::vector<Limit> RateLimiterImpl::GetLimits(const std::string& id, const std::string& resource) {
  ValidateIdentifier(id);
  ValidateEntityConfigResource(resource);
  auto item = store_->Get(keys::EntityConfig(ns_, id, resource), false);
  return item ? codec::DecodeConfigLimits(*item) : std::vector<Limit>{};
}

void RateLimiterImpl::DeleteLimits(const std::string& id, const std::string& resource) {
  ValidateIdentifier(id);
  ValidateEntityConfigResource(resource);
  const ItemKey key = keys::EntityConfig(ns_, id, resource);
  Update registry;
  registry.key = keys::EntityConfigRegistry(ns_);
  registry.add.emplace_back(resource, -1);
  const TransactResult t =
      store_->Transact({Delete{key, Condition().Exists("PK"), false}, registry});
  cache_.Evict(key);
  ForgetBuckets();
  if (!t.ok) return;  // nothing was stored
  Update cleanup;
  cleanup.key = keys::EntityConfigRegistry(ns_);
  cleanup.remove.push_back(resource);
  cleanup.condition.Compare(resource, Predicate::Op::kLe, Value(0));
  store_->Write(cleanup);
  Audit(id, "limits_deleted", resource, {});
}

Page<std::string> RateLimiterImpl::ListEntitiesWithCustomLimits(const std::string& resource,
                                                                int limit,
                                                                const std::string& cursor) {
  ValidateEntityConfigResource(resource);
  if (limit <= 0) throw ValidationError("limit", std::to_string(limit), "must be positive");
  QueryRequest req;
  req.index = Index::kGsi3;
  req.hash = ns_ + "/ENTITY_CONFIG#" + resource;
  req.limit = limit;
  if (!cursor.empty()) {
    // The cursor is the last entity id; rebuild the continuation key.
    const ItemKey key = keys::EntityConfig(ns_, cursor, resource);
    req.start_after = Item{{"PK", Value(key.pk)},
                           {"SK", Value(key.sk)},
                           {"GSI3PK", Value(req.hash)},
                           {"GSI3SK", Value(cursor)}};
  }
  QueryPage page = store_->Query(req);
  Page<std::string> out;
  for (const Item& item : page.items) out.items.push_back(codec::StringOr(item, "GSI3SK", ""));
  if (page.last_evaluated) out.next_cursor = codec::StringOr(*page.last_evaluated, "GSI3SK", "");
  return out;
}

std::vector<std::string> RateLimiterImpl::ListResourcesWithEntityConfigs() {
  std::vector<std::string> out;
  auto item = store_->Get(keys::EntityConfigRegistry(ns_), false);
  if (!item) return out;
  for (const auto& [name, value] : *item) {
    if (name == "PK" || name == "SK" || !value.is_number()) continue;
    if (value.as_number() > 0) out.push_back(name);
  }
  return out;  // std::map keeps them sorted
}

void RateLimiterImpl::SetResourceDefaults(const std::string& resource,
                                          const std::vector<Limit>& limits) {
  ValidateResource(resource);
  if (limits.empty()) throw ValidationError("limits", "", "at least one limit is required");
  ValidateLimits(limits);
  const ItemKey key = keys::ResourceConfig(ns_, resource);
  Item item = ConfigItem(key, limits);
  item["resource"] = Value(resource);
  item["GSI4PK"] = Value(ns_);
  item["GSI4SK"] = Value(key.pk);
  // Config and registry in one transaction, so the registry never drifts.
  Update registry;
  registry.key = keys::ResourceRegistry(ns_);
  registry.set_if_not_exists = {{"GSI4PK", Value(ns_)}, {"GSI4SK", Value(keys::SystemPk(ns_))}};
  registry.add_to_set.emplace_back("resources", Value::StringSet{resource});
  if (!store_->Transact({Put{std::move(item), {}, false}, registry}).ok) {
    throw StoreError("could not write resource defaults for " + resource);
  }
  cache_.Evict(key);
  ForgetBuckets();
  Audit(ResourceAuditId(resource), "limits_set", resource,
        {{"limits", codec::LimitsAsList(limits)}});
}

std::vector<Limit> RateLimiterImpl::GetResourceDefaults(const std::string& resource) {
  ValidateResource(resource);
  auto item = store_->Get(keys::ResourceConfig(ns_, resource), false);
  return item ? codec::DecodeConfigLimits(*item) : std::vector<Limit>{};
}

void RateLimiterImpl::DeleteResourceDefaults(const std::string& resource) {
  ValidateResource(resource);
  const ItemKey key = keys::ResourceConfig(ns_, resource);
  Update registry;
  registry.key = keys::ResourceRegistry(ns_);
  registry.delete_from_set.emplace_back("resources", Value::StringSet{resource});
  if (!store_->Transact({Delete{key, {}, false}, registry}).ok) {
    throw StoreError("could not delete resource defaults for " + resource);
  }
  cache_.Evict(key);
  ForgetBuckets();
  Audit(ResourceAuditId(resource), "limits_deleted", resource, {});
}

std::vector<std::string> RateLimiterImpl::ListResourcesWithDefaults() {
  auto item = store_->Get(keys::ResourceRegistry(ns_), false);
  std::vector<std::string> out;
  if (!item) return out;
  auto it = item->find("resources");
  if (it == item->end()) return out;
  const auto& set = it->second.as_string_set();
  return {set.begin(), set.end()};
}

void RateLimiterImpl::SetSystemDefaults(const std::vector<Limit>& limits,
                                        std::optional<OnUnavailable> mode) {
  ValidateLimits(limits);
  const ItemKey key = keys::SystemConfig(ns_);
  Item item = ConfigItem(key, limits);
  item["GSI4PK"] = Value(ns_);
  item["GSI4SK"] = Value(key.pk);
  if (mode) item["on_unavailable"] = Value(ToString(*mode));
  // Replacing the item must not drop the retention (the reference's does).
  if (auto old = store_->Get(key, true)) {
    auto days = old->find("audit_retention_days");
    if (days != old->end()) item[days->first] = days->second;
  }
  store_->Write(Put{std::move(item), {}, false});
  cache_.Evict(key);
  ForgetBuckets();
  if (mode) last_mode_ = static_cast<int>(*mode);
  Audit(kSystemAuditId, "limits_set", std::nullopt,
        {{"limits", codec::LimitsAsList(limits)},
         {"on_unavailable", mode ? Value(ToString(*mode)) : Value()}});
}

int64_t RateLimiterImpl::GetAuditRetentionDays() {
  auto item = store_->Get(keys::SystemConfig(ns_), false);
  if (!item) return kAuditRetentionDays;
  auto days = item->find("audit_retention_days");
  if (days == item->end() || !days->second.is_number() || days->second.as_number() <= 0) {
    return kAuditRetentionDays;
  }
  return days->second.as_number();
}

void RateLimiterImpl::SetAuditRetentionDays(int64_t days) {
  if (days < 1 || days > 3650) {
    throw ValidationError("audit_retention_days", std::to_string(days), "must be 1..3650");
  }
  Update u;
  u.key = keys::SystemConfig(ns_);
  u.set = {{"audit_retention_days", Value(days)}};
  u.set_if_not_exists = {
      {"config_version", Value(1)}, {"GSI4PK", Value(ns_)}, {"GSI4SK", Value(u.key.pk)}};
  store_->Write(u);
}

SystemDefaults RateLimiterImpl::GetSystemDefaults() {
  auto item = store_->Get(keys::SystemConfig(ns_), false);
  SystemDefaults out;
  if (!item) return out;
  out.limits = codec::DecodeConfigLimits(*item);
  if (auto mode = codec::OptString(*item, "on_unavailable")) {
    out.on_unavailable = ParseOnUnavailable(*mode);
  }
  return out;
}

void RateLimiterImpl::DeleteSystemDefaults() {
  const SystemDefaults old = GetSystemDefaults();
  store_->Write(Delete{keys::SystemConfig(ns_), {}, false});
  cache_.Evict(keys::SystemConfig(ns_));
  ForgetBuckets();
  last_mode_ = -1;
  Value::List names;
  for (const Limit& l : old.limits) names.push_back(Value(l.name));
  Audit(kSystemAuditId, "limits_deleted", std::nullopt,
        {{"limits", Value(std::move(names))},
         {"on_unavailable", old.on_unavailable ? Value(ToString(*old.on_unavailable)) : Value()}});
}

Page<AuditEvent> RateLimiterImpl::GetAuditEvents(const std::string& entity_id, int limit,
                                                 const std::string& cursor) {
  if (entity_id != kSystemAuditId && entity_id.rfind("$RESOURCE:", 0) != 0) {
    ValidateIdentifier(entity_id);
  }
  if (limit <= 0) throw ValidationError("limit", std::to_string(limit), "must be positive");
  QueryRequest req;
  req.hash = keys::AuditPk(ns_, entity_id);
  req.sort_prefix = "#AUDIT#";
  req.forward = false;
  req.limit = limit;
  if (!cursor.empty()) {
    req.start_after = Item{{"PK", Value(req.hash)}, {"SK", Value("#AUDIT#" + cursor)}};
  }
  QueryPage page = store_->Query(req);
  Page<AuditEvent> out;
  for (const Item& item : page.items) {
    AuditEvent e;
    e.event_id = codec::StringOr(item, "event_id", "");
    e.entity_id = codec::StringOr(item, "entity_id", "");
    e.timestamp = codec::StringOr(item, "timestamp", "");
    e.action = codec::StringOr(item, "action", "");
    e.principal = codec::OptString(item, "principal");
    e.resource = codec::OptString(item, "resource");
    auto d = item.find("details");
    if (d != item.end() && d->second.type() == Value::Type::kMap) e.details = d->second.as_map();
    out.items.push_back(std::move(e));
  }
  if (page.last_evaluated) out.next_cursor = codec::StringOr(*page.last_evaluated, "event_id", "");
  return out;
}

}  // namespace zae

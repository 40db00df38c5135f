// Provisioning, version record and namespace lifecycle (format.md §2.7,
// §2.8, §4.3, §7).
#include "zae/admin.h"

#include <random>

#include "limiter/codec.h"
#include "limiter/keys.h"
#include "limiter/query.h"
#include "zae/errors.h"
#include "zae/validate.h"

namespace zae {
namespace {

const Clock& ClockOr(const Clock* c) { return c ? *c : *SystemClock::Default(); }

int Major(const std::string& version) {
  try {
    return std::stoi(version.substr(0, version.find('.')));
  } catch (...) {
    return -1;
  }
}

VersionRecord DecodeVersion(const Item& item) {
  return {codec::StringOr(item, "schema_version", ""), codec::OptString(item, "lambda_version"),
          codec::StringOr(item, "client_min_version", "0.0.0"),
          codec::StringOr(item, "updated_at", ""), codec::OptString(item, "updated_by")};
}

NamespaceInfo DecodeNamespace(const Item& item) {
  return {codec::StringOr(item, "namespace_name", ""), codec::StringOr(item, "namespace_id", ""),
          codec::StringOr(item, "status", ""), codec::StringOr(item, "created_at", ""),
          codec::OptString(item, "deleted_at")};
}

// secrets.token_urlsafe(8): 11 base64url characters, never starting with '-'.
std::string NewNamespaceId() {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id;
  do {
    id.clear();
    for (int i = 0; i < 11; ++i) id += kAlphabet[rng() & 63];
  } while (id[0] == '-');
  return id;
}

Item NamespaceRecord(const ItemKey& key, const NamespaceInfo& info) {
  return Item{{"PK", Value(key.pk)},
              {"SK", Value(key.sk)},
              {"namespace_id", Value(info.id)},
              {"namespace_name", Value(info.name)},
              {"status", Value(info.status)},
              {"created_at", Value(info.created_at)},
              {"GSI4PK", Value(std::string(keys::kSystemNs))},
              {"GSI4SK", Value("_/SYSTEM#")}};
}

std::vector<Item> QueryPrefix(Store& store, const std::string& prefix) {
  QueryRequest req;
  req.hash = "_/SYSTEM#";
  req.sort_prefix = prefix;
  return QueryAll(store, std::move(req));
}

}  // namespace

std::optional<VersionRecord> ReadVersion(Store& store) {
  auto item = store.Get(keys::Version(), false);
  if (!item) return std::nullopt;
  return DecodeVersion(*item);
}

void CheckCompatible(const VersionRecord& record) {
  if (Major(record.schema_version) != Major(kSchemaVersion)) {
    throw IncompatibleSchemaError("store schema version " + record.schema_version +
                                  " is incompatible with this client (schema " + kSchemaVersion +
                                  "); migrate the store or use a matching client");
  }
}

VersionRecord Deploy(Store& store, const DeployOptions& options) {
  store.Provision(options.provision);
  if (auto existing = ReadVersion(store)) {
    CheckCompatible(*existing);
  } else {
    const ItemKey key = keys::Version();
    VersionRecord rec{kSchemaVersion, std::nullopt, "0.0.0",
                      codec::IsoSeconds(ClockOr(options.clock).NowMs()), options.updated_by};
    Item item{{"PK", Value(key.pk)},
              {"SK", Value(key.sk)},
              {"schema_version", Value(rec.schema_version)},
              {"lambda_version", Value()},
              {"client_min_version", Value(rec.client_min_version)},
              {"updated_at", Value(rec.updated_at)},
              {"updated_by", Value(*rec.updated_by)},
              {"GSI4PK", Value(std::string(keys::kSystemNs))},
              {"GSI4SK", Value("_/SYSTEM#")}};
    store.Write(Put{std::move(item), Condition().NotExists("PK"), false});
  }
  RegisterNamespace(store, "default", options.clock);
  return *ReadVersion(store);
}

std::optional<std::string> ResolveNamespace(Store& store, const std::string& name) {
  ValidateNamespaceName(name);
  auto item = store.Get(keys::NamespaceForward(name), false);
  if (!item) return std::nullopt;
  const NamespaceInfo info = DecodeNamespace(*item);
  if (info.status != "active") return std::nullopt;
  return info.id;
}

NamespaceInfo RegisterNamespace(Store& store, const std::string& name, const Clock* clock) {
  ValidateNamespaceName(name);
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (auto existing = ShowNamespace(store, name)) return *existing;
    NamespaceInfo info{name, NewNamespaceId(), "active", codec::IsoSeconds(ClockOr(clock).NowMs()),
                       std::nullopt};
    const TransactResult t =
        store.Transact({Put{NamespaceRecord(keys::NamespaceForward(name), info),
                            Condition().NotExists("PK"), false},
                        Put{NamespaceRecord(keys::NamespaceReverse(info.id), info),
                            Condition().NotExists("PK"), false}});
    if (t.ok) return info;
  }
  throw StoreError("could not register namespace '" + name + "'");
}

std::vector<NamespaceInfo> ListNamespaces(Store& store) {
  std::vector<NamespaceInfo> out;
  for (const Item& item : QueryPrefix(store, "#NAMESPACE#")) {
    NamespaceInfo info = DecodeNamespace(item);
    if (info.status == "active") out.push_back(std::move(info));
  }
  return out;
}

std::optional<NamespaceInfo> ShowNamespace(Store& store, const std::string& name) {
  ValidateNamespaceName(name);
  auto item = store.Get(keys::NamespaceForward(name), true);
  if (!item) return std::nullopt;
  NamespaceInfo info = DecodeNamespace(*item);
  if (info.status != "active") return std::nullopt;
  return info;
}

void DeleteNamespace(Store& store, const std::string& name, const Clock* clock) {
  ValidateNamespaceName(name);
  auto info = ShowNamespace(store, name);
  if (!info) throw NamespaceNotFoundError(name);
  store.Write(Delete{keys::NamespaceForward(name), {}, false});
  Update u;
  u.key = keys::NamespaceReverse(info->id);
  u.set = {{"status", Value("deleted")},
           {"deleted_at", Value(codec::IsoSeconds(ClockOr(clock).NowMs()))}};
  store.Write(u);
}

NamespaceInfo RecoverNamespace(Store& store, const std::string& namespace_id) {
  auto item = store.Get(keys::NamespaceReverse(namespace_id), true);
  if (!item) throw NamespaceNotFoundError(namespace_id);
  NamespaceInfo info = DecodeNamespace(*item);
  if (info.status == "purging") {
    throw NamespaceStateError("namespace purge is in progress and is terminal", info.name,
                              info.status);
  }
  if (info.status == "active") {
    throw NamespaceStateError("namespace '" + info.name + "' is already active", info.name,
                              info.status);
  }
  info.status = "active";
  info.deleted_at.reset();
  if (!store
           .Write(Put{NamespaceRecord(keys::NamespaceForward(info.name), info),
                      Condition().NotExists("PK"), false})
           .ok()) {
    throw NamespaceStateError("namespace name '" + info.name + "' was registered again", info.name,
                              "re-registered");
  }
  Update u;
  u.key = keys::NamespaceReverse(namespace_id);
  u.set = {{"status", Value("active")}};
  u.remove = {"deleted_at"};
  store.Write(u);
  return info;
}

std::vector<NamespaceInfo> ListOrphanNamespaces(Store& store) {
  std::vector<NamespaceInfo> out;
  for (const Item& item : QueryPrefix(store, "#NSID#")) {
    NamespaceInfo info = DecodeNamespace(item);
    if (info.status == "deleted") out.push_back(std::move(info));
  }
  return out;
}

int64_t PurgeNamespace(Store& store, const std::string& namespace_id) {
  auto item = store.Get(keys::NamespaceReverse(namespace_id), true);
  if (!item) throw NamespaceNotFoundError(namespace_id);
  const NamespaceInfo info = DecodeNamespace(*item);
  if (info.status == "active") {
    throw NamespaceStateError("namespace '" + info.name + "' is active; delete it first", info.name,
                              info.status);
  }
  Update mark;
  mark.key = keys::NamespaceReverse(namespace_id);
  mark.set = {{"status", Value("purging")}};
  store.Write(mark);
  int64_t deleted = 0;
  QueryRequest req;
  req.index = Index::kGsi4;
  req.hash = namespace_id;
  while (true) {
    // Deleting as we go, so always re-read the first page.
    QueryPage page = store.Query(req);
    if (page.items.empty()) break;
    std::vector<WriteOp> deletes;
    for (const Item& i : page.items) deletes.push_back(Delete{KeyOf(i), {}, false});
    store.BatchWrite(deletes);
    deleted += static_cast<int64_t>(deletes.size());
  }
  // Records the reference leaves behind (not in GSI4): provisioner state.
  store.Write(Delete{keys::Provisioner(namespace_id), {}, false});
  store.Write(Delete{keys::NamespaceReverse(namespace_id), {}, false});
  return deleted;
}

}  // namespace zae

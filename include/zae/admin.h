// Table-level administration: provisioning, the version record, and
// namespaces (format.md §2.7, §2.8, §4, §7). These work on a Store directly,
// not through a RateLimiter, because they span namespaces.
//
// Errors: ValidationError for bad names; NamespaceNotFoundError /
// NamespaceStateError for lifecycle violations; IncompatibleSchemaError when
// the store was written by another schema major version; StoreError for
// store failures. Thread-safe (stateless functions over a thread-safe Store).
#ifndef ZAE_ADMIN_H_
#define ZAE_ADMIN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "zae/clock.h"
#include "zae/store.h"
#include "zae/version.h"

namespace zae {

// Schema version this client writes (the reference's CURRENT_SCHEMA_VERSION).
inline constexpr const char* kSchemaVersion = "0.10.0";
// Version of this library, recorded as updated_by "client:{version}".
inline constexpr const char* kLibraryVersion = ZAE_VERSION_STRING;

struct VersionRecord {
  std::string schema_version;
  std::optional<std::string> lambda_version;
  std::string client_min_version;
  std::string updated_at;
  std::optional<std::string> updated_by;
};

struct DeployOptions {
  ProvisionOptions provision;
  std::string updated_by = std::string("client:") + kLibraryVersion;
  const Clock* clock = nullptr;
};

// Provisions the store, writes the version record when missing, registers
// the "default" namespace. Idempotent. Throws IncompatibleSchemaError when an
// existing version record has another major version.
VersionRecord Deploy(Store& store, const DeployOptions& options = {});

std::optional<VersionRecord> ReadVersion(Store& store);
// Throws IncompatibleSchemaError unless `record` is readable by this client.
void CheckCompatible(const VersionRecord& record);

struct NamespaceInfo {
  std::string name;
  std::string id;      // opaque 11-character id used in every key
  std::string status;  // active, deleted, purging
  std::string created_at;
  std::optional<std::string> deleted_at;
};

// Returns the id of an active namespace, or nullopt.
std::optional<std::string> ResolveNamespace(Store& store, const std::string& name);
// Registers `name` (idempotent: returns the existing id when active).
NamespaceInfo RegisterNamespace(Store& store, const std::string& name,
                                const Clock* clock = nullptr);
std::vector<NamespaceInfo> ListNamespaces(Store& store);  // active only
std::optional<NamespaceInfo> ShowNamespace(Store& store, const std::string& name);
// Soft delete: the name stops resolving; data stays until purged.
void DeleteNamespace(Store& store, const std::string& name, const Clock* clock = nullptr);
// Reactivates a soft-deleted namespace by its id.
NamespaceInfo RecoverNamespace(Store& store, const std::string& namespace_id);
// Soft-deleted namespaces whose data still exists.
std::vector<NamespaceInfo> ListOrphanNamespaces(Store& store);
// Deletes every item of a soft-deleted namespace (by id). Returns item count.
int64_t PurgeNamespace(Store& store, const std::string& namespace_id);

}  // namespace zae

#endif  // ZAE_ADMIN_H_

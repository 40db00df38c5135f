// The declarative limits manifest (format.md §9) and the provisioner's
// bookkeeping: parsing, the plan (diff against the #PROVISIONER record) and
// that record's item layout (§2.9). No I/O here except reading the file;
// applying a plan is in limits_manifest.cc.
//
//   namespace: default            # required
//   system:
//     on_unavailable: allow       # optional: allow | block
//     limits:
//       rpm: {capacity: 1000}
//   resources:
//     gpt-4:
//       limits:
//         rpm: {capacity: 100, burst: 150}            # burst replaces capacity
//         tpm: {capacity: 100000, refill_amount: 50000, refill_period: 60}
//   entities:
//     key-1:
//       resources:
//         _default_:
//           limits:
//             rpm: {capacity: 10}
//
// Unlike the reference's provisioner, every name and number is validated
// here, so a manifest can never write an item a Python client cannot read.
#ifndef ZAE_CLI_MANIFEST_H_
#define ZAE_CLI_MANIFEST_H_

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "zae/limit.h"
#include "zae/store.h"
#include "zae/types.h"

namespace zae::cli {

// A manifest that cannot be read or is invalid. The message names the file
// position or the path of the bad key (e.g. "resources.gpt-4.limits.rpm").
class ManifestError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Manifest {
  std::string namespace_name;
  bool has_system = false;
  std::optional<OnUnavailable> on_unavailable;
  std::vector<Limit> system_limits;
  std::map<std::string, std::vector<Limit>> resources;
  // entity id -> resource (or "_default_") -> limits
  std::map<std::string, std::map<std::string, std::vector<Limit>>> entities;
  // "sha256:" + hex of the manifest's canonical JSON (sorted keys), as the
  // reference's applied_hash. Informational only.
  std::string hash;
};

Manifest ParseManifest(const std::string& yaml_text);
Manifest LoadManifest(const std::string& path);

// The #PROVISIONER record of one namespace.
struct ProvisionerState {
  bool managed_system = false;
  std::vector<std::string> managed_resources;                        // sorted
  std::map<std::string, std::vector<std::string>> managed_entities;  // sorted lists
  std::string last_applied;
  std::string applied_hash;
};

ItemKey ProvisionerKey(const std::string& namespace_id);
ProvisionerState StateFromItem(const Item& item);
// Exactly format.md §2.9: GSI4PK only (no GSI4SK), lists sorted.
Item StateToItem(const std::string& namespace_id, const ProvisionerState& state);
// The state a successful apply of `m` leaves behind.
ProvisionerState StateOf(const Manifest& m, const std::string& last_applied);

struct Change {
  std::string action;                           // create, update, delete
  std::string level;                            // system, resource, entity
  std::string entity_id;                        // entity level only
  std::string resource;                         // resource and entity levels
  std::vector<Limit> limits;                    // create/update: the new limits
  std::optional<OnUnavailable> on_unavailable;  // system create/update

  // The reference's target: resource name, "entity/resource", or "" (system).
  std::string target() const;
};

// The reference's algorithm (§9.2): every manifest item is a create (not
// managed before) or an update (managed before); managed items missing from
// the manifest are deletes. System first, then resources, then entities,
// each sorted by name.
std::vector<Change> Plan(const Manifest& m, const ProvisionerState& state);

// Python's datetime.now(timezone.utc).isoformat(): 2026-02-19T12:00:00.123456+00:00
std::string IsoNowMicros();

}  // namespace zae::cli

#endif  // ZAE_CLI_MANIFEST_H_

// Key formats of format.md §2 — the only place that spells them.
#ifndef ZAE_LIMITER_KEYS_H_
#define ZAE_LIMITER_KEYS_H_

#include <string>

#include "store/bucket_write.h"
#include "zae/store.h"

namespace zae::keys {

inline constexpr const char* kSystemNs = "_";

inline std::string EntityPk(const std::string& ns, const std::string& id) {
  return ns + "/ENTITY#" + id;
}
inline ItemKey EntityMeta(const std::string& ns, const std::string& id) {
  return {EntityPk(ns, id), "#META"};
}
inline ItemKey EntityConfig(const std::string& ns, const std::string& id,
                            const std::string& resource) {
  return {EntityPk(ns, id), "#CONFIG#" + resource};
}
inline std::string BucketPk(const std::string& ns, const std::string& id,
                            const std::string& resource, int shard) {
  return ns + "/BUCKET#" + id + "#" + resource + "#" + std::to_string(shard);
}
inline ItemKey Bucket(const std::string& ns, const std::string& id, const std::string& resource,
                      int shard) {
  return {BucketPk(ns, id, resource, shard), "#STATE"};
}
inline std::string ResourcePk(const std::string& ns, const std::string& resource) {
  return ns + "/RESOURCE#" + resource;
}
inline ItemKey ResourceConfig(const std::string& ns, const std::string& resource) {
  return {ResourcePk(ns, resource), "#CONFIG"};
}
inline std::string SystemPk(const std::string& ns) { return ns + "/SYSTEM#"; }
inline ItemKey SystemConfig(const std::string& ns) { return {SystemPk(ns), "#CONFIG"}; }
inline ItemKey ResourceRegistry(const std::string& ns) { return {SystemPk(ns), "#RESOURCES"}; }
inline ItemKey EntityConfigRegistry(const std::string& ns) {
  return {SystemPk(ns), "#ENTITY_CONFIG_RESOURCES"};
}
inline ItemKey Provisioner(const std::string& ns) { return {SystemPk(ns), "#PROVISIONER"}; }
inline std::string AuditPk(const std::string& ns, const std::string& entity) {
  return ns + "/AUDIT#" + entity;
}
inline ItemKey Version() { return {"_/SYSTEM#", "#VERSION"}; }
inline ItemKey NamespaceForward(const std::string& name) {
  return {"_/SYSTEM#", "#NAMESPACE#" + name};
}
inline ItemKey NamespaceReverse(const std::string& id) { return {"_/SYSTEM#", "#NSID#" + id}; }

// Bucket attribute for limit `name`, field tk|cp|ra|rp|tc.
inline std::string BucketAttr(const std::string& name, const char* field) {
  return store::BucketAttr(name, field);
}
// Config attribute for limit `name`, field cp|ra|rp.
inline std::string ConfigAttr(const std::string& name, const char* field) {
  return "l_" + name + "_" + field;
}

}  // namespace zae::keys

#endif  // ZAE_LIMITER_KEYS_H_

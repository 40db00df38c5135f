// Limit resolution (entity > entity default > resource > system) with a
// per-process TTL cache of config items, negative entries included
// (runtime.md §3.7). All missing slots of one resolution are fetched in one
// BatchGet. Thread-safe; concurrent misses may fetch twice (harmless).
#ifndef ZAE_LIMITER_CONFIG_CACHE_H_
#define ZAE_LIMITER_CONFIG_CACHE_H_

#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "zae/clock.h"
#include "zae/store.h"
#include "zae/types.h"

namespace zae {

class ConfigCache {
 public:
  ConfigCache(Store& store, std::string ns, const Clock& clock, int64_t ttl_seconds);

  ResolvedLimits Resolve(const std::string& entity_id, const std::string& resource);
  // The namespace's stored on_unavailable (system slot), nullopt if unset.
  std::optional<OnUnavailable> SystemOnUnavailable();

  // Drops the slot of one config item (after a local write).
  void Evict(const ItemKey& key);
  void Clear();
  CacheStats Stats() const;

 private:
  struct Slot {
    int64_t expires_ms = 0;
    std::vector<Limit> limits;  // empty: no limits at this level
    std::optional<OnUnavailable> on_unavailable;
  };
  // Returns the slots for `keys`, fetching the missing/expired ones.
  std::vector<Slot> Lookup(const std::vector<ItemKey>& keys);

  Store& store_;
  const std::string ns_;
  const Clock& clock_;
  const int64_t ttl_ms_;
  mutable std::mutex mu_;
  std::map<ItemKey, Slot> slots_;
  int64_t hits_ = 0, misses_ = 0;
};

}  // namespace zae

#endif  // ZAE_LIMITER_CONFIG_CACHE_H_

#include "limiter/config_cache.h"

#include "limiter/codec.h"
#include "limiter/keys.h"
#include "zae/validate.h"

namespace zae {

ConfigCache::ConfigCache(Store& store, std::string ns, const Clock& clock, int64_t ttl_seconds)
    : store_(store), ns_(std::move(ns)), clock_(clock), ttl_ms_(ttl_seconds * 1000) {}

std::vector<ConfigCache::Slot> ConfigCache::Lookup(const std::vector<ItemKey>& keys) {
  const int64_t now = clock_.NowMs();
  std::vector<Slot> out(keys.size());
  std::vector<size_t> missing;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < keys.size(); ++i) {
      auto it = ttl_ms_ > 0 ? slots_.find(keys[i]) : slots_.end();
      if (it != slots_.end() && now <= it->second.expires_ms) {
        out[i] = it->second;
        ++hits_;
      } else {
        missing.push_back(i);
        ++misses_;
      }
    }
  }
  if (missing.empty()) return out;
  std::vector<ItemKey> fetch;
  for (size_t i : missing) fetch.push_back(keys[i]);
  std::vector<std::optional<Item>> items = store_.BatchGet(fetch, false);
  std::lock_guard lock(mu_);
  for (size_t j = 0; j < missing.size(); ++j) {
    Slot slot;
    slot.expires_ms = now + ttl_ms_;
    if (items[j]) {
      slot.limits = codec::DecodeConfigLimits(*items[j]);
      if (auto mode = codec::OptString(*items[j], "on_unavailable")) {
        slot.on_unavailable = ParseOnUnavailable(*mode);
      }
    }
    out[missing[j]] = slot;
    if (ttl_ms_ > 0) slots_[fetch[j]] = std::move(slot);
  }
  return out;
}

ResolvedLimits ConfigCache::Resolve(const std::string& entity_id, const std::string& resource) {
  std::vector<ItemKey> keys;
  std::vector<ConfigSource> sources;
  keys.push_back(keys::EntityConfig(ns_, entity_id, resource));
  sources.push_back(ConfigSource::kEntity);
  if (resource != kDefaultResource) {
    keys.push_back(keys::EntityConfig(ns_, entity_id, std::string(kDefaultResource)));
    sources.push_back(ConfigSource::kEntityDefault);
    keys.push_back(keys::ResourceConfig(ns_, resource));
    sources.push_back(ConfigSource::kResource);
  }
  keys.push_back(keys::SystemConfig(ns_));
  sources.push_back(ConfigSource::kSystem);
  std::vector<Slot> slots = Lookup(keys);
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i].limits.empty()) return {std::move(slots[i].limits), sources[i]};
  }
  return {};
}

std::optional<OnUnavailable> ConfigCache::SystemOnUnavailable() {
  return Lookup({keys::SystemConfig(ns_)})[0].on_unavailable;
}

void ConfigCache::Evict(const ItemKey& key) {
  std::lock_guard lock(mu_);
  slots_.erase(key);
}

void ConfigCache::Clear() {
  std::lock_guard lock(mu_);
  slots_.clear();
}

CacheStats ConfigCache::Stats() const {
  std::lock_guard lock(mu_);
  return {hits_, misses_, static_cast<int64_t>(slots_.size()), ttl_ms_ / 1000};
}

}  // namespace zae

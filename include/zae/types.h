// Small value types shared by the public API. Plain values; thread-compatible.
#ifndef ZAE_TYPES_H_
#define ZAE_TYPES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "zae/limit.h"
#include "zae/store.h"

namespace zae {

// Tokens per limit name, e.g. {{"rpm", 1}, {"tpm", 500}}.
using Amounts = std::map<std::string, int64_t>;

// What acquire does when the store cannot be reached.
enum class OnUnavailable { kBlock, kAllow };
const char* ToString(OnUnavailable v);  // "block" / "allow"
std::optional<OnUnavailable> ParseOnUnavailable(const std::string& s);

// Where resolved limits came from, in precedence order.
enum class ConfigSource { kEntity, kEntityDefault, kResource, kSystem, kOverride };
const char* ToString(ConfigSource v);  // "entity", "entity_default", ...

struct ResolvedLimits {
  std::vector<Limit> limits;  // empty: nothing configured anywhere
  std::optional<ConfigSource> source;
};

struct SystemDefaults {
  std::vector<Limit> limits;
  std::optional<OnUnavailable> on_unavailable;
};

struct Entity {
  std::string id;
  std::string name;
  std::optional<std::string> parent_id;
  bool cascade = false;
  Value::Map metadata;
  std::string created_at;  // YYYY-MM-DDTHH:MM:SSZ
};

struct CreateEntityOptions {
  std::string name;  // empty: the id
  std::optional<std::string> parent_id;
  bool cascade = false;
  Value::Map metadata;
};

struct AuditEvent {
  std::string event_id;  // ULID
  std::string entity_id;
  std::string timestamp;
  std::string action;  // entity_created, entity_deleted, limits_set, limits_deleted
  std::optional<std::string> principal;
  std::optional<std::string> resource;
  Value::Map details;
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;  // empty: no more pages
};

// Usage per (entity, resource, window), in tokens (format.md §2.11).
struct UsageSnapshot {
  std::string entity_id;
  std::string resource;
  std::string window_type;   // hourly, daily
  std::string window_start;  // YYYY-MM-DDTHH:00:00Z
  std::string window_end;    // last second of the window
  std::map<std::string, int64_t> counters;
  int64_t total_events = 0;
};

struct UsageQuery {
  std::optional<std::string> entity_id;  // at least one of entity_id / resource
  std::optional<std::string> resource;
  std::optional<std::string> window_type;
  std::optional<std::string> start;  // inclusive, compared with window_start
  std::optional<std::string> end;    // inclusive
};

struct UsageSummary {
  int64_t snapshot_count = 0;
  std::map<std::string, int64_t> total;
  std::map<std::string, double> average;  // total / snapshot_count
  std::string min_window_start;
  std::string max_window_start;
};

// One entity's share of a resource's limit (RateLimiter::GetResourceCapacity).
// Whole tokens; `available` is after refill and may be negative (debt).
struct EntityCapacity {
  std::string entity_id;
  int64_t capacity = 0;
  int64_t available = 0;
  double utilization_pct = 0;  // (capacity - available) / capacity x 100; 0 when capacity is 0
};

// How much of a limit of a resource is left across its entities' buckets.
struct ResourceCapacity {
  std::string resource;
  std::string limit_name;
  int64_t total_capacity = 0;            // sum of the entities' capacities
  int64_t total_available = 0;           // sum of the entities' available tokens
  double utilization_pct = 0;            // over the totals; 0 when total_capacity is 0
  std::vector<EntityCapacity> entities;  // sorted by entity_id
};

struct CacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t size = 0;
  int64_t ttl_seconds = 0;
};

}  // namespace zae

#endif  // ZAE_TYPES_H_

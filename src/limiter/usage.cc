#include "limiter/usage.h"

#include <cstdint>
#include <ctime>

#include "limiter/codec.h"
#include "limiter/keys.h"
#include "zae/bucket.h"
#include "zae/errors.h"
#include "zae/validate.h"

namespace zae::usage {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "b_{L}_tc" -> L, or nullopt.
std::optional<std::string> TcLimit(const std::string& attr) {
  if (attr.size() <= 5 || attr.compare(0, 2, "b_") != 0 || !EndsWith(attr, "_tc")) {
    return std::nullopt;
  }
  std::string name = attr.substr(2, attr.size() - 5);
  if (name == kWcuLimitName) return std::nullopt;
  return name;
}

// Attributes of a snapshot item that are not counters (format.md §2.11).
bool IsCounter(const std::string& attr) {
  static const char* const kFixed[] = {"PK",     "SK",           "entity_id",    "resource",
                                       "window", "window_start", "total_events", "GSI2PK",
                                       "GSI2SK", "GSI4PK",       "GSI4SK",       "ttl"};
  for (const char* f : kFixed)
    if (attr == f) return false;
  return true;
}

std::string Join(const Item& key) {
  std::string out;
  for (const char* attr : {"PK", "SK", "GSI2PK", "GSI2SK"}) {
    if (!out.empty()) out += '|';
    out += codec::StringOr(key, attr, "");
  }
  return out;
}

Item Split(const std::string& cursor) {
  Item key;
  size_t pos = 0;
  for (const char* attr : {"PK", "SK", "GSI2PK", "GSI2SK"}) {
    const size_t bar = cursor.find('|', pos);
    const std::string part = cursor.substr(pos, bar == std::string::npos ? bar : bar - pos);
    if (!part.empty()) key[attr] = Value(part);
    pos = bar == std::string::npos ? cursor.size() : bar + 1;
  }
  if (!key.count("PK") || !key.count("SK")) {
    throw ValidationError("cursor", cursor, "not a cursor returned by a usage listing");
  }
  return key;
}

UsageSnapshot Decode(const Item& item) {
  UsageSnapshot s;
  s.entity_id = codec::StringOr(item, "entity_id", "");
  s.resource = codec::StringOr(item, "resource", "");
  s.window_type = codec::StringOr(item, "window", "");
  s.window_start = codec::StringOr(item, "window_start", "");
  s.window_end = WindowEnd(s.window_type, s.window_start);
  for (const auto& [attr, value] : item) {
    if (attr == "total_events" && value.is_number()) s.total_events = value.as_number();
    if (IsCounter(attr) && value.is_number()) s.counters[attr] = value.as_number();
  }
  return s;
}

bool Matches(const UsageSnapshot& s, const UsageQuery& q) {
  if (q.window_type && s.window_type != *q.window_type) return false;
  if (q.resource && s.resource != *q.resource) return false;
  if (q.entity_id && s.entity_id != *q.entity_id) return false;
  if (q.start && s.window_start < *q.start) return false;
  if (q.end && s.window_start > *q.end) return false;
  return true;
}

QueryRequest BaseQuery(const std::string& ns, const UsageQuery& q) {
  if (!q.entity_id && !q.resource) {
    throw ValidationError("usage", "", "give an entity_id, a resource, or both");
  }
  if (q.entity_id) ValidateIdentifier(*q.entity_id);
  if (q.resource) ValidateResource(*q.resource);
  if (q.window_type && *q.window_type != "hourly" && *q.window_type != "daily" &&
      *q.window_type != "monthly") {
    throw ValidationError("window", *q.window_type, "must be hourly, daily or monthly");
  }
  QueryRequest req;
  req.forward = false;
  if (q.entity_id) {
    req.hash = keys::EntityPk(ns, *q.entity_id);
    req.sort_prefix = q.resource ? "#USAGE#" + *q.resource + "#" : "#USAGE#";
  } else {
    req.index = Index::kGsi2;
    req.hash = keys::ResourcePk(ns, *q.resource);
    req.sort_prefix = "USAGE#";
  }
  return req;
}

}  // namespace

std::optional<BucketPk> ParseBucketPk(const std::string& pk) {
  const size_t slash = pk.find('/');
  if (slash == std::string::npos || pk.compare(slash + 1, 7, "BUCKET#") != 0) return std::nullopt;
  const size_t start = slash + 8;
  const size_t first = pk.find('#', start);
  const size_t last = pk.rfind('#');
  if (first == std::string::npos || last <= first) return std::nullopt;
  BucketPk out{pk.substr(0, slash), pk.substr(start, first - start),
               pk.substr(first + 1, last - first - 1), 0};
  try {
    out.shard = std::stoi(pk.substr(last + 1));
  } catch (...) {
    return std::nullopt;
  }
  return out;
}

std::map<std::string, int64_t> TcDeltas(const WriteOp& op) {
  std::map<std::string, int64_t> out;
  if (const auto* u = std::get_if<Update>(&op)) {
    for (const auto& [attr, delta] : u->add) {
      if (auto name = TcLimit(attr)) out[*name] = SaturatingAdd(out[*name], delta);
    }
  } else if (const auto* p = std::get_if<Put>(&op)) {
    for (const auto& [attr, value] : p->item) {
      if (auto name = TcLimit(attr); name && value.is_number()) out[*name] = value.as_number();
    }
  }
  return out;
}

std::string WindowKey(const std::string& window, int64_t epoch_ms) {
  // Every bucket write asks for these; gmtime_r takes glibc's timezone lock,
  // so format each hour once per thread.
  struct Keys {
    int64_t hour = INT64_MIN;
    std::string hourly, daily, monthly;
  };
  thread_local Keys keys;
  const int64_t hour = FloorDiv(epoch_ms, 3'600'000);
  if (hour != keys.hour) {
    const std::time_t t = static_cast<std::time_t>(hour * 3600);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:00:00Z", &tm);
    keys.hourly = buf;
    std::strftime(buf, sizeof buf, "%Y-%m-%dT00:00:00Z", &tm);
    keys.daily = buf;
    std::strftime(buf, sizeof buf, "%Y-%m-01T00:00:00Z", &tm);
    keys.monthly = buf;
    keys.hour = hour;
  }
  if (window == "hourly") return keys.hourly;
  if (window == "daily") return keys.daily;
  return keys.monthly;
}

std::string WindowEnd(const std::string& window, const std::string& start) {
  if (start.size() < 20) return "";
  if (window == "hourly") return start.substr(0, 14) + "59:59Z";
  if (window == "daily") return start.substr(0, 11) + "23:59:59Z";
  // monthly: the last second of the month
  const int year = std::stoi(start.substr(0, 4));
  const int month = std::stoi(start.substr(5, 2));
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int days = kDays[(month - 1) % 12];
  if (month == 2 && (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))) days = 29;
  return start.substr(0, 8) + std::to_string(days) + "T23:59:59Z";
}

std::vector<Update> SnapshotUpdates(const std::string& ns, const std::string& entity,
                                    const std::string& resource,
                                    const std::map<std::string, int64_t>& tc_delta_milli,
                                    int64_t events, int64_t event_ms,
                                    const std::vector<std::string>& windows) {
  std::vector<Update> out;
  std::vector<std::pair<std::string, int64_t>> counters;
  for (const auto& [name, milli] : tc_delta_milli) {
    const int64_t tokens = FloorDiv(milli, 1000);
    if (tokens != 0) counters.emplace_back(name, tokens);
  }
  if (counters.empty() && events == 0) return out;
  const std::string pk = keys::EntityPk(ns, entity);
  for (const std::string& window : windows) {
    const std::string key = WindowKey(window, event_ms);
    Update u;
    // The reference's daily key equals the hourly key of 00:00 (and monthly
    // that of day 01), so both windows would land in one item; ours keep the
    // hourly key and suffix the others. Readers use the attributes.
    u.key = {pk, "#USAGE#" + resource + "#" + key + (window == "hourly" ? "" : "#" + window)};
    u.set = {{"entity_id", Value(entity)},
             {"GSI2PK", Value(keys::ResourcePk(ns, resource))},
             {"GSI2SK", Value("USAGE#" + key + "#" + entity)}};
    u.set_if_not_exists = {{"resource", Value(resource)},
                           {"window", Value(window)},
                           {"window_start", Value(key)},
                           {"GSI4PK", Value(ns)},
                           {"GSI4SK", Value(pk)},
                           {"ttl", Value(FloorDiv(event_ms, 1000) + kSnapshotTtlDays * 86400)}};
    u.add = counters;
    if (events != 0) u.add.emplace_back("total_events", events);
    out.push_back(std::move(u));
  }
  return out;
}

Page<UsageSnapshot> ReadSnapshots(Store& store, const std::string& ns, const UsageQuery& query,
                                  int limit, const std::string& cursor) {
  if (limit <= 0) throw ValidationError("limit", std::to_string(limit), "must be positive");
  QueryRequest req = BaseQuery(ns, query);
  if (!cursor.empty()) req.start_after = Split(cursor);
  Page<UsageSnapshot> out;
  // Filters apply after the read, so keep reading until the page is full.
  while (out.items.size() < static_cast<size_t>(limit)) {
    req.limit = limit - static_cast<int>(out.items.size());
    QueryPage page = store.Query(req);
    for (const Item& item : page.items) {
      UsageSnapshot s = Decode(item);
      if (Matches(s, query)) out.items.push_back(std::move(s));
      out.next_cursor = Join(item);
    }
    if (!page.last_evaluated) {
      out.next_cursor.clear();
      break;
    }
    req.start_after = std::move(page.last_evaluated);
  }
  return out;
}

UsageSummary Summarize(Store& store, const std::string& ns, const UsageQuery& query) {
  UsageSummary out;
  std::string cursor;
  do {
    Page<UsageSnapshot> page = ReadSnapshots(store, ns, query, 1000, cursor);
    for (const UsageSnapshot& s : page.items) {
      ++out.snapshot_count;
      for (const auto& [name, v] : s.counters) out.total[name] = SaturatingAdd(out.total[name], v);
      if (out.min_window_start.empty() || s.window_start < out.min_window_start) {
        out.min_window_start = s.window_start;
      }
      if (s.window_start > out.max_window_start) out.max_window_start = s.window_start;
    }
    cursor = page.next_cursor;
  } while (!cursor.empty());
  for (const auto& [name, total] : out.total) {
    out.average[name] = static_cast<double>(total) / static_cast<double>(out.snapshot_count);
  }
  return out;
}

}  // namespace zae::usage

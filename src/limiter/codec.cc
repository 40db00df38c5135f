#include "limiter/codec.h"

#include <ctime>
#include <mutex>
#include <random>

#include "limiter/keys.h"
#include "zae/errors.h"

namespace zae::codec {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int64_t NumberOr(const Item& item, const std::string& attr, int64_t fallback) {
  auto it = item.find(attr);
  return it == item.end() ? fallback : it->second.as_number();
}

}  // namespace

BucketItem DecodeBucket(const Item& item) {
  BucketItem out;
  auto rf = item.find("rf");
  if (rf != item.end()) {
    out.rf = rf->second.as_number();
    out.has_rf = true;
  }
  for (const auto& [attr, value] : item) {
    // b_{name}_tk: the name may itself contain '_'.
    if (attr.size() <= 5 || attr.compare(0, 2, "b_") != 0 || !EndsWith(attr, "_tk")) continue;
    const std::string name = attr.substr(2, attr.size() - 5);
    BucketState s;
    s.tokens_milli = value.as_number();
    s.last_refill_ms = out.rf;
    s.capacity_milli = NumberOr(item, keys::BucketAttr(name, "cp"), 0);
    s.refill_amount_milli = NumberOr(item, keys::BucketAttr(name, "ra"), 0);
    s.refill_period_ms = NumberOr(item, keys::BucketAttr(name, "rp"), 0);
    auto tc = item.find(keys::BucketAttr(name, "tc"));
    if (tc != item.end()) s.total_consumed_milli = tc->second.as_number();
    out.limits.emplace(name, s);
  }
  auto cascade = item.find("cascade");
  out.cascade = cascade != item.end() && cascade->second.type() == Value::Type::kBool &&
                cascade->second.as_bool();
  out.parent_id = OptString(item, "parent_id");
  out.shard_count = std::max<int64_t>(1, NumberOr(item, "shard_count", 1));
  return out;
}

std::vector<Limit> DecodeConfigLimits(const Item& item) {
  std::vector<Limit> out;
  for (const auto& [attr, value] : item) {
    if (attr.size() <= 5 || attr.compare(0, 2, "l_") != 0 || !EndsWith(attr, "_cp")) continue;
    Limit l;
    l.name = attr.substr(2, attr.size() - 5);
    l.capacity = value.as_number();
    l.refill_amount = NumberOr(item, keys::ConfigAttr(l.name, "ra"), 0);
    l.refill_period_seconds = NumberOr(item, keys::ConfigAttr(l.name, "rp"), 0);
    try {
      ValidateLimit(l);
    } catch (const ValidationError& e) {
      throw StoreError("corrupt limit '" + l.name + "' in config item " + KeyOf(item).pk + " " +
                       KeyOf(item).sk + ": " + e.what());
    }
    out.push_back(std::move(l));
  }
  return out;
}

void EncodeConfigLimits(const std::vector<Limit>& limits, Item& item) {
  for (const Limit& l : limits) {
    item[keys::ConfigAttr(l.name, "cp")] = Value(l.capacity);
    item[keys::ConfigAttr(l.name, "ra")] = Value(l.refill_amount);
    item[keys::ConfigAttr(l.name, "rp")] = Value(l.refill_period_seconds);
  }
}

Entity DecodeEntity(const Item& item) {
  Entity e;
  e.id = StringOr(item, "entity_id", "");
  e.name = StringOr(item, "name", e.id);
  e.parent_id = OptString(item, "parent_id");
  auto cascade = item.find("cascade");
  e.cascade = cascade != item.end() && cascade->second.type() == Value::Type::kBool &&
              cascade->second.as_bool();
  auto md = item.find("metadata");
  if (md != item.end() && md->second.type() == Value::Type::kMap) e.metadata = md->second.as_map();
  e.created_at = StringOr(item, "created_at", "");
  return e;
}

Value LimitsAsList(const std::vector<Limit>& limits) {
  Value::List list;
  for (const Limit& l : limits) {
    list.push_back(Value(Value::Map{{"name", Value(l.name)},
                                    {"capacity", Value(l.capacity)},
                                    {"refill_amount", Value(l.refill_amount)},
                                    {"refill_period_seconds", Value(l.refill_period_seconds)}}));
  }
  return Value(std::move(list));
}

std::string IsoSeconds(int64_t epoch_ms) {
  const std::time_t t = static_cast<std::time_t>(FloorDiv(epoch_ms, 1000));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string NewUlid(int64_t epoch_ms) {
  static const char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  // Monotonic within the process: events written in one millisecond still
  // list in the order they happened (newest first by SK).
  static std::mutex mu;
  static uint64_t last_ms = 0, hi = 0, lo = 0;  // 80 random bits = 16 + 64
  uint64_t ms = static_cast<uint64_t>(epoch_ms) & ((uint64_t{1} << 48) - 1);
  uint64_t r_hi, r_lo;
  {
    std::lock_guard lock(mu);
    if (ms <= last_ms) {
      ms = last_ms;
      if (++lo == 0) hi = (hi + 1) & 0xFFFF;
    } else {
      static std::mt19937_64 rng{std::random_device{}()};
      last_ms = ms;
      hi = rng() & 0xFFFF;
      lo = rng() >> 1;  // headroom so increments rarely carry
    }
    r_hi = hi;
    r_lo = lo;
  }
  std::string out(26, '0');
  for (int i = 9; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kAlphabet[ms & 31];
    ms >>= 5;
  }
  // 80 bits -> 16 characters: the low 64 bits, then the high 16.
  for (int i = 25; i >= 10; --i) {
    out[static_cast<size_t>(i)] = kAlphabet[r_lo & 31];
    r_lo = (r_lo >> 5) | ((r_hi & 31) << 59);
    r_hi >>= 5;
  }
  return out;
}

std::optional<std::string> OptString(const Item& item, const std::string& attr) {
  auto it = item.find(attr);
  if (it == item.end() || !it->second.is_string()) return std::nullopt;
  return it->second.as_string();
}

std::string StringOr(const Item& item, const std::string& attr, const std::string& fallback) {
  return OptString(item, attr).value_or(fallback);
}

}  // namespace zae::codec

// Encoding of limiter records as Store items (format.md §2.2-§2.10) and back.
// Pure functions; thread-safe. Decoders throw StoreError on corrupt items.
#ifndef ZAE_LIMITER_CODEC_H_
#define ZAE_LIMITER_CODEC_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "zae/bucket.h"
#include "zae/limit.h"
#include "zae/store.h"
#include "zae/types.h"

namespace zae::codec {

// The hidden write-capacity limit injected into every bucket (format.md §2.3).
inline constexpr int64_t kWcuMilli = 1'000'000;
inline constexpr int64_t kWcuPeriodMs = 1000;

struct BucketItem {
  std::map<std::string, BucketState> limits;  // includes "wcu" when present
  int64_t rf = 0;
  bool has_rf = false;
  bool cascade = false;
  std::optional<std::string> parent_id;
  int64_t shard_count = 1;
};

BucketItem DecodeBucket(const Item& item);

// Limits stored on a config item (l_{name}_cp/ra/rp). Throws StoreError when
// an attribute set does not form a valid Limit.
std::vector<Limit> DecodeConfigLimits(const Item& item);
void EncodeConfigLimits(const std::vector<Limit>& limits, Item& item);

Entity DecodeEntity(const Item& item);

// [{name, capacity, refill_amount, refill_period_seconds}] for audit details.
Value LimitsAsList(const std::vector<Limit>& limits);

// "YYYY-MM-DDTHH:MM:SSZ" (UTC) of an epoch-milliseconds time.
std::string IsoSeconds(int64_t epoch_ms);
// A new ULID (26 characters, Crockford base32) for `epoch_ms`.
std::string NewUlid(int64_t epoch_ms);

// Optional string attribute (absent or NULL -> nullopt).
std::optional<std::string> OptString(const Item& item, const std::string& attr);
std::string StringOr(const Item& item, const std::string& attr, const std::string& fallback);

}  // namespace zae::codec

#endif  // ZAE_LIMITER_CODEC_H_

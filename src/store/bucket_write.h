// The one definition of what a typed BucketWrite (include/zae/store.h) means
// on a bucket item: the attribute names it touches, its condition, and the
// Update it is equivalent to. The embedded backends apply it natively with
// the helpers below; every other backend runs BucketWriteAsUpdate.
// Pure functions; thread-safe.
#ifndef ZAE_STORE_BUCKET_WRITE_H_
#define ZAE_STORE_BUCKET_WRITE_H_

#include <string>
#include <string_view>

#include "zae/bucket.h"
#include "zae/store.h"

namespace zae::store {

// Usage snapshot attribute counting requests (format.md §2.11).
inline constexpr std::string_view kTotalEventsAttr = "total_events";

// "b_{limit}_{field}" (format.md §2.3): the only place that spells it.
std::string BucketAttr(std::string_view limit, std::string_view field);
// True when `attr` is b_{limit}_{field}; compares without building a string.
bool IsBucketAttr(std::string_view attr, std::string_view limit, std::string_view field);

// The whole tokens a limit's delta adds to its usage counter (0: none).
inline int64_t UsageTokens(const BucketLimitDelta& d) {
  return d.count_usage ? FloorDiv(d.consume_milli, 1000) : 0;
}

// The condition of `w` on typed numbers: `exists`, the item's ttl (nullptr:
// absent or not a number) and, per limit of w, its stored tk (nullptr:
// absent or not a number).
bool BucketWriteHolds(const BucketWrite& w, bool exists, const int64_t* ttl,
                      const int64_t* const* tk);

// Throws ValidationError for null pointers with non-zero counts and, with
// `usage_keys`, for two of its items with one key (as Transact refuses).
void ValidateBucketWrite(const BucketWrite& w, bool usage_keys);

// The Update `w` is equivalent to (bucket item only): per limit, ADD -m to
// tk and +m to tc (m != 0), the guards, attribute_exists(PK) and the ttl
// check; return_new / return_old_on_failure when `w.views` asks for them.
Update BucketWriteAsUpdate(const BucketWrite& w);
// The ADD of usage window `i` of `w`: its template plus the counters.
Update UsageWindowUpdate(const BucketWrite& w, size_t i);
// Fills w.views, w.rf and w.shard_count from a bucket item (nullptr: none).
void ReadBucketOutputs(BucketWrite& w, const Item* item);

}  // namespace zae::store

#endif  // ZAE_STORE_BUCKET_WRITE_H_

// Usage snapshots (format.md §2.11): the one definition of how a bucket's
// tc deltas become snapshot updates, used both inline by the limiter on the
// embedded stores and by the stream aggregator for DynamoDB.
#ifndef ZAE_LIMITER_USAGE_H_
#define ZAE_LIMITER_USAGE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "zae/store.h"
#include "zae/types.h"

namespace zae::usage {

inline constexpr int64_t kSnapshotTtlDays = 90;
inline const std::vector<std::string>& DefaultWindows() {
  static const std::vector<std::string> w = {"hourly", "daily"};
  return w;
}

struct BucketPk {
  std::string ns, entity, resource;
  int shard = 0;
};
// Parses "{ns}/BUCKET#{entity}#{resource}#{shard}"; nullopt for other keys.
std::optional<BucketPk> ParseBucketPk(const std::string& pk);

// Net consumption (milli) per app limit that a bucket write records, read
// from its b_{L}_tc ADDs (Update) or values (Put); wcu excluded.
std::map<std::string, int64_t> TcDeltas(const WriteOp& op);

// "YYYY-MM-DDTHH:00:00Z" (hourly) or "YYYY-MM-DDT00:00:00Z" (daily).
std::string WindowKey(const std::string& window, int64_t epoch_ms);
std::string WindowEnd(const std::string& window, const std::string& window_start);

// The snapshot upserts for one bucket's deltas at `event_ms`: one Update per
// window; none when there is nothing to record.
std::vector<Update> SnapshotUpdates(const std::string& ns, const std::string& entity,
                                    const std::string& resource,
                                    const std::map<std::string, int64_t>& tc_delta_milli,
                                    int64_t events, int64_t event_ms,
                                    const std::vector<std::string>& windows = DefaultWindows());

Page<UsageSnapshot> ReadSnapshots(Store& store, const std::string& ns, const UsageQuery& query,
                                  int limit, const std::string& cursor);
UsageSummary Summarize(Store& store, const std::string& ns, const UsageQuery& query);

}  // namespace zae::usage

#endif  // ZAE_LIMITER_USAGE_H_

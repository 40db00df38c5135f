// Aggregator: the DynamoDB Streams consumer that turns bucket writes into
// usage snapshots (format.md §2.11, §6) exactly once. docs/usage.md has the
// design; in short:
//   - every stream of the table (ListStreams) and every shard of it
//     (DescribeStream, paginated) is read, a parent shard before its
//     children, closed shards to their end;
//   - each INSERT/MODIFY of a bucket item (`{ns}/BUCKET#...`, SK `#STATE`)
//     yields, per app limit, tc delta = new b_{L}_tc - old (old = 0 for an
//     INSERT), booked at the record's ApproximateCreationDateTime through
//     usage::SnapshotUpdates;
//   - the snapshot ADDs of a batch of records and the advance of the shard's
//     checkpoint item (PK `_/AGGREGATOR#{table}`, SK `#SHARD#{shard_id}`,
//     `sequence_number` = last record applied) are one TransactWriteItems,
//     conditioned on the checkpoint still holding the sequence number the
//     batch started after. A crash before the commit applies nothing; a
//     replay of a committed batch fails the condition and is skipped.
//
// Thread safety: an Aggregator is used by one thread. Several aggregators on
// one table are safe (the checkpoint condition serialises them) but wasteful.
// Errors: StoreError (aws::Error) for infrastructure failures.
#ifndef ZAE_AGGREGATOR_AGGREGATOR_H_
#define ZAE_AGGREGATOR_AGGREGATOR_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "zae/clock.h"
#include "zae/store.h"

namespace zae {

namespace aws {
class DynamoClient;
}

struct AggregatorOptions {
  std::string table;     // required
  std::string region;    // empty: AWS_REGION / profile / us-east-1 with an endpoint
  std::string endpoint;  // empty: the regional endpoint (or AWS_ENDPOINT_URL*)
  // Static credentials; empty: the default chain.
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  // Snapshot windows: any of hourly, daily, monthly.
  std::vector<std::string> windows = {"hourly", "daily"};
  bool once = false;                // Run(): drain every shard once and return
  int64_t poll_interval_ms = 1000;  // Run() without once: pause between passes
  int64_t retention_days = 90;      // snapshot ttl = event time + retention
  // Operations per TransactWriteItems, the checkpoint included (2..100).
  int max_transaction_ops = 100;
  int get_records_limit = 1000;  // records per GetRecords (1..1000)
  const Clock* clock = nullptr;  // nullptr = SystemClock::Default()
  // One line per committed batch and per shard finished; nullptr = silent.
  std::function<void(const std::string&)> progress;
  // Run() (follow mode) returns after the pass in which this returns true.
  std::function<bool()> stop;
};

struct AggregatorStats {
  int64_t records = 0;            // stream records read
  int64_t bucket_records = 0;     // of which bucket INSERT/MODIFY with a tc change
  int64_t snapshots_updated = 0;  // snapshot UpdateItems committed
  int64_t transactions = 0;       // TransactWriteItems committed
  int64_t replays_skipped = 0;    // batches already committed (checkpoint moved)
  int64_t shards = 0;             // shards visited
  AggregatorStats& operator+=(const AggregatorStats& o);
};

class Aggregator {
 public:
  // Throws ValidationError for bad options, StoreError when the client
  // cannot be configured. No network call.
  explicit Aggregator(AggregatorOptions options);
  ~Aggregator();
  Aggregator(const Aggregator&) = delete;
  Aggregator& operator=(const Aggregator&) = delete;

  // One pass: every shard of every stream of the table read to its current
  // end (closed shards to the end, open shards until a read returns nothing).
  AggregatorStats RunOnce();
  // once: RunOnce(). Otherwise passes every poll_interval_ms until stop().
  AggregatorStats Run();

  // The checkpoint item of a shard (docs/usage.md).
  static ItemKey CheckpointKey(const std::string& table, const std::string& shard_id);

 private:
  AggregatorStats ProcessStream(const std::string& stream_arn);
  AggregatorStats ProcessShard(const std::string& stream_arn, const std::string& shard_id,
                               bool closed);
  void Progress(const std::string& line) const;

  AggregatorOptions options_;
  const Clock* clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<aws::DynamoClient> client_;
  // Shards drained to their end (closed), by id; and how far each open shard
  // was read (sequence number, possibly past the durable checkpoint when the
  // tail held no bucket records).
  std::set<std::string> finished_;
  std::map<std::string, std::string> read_position_;
};

// `zae-limiter aggregate`: runs the aggregator with `options`, printing
// progress to `out` and errors to `err`. Returns the exit code (0 ok,
// 1 store/network failure, 2 bad options). When options.stop is empty the
// follow mode runs until SIGINT/SIGTERM.
int RunAggregateCommand(AggregatorOptions options, std::ostream& out, std::ostream& err);

}  // namespace zae

#endif  // ZAE_AGGREGATOR_AGGREGATOR_H_

#include "aggregator/aggregator.h"

#include <atomic>
#include <climits>
#include <cmath>
#include <csignal>
#include <functional>
#include <ostream>
#include <utility>

#include "aws/client.h"
#include "aws/errors.h"
#include "limiter/usage.h"
#include "zae/bucket.h"
#include "zae/dynamodb_store.h"
#include "zae/errors.h"

namespace zae {
namespace {

constexpr int64_t kClosedCheckpointTtlDays = 7;

// Stream sequence numbers are decimal strings of varying length.
bool SeqLess(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

// The integer N attributes of a stream image as a store Item (enough for
// usage::TcDeltas, which reads the b_{L}_tc numbers).
Item Numbers(const aws::Item& image) {
  Item out;
  for (const auto& [name, value] : image) {
    if (value.type() != aws::AttributeValue::Type::kN) continue;
    try {
      out.emplace(name, Value(value.as_int64()));
    } catch (const aws::TypeMismatch&) {
      // not an integer: not a counter we understand
    }
  }
  return out;
}

std::map<std::string, int64_t> TcOf(const aws::Item& image) {
  return usage::TcDeltas(WriteOp(Put{Numbers(image), Condition(), false}));
}

std::string StringAttr(const aws::Item& image, const std::string& name) {
  auto it = image.find(name);
  if (it == image.end() || it->second.type() != aws::AttributeValue::Type::kS) return "";
  return it->second.s();
}

// The snapshot updates one stream record contributes (none for records that
// are not a bucket INSERT/MODIFY with a tc change). See docs/usage.md.
std::vector<Update> RecordUpdates(const aws::StreamRecord& r, const AggregatorOptions& o,
                                  bool* is_bucket) {
  *is_bucket = false;
  if (r.event_name != "INSERT" && r.event_name != "MODIFY") return {};
  if (!r.new_image) return {};
  const aws::Item& keys = r.keys.empty() ? *r.new_image : r.keys;
  if (StringAttr(keys, "SK") != "#STATE") return {};
  auto pk = usage::ParseBucketPk(StringAttr(keys, "PK"));
  if (!pk) return {};
  const std::map<std::string, int64_t> now_tc = TcOf(*r.new_image);
  std::map<std::string, int64_t> before;
  if (r.event_name == "MODIFY" && r.old_image) before = TcOf(*r.old_image);
  std::map<std::string, int64_t> deltas;
  bool any_positive = false, any_negative = false;
  for (const auto& [limit, tc] : now_tc) {
    auto it = before.find(limit);
    const int64_t old_tc = it == before.end() ? 0 : it->second;
    // tc is a running sum; saturate rather than overflow on absurd values.
    const int64_t delta = old_tc == INT64_MIN ? tc : SaturatingAdd(tc, -old_tc);
    if (delta == 0) continue;
    deltas[limit] = delta;
    (delta > 0 ? any_positive : any_negative) = true;
  }
  if (deltas.empty()) return {};
  *is_bucket = true;
  // total_events: +1 for a record that consumes (an acquire, a positive
  // adjust), -1 for one that only refunds (a rollback, a negative adjust).
  const int64_t events = any_positive ? 1 : (any_negative ? -1 : 0);
  const auto event_ms =
      static_cast<int64_t>(std::llround(r.approximate_creation_date_time * 1000.0));
  std::vector<Update> out =
      usage::SnapshotUpdates(pk->ns, pk->entity, pk->resource, deltas, events, event_ms, o.windows);
  const int64_t ttl = event_ms / 1000 + o.retention_days * 86400;
  for (Update& u : out) {
    for (auto& [attr, value] : u.set_if_not_exists) {
      if (attr == "ttl") value = Value(ttl);
    }
  }
  return out;
}

// Adds `u`'s ADDs into `into` (same key; the SETs are the same by construction
// except the first record's ttl, which if_not_exists keeps anyway).
void Merge(Update& into, const Update& u) {
  for (const auto& [attr, delta] : u.add) {
    bool found = false;
    for (auto& [a, d] : into.add) {
      if (a == attr) {
        d = SaturatingAdd(d, delta);
        found = true;
        break;
      }
    }
    if (!found) into.add.emplace_back(attr, delta);
  }
}

void ValidateOptions(const AggregatorOptions& o) {
  if (o.table.empty()) throw ValidationError("table", "", "a table name is required");
  if (o.windows.empty()) throw ValidationError("window", "", "at least one window is required");
  for (const std::string& w : o.windows) {
    if (w != "hourly" && w != "daily" && w != "monthly") {
      throw ValidationError("window", w, "must be hourly, daily or monthly");
    }
  }
  if (o.retention_days < 1 || o.retention_days > 3650) {
    throw ValidationError("retention_days", std::to_string(o.retention_days),
                          "must be between 1 and 3650");
  }
  if (o.max_transaction_ops < 2 || o.max_transaction_ops > 100) {
    throw ValidationError("max_transaction_ops", std::to_string(o.max_transaction_ops),
                          "must be between 2 and 100");
  }
  if (o.get_records_limit < 1 || o.get_records_limit > 1000) {
    throw ValidationError("get_records_limit", std::to_string(o.get_records_limit),
                          "must be between 1 and 1000");
  }
  if (o.poll_interval_ms < 0) {
    throw ValidationError("poll_interval_ms", std::to_string(o.poll_interval_ms),
                          "must not be negative");
  }
}

}  // namespace

AggregatorStats& AggregatorStats::operator+=(const AggregatorStats& o) {
  records += o.records;
  bucket_records += o.bucket_records;
  snapshots_updated += o.snapshots_updated;
  transactions += o.transactions;
  replays_skipped += o.replays_skipped;
  shards += o.shards;
  return *this;
}

ItemKey Aggregator::CheckpointKey(const std::string& table, const std::string& shard_id) {
  return {"_/AGGREGATOR#" + table, "#SHARD#" + shard_id};
}

Aggregator::Aggregator(AggregatorOptions options) : options_(std::move(options)) {
  ValidateOptions(options_);
  clock_ = options_.clock ? options_.clock : SystemClock::Default();
  DynamoDbOptions so;
  so.table = options_.table;
  so.region = options_.region;
  so.endpoint = options_.endpoint;
  so.access_key_id = options_.access_key_id;
  so.secret_access_key = options_.secret_access_key;
  so.session_token = options_.session_token;
  store_ = std::make_unique<DynamoDbStore>(std::move(so));
  client_ = std::make_unique<aws::DynamoClient>(
      aws::ClientConfig::For(options_.endpoint, options_.region, options_.access_key_id,
                             options_.secret_access_key, options_.session_token));
}

Aggregator::~Aggregator() = default;

void Aggregator::Progress(const std::string& line) const {
  if (options_.progress) options_.progress(line);
}

AggregatorStats Aggregator::Run() {
  if (options_.once) return RunOnce();
  AggregatorStats total;
  for (;;) {
    try {
      total += RunOnce();
    } catch (const StoreError& e) {
      // Nothing is half-applied (each batch is one transaction): retry the
      // pass from the checkpoints.
      Progress(std::string("error (retrying): ") + e.what());
    }
    if (options_.stop && options_.stop()) return total;
    clock_->SleepMs(options_.poll_interval_ms);
    if (options_.stop && options_.stop()) return total;
  }
}

AggregatorStats Aggregator::RunOnce() {
  std::vector<std::string> arns;
  aws::ListStreamsRequest req;
  req.table_name = options_.table;
  for (;;) {
    aws::ListStreamsResponse resp = client_->ListStreams(req);
    for (const auto& s : resp.streams) arns.push_back(s.stream_arn);
    if (resp.last_evaluated_stream_arn.empty()) break;
    req.exclusive_start_stream_arn = resp.last_evaluated_stream_arn;
  }
  if (arns.empty()) {
    throw StoreError("table " + options_.table +
                     " has no stream (provision it with a NEW_AND_OLD_IMAGES stream)");
  }
  AggregatorStats stats;
  for (const std::string& arn : arns) stats += ProcessStream(arn);
  return stats;
}

AggregatorStats Aggregator::ProcessStream(const std::string& stream_arn) {
  std::vector<aws::Shard> shards;
  aws::DescribeStreamRequest req;
  req.stream_arn = stream_arn;
  for (;;) {
    aws::DescribeStreamResponse resp = client_->DescribeStream(req);
    for (auto& s : resp.shards) shards.push_back(std::move(s));
    if (resp.last_evaluated_shard_id.empty()) break;
    req.exclusive_start_shard_id = resp.last_evaluated_shard_id;
  }
  // Parents before children: a depth-first walk up the lineage.
  std::map<std::string, const aws::Shard*> by_id;
  for (const auto& s : shards) by_id[s.shard_id] = &s;
  std::vector<const aws::Shard*> order;
  std::set<std::string> placed;
  std::function<void(const aws::Shard*)> place = [&](const aws::Shard* s) {
    if (!placed.insert(s->shard_id).second) return;
    auto parent = by_id.find(s->parent_shard_id);
    if (parent != by_id.end()) place(parent->second);
    order.push_back(s);
  };
  for (const auto& s : shards) place(&s);

  AggregatorStats stats;
  for (const aws::Shard* s : order) {
    // A child waits until its parent (when still listed) is drained, so a
    // key's records are applied in order across a split.
    if (by_id.count(s->parent_shard_id) && !finished_.count(s->parent_shard_id)) continue;
    stats += ProcessShard(stream_arn, s->shard_id, !s->ending_sequence_number.empty());
  }
  return stats;
}

AggregatorStats Aggregator::ProcessShard(const std::string& stream_arn, const std::string& shard_id,
                                         bool closed) {
  AggregatorStats stats;
  if (finished_.count(shard_id)) return stats;
  ++stats.shards;
  const ItemKey ck = CheckpointKey(options_.table, shard_id);

restart:
  // The durable position: every record up to `durable` is applied.
  std::string durable;
  if (auto item = store_->Get(ck, /*consistent=*/true)) {
    auto seq = item->find("sequence_number");
    if (seq != item->end() && seq->second.is_string()) durable = seq->second.as_string();
    auto c = item->find("closed");
    if (c != item->end() && c->second.type() == Value::Type::kBool && c->second.as_bool()) {
      finished_.insert(shard_id);
      return stats;
    }
  }
  // Where to read from: past the durable checkpoint, or further when this
  // process already read (and ignored) records beyond it.
  std::string position = durable;
  if (auto it = read_position_.find(shard_id);
      it != read_position_.end() && SeqLess(position, it->second)) {
    position = it->second;
  }

  auto iterator_at = [&](const std::string& after) {
    aws::GetShardIteratorRequest r;
    r.stream_arn = stream_arn;
    r.shard_id = shard_id;
    if (!after.empty()) {
      r.shard_iterator_type = "AFTER_SEQUENCE_NUMBER";
      r.sequence_number = after;
    }
    try {
      return client_->GetShardIterator(r).shard_iterator;
    } catch (const aws::ExpiredIterator& e) {
      if (after.empty()) throw;
      // The checkpoint's records were trimmed (older than 24 h): what is
      // left starts at the trim horizon.
      Progress("shard " + shard_id + ": position trimmed, reading from TRIM_HORIZON (" + e.what() +
               ")");
      r.shard_iterator_type = "TRIM_HORIZON";
      r.sequence_number.clear();
      return client_->GetShardIterator(r).shard_iterator;
    }
  };

  // A batch: merged snapshot updates by key, and the last sequence number
  // they cover (records without updates are covered too).
  std::map<ItemKey, Update> pending;
  std::string pending_last;

  // Commits `pending` with the checkpoint advance. False when the checkpoint
  // moved under us (a replay): the caller restarts from the stored one.
  auto commit = [&](bool mark_closed) -> bool {
    std::vector<WriteOp> ops;
    for (auto& [key, u] : pending) ops.emplace_back(u);
    Update cp;
    cp.key = ck;
    cp.set = {{"stream_arn", Value(stream_arn)},
              {"shard_id", Value(shard_id)},
              {"updated_at", Value(clock_->NowMs())}};
    if (!pending_last.empty()) cp.set.emplace_back("sequence_number", Value(pending_last));
    if (mark_closed) {
      cp.set.emplace_back("closed", Value(true));
      cp.set.emplace_back("ttl", Value(clock_->NowMs() / 1000 + kClosedCheckpointTtlDays * 86400));
    }
    if (durable.empty()) {
      cp.condition.NotExists("sequence_number");
    } else {
      cp.condition.Compare("sequence_number", Predicate::Op::kEq, Value(durable));
    }
    ops.emplace_back(std::move(cp));
    const TransactResult t = store_->Transact(ops);
    if (!t.ok) {
      ++stats.replays_skipped;
      Progress("shard " + shard_id + ": checkpoint moved (batch already applied), re-reading");
      pending.clear();
      return false;
    }
    ++stats.transactions;
    stats.snapshots_updated += static_cast<int64_t>(pending.size());
    if (!pending.empty()) {
      Progress("shard " + shard_id + ": applied " + std::to_string(pending.size()) +
               " snapshot update(s) through " + pending_last);
    }
    if (!pending_last.empty()) {
      durable = pending_last;
      read_position_[shard_id] = pending_last;
    }
    pending.clear();
    return true;
  };

  std::string iterator = iterator_at(position);
  while (!iterator.empty()) {
    aws::GetRecordsRequest gr;
    gr.shard_iterator = iterator;
    gr.limit = options_.get_records_limit;
    aws::GetRecordsResponse page;
    try {
      page = client_->GetRecords(gr);
    } catch (const aws::ExpiredIterator&) {
      iterator = iterator_at(position);
      continue;
    }
    for (const aws::StreamRecord& r : page.records) {
      ++stats.records;
      bool is_bucket = false;
      std::vector<Update> updates = RecordUpdates(r, options_, &is_bucket);
      if (is_bucket) ++stats.bucket_records;
      if (updates.empty()) {
        if (!pending.empty()) pending_last = r.sequence_number;
        position = r.sequence_number;
        continue;
      }
      size_t new_keys = 0;
      for (const Update& u : updates) new_keys += pending.count(u.key) ? 0 : 1;
      if (!pending.empty() &&
          pending.size() + new_keys > static_cast<size_t>(options_.max_transaction_ops - 1)) {
        if (!commit(false)) goto restart;
      }
      for (Update& u : updates) {
        auto it = pending.find(u.key);
        if (it == pending.end()) {
          ItemKey k = u.key;
          pending.emplace(std::move(k), std::move(u));
        } else {
          Merge(it->second, u);
        }
      }
      pending_last = r.sequence_number;
      position = r.sequence_number;
    }
    if (!pending.empty() && !commit(false)) goto restart;
    if (!durable.empty() || !position.empty()) {
      auto& rp = read_position_[shard_id];
      if (SeqLess(rp, position)) rp = position;
    }
    iterator = page.next_shard_iterator;
    if (page.records.empty() && !iterator.empty() && !closed) break;  // open shard: caught up
  }
  if (iterator.empty()) {
    // Closed and drained: remember it in the checkpoint so no restart reads
    // it again. pending_last covers the ignored tail, if any.
    pending_last = position;
    if (!commit(true)) goto restart;
    finished_.insert(shard_id);
    read_position_.erase(shard_id);
    Progress("shard " + shard_id + ": closed and drained");
  }
  return stats;
}

namespace {
std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }
}  // namespace

int RunAggregateCommand(AggregatorOptions options, std::ostream& out, std::ostream& err) {
  try {
    if (!options.progress) {
      options.progress = [&out](const std::string& line) { out << line << std::endl; };
    }
    if (!options.once && !options.stop) {
      g_stop.store(false);
      std::signal(SIGINT, OnStopSignal);
      std::signal(SIGTERM, OnStopSignal);
      options.stop = [] { return g_stop.load(); };
    }
    Aggregator aggregator(options);
    const AggregatorStats s = aggregator.Run();
    out << "records " << s.records << ", bucket records " << s.bucket_records
        << ", snapshot updates " << s.snapshots_updated << ", transactions " << s.transactions
        << ", shards " << s.shards << std::endl;
    return 0;
  } catch (const ValidationError& e) {
    err << "error: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    err << "error: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace zae

// The aggregator across a stream shard split, which DynamoDB Local never
// does: the Streams API is a scripted loopback server (a closed parent shard
// and its open child, listed child first), while checkpoints and snapshots go
// to DynamoDB Local (ZAE_TEST_DYNAMODB_ENDPOINT) as in production.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "aggregator/aggregator.h"
#include "aggregator/aggregator_test_util.h"
#include "aws/test_server.h"
#include "limiter/keys.h"
#include "limiter/usage.h"
#include "store/store_test_util.h"

namespace zae::testing {
namespace {

constexpr int64_t kEventSeconds = 1'750'000'000;
const std::string kNs = "nsSplitTest";

struct Record {
  std::string seq;
  int64_t old_tc, new_tc;  // milli-tokens of b_rpm_tc; old < 0: an INSERT
};

struct Shard {
  std::string id, parent;
  bool closed = false;
  std::vector<Record> records;
};

std::string Image(int64_t tc) {
  return R"({"PK":{"S":")" + keys::BucketPk(kNs, "k1", "gpt-4", 0) +
         R"("},"SK":{"S":"#STATE"},"b_rpm_tc":{"N":")" + std::to_string(tc) + R"("}})";
}

std::string RecordJson(const Record& r) {
  std::string d = R"({"ApproximateCreationDateTime":)" + std::to_string(kEventSeconds) +
                  R"(,"SequenceNumber":")" + r.seq +
                  R"(","StreamViewType":"NEW_AND_OLD_IMAGES","NewImage":)" + Image(r.new_tc);
  if (r.old_tc >= 0) d += R"(,"OldImage":)" + Image(r.old_tc);
  return R"({"eventID":")" + r.seq + R"(","eventName":")" + (r.old_tc < 0 ? "INSERT" : "MODIFY") +
         R"(","dynamodb":)" + d + "}}";
}

// The body field `name` of a flat JSON request (enough for these requests).
std::string Field(const std::string& body, const std::string& name) {
  const std::string tag = "\"" + name + "\":";
  size_t at = body.find(tag);
  if (at == std::string::npos) return "";
  at += tag.size();
  while (at < body.size() && body[at] == ' ') ++at;
  if (body[at] != '"') return body.substr(at, body.find_first_of(",}", at) - at);
  return body.substr(at + 1, body.find('"', at + 1) - at - 1);
}

// Serves ListStreams/DescribeStream/GetShardIterator/GetRecords over
// `shards`. Iterators are "shard|after-sequence"; pages hold 2 records.
class FakeStreams {
 public:
  explicit FakeStreams(std::vector<Shard> shards)
      : shards_(std::move(shards)),
        server_([this](const aws::testing::TestRequest& r) { return Handle(r); }) {}
  std::string url() const { return server_.url(); }
  void Append(const std::string& shard, Record r) {
    std::lock_guard lock(mu_);
    for (Shard& s : shards_) {
      if (s.id == shard) s.records.push_back(std::move(r));
    }
  }
  // The shard of every GetRecords call, in order.
  std::vector<std::string> reads() const {
    std::lock_guard lock(mu_);
    return reads_;
  }

 private:
  aws::testing::TestResponse Handle(const aws::testing::TestRequest& req) {
    std::lock_guard lock(mu_);
    const std::string target =
        req.headers.count("x-amz-target") ? req.headers.at("x-amz-target") : "";
    const std::string op = target.substr(target.find('.') + 1);
    if (op == "ListStreams") {
      return {200, R"({"Streams":[{"StreamArn":"arn:fake:stream","StreamLabel":"x","TableName":")" +
                       Field(req.body, "TableName") + R"("}]})"};
    }
    if (op == "DescribeStream") {
      std::string list;
      for (const Shard& s : shards_) {
        if (!list.empty()) list += ",";
        list += R"({"ShardId":")" + s.id + R"(")";
        if (!s.parent.empty()) list += R"(,"ParentShardId":")" + s.parent + R"(")";
        list += R"(,"SequenceNumberRange":{"StartingSequenceNumber":")" + s.records[0].seq + R"(")";
        if (s.closed) list += R"(,"EndingSequenceNumber":")" + s.records.back().seq + R"(")";
        list += "}}";
      }
      return {200,
              R"({"StreamDescription":{"StreamArn":"arn:fake:stream","StreamStatus":"ENABLED",)"
              R"("StreamViewType":"NEW_AND_OLD_IMAGES","Shards":[)" +
                  list + "]}}"};
    }
    if (op == "GetShardIterator") {
      const std::string after = Field(req.body, "ShardIteratorType") == "AFTER_SEQUENCE_NUMBER"
                                    ? Field(req.body, "SequenceNumber")
                                    : "";
      return {200, R"({"ShardIterator":")" + Field(req.body, "ShardId") + "|" + after + R"("})"};
    }
    if (op == "GetRecords") {
      const std::string it = Field(req.body, "ShardIterator");
      const std::string shard = it.substr(0, it.find('|'));
      const std::string after = it.substr(it.find('|') + 1);
      reads_.push_back(shard);
      for (const Shard& s : shards_) {
        if (s.id != shard) continue;
        std::string records, last = after;
        size_t more = 0;
        for (const Record& r : s.records) {
          if (!after.empty() && std::stoll(r.seq) <= std::stoll(after)) continue;
          if (more++ >= 2) continue;
          if (!records.empty()) records += ",";
          records += RecordJson(r);
          last = r.seq;
        }
        std::string body = R"({"Records":[)" + records + "]";
        // A closed shard read to its end has no next iterator.
        if (!(s.closed && more <= 2))
          body += R"(,"NextShardIterator":")" + shard + "|" + last + "\"";
        return {200, body + "}"};
      }
    }
    return {400, R"({"__type":"com.amazonaws.dynamodb.v20120810#ValidationException",)"
                 R"("message":"unexpected request"})"};
  }

  mutable std::mutex mu_;
  std::vector<Shard> shards_;
  std::vector<std::string> reads_;
  aws::testing::TestServer server_;
};

class AggregatorSplit : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Endpoint()) ZAE_DYNAMODB_UNAVAILABLE("ZAE_TEST_DYNAMODB_ENDPOINT is not set");
    store_ = std::shared_ptr<Store>(OpenFreshDynamoTable());
    table_ = TableOf(*store_);
  }
  void TearDown() override { unsetenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS"); }

  AggregatorStats RunOnce(const FakeStreams& streams) {
    setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", streams.url().c_str(), 1);
    AggregatorOptions o = OptionsFor(table_);
    o.windows = {"hourly"};
    o.get_records_limit = 2;
    return Aggregator(o).RunOnce();  // a fresh process each time: state from checkpoints
  }
  // The hourly snapshot's counter `attr` (0 when missing).
  int64_t Hourly(const std::string& attr) {
    const ItemKey key = usage::SnapshotUpdates(kNs, "k1", "gpt-4", {{"rpm", 1000}}, 1,
                                               kEventSeconds * 1000, {"hourly"})[0]
                            .key;
    auto item = store_->Get(key, true);
    if (!item || !item->count(attr)) return 0;
    return item->at(attr).as_number();
  }
  std::optional<Item> Checkpoint(const std::string& shard) {
    return store_->Get(Aggregator::CheckpointKey(table_, shard), true);
  }

  std::shared_ptr<Store> store_;
  std::string table_;
};

TEST_F(AggregatorSplit, ParentDrainedBeforeChildAndEachRecordCountedOnce) {
  // Parent: create (+5), +3 and an unchanged write; child: +2, a -1 refund.
  FakeStreams streams({
      {"shardId-child", "shardId-parent", false, {{"301", 8000, 10000}, {"302", 10000, 9000}}},
      {"shardId-parent", "", true, {{"101", -1, 5000}, {"102", 5000, 8000}, {"103", 8000, 8000}}},
  });
  const AggregatorStats first = RunOnce(streams);
  EXPECT_EQ(first.records, 5);
  EXPECT_EQ(Hourly("rpm"), 9);
  EXPECT_EQ(Hourly("total_events"), 2);  // 3 consuming records, 1 refund
  // Every read of the parent comes before the first read of the child,
  // although the child was listed first.
  const std::vector<std::string> reads = streams.reads();
  ASSERT_FALSE(reads.empty());
  const auto first_child = std::find(reads.begin(), reads.end(), "shardId-child");
  EXPECT_EQ(std::find(first_child, reads.end(), "shardId-parent"), reads.end());
  EXPECT_EQ(std::count(reads.begin(), first_child, "shardId-parent"), 2);  // pages of 2
  ASSERT_TRUE(Checkpoint("shardId-parent"));
  EXPECT_EQ(Checkpoint("shardId-parent")->at("closed"), Value(true));
  EXPECT_EQ(Checkpoint("shardId-child")->at("sequence_number"), Value("302"));

  // A restart reads neither shard's old records again, nor the closed parent.
  const size_t reads_before = streams.reads().size();
  streams.Append("shardId-child", {"303", 9000, 12000});
  const AggregatorStats second = RunOnce(streams);
  EXPECT_EQ(second.records, 1);
  EXPECT_EQ(Hourly("rpm"), 12);
  EXPECT_EQ(Hourly("total_events"), 3);
  const std::vector<std::string> later = streams.reads();
  EXPECT_EQ(std::count(later.begin() + static_cast<std::ptrdiff_t>(reads_before), later.end(),
                       "shardId-parent"),
            0);
  EXPECT_EQ(Checkpoint("shardId-child")->at("sequence_number"), Value("303"));
}

}  // namespace
}  // namespace zae::testing

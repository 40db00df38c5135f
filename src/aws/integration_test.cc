// Every operation against DynamoDB Local. Needs ZAE_TEST_DYNAMODB_ENDPOINT
// (set by the CI script); skipped otherwise.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>

#include "aws/client.h"
#include "store/require_backend.h"

namespace zae::aws {
namespace {

AttributeValue S(const char* s) { return AttributeValue::S(s); }
AttributeValue N(int64_t n) { return AttributeValue::N(n); }

class IntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* endpoint = std::getenv("ZAE_TEST_DYNAMODB_ENDPOINT");
    if (endpoint == nullptr || *endpoint == '\0') {
      ZAE_DYNAMODB_UNAVAILABLE("ZAE_TEST_DYNAMODB_ENDPOINT not set");
    }
    ClientConfig config;
    config.endpoint = endpoint;
    config.region = "us-east-1";
    config.credentials = std::make_shared<StaticCredentials>(Credentials{"test", "test", "", {}});
    // These tests are about what is sent and answered, not how fast: an
    // emulator that has served for an hour took over 5 s (the default) to
    // answer the last of 64 new-item writes sent at once.
    config.request_timeout = std::chrono::seconds(30);
    config.call_timeout = std::chrono::seconds(60);
    client_ = std::make_unique<DynamoClient>(config);
    static int counter = 0;
    table_ = "zae_aws_it_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  }

  void TearDown() override {
    if (!client_) return;
    try {
      client_->DeleteTable({table_});
    } catch (const ResourceNotFound&) {
    }
  }

  void CreateTable() {
    CreateTableRequest r;
    r.table_name = table_;
    r.attribute_definitions = {{"pk", "S"}, {"sk", "S"}, {"g", "S"}};
    r.key_schema = {{"pk", "HASH"}, {"sk", "RANGE"}};
    SecondaryIndex gsi;
    gsi.index_name = "gsi1";
    gsi.key_schema = {{"g", "HASH"}, {"sk", "RANGE"}};
    r.global_secondary_indexes.push_back(gsi);
    r.stream_specification = StreamSpecification{true, "NEW_AND_OLD_IMAGES"};
    CreateTableResponse resp = client_->CreateTable(r);
    EXPECT_EQ(resp.table_description.table_name, table_);
    client_->WaitForTable(table_);
  }

  Item Key(const char* pk, const std::string& sk) {
    return {{"pk", S(pk)}, {"sk", AttributeValue::S(sk)}};
  }

  std::unique_ptr<DynamoClient> client_;
  std::string table_;
};

TEST_F(IntegrationTest, EveryOperationAndStreams) {
  CreateTable();

  // Tables.
  DescribeTableResponse described = client_->DescribeTable({table_});
  EXPECT_EQ(described.table.table_status, "ACTIVE");
  EXPECT_FALSE(described.table.latest_stream_arn.empty());
  EXPECT_EQ(described.table.key_schema.size(), 2u);
  EXPECT_EQ(described.table.global_secondary_indexes, std::vector<std::string>{"gsi1"});
  std::vector<std::string> names;
  ListTablesRequest list;
  list.limit = 100;
  for (;;) {
    ListTablesResponse page = client_->ListTables(list);
    names.insert(names.end(), page.table_names.begin(), page.table_names.end());
    if (page.last_evaluated_table_name.empty()) break;
    list.exclusive_start_table_name = page.last_evaluated_table_name;
  }
  EXPECT_NE(std::find(names.begin(), names.end(), table_), names.end());
  UpdateTimeToLiveResponse ttl = client_->UpdateTimeToLive({table_, "ttl", true});
  EXPECT_EQ(ttl.attribute_name, "ttl");
  EXPECT_TRUE(ttl.enabled);

  // Single items.
  PutItemRequest put;
  put.table_name = table_;
  put.item = Key("e1", "a");
  put.item["v"] = N(1);
  put.item["g"] = S("G");
  client_->PutItem(put);

  put.condition_expression = "attribute_not_exists(pk)";
  put.return_values_on_condition_check_failure = "ALL_OLD";
  try {
    client_->PutItem(put);
    FAIL() << "expected ConditionalCheckFailed";
  } catch (const ConditionalCheckFailed& e) {
    EXPECT_FALSE(e.retryable());
    ASSERT_TRUE(e.item()) << "ALL_OLD was asked for";
    EXPECT_EQ(e.item()->at("v").as_int64(), 1);
  }

  GetItemRequest get;
  get.table_name = table_;
  get.key = Key("e1", "a");
  get.consistent_read = true;
  GetItemResponse got = client_->GetItem(get);
  ASSERT_TRUE(got.item);
  EXPECT_EQ(got.item->at("v").as_int64(), 1);

  UpdateItemRequest update;
  update.table_name = table_;
  update.key = Key("e1", "a");
  update.update_expression = "ADD #v :one SET #d = :d";
  update.condition_expression = "attribute_exists(pk)";
  update.expression_attribute_names = {{"#v", "v"}, {"#d", "limit-name.with.dots"}};
  update.expression_attribute_values = {{":one", N(1)}, {":d", S("x")}};
  update.return_values = "ALL_NEW";
  UpdateItemResponse updated = client_->UpdateItem(update);
  ASSERT_TRUE(updated.attributes);
  EXPECT_EQ(updated.attributes->at("v").as_int64(), 2);
  EXPECT_EQ(updated.attributes->at("limit-name.with.dots").s(), "x");

  // Batches and pagination.
  BatchWriteItemRequest batch;
  for (int i = 0; i < 20; ++i) {
    Item item = Key("b", (i < 10 ? "0" : "") + std::to_string(i));
    item["g"] = S("G");
    batch.request_items[table_].push_back({item, std::nullopt});
  }
  EXPECT_TRUE(client_->BatchWriteItem(batch).unprocessed_items.empty());
  BatchGetItemRequest bget;
  for (int i = 0; i < 5; ++i)
    bget.request_items[table_].keys.push_back(Key("b", "0" + std::to_string(i)));
  bget.request_items[table_].consistent_read = true;
  BatchGetItemResponse bgot = client_->BatchGetItem(bget);
  EXPECT_EQ(bgot.responses[table_].size(), 5u);
  EXPECT_TRUE(bgot.unprocessed_keys.empty());

  QueryRequest query;
  query.table_name = table_;
  query.key_condition_expression = "pk = :p";
  query.expression_attribute_values = {{":p", S("b")}};
  query.limit = 3;
  query.consistent_read = true;
  QueryResponse one_page = client_->Query(query);
  EXPECT_EQ(one_page.items.size(), 3u);
  EXPECT_TRUE(one_page.last_evaluated_key);
  QueryResponse all = client_->QueryAll(query);
  EXPECT_EQ(all.items.size(), 20u);
  EXPECT_EQ(all.items.front().at("sk").s(), "00");
  query.scan_index_forward = false;
  query.limit.reset();
  EXPECT_EQ(client_->Query(query).items.front().at("sk").s(), "19");

  QueryRequest by_index;
  by_index.table_name = table_;
  by_index.index_name = "gsi1";
  by_index.key_condition_expression = "g = :g";
  by_index.expression_attribute_values = {{":g", S("G")}};
  EXPECT_EQ(client_->QueryAll(by_index).items.size(), 21u);

  ScanRequest scan;
  scan.table_name = table_;
  scan.limit = 7;
  EXPECT_EQ(client_->ScanAll(scan).items.size(), 21u);

  // Transactions.
  TransactWriteItemsRequest tx;
  TransactWriteItem tput;
  tput.kind = TransactWriteItem::Kind::kPut;
  tput.table_name = table_;
  tput.item = Key("t", "1");
  tput.item["v"] = N(10);
  TransactWriteItem tupd;
  tupd.kind = TransactWriteItem::Kind::kUpdate;
  tupd.table_name = table_;
  tupd.key = Key("e1", "a");
  tupd.update_expression = "ADD v :one";
  tupd.expression_attribute_values = {{":one", N(1)}};
  tx.transact_items = {tput, tupd};
  client_->TransactWriteItems(tx);

  TransactWriteItem check;
  check.kind = TransactWriteItem::Kind::kConditionCheck;
  check.table_name = table_;
  check.key = Key("t", "1");
  check.condition_expression = "v = :wrong";
  check.expression_attribute_values = {{":wrong", N(99)}};
  check.return_values_on_condition_check_failure = "ALL_OLD";
  tx.transact_items = {tupd, check};
  try {
    client_->TransactWriteItems(tx);
    FAIL() << "expected TransactionCanceled";
  } catch (const TransactionCanceled& e) {
    ASSERT_EQ(e.reasons().size(), 2u);
    EXPECT_EQ(e.reasons()[0].code, "None");
    EXPECT_EQ(e.reasons()[1].code, "ConditionalCheckFailed");
    if (e.reasons()[1].item) {
      EXPECT_EQ(e.reasons()[1].item->at("v").as_int64(), 10);
    }
  }

  TransactGetItemsRequest tget;
  tget.transact_items = {{table_, Key("t", "1"), "", {}}, {table_, Key("t", "missing"), "", {}}};
  TransactGetItemsResponse tgot = client_->TransactGetItems(tget);
  ASSERT_EQ(tgot.items.size(), 2u);
  ASSERT_TRUE(tgot.items[0]);
  EXPECT_EQ(tgot.items[0]->at("v").as_int64(), 10);
  EXPECT_FALSE(tgot.items[1]);
  EXPECT_EQ(client_->GetItem(get).item->at("v").as_int64(), 3);

  // 64 requests in flight at once.
  std::vector<Request> many;
  for (int i = 0; i < 64; ++i) {
    UpdateItemRequest u;
    u.table_name = table_;
    u.key = Key("many", std::to_string(i));
    u.update_expression = "ADD n :one";
    u.expression_attribute_values = {{":one", N(1)}};
    many.push_back(u);
  }
  for (Result& r : client_->ExecuteAll(std::move(many))) {
    if (!r.ok()) {
      try {
        std::rethrow_exception(r.error);
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
    }
  }

  DeleteItemRequest del;
  del.table_name = table_;
  del.key = Key("t", "1");
  del.return_values = "ALL_OLD";
  DeleteItemResponse deleted = client_->DeleteItem(del);
  ASSERT_TRUE(deleted.attributes);
  EXPECT_EQ(deleted.attributes->at("v").as_int64(), 10);

  // Metrics saw all of it, with capacity.
  MetricsSnapshot m = client_->Metrics();
  EXPECT_EQ(m.of(Op::kUpdateItem).calls, 65u);
  EXPECT_GT(m.of(Op::kPutItem).write_units, 0);
  EXPECT_GT(m.of(Op::kGetItem).read_units, 0);
  EXPECT_GT(m.of(Op::kQuery).read_units, 0);
  EXPECT_EQ(m.of(Op::kPutItem).errors, 1u);

  // Streams: read back the changes made above.
  ListStreamsRequest ls;
  ls.table_name = table_;
  ListStreamsResponse streams = client_->ListStreams(ls);
  ASSERT_EQ(streams.streams.size(), 1u);
  DescribeStreamResponse stream = client_->DescribeStream({streams.streams[0].stream_arn, {}, ""});
  ASSERT_FALSE(stream.shards.empty());
  EXPECT_EQ(stream.stream_view_type, "NEW_AND_OLD_IMAGES");
  std::multiset<std::string> events;
  bool saw_modify_of_e1 = false;
  for (const Shard& shard : stream.shards) {
    GetShardIteratorRequest it;
    it.stream_arn = stream.stream_arn;
    it.shard_id = shard.shard_id;
    it.shard_iterator_type = "TRIM_HORIZON";
    std::string iterator = client_->GetShardIterator(it).shard_iterator;
    for (int i = 0; i < 20 && !iterator.empty(); ++i) {
      GetRecordsResponse page = client_->GetRecords({iterator, 1000});
      for (const StreamRecord& r : page.records) {
        events.insert(r.event_name);
        if (r.event_name == "MODIFY" && r.keys.at("pk").s() == "e1" && r.old_image && r.new_image &&
            r.old_image->at("v").as_int64() == 1 && r.new_image->at("v").as_int64() == 2) {
          saw_modify_of_e1 = true;
        }
      }
      if (page.records.empty()) break;
      iterator = page.next_shard_iterator;
    }
  }
  EXPECT_GE(events.count("INSERT"), 20u + 1 + 1 + 64);
  EXPECT_GE(events.count("MODIFY"), 2u);
  EXPECT_EQ(events.count("REMOVE"), 1u);
  EXPECT_TRUE(saw_modify_of_e1);

  client_->DeleteTable({table_});
  client_->WaitForTable(table_, /*until_deleted=*/true);
  EXPECT_THROW(client_->DescribeTable({table_}), ResourceNotFound);
}

TEST_F(IntegrationTest, ServiceValidationErrorIsTypedAndNotRetried) {
  CreateTable();
  GetItemRequest get;
  get.table_name = table_;
  get.key = {{"pk", S("only-hash")}};
  try {
    client_->GetItem(get);
    FAIL();
  } catch (const InvalidRequest& e) {
    EXPECT_EQ(e.code(), "ValidationException");
  }
  EXPECT_EQ(client_->Metrics().of(Op::kGetItem).attempts, 1u);
  EXPECT_THROW(client_->DescribeTable({table_ + "_missing"}), ResourceNotFound);
}

}  // namespace
}  // namespace zae::aws

// AttributeValue, request serialisation, response and error parsing,
// including hostile input.
#include "aws/protocol.h"

#include <gtest/gtest.h>

#include "aws/errors.h"

namespace zae::aws {
namespace {

TEST(AttributeValueTest, AllTypesRoundTrip) {
  Item item{
      {"s", AttributeValue::S("héllo \"q\"")},
      {"n", AttributeValue::N("123456789012345678901234567890.5")},
      {"i", AttributeValue::N(int64_t{-42})},
      {"b", AttributeValue::B(std::string("\0\x01\xff", 3))},
      {"t", AttributeValue::Bool(true)},
      {"z", AttributeValue::Null()},
      {"m", AttributeValue::M({{"x", AttributeValue::N(int64_t{1})}})},
      {"l", AttributeValue::L({AttributeValue::S("a"), AttributeValue::Bool(false)})},
      {"ss", AttributeValue::SS({"a", "b"})},
      {"ns", AttributeValue::NS({"1", "2.5"})},
      {"bs", AttributeValue::BS({"ab", std::string("\0", 1)})},
  };
  std::string json = ItemToJson(item);
  EXPECT_NE(json.find(R"("n":{"N":"123456789012345678901234567890.5"})"), std::string::npos);
  EXPECT_NE(json.find(R"("z":{"NULL":true})"), std::string::npos);
  EXPECT_NE(json.find(R"("b":{"B":"AAH/"})"), std::string::npos);
  EXPECT_EQ(ItemFromJson(json), item);
}

TEST(AttributeValueTest, Int64Helpers) {
  EXPECT_EQ(AttributeValue::N(int64_t{9223372036854775807}).as_int64(), INT64_MAX);
  EXPECT_EQ(AttributeValue::N("-9223372036854775808").as_int64(), INT64_MIN);
  EXPECT_THROW(AttributeValue::N("9223372036854775808").as_int64(), TypeMismatch);
  EXPECT_THROW(AttributeValue::N("1.5").as_int64(), TypeMismatch);
  EXPECT_THROW(AttributeValue::N("").as_int64(), TypeMismatch);
  EXPECT_THROW(AttributeValue::S("1").as_int64(), TypeMismatch);
  EXPECT_THROW(AttributeValue::S("1").m(), TypeMismatch);
  EXPECT_EQ(AttributeValue::NS({"1"}).ss().size(), 1u);
}

TEST(ProtocolTest, SerializeUpdateItem) {
  UpdateItemRequest r;
  r.table_name = "t";
  r.key = {{"PK", AttributeValue::S("a")}, {"SK", AttributeValue::S("b")}};
  r.update_expression = "ADD #c :one";
  r.condition_expression = "attribute_exists(PK)";
  r.expression_attribute_names = {{"#c", "count"}};
  r.expression_attribute_values = {{":one", AttributeValue::N(int64_t{1})}};
  r.return_values = "ALL_NEW";
  r.return_values_on_condition_check_failure = "ALL_OLD";
  r.return_consumed_capacity = "TOTAL";
  EXPECT_EQ(
      Serialize(r),
      R"x({"TableName":"t","Key":{"PK":{"S":"a"},"SK":{"S":"b"}},"UpdateExpression":"ADD #c :one",)x"
      R"x("ConditionExpression":"attribute_exists(PK)","ExpressionAttributeNames":{"#c":"count"},)x"
      R"x("ExpressionAttributeValues":{":one":{"N":"1"}},"ReturnValues":"ALL_NEW",)x"
      R"x("ReturnValuesOnConditionCheckFailure":"ALL_OLD","ReturnConsumedCapacity":"TOTAL"})x");
}

TEST(ProtocolTest, ParseQueryWithCapacity) {
  QueryResponse r;
  Parse(R"({"Items":[{"a":{"N":"1"}},{"a":{"N":"2"}}],"Count":2,"ScannedCount":3,)"
        R"("LastEvaluatedKey":{"a":{"N":"2"}},"ConsumedCapacity":{"TableName":"t",)"
        R"("CapacityUnits":1.5,"ReadCapacityUnits":1.5}})",
        &r);
  EXPECT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.count, 2);
  EXPECT_EQ(r.scanned_count, 3);
  ASSERT_TRUE(r.last_evaluated_key);
  ASSERT_EQ(r.consumed_capacity.size(), 1u);
  EXPECT_DOUBLE_EQ(r.consumed_capacity[0].read_units, 1.5);
}

TEST(ProtocolTest, ParseGetRecords) {
  GetRecordsResponse r;
  Parse(R"({"Records":[{"eventID":"e1","eventName":"MODIFY","eventSource":"aws:dynamodb",)"
        R"("awsRegion":"us-east-1","dynamodb":{"ApproximateCreationDateTime":1700000000,)"
        R"("Keys":{"pk":{"S":"a"}},"NewImage":{"pk":{"S":"a"},"v":{"N":"2"}},)"
        R"("OldImage":{"pk":{"S":"a"},"v":{"N":"1"}},"SequenceNumber":"100","SizeBytes":20,)"
        R"("StreamViewType":"NEW_AND_OLD_IMAGES"}}],"NextShardIterator":"it2"})",
        &r);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].event_name, "MODIFY");
  EXPECT_EQ(r.records[0].new_image->at("v").as_int64(), 2);
  EXPECT_EQ(r.records[0].old_image->at("v").as_int64(), 1);
  EXPECT_EQ(r.next_shard_iterator, "it2");
}

template <class E>
void ExpectError(long status, const std::string& body, Op op = Op::kGetItem) {
  std::exception_ptr e = ErrorFromResponse(status, body, op);
  try {
    std::rethrow_exception(e);
  } catch (const E&) {
    SUCCEED();
  } catch (const std::exception& other) {
    ADD_FAILURE() << "wrong error for " << body << ": " << other.what();
  }
}

TEST(ProtocolTest, ErrorTypes) {
  const std::string p = R"({"__type":"com.amazonaws.dynamodb.v20120810#)";
  ExpectError<Throttled>(400, p + R"(ThrottlingException"})");
  ExpectError<Throttled>(400, p + R"(ProvisionedThroughputExceededException"})");
  ExpectError<Throttled>(400, p + R"(RequestLimitExceeded"})");
  ExpectError<ResourceNotFound>(400, p + R"(ResourceNotFoundException"})");
  ExpectError<ResourceInUse>(400, p + R"(ResourceInUseException"})");
  ExpectError<InvalidRequest>(400, R"({"__type":"com.amazon.coral.validate#ValidationException"})");
  ExpectError<ServerError>(500, p + R"(InternalServerError"})");
  ExpectError<ServerError>(503, "<html>busy</html>");
  ExpectError<InvalidResponse>(400, "not json");
  ExpectError<ExpiredIterator>(400, p + R"(ExpiredIteratorException"})", Op::kGetRecords);
  ExpectError<ConditionalCheckFailed>(400, p + R"(ConditionalCheckFailedException"})");
  ExpectError<InvalidResponse>(400, p + R"(ConditionalCheckFailedException","Item":5})");

  auto conflict = [&](Op op) {
    try {
      std::rethrow_exception(ErrorFromResponse(400, p + R"(TransactionConflictException"})", op));
    } catch (const TransactionConflict& e) {
      return e.retryable();
    }
  };
  EXPECT_TRUE(conflict(Op::kUpdateItem));
  EXPECT_FALSE(conflict(Op::kTransactWriteItems));
}

TEST(ProtocolTest, HostileResponsesGiveInvalidResponse) {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += R"({"M":{"a":)";
  const std::vector<std::string> bodies = {
      "",
      "[]",
      "{",
      R"({"Item":[]})",
      R"({"Item":{"a":{}}})",
      R"({"Item":{"a":{"S":1}}})",
      R"({"Item":{"a":{"S":"x","N":"1"}}})",
      R"({"Item":{"a":{"B":"!!!!"}}})",
      R"({"Item":{"a":{"B":"abc"}}})",
      R"({"Item":{"a":{"SS":"x"}}})",
      R"({"Item":{"a":{"L":[1]}}})",
      R"({"ConsumedCapacity":{"CapacityUnits":"x"}})",
      R"({"Item":{"a":)" + deep,
  };
  for (const auto& b : bodies) {
    GetItemResponse r;
    EXPECT_THROW(Parse(b, &r), InvalidResponse) << b.substr(0, 60);
  }
  std::string nested = "{}";
  for (int i = 0; i < 200; ++i) nested = R"({"a":{"M":)" + nested + "}}";
  EXPECT_THROW(ItemFromJson(nested), InvalidResponse);
  QueryResponse q;
  EXPECT_THROW(Parse(R"({"Count":1.5})", &q), InvalidResponse);
  DescribeStreamResponse d;
  EXPECT_THROW(Parse("{}", &d), InvalidResponse);
}

TEST(ProtocolTest, Base64) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Decode("Zm8="), "fo");
  EXPECT_EQ(Base64Decode("Zm9v"), "foo");
  EXPECT_THROW(Base64Decode("Zm9"), InvalidResponse);
}

}  // namespace
}  // namespace zae::aws

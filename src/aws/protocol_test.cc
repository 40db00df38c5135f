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

TEST(ProtocolTest, TargetHeaderNamesTheServiceAndOperation) {
  EXPECT_EQ(TargetHeader(Op::kUpdateItem), "DynamoDB_20120810.UpdateItem");
  EXPECT_EQ(TargetHeader(Op::kTransactWriteItems), "DynamoDB_20120810.TransactWriteItems");
  EXPECT_EQ(TargetHeader(Op::kGetRecords), "DynamoDBStreams_20120810.GetRecords");
  EXPECT_EQ(TargetHeader(Op::kListStreams), "DynamoDBStreams_20120810.ListStreams");
  EXPECT_EQ(TargetHeader(static_cast<Op>(kOpCount)), "DynamoDB_20120810.Unknown");
  EXPECT_EQ(&TargetHeader(Op::kGetItem), &TargetHeader(Op::kGetItem));  // built once
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

// One row per error body: what it must become, exactly.
struct ErrorCase {
  const char* name;
  long status;
  std::string body;
  std::string header;  // x-amzn-ErrorType
  const char* type;    // the most derived class, see TypeName()
  const char* code;
  bool retryable;
  int http_status;
  std::string what;
};

const char* TypeName(const Error& e) {
  if (dynamic_cast<const Throttled*>(&e)) return "Throttled";
  if (dynamic_cast<const ServerError*>(&e)) return "ServerError";
  if (dynamic_cast<const InvalidRequest*>(&e)) return "InvalidRequest";
  if (dynamic_cast<const InvalidResponse*>(&e)) return "InvalidResponse";
  if (dynamic_cast<const ResourceNotFound*>(&e)) return "ResourceNotFound";
  if (dynamic_cast<const ConditionalCheckFailed*>(&e)) return "ConditionalCheckFailed";
  return "Error";
}

std::string XmlBomb() {
  std::string b = R"(<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">)";
  for (int i = 1; i < 10; ++i) {
    b += "<!ENTITY lol" + std::to_string(i) + " \"";
    for (int k = 0; k < 10; ++k)
      b += "&lol" + (i == 1 ? std::string() : std::to_string(i - 1)) + ";";
    b += "\">";
  }
  return b + "]><Error><Code>&lol9;</Code><Message>&lol9;</Message></Error>";
}

TEST(ProtocolTest, ErrorBodiesOfEveryFormat) {
  const std::string long_message(2000, 'x');
  const std::vector<ErrorCase> cases = {
      {"dynamodb_json", 400,
       R"({"__type":"com.amazon.coral.validate#ValidationException","message":"bad key"})", "",
       "InvalidRequest", "ValidationException", false, 400, "ValidationException: bad key"},
      {"dynamodb_json_throttle", 400,
       R"({"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"})",
       "", "Throttled", "ThrottlingException", true, 400, "ThrottlingException: Rate exceeded"},
      {"json_without_type_uses_header", 400, R"({"message":"The security token is invalid"})",
       "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/",
       "InvalidRequest", "UnrecognizedClientException", false, 400,
       "UnrecognizedClientException: HTTP 400: The security token is invalid"},
      {"json_message_only", 403, R"({"Message":"Forbidden"})", "", "InvalidResponse",
       "InvalidResponse", false, 403, "InvalidResponse: HTTP 403: Forbidden"},
      {"moto_xml_signature", 403,
       "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated "
       "does not match the signature you provided.</Message></Error>",
       "", "InvalidRequest", "SignatureDoesNotMatch", false, 403,
       "SignatureDoesNotMatch: HTTP 403: The request signature we calculated does not match the "
       "signature you provided."},
      {"query_xml_error_response", 400,
       R"(<?xml version="1.0" encoding="UTF-8"?>
<ErrorResponse xmlns="http://webservices.amazon.com/AWSFault/2005-15-09">
  <Error>
    <Type>Sender</Type>
    <Code>InvalidClientTokenId</Code>
    <Message>The security token included in the request is invalid.</Message>
  </Error>
  <RequestId>4a8f-11</RequestId>
</ErrorResponse>)",
       "", "InvalidRequest", "InvalidClientTokenId", false, 400,
       "InvalidClientTokenId: HTTP 400: The security token included in the request is invalid."},
      {"xml_expired_token", 400,
       "<Error><Code>ExpiredTokenException</Code><Message>The security token included in the "
       "request is expired</Message></Error>",
       "", "InvalidRequest", "ExpiredTokenException", false, 400,
       "ExpiredTokenException: HTTP 400: The security token included in the request is expired"},
      {"xml_access_denied", 403,
       "<Error><Code>AccessDeniedException</Code><Message>User: arn:aws:iam::1:user/u is not "
       "authorized</Message></Error>",
       "", "InvalidRequest", "AccessDeniedException", false, 403,
       "AccessDeniedException: HTTP 403: User: arn:aws:iam::1:user/u is not authorized"},
      {"xml_missing_token", 403,
       "<ErrorResponse><Error><Code>MissingAuthenticationToken</Code><Message>Missing "
       "Authentication Token</Message></Error></ErrorResponse>",
       "", "InvalidRequest", "MissingAuthenticationToken", false, 403,
       "MissingAuthenticationToken: HTTP 403: Missing Authentication Token"},
      {"xml_throttling", 400,
       "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate "
       "exceeded</Message></Error></ErrorResponse>",
       "", "Throttled", "Throttling", true, 400, "Throttling: HTTP 400: Rate exceeded"},
      {"xml_slow_down", 503,
       "<Error><Code>SlowDown</Code><Message>Please reduce your request "
       "rate.</Message></Error>",
       "", "Throttled", "SlowDown", true, 503,
       "SlowDown: HTTP 503: Please reduce your request rate."},
      {"xml_request_limit", 400, "<Error><Code>RequestLimitExceeded</Code></Error>", "",
       "Throttled", "RequestLimitExceeded", true, 400, "RequestLimitExceeded: HTTP 400"},
      {"xml_auth_code_on_5xx_not_retried", 500,
       "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>", "",
       "InvalidRequest", "AccessDenied", false, 500, "AccessDenied: HTTP 500: Access Denied"},
      {"json_429_is_throttled", 429, R"({"__type":"x#TooManyRequestsException","message":"slow"})",
       "", "Throttled", "TooManyRequestsException", true, 429, "TooManyRequestsException: slow"},
      {"xml_other_4xx_code", 400,
       "<Error><Code>InvalidAction</Code><Message>Could not find operation</Message></Error>", "",
       "InvalidRequest", "InvalidAction", false, 400,
       "InvalidAction: HTTP 400: Could not find operation"},
      {"xml_5xx_code", 500,
       "<Error><Code>InternalFailure</Code><Message>We encountered an internal error</Message>"
       "</Error>",
       "", "ServerError", "InternalFailure", true, 500,
       "InternalFailure: HTTP 500: We encountered an internal error"},
      {"xml_escapes", 400,
       "<Error><Code>ValidationError</Code><Message>a &amp; b &lt;c&gt; &#x263A;</Message></Error>",
       "", "InvalidRequest", "ValidationError", false, 400,
       "ValidationError: HTTP 400: a & b <c> \xe2\x98\xba"},
      {"header_names_dynamodb_type", 400, "<html><title>no</title></html>",
       "ConditionalCheckFailedException", "ConditionalCheckFailed",
       "ConditionalCheckFailedException", false, 400,
       "ConditionalCheckFailedException: HTTP 400: no"},
      {"xml_truncated_still_read", 400,
       "<ErrorResponse><Error><Code>ValidationError</Code><Message>cut here", "", "InvalidRequest",
       "ValidationError", false, 400, "ValidationError: HTTP 400: cut here"},
      {"html_502", 502,
       "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
       "Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
       "", "ServerError", "HTTP502", true, 502, "HTTP502: HTTP 502: 502 Bad Gateway"},
      {"html_503_heading_only", 503,
       "<!DOCTYPE html><html><body><h1>Service Temporarily Unavailable</h1><p>later</p></body>"
       "</html>",
       "", "ServerError", "HTTP503", true, 503,
       "HTTP503: HTTP 503: Service Temporarily Unavailable"},
      {"html_403_proxy", 403,
       "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>403 "
       "Forbidden</title>\n</head><body><h1>Forbidden</h1></body></html>",
       "", "InvalidResponse", "InvalidResponse", false, 403,
       "InvalidResponse: HTTP 403: 403 Forbidden"},
      {"html_text_only", 503, "<html>busy &amp; <b>sorry</b><script>x()</script></html>", "",
       "ServerError", "HTTP503", true, 503, "HTTP503: HTTP 503: busy & sorry"},
      {"html_429", 429, "<html><head><title>429 Too Many Requests</title></head></html>", "",
       "Throttled", "HTTP429", true, 429, "HTTP429: HTTP 429: 429 Too Many Requests"},
      {"plain_text", 400, "not json", "", "InvalidResponse", "InvalidResponse", false, 400,
       "InvalidResponse: HTTP 400: not json"},
      {"plain_text_folded", 404, "  Not\r\n\tFound \x01 here \n", "", "InvalidResponse",
       "InvalidResponse", false, 404, "InvalidResponse: HTTP 404: Not Found ? here"},
      {"plain_text_header_type", 400, "Bad request", "ValidationException", "InvalidRequest",
       "ValidationException", false, 400, "ValidationException: HTTP 400: Bad request"},
      {"plain_text_too_long", 400, long_message, "", "InvalidResponse", "InvalidResponse", false,
       400, "InvalidResponse: HTTP 400: " + std::string(197, 'x') + "..."},
      {"empty_400", 400, "", "", "InvalidResponse", "InvalidResponse", false, 400,
       "InvalidResponse: HTTP 400 with an empty body"},
      {"empty_500", 500, " \r\n", "", "ServerError", "HTTP500", true, 500,
       "HTTP500: HTTP 500 with an empty body"},
      {"empty_throttled_header", 400, "", "ThrottlingException", "Throttled", "ThrottlingException",
       true, 400, "ThrottlingException: HTTP 400 with an empty body"},
      {"binary", 400, std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16), "", "InvalidResponse",
       "InvalidResponse", false, 400, "InvalidResponse: HTTP 400: 16-byte binary body"},
      {"utf8_kept_invalid_replaced", 400, "caf\xc3\xa9 \xff\xc0\xaf end", "", "InvalidResponse",
       "InvalidResponse", false, 400, "InvalidResponse: HTTP 400: caf\xc3\xa9 ??? end"},
      {"xml_external_entity", 400,
       R"(<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>)"
       "<Error><Code>&x;</Code></Error>",
       "", "InvalidResponse", "InvalidResponse", false, 400,
       R"(InvalidResponse: HTTP 400: <?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM )"
       R"("file:///etc/passwd">]><Error><Code>&x;</Code></Error>)"},
      {"xml_external_dtd", 400,
       R"(<!DOCTYPE Error SYSTEM "http://127.0.0.1:1/evil.dtd"><Error><Code>Bad</Code>)"
       "<Message>&ext;</Message></Error>",
       "", "InvalidRequest", "Bad", false, 400, "Bad: HTTP 400"},
      {"credentials_redacted", 403,
       "<Error><Code>SignatureDoesNotMatch</Code><Message>Credential=AKIAIOSFODNN7EXAMPLE/20260101/"
       "us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc123def; "
       "SessionToken=FQoGZXIvYXdz key ASIAABCDEFGHIJKLMNOP, not AKIAtoo-short</Message></Error>",
       "", "InvalidRequest", "SignatureDoesNotMatch", false, 403,
       "SignatureDoesNotMatch: HTTP 403: Credential=REDACTED, SignedHeaders=host;x-amz-date, "
       "Signature=REDACTED; SessionToken=REDACTED key REDACTED, not AKIAtoo-short"},
      {"echoed_headers_redacted", 400,
       "Bad request\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/"
       "dynamodb/aws4_request, SignedHeaders=host, Signature=0123abcd\r\n"
       "X-Amz-Security-Token:  tokenvalue\r\nHost: localhost\r\n",
       "", "InvalidResponse", "InvalidResponse", false, 400,
       "InvalidResponse: HTTP 400: Bad request Authorization: REDACTED X-Amz-Security-Token: "
       "REDACTED Host: localhost"},
      {"credentials_redacted_in_text", 400,
       "bad request X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101&X-Amz-Signature=abc", "",
       "InvalidResponse", "InvalidResponse", false, 400,
       "InvalidResponse: HTTP 400: bad request X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    try {
      std::rethrow_exception(ErrorFromResponse(c.status, c.body, Op::kGetItem, c.header));
    } catch (const Error& e) {
      EXPECT_STREQ(TypeName(e), c.type);
      EXPECT_EQ(e.code(), c.code);
      EXPECT_EQ(e.retryable(), c.retryable);
      EXPECT_EQ(e.http_status(), c.http_status);
      EXPECT_EQ(std::string(e.what()), c.what);
    }
  }
}

TEST(ProtocolTest, XmlBombIsNotExpanded) {
  const std::string bomb = XmlBomb();
  try {
    std::rethrow_exception(ErrorFromResponse(400, bomb, Op::kGetItem));
  } catch (const InvalidResponse& e) {
    std::string what = e.what();
    EXPECT_EQ(what.find("lollol"), std::string::npos) << what;
    EXPECT_EQ(what.substr(0, 79),
              R"(InvalidResponse: HTTP 400: <?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "l)");
    EXPECT_EQ(what.size(), 27u + 200u);
    EXPECT_EQ(e.http_status(), 400);
  }
}

TEST(ProtocolTest, HostileMarkupNeverCrashes) {
  std::string deep_xml, deep_html;
  for (int i = 0; i < 100000; ++i) deep_xml += "<a>";
  for (int i = 0; i < 100000; ++i) deep_html += "<div>";
  const std::vector<std::string> bodies = {"<",
                                           "<>",
                                           "<Error>",
                                           "<Error><Code>",
                                           "<Code></Code>",
                                           "<![CDATA[",
                                           "<!--",
                                           "<?xml",
                                           deep_xml,
                                           "<html>" + deep_html,
                                           deep_xml + "<Code>X</Code>",
                                           std::string(1 << 20, '<'),
                                           std::string("<Error><Code>A\0B</Code></Error>", 31)};
  for (const auto& b : bodies) {
    std::exception_ptr e = ErrorFromResponse(400, b, Op::kGetItem);
    try {
      std::rethrow_exception(e);
    } catch (const Error& err) {
      EXPECT_LE(std::string(err.what()).size(), 27u + 512u) << b.substr(0, 40);
      EXPECT_FALSE(err.retryable());
    }
  }
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

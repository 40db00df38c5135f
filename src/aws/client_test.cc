// Client behaviour against a scripted loopback server: signing, retries,
// error typing, deadlines, metrics, ExecuteAll.
#include "aws/client.h"

#include <atomic>

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "aws/test_server.h"

namespace zae::aws {
namespace {

using testing::TestRequest;
using testing::TestResponse;
using testing::TestServer;

ClientConfig TestConfig(const std::string& url) {
  ClientConfig c;
  c.endpoint = url;
  c.region = "us-east-1";
  c.credentials = std::make_shared<StaticCredentials>(Credentials{"test", "secretvalue", "", {}});
  c.base_backoff = std::chrono::milliseconds(1);
  c.max_backoff = std::chrono::milliseconds(5);
  c.http.io_threads = 1;
  return c;
}

GetItemRequest SomeGet() {
  GetItemRequest r;
  r.table_name = "tbl";
  r.key = {{"pk", AttributeValue::S("a")}};
  return r;
}

const char* kItemBody =
    R"({"Item":{"pk":{"S":"a"},"n":{"N":"42"}},"ConsumedCapacity":{"TableName":"tbl","CapacityUnits":0.5}})";

TEST(ClientTest, ThrottlingIsRetriedThenSucceeds) {
  std::atomic<int> n{0};
  TestServer server([&](const TestRequest&) -> TestResponse {
    if (n++ < 2) {
      return {400, R"({"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException",)"
                   R"("message":"Rate exceeded"})"};
    }
    return {200, kItemBody};
  });
  DynamoClient client(TestConfig(server.url()));
  GetItemResponse r = client.GetItem(SomeGet());
  ASSERT_TRUE(r.item);
  EXPECT_EQ(r.item->at("n").as_int64(), 42);
  EXPECT_EQ(server.requests(), 3);
  OpStats s = client.Metrics().of(Op::kGetItem);
  EXPECT_EQ(s.calls, 1u);
  EXPECT_EQ(s.attempts, 3u);
  EXPECT_EQ(s.throttles, 2u);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_DOUBLE_EQ(s.read_units, 0.5);
  client.ResetMetrics();
  EXPECT_EQ(client.Metrics().Total().calls, 0u);
}

TEST(ClientTest, ProvisionedThroughputExceededIsRetried) {
  std::atomic<int> n{0};
  TestServer server([&](const TestRequest&) -> TestResponse {
    if (n++ < 1) {
      return {
          400,
          R"({"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"x"})"};
    }
    return {200, "{}"};
  });
  DynamoClient client(TestConfig(server.url()));
  EXPECT_FALSE(client.GetItem(SomeGet()).item);
  EXPECT_EQ(server.requests(), 2);
}

TEST(ClientTest, ValidationIsNotRetried) {
  TestServer server([&](const TestRequest&) -> TestResponse {
    return {400, R"({"__type":"com.amazon.coral.validate#ValidationException",)"
                 R"("message":"One or more parameter values were invalid"})"};
  });
  DynamoClient client(TestConfig(server.url()));
  try {
    client.GetItem(SomeGet());
    FAIL() << "expected InvalidRequest";
  } catch (const InvalidRequest& e) {
    EXPECT_EQ(e.code(), "ValidationException");
    EXPECT_FALSE(e.retryable());
    EXPECT_EQ(e.http_status(), 400);
  }
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(client.Metrics().of(Op::kGetItem).errors, 1u);
}

TEST(ClientTest, ServerErrorsRetriedUpToMaxAttempts) {
  TestServer server([&](const TestRequest&) -> TestResponse {
    return {500, R"({"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"})"};
  });
  ClientConfig config = TestConfig(server.url());
  config.max_attempts = 3;
  DynamoClient client(config);
  EXPECT_THROW(client.GetItem(SomeGet()), ServerError);
  EXPECT_EQ(server.requests(), 3);
}

TEST(ClientTest, SignsAndTargetsRequests) {
  std::mutex mu;
  TestRequest seen;
  TestServer server([&](const TestRequest& r) -> TestResponse {
    std::lock_guard<std::mutex> lock(mu);
    seen = r;
    return {200, "{}"};
  });
  DynamoClient client(TestConfig(server.url()));
  client.GetItem(SomeGet());
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.headers["x-amz-target"], "DynamoDB_20120810.GetItem");
  EXPECT_EQ(seen.headers["content-type"], "application/x-amz-json-1.0");
  EXPECT_EQ(seen.headers["authorization"].rfind("AWS4-HMAC-SHA256 Credential=test/", 0), 0u);
  EXPECT_NE(seen.headers["authorization"].find("SignedHeaders=content-type;host;x-amz-date;"
                                               "x-amz-target"),
            std::string::npos);
  EXPECT_EQ(seen.headers["authorization"].find("secretvalue"), std::string::npos);
  EXPECT_EQ(seen.body,
            R"({"TableName":"tbl","Key":{"pk":{"S":"a"}},"ReturnConsumedCapacity":"TOTAL"})");
}

// Hands out "<prefix><n>" as the key id on its n-th call.
class NumberingProvider : public CredentialsProvider {
 public:
  NumberingProvider(std::string prefix, std::optional<std::chrono::system_clock::time_point> exp)
      : prefix_(std::move(prefix)), expiration_(exp) {}
  Credentials Get() override {
    return Credentials{prefix_ + std::to_string(++calls), "secret", "", expiration_};
  }
  std::atomic<int> calls{0};

 private:
  std::string prefix_;
  std::optional<std::chrono::system_clock::time_point> expiration_;
};

// The provider is not asked on every request (a thread keeps what it got
// for a second), but expired credentials are never reused, and two clients
// on one thread never sign with each other's.
TEST(ClientTest, CredentialsAreAskedForOncePerSecondUnlessExpiredAndPerClient) {
  std::mutex mu;
  std::vector<std::string> keys;  // the key id of each request, in order
  TestServer server([&](const TestRequest& r) -> TestResponse {
    const std::string& auth = r.headers.at("authorization");
    const size_t from = auth.find("Credential=") + 11;
    std::lock_guard<std::mutex> lock(mu);
    keys.push_back(auth.substr(from, auth.find('/', from) - from));
    return {200, "{}"};
  });
  auto steady = std::make_shared<NumberingProvider>("steady", std::nullopt);
  auto expired = std::make_shared<NumberingProvider>(
      "expired", std::chrono::system_clock::now() - std::chrono::seconds(1));
  ClientConfig a = TestConfig(server.url());
  a.credentials = steady;
  ClientConfig b = TestConfig(server.url());
  b.credentials = expired;
  DynamoClient first(a), second(b);
  for (int i = 0; i < 10; ++i) {
    first.GetItem(SomeGet());
    second.GetItem(SomeGet());
  }
  EXPECT_LT(steady->calls.load(), 10);
  EXPECT_EQ(expired->calls.load(), 10);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(keys.size(), 20u);
  for (size_t i = 0; i < keys.size(); i += 2) {
    EXPECT_EQ(keys[i].rfind("steady", 0), 0u) << keys[i];
    EXPECT_EQ(keys[i + 1], "expired" + std::to_string(i / 2 + 1));
  }
}

TEST(ClientTest, StreamsUseStreamsTarget) {
  std::mutex mu;
  std::string target;
  TestServer server([&](const TestRequest& r) -> TestResponse {
    std::lock_guard<std::mutex> lock(mu);
    target = r.headers.at("x-amz-target");
    return {200, R"({"Streams":[]})"};
  });
  DynamoClient client(TestConfig(server.url()));
  client.ListStreams({});
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(target, "DynamoDBStreams_20120810.ListStreams");
}

TEST(ClientTest, ConditionalCheckFailedCarriesOldItem) {
  TestServer server([&](const TestRequest&) -> TestResponse {
    return {400, R"({"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",)"
                 R"("message":"The conditional request failed","Item":{"pk":{"S":"a"}}})"};
  });
  DynamoClient client(TestConfig(server.url()));
  PutItemRequest put;
  put.table_name = "tbl";
  put.item = {{"pk", AttributeValue::S("a")}};
  put.condition_expression = "attribute_not_exists(pk)";
  put.return_values_on_condition_check_failure = "ALL_OLD";
  try {
    client.PutItem(put);
    FAIL();
  } catch (const ConditionalCheckFailed& e) {
    ASSERT_TRUE(e.item());
    EXPECT_EQ(e.item()->at("pk").s(), "a");
  }
  EXPECT_EQ(server.requests(), 1);
}

TEST(ClientTest, TransactionCanceledIsNotRetriedAndHasReasons) {
  TestServer server([&](const TestRequest&) -> TestResponse {
    return {400,
            R"({"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException",)"
            R"("Message":"Transaction cancelled","CancellationReasons":[{"Code":"None"},)"
            R"({"Code":"ConditionalCheckFailed","Message":"failed","Item":{"k":{"N":"1"}}}]})"};
  });
  DynamoClient client(TestConfig(server.url()));
  try {
    client.TransactWriteItems({});
    FAIL();
  } catch (const TransactionCanceled& e) {
    ASSERT_EQ(e.reasons().size(), 2u);
    EXPECT_EQ(e.reasons()[0].code, "None");
    EXPECT_EQ(e.reasons()[1].code, "ConditionalCheckFailed");
    EXPECT_EQ(e.reasons()[1].item->at("k").as_int64(), 1);
  }
  EXPECT_EQ(server.requests(), 1);
}

TEST(ClientTest, RequestTimeoutAndDeadline) {
  TestServer server([&](const TestRequest&) -> TestResponse {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return {200, "{}"};
  });
  ClientConfig config = TestConfig(server.url());
  config.request_timeout = std::chrono::milliseconds(100);
  config.call_timeout = std::chrono::milliseconds(250);
  DynamoClient client(config);
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(client.GetItem(SomeGet()), Timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(ClientTest, NetworkErrorIsTypedAndRetried) {
  std::string url;
  {
    TestServer gone([](const TestRequest&) { return TestResponse{}; });
    url = gone.url();
  }
  ClientConfig config = TestConfig(url);
  config.max_attempts = 2;
  DynamoClient client(config);
  try {
    client.GetItem(SomeGet());
    FAIL();
  } catch (const NetworkError& e) {
    EXPECT_TRUE(e.retryable());
  }
  EXPECT_EQ(client.Metrics().of(Op::kGetItem).attempts, 2u);
}

TEST(ClientTest, ExecuteAllReturnsResultsInOrder) {
  TestServer server([&](const TestRequest& r) -> TestResponse {
    if (r.headers.at("x-amz-target").ends_with("PutItem")) {
      return {400, R"({"__type":"x#ValidationException","message":"bad"})"};
    }
    return {200, kItemBody};
  });
  DynamoClient client(TestConfig(server.url()));
  std::vector<Request> reqs;
  reqs.push_back(SomeGet());
  reqs.push_back(PutItemRequest{});
  reqs.push_back(SomeGet());
  auto results = client.ExecuteAll(std::move(reqs));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_TRUE(results[0].get<GetItemResponse>().item);
  EXPECT_FALSE(results[1].ok());
  EXPECT_THROW(results[1].get<PutItemResponse>(), InvalidRequest);
  EXPECT_TRUE(results[2].ok());
}

// What a front end, proxy or moto answers instead of DynamoDB JSON reaches the
// caller readable, typed and without the request's signing material.
TEST(ClientTest, XmlSignatureErrorIsReadableRedactedAndNotRetried) {
  std::mutex mu;
  std::string authorization;
  TestServer server([&](const TestRequest& r) -> TestResponse {
    std::lock_guard<std::mutex> lock(mu);
    authorization = r.headers.at("authorization");
    // moto-style: the reason quotes what the client sent.
    return {403,
            "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>Bad signature; "
            "got " +
                authorization + "</Message></Error></ErrorResponse>",
            "text/xml"};
  });
  DynamoClient client(TestConfig(server.url()));
  try {
    client.GetItem(SomeGet());
    FAIL() << "expected InvalidRequest";
  } catch (const InvalidRequest& e) {
    EXPECT_EQ(e.code(), "SignatureDoesNotMatch");
    EXPECT_FALSE(e.retryable());
    EXPECT_EQ(e.http_status(), 403);
    std::lock_guard<std::mutex> lock(mu);
    size_t sig = authorization.find("Signature=");
    ASSERT_NE(sig, std::string::npos);
    EXPECT_EQ(std::string(e.what()),
              "SignatureDoesNotMatch: HTTP 403: Bad signature; got AWS4-HMAC-SHA256 "
              "Credential=REDACTED, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
              "Signature=REDACTED");
    EXPECT_EQ(std::string(e.what()).find(authorization.substr(sig + 10)), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("test/"), std::string::npos);
  }
  EXPECT_EQ(server.requests(), 1);
}

TEST(ClientTest, HtmlGatewayErrorIsRetriedAndNamed) {
  std::atomic<int> n{0};
  TestServer server([&](const TestRequest&) -> TestResponse {
    if (n++ < 1) {
      return {502, "<html><head><title>502 Bad Gateway</title></head></html>", "text/html"};
    }
    return {503,
            "<!DOCTYPE html><html><body><h1>Service Temporarily Unavailable</h1></body></html>",
            "text/html"};
  });
  ClientConfig config = TestConfig(server.url());
  config.max_attempts = 3;
  DynamoClient client(config);
  try {
    client.GetItem(SomeGet());
    FAIL() << "expected ServerError";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.code(), "HTTP503");
    EXPECT_TRUE(e.retryable());
    EXPECT_EQ(e.http_status(), 503);
    EXPECT_EQ(std::string(e.what()), "HTTP503: HTTP 503: Service Temporarily Unavailable");
  }
  EXPECT_EQ(server.requests(), 3);
}

TEST(ClientTest, ErrorTypeHeaderNamesErrorOfBodilessResponse) {
  std::atomic<int> n{0};
  TestServer server([&](const TestRequest&) -> TestResponse {
    if (n++ < 1) {
      return {400, "", "text/plain", {{"X-Amzn-ErrorType", "ThrottlingException:http://x/"}}};
    }
    return {400,
            "Request rejected",
            "text/plain",
            {{"x-amzn-errortype",
              "ValidationException:http://internal.amazon.com/coral/com.amazon.coral.validate/"}}};
  });
  DynamoClient client(TestConfig(server.url()));
  try {
    client.GetItem(SomeGet());
    FAIL() << "expected InvalidRequest";
  } catch (const InvalidRequest& e) {
    EXPECT_EQ(e.code(), "ValidationException");
    EXPECT_EQ(e.http_status(), 400);
    EXPECT_EQ(std::string(e.what()), "ValidationException: HTTP 400: Request rejected");
  }
  EXPECT_EQ(server.requests(), 2);  // the throttle was retried, the validation error not
  EXPECT_EQ(client.Metrics().of(Op::kGetItem).throttles, 1u);
}

TEST(ClientTest, HostileResponseIsTypedError) {
  TestServer server([&](const TestRequest&) -> TestResponse {
    return {200, R"({"Item":{"a":{"Q":1}}})"};
  });
  DynamoClient client(TestConfig(server.url()));
  EXPECT_THROW(client.GetItem(SomeGet()), InvalidResponse);
}

TEST(ClientConfigTest, ResolvesEndpointAndRegion) {
  std::map<std::string, std::string> vars{{"AWS_ENDPOINT_URL", "http://generic:1"},
                                          {"AWS_ENDPOINT_URL_DYNAMODB", "http://ddb:2/"},
                                          {"AWS_DEFAULT_REGION", "eu-west-1"},
                                          {"HOME", "/nonexistent"}};
  Env env = [&](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  ClientConfig c = ClientConfig{}.Resolve(env);
  EXPECT_EQ(c.endpoint, "http://ddb:2");
  EXPECT_EQ(c.streams_endpoint, "http://ddb:2");
  EXPECT_EQ(c.region, "eu-west-1");
  vars.erase("AWS_ENDPOINT_URL_DYNAMODB");
  vars["AWS_REGION"] = "ap-south-1";
  c = ClientConfig{}.Resolve(env);
  EXPECT_EQ(c.endpoint, "http://generic:1");
  EXPECT_EQ(c.region, "ap-south-1");
  vars.erase("AWS_ENDPOINT_URL");
  c = ClientConfig{}.Resolve(env);
  EXPECT_EQ(c.endpoint, "https://dynamodb.ap-south-1.amazonaws.com");
  EXPECT_EQ(c.streams_endpoint, "https://streams.dynamodb.ap-south-1.amazonaws.com");
  vars.erase("AWS_REGION");
  vars.erase("AWS_DEFAULT_REGION");
  EXPECT_THROW(ClientConfig{}.Resolve(env), ConfigError);
}

}  // namespace
}  // namespace zae::aws

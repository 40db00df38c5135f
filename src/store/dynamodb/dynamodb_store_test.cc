// DynamoDB-specific behaviour not covered by the shared store conformance
// suite. Runs only with ZAE_TEST_DYNAMODB_ENDPOINT set (DynamoDB Local).
#include "zae/dynamodb_store.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <future>
#include <random>
#include <string>

#include "aws/client.h"
#include "store/store_test_util.h"
#include "store/tcp_fault_proxy.h"
#include "zae/errors.h"

namespace zae {
namespace {

std::string Endpoint() {
  const char* e = std::getenv("ZAE_TEST_DYNAMODB_ENDPOINT");
  return e ? e : "";
}

DynamoDbOptions FreshOptions() { return testing::FreshDynamoOptions(); }

// A fresh table's options, its requests going through `proxy`.
DynamoDbOptions OptionsBehind(const testing::TcpFaultProxy& proxy) {
  DynamoDbOptions o = FreshOptions();
  o.endpoint = proxy.url();
  return o;
}

class DynamoDbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Endpoint().empty()) ZAE_DYNAMODB_UNAVAILABLE("ZAE_TEST_DYNAMODB_ENDPOINT is not set");
  }
};

// A transaction applied by DynamoDB whose answer is lost (the connection
// resets after the server answered) is retried by the client with the same
// ClientRequestToken: DynamoDB does not apply it again.
TEST_F(DynamoDbStoreTest, ATransactionWhoseAnswerIsLostIsAppliedOnce) {
  auto proxy = testing::TcpFaultProxy::For(Endpoint());
  DynamoDbOptions o = OptionsBehind(*proxy);
  DynamoDbStore store(o);
  store.Provision({});
  auto add = [](const std::string& sk) {
    Update u;
    u.key = {"p", sk};
    u.add = {{"n", 1}};
    return WriteOp(u);
  };
  proxy->ResetAfterNextResponse();
  EXPECT_TRUE(store.Transact({add("a"), add("b")}).ok);
  EXPECT_EQ(proxy->responses_dropped(), 1);
  for (const char* sk : {"a", "b"}) {
    auto item = store.Get({"p", sk}, true);
    ASSERT_TRUE(item);
    EXPECT_EQ(item->at("n").as_number(), 1) << sk << ": applied twice";
  }
}

// An UpdateItem ADD applied by DynamoDB whose answer is lost is not resent
// blindly (the client, and the transport on a reused connection, would apply it
// twice): the store reads the item and finds its own write in it.
TEST_F(DynamoDbStoreTest, AnAddWhoseAnswerIsLostIsAppliedOnce) {
  auto proxy = testing::TcpFaultProxy::For(Endpoint());
  DynamoDbOptions o = OptionsBehind(*proxy);
  DynamoDbStore store(o);
  store.Provision({});
  Update u;
  u.key = {"p", "bucket"};
  u.add = {{"n", 1}, {"m", -1}};
  u.return_new = true;
  ASSERT_TRUE(store.Write(u).ok());  // this process now knows the item
  for (int round = 0; round < 3; ++round) {
    proxy->ResetAfterNextResponse();
    WriteResult r = store.Write(u);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r.item) << "the read answers as ALL_NEW";
    EXPECT_EQ(r.item->at("n").as_number(), round + 2);
  }
  EXPECT_EQ(proxy->responses_dropped(), 3);
  auto item = store.Get(u.key, true);
  ASSERT_TRUE(item);
  EXPECT_EQ(item->at("n").as_number(), 4) << "a lost answer's write applied twice";
  EXPECT_EQ(item->at("m").as_number(), -4);

  // The same through the asynchronous form.
  proxy->ResetAfterNextResponse();
  std::promise<int64_t> got;
  store.WriteEachAsync({u}, [&](std::vector<WriteResult>* r, std::exception_ptr e) {
    if (e || !r || !(*r)[0].item) {
      got.set_value(-1);
    } else {
      got.set_value((*r)[0].item->at("n").as_number());
    }
  });
  EXPECT_EQ(got.get_future().get(), 5);
  EXPECT_EQ(store.Get(u.key, true)->at("n").as_number(), 5);
}

// A write this process cannot judge (another writer changed the item
// between its last write and the lost answer) fails, and is not resent.
TEST_F(DynamoDbStoreTest, AnAddWhoseAnswerIsLostAfterAnotherWriterFailsUnresent) {
  auto proxy = testing::TcpFaultProxy::For(Endpoint());
  DynamoDbOptions o = OptionsBehind(*proxy);
  DynamoDbStore store(o);
  store.Provision({});
  DynamoDbOptions direct = FreshOptions();
  direct.table = o.table;
  direct.delete_table_on_destroy = false;
  DynamoDbStore other(direct);
  Update u;
  u.key = {"p", "bucket"};
  u.add = {{"n", 1}};
  ASSERT_TRUE(store.Write(u).ok());
  ASSERT_TRUE(other.Write(u).ok());  // unknown to `store`
  proxy->ResetAfterNextResponse();
  try {
    store.Write(u);
    ADD_FAILURE() << "an unjudgeable write succeeded";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("not resent"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store.Get(u.key, true)->at("n").as_number(), 3) << "applied once, never twice";
}

// A create whose answer is lost: the item is there with its own attributes.
TEST_F(DynamoDbStoreTest, ACreateWhoseAnswerIsLostIsNotRefusedAsAConflict) {
  auto proxy = testing::TcpFaultProxy::For(Endpoint());
  DynamoDbOptions o = OptionsBehind(*proxy);
  DynamoDbStore store(o);
  store.Provision({});
  Put p;
  p.item = {{"PK", Value("p")},
            {"SK", Value("new")},
            {"rf", Value(int64_t{123})},
            {"b_rpm_tc", Value(int64_t{1000})}};
  p.condition.NotExists("PK");
  proxy->ResetAfterNextResponse();
  EXPECT_TRUE(store.Write(p).ok()) << "a resend would have failed its condition";
  EXPECT_EQ(proxy->responses_dropped(), 1);
}

TEST(DynamoDbStoreOffline, DescribeAndCapabilities) {
  DynamoDbOptions o;
  o.table = "t";
  o.region = "eu-west-1";
  o.endpoint = "http://127.0.0.1:1";
  o.access_key_id = "a";
  o.secret_access_key = "b";
  DynamoDbStore s(o);
  EXPECT_EQ(s.Describe(), "dynamodb://t?region=eu-west-1&endpoint=http://127.0.0.1:1");
  EXPECT_TRUE(s.capabilities().sharding);
  EXPECT_TRUE(s.capabilities().concurrent_writes);
  EXPECT_TRUE(s.capabilities().native_ttl);
  EXPECT_TRUE(s.capabilities().usage_from_stream);
  EXPECT_EQ(s.DeleteExpired(1 << 30), 0);
  o.table = "";
  EXPECT_THROW(DynamoDbStore{o}, ValidationError);
}

TEST_F(DynamoDbStoreTest, ProvisionIsIdempotent) {
  DynamoDbStore s(FreshOptions());
  s.Provision(ProvisionOptions{});
  s.Provision(ProvisionOptions{});
  Item item{{"PK", Value("p")}, {"SK", Value("s")}};
  ASSERT_TRUE(s.Write(Put{item, {}, false}).ok());
  EXPECT_EQ(s.Get(ItemKey{"p", "s"}, true), item);
}

TEST_F(DynamoDbStoreTest, NarrowGsi2QueriesStillReturnFullItems) {
  DynamoDbStore s(FreshOptions());
  ProvisionOptions po;
  po.narrow_gsi2 = true;
  s.Provision(po);
  Item item{{"PK", Value("p")},
            {"SK", Value("s")},
            {"GSI2PK", Value("ns/RES")},
            {"GSI2SK", Value("BUCKET#e")},
            {"tk", Value(5)}};
  ASSERT_TRUE(s.Write(Put{item, {}, false}).ok());
  QueryRequest q;
  q.index = Index::kGsi2;
  q.hash = "ns/RES";
  q.sort_prefix = "BUCKET#";
  QueryPage page = s.Query(q);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0], item);
}

TEST_F(DynamoDbStoreTest, NamesWithDashesAndDotsWork) {
  DynamoDbStore s(FreshOptions());
  s.Provision(ProvisionOptions{});
  Update u;
  u.key = ItemKey{"p", "s"};
  u.set = {{"a-b.c", Value("x")}};
  u.add = {{"n.m-1", 3}};
  u.condition.NotExists("a-b.c");
  u.return_new = true;
  WriteResult r = s.Write(u);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.item->at("a-b.c"), Value("x"));
  EXPECT_EQ(r.item->at("n.m-1"), Value(3));
  EXPECT_FALSE(s.Write(u).ok());
}

TEST_F(DynamoDbStoreTest, NonIntegerNumberIsAStoreError) {
  DynamoDbOptions o = FreshOptions();
  DynamoDbStore s(o);
  s.Provision(ProvisionOptions{});
  aws::ClientConfig c;
  c.endpoint = o.endpoint;
  c.region = o.region;
  aws::Credentials cred;
  cred.access_key_id = "test";
  cred.secret_access_key = "test";
  c.credentials = std::make_shared<aws::StaticCredentials>(cred);
  aws::DynamoClient client(c);
  aws::PutItemRequest put;
  put.table_name = o.table;
  put.item = {{"PK", aws::AttributeValue::S("p")},
              {"SK", aws::AttributeValue::S("s")},
              {"x", aws::AttributeValue::N("1.5")}};
  client.PutItem(put);
  EXPECT_THROW(s.Get(ItemKey{"p", "s"}, true), StoreError);
}

}  // namespace
}  // namespace zae

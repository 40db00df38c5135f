// The typed bucket write on DynamoDB against the generic one: the request
// bodies the two forms send for the same BucketWrite are the same JSON
// (recorded by a loopback server), and the outputs read from one answer
// are the same. The typed form's behaviour on DynamoDB Local is held to the
// generic form's in src/store/bucket_write_test.cc.
#include "store/dynamodb/bucket_request.h"

#include <gtest/gtest.h>

#include <limits>
#include <mutex>
#include <vector>

#include "aws/json.h"
#include "aws/test_server.h"
#include "zae/dynamodb_store.h"
#include "zae/errors.h"

namespace zae::store::dynamodb {
namespace {

const ItemKey kKey{"ns/BUCKET#e#r#0", "#STATE"};

// The item every answer carries back (ALL_NEW or ALL_OLD).
const char* kItemJson =
    R"({"PK":{"S":"ns/BUCKET#e#r#0"},"SK":{"S":"#STATE"},"rf":{"N":"1700000000000"},)"
    R"("shard_count":{"N":"2"},"ttl":{"N":"99"},"entity_id":{"S":"e"},)"
    R"("b_rpm_tk":{"N":"4000"},"b_rpm_cp":{"N":"5000"},"b_rpm_ra":{"N":"5000"},)"
    R"("b_rpm_rp":{"N":"60000"},"b_rpm_tc":{"N":"1000"},)"
    R"("b_a_b_tk":{"N":"-7.000"},"b_a_b_cp":{"N":"9"},"b_wcu_tk":{"N":"999"},"b_wcu_tc":{"N":"1"}})";

class Recorder {
 public:
  Recorder()
      : server_([this](const aws::testing::TestRequest& r) {
          std::lock_guard lock(mu_);
          bodies_.push_back(r.body);
          aws::testing::TestResponse out;
          if (fail_) {
            out.status = 400;
            out.body = std::string(R"({"__type":"com.amazonaws.dynamodb.v20120810#)"
                                   R"(ConditionalCheckFailedException","message":"no","Item":)") +
                       kItemJson + "}";
          } else {
            out.body = std::string(R"({"Attributes":)") + kItemJson +
                       R"(,"ConsumedCapacity":{"TableName":"t","CapacityUnits":1.0}})";
          }
          return out;
        }) {}
  std::unique_ptr<DynamoDbStore> Store() {
    DynamoDbOptions o;
    o.table = "t";
    o.region = "us-east-1";
    o.endpoint = server_.url();
    o.access_key_id = "test";
    o.secret_access_key = "test";
    return std::make_unique<DynamoDbStore>(o);
  }
  std::vector<std::string> Take() {
    std::lock_guard lock(mu_);
    return std::exchange(bodies_, {});
  }
  void set_fail(bool f) { fail_ = f; }

 private:
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::atomic<bool> fail_{false};
  aws::testing::TestServer server_;
};

rapidjson::Document Json(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str());
  EXPECT_FALSE(d.HasParseError()) << s;
  return d;
}

struct Case {
  std::vector<BucketLimitDelta> limits;
  int64_t ttl_after = BucketWrite::kNoTtlCheck;
};

std::vector<Case> Cases() {
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  return {
      {{{"rpm", 1000, true, 1000}, {"tpm", 100000, true, 100000}, {"wcu", 1000, true, 1000, false}},
       1796176666},
      {{{"rpm", 0, true, 0}}, 5},                         // a guard without an ADD
      {{{"a_b", -1500, false, 0}, {"rpm", 999, false}}},  // undo, no guard, no ttl
      {{{"rpm", kMin, false, 0}, {"tpm", kMax, true, kMax}}},
      {{}, 7},  // nothing but the bucket's existence and ttl
      {{{"x", 0, false, 0}}},
  };
}

TEST(BucketRequest, TheTypedBodyIsTheGenericUpdate) {
  Recorder rec;
  auto store = rec.Store();
  for (const Case& c : Cases()) {
    std::vector<BucketLimitView> views(c.limits.size());
    BucketWrite w;
    w.key = &kKey;
    w.limits = c.limits.data();
    w.limit_count = c.limits.size();
    w.ttl_after = c.ttl_after;
    w.views = views.data();
    ASSERT_TRUE(TypedBucketWriteApplies(w));
    store->Store::WriteBuckets(&w, 1);  // the generic path: Update -> Expr -> JSON
    store->WriteBuckets(&w, 1);         // the typed path
    const std::vector<std::string> bodies = rec.Take();
    ASSERT_EQ(bodies.size(), 2u);
    rapidjson::Document generic = Json(bodies[0]), typed = Json(bodies[1]);
    // The one difference: the typed form asks for the old item on a failed
    // condition even without views (it costs nothing), the generic only with.
    if (!w.views) typed.RemoveMember("ReturnValuesOnConditionCheckFailure");
    EXPECT_EQ(generic, typed) << bodies[0] << "\n" << bodies[1];
    EXPECT_EQ(Json(bodies[1]), Json(BucketUpdateBody("t", w, "TOTAL")));
    EXPECT_EQ(w.status, WriteStatus::kOk);
  }
}

TEST(BucketRequest, TheTypedAnswerGivesTheGenericOutputs) {
  Recorder rec;
  auto store = rec.Store();
  const std::vector<BucketLimitDelta> limits = {{"rpm", 1000, true, 1000},
                                                {"a_b", 1, false, 0},
                                                {"tpm", 1, false, 0},
                                                {"wcu", 1000, true, 1000}};
  for (bool fail : {false, true}) {
    rec.set_fail(fail);
    std::vector<BucketLimitView> views[2] = {std::vector<BucketLimitView>(limits.size()),
                                             std::vector<BucketLimitView>(limits.size())};
    BucketWrite w[2];
    for (int i = 0; i < 2; ++i) {
      w[i].key = &kKey;
      w[i].limits = limits.data();
      w[i].limit_count = limits.size();
      w[i].views = views[i].data();
    }
    store->Store::WriteBuckets(&w[0], 1);
    store->WriteBuckets(&w[1], 1);
    EXPECT_EQ(w[0].status, fail ? WriteStatus::kConditionFailed : WriteStatus::kOk);
    EXPECT_EQ(w[0].status, w[1].status);
    EXPECT_EQ(w[0].exists, w[1].exists);
    EXPECT_EQ(w[1].rf, 1'700'000'000'000);
    EXPECT_EQ(w[0].rf, w[1].rf);
    EXPECT_EQ(w[0].shard_count, w[1].shard_count);
    for (size_t l = 0; l < limits.size(); ++l) {
      SCOPED_TRACE(std::string(limits[l].name) + (fail ? " failed" : " ok"));
      EXPECT_EQ(views[0][l].present, views[1][l].present);
      EXPECT_EQ(views[0][l].tk, views[1][l].tk);
      EXPECT_EQ(views[0][l].cp, views[1][l].cp);
      EXPECT_EQ(views[0][l].ra, views[1][l].ra);
      EXPECT_EQ(views[0][l].rp, views[1][l].rp);
      EXPECT_EQ(views[0][l].tc, views[1][l].tc);
    }
    EXPECT_TRUE(views[1][0].present);
    EXPECT_EQ(views[1][1].tk, -7);
    EXPECT_FALSE(views[1][2].present);  // tpm is not on the item
    rec.Take();
  }
  // Write units are counted from the typed answer too.
  store->ResetStats();
  rec.set_fail(false);
  BucketWrite w;
  w.key = &kKey;
  w.limits = limits.data();
  w.limit_count = 1;
  store->WriteBuckets(&w, 1);
  EXPECT_EQ(store->stats().calls.at("UpdateItem"), 1);
  EXPECT_DOUBLE_EQ(store->stats().write_units, 1.0);
}

// One rpm write, with the view its answer fills.
struct RpmWrite {
  BucketLimitDelta d{"rpm", 1000, true, 1000};
  BucketLimitView view;
  BucketWrite w;
  RpmWrite() {
    w.key = &kKey;
    w.limits = &d;
    w.limit_count = 1;
    w.views = &view;
  }
};

TEST(BucketRequest, MalformedAnswersAreRefused) {
  RpmWrite rpm;
  BucketWrite& w = rpm.w;
  const BucketLimitView& view = rpm.view;
  BucketAnswer a;
  for (std::string body : {std::string(""), std::string("[]"), std::string("{\"Attributes\":3}"),
                           std::string("{\"Attributes\":{\"b_rpm_tk\":{\"N\":\"1.5\"}}}"),
                           std::string("{\"Attributes\":{\"b_rpm_tk\":{\"N\":7}}}"),
                           std::string("{\"Attributes\":{\"b_rpm_tk\":[1]}}"),
                           std::string("{\"ConsumedCapacity\":[]}"), std::string("{\"Attr")}) {
    EXPECT_FALSE(ReadBucketUpdateAnswer(body, w, &a)) << body;
  }
  std::string ok = R"({"Attributes":{"b_rpm_tk":{"N":"-3"},"z":{"S":"s"},"a":{"N":"1"}}})";
  ASSERT_TRUE(ReadBucketUpdateAnswer(ok, w, &a));
  EXPECT_TRUE(view.present);
  EXPECT_EQ(view.tk, -3);
  ASSERT_EQ(a.number_count, 2u);  // sorted by name
  EXPECT_EQ(a.numbers[0].first, "a");
  EXPECT_EQ(a.numbers[1].first, "b_rpm_tk");
}

// The answer is read as the parser walks it: what the outputs do not need
// (other types, nested lists and maps, unknown members) is skipped, and of a
// member named twice the first counts, as a document's FindMember had it.
TEST(BucketRequest, AnswersAreReadAsTheyStream) {
  RpmWrite rpm;
  BucketWrite& w = rpm.w;
  const BucketLimitView& view = rpm.view;
  BucketAnswer a;
  std::string body =
      R"({"Unknown":[1,{"N":"x"},[[]]],"Attributes":{)"
      R"("m":{"M":{"b_rpm_tk":{"N":"99"}}},"l":{"L":[{"N":"5"}],"N":"4"},)"
      R"("b_rpm_tk":{"S":"s","N":"12","N":"13"},"b_rpm_cp":{"N":"1000"},)"
      R"("rf":{"N":"77"},"shard_count":{"N":"2"},"flag":{"BOOL":true},)"
      R"("nothing":{"NULL":true}},)"
      R"("ConsumedCapacity":{"TableName":"t","CapacityUnits":2.5,"CapacityUnits":9},)"
      R"("Attributes":3,"ConsumedCapacity":7})";
  ASSERT_TRUE(ReadBucketUpdateAnswer(body, w, &a));
  EXPECT_TRUE(view.present);
  EXPECT_EQ(view.tk, 12);
  EXPECT_EQ(view.cp, 1000);
  EXPECT_EQ(w.rf, 77);
  EXPECT_EQ(w.shard_count, 2);
  EXPECT_DOUBLE_EQ(a.capacity_units, 2.5);
  ASSERT_EQ(a.number_count, 5u);  // l, b_rpm_cp, b_rpm_tk, rf, shard_count
  EXPECT_EQ(a.numbers[0].first, "b_rpm_cp");
  EXPECT_EQ(a.numbers[1].first, "b_rpm_tk");
  EXPECT_EQ(a.numbers[2].first, "l");
  EXPECT_EQ(a.numbers[2].second, 4);
  EXPECT_EQ(a.numbers[3].first, "rf");

  // A later write's answer starts from nothing: no tk, no views.
  std::string empty = R"({"ConsumedCapacity":{"CapacityUnits":"1"}})";
  ASSERT_TRUE(ReadBucketUpdateAnswer(empty, w, &a));
  EXPECT_FALSE(view.present);
  EXPECT_EQ(a.number_count, 0u);
  EXPECT_DOUBLE_EQ(a.capacity_units, 0);
  EXPECT_EQ(w.rf, 0);

  for (std::string bad :
       {std::string(R"({"Attributes":{"a":{"N":{"x":1}}}})"),
        std::string(R"({"Attributes":{"a":{"N":"1"}}} {})"),
        std::string(R"({"Attributes":{"a":null}})"), std::string(R"({"ConsumedCapacity":"x"})"),
        std::string("7"), std::string(R"({"Attributes":{"a":{"N":"1"})")}) {
    EXPECT_FALSE(ReadBucketUpdateAnswer(bad, w, &a)) << bad;
  }
}

TEST(BucketRequest, ShapesTheTypedFormDoesNotCover) {
  BucketLimitDelta twice[2] = {{"rpm", 1, true, 1}, {"rpm", 2, true, 2}};
  BucketWrite w;
  w.key = &kKey;
  w.limits = twice;
  w.limit_count = 2;
  EXPECT_FALSE(TypedBucketWriteApplies(w));
  w.limit_count = 1;
  EXPECT_TRUE(TypedBucketWriteApplies(w));
  Update window;
  w.usage = &window;
  w.usage_count = 1;
  EXPECT_FALSE(TypedBucketWriteApplies(w));
}

TEST(BucketRequest, NumbersAreReadAsTheStoreReadsThem) {
  EXPECT_EQ(ParseDynamoNumber("123"), 123);
  EXPECT_EQ(ParseDynamoNumber("-5"), -5);
  EXPECT_EQ(ParseDynamoNumber("+7.000"), 7);
  EXPECT_EQ(ParseDynamoNumber("99999999999999999999999"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ParseDynamoNumber("-9223372036854775808"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(ParseDynamoNumber("-9223372036854775809"), std::numeric_limits<int64_t>::min());
  for (const char* bad : {"", "-", "1.5", "1e3", "abc", ".0"}) {
    EXPECT_THROW(ParseDynamoNumber(bad), StoreError) << bad;
  }
}

}  // namespace
}  // namespace zae::store::dynamodb

// The Store contract (include/zae/store.h), clause by clause, run against
// every backend in StoreFactories().
#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>

#include "store/store_test_util.h"
#include "zae/errors.h"

namespace zae {
namespace {

using Op = Predicate::Op;
using testing::DeleteOf;
using testing::MakeItem;
using testing::PutOf;
using testing::StoreTest;

ItemKey K(std::string pk, std::string sk) { return {std::move(pk), std::move(sk)}; }

Update Upd(ItemKey key) {
  Update u;
  u.key = std::move(key);
  return u;
}

Condition Cond(std::string attr, Op op, Value operand = {}) {
  Condition c;
  c.clauses.push_back({{std::move(attr), op, std::move(operand)}});
  return c;
}

class StoreConformanceTest : public StoreTest {
 protected:
  // Whether `cond` holds for the stored item at `key`, without changing it:
  // a conditional Put of the same item (or a Delete of a missing one).
  bool Holds(const ItemKey& key, const Condition& cond) {
    std::optional<Item> current = store().Get(key, true);
    if (!current) return store().Write(DeleteOf(key, cond, false)).ok();
    const bool ok = store().Write(PutOf(*current, cond, false)).ok();
    EXPECT_EQ(store().Get(key, true), current);
    return ok;
  }
  std::optional<Item> Get(const std::string& pk, const std::string& sk) {
    return store().Get(K(pk, sk), true);
  }
};

// --- Get / Put -------------------------------------------------------------

TEST_P(StoreConformanceTest, GetMissingIsNullopt) { EXPECT_EQ(Get("p", "s"), std::nullopt); }

TEST_P(StoreConformanceTest, PutThenGetPreservesEveryValueType) {
  Value::Map nested{{"n", Value(int64_t{-7})}, {"deep", Value(Value::List{Value("x"), Value()})}};
  Item item = MakeItem("p", "s",
                       {{"null", Value()},
                        {"t", Value(true)},
                        {"f", Value(false)},
                        {"zero", Value(0)},
                        {"max", Value(std::numeric_limits<int64_t>::max())},
                        {"min", Value(std::numeric_limits<int64_t>::min())},
                        {"str", Value("héllo \"quoted\" \\ / \t")},
                        {"empty", Value("")},
                        {"ss", Value(Value::StringSet{"a", "b", "ü"})},
                        {"list", Value(Value::List{Value(1), Value("two"), Value(nested)})},
                        {"map", Value(nested)}});
  ASSERT_TRUE(store().Write(PutOf(item, {}, false)).ok());
  EXPECT_EQ(Get("p", "s"), item);
}

TEST_P(StoreConformanceTest, PutReplacesTheWholeItem) {
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "s", {{"a", Value(1)}, {"b", Value(2)}}))).ok());
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "s", {{"c", Value(3)}}))).ok());
  EXPECT_EQ(Get("p", "s"), MakeItem("p", "s", {{"c", Value(3)}}));
}

TEST_P(StoreConformanceTest, PutWithoutKeyThrows) {
  EXPECT_THROW(store().Write(PutOf(Item{{"PK", Value("p")}})), StoreError);
}

TEST_P(StoreConformanceTest, KeysAreDistinctByBothParts) {
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "a", {{"v", Value(1)}}))).ok());
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "b", {{"v", Value(2)}}))).ok());
  ASSERT_TRUE(store().Write(PutOf(MakeItem("q", "a", {{"v", Value(3)}}))).ok());
  EXPECT_EQ(Get("p", "a")->at("v"), Value(1));
  EXPECT_EQ(Get("p", "b")->at("v"), Value(2));
  EXPECT_EQ(Get("q", "a")->at("v"), Value(3));
}

// --- Update ----------------------------------------------------------------

TEST_P(StoreConformanceTest, UpdateUpsertsFromTheKey) {
  Update u = Upd(K("p", "s"));
  u.set = {{"a", Value("x")}};
  ASSERT_TRUE(store().Write(u).ok());
  EXPECT_EQ(Get("p", "s"), MakeItem("p", "s", {{"a", Value("x")}}));
}

TEST_P(StoreConformanceTest, UpdateWithFailedConditionCreatesNothing) {
  Update u = Upd(K("p", "s"));
  u.set = {{"a", Value("x")}};
  u.condition.Exists("PK");
  EXPECT_EQ(store().Write(u).status, WriteStatus::kConditionFailed);
  EXPECT_EQ(Get("p", "s"), std::nullopt);
}

TEST_P(StoreConformanceTest, AddOnMissingNumberStartsFromZero) {
  Update u = Upd(K("p", "s"));
  u.add = {{"tk", 5}};
  ASSERT_TRUE(store().Write(u).ok());
  EXPECT_EQ(Get("p", "s")->at("tk"), Value(5));
  u.add = {{"tk", -8}, {"other", -2}};
  ASSERT_TRUE(store().Write(u).ok());
  EXPECT_EQ(Get("p", "s")->at("tk"), Value(-3));
  EXPECT_EQ(Get("p", "s")->at("other"), Value(-2));
}

TEST_P(StoreConformanceTest, AddSaturatesAtTheInt64Range) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  Update u = Upd(K("p", "s"));
  u.set = {{"hi", Value(kMax - 1)}, {"lo", Value(kMin + 1)}};
  ASSERT_TRUE(store().Write(u).ok());
  u = Upd(K("p", "s"));
  u.add = {{"hi", 10}, {"lo", -10}};
  ASSERT_TRUE(store().Write(u).ok());
  EXPECT_EQ(Get("p", "s")->at("hi"), Value(kMax));
  EXPECT_EQ(Get("p", "s")->at("lo"), Value(kMin));
}

TEST_P(StoreConformanceTest, AddToANonNumberFailsAndChangesNothing) {
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "s", {{"a", Value("text")}}))).ok());
  Update u = Upd(K("p", "s"));
  u.set = {{"b", Value(1)}};
  u.add = {{"a", 1}};
  EXPECT_THROW(store().Write(u), StoreError);
  EXPECT_EQ(Get("p", "s"), MakeItem("p", "s", {{"a", Value("text")}}));
}

TEST_P(StoreConformanceTest, SetAddCreatesAndExtends) {
  Update u = Upd(K("p", "s"));
  u.add_to_set = {{"tags", {"a", "b"}}};
  ASSERT_TRUE(store().Write(u).ok());
  u.add_to_set = {{"tags", {"b", "c"}}};
  ASSERT_TRUE(store().Write(u).ok());
  EXPECT_EQ(Get("p", "s")->at("tags"), Value(Value::StringSet{"a", "b", "c"}));
}

TEST_P(StoreConformanceTest, SetDeleteOfLastMemberRemovesTheAttribute) {
  Update u = Upd(K("p", "s"));
  u.add_to_set = {{"tags", {"a", "b", "c"}}};
  ASSERT_TRUE(store().Write(u).ok());
  u = Upd(K("p", "s"));
  u.delete_from_set = {{"tags", {"a", "zz"}}};
  ASSERT_TRUE(store().Write(u).ok());
  EXPECT_EQ(Get("p", "s")->at("tags"), Value(Value::StringSet{"b", "c"}));
  u.delete_from_set = {{"tags", {"b", "c"}}, {"missing", {"x"}}};
  ASSERT_TRUE(store().Write(u).ok());
  EXPECT_EQ(Get("p", "s"), MakeItem("p", "s"));
}

TEST_P(StoreConformanceTest, SetIfNotExistsKeepsAnExistingValue) {
  Update u = Upd(K("p", "s"));
  u.set_if_not_exists = {{"a", Value(1)}};
  ASSERT_TRUE(store().Write(u).ok());
  u.set_if_not_exists = {{"a", Value(2)}, {"b", Value(3)}};
  ASSERT_TRUE(store().Write(u).ok());
  EXPECT_EQ(Get("p", "s"), MakeItem("p", "s", {{"a", Value(1)}, {"b", Value(3)}}));
}

TEST_P(StoreConformanceTest, RemoveDeletesAttributes) {
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "s", {{"a", Value(1)}, {"b", Value(2)}}))).ok());
  Update u = Upd(K("p", "s"));
  u.remove = {"a", "never"};
  ASSERT_TRUE(store().Write(u).ok());
  EXPECT_EQ(Get("p", "s"), MakeItem("p", "s", {{"b", Value(2)}}));
}

TEST_P(StoreConformanceTest, UpdateAppliesEveryActionKindAtOnce) {
  ASSERT_TRUE(
      store().Write(PutOf(MakeItem("p", "s", {{"n", Value(1)}, {"gone", Value(true)}}))).ok());
  Update u = Upd(K("p", "s"));
  u.set = {{"a", Value("x")}};
  u.set_if_not_exists = {{"n", Value(100)}, {"fresh", Value(7)}};
  u.add = {{"n", 2}};
  u.add_to_set = {{"ss", {"m"}}};
  u.remove = {"gone"};
  u.return_new = true;
  WriteResult r = store().Write(u);
  ASSERT_TRUE(r.ok());
  const Item want = MakeItem("p", "s",
                             {{"a", Value("x")},
                              {"n", Value(3)},
                              {"fresh", Value(7)},
                              {"ss", Value(Value::StringSet{"m"})}});
  EXPECT_EQ(r.item, want);
  EXPECT_EQ(Get("p", "s"), want);
}

TEST_P(StoreConformanceTest, ReturnNewOnlyWhenAsked) {
  Update u = Upd(K("p", "s"));
  u.add = {{"n", 1}};
  EXPECT_EQ(store().Write(u).item, std::nullopt);
  u.return_new = true;
  EXPECT_EQ(store().Write(u).item, MakeItem("p", "s", {{"n", Value(2)}}));
}

// --- Conditions ------------------------------------------------------------

TEST_P(StoreConformanceTest, EveryPredicateOperator) {
  ASSERT_TRUE(store()
                  .Write(PutOf(MakeItem("p", "s",
                                        {{"n", Value(5)},
                                         {"s", Value("m")},
                                         {"b", Value(true)},
                                         {"ss", Value(Value::StringSet{"x"})}})))
                  .ok());
  const ItemKey key = K("p", "s");
  struct Case {
    std::string attr;
    Op op;
    Value operand;
    bool want;
  };
  const std::vector<Case> cases = {
      {"n", Op::kExists, {}, true},
      {"nope", Op::kExists, {}, false},
      {"n", Op::kNotExists, {}, false},
      {"nope", Op::kNotExists, {}, true},
      // numbers
      {"n", Op::kEq, Value(5), true},
      {"n", Op::kEq, Value(6), false},
      {"n", Op::kNe, Value(5), false},
      {"n", Op::kNe, Value(6), true},
      {"n", Op::kLt, Value(6), true},
      {"n", Op::kLt, Value(5), false},
      {"n", Op::kLe, Value(5), true},
      {"n", Op::kLe, Value(4), false},
      {"n", Op::kGt, Value(4), true},
      {"n", Op::kGt, Value(5), false},
      {"n", Op::kGe, Value(5), true},
      {"n", Op::kGe, Value(6), false},
      {"n", Op::kGe, Value(-100), true},
      // strings compare bytewise
      {"s", Op::kEq, Value("m"), true},
      {"s", Op::kLt, Value("n"), true},
      {"s", Op::kLt, Value("ma"), true},
      {"s", Op::kGt, Value("l"), true},
      {"s", Op::kGe, Value("m"), true},
      {"s", Op::kLe, Value("a"), false},
      // type mismatch: every comparison is false, <> is true
      {"n", Op::kEq, Value("5"), false},
      {"n", Op::kLt, Value("9"), false},
      {"n", Op::kLe, Value("5"), false},
      {"n", Op::kGt, Value("0"), false},
      {"n", Op::kGe, Value("0"), false},
      {"n", Op::kNe, Value("5"), true},
      {"s", Op::kGt, Value(0), false},
      {"b", Op::kEq, Value(true), true},
      {"b", Op::kEq, Value(1), false},
      {"ss", Op::kEq, Value(Value::StringSet{"x"}), true},
      // a missing attribute: only <> holds
      {"nope", Op::kEq, Value(0), false},
      {"nope", Op::kLt, Value(0), false},
      {"nope", Op::kGe, Value(0), false},
      {"nope", Op::kNe, Value(0), true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.attr + " op " + std::to_string(static_cast<int>(c.op)));
    EXPECT_EQ(Holds(key, Cond(c.attr, c.op, c.operand)), c.want);
  }
}

TEST_P(StoreConformanceTest, ConditionsOnAMissingItem) {
  const ItemKey key = K("p", "missing");
  EXPECT_TRUE(Holds(key, Cond("PK", Op::kNotExists)));
  EXPECT_FALSE(Holds(key, Cond("PK", Op::kExists)));
  EXPECT_FALSE(Holds(key, Cond("tk", Op::kGe, Value(0))));
  EXPECT_TRUE(Holds(key, Cond("tk", Op::kNe, Value(0))));
  EXPECT_EQ(Get("p", "missing"), std::nullopt);
}

TEST_P(StoreConformanceTest, ClausesAreAndedAlternativesAreOred) {
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "s", {{"a", Value(1)}, {"b", Value(2)}}))).ok());
  const ItemKey key = K("p", "s");
  auto any = [](std::vector<Predicate> ps) {
    Condition c;
    c.AnyOf(std::move(ps));
    return c;
  };
  EXPECT_TRUE(Holds(key, any({{"a", Op::kEq, Value(9)}, {"b", Op::kEq, Value(2)}})));
  EXPECT_FALSE(Holds(key, any({{"a", Op::kEq, Value(9)}, {"b", Op::kEq, Value(9)}})));
  EXPECT_FALSE(Holds(key, any({})));  // an empty clause never holds
  Condition both = any({{"a", Op::kEq, Value(9)}, {"b", Op::kEq, Value(2)}});
  both.Compare("a", Op::kEq, Value(1));
  EXPECT_TRUE(Holds(key, both));
  both.NotExists("b");
  EXPECT_FALSE(Holds(key, both));
  EXPECT_TRUE(Holds(key, Condition{}));  // empty condition: always true
}

TEST_P(StoreConformanceTest, FailedConditionIsAResultWithOptionalOldItem) {
  const Item old = MakeItem("p", "s", {{"tk", Value(3)}});
  ASSERT_TRUE(store().Write(PutOf(old)).ok());
  const Condition enough = Cond("tk", Op::kGe, Value(5));

  Update u = Upd(K("p", "s"));
  u.add = {{"tk", -5}};
  u.condition = enough;
  u.return_new = true;
  WriteResult r = store().Write(u);
  EXPECT_EQ(r.status, WriteStatus::kConditionFailed);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.item, std::nullopt);
  u.return_old_on_failure = true;
  r = store().Write(u);
  EXPECT_EQ(r.status, WriteStatus::kConditionFailed);
  EXPECT_EQ(r.item, old);

  Put p{MakeItem("p", "s", {{"tk", Value(0)}}), enough, false};
  r = store().Write(p);
  EXPECT_EQ(r.status, WriteStatus::kConditionFailed);
  EXPECT_EQ(r.item, std::nullopt);
  p.return_old_on_failure = true;
  EXPECT_EQ(store().Write(p).item, old);

  r = store().Write(DeleteOf(K("p", "s"), enough, false));
  EXPECT_EQ(r.status, WriteStatus::kConditionFailed);
  EXPECT_EQ(r.item, std::nullopt);
  r = store().Write(DeleteOf(K("p", "s"), enough, true));
  EXPECT_EQ(r.status, WriteStatus::kConditionFailed);
  EXPECT_EQ(r.item, old);

  EXPECT_EQ(store().Write(ConditionCheck{K("p", "s"), enough}).status,
            WriteStatus::kConditionFailed);
  EXPECT_TRUE(store().Write(ConditionCheck{K("p", "s"), Cond("tk", Op::kEq, Value(3))}).ok());
  EXPECT_EQ(Get("p", "s"), old);
}

TEST_P(StoreConformanceTest, ReturnOldOnFailureOfAMissingItemIsNullopt) {
  Update u = Upd(K("p", "s"));
  u.condition.Exists("PK");
  u.return_old_on_failure = true;
  WriteResult r = store().Write(u);
  EXPECT_EQ(r.status, WriteStatus::kConditionFailed);
  EXPECT_EQ(r.item, std::nullopt);
}

TEST_P(StoreConformanceTest, CreateOnlyIfAbsent) {
  Put p{MakeItem("p", "s", {{"v", Value(1)}}), Cond("PK", Op::kNotExists), false};
  EXPECT_TRUE(store().Write(p).ok());
  p.item["v"] = Value(2);
  EXPECT_FALSE(store().Write(p).ok());
  EXPECT_EQ(Get("p", "s")->at("v"), Value(1));
}

// --- Delete ----------------------------------------------------------------

TEST_P(StoreConformanceTest, DeleteReturnsTheOldItemWhenAsked) {
  const Item item = MakeItem("p", "s", {{"v", Value(1)}});
  ASSERT_TRUE(store().Write(PutOf(item)).ok());
  WriteResult r = store().Write(DeleteOf(K("p", "s"), {}, true));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.item, item);
  EXPECT_EQ(Get("p", "s"), std::nullopt);

  ASSERT_TRUE(store().Write(PutOf(item)).ok());
  r = store().Write(DeleteOf(K("p", "s"), {}, false));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.item, std::nullopt);
  EXPECT_EQ(Get("p", "s"), std::nullopt);
}

TEST_P(StoreConformanceTest, DeleteOfAMissingItemSucceeds) {
  WriteResult r = store().Write(DeleteOf(K("p", "s"), {}, true));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.item, std::nullopt);
}

// --- Transact --------------------------------------------------------------

TEST_P(StoreConformanceTest, TransactAppliesEveryOperation) {
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "b", {{"n", Value(1)}}))).ok());
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "c"))).ok());
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "d", {{"ok", Value(true)}}))).ok());
  Update u = Upd(K("p", "b"));
  u.add = {{"n", 1}};
  u.condition.Compare("n", Op::kEq, Value(1));
  TransactResult r = store().Transact({
      PutOf(MakeItem("p", "a", {{"v", Value("new")}}), Cond("PK", Op::kNotExists), true),
      u,
      DeleteOf(K("p", "c"), Cond("PK", Op::kExists), false),
      ConditionCheck{K("p", "d"), Cond("ok", Op::kEq, Value(true))},
  });
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(Get("p", "a"), MakeItem("p", "a", {{"v", Value("new")}}));
  EXPECT_EQ(Get("p", "b")->at("n"), Value(2));
  EXPECT_EQ(Get("p", "c"), std::nullopt);
  EXPECT_EQ(Get("p", "d"), MakeItem("p", "d", {{"ok", Value(true)}}));
}

TEST_P(StoreConformanceTest, TransactIsAllOrNothingAndReportsFailures) {
  const Item b = MakeItem("p", "b", {{"n", Value(1)}});
  ASSERT_TRUE(store().Write(PutOf(b)).ok());
  Update fails = Upd(K("p", "b"));
  fails.add = {{"n", -5}};
  fails.condition.Compare("n", Op::kGe, Value(5));
  fails.return_old_on_failure = true;
  Update fine = Upd(K("p", "e"));
  fine.add = {{"n", 1}};
  TransactResult r = store().Transact({
      PutOf(MakeItem("p", "a"), {}, false),
      fails,
      fine,
      ConditionCheck{K("p", "missing"), Cond("PK", Op::kExists)},
  });
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failed, (std::vector<bool>{false, true, false, true}));
  ASSERT_EQ(r.old_items.size(), 4u);
  EXPECT_EQ(r.old_items[1], b);
  EXPECT_EQ(r.old_items[3], std::nullopt);
  EXPECT_EQ(Get("p", "a"), std::nullopt);
  EXPECT_EQ(Get("p", "b"), b);
  EXPECT_EQ(Get("p", "e"), std::nullopt);
}

TEST_P(StoreConformanceTest, TransactRejectsTwoOperationsOnOneItem) {
  Update u = Upd(K("p", "a"));
  u.add = {{"n", 1}};
  EXPECT_THROW(store().Transact({PutOf(MakeItem("p", "a")), u}), Error);
  EXPECT_EQ(Get("p", "a"), std::nullopt);
}

// A write that cannot apply (ADD to a string) changes nothing, not even the
// clauses before the bad one; in a transaction, not even the other items.
TEST_P(StoreConformanceTest, AnUpdateThatCannotApplyChangesNothing) {
  const Item before = MakeItem("p", "a", {{"n", Value(1)}, {"s", Value("text")}});
  ASSERT_TRUE(store().Write(PutOf(before)).ok());
  Update bad = Upd(K("p", "a"));
  bad.set = {{"x", Value(5)}};
  bad.add = {{"n", 1}, {"s", 1}};
  EXPECT_THROW(store().Write(bad), Error);
  EXPECT_EQ(Get("p", "a"), before);
  Update fine = Upd(K("p", "b"));
  fine.add = {{"n", 1}};
  EXPECT_THROW(store().Transact({fine, bad}), Error);
  EXPECT_EQ(Get("p", "a"), before);
  EXPECT_EQ(Get("p", "b"), std::nullopt);
}

// --- Batches ---------------------------------------------------------------

TEST_P(StoreConformanceTest, BatchGetKeepsOrderAndReportsMissingKeys) {
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "a", {{"v", Value(1)}}))).ok());
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "c", {{"v", Value(3)}}))).ok());
  auto got = store().BatchGet({K("p", "c"), K("p", "b"), K("p", "a"), K("q", "a")}, true);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], MakeItem("p", "c", {{"v", Value(3)}}));
  EXPECT_EQ(got[1], std::nullopt);
  EXPECT_EQ(got[2], MakeItem("p", "a", {{"v", Value(1)}}));
  EXPECT_EQ(got[3], std::nullopt);
  EXPECT_TRUE(store().BatchGet({}, false).empty());
}

TEST_P(StoreConformanceTest, BatchGetOfManyKeys) {
  std::vector<WriteOp> puts;
  std::vector<ItemKey> keys;
  for (int i = 0; i < 250; ++i) {
    puts.push_back(PutOf(MakeItem("p", std::to_string(i), {{"i", Value(i)}})));
    keys.push_back(K("p", std::to_string(i)));
    keys.push_back(K("absent", std::to_string(i)));
  }
  store().BatchWrite(puts);
  auto got = store().BatchGet(keys, false);
  ASSERT_EQ(got.size(), keys.size());
  for (int i = 0; i < 250; ++i) {
    ASSERT_TRUE(got[2 * i]);
    EXPECT_EQ(got[2 * i]->at("i"), Value(i));
    EXPECT_EQ(got[2 * i + 1], std::nullopt);
  }
}

TEST_P(StoreConformanceTest, BatchWritePutsAndDeletes) {
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "old"))).ok());
  store().BatchWrite({PutOf(MakeItem("p", "a", {{"v", Value(1)}})),
                      PutOf(MakeItem("p", "b", {{"v", Value(2)}})), DeleteOf(K("p", "old")),
                      DeleteOf(K("p", "never"))});
  EXPECT_EQ(Get("p", "a"), MakeItem("p", "a", {{"v", Value(1)}}));
  EXPECT_EQ(Get("p", "b"), MakeItem("p", "b", {{"v", Value(2)}}));
  EXPECT_EQ(Get("p", "old"), std::nullopt);
}

TEST_P(StoreConformanceTest, WriteEachReturnsOneIndependentResultPerOp) {
  Update u = Upd(K("p", "b"));
  u.condition.Exists("PK");
  Update v = Upd(K("p", "c"));
  v.add = {{"n", 1}};
  v.return_new = true;
  auto results = store().WriteEach({PutOf(MakeItem("p", "a")), u, v});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].status, WriteStatus::kConditionFailed);
  EXPECT_TRUE(results[2].ok());
  EXPECT_EQ(results[2].item, MakeItem("p", "c", {{"n", Value(1)}}));
  EXPECT_TRUE(Get("p", "a"));
  EXPECT_EQ(Get("p", "b"), std::nullopt);
}

TEST_P(StoreConformanceTest, WriteEachRunsEveryOpBeforeRethrowingAnError) {
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "text", {{"n", Value("x")}}))).ok());
  Update bad = Upd(K("p", "text"));
  bad.add = {{"n", 1}};  // ADD to a string: an error, not a condition failure
  Update good = Upd(K("p", "after"));
  good.add = {{"n", 1}};
  EXPECT_THROW(store().WriteEach({bad, good}), StoreError);
  EXPECT_EQ(Get("p", "after"), MakeItem("p", "after", {{"n", Value(1)}}));
}

// --- Query -----------------------------------------------------------------

std::vector<std::string> Attr(const std::vector<Item>& items, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& item : items) out.push_back(item.at(name).as_string());
  return out;
}

TEST_P(StoreConformanceTest, QueryTableInSortKeyOrder) {
  for (const char* sk : {"#STATE", "#CONFIG#b", "#CONFIG#a", "#META", "#CONFIG"}) {
    ASSERT_TRUE(store().Write(PutOf(MakeItem("ns/ENTITY#e", sk, {{"x", Value(1)}}))).ok());
  }
  ASSERT_TRUE(store().Write(PutOf(MakeItem("ns/ENTITY#f", "#CONFIG#a"))).ok());
  ASSERT_TRUE(store().Write(PutOf(MakeItem("ns/ENTITY#", "#CONFIG#a"))).ok());

  QueryRequest q;
  q.hash = "ns/ENTITY#e";
  QueryPage page = store().Query(q);
  EXPECT_EQ(Attr(page.items, "SK"),
            (std::vector<std::string>{"#CONFIG", "#CONFIG#a", "#CONFIG#b", "#META", "#STATE"}));
  EXPECT_EQ(page.last_evaluated, std::nullopt);
  EXPECT_EQ(page.items[0], MakeItem("ns/ENTITY#e", "#CONFIG", {{"x", Value(1)}}));

  q.sort_prefix = "#CONFIG#";
  EXPECT_EQ(Attr(store().Query(q).items, "SK"),
            (std::vector<std::string>{"#CONFIG#a", "#CONFIG#b"}));
  q.forward = false;
  EXPECT_EQ(Attr(store().Query(q).items, "SK"),
            (std::vector<std::string>{"#CONFIG#b", "#CONFIG#a"}));
  q.sort_prefix = "#CONFIG";
  EXPECT_EQ(Attr(store().Query(q).items, "SK"),
            (std::vector<std::string>{"#CONFIG#b", "#CONFIG#a", "#CONFIG"}));
  q.sort_prefix = "#Z";
  EXPECT_TRUE(store().Query(q).items.empty());
  q.hash = "nobody";
  q.sort_prefix.reset();
  EXPECT_TRUE(store().Query(q).items.empty());
}

TEST_P(StoreConformanceTest, QueryEachIndexReturnsFullItems) {
  for (int n = 1; n <= 4; ++n) {
    SCOPED_TRACE("GSI" + std::to_string(n));
    const std::string hk = "GSI" + std::to_string(n) + "PK";
    const std::string sk = "GSI" + std::to_string(n) + "SK";
    const std::string hash = "h" + std::to_string(n);
    const std::string pfx = "i" + std::to_string(n) + "/";
    // In the index: two items under `hash`, one under another hash.
    ASSERT_TRUE(
        store()
            .Write(PutOf(MakeItem(pfx + "b", "#X", {{hk, Value(hash)}, {sk, Value("CHILD#2")}})))
            .ok());
    ASSERT_TRUE(
        store()
            .Write(PutOf(MakeItem(pfx + "a", "#X",
                                  {{hk, Value(hash)}, {sk, Value("CHILD#1")}, {"v", Value(9)}})))
            .ok());
    ASSERT_TRUE(
        store()
            .Write(PutOf(MakeItem(pfx + "c", "#X", {{hk, Value("other")}, {sk, Value("CHILD#0")}})))
            .ok());
    ASSERT_TRUE(
        store()
            .Write(PutOf(MakeItem(pfx + "d", "#X", {{hk, Value(hash)}, {sk, Value("OTHER")}})))
            .ok());
    // Not in the index: no sort key.
    ASSERT_TRUE(store().Write(PutOf(MakeItem(pfx + "e", "#X", {{hk, Value(hash)}}))).ok());

    QueryRequest q;
    q.index = static_cast<Index>(n);
    q.hash = hash;
    EXPECT_EQ(Attr(store().Query(q).items, "PK"),
              (std::vector<std::string>{pfx + "a", pfx + "b", pfx + "d"}));
    q.sort_prefix = "CHILD#";
    QueryPage page = store().Query(q);
    EXPECT_EQ(Attr(page.items, "PK"), (std::vector<std::string>{pfx + "a", pfx + "b"}));
    ASSERT_FALSE(page.items.empty());
    EXPECT_EQ(
        page.items[0],
        MakeItem(pfx + "a", "#X", {{hk, Value(hash)}, {sk, Value("CHILD#1")}, {"v", Value(9)}}));
    q.forward = false;
    EXPECT_EQ(Attr(store().Query(q).items, "PK"), (std::vector<std::string>{pfx + "b", pfx + "a"}));

    // The index follows updates and deletes.
    Update u = Upd(K(pfx + "a", "#X"));
    u.remove = {sk};
    ASSERT_TRUE(store().Write(u).ok());
    ASSERT_TRUE(store().Write(DeleteOf(K(pfx + "b", "#X"))).ok());
    u = Upd(K(pfx + "e", "#X"));
    u.set = {{sk, Value("CHILD#9")}};
    ASSERT_TRUE(store().Write(u).ok());
    EXPECT_EQ(Attr(store().Query(q).items, "PK"), (std::vector<std::string>{pfx + "e"}));
  }
}

// Pages through a query and checks the pages concatenate to `want`.
void ExpectPages(Store& store, QueryRequest q, const std::vector<std::string>& want,
                 const std::string& attr) {
  std::vector<std::string> got;
  for (int pages = 0; pages < 100; ++pages) {
    QueryPage page = store.Query(q);
    ASSERT_LE(page.items.size(), static_cast<size_t>(q.limit));
    for (const auto& item : page.items) got.push_back(item.at(attr).as_string());
    if (!page.last_evaluated) break;
    ASSERT_FALSE(page.items.empty());
    q.start_after = page.last_evaluated;
  }
  EXPECT_EQ(got, want);
}

TEST_P(StoreConformanceTest, QueryPagesWithoutDuplicatesOrGaps) {
  std::vector<std::string> sks;
  for (int i = 0; i < 23; ++i) {
    char sk[32];
    std::snprintf(sk, sizeof sk, "#USAGE#%02d", i);
    sks.push_back(sk);
    ASSERT_TRUE(store().Write(PutOf(MakeItem("p", sk))).ok());
  }
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "#META"))).ok());
  QueryRequest q;
  q.hash = "p";
  q.sort_prefix = "#USAGE#";
  for (int limit : {1, 5, 7, 23, 50}) {
    SCOPED_TRACE(limit);
    q.limit = limit;
    q.forward = true;
    ExpectPages(store(), q, sks, "SK");
    q.forward = false;
    ExpectPages(store(), q, std::vector<std::string>(sks.rbegin(), sks.rend()), "SK");
  }
}

TEST_P(StoreConformanceTest, IndexPagesAcrossEqualSortKeys) {
  // Many items share one index sort key (a real case: GSI3SK = entity id
  // under several resources); paging must still visit each exactly once.
  std::set<std::string> want;
  for (int i = 0; i < 30; ++i) {
    const std::string pk = "ns/BUCKET#" + std::to_string(i % 7) + "#r" + std::to_string(i);
    want.insert(pk);
    ASSERT_TRUE(store()
                    .Write(PutOf(MakeItem(pk, "#STATE",
                                          {{"GSI2PK", Value("ns/RESOURCE#r")},
                                           {"GSI2SK", Value("BUCKET#" + std::to_string(i % 3))}})))
                    .ok());
  }
  for (bool forward : {true, false}) {
    for (int limit : {1, 4, 11}) {
      SCOPED_TRACE(limit);
      QueryRequest q;
      q.index = Index::kGsi2;
      q.hash = "ns/RESOURCE#r";
      q.sort_prefix = "BUCKET#";
      q.forward = forward;
      q.limit = limit;
      std::vector<std::string> got;
      std::string last_sort;
      for (int pages = 0; pages < 100; ++pages) {
        QueryPage page = store().Query(q);
        for (const auto& item : page.items) {
          got.push_back(item.at("PK").as_string());
          const std::string& s = item.at("GSI2SK").as_string();
          if (!last_sort.empty()) {
            EXPECT_TRUE(forward ? last_sort <= s : s <= last_sort);
          }
          last_sort = s;
        }
        if (!page.last_evaluated) break;
        q.start_after = page.last_evaluated;
      }
      EXPECT_EQ(got.size(), want.size());
      EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want);
      last_sort.clear();
    }
  }
}

TEST_P(StoreConformanceTest, QueryStartAfterWithoutIndexKeysIsRejected) {
  QueryRequest q;
  q.index = Index::kGsi1;
  q.hash = "h";
  q.start_after = MakeItem("p", "s");  // no GSI1SK
  EXPECT_THROW(store().Query(q), Error);
}

// --- TTL -------------------------------------------------------------------

TEST_P(StoreConformanceTest, DeleteExpiredRemovesItemsWhoseTtlHasPassed) {
  if (store().capabilities().native_ttl) {
    // The backend expires items itself: DeleteExpired deletes nothing.
    ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "old", {{"ttl", Value(1)}}))).ok());
    EXPECT_EQ(store().DeleteExpired(1000), 0);
    EXPECT_TRUE(store().Get(K("p", "old"), true));
    return;
  }
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "old", {{"ttl", Value(999)}}))).ok());
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "older", {{"ttl", Value(1)}}))).ok());
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "now", {{"ttl", Value(1000)}}))).ok());
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "future", {{"ttl", Value(5000)}}))).ok());
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "none"))).ok());
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "text", {{"ttl", Value("1")}}))).ok());
  // A ttl added by an update counts too.
  Update u = Upd(K("p", "updated"));
  u.set = {{"ttl", Value(10)}};
  ASSERT_TRUE(store().Write(u).ok());

  EXPECT_EQ(store().DeleteExpired(1000), 3);
  QueryRequest q;
  q.hash = "p";
  EXPECT_EQ(Attr(store().Query(q).items, "SK"),
            (std::vector<std::string>{"future", "none", "now", "text"}));
  EXPECT_EQ(store().DeleteExpired(1000), 0);
}

// --- Stats -----------------------------------------------------------------

TEST_P(StoreConformanceTest, StatsCountCallsByOperationName) {
  store().ResetStats();
  ASSERT_TRUE(store().Write(PutOf(MakeItem("p", "a"))).ok());
  store().Get(K("p", "a"), false);
  store().Get(K("p", "b"), true);
  store().BatchGet({K("p", "a"), K("p", "b")}, false);
  Update u = Upd(K("p", "a"));
  u.add = {{"n", 1}};
  store().Write(u);
  store().Write(DeleteOf(K("p", "b")));
  store().Transact({PutOf(MakeItem("p", "c")), u});
  store().BatchWrite({PutOf(MakeItem("p", "d")), DeleteOf(K("p", "c"))});
  QueryRequest q;
  q.hash = "p";
  store().Query(q);
  store().WriteEach({u, PutOf(MakeItem("p", "e"))});
  const std::map<std::string, int64_t> want = {{"PutItem", 2},        {"GetItem", 2},
                                               {"BatchGetItem", 1},   {"UpdateItem", 2},
                                               {"DeleteItem", 1},     {"TransactWriteItems", 1},
                                               {"BatchWriteItem", 1}, {"Query", 1}};
  EXPECT_EQ(store().stats().calls, want);
  store().ResetStats();
  EXPECT_TRUE(store().stats().calls.empty());
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreConformanceTest,
                         ::testing::ValuesIn(testing::StoreFactories()), testing::FactoryName);

}  // namespace
}  // namespace zae

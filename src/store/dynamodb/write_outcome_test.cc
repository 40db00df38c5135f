// Judge and WriteLedger on their own: what a read after a lost answer says
// about each kind of write. The end-to-end cases (a proxy dropping DynamoDB
// Local's answers) are in dynamodb_store_test.cc.
#include "store/dynamodb/write_outcome.h"

#include <gtest/gtest.h>

namespace zae::store {
namespace {

const ItemKey kKey{"ns/BUCKET#e#r#0", "#STATE"};

Update FastAdd(int64_t m) {
  Update u;
  u.key = kKey;
  u.add = {{"b_rpm_tk", -m}, {"b_rpm_tc", m}};
  u.condition.Exists("PK");
  u.condition.Compare("b_rpm_tk", Predicate::Op::kGe, Value(m));
  return u;
}

Item Bucket(int64_t tk, int64_t tc) {
  return {{"PK", Value(kKey.pk)},
          {"SK", Value(kKey.sk)},
          {"b_rpm_tk", Value(tk)},
          {"b_rpm_tc", Value(tc)},
          {"rf", Value(int64_t{100})}};
}

// A ledger that knows the bucket at (tk, tc) from a lone earlier write.
SentWrite SendAfterKnown(WriteLedger& ledger, const Update& u, int64_t tk, int64_t tc) {
  SentWrite first = ledger.Begin(FastAdd(0));
  Item known = Bucket(tk, tc);
  ledger.End(first, &known);
  return ledger.Begin(u);
}

TEST(WriteOutcomeTest, AnAddIsAppliedNotAppliedOrUnknownByTheNumbers) {
  WriteLedger ledger;
  const Update u = FastAdd(1000);
  SentWrite sent = SendAfterKnown(ledger, u, 5000, 2000);
  ASSERT_TRUE(sent.have_before);
  Item applied = Bucket(4000, 3000), untouched = Bucket(5000, 2000), other = Bucket(3000, 4000);
  EXPECT_EQ(Judge(u, sent, &applied), WriteVerdict::kApplied);
  EXPECT_EQ(Judge(u, sent, &untouched), WriteVerdict::kNotApplied);
  EXPECT_EQ(Judge(u, sent, &other), WriteVerdict::kUnknown);      // another writer moved it
  EXPECT_EQ(Judge(u, sent, nullptr), WriteVerdict::kNotApplied);  // condition needs the item
}

TEST(WriteOutcomeTest, AnAddWithoutAKnownBeforeIsUnknown) {
  WriteLedger ledger;
  const Update u = FastAdd(1000);
  SentWrite sent = ledger.Begin(u);  // never seen
  EXPECT_FALSE(sent.have_before);
  Item applied = Bucket(4000, 3000);
  EXPECT_EQ(Judge(u, sent, &applied), WriteVerdict::kUnknown);
}

TEST(WriteOutcomeTest, OverlappingWritesOfOneItemForgetWhatWasKnown) {
  WriteLedger ledger;
  const Update u = FastAdd(1000);
  SentWrite a = SendAfterKnown(ledger, u, 5000, 2000);
  SentWrite b = ledger.Begin(u);  // while a is in flight
  EXPECT_TRUE(a.have_before);
  EXPECT_FALSE(b.have_before);
  Item after_a = Bucket(4000, 3000), after_b = Bucket(3000, 4000);
  ledger.End(a, &after_a);
  ledger.End(b, &after_b);  // b overlapped a: its answer may not be the latest
  SentWrite c = ledger.Begin(u);
  EXPECT_FALSE(c.have_before);
  ledger.End(c, &after_b);  // alone: known again
  SentWrite d = ledger.Begin(u);
  ASSERT_TRUE(d.have_before);
  EXPECT_EQ(d.before[0], 3000);
  ledger.Invalidate(kKey);  // a transaction wrote it
  ledger.End(d, &after_b);
  EXPECT_FALSE(ledger.Begin(u).have_before);
}

TEST(WriteOutcomeTest, ACompareAndSetIsJudgedByThePinnedAttribute) {
  Update u;
  u.key = kKey;
  u.set = {{"rf", Value(int64_t{200})}, {"b_rpm_tk", Value(int64_t{9000})}};
  u.condition.Compare("rf", Predicate::Op::kEq, Value(int64_t{100}));
  const SentWrite none;
  Item old_rf = Bucket(1, 1), new_rf = Bucket(1, 1), third = Bucket(1, 1);
  new_rf["rf"] = Value(int64_t{200});
  third["rf"] = Value(int64_t{300});
  EXPECT_EQ(Judge(u, none, &new_rf), WriteVerdict::kApplied);
  EXPECT_EQ(Judge(u, none, &old_rf), WriteVerdict::kNotApplied);
  EXPECT_EQ(Judge(u, none, &third), WriteVerdict::kUnknown);
}

TEST(WriteOutcomeTest, ACreateIsAppliedWhenItsOwnAttributesAreThere) {
  Put p;
  p.item = Bucket(9000, 1000);
  p.condition.NotExists("PK");
  const SentWrite none;
  Item later = Bucket(8000, 2000);  // our create, then someone's ADD
  Item someone_else = Bucket(9000, 1000);
  someone_else["rf"] = Value(int64_t{101});
  EXPECT_EQ(Judge(p, none, nullptr), WriteVerdict::kNotApplied);
  EXPECT_EQ(Judge(p, none, &later), WriteVerdict::kApplied);
  EXPECT_EQ(Judge(p, none, &someone_else), WriteVerdict::kUnknown);
}

TEST(WriteOutcomeTest, SetsAreResentUnlessGuardedByAbsence) {
  Update plain;
  plain.key = kKey;
  plain.set = {{"on_unavailable", Value(std::string("allow"))}};
  Update guarded = plain;
  guarded.condition.NotExists("on_unavailable");
  const SentWrite none;
  Item with = Bucket(1, 1);
  with["on_unavailable"] = Value(std::string("allow"));
  Item without = Bucket(1, 1);
  EXPECT_EQ(Judge(plain, none, &with), WriteVerdict::kNotApplied);
  EXPECT_EQ(Judge(guarded, none, &with), WriteVerdict::kApplied);
  EXPECT_EQ(Judge(guarded, none, &without), WriteVerdict::kNotApplied);
}

}  // namespace
}  // namespace zae::store

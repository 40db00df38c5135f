// The lean form of a typed bucket write on DynamoDB: the UpdateItem body
// written straight from a BucketWrite (include/zae/store.h), and its answer
// read straight into the write's outputs, with no Update, aws::Item or
// zae::Item built in between. The request is the UpdateItem that
// store::BucketWriteAsUpdate(w) turns into through the generic path
// (dynamodb_store.cc, Expr): the same expressions, placeholders and values,
// always asking for ALL_NEW and, on a failed condition, ALL_OLD (both free;
// the write ledger needs the item the write left). bucket_request_test.cc
// holds the two forms to each other.
//
// Pure functions; thread-safe.
#ifndef ZAE_STORE_DYNAMODB_BUCKET_REQUEST_H_
#define ZAE_STORE_DYNAMODB_BUCKET_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "zae/store.h"

namespace zae::store::dynamodb {

// At most this many limits per typed write (the hot path has a few).
inline constexpr size_t kMaxTypedLimits = 16;

// True when the typed form covers `w`: no usage windows (a DynamoDB
// deployment counts usage from its stream), at most kMaxTypedLimits
// limits, no limit named twice. Otherwise the store sends the Update.
bool TypedBucketWriteApplies(const BucketWrite& w);

// The UpdateItem request body of `w` on `table` (TypedBucketWriteApplies
// must hold), with ReturnConsumedCapacity when it is not empty.
std::string BucketUpdateBody(const std::string& table, const BucketWrite& w,
                             std::string_view return_consumed_capacity);

// What an answer held besides the write's outputs.
struct BucketAnswer {
  static constexpr size_t kMaxNumbers = 128;
  // The item's number attributes sorted by name, viewing into the parsed
  // body (valid while it lives); `numbers_known` is false when the item
  // had more than kMaxNumbers of them.
  std::pair<std::string_view, int64_t> numbers[kMaxNumbers];
  size_t number_count = 0;
  bool numbers_known = false;
  double capacity_units = 0;  // ConsumedCapacity.CapacityUnits, 0 when absent
};

// Reads the 200 body of the UpdateItem (`body` is parsed in place, so it is
// changed) into w's outputs: status kOk, exists, rf, shard_count and the
// views. False when the body is not the JSON object an UpdateItem answers
// with or an attribute the outputs read is malformed; the outputs are then
// unspecified.
bool ReadBucketUpdateAnswer(std::string& body, BucketWrite& w, BucketAnswer* answer);

// An integer DynamoDB number ("123", "-5", "7.000"), clamped to the int64
// range (DynamoDB's ADD does not saturate; the Store contract does).
// Throws StoreError for anything else. The one reading of N for the store.
int64_t ParseDynamoNumber(std::string_view n);

}  // namespace zae::store::dynamodb

#endif  // ZAE_STORE_DYNAMODB_BUCKET_REQUEST_H_

// Shared by the aggregator tests: options for DynamoDB Local
// (ZAE_TEST_DYNAMODB_ENDPOINT) and the table name of a test store.
#ifndef ZAE_AGGREGATOR_AGGREGATOR_TEST_UTIL_H_
#define ZAE_AGGREGATOR_AGGREGATOR_TEST_UTIL_H_

#include <cstdlib>
#include <string>

#include "aggregator/aggregator.h"
#include "zae/store.h"

namespace zae::testing {

inline const char* Endpoint() {
  const char* e = std::getenv("ZAE_TEST_DYNAMODB_ENDPOINT");
  return e && *e ? e : nullptr;
}

inline AggregatorOptions OptionsFor(const std::string& table) {
  AggregatorOptions o;
  o.table = table;
  o.region = "us-east-1";
  o.endpoint = Endpoint();
  o.access_key_id = "test";
  o.secret_access_key = "test";
  o.once = true;
  return o;
}

// "dynamodb://TABLE?region=..." -> TABLE
inline std::string TableOf(const Store& store) {
  const std::string d = store.Describe();
  const size_t start = d.find("//") + 2;
  return d.substr(start, d.find('?') - start);
}

}  // namespace zae::testing

#endif  // ZAE_AGGREGATOR_AGGREGATOR_TEST_UTIL_H_

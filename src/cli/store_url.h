// Store URLs (include/zae/store.h, OpenStore):
//   memory:                                   a MemoryStore (lost at exit)
//   sqlite:PATH  (or sqlite://PATH)            a SQLite file
//   dynamodb://TABLE?region=R&endpoint=URL     a DynamoDB table
// Pure parsing; thread-safe.
#ifndef ZAE_CLI_STORE_URL_H_
#define ZAE_CLI_STORE_URL_H_

#include <string>

namespace zae::cli {

struct StoreUrl {
  enum class Kind { kMemory, kSqlite, kDynamoDb };
  Kind kind = Kind::kMemory;
  std::string path;      // sqlite
  std::string table;     // dynamodb
  std::string region;    // dynamodb, may be empty (then AWS_REGION etc.)
  std::string endpoint;  // dynamodb, may be empty (then AWS)
};

// Throws zae::ValidationError (field "store") for a malformed URL.
StoreUrl ParseStoreUrl(const std::string& url);

// The inverse, with percent-encoding of the query values.
std::string DynamoDbUrl(const std::string& table, const std::string& region,
                        const std::string& endpoint);

}  // namespace zae::cli

#endif  // ZAE_CLI_STORE_URL_H_

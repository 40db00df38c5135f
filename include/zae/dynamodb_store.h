// DynamoDbStore: the Store contract on one DynamoDB table laid out as the
// reference's (shared/spec/format.md §1), through the project's own client
// (src/aws). Each Store call maps to one DynamoDB API call (docs/dynamodb.md):
//   Get → GetItem, BatchGet → BatchGetItem (chunks of 100), Write →
//   PutItem / UpdateItem / DeleteItem (ConditionCheck → a one-item
//   TransactWriteItems), WriteEach → all requests in flight at once,
//   Transact → TransactWriteItems, BatchWrite → BatchWriteItem (chunks of 25),
//   Query → Query on the table or GSI1..GSI4 (KEYS_ONLY indexes are completed
//   with a BatchGetItem of the table items).
//
// Numbers: every N is read as an int64; an integer outside the int64 range
// (DynamoDB ADD does not saturate) is clamped to it, so ADD saturates on the
// next read; a non-integer N throws StoreError.
//
// Thread safety: safe for concurrent use (the client is).
// Errors: every client failure is a zae::StoreError; failed conditions are
// results (WriteStatus::kConditionFailed), never exceptions.
#ifndef ZAE_DYNAMODB_STORE_H_
#define ZAE_DYNAMODB_STORE_H_

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "zae/store.h"

namespace zae {

namespace store {
class WriteLedger;
}  // namespace store
namespace aws {
class DynamoClient;
}

struct DynamoDbOptions {
  std::string table;     // table name (required)
  std::string region;    // empty: AWS_REGION / profile / us-east-1 with an endpoint
  std::string endpoint;  // empty: the regional endpoint (or AWS_ENDPOINT_URL*)
  // Static credentials; empty: the default chain (env, profile, container, IMDS).
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  // GSI2 is KEYS_ONLY (set by Provision(narrow_gsi2) too): GSI2 queries are
  // completed with a BatchGetItem of the table items.
  bool narrow_gsi2 = false;
  // Retries of a TransactWriteItems that hit a TransactionConflict
  // (sleeping 25, 50, 100 ms...).
  int transact_conflict_retries = 3;
  // How long one HTTP attempt may take, and one store call with all its
  // attempts and back-off. Both must be positive (ValidationError).
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds call_timeout{20000};
  // Test helper: DeleteTable when the store is destroyed (errors ignored).
  bool delete_table_on_destroy = false;
};

class DynamoDbStore final : public Store {
 public:
  // Creates the client (no network call). Throws StoreError when the
  // region/endpoint/credentials cannot be resolved, ValidationError for an
  // empty table name.
  explicit DynamoDbStore(DynamoDbOptions options);
  ~DynamoDbStore() override;
  DynamoDbStore(const DynamoDbStore&) = delete;
  DynamoDbStore& operator=(const DynamoDbStore&) = delete;

  // "dynamodb://TABLE?region=R[&endpoint=URL]"
  std::string Describe() const override;
  Capabilities capabilities() const override;

  // CreateTable as format.md §1 (PK/SK, GSI1..GSI4, LSI1..LSI5, on-demand,
  // NEW_AND_OLD_IMAGES stream), waits for ACTIVE, enables TTL on `ttl`.
  // An existing table is only waited for.
  void Provision(const ProvisionOptions& options) override;

  std::optional<Item> Get(const ItemKey& key, bool consistent = false) override;
  std::vector<std::optional<Item>> BatchGet(const std::vector<ItemKey>& keys,
                                            bool consistent = false) override;
  WriteResult Write(const WriteOp& op) override;
  std::vector<WriteResult> WriteEach(const std::vector<WriteOp>& ops) override;
  // All requests in flight at once; completes on an I/O thread.
  void WriteEachAsync(std::vector<WriteOp> ops, WriteEachCallback done) override;
  bool OnCompletionThread() const override;
  // Typed bucket writes without an Item: each write's UpdateItem body is
  // written from it and its answer read into its outputs
  // (src/store/dynamodb/bucket_request.h); the write ledger and the
  // resolution of lost answers are those of every other write. Shapes the
  // typed form does not cover (usage windows, more than 16 limits, a limit
  // named twice) take the generic Update; with usage windows that is a
  // transaction, sent from the calling thread (never an I/O thread).
  void WriteBuckets(BucketWrite* writes, size_t count) override;
  void WriteBucketsAsync(BucketWrite* writes, size_t count, WriteBucketsCallback done) override;
  TransactResult Transact(const std::vector<WriteOp>& ops) override;
  void BatchWrite(const std::vector<WriteOp>& puts_or_deletes) override;
  QueryPage Query(const QueryRequest& request) override;
  // 0: DynamoDB deletes expired items by itself (TTL on `ttl`).
  int64_t DeleteExpired(int64_t now_seconds) override;
  StoreStats stats() const override;
  void ResetStats() override;

  // Whether the table exists (DescribeTable). Throws StoreError when
  // DynamoDB cannot be asked.
  bool TableExists();
  // Deletes the table and waits until it is gone. Returns false when there
  // was no table.
  bool DeleteTable();

  // The names of every table at the options' region and endpoint
  // (ListTables, all pages, in DynamoDB's order); options.table is not
  // used. Throws StoreError when DynamoDB cannot be reached or refuses.
  static std::vector<std::string> ListTables(const DynamoDbOptions& options);

 private:
  // One single-item write, sent once per attempt; an unknown outcome is
  // resolved by a read (write_outcome.h). `done` runs on an I/O thread.
  void WriteOneAsync(WriteOp op, std::chrono::steady_clock::time_point deadline,
                     std::function<void(WriteResult*, std::exception_ptr)> done);
  // One typed bucket write (TypedBucketWriteApplies), the same way.
  void WriteBucketAsync(BucketWrite* w, std::chrono::steady_clock::time_point deadline,
                        std::function<void(std::exception_ptr)> done);

  DynamoDbOptions options_;
  std::string region_, endpoint_;  // as resolved, for Describe()
  std::atomic<bool> narrow_gsi2_;
  // What this process last knew of each item it wrote, to tell whether a
  // write whose answer was lost was applied (src/store/dynamodb/write_outcome.h).
  std::unique_ptr<store::WriteLedger> ledger_;
  std::unique_ptr<aws::DynamoClient> client_;
};

// The OpenStore entry point: a store on `table` (region/endpoint may be empty).
std::unique_ptr<Store> OpenDynamoDbStore(const std::string& table, const std::string& region,
                                         const std::string& endpoint);

}  // namespace zae

#endif  // ZAE_DYNAMODB_STORE_H_

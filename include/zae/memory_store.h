// MemoryStore: a Store kept in process memory, for tests and single-process
// embedding. Data is lost when the object is destroyed.
//
// Concurrency: items live in 256 stripes by a hash of their PK, each with
// its own mutex, so calls on unrelated items rarely share a lock. A call
// locks every stripe it touches (in stripe order, so calls never deadlock)
// and is atomic and linearizable on its items; Query on an index locks all
// stripes. The typed bucket path (WriteBuckets) reaches a bucket through the
// handle from OpenBucket without a lookup, and updates its counters in place
// through pointers cached on the bucket's record, so a warm write allocates
// nothing and builds no string.
// Thread-safe.
#ifndef ZAE_MEMORY_STORE_H_
#define ZAE_MEMORY_STORE_H_

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "zae/store.h"

namespace zae {

class MemoryStore final : public Store {
 public:
  MemoryStore();
  ~MemoryStore() override;

  std::string Describe() const override { return "memory:"; }
  Capabilities capabilities() const override { return {}; }
  void Provision(const ProvisionOptions&) override {}

  std::optional<Item> Get(const ItemKey& key, bool consistent) override;
  std::vector<std::optional<Item>> BatchGet(const std::vector<ItemKey>& keys,
                                            bool consistent) override;
  WriteResult Write(const WriteOp& op) override;
  std::vector<WriteResult> WriteEach(const std::vector<WriteOp>& ops) override;
  TransactResult Transact(const std::vector<WriteOp>& ops) override;
  void BatchWrite(const std::vector<WriteOp>& ops) override;
  QueryPage Query(const QueryRequest& request) override;
  void WriteBuckets(BucketWrite* writes, size_t count) override;
  std::shared_ptr<BucketHandle> OpenBucket(const ItemKey& key) override;
  int64_t DeleteExpired(int64_t now_seconds) override;
  StoreStats stats() const override;
  void ResetStats() override;

  size_t size() const;

  struct Record;  // one item and its typed view (memory_store.cc)
  struct Stripe;

 private:
  enum Op {
    kGetItem,
    kBatchGetItem,
    kPutItem,
    kUpdateItem,
    kDeleteItem,
    kConditionCheck,
    kTransactWriteItems,
    kBatchWriteItem,
    kQuery,
    kNumOps
  };
  static constexpr size_t kStripes = 256;

  Stripe& StripeOf(const std::string& pk) const;
  void WriteBucket(BucketWrite& w);
  void Count(Op op) { calls_[op].fetch_add(1, std::memory_order_relaxed); }

  std::unique_ptr<Stripe[]> stripes_;
  std::array<std::atomic<int64_t>, kNumOps> calls_{};
};

}  // namespace zae

#endif  // ZAE_MEMORY_STORE_H_

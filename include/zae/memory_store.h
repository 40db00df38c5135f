// MemoryStore: a Store kept in process memory, for tests and single-process
// embedding. Every call runs under one mutex, so each call is atomic and
// calls are linearizable. Data is lost when the object is destroyed.
// Thread-safe.
#ifndef ZAE_MEMORY_STORE_H_
#define ZAE_MEMORY_STORE_H_

#include <map>
#include <mutex>

#include "zae/store.h"

namespace zae {

class MemoryStore final : public Store {
 public:
  MemoryStore() = default;

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
  int64_t DeleteExpired(int64_t now_seconds) override;
  StoreStats stats() const override;
  void ResetStats() override;

  size_t size() const;

 private:
  WriteResult WriteLocked(const WriteOp& op);

  mutable std::mutex mu_;
  std::map<ItemKey, Item> items_;
  StoreStats stats_;
};

}  // namespace zae

#endif  // ZAE_MEMORY_STORE_H_

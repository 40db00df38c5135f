// A Store wrapper for tests that makes chosen calls fail: the Nth call (from
// when it is armed) of one operation throws a given exception, and
// optionally every call of every operation after it ("the store went
// down"). Everything else is forwarded to the real store, typed bucket
// writes and handles included, so the code under test runs the same paths
// it runs on the wrapped backend.
//
//   auto faulty = std::make_shared<FaultyStore>(real);
//   faulty->FailNth(StoreOp::kBatchGet, 2, StoreError("injected"));
//   ... limiter.Acquire(...)  // its second BatchGet throws
//   EXPECT_TRUE(faulty->fired());
//
// Thread safety: safe for concurrent use (one mutex around the counters).
#ifndef ZAE_STORE_FAULTY_STORE_H_
#define ZAE_STORE_FAULTY_STORE_H_

#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "zae/store.h"

namespace zae::testing {

enum class StoreOp {
  kGet,
  kBatchGet,
  kWrite,
  kWriteEach,
  kTransact,
  kBatchWrite,
  kQuery,
  kWriteBuckets
};

inline const char* StoreOpName(StoreOp op) {
  switch (op) {
    case StoreOp::kGet:
      return "Get";
    case StoreOp::kBatchGet:
      return "BatchGet";
    case StoreOp::kWrite:
      return "Write";
    case StoreOp::kWriteEach:
      return "WriteEach";
    case StoreOp::kTransact:
      return "Transact";
    case StoreOp::kBatchWrite:
      return "BatchWrite";
    case StoreOp::kQuery:
      return "Query";
    case StoreOp::kWriteBuckets:
      return "WriteBuckets";
  }
  return "?";
}

class FaultyStore final : public Store {
 public:
  explicit FaultyStore(std::shared_ptr<Store> inner) : inner_(std::move(inner)) {}

  // The `nth` call of `op` (1-based, counted from this call) throws `error`
  // instead of reaching the store; with `down`, every later call of any
  // operation throws it too, until Heal(). Resets the call counts.
  template <class E>
  void FailNth(StoreOp op, int nth, const E& error, bool down = false) {
    std::lock_guard lock(mu_);
    armed_ = true;
    op_ = op;
    nth_ = nth;
    error_ = std::make_exception_ptr(error);
    down_after_ = down;
    is_down_ = false;
    fired_ = false;
    counts_.clear();
    log_.clear();
  }
  // Stops failing; counts keep running.
  void Heal() {
    std::lock_guard lock(mu_);
    armed_ = false;
    is_down_ = false;
  }
  bool fired() const {
    std::lock_guard lock(mu_);
    return fired_;
  }
  // Calls of `op` since the last FailNth (failed ones included).
  int calls(StoreOp op) const {
    std::lock_guard lock(mu_);
    auto it = counts_.find(op);
    return it == counts_.end() ? 0 : it->second;
  }
  // Every call since the last FailNth, e.g. "BatchGet#1", for messages.
  std::string log() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& s : log_) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

  std::string Describe() const override { return inner_->Describe(); }
  Capabilities capabilities() const override { return inner_->capabilities(); }
  void Provision(const ProvisionOptions& o) override { inner_->Provision(o); }
  std::optional<Item> Get(const ItemKey& k, bool c) override {
    Enter(StoreOp::kGet);
    return inner_->Get(k, c);
  }
  std::vector<std::optional<Item>> BatchGet(const std::vector<ItemKey>& k, bool c) override {
    Enter(StoreOp::kBatchGet);
    return inner_->BatchGet(k, c);
  }
  WriteResult Write(const WriteOp& op) override {
    Enter(StoreOp::kWrite);
    return inner_->Write(op);
  }
  std::vector<WriteResult> WriteEach(const std::vector<WriteOp>& ops) override {
    Enter(StoreOp::kWriteEach);
    return inner_->WriteEach(ops);
  }
  TransactResult Transact(const std::vector<WriteOp>& ops) override {
    Enter(StoreOp::kTransact);
    return inner_->Transact(ops);
  }
  void BatchWrite(const std::vector<WriteOp>& ops) override {
    Enter(StoreOp::kBatchWrite);
    inner_->BatchWrite(ops);
  }
  QueryPage Query(const QueryRequest& r) override {
    Enter(StoreOp::kQuery);
    return inner_->Query(r);
  }
  // The asynchronous form counts as WriteBuckets too; an injected failure
  // arrives through `done`, as the store's own would.
  void WriteBucketsAsync(BucketWrite* writes, size_t count, WriteBucketsCallback done) override {
    try {
      Enter(StoreOp::kWriteBuckets);
    } catch (...) {
      done(std::current_exception());
      return;
    }
    inner_->WriteBucketsAsync(writes, count, std::move(done));
  }
  void WriteBuckets(BucketWrite* writes, size_t count) override {
    Enter(StoreOp::kWriteBuckets);
    inner_->WriteBuckets(writes, count);
  }
  std::shared_ptr<BucketHandle> OpenBucket(const ItemKey& key) override {
    return inner_->OpenBucket(key);
  }
  int64_t DeleteExpired(int64_t now) override { return inner_->DeleteExpired(now); }
  StoreStats stats() const override { return inner_->stats(); }
  void ResetStats() override { inner_->ResetStats(); }

 private:
  void Enter(StoreOp op) {
    std::exception_ptr fail;
    {
      std::lock_guard lock(mu_);
      const int n = ++counts_[op];
      log_.push_back(std::string(StoreOpName(op)) + "#" + std::to_string(n));
      if (armed_ && (is_down_ || (op == op_ && n == nth_))) {
        fired_ = true;
        is_down_ = down_after_;
        fail = error_;
        log_.back() += "(failed)";
      }
    }
    if (fail) std::rethrow_exception(fail);
  }

  std::shared_ptr<Store> inner_;
  mutable std::mutex mu_;
  bool armed_ = false;
  StoreOp op_ = StoreOp::kGet;
  int nth_ = 0;
  std::exception_ptr error_;
  bool down_after_ = false;
  bool is_down_ = false;
  bool fired_ = false;
  std::map<StoreOp, int> counts_;
  std::vector<std::string> log_;
};

}  // namespace zae::testing

#endif  // ZAE_STORE_FAULTY_STORE_H_

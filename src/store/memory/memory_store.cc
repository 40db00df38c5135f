#include "zae/memory_store.h"

#include <exception>

#include "store/apply.h"

namespace zae {

using store::Applied;
using store::Change;

std::optional<Item> MemoryStore::Get(const ItemKey& key, bool) {
  std::lock_guard lock(mu_);
  ++stats_.calls["GetItem"];
  auto it = items_.find(key);
  if (it == items_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::optional<Item>> MemoryStore::BatchGet(const std::vector<ItemKey>& keys, bool) {
  std::lock_guard lock(mu_);
  ++stats_.calls["BatchGetItem"];
  std::vector<std::optional<Item>> out;
  out.reserve(keys.size());
  for (const auto& key : keys) {
    auto it = items_.find(key);
    out.push_back(it == items_.end() ? std::nullopt : std::optional<Item>(it->second));
  }
  return out;
}

WriteResult MemoryStore::WriteLocked(const WriteOp& op) {
  const ItemKey key = store::KeyOfOp(op);
  auto it = items_.find(key);
  Applied a = store::Apply(op, it == items_.end() ? nullptr : &it->second);
  if (a.change == Change::kUpsert) {
    if (it == items_.end()) {
      items_.emplace(key, std::move(a.item));
    } else {
      it->second = std::move(a.item);
    }
  } else if (a.change == Change::kErase) {
    items_.erase(it);
  }
  return std::move(a.result);
}

WriteResult MemoryStore::Write(const WriteOp& op) {
  static const char* const kNames[] = {"PutItem", "UpdateItem", "DeleteItem", "ConditionCheck"};
  std::lock_guard lock(mu_);
  ++stats_.calls[kNames[op.index()]];
  return WriteLocked(op);
}

std::vector<WriteResult> MemoryStore::WriteEach(const std::vector<WriteOp>& ops) {
  return store::WriteEachInTurn(*this, ops);
}

TransactResult MemoryStore::Transact(const std::vector<WriteOp>& ops) {
  std::lock_guard lock(mu_);
  ++stats_.calls["TransactWriteItems"];
  std::vector<const Item*> current;
  for (const auto& op : ops) {
    auto it = items_.find(store::KeyOfOp(op));
    current.push_back(it == items_.end() ? nullptr : &it->second);
  }
  store::TransactApplied t = store::ApplyTransaction(ops, current);
  for (size_t i = 0; i < t.applied.size(); ++i) {
    const ItemKey key = store::KeyOfOp(ops[i]);
    if (t.applied[i].change == Change::kUpsert) {
      items_[key] = std::move(t.applied[i].item);
    } else if (t.applied[i].change == Change::kErase) {
      items_.erase(key);
    }
  }
  return std::move(t.result);
}

void MemoryStore::BatchWrite(const std::vector<WriteOp>& ops) {
  std::lock_guard lock(mu_);
  ++stats_.calls["BatchWriteItem"];
  for (const auto& op : ops) WriteLocked(op);
}

QueryPage MemoryStore::Query(const QueryRequest& request) {
  std::lock_guard lock(mu_);
  ++stats_.calls["Query"];
  std::vector<const Item*> candidates;
  if (request.index == Index::kTable) {
    for (auto it = items_.lower_bound(ItemKey{request.hash, ""});
         it != items_.end() && it->first.pk == request.hash; ++it) {
      candidates.push_back(&it->second);
    }
  } else {
    for (const auto& [key, item] : items_) candidates.push_back(&item);
  }
  return store::QueryItems(std::move(candidates), request, 1000);
}

int64_t MemoryStore::DeleteExpired(int64_t now_seconds) {
  std::lock_guard lock(mu_);
  int64_t n = 0;
  for (auto it = items_.begin(); it != items_.end();) {
    auto ttl = it->second.find("ttl");
    if (ttl != it->second.end() && ttl->second.is_number() &&
        ttl->second.as_number() < now_seconds) {
      it = items_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

StoreStats MemoryStore::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void MemoryStore::ResetStats() {
  std::lock_guard lock(mu_);
  stats_ = {};
}

size_t MemoryStore::size() const {
  std::lock_guard lock(mu_);
  return items_.size();
}

}  // namespace zae

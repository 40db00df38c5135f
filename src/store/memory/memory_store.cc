#include "zae/memory_store.h"

#include <exception>

#include "store/apply.h"

namespace zae {

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
  WriteResult result;
  if (it == items_.end()) {
    Item fresh;
    if (store::ApplyInPlace(op, fresh, false, result) == Change::kUpsert) {
      items_.emplace(key, std::move(fresh));
    }
  } else if (store::ApplyInPlace(op, it->second, true, result) == Change::kErase) {
    items_.erase(it);
  }
  return result;
}

WriteResult MemoryStore::Write(const WriteOp& op) {
  static const std::string kNames[] = {"PutItem", "UpdateItem", "DeleteItem", "ConditionCheck"};
  std::lock_guard lock(mu_);
  ++stats_.calls[kNames[op.index()]];
  return WriteLocked(op);
}

std::vector<WriteResult> MemoryStore::WriteEach(const std::vector<WriteOp>& ops) {
  return store::WriteEachInTurn(*this, ops);
}

TransactResult MemoryStore::Transact(const std::vector<WriteOp>& ops) {
  static const std::string kName = "TransactWriteItems";
  std::lock_guard lock(mu_);
  ++stats_.calls[kName];
  std::vector<ItemKey> keys;
  std::vector<Item*> items;
  std::vector<bool> exists;
  std::vector<Item> fresh(ops.size());  // stand-ins for missing items
  for (size_t i = 0; i < ops.size(); ++i) {
    keys.push_back(store::KeyOfOp(ops[i]));
    auto it = items_.find(keys.back());
    exists.push_back(it != items_.end());
    items.push_back(exists.back() ? &it->second : &fresh[i]);
  }
  std::vector<Change> changes;
  TransactResult result = store::ApplyTransaction(ops, items, exists, changes);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (changes[i] == Change::kUpsert && !exists[i]) {
      items_.emplace(keys[i], std::move(fresh[i]));
    } else if (changes[i] == Change::kErase) {
      items_.erase(keys[i]);
    }
  }
  return result;
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

#include "store/apply.h"

#include <algorithm>
#include <exception>
#include <tuple>

#include "zae/bucket.h"
#include "zae/errors.h"

namespace zae::store {
namespace {

template <class... Ts>
struct Overload : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overload(Ts...) -> Overload<Ts...>;

Item Fresh(const ItemKey& key) { return Item{{"PK", Value(key.pk)}, {"SK", Value(key.sk)}}; }

void ApplyUpdateActions(const Update& u, Item& item) {
  for (const auto& [name, value] : u.set) item[name] = value;
  for (const auto& [name, value] : u.set_if_not_exists) item.try_emplace(name, value);
  for (const auto& [name, delta] : u.add) {
    auto it = item.find(name);
    if (it == item.end()) {
      item[name] = Value(delta);
    } else {
      it->second = Value(SaturatingAdd(it->second.as_number(), delta));
    }
  }
  for (const auto& [name, members] : u.add_to_set) {
    auto it = item.find(name);
    Value::StringSet set = it == item.end() ? Value::StringSet{} : it->second.as_string_set();
    set.insert(members.begin(), members.end());
    item[name] = Value(std::move(set));
  }
  for (const auto& [name, members] : u.delete_from_set) {
    auto it = item.find(name);
    if (it == item.end()) continue;
    Value::StringSet set = it->second.as_string_set();
    for (const auto& m : members) set.erase(m);
    if (set.empty()) {
      item.erase(it);
    } else {
      it->second = Value(std::move(set));
    }
  }
  for (const auto& name : u.remove) item.erase(name);
}

}  // namespace

bool UpdateSetsHold(const Update& u, const Item& item) {
  for (const auto& [name, value] : u.set) {
    auto it = item.find(name);
    if (it == item.end() || !(it->second == value)) return false;
  }
  for (const auto& [name, value] : u.set_if_not_exists) {
    if (!item.count(name)) return false;
  }
  return true;
}

ItemKey KeyOfOp(const WriteOp& op) {
  return std::visit(
      Overload{[](const Put& p) { return KeyOf(p.item); }, [](const Update& u) { return u.key; },
               [](const Delete& d) { return d.key; },
               [](const ConditionCheck& c) { return c.key; }},
      op);
}

namespace {

const Condition& ConditionOf(const WriteOp& op) {
  return std::visit([](const auto& o) -> const Condition& { return o.condition; }, op);
}

// The value `name` holds after u's SET clauses (nullptr: absent).
const Value* AfterSet(const Update& u, const Item* current, const std::string& name) {
  const Value* v = nullptr;
  for (const auto& [n, value] : u.set) {
    if (n == name) v = &value;
  }
  if (v) return v;
  if (current) {
    auto it = current->find(name);
    if (it != current->end()) return &it->second;
  }
  for (const auto& [n, value] : u.set_if_not_exists) {
    if (n == name) return &value;
  }
  return nullptr;
}

// Throws whatever applying `op` would throw, before anything changes: writes
// happen in place, so a failure half way would leave half an update behind.
void CheckApplicable(const WriteOp& op, const Item* current) {
  if (const auto* p = std::get_if<Put>(&op)) KeyOf(p->item);  // validates PK/SK
  const auto* u = std::get_if<Update>(&op);
  if (!u) return;
  for (const auto& [name, delta] : u->add) {
    if (const Value* v = AfterSet(*u, current, name)) v->as_number();
  }
  for (const auto* sets : {&u->add_to_set, &u->delete_from_set}) {
    for (const auto& [name, members] : *sets) {
      for (const auto& [n, delta] : u->add) {
        if (n == name) throw ValidationError(name, "", "a numeric ADD and a set ADD/DELETE");
      }
      if (const Value* v = AfterSet(*u, current, name)) v->as_string_set();
    }
  }
}

// The failed-condition result: the old item when the op asked for it.
void Fail(const WriteOp& op, const Item& item, bool exists, WriteResult& result) {
  result.status = WriteStatus::kConditionFailed;
  const bool want_old = std::visit(Overload{[](const Put& p) { return p.return_old_on_failure; },
                                            [](const Update& u) { return u.return_old_on_failure; },
                                            [](const Delete& d) { return d.return_old; },
                                            [](const ConditionCheck&) { return false; }},
                                   op);
  if (want_old && exists) result.item = item;
}

// Applies `op`'s actions; its condition held and CheckApplicable passed.
Change Mutate(const WriteOp& op, Item& item, bool exists, WriteResult& result) {
  return std::visit(Overload{
                        [&](const Put& p) {
                          item = p.item;
                          return Change::kUpsert;
                        },
                        [&](const Update& u) {
                          if (!exists) item = Fresh(u.key);
                          ApplyUpdateActions(u, item);
                          if (u.return_new) result.item = item;
                          return Change::kUpsert;
                        },
                        [&](const Delete& d) {
                          if (!exists) return Change::kNone;
                          if (d.return_old) result.item = item;
                          return Change::kErase;
                        },
                        [&](const ConditionCheck&) { return Change::kNone; },
                    },
                    op);
}

}  // namespace

Change ApplyInPlace(const WriteOp& op, Item& item, bool exists, WriteResult& result) {
  if (!Evaluate(ConditionOf(op), exists ? &item : nullptr)) {
    Fail(op, item, exists, result);
    return Change::kNone;
  }
  CheckApplicable(op, exists ? &item : nullptr);
  return Mutate(op, item, exists, result);
}

TransactResult ApplyTransaction(const std::vector<WriteOp>& ops, const std::vector<Item*>& items,
                                const std::vector<bool>& exists, std::vector<Change>& changes) {
  if (ops.size() > 100) throw ValidationError("transaction", "", "at most 100 operations");
  std::vector<ItemKey> keys;
  keys.reserve(ops.size());
  for (const auto& op : ops) keys.push_back(KeyOfOp(op));
  std::sort(keys.begin(), keys.end());
  if (auto dup = std::adjacent_find(keys.begin(), keys.end()); dup != keys.end()) {
    throw ValidationError("transaction", dup->pk, "two operations address the same item");
  }
  TransactResult out;
  out.failed.assign(ops.size(), false);
  out.old_items.assign(ops.size(), std::nullopt);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (Evaluate(ConditionOf(ops[i]), exists[i] ? items[i] : nullptr)) {
      CheckApplicable(ops[i], exists[i] ? items[i] : nullptr);
      continue;
    }
    out.ok = false;
    out.failed[i] = true;
    if (exists[i]) out.old_items[i] = *items[i];
  }
  changes.assign(ops.size(), Change::kNone);
  if (!out.ok) return out;
  out.new_items.resize(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    WriteResult r;
    changes[i] = Mutate(ops[i], *items[i], exists[i], r);
    out.new_items[i] = std::move(r.item);
  }
  return out;
}

std::vector<WriteResult> WriteEachInTurn(Store& store, const std::vector<WriteOp>& ops) {
  std::vector<WriteResult> out;
  out.reserve(ops.size());
  std::exception_ptr first_error;
  for (const auto& op : ops) {
    try {
      out.push_back(store.Write(op));
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
      out.emplace_back();
    }
  }
  if (first_error) std::rethrow_exception(first_error);
  return out;
}

std::pair<std::string, std::string> IndexAttributes(Index index) {
  switch (index) {
    case Index::kTable:
      return {"PK", "SK"};
    case Index::kGsi1:
      return {"GSI1PK", "GSI1SK"};
    case Index::kGsi2:
      return {"GSI2PK", "GSI2SK"};
    case Index::kGsi3:
      return {"GSI3PK", "GSI3SK"};
    case Index::kGsi4:
      return {"GSI4PK", "GSI4SK"};
  }
  return {"PK", "SK"};
}

QueryPage QueryItems(std::vector<const Item*> candidates, const QueryRequest& req,
                     int default_page_size) {
  // Plain variables, not a structured binding: clang 14 (the fuzz build)
  // cannot capture bindings in the lambdas below.
  const std::pair<std::string, std::string> attrs = IndexAttributes(req.index);
  const std::string& hash_attr = attrs.first;
  const std::string& sort_attr = attrs.second;
  auto str = [](const Item& item, const std::string& attr) -> const std::string* {
    auto it = item.find(attr);
    return it != item.end() && it->second.is_string() ? &it->second.as_string() : nullptr;
  };
  using SortKey = std::tuple<std::string, std::string, std::string>;
  auto sort_key = [&](const Item& item) {
    return SortKey{*str(item, sort_attr), *str(item, "PK"), *str(item, "SK")};
  };
  std::vector<std::pair<SortKey, const Item*>> rows;
  for (const Item* item : candidates) {
    const std::string* h = str(*item, hash_attr);
    const std::string* s = str(*item, sort_attr);
    if (!h || !s || *h != req.hash) continue;
    if (req.sort_prefix && s->compare(0, req.sort_prefix->size(), *req.sort_prefix) != 0) continue;
    rows.emplace_back(sort_key(*item), item);
  }
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  if (!req.forward) std::reverse(rows.begin(), rows.end());
  size_t begin = 0;
  if (req.start_after) {
    const Item& last = *req.start_after;
    if (!str(last, sort_attr) || !str(last, "PK") || !str(last, "SK")) {
      throw ValidationError("start_after", "", "continuation key lacks the index keys");
    }
    const SortKey after = sort_key(last);
    while (begin < rows.size() &&
           (req.forward ? !(after < rows[begin].first) : !(rows[begin].first < after))) {
      ++begin;
    }
  }
  const size_t page = static_cast<size_t>(req.limit > 0 ? req.limit : default_page_size);
  QueryPage out;
  for (size_t i = begin; i < rows.size() && out.items.size() < page; ++i) {
    out.items.push_back(*rows[i].second);
  }
  if (begin + out.items.size() < rows.size() && !out.items.empty()) {
    out.last_evaluated = out.items.back();
  }
  return out;
}

}  // namespace zae::store

#include "store/apply.h"

#include <algorithm>
#include <exception>
#include <set>
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

ItemKey KeyOfOp(const WriteOp& op) {
  return std::visit(
      Overload{[](const Put& p) { return KeyOf(p.item); }, [](const Update& u) { return u.key; },
               [](const Delete& d) { return d.key; },
               [](const ConditionCheck& c) { return c.key; }},
      op);
}

Applied Apply(const WriteOp& op, const Item* current) {
  Applied out;
  auto fail = [&](bool want_old) {
    out.result.status = WriteStatus::kConditionFailed;
    if (want_old && current) out.result.item = *current;
    return out;
  };
  return std::visit(Overload{
                        [&](const Put& p) {
                          if (!Evaluate(p.condition, current)) return fail(p.return_old_on_failure);
                          KeyOf(p.item);  // validates PK/SK
                          out.change = Change::kUpsert;
                          out.item = p.item;
                          return out;
                        },
                        [&](const Update& u) {
                          if (!Evaluate(u.condition, current)) return fail(u.return_old_on_failure);
                          out.item = current ? *current : Fresh(u.key);
                          ApplyUpdateActions(u, out.item);
                          out.change = Change::kUpsert;
                          if (u.return_new) out.result.item = out.item;
                          return out;
                        },
                        [&](const Delete& d) {
                          if (!Evaluate(d.condition, current)) return fail(d.return_old);
                          if (current) {
                            out.change = Change::kErase;
                            if (d.return_old) out.result.item = *current;
                          }
                          return out;
                        },
                        [&](const ConditionCheck& c) {
                          if (!Evaluate(c.condition, current)) return fail(false);
                          return out;
                        },
                    },
                    op);
}

TransactApplied ApplyTransaction(const std::vector<WriteOp>& ops,
                                 const std::vector<const Item*>& current) {
  if (ops.size() > 100) throw ValidationError("transaction", "", "at most 100 operations");
  std::set<ItemKey> keys;
  for (const auto& op : ops) {
    if (!keys.insert(KeyOfOp(op)).second) {
      throw ValidationError("transaction", KeyOfOp(op).pk, "two operations address the same item");
    }
  }
  TransactApplied out;
  out.result.failed.assign(ops.size(), false);
  out.result.old_items.assign(ops.size(), std::nullopt);
  out.result.new_items.assign(ops.size(), std::nullopt);
  for (size_t i = 0; i < ops.size(); ++i) {
    Applied a = Apply(ops[i], current[i]);
    out.result.new_items[i] = a.result.item;
    if (!a.result.ok()) {
      out.result.ok = false;
      out.result.failed[i] = true;
      if (current[i]) out.result.old_items[i] = *current[i];
    }
    out.applied.push_back(std::move(a));
  }
  if (!out.result.ok) {
    out.applied.clear();
    out.result.new_items.clear();
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

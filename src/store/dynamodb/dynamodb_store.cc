#include "zae/dynamodb_store.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "aws/client.h"
#include "aws/errors.h"
#include "core/deadline.h"
#include "store/apply.h"
#include "store/bucket_write.h"
#include "store/dynamodb/bucket_request.h"
#include "store/dynamodb/write_outcome.h"
#include "zae/bucket.h"
#include "zae/errors.h"

namespace zae {
namespace {

using AV = aws::AttributeValue;

template <class... Ts>
struct Overload : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overload(Ts...) -> Overload<Ts...>;

// ---- Values ----

AV ToAttr(const Value& v) {
  switch (v.type()) {
    case Value::Type::kNull:
      return AV::Null();
    case Value::Type::kBool:
      return AV::Bool(v.as_bool());
    case Value::Type::kNumber:
      return AV::N(v.as_number());
    case Value::Type::kString:
      return AV::S(v.as_string());
    case Value::Type::kStringSet: {
      const auto& ss = v.as_string_set();
      return AV::SS(std::vector<std::string>(ss.begin(), ss.end()));
    }
    case Value::Type::kList: {
      std::vector<AV> l;
      l.reserve(v.as_list().size());
      for (const auto& e : v.as_list()) l.push_back(ToAttr(e));
      return AV::L(std::move(l));
    }
    case Value::Type::kMap: {
      aws::Item m;
      for (const auto& [k, e] : v.as_map()) m.emplace(k, ToAttr(e));
      return AV::M(std::move(m));
    }
  }
  return AV::Null();
}

aws::Item ToAwsItem(const Item& item) {
  aws::Item out;
  for (const auto& [k, v] : item) out.emplace(k, ToAttr(v));
  return out;
}

Value FromAttr(const AV& a) {
  switch (a.type()) {
    case AV::Type::kNull:
      return Value();
    case AV::Type::kBool:
      return Value(a.boolean());
    case AV::Type::kN:
      return Value(store::dynamodb::ParseDynamoNumber(a.n()));
    case AV::Type::kS:
      return Value(a.s());
    case AV::Type::kSS: {
      Value::StringSet ss(a.ss().begin(), a.ss().end());
      return Value(std::move(ss));
    }
    case AV::Type::kL: {
      Value::List l;
      l.reserve(a.l().size());
      for (const auto& e : a.l()) l.push_back(FromAttr(e));
      return Value(std::move(l));
    }
    case AV::Type::kM: {
      Value::Map m;
      for (const auto& [k, e] : a.m()) m.emplace(k, FromAttr(e));
      return Value(std::move(m));
    }
    default:
      throw StoreError(std::string("DynamoDB: unsupported attribute type ") +
                       aws::TypeName(a.type()));
  }
}

Item FromAwsItem(const aws::Item& item) {
  Item out;
  for (const auto& [k, v] : item) out.emplace(k, FromAttr(v));
  return out;
}

std::optional<Item> FromAwsItem(const std::optional<aws::Item>& item) {
  if (!item) return std::nullopt;
  return FromAwsItem(*item);
}

aws::Item KeyItem(const ItemKey& key) {
  aws::Item k;
  k.emplace("PK", AV::S(key.pk));
  k.emplace("SK", AV::S(key.sk));
  return k;
}

ItemKey KeyOfAws(const aws::Item& item) {
  auto pk = item.find("PK");
  auto sk = item.find("SK");
  if (pk == item.end() || sk == item.end() || pk->second.type() != AV::Type::kS ||
      sk->second.type() != AV::Type::kS) {
    throw StoreError("DynamoDB: item without string PK/SK");
  }
  return ItemKey{pk->second.s(), sk->second.s()};
}

// ---- Expressions (index-based placeholders only) ----

class Expr {
 public:
  std::string Name(const std::string& attr) {
    auto it = name_of_.find(attr);
    if (it != name_of_.end()) return it->second;
    std::string p = "#n" + std::to_string(name_of_.size());
    name_of_.emplace(attr, p);
    names_.emplace(p, attr);
    return p;
  }
  std::string Val(AV v) {
    std::string p = ":v" + std::to_string(values_.size());
    values_.emplace(p, std::move(v));
    return p;
  }
  std::string Condition(const zae::Condition& cond) {
    std::string out;
    for (const auto& clause : cond.clauses) {
      if (!out.empty()) out += " AND ";
      if (clause.empty()) {  // an empty clause never holds
        const std::string pk = Name("PK");
        out += "(attribute_exists(" + pk + ") AND attribute_not_exists(" + pk + "))";
        continue;
      }
      out += "(";
      for (size_t i = 0; i < clause.size(); ++i) {
        if (i) out += " OR ";
        out += Pred(clause[i]);
      }
      out += ")";
    }
    return out;
  }
  // DynamoDB rejects an expression that names one attribute in two actions,
  // so actions on one attribute are first folded in the contract's order
  // (set, set_if_not_exists, add, add_to_set, delete_from_set, remove):
  // a later REMOVE wins; actions after a SET are computed here; ADD after
  // set_if_not_exists becomes SET #n = if_not_exists(#n, :v) + :d.
  std::string Update(const zae::Update& u) {
    std::set<std::string> removed(u.remove.begin(), u.remove.end());
    std::map<std::string, Value> set_vals;
    std::vector<std::string> set_order;
    for (const auto& [n, v] : u.set) {
      if (removed.count(n)) continue;
      if (!set_vals.count(n)) set_order.push_back(n);
      set_vals[n] = v;
    }
    std::map<std::string, std::pair<Value, int64_t>> if_absent;  // value, then delta
    std::vector<std::string> if_absent_order;
    for (const auto& [n, v] : u.set_if_not_exists) {
      if (removed.count(n) || set_vals.count(n) || if_absent.count(n)) continue;
      if_absent.emplace(n, std::make_pair(v, int64_t{0}));
      if_absent_order.push_back(n);
    }
    std::map<std::string, int64_t> adds;
    std::vector<std::string> add_order;
    for (const auto& [n, d] : u.add) {
      if (removed.count(n)) continue;
      if (auto it = set_vals.find(n); it != set_vals.end()) {
        it->second = Value(SaturatingAdd(it->second.as_number(), d));
      } else if (auto ia = if_absent.find(n); ia != if_absent.end()) {
        ia->second.second = SaturatingAdd(ia->second.second, d);
      } else {
        if (!adds.count(n)) add_order.push_back(n);
        adds[n] = SaturatingAdd(adds[n], d);
      }
    }
    std::map<std::string, Value::StringSet> add_sets, del_sets;
    std::vector<std::string> add_set_order, del_set_order;
    for (const auto& [n, members] : u.add_to_set) {
      if (removed.count(n) || members.empty()) continue;
      if (auto it = set_vals.find(n); it != set_vals.end()) {
        Value::StringSet ss = it->second.as_string_set();
        ss.insert(members.begin(), members.end());
        it->second = Value(std::move(ss));
      } else {
        if (!add_sets.count(n)) add_set_order.push_back(n);
        add_sets[n].insert(members.begin(), members.end());
      }
    }
    for (const auto& [n, members] : u.delete_from_set) {
      if (removed.count(n) || members.empty()) continue;
      if (auto it = set_vals.find(n); it != set_vals.end()) {
        Value::StringSet ss = it->second.as_string_set();
        for (const auto& m : members) ss.erase(m);
        if (ss.empty()) {
          set_vals.erase(it);
          set_order.erase(std::find(set_order.begin(), set_order.end(), n));
          removed.insert(n);
        } else {
          it->second = Value(std::move(ss));
        }
      } else {
        if (!del_sets.count(n)) del_set_order.push_back(n);
        del_sets[n].insert(members.begin(), members.end());
      }
    }
    std::vector<std::string> set, add, del, rem;
    for (const auto& n : set_order) set.push_back(Name(n) + " = " + Val(ToAttr(set_vals.at(n))));
    for (const auto& n : if_absent_order) {
      const auto& [v, d] = if_absent.at(n);
      const std::string p = Name(n);
      std::string e = p + " = if_not_exists(" + p + ", " + Val(ToAttr(v)) + ")";
      if (d != 0) e += " + " + Val(AV::N(d));
      set.push_back(std::move(e));
    }
    auto ss_attr = [](const Value::StringSet& s) {
      return AV::SS(std::vector<std::string>(s.begin(), s.end()));
    };
    for (const auto& n : add_order) add.push_back(Name(n) + " " + Val(AV::N(adds.at(n))));
    for (const auto& n : add_set_order) add.push_back(Name(n) + " " + Val(ss_attr(add_sets.at(n))));
    for (const auto& n : del_set_order) del.push_back(Name(n) + " " + Val(ss_attr(del_sets.at(n))));
    for (const auto& n : removed) rem.push_back(Name(n));
    std::string out;
    auto section = [&](const char* kw, const std::vector<std::string>& parts) {
      if (parts.empty()) return;
      if (!out.empty()) out += " ";
      out += kw;
      for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : " ") + parts[i];
    };
    section("SET", set);
    section("ADD", add);
    section("DELETE", del);
    section("REMOVE", rem);
    return out;
  }
  aws::NameMap names() const { return names_; }
  aws::ValueMap values() const { return values_; }

 private:
  std::string Pred(const Predicate& p) {
    const std::string n = Name(p.attr);
    switch (p.op) {
      case Predicate::Op::kExists:
        return "attribute_exists(" + n + ")";
      case Predicate::Op::kNotExists:
        return "attribute_not_exists(" + n + ")";
      case Predicate::Op::kEq:
        return n + " = " + Val(ToAttr(p.operand));
      case Predicate::Op::kNe:
        return n + " <> " + Val(ToAttr(p.operand));
      case Predicate::Op::kLt:
        return n + " < " + Val(ToAttr(p.operand));
      case Predicate::Op::kLe:
        return n + " <= " + Val(ToAttr(p.operand));
      case Predicate::Op::kGt:
        return n + " > " + Val(ToAttr(p.operand));
      case Predicate::Op::kGe:
        return n + " >= " + Val(ToAttr(p.operand));
    }
    return "";
  }

  std::map<std::string, std::string> name_of_;
  aws::NameMap names_;
  aws::ValueMap values_;
};

bool WantsOld(const WriteOp& op) {
  return std::visit(Overload{[](const Put& p) { return p.return_old_on_failure; },
                             [](const zae::Update& u) { return u.return_old_on_failure; },
                             [](const Delete& d) { return d.return_old; },
                             [](const ConditionCheck&) { return false; }},
                    op);
}

aws::TransactWriteItem ToTransactItem(const std::string& table, const WriteOp& op,
                                      bool return_old) {
  aws::TransactWriteItem t;
  t.table_name = table;
  Expr e;
  std::visit(Overload{[&](const Put& p) {
                        KeyOf(p.item);
                        t.kind = aws::TransactWriteItem::Kind::kPut;
                        t.item = ToAwsItem(p.item);
                        t.condition_expression = e.Condition(p.condition);
                      },
                      [&](const zae::Update& u) {
                        t.kind = aws::TransactWriteItem::Kind::kUpdate;
                        t.key = KeyItem(u.key);
                        t.update_expression = e.Update(u);
                        t.condition_expression = e.Condition(u.condition);
                      },
                      [&](const Delete& d) {
                        t.kind = aws::TransactWriteItem::Kind::kDelete;
                        t.key = KeyItem(d.key);
                        t.condition_expression = e.Condition(d.condition);
                      },
                      [&](const ConditionCheck& c) {
                        t.kind = aws::TransactWriteItem::Kind::kConditionCheck;
                        t.key = KeyItem(c.key);
                        t.condition_expression = e.Condition(c.condition);
                        // DynamoDB requires a condition; an empty one always holds.
                        if (t.condition_expression.empty()) {
                          t.condition_expression = "attribute_exists(" + e.Name("PK") +
                                                   ") OR attribute_not_exists(" + e.Name("PK") +
                                                   ")";
                        }
                      }},
             op);
  t.expression_attribute_names = e.names();
  t.expression_attribute_values = e.values();
  if (return_old) t.return_values_on_condition_check_failure = "ALL_OLD";
  return t;
}

aws::Request ToRequest(const std::string& table, const WriteOp& op) {
  return std::visit(Overload{[&](const Put& p) -> aws::Request {
                               KeyOf(p.item);
                               aws::PutItemRequest r;
                               r.table_name = table;
                               r.item = ToAwsItem(p.item);
                               Expr e;
                               r.condition_expression = e.Condition(p.condition);
                               r.expression_attribute_names = e.names();
                               r.expression_attribute_values = e.values();
                               if (p.return_old_on_failure)
                                 r.return_values_on_condition_check_failure = "ALL_OLD";
                               return r;
                             },
                             [&](const zae::Update& u) -> aws::Request {
                               aws::UpdateItemRequest r;
                               r.table_name = table;
                               r.key = KeyItem(u.key);
                               Expr e;
                               r.update_expression = e.Update(u);
                               r.condition_expression = e.Condition(u.condition);
                               r.expression_attribute_names = e.names();
                               r.expression_attribute_values = e.values();
                               if (u.return_new) r.return_values = "ALL_NEW";
                               if (u.return_old_on_failure)
                                 r.return_values_on_condition_check_failure = "ALL_OLD";
                               return r;
                             },
                             [&](const Delete& d) -> aws::Request {
                               aws::DeleteItemRequest r;
                               r.table_name = table;
                               r.key = KeyItem(d.key);
                               Expr e;
                               r.condition_expression = e.Condition(d.condition);
                               r.expression_attribute_names = e.names();
                               r.expression_attribute_values = e.values();
                               if (d.return_old) {
                                 r.return_values = "ALL_OLD";
                                 r.return_values_on_condition_check_failure = "ALL_OLD";
                               }
                               return r;
                             },
                             [&](const ConditionCheck&) -> aws::Request {
                               aws::TransactWriteItemsRequest r;
                               r.transact_items.push_back(ToTransactItem(table, op, false));
                               return r;
                             }},
                    op);
}

// 32 random hex digits (DynamoDB takes 1..36 characters).
std::string IdempotencyToken() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string t(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = rng();
    for (int i = 0; i < 16; ++i, bits >>= 4) t[half * 16 + i] = kHex[bits & 15];
  }
  return t;
}

// The outcome of one write: a result, or rethrows a non-condition error.
WriteResult Interpret(const WriteOp& op, aws::Result& res) {
  WriteResult out;
  if (res.error) {
    try {
      std::rethrow_exception(res.error);
    } catch (const aws::ConditionalCheckFailed& e) {
      out.status = WriteStatus::kConditionFailed;
      if (WantsOld(op)) out.item = FromAwsItem(e.item());
      return out;
    } catch (const aws::TransactionCanceled& e) {
      if (std::holds_alternative<ConditionCheck>(op) && !e.reasons().empty() &&
          e.reasons()[0].code == "ConditionalCheckFailed") {
        out.status = WriteStatus::kConditionFailed;
        return out;
      }
      throw;
    }
  }
  std::visit(Overload{[&](aws::UpdateItemResponse& r) {
                        if (std::get<zae::Update>(op).return_new)
                          out.item = FromAwsItem(r.attributes);
                      },
                      [&](aws::DeleteItemResponse& r) {
                        if (std::get<Delete>(op).return_old) out.item = FromAwsItem(r.attributes);
                      },
                      [](auto&) {}},
             res.response);
  return out;
}

std::pair<std::string, std::string> IndexKeys(Index index) { return store::IndexAttributes(index); }

const char* IndexName(Index index) {
  switch (index) {
    case Index::kTable:
      return "";
    case Index::kGsi1:
      return "GSI1";
    case Index::kGsi2:
      return "GSI2";
    case Index::kGsi3:
      return "GSI3";
    case Index::kGsi4:
      return "GSI4";
  }
  return "";
}

}  // namespace

// ---- DynamoDbStore ----

DynamoDbStore::DynamoDbStore(DynamoDbOptions options)
    : options_(std::move(options)), narrow_gsi2_(options_.narrow_gsi2) {
  if (options_.table.empty()) throw ValidationError("table", "", "a table name is required");
  if (options_.request_timeout.count() <= 0 || options_.call_timeout.count() <= 0) {
    throw ValidationError("timeout",
                          std::to_string(options_.request_timeout.count()) + "/" +
                              std::to_string(options_.call_timeout.count()) + " ms",
                          "request_timeout and call_timeout must be positive");
  }
  aws::ClientConfig config =
      aws::ClientConfig::For(options_.endpoint, options_.region, options_.access_key_id,
                             options_.secret_access_key, options_.session_token);
  config.request_timeout = options_.request_timeout;
  config.call_timeout = options_.call_timeout;
  ledger_ = std::make_unique<store::WriteLedger>();
  client_ = std::make_unique<aws::DynamoClient>(std::move(config));
  region_ = client_->config().region;
  endpoint_ = options_.endpoint.empty() ? "" : client_->config().endpoint;
}

DynamoDbStore::~DynamoDbStore() {
  if (options_.delete_table_on_destroy && client_) {
    try {
      aws::DeleteTableRequest r;
      r.table_name = options_.table;
      client_->DeleteTable(r);
    } catch (...) {
    }
  }
}

std::string DynamoDbStore::Describe() const {
  std::string out = "dynamodb://" + options_.table + "?region=" + region_;
  if (!endpoint_.empty()) out += "&endpoint=" + endpoint_;
  return out;
}

Capabilities DynamoDbStore::capabilities() const {
  Capabilities c;
  c.sharding = true;
  c.concurrent_writes = true;
  c.async_io = true;
  c.async_bucket_writes = true;
  c.native_ttl = true;
  // Usage snapshots come from the table's stream (zae-limiter aggregate),
  // keeping a warm acquire at one UpdateItem.
  c.usage_from_stream = true;
  return c;
}

void DynamoDbStore::Provision(const ProvisionOptions& options) {
  if (options.narrow_gsi2) narrow_gsi2_ = true;
  aws::CreateTableRequest r;
  r.table_name = options_.table;
  auto attr = [&](const std::string& name) {
    aws::AttributeDefinition d;
    d.attribute_name = name;
    d.attribute_type = "S";
    r.attribute_definitions.push_back(d);
  };
  auto key = [](const std::string& name, const char* type) {
    aws::KeySchemaElement k;
    k.attribute_name = name;
    k.key_type = type;
    return k;
  };
  attr("PK");
  attr("SK");
  for (int i = 1; i <= 4; ++i) {
    attr("GSI" + std::to_string(i) + "PK");
    attr("GSI" + std::to_string(i) + "SK");
  }
  for (int i = 1; i <= 5; ++i) attr("LSI" + std::to_string(i) + "SK");
  r.key_schema = {key("PK", "HASH"), key("SK", "RANGE")};
  for (int i = 1; i <= 4; ++i) {
    aws::SecondaryIndex g;
    const std::string n = "GSI" + std::to_string(i);
    g.index_name = n;
    g.key_schema = {key(n + "PK", "HASH"), key(n + "SK", "RANGE")};
    const bool keys_only = i >= 3 || (i == 2 && options.narrow_gsi2);
    g.projection.projection_type = keys_only ? "KEYS_ONLY" : "ALL";
    r.global_secondary_indexes.push_back(g);
  }
  for (int i = 1; i <= 5; ++i) {
    aws::SecondaryIndex l;
    const std::string n = "LSI" + std::to_string(i);
    l.index_name = n;
    l.key_schema = {key("PK", "HASH"), key(n + "SK", "RANGE")};
    l.projection.projection_type = i % 2 == 1 ? "ALL" : "KEYS_ONLY";
    r.local_secondary_indexes.push_back(l);
  }
  r.billing_mode = "PAY_PER_REQUEST";
  aws::StreamSpecification s;
  s.stream_enabled = true;
  s.stream_view_type = "NEW_AND_OLD_IMAGES";
  r.stream_specification = s;
  try {
    client_->CreateTable(r);
  } catch (const aws::ResourceInUse&) {
    // Exists already (or is being created): wait for it below.
  }
  client_->WaitForTable(options_.table);
  aws::UpdateTimeToLiveRequest ttl;
  ttl.table_name = options_.table;
  ttl.attribute_name = "ttl";
  ttl.enabled = true;
  try {
    client_->UpdateTimeToLive(ttl);
  } catch (const aws::InvalidRequest& e) {
    // "TimeToLive is already enabled" on a second Provision.
    if (std::string(e.what()).find("already enabled") == std::string::npos) throw;
  }
}

bool DynamoDbStore::TableExists() {
  try {
    client_->DescribeTable({options_.table});
    return true;
  } catch (const aws::ResourceNotFound&) {
    return false;
  }
}

bool DynamoDbStore::DeleteTable() {
  aws::DeleteTableRequest r;
  r.table_name = options_.table;
  try {
    client_->DeleteTable(r);
  } catch (const aws::ResourceNotFound&) {
    return false;
  }
  client_->WaitForTable(options_.table, /*until_deleted=*/true);
  return true;
}

std::vector<std::string> DynamoDbStore::ListTables(const DynamoDbOptions& options) {
  aws::DynamoClient client(aws::ClientConfig::For(options.endpoint, options.region,
                                                  options.access_key_id, options.secret_access_key,
                                                  options.session_token));
  std::vector<std::string> out;
  aws::ListTablesRequest r;
  while (true) {
    aws::ListTablesResponse page = client.ListTables(r);
    for (auto& name : page.table_names) out.push_back(std::move(name));
    if (page.last_evaluated_table_name.empty()) return out;
    r.exclusive_start_table_name = std::move(page.last_evaluated_table_name);
  }
}

std::optional<Item> DynamoDbStore::Get(const ItemKey& key, bool consistent) {
  aws::GetItemRequest r;
  r.table_name = options_.table;
  r.key = KeyItem(key);
  r.consistent_read = consistent;
  return FromAwsItem(client_->GetItem(std::move(r)).item);
}

std::vector<std::optional<Item>> DynamoDbStore::BatchGet(const std::vector<ItemKey>& keys,
                                                         bool consistent) {
  std::vector<ItemKey> unique;
  {
    std::set<ItemKey> seen;
    for (const auto& k : keys) {
      if (seen.insert(k).second) unique.push_back(k);
    }
  }
  std::map<ItemKey, Item> found;
  constexpr size_t kChunk = 100;
  for (size_t begin = 0; begin < unique.size(); begin += kChunk) {
    aws::KeysAndAttributes ka;
    ka.consistent_read = consistent;
    for (size_t i = begin; i < std::min(unique.size(), begin + kChunk); ++i) {
      ka.keys.push_back(KeyItem(unique[i]));
    }
    for (int round = 0;; ++round) {
      aws::BatchGetItemRequest r;
      r.request_items[options_.table] = std::move(ka);
      aws::BatchGetItemResponse resp = client_->BatchGetItem(std::move(r));
      for (const auto& [table, items] : resp.responses) {
        for (const auto& item : items) found[KeyOfAws(item)] = FromAwsItem(item);
      }
      auto left = resp.unprocessed_keys.find(options_.table);
      if (left == resp.unprocessed_keys.end() || left->second.keys.empty()) break;
      if (round >= 3) throw StoreError("DynamoDB BatchGetItem: unprocessed keys remain", true);
      ka = std::move(left->second);
      std::this_thread::sleep_for(std::chrono::milliseconds(50 << round));
    }
  }
  std::vector<std::optional<Item>> out;
  out.reserve(keys.size());
  for (const auto& k : keys) {
    auto it = found.find(k);
    if (it == found.end()) {
      out.emplace_back(std::nullopt);
    } else {
      out.emplace_back(it->second);
    }
  }
  return out;
}

namespace {

// Reads of the item and resends per write whose answer was lost: each
// resolves the previous attempt, and all run within the call's deadline.
constexpr int kMaxResolutions = 3;

using WriteDone = std::function<void(WriteResult*, std::exception_ptr)>;

// One single-item write on its way: sent once per attempt, its unknown
// outcomes resolved by a read (write_outcome.h). Holds no store: the store
// outlives the writes it sends, as its client does.
struct WriteJob {
  aws::DynamoClient* client;
  store::WriteLedger* ledger;
  const std::string* table;
  WriteOp op;
  store::SentWrite sent;
  DeadlineClock::time_point deadline;
  int resolutions = 0;
  std::exception_ptr cause;  // the last OutcomeUnknown
  WriteDone done;
};

void SendJob(std::shared_ptr<WriteJob> job);

// The item `res` says the write left, for the ledger (nullptr: not known).
const Item* ItemAfter(const WriteJob& job, const aws::Result& res, const WriteResult& out,
                      Item* scratch) {
  // A refused write changed nothing: its ALL_OLD is the item as it stands.
  if (out.status != WriteStatus::kOk) return out.item ? &*out.item : nullptr;
  if (const auto* p = std::get_if<Put>(&job.op)) return &p->item;
  if (!std::holds_alternative<zae::Update>(job.op)) return nullptr;
  if (out.item) return &*out.item;
  const auto* r = std::get_if<aws::UpdateItemResponse>(&res.response);
  if (!r || !r->attributes) return nullptr;
  *scratch = FromAwsItem(*r->attributes);
  return scratch;
}

void Finish(WriteJob& job, const Item* after, WriteResult* out, std::exception_ptr error) {
  job.ledger->End(job.sent, after);
  job.done(out, std::move(error));
}

void ResolveJob(std::shared_ptr<WriteJob> job) {
  DeadlineScope scope(job->deadline);
  aws::GetItemRequest get;
  get.table_name = *job->table;
  get.key = KeyItem(store::KeyOfOp(job->op));
  get.consistent_read = true;
  job->client->Async(std::move(get), [job](aws::GetItemResponse* r, std::exception_ptr e) {
    if (e) {  // the store cannot say: the write stays unknown
      Finish(*job, nullptr, nullptr, job->cause);
      return;
    }
    std::optional<Item> now = FromAwsItem(r->item);
    switch (store::Judge(job->op, job->sent, now ? &*now : nullptr)) {
      case store::WriteVerdict::kApplied: {
        WriteResult out;
        if (const auto* u = std::get_if<zae::Update>(&job->op); u && u->return_new) out.item = now;
        Finish(*job, now ? &*now : nullptr, &out, nullptr);
        return;
      }
      case store::WriteVerdict::kNotApplied:
        SendJob(std::move(job));
        return;
      case store::WriteVerdict::kUnknown: {
        std::string what;
        try {
          std::rethrow_exception(job->cause);
        } catch (const std::exception& x) {
          what = x.what();
        }
        // Only an ADD needs what this process knew of the item before it.
        const auto* u = std::get_if<zae::Update>(&job->op);
        const bool knew = job->sent.have_before || !u || u->add.empty();
        Finish(*job, nullptr, nullptr,
               std::make_exception_ptr(aws::OutcomeUnknown(
                   what + (knew ? "; another write changed the item since, so whether this one was "
                                  "applied cannot be told and it was not resent"
                                : "; this process did not know the item before this write, so "
                                  "whether it was applied cannot be told and it was not resent"),
                   0)));
        return;
      }
    }
  });
}

void SendJob(std::shared_ptr<WriteJob> job) {
  DeadlineScope scope(job->deadline);
  std::vector<aws::Request> reqs;
  try {
    reqs.push_back(ToRequest(*job->table, job->op));
  } catch (...) {
    Finish(*job, nullptr, nullptr, std::current_exception());
    return;
  }
  // The item an update leaves is what resolving the next write of it needs
  // (ReturnValues costs no capacity).
  if (auto* u = std::get_if<aws::UpdateItemRequest>(&reqs[0])) u->return_values = "ALL_NEW";
  job->client->ExecuteAllAsync(std::move(reqs), [job](std::vector<aws::Result>&& results) {
    aws::Result& res = results[0];
    if (res.error && IsOutcomeUnknown(res.error) && job->resolutions < kMaxResolutions) {
      ++job->resolutions;
      job->cause = res.error;
      ResolveJob(job);
      return;
    }
    WriteResult out;
    try {
      out = Interpret(job->op, res);
    } catch (...) {
      Finish(*job, nullptr, nullptr, std::current_exception());
      return;
    }
    Item scratch;
    Finish(*job, ItemAfter(*job, res, out, &scratch), &out, nullptr);
  });
}

}  // namespace

void DynamoDbStore::WriteOneAsync(WriteOp op, DeadlineClock::time_point deadline,
                                  std::function<void(WriteResult*, std::exception_ptr)> done) {
  auto job = std::make_shared<WriteJob>();
  job->client = client_.get();
  job->ledger = ledger_.get();
  job->table = &options_.table;
  job->sent = ledger_->Begin(op);
  job->op = std::move(op);
  job->deadline = deadline;
  job->done = std::move(done);
  SendJob(std::move(job));
}

WriteResult DynamoDbStore::Write(const WriteOp& op) {
  std::vector<WriteResult> out = WriteEach({op});
  return std::move(out[0]);
}

std::vector<WriteResult> DynamoDbStore::WriteEach(const std::vector<WriteOp>& ops) {
  if (aws::OnIoThread()) {
    throw StoreError("DynamoDB write: a blocking call on an I/O thread would deadlock", false);
  }
  std::promise<std::vector<WriteResult>> result;
  std::future<std::vector<WriteResult>> future = result.get_future();
  WriteEachAsync(ops, [&result](std::vector<WriteResult>* out, std::exception_ptr e) {
    if (e) {
      result.set_exception(std::move(e));
    } else {
      result.set_value(std::move(*out));
    }
  });
  return future.get();
}

void DynamoDbStore::WriteEachAsync(std::vector<WriteOp> ops, WriteEachCallback done) {
  if (ops.empty()) {
    std::vector<WriteResult> none;
    done(&none, nullptr);
    return;
  }
  struct Join {
    std::vector<WriteResult> out;
    std::vector<std::exception_ptr> errors;
    std::atomic<size_t> left;
    WriteEachCallback done;
  };
  auto join = std::make_shared<Join>();
  join->out.resize(ops.size());
  join->errors.resize(ops.size());
  join->left = ops.size();
  join->done = std::move(done);
  const auto deadline = CurrentDeadline();
  for (size_t i = 0; i < ops.size(); ++i) {
    WriteOneAsync(std::move(ops[i]), deadline, [join, i](WriteResult* r, std::exception_ptr e) {
      if (e) {
        join->errors[i] = std::move(e);
      } else {
        join->out[i] = std::move(*r);
      }
      if (join->left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
      // Every write is accounted for before the first error is reported.
      for (auto& err : join->errors) {
        if (err) {
          join->done(nullptr, err);
          return;
        }
      }
      join->done(&join->out, nullptr);
    });
  }
}

namespace {

// One typed bucket write on its way (bucket_request.h). An answer that was
// lost is resolved as every write's is: a WriteJob of the Update the write
// is (store::BucketWriteAsUpdate) takes over its ledger entry.
struct BucketJob {
  aws::DynamoClient* client;
  store::WriteLedger* ledger;
  const std::string* table;
  BucketWrite* w;
  store::SentWrite sent;
  DeadlineClock::time_point deadline;
  std::function<void(std::exception_ptr)> done;
  // Itself while its request is out, so the client's callback holds a plain
  // pointer (kept by std::function without an allocation) and takes it back.
  std::shared_ptr<BucketJob> self;
};

void SetBucketOutputs(BucketWrite& w, WriteStatus status, const Item* item) {
  w.status = status;
  w.exists = status == WriteStatus::kOk || item != nullptr;
  store::ReadBucketOutputs(w, item);
}

void OnBucketAnswer(const std::shared_ptr<BucketJob>& job, std::string&& answer,
                    std::exception_ptr error) {
  BucketWrite& w = *job->w;
  if (!error) {
    store::dynamodb::BucketAnswer a;
    if (store::dynamodb::ReadBucketUpdateAnswer(answer, w, &a)) {
      if (a.capacity_units != 0) {
        job->client->RecordCapacityUnits(aws::Op::kUpdateItem, a.capacity_units);
      }
      job->ledger->EndNumbers(job->sent, a.numbers, a.number_count, a.numbers_known);
      job->done(nullptr);
      return;
    }
    // A 200 was applied whatever its body says: unreadable, the outcome is
    // unknown (as the generic client reports it).
    error = std::make_exception_ptr(aws::OutcomeUnknown("UpdateItem: unreadable answer", 200));
  }
  try {
    std::rethrow_exception(error);
  } catch (const aws::ConditionalCheckFailed& e) {
    try {
      const std::optional<Item> old = FromAwsItem(e.item());
      SetBucketOutputs(w, WriteStatus::kConditionFailed, old ? &*old : nullptr);
      job->ledger->End(job->sent, old ? &*old : nullptr);
      job->done(nullptr);
    } catch (...) {
      job->ledger->End(job->sent, nullptr);
      job->done(std::current_exception());
    }
    return;
  } catch (...) {
  }
  if (IsOutcomeUnknown(error)) {
    auto resolve = std::make_shared<WriteJob>();
    resolve->client = job->client;
    resolve->ledger = job->ledger;
    resolve->table = job->table;
    Update u = store::BucketWriteAsUpdate(w);
    u.return_new = u.return_old_on_failure = true;
    resolve->op = std::move(u);
    resolve->sent = job->sent;
    resolve->deadline = job->deadline;
    resolve->resolutions = 1;
    resolve->cause = error;
    resolve->done = [job](WriteResult* r, std::exception_ptr e) {
      if (e) {
        job->done(std::move(e));
        return;
      }
      SetBucketOutputs(*job->w, r->status, r->item ? &*r->item : nullptr);
      job->done(nullptr);
    };
    ResolveJob(std::move(resolve));
    return;
  }
  job->ledger->End(job->sent, nullptr);
  job->done(std::move(error));
}

}  // namespace

void DynamoDbStore::WriteBucketAsync(BucketWrite* w, DeadlineClock::time_point deadline,
                                     std::function<void(std::exception_ptr)> done) {
  auto job = std::make_shared<BucketJob>();
  job->client = client_.get();
  job->ledger = ledger_.get();
  job->table = &options_.table;
  job->w = w;
  job->deadline = deadline;
  job->done = std::move(done);
  // The attributes the write ADDs, in BucketWriteAsUpdate's order (what
  // resolving it compares), spelled once into one buffer: per thread, as
  // the ledger copies what it keeps before BeginAdds returns.
  thread_local std::string spelled;
  spelled.clear();
  size_t ends[2 * store::dynamodb::kMaxTypedLimits];
  size_t n = 0;
  for (size_t l = 0; l < w->limit_count; ++l) {
    if (w->limits[l].consume_milli == 0) continue;
    for (const char* field : {"tk", "tc"}) {
      spelled += store::BucketAttr(w->limits[l].name, field);
      ends[n++] = spelled.size();
    }
  }
  std::string_view adds[2 * store::dynamodb::kMaxTypedLimits];
  for (size_t i = 0; i < n; ++i) {
    const size_t begin = i == 0 ? 0 : ends[i - 1];
    adds[i] = std::string_view(spelled).substr(begin, ends[i] - begin);
  }
  job->sent = ledger_->BeginAdds(*w->key, adds, n);
  std::string body = store::dynamodb::BucketUpdateBody(
      options_.table, *w, client_->config().default_return_consumed_capacity);
  DeadlineScope scope(deadline);
  BucketJob* out = job.get();
  out->self = std::move(job);
  client_->AsyncRaw(aws::Op::kUpdateItem, std::move(body),
                    [out](std::string&& answer, std::exception_ptr error) {
                      const std::shared_ptr<BucketJob> owned = std::move(out->self);
                      OnBucketAnswer(owned, std::move(answer), std::move(error));
                    });
}

void DynamoDbStore::WriteBucketsAsync(BucketWrite* writes, size_t count,
                                      WriteBucketsCallback done) {
  if (count > 0 && !writes) {
    done(std::make_exception_ptr(ValidationError("writes", "", "null with a non-zero count")));
    return;
  }
  if (count == 1) {
    // A warm acquire's one write: its callback is the caller's, with no
    // join to count down (three allocations per acquire). Validated first:
    // the typed check reads the limits a malformed write may not have.
    try {
      store::ValidateBucketWrite(writes[0], /*usage_keys=*/true);
    } catch (...) {
      done(std::current_exception());
      return;
    }
    if (store::dynamodb::TypedBucketWriteApplies(writes[0])) {
      WriteBucketAsync(&writes[0], CurrentDeadline(), std::move(done));
      return;
    }
  }
  struct Join {
    std::atomic<size_t> left{0};
    std::mutex mu;
    std::exception_ptr first;
    WriteBucketsCallback done;
    void Fail(std::exception_ptr e) {
      std::lock_guard lock(mu);
      if (!first) first = std::move(e);
    }
  };
  auto join = std::make_shared<Join>();
  join->done = std::move(done);
  // Malformed writes fail alone, after the others ran (as WriteBuckets).
  std::vector<bool> send(count, false);
  size_t typed = 0;
  for (size_t i = 0; i < count; ++i) {
    try {
      store::ValidateBucketWrite(writes[i], /*usage_keys=*/true);
    } catch (...) {
      join->Fail(std::current_exception());
      continue;
    }
    if (store::dynamodb::TypedBucketWriteApplies(writes[i])) {
      send[i] = true;
      ++typed;
      continue;
    }
    // The rare shapes: the generic Update (or transaction), synchronously.
    try {
      Store::WriteBuckets(&writes[i], 1);
    } catch (...) {
      join->Fail(std::current_exception());
    }
  }
  if (typed == 0) {
    join->done(join->first);
    return;
  }
  join->left = typed;
  const auto deadline = CurrentDeadline();
  for (size_t i = 0; i < count; ++i) {
    if (!send[i]) continue;
    WriteBucketAsync(&writes[i], deadline, [join](std::exception_ptr e) {
      if (e) join->Fail(std::move(e));
      if (join->left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
      join->done(join->first);  // every write is accounted for
    });
  }
}

void DynamoDbStore::WriteBuckets(BucketWrite* writes, size_t count) {
  if (aws::OnIoThread()) {
    throw StoreError("DynamoDB write: a blocking call on an I/O thread would deadlock", false);
  }
  std::promise<void> result;
  std::future<void> future = result.get_future();
  WriteBucketsAsync(writes, count, [&result](std::exception_ptr e) {
    if (e) {
      result.set_exception(std::move(e));
    } else {
      result.set_value();
    }
  });
  future.get();
}

bool DynamoDbStore::OnCompletionThread() const { return aws::OnIoThread(); }

TransactResult DynamoDbStore::Transact(const std::vector<WriteOp>& ops) {
  if (ops.size() > 100) throw ValidationError("transaction", "", "at most 100 operations");
  {
    std::set<ItemKey> keys;
    for (const auto& op : ops) {
      const ItemKey k = store::KeyOfOp(op);
      if (!keys.insert(k).second) {
        throw ValidationError("transaction", k.pk, "two operations address the same item");
      }
    }
  }
  TransactResult out;
  if (ops.empty()) return out;
  aws::TransactWriteItemsRequest req;
  for (const auto& op : ops) {
    req.transact_items.push_back(
        ToTransactItem(options_.table, op, !std::holds_alternative<ConditionCheck>(op)));
  }
  for (int attempt = 0;; ++attempt) {
    // DynamoDB's idempotency token: the client's own retries (a reset or a
    // timeout after the request was sent) resend it, and a transaction
    // already applied is not applied again. A cancelled one was not
    // applied, so its retry here gets a new token.
    req.client_request_token = IdempotencyToken();
    bool conflict = false;
    // What this process knew of these items is stale once it may apply.
    for (const auto& op : ops) ledger_->Invalidate(store::KeyOfOp(op));
    try {
      client_->TransactWriteItems(req);
      return out;
    } catch (const aws::TransactionCanceled& e) {
      bool any_condition = false;
      for (const auto& r : e.reasons()) {
        if (r.code == "ConditionalCheckFailed") any_condition = true;
        if (r.code == "TransactionConflict") conflict = true;
      }
      if (any_condition) {
        out.ok = false;
        out.failed.assign(ops.size(), false);
        out.old_items.assign(ops.size(), std::nullopt);
        for (size_t i = 0; i < ops.size() && i < e.reasons().size(); ++i) {
          if (e.reasons()[i].code == "ConditionalCheckFailed") {
            out.failed[i] = true;
            out.old_items[i] = FromAwsItem(e.reasons()[i].item);
          }
        }
        return out;
      }
      if (!conflict || attempt >= options_.transact_conflict_retries) throw;
    } catch (const aws::TransactionConflict&) {
      if (attempt >= options_.transact_conflict_retries) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25 << std::min(attempt, 6)));
  }
}

void DynamoDbStore::BatchWrite(const std::vector<WriteOp>& puts_or_deletes) {
  // Chunks of at most 25 with no key twice in one chunk (DynamoDB rejects
  // that); chunks run in order, so the last write of a key wins.
  std::vector<std::vector<aws::WriteRequest>> chunks(1);
  std::set<ItemKey> in_chunk;
  for (const auto& op : puts_or_deletes) {
    aws::WriteRequest w;
    ItemKey k;
    if (const auto* p = std::get_if<Put>(&op)) {
      k = KeyOf(p->item);
      w.put_item = ToAwsItem(p->item);
    } else if (const auto* d = std::get_if<Delete>(&op)) {
      k = d->key;
      w.delete_key = KeyItem(d->key);
    } else {
      throw ValidationError("batch_write", "", "only Put and Delete are allowed");
    }
    if (chunks.back().size() >= 25 || in_chunk.count(k)) {
      chunks.emplace_back();
      in_chunk.clear();
    }
    in_chunk.insert(k);
    chunks.back().push_back(std::move(w));
  }
  for (auto& chunk : chunks) {
    if (chunk.empty()) continue;
    std::vector<aws::WriteRequest> todo = std::move(chunk);
    for (int round = 0;; ++round) {
      aws::BatchWriteItemRequest r;
      r.request_items[options_.table] = std::move(todo);
      aws::BatchWriteItemResponse resp = client_->BatchWriteItem(std::move(r));
      auto left = resp.unprocessed_items.find(options_.table);
      if (left == resp.unprocessed_items.end() || left->second.empty()) break;
      if (round >= 3) throw StoreError("DynamoDB BatchWriteItem: unprocessed items remain", true);
      todo = std::move(left->second);
      std::this_thread::sleep_for(std::chrono::milliseconds(50 << round));
    }
  }
}

QueryPage DynamoDbStore::Query(const QueryRequest& request) {
  const auto [hash_attr, sort_attr] = IndexKeys(request.index);
  aws::QueryRequest r;
  r.table_name = options_.table;
  r.index_name = IndexName(request.index);
  Expr e;
  r.key_condition_expression = e.Name(hash_attr) + " = " + e.Val(AV::S(request.hash));
  if (request.sort_prefix) {
    r.key_condition_expression +=
        " AND begins_with(" + e.Name(sort_attr) + ", " + e.Val(AV::S(*request.sort_prefix)) + ")";
  }
  r.expression_attribute_names = e.names();
  r.expression_attribute_values = e.values();
  r.scan_index_forward = request.forward;
  if (request.limit > 0) r.limit = request.limit;
  // Global secondary indexes do not support consistent reads.
  r.consistent_read = request.index == Index::kTable && request.consistent;
  if (request.start_after) {
    const Item& last = *request.start_after;
    aws::Item k;
    for (const std::string& a : {std::string("PK"), std::string("SK"), hash_attr, sort_attr}) {
      auto it = last.find(a);
      if (it == last.end() || !it->second.is_string()) {
        throw ValidationError("start_after", "", "continuation key lacks the index keys");
      }
      k[a] = AV::S(it->second.as_string());
    }
    r.exclusive_start_key = std::move(k);
  }
  aws::QueryResponse resp = client_->Query(std::move(r));
  QueryPage page;
  const bool keys_only = request.index == Index::kGsi3 || request.index == Index::kGsi4 ||
                         (request.index == Index::kGsi2 && narrow_gsi2_);
  if (keys_only && !resp.items.empty()) {
    std::vector<ItemKey> keys;
    keys.reserve(resp.items.size());
    for (const auto& it : resp.items) keys.push_back(KeyOfAws(it));
    auto full = BatchGet(keys, request.consistent);
    for (auto& f : full) {
      if (f) page.items.push_back(std::move(*f));  // vanished meanwhile: dropped
    }
  } else {
    page.items.reserve(resp.items.size());
    for (const auto& it : resp.items) page.items.push_back(FromAwsItem(it));
  }
  if (resp.last_evaluated_key) {
    // The last index entry's keys: a valid start_after for the next page
    // even when the last full item vanished.
    page.last_evaluated =
        keys_only || page.items.empty() ? FromAwsItem(*resp.last_evaluated_key) : page.items.back();
  }
  return page;
}

int64_t DynamoDbStore::DeleteExpired(int64_t /*now_seconds*/) { return 0; }

StoreStats DynamoDbStore::stats() const {
  StoreStats s;
  const aws::MetricsSnapshot m = client_->Metrics();
  for (int i = 0; i < aws::kOpCount; ++i) {
    const aws::OpStats& o = m.ops[static_cast<size_t>(i)];
    if (o.calls == 0) continue;
    s.calls[aws::OpName(static_cast<aws::Op>(i))] = static_cast<int64_t>(o.calls);
    s.read_units += o.read_units;
    s.write_units += o.write_units;
  }
  return s;
}

void DynamoDbStore::ResetStats() { client_->ResetMetrics(); }

std::unique_ptr<Store> OpenDynamoDbStore(const std::string& table, const std::string& region,
                                         const std::string& endpoint) {
  DynamoDbOptions o;
  o.table = table;
  o.region = region;
  o.endpoint = endpoint;
  return std::make_unique<DynamoDbStore>(std::move(o));
}

}  // namespace zae

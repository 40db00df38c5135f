#include "zae/store.h"

#include "zae/errors.h"

namespace zae {
namespace {

const char* TypeName(Value::Type t) {
  switch (t) {
    case Value::Type::kNull:
      return "NULL";
    case Value::Type::kBool:
      return "BOOL";
    case Value::Type::kNumber:
      return "N";
    case Value::Type::kString:
      return "S";
    case Value::Type::kStringSet:
      return "SS";
    case Value::Type::kList:
      return "L";
    case Value::Type::kMap:
      return "M";
  }
  return "?";
}

template <typename T>
const T& Get(const std::variant<std::monostate, bool, int64_t, std::string, Value::StringSet,
                                Value::List, Value::Map>& v,
             Value::Type want, Value::Type have) {
  if (const T* p = std::get_if<T>(&v)) return *p;
  throw StoreError(std::string("attribute has type ") + TypeName(have) + ", expected " +
                   TypeName(want));
}

// Orders two values of the same scalar type; nullopt when not comparable.
std::optional<int> Compare(const Value& a, const Value& b) {
  if (a.type() != b.type()) return std::nullopt;
  if (a.is_number()) {
    return a.as_number() < b.as_number() ? -1 : (a.as_number() > b.as_number() ? 1 : 0);
  }
  if (a.is_string()) return a.as_string().compare(b.as_string()) < 0 ? -1 : (a == b ? 0 : 1);
  return a == b ? std::optional<int>(0) : std::nullopt;
}

bool Holds(const Predicate& p, const Item* item) {
  const Value* v = nullptr;
  if (item) {
    auto it = item->find(p.attr);
    if (it != item->end()) v = &it->second;
  }
  using Op = Predicate::Op;
  if (p.op == Op::kExists) return v != nullptr;
  if (p.op == Op::kNotExists) return v == nullptr;
  if (!v) return p.op == Op::kNe;  // DynamoDB: <> on a missing attribute is true
  if (p.op == Op::kEq) return *v == p.operand;
  if (p.op == Op::kNe) return !(*v == p.operand);
  auto c = Compare(*v, p.operand);
  if (!c) return false;
  switch (p.op) {
    case Op::kLt:
      return *c < 0;
    case Op::kLe:
      return *c <= 0;
    case Op::kGt:
      return *c > 0;
    case Op::kGe:
      return *c >= 0;
    default:
      return false;
  }
}

}  // namespace

bool Value::as_bool() const { return Get<bool>(v_, Type::kBool, type()); }
int64_t Value::as_number() const { return Get<int64_t>(v_, Type::kNumber, type()); }
const std::string& Value::as_string() const { return Get<std::string>(v_, Type::kString, type()); }
const Value::StringSet& Value::as_string_set() const {
  return Get<StringSet>(v_, Type::kStringSet, type());
}
const Value::List& Value::as_list() const { return Get<List>(v_, Type::kList, type()); }
const Value::Map& Value::as_map() const { return Get<Map>(v_, Type::kMap, type()); }

ItemKey KeyOf(const Item& item) {
  auto pk = item.find("PK");
  auto sk = item.find("SK");
  if (pk == item.end() || sk == item.end()) throw StoreError("item has no PK/SK");
  return {pk->second.as_string(), sk->second.as_string()};
}

Condition& Condition::Exists(std::string attr) {
  clauses.push_back({{std::move(attr), Predicate::Op::kExists, {}}});
  return *this;
}
Condition& Condition::NotExists(std::string attr) {
  clauses.push_back({{std::move(attr), Predicate::Op::kNotExists, {}}});
  return *this;
}
Condition& Condition::Compare(std::string attr, Predicate::Op op, Value operand) {
  clauses.push_back({{std::move(attr), op, std::move(operand)}});
  return *this;
}
Condition& Condition::AnyOf(std::vector<Predicate> alternatives) {
  clauses.push_back(std::move(alternatives));
  return *this;
}

bool Evaluate(const Condition& cond, const Item* item) {
  for (const auto& clause : cond.clauses) {
    bool any = false;
    for (const auto& p : clause) {
      if (Holds(p, item)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

void Store::WriteEachAsync(std::vector<WriteOp> ops, WriteEachCallback done) {
  std::vector<WriteResult> results;
  try {
    results = WriteEach(ops);
  } catch (...) {
    done(nullptr, std::current_exception());
    return;
  }
  done(&results, nullptr);
}

}  // namespace zae

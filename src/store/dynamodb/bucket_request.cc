#include "store/dynamodb/bucket_request.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

#include "aws/json.h"
#include "store/bucket_write.h"
#include "zae/errors.h"

namespace zae::store::dynamodb {
namespace {

// The longest limit name the typed form spells on the stack ("b_" + name +
// "_tk"); longer names take the generic path.
constexpr size_t kMaxTypedName = 120;

// Written straight into the request body.
using JsonWriter = rapidjson::Writer<aws::StringSink>;

// "#n<i>" / ":v<i>" without a heap string.
struct Placeholder {
  char text[12];
  size_t size;
  Placeholder(char lead, size_t i) {
    char digits[10];
    size_t n = 0;
    do {
      digits[n++] = static_cast<char>('0' + i % 10);
      i /= 10;
    } while (i != 0 && n < sizeof digits);
    text[0] = lead == '#' ? '#' : ':';
    text[1] = lead == '#' ? 'n' : 'v';
    size = 2;
    while (n > 0) text[size++] = digits[--n];
    text[size] = '\0';
  }
};

// "b_<limit>_<field>" on the stack.
struct AttrName {
  char text[kMaxTypedName + 8];
  size_t size = 0;
  AttrName(std::string_view limit, std::string_view field) {
    std::memcpy(text, "b_", 2);
    std::memcpy(text + 2, limit.data(), limit.size());
    text[2 + limit.size()] = '_';
    std::memcpy(text + 3 + limit.size(), field.data(), field.size());
    size = 3 + limit.size() + field.size();
    text[size] = '\0';
  }
  std::string_view view() const { return {text, size}; }
};

void Str(JsonWriter& j, std::string_view s) {
  j.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
void Key(JsonWriter& j, std::string_view s) {
  j.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
// A string of characters that need no JSON escaping (digits, placeholders,
// the expressions built from them), written as is.
void Plain(JsonWriter& j, std::string_view s) {
  char quoted[512];
  if (s.size() + 2 > sizeof quoted) return Str(j, s);
  quoted[0] = '"';
  std::memcpy(quoted + 1, s.data(), s.size());
  quoted[s.size() + 1] = '"';
  j.RawValue(quoted, s.size() + 2, rapidjson::kStringType);
}
void Number(JsonWriter& j, int64_t n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  j.StartObject();
  Key(j, "N");
  Plain(j, {buf, static_cast<size_t>(r.ptr - buf)});
  j.EndObject();
}

// A member of an object, or nullptr. (Const values only: clang's C++20
// mode finds RapidJSON's mutable iterator comparisons ambiguous.)
const rapidjson::Value* Member(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

// The limit and field an attribute name is, among w's limits; false for
// any other attribute.
bool LimitField(const BucketWrite& w, std::string_view attr, size_t* limit, int* field) {
  static constexpr std::string_view kFields[] = {"tk", "cp", "ra", "rp", "tc"};
  if (attr.size() < 5 || attr.substr(0, 2) != "b_") return false;
  const size_t us = attr.rfind('_');
  if (us < 3) return false;
  const std::string_view name = attr.substr(2, us - 2), f = attr.substr(us + 1);
  for (int i = 0; i < 5; ++i) {
    if (f != kFields[i]) continue;
    for (size_t l = 0; l < w.limit_count; ++l) {
      if (w.limits[l].name == name) {
        *limit = l;
        *field = i;
        return true;
      }
    }
    return false;
  }
  return false;
}

}  // namespace

int64_t ParseDynamoNumber(std::string_view n) {
  size_t i = 0;
  const bool neg = !n.empty() && n[0] == '-';
  if (neg || (!n.empty() && n[0] == '+')) i = 1;
  if (i >= n.size()) throw StoreError("DynamoDB: malformed number '" + std::string(n) + "'");
  // Accept "123", "-5", and an integral value written with a fraction of zeros.
  size_t end = n.size();
  const size_t dot = n.find('.');
  if (dot != std::string_view::npos) {
    for (size_t j = dot + 1; j < n.size(); ++j) {
      if (n[j] != '0') throw StoreError("DynamoDB: non-integer number '" + std::string(n) + "'");
    }
    end = dot;
  }
  if (i >= end) throw StoreError("DynamoDB: malformed number '" + std::string(n) + "'");
  // Magnitude as uint64 with overflow detection.
  uint64_t mag = 0;
  bool overflow = false;
  for (size_t j = i; j < end; ++j) {
    const char c = n[j];
    if (c < '0' || c > '9') {
      throw StoreError("DynamoDB: non-integer number '" + std::string(n) + "'");
    }
    const auto digit = static_cast<uint64_t>(c - '0');
    if (!overflow) {
      if (mag > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
        overflow = true;
      } else {
        mag = mag * 10 + digit;
      }
    }
  }
  constexpr auto kMax = std::numeric_limits<int64_t>::max();
  constexpr auto kMin = std::numeric_limits<int64_t>::min();
  constexpr auto kMaxMag = static_cast<uint64_t>(kMax);
  if (neg) {
    if (overflow || mag >= kMaxMag + 1) return kMin;
    return -static_cast<int64_t>(mag);
  }
  if (overflow || mag > kMaxMag) return kMax;
  return static_cast<int64_t>(mag);
}

bool TypedBucketWriteApplies(const BucketWrite& w) {
  if (w.usage_count != 0 || w.limit_count > kMaxTypedLimits || !w.key) return false;
  for (size_t i = 0; i < w.limit_count; ++i) {
    if (w.limits[i].name.size() > kMaxTypedName) return false;
    for (size_t j = 0; j < i; ++j) {
      if (w.limits[j].name == w.limits[i].name) return false;
    }
  }
  return true;
}

std::string BucketUpdateBody(const std::string& table, const BucketWrite& w,
                             std::string_view return_consumed_capacity) {
  // Placeholders are numbered as the generic Expr numbers them: names in
  // order of first use (the ADDs, then the condition), values in order.
  // name_of[l][0/1]: the placeholder index of limit l's tk / tc (-1: none).
  int name_of[kMaxTypedLimits][2];
  size_t names = 0, values = 0;
  for (size_t l = 0; l < w.limit_count; ++l) {
    name_of[l][0] = name_of[l][1] = -1;
    if (w.limits[l].consume_milli != 0) {
      name_of[l][0] = static_cast<int>(names++);
      name_of[l][1] = static_cast<int>(names++);
    }
  }
  for (size_t l = 0; l < w.limit_count; ++l) {
    if (w.limits[l].guard && name_of[l][0] < 0) name_of[l][0] = static_cast<int>(names++);
  }
  const size_t pk_name = names++;
  const bool ttl = w.ttl_after != BucketWrite::kNoTtlCheck;
  const size_t ttl_name = ttl ? names++ : 0;

  // Per thread and reused: two allocations per acquire otherwise.
  thread_local std::string update, condition;
  update.clear();
  condition.clear();
  for (size_t l = 0; l < w.limit_count; ++l) {
    if (w.limits[l].consume_milli == 0) continue;
    for (int f = 0; f < 2; ++f) {
      update += update.empty() ? "ADD " : ", ";
      const Placeholder n('#', static_cast<size_t>(name_of[l][f])), v(':', values++);
      update.append(n.text, n.size).append(" ").append(v.text, v.size);
    }
  }
  const size_t first_condition_value = values;
  for (size_t l = 0; l < w.limit_count; ++l) {
    if (!w.limits[l].guard) continue;
    if (!condition.empty()) condition += " AND ";
    const Placeholder n('#', static_cast<size_t>(name_of[l][0])), v(':', values++);
    condition.append("(").append(n.text, n.size).append(" >= ").append(v.text, v.size) += ")";
  }
  {
    if (!condition.empty()) condition += " AND ";
    const Placeholder n('#', pk_name);
    condition.append("(attribute_exists(").append(n.text, n.size) += "))";
  }
  size_t ttl_value = 0;
  if (ttl) {
    const Placeholder n('#', ttl_name), v(':', ttl_value = values++);
    condition.append(" AND (attribute_not_exists(")
        .append(n.text, n.size)
        .append(") OR ")
        .append(n.text, n.size)
        .append(" > ")
        .append(v.text, v.size) += ")";
  }

  std::string body;
  body.reserve(1024 + table.size() + w.key->pk.size() + w.key->sk.size() + update.size() +
               condition.size() + 96 * w.limit_count);
  aws::StringSink sink{&body};
  JsonWriter j(sink);
  j.StartObject();
  Key(j, "TableName");
  Str(j, table);
  Key(j, "Key");
  j.StartObject();
  Key(j, "PK");
  j.StartObject();
  Key(j, "S");
  Str(j, w.key->pk);
  j.EndObject();
  Key(j, "SK");
  j.StartObject();
  Key(j, "S");
  Str(j, w.key->sk);
  j.EndObject();
  j.EndObject();
  if (!update.empty()) {
    Key(j, "UpdateExpression");
    Plain(j, update);
  }
  Key(j, "ConditionExpression");
  Plain(j, condition);
  Key(j, "ExpressionAttributeNames");
  j.StartObject();
  for (size_t l = 0; l < w.limit_count; ++l) {
    for (int f = 0; f < 2; ++f) {
      if (name_of[l][f] < 0) continue;
      const Placeholder n('#', static_cast<size_t>(name_of[l][f]));
      Key(j, {n.text, n.size});
      Str(j, AttrName(w.limits[l].name, f == 0 ? "tk" : "tc").view());
    }
  }
  {
    const Placeholder n('#', pk_name);
    Key(j, {n.text, n.size});
    Str(j, "PK");
  }
  if (ttl) {
    const Placeholder n('#', ttl_name);
    Key(j, {n.text, n.size});
    Str(j, "ttl");
  }
  j.EndObject();
  // DynamoDB refuses an empty map (as the generic serializer leaves it out).
  if (values > 0) {
    Key(j, "ExpressionAttributeValues");
    j.StartObject();
    size_t v = 0;
    for (size_t l = 0; l < w.limit_count; ++l) {
      const int64_t m = w.limits[l].consume_milli;
      if (m == 0) continue;
      const Placeholder tk(':', v++), tc(':', v++);
      Key(j, {tk.text, tk.size});
      Number(j, SaturatingNeg(m));
      Key(j, {tc.text, tc.size});
      Number(j, m);
    }
    v = first_condition_value;
    for (size_t l = 0; l < w.limit_count; ++l) {
      if (!w.limits[l].guard) continue;
      const Placeholder g(':', v++);
      Key(j, {g.text, g.size});
      Number(j, w.limits[l].guard_milli);
    }
    if (ttl) {
      const Placeholder t(':', ttl_value);
      Key(j, {t.text, t.size});
      Number(j, w.ttl_after);
    }
    j.EndObject();
  }
  Key(j, "ReturnValues");
  Str(j, "ALL_NEW");
  Key(j, "ReturnValuesOnConditionCheckFailure");
  Str(j, "ALL_OLD");
  if (!return_consumed_capacity.empty()) {
    Key(j, "ReturnConsumedCapacity");
    Str(j, return_consumed_capacity);
  }
  j.EndObject();
  return body;
}

bool ReadBucketUpdateAnswer(std::string& body, BucketWrite& w, BucketAnswer* answer) {
  aws::InlineDocument parsed;
  auto& doc = parsed.doc();
  try {
    doc.ParseInsitu(body.data());
    if (doc.HasParseError() || !doc.IsObject()) return false;
    w.status = WriteStatus::kOk;
    w.exists = true;  // the condition holds only on an existing item
    w.rf = 0;
    w.shard_count = 1;
    if (w.views) {
      for (size_t i = 0; i < w.limit_count; ++i) w.views[i] = {};
    }
    answer->number_count = 0;
    answer->numbers_known = true;
    answer->capacity_units = 0;
    const rapidjson::Value& root = doc;
    if (const rapidjson::Value* cc = Member(root, "ConsumedCapacity")) {
      if (!cc->IsObject()) return false;
      if (const rapidjson::Value* u = Member(*cc, "CapacityUnits"); u && u->IsNumber()) {
        answer->capacity_units = u->GetDouble();
      }
    }
    const rapidjson::Value* attrs = Member(root, "Attributes");
    if (!attrs) return true;  // nothing asked for comes back empty
    if (!attrs->IsObject()) return false;
    bool tk_seen[kMaxTypedLimits] = {};
    for (const auto& m : attrs->GetObject()) {
      if (!m.value.IsObject()) return false;
      const rapidjson::Value* n = Member(m.value, "N");
      if (!n) continue;  // not a number attribute
      if (!n->IsString()) return false;
      const std::string_view name(m.name.GetString(), m.name.GetStringLength());
      const int64_t value = ParseDynamoNumber({n->GetString(), n->GetStringLength()});
      if (answer->number_count < BucketAnswer::kMaxNumbers) {
        answer->numbers[answer->number_count++] = {name, value};
      } else {
        answer->numbers_known = false;
      }
      if (name == "rf") {
        w.rf = value;
      } else if (name == "shard_count") {
        w.shard_count = value;
      } else if (size_t l; w.views) {
        int field;
        if (!LimitField(w, name, &l, &field)) continue;
        BucketLimitView& view = w.views[l];
        switch (field) {
          case 0:
            view.present = true;
            view.tk = value;
            tk_seen[l] = true;
            break;
          case 1:
            view.cp = value;
            break;
          case 2:
            view.ra = value;
            break;
          case 3:
            view.rp = value;
            break;
          default:
            view.tc = value;
        }
      }
    }
    // As ReadBucketOutputs: a limit without a number tk is absent.
    if (w.views) {
      for (size_t l = 0; l < w.limit_count; ++l) {
        if (!tk_seen[l]) w.views[l] = {};
      }
    }
    std::sort(answer->numbers, answer->numbers + answer->number_count,
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return true;
  } catch (const std::exception&) {
    return false;  // a malformed number, or a type RapidJSON refused
  }
}

}  // namespace zae::store::dynamodb

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

// Written into a per-thread buffer, then copied out once: RapidJSON's own
// buffer bumps a pointer per character, where a std::string sink checked
// capacity on each, and a kept writer keeps its level stack (its first
// push allocated, on every body).
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

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

  thread_local rapidjson::StringBuffer out;
  thread_local JsonWriter j;
  out.Clear();
  j.Reset(out);
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
  return std::string(out.GetString(), out.GetSize());
}

namespace {

// Reads an UpdateItem answer as RapidJSON's reader walks it, keeping only
// what ReadBucketUpdateAnswer promises: no document is built (a bucket's
// answer is some thirty attributes, each an object, and a DOM of it filled
// 12 KiB of pool that the reading then looked at once). The rules are the
// DOM reading's: the root and Attributes must be objects, each attribute an
// object whose first "N", if any, is a string holding an integer; the first
// ConsumedCapacity must be an object, its first CapacityUnits counts when
// it is a number; anything else is skipped. A handler that returns false
// stops the parse, which then fails.
class AnswerReader {
 public:
  AnswerReader(BucketWrite& w, BucketAnswer* answer) : w_(w), a_(answer) {}

  bool done() const { return state_ == kEnd; }
  const bool* tk_seen() const { return tk_seen_; }

  bool Null() { return Scalar(false, {}, 0); }
  bool Bool(bool) { return Scalar(false, {}, 0); }
  bool Int(int i) { return Scalar(true, {}, i); }
  bool Uint(unsigned u) { return Scalar(true, {}, u); }
  bool Int64(int64_t i) { return Scalar(true, {}, static_cast<double>(i)); }
  bool Uint64(uint64_t u) { return Scalar(true, {}, static_cast<double>(u)); }
  bool Double(double d) { return Scalar(true, {}, d); }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return false; }  // not asked for
  bool String(const char* s, rapidjson::SizeType n, bool) {
    return Scalar(false, {s, n}, 0, /*string=*/true);
  }
  bool StartObject() { return Open(true); }
  bool StartArray() { return Open(false); }
  bool EndObject(rapidjson::SizeType) { return Close(); }
  bool EndArray(rapidjson::SizeType) { return Close(); }

  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (skip_ > 0) return true;
    const std::string_view k(s, n);
    switch (state_) {
      case kRoot:
        key_ = kOther;
        if (k == "Attributes" && !attributes_seen_) {
          attributes_seen_ = true;
          key_ = kAttributes;
        } else if (k == "ConsumedCapacity" && !capacity_seen_) {
          capacity_seen_ = true;
          key_ = kCapacity;
        }
        state_ = kRootValue;
        return true;
      case kAttrs:
        name_ = k;
        n_seen_ = false;
        state_ = kAttrValue;
        return true;
      case kAttr:
        key_ = !n_seen_ && k == "N" ? kN : kOther;
        n_seen_ = n_seen_ || key_ == kN;
        state_ = kAttrMember;
        return true;
      case kCc:
        key_ = !units_seen_ && k == "CapacityUnits" ? kUnits : kOther;
        units_seen_ = units_seen_ || key_ == kUnits;
        state_ = kCcMember;
        return true;
      default:
        return false;
    }
  }

 private:
  enum State {
    kStart,
    kRoot,
    kRootValue,
    kAttrs,
    kAttrValue,
    kAttr,
    kAttrMember,
    kCc,
    kCcMember,
    kEnd
  };
  enum Which { kOther, kAttributes, kCapacity, kN, kUnits };

  bool Scalar(bool number, std::string_view text, double value, bool string = false) {
    if (skip_ > 0) return true;
    switch (state_) {
      case kRootValue:
        state_ = kRoot;
        return key_ == kOther;  // Attributes and ConsumedCapacity are objects
      case kAttrMember:
        state_ = kAttr;
        if (key_ != kN) return true;
        return string && Number(text);
      case kCcMember:
        state_ = kCc;
        if (key_ == kUnits && number) a_->capacity_units = value;
        return true;
      default:
        return false;  // a scalar root, or an attribute that is no object
    }
  }

  bool Open(bool object) {
    if (skip_ > 0) {
      ++skip_;
      return true;
    }
    switch (state_) {
      case kStart:
        state_ = kRoot;
        return object;
      case kRootValue:
        if (key_ == kOther) break;
        state_ = key_ == kAttributes ? kAttrs : kCc;
        return object;
      case kAttrValue:
        state_ = kAttr;
        return object;
      case kAttrMember:
        if (key_ == kN) return false;  // N is a string
        state_ = kAttr;
        break;
      case kCcMember:
        state_ = kCc;
        break;
      default:
        return false;
    }
    state_ = state_ == kRootValue ? kRoot : state_;
    skip_ = 1;
    return true;
  }

  bool Close() {
    if (skip_ > 0) {
      --skip_;
      return true;
    }
    switch (state_) {
      case kAttr:
        state_ = kAttrs;
        return true;
      case kAttrs:
      case kCc:
        state_ = kRoot;
        return true;
      case kRoot:
        state_ = kEnd;
        return true;
      default:
        return false;
    }
  }

  bool Number(std::string_view n) {
    int64_t value;
    try {
      value = ParseDynamoNumber(n);
    } catch (const std::exception&) {
      return false;  // not an integer
    }
    if (a_->number_count < BucketAnswer::kMaxNumbers) {
      a_->numbers[a_->number_count++] = {name_, value};
    } else {
      a_->numbers_known = false;
    }
    if (name_ == "rf") {
      w_.rf = value;
    } else if (name_ == "shard_count") {
      w_.shard_count = value;
    } else if (size_t l; w_.views) {
      int field;
      if (!LimitField(w_, name_, &l, &field)) return true;
      BucketLimitView& view = w_.views[l];
      switch (field) {
        case 0:
          view.present = true;
          view.tk = value;
          tk_seen_[l] = true;
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
    return true;
  }

  BucketWrite& w_;
  BucketAnswer* a_;
  State state_ = kStart;
  Which key_ = kOther;
  int skip_ = 0;  // > 0: inside a skipped array or object, this deep
  bool attributes_seen_ = false, capacity_seen_ = false, units_seen_ = false, n_seen_ = false;
  std::string_view name_;  // the attribute being read
  bool tk_seen_[kMaxTypedLimits] = {};
};

}  // namespace

bool ReadBucketUpdateAnswer(std::string& body, BucketWrite& w, BucketAnswer* answer) {
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
  AnswerReader handler(w, answer);
  // The reader's own stack holds nothing for an in-place parse without
  // full-precision numbers; a small buffer keeps it off the heap anyway.
  alignas(16) char stack_buffer[512];
  rapidjson::MemoryPoolAllocator<> stack_pool(stack_buffer, sizeof stack_buffer);
  rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>>
      reader(&stack_pool, 256);
  rapidjson::InsituStringStream in(body.data());
  if (reader.Parse<rapidjson::kParseInsituFlag>(in, handler).IsError() || !handler.done()) {
    return false;
  }
  // As ReadBucketOutputs: a limit without a number tk is absent.
  if (w.views) {
    for (size_t l = 0; l < w.limit_count; ++l) {
      if (!handler.tk_seen()[l]) w.views[l] = {};
    }
  }
  std::sort(answer->numbers, answer->numbers + answer->number_count,
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return true;
}

}  // namespace zae::store::dynamodb

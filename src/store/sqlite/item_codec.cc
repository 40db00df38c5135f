#include "store/sqlite/item_codec.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>

#include "zae/errors.h"

namespace zae::sqlite {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
using Json = rapidjson::Value;

void WriteString(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void EncodeValue(Writer& w, const Value& v, int depth) {
  if (depth > kMaxDepth) throw StoreError("item nests deeper than 32 levels");
  w.StartObject();
  switch (v.type()) {
    case Value::Type::kNull:
      w.Key("NULL");
      w.Bool(true);
      break;
    case Value::Type::kBool:
      w.Key("BOOL");
      w.Bool(v.as_bool());
      break;
    case Value::Type::kNumber: {
      // A string, as in DynamoDB JSON, so no reader rounds it through a double.
      char buf[24];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.as_number());
      (void)ec;  // 24 bytes always hold an int64
      w.Key("N");
      w.String(buf, static_cast<rapidjson::SizeType>(end - buf));
      break;
    }
    case Value::Type::kString:
      w.Key("S");
      WriteString(w, v.as_string());
      break;
    case Value::Type::kStringSet:
      w.Key("SS");
      w.StartArray();
      for (const auto& s : v.as_string_set()) WriteString(w, s);
      w.EndArray();
      break;
    case Value::Type::kList:
      w.Key("L");
      w.StartArray();
      for (const auto& e : v.as_list()) EncodeValue(w, e, depth + 1);
      w.EndArray();
      break;
    case Value::Type::kMap:
      w.Key("M");
      w.StartObject();
      for (const auto& [name, e] : v.as_map()) {
        WriteString(w, name);
        EncodeValue(w, e, depth + 1);
      }
      w.EndObject();
      break;
  }
  w.EndObject();
}

[[noreturn]] void Corrupt(const std::string& why) {
  throw StoreError("corrupt item in SQLite store: " + why);
}

std::string Str(const Json& j) { return std::string(j.GetString(), j.GetStringLength()); }

Value DecodeValue(const Json& j, int depth);

Value::Map DecodeMap(const Json& j, int depth) {
  if (!j.IsObject()) Corrupt("expected an object of attributes");
  Value::Map out;
  for (auto it = j.MemberBegin(); it != j.MemberEnd(); ++it) {
    if (!out.emplace(Str(it->name), DecodeValue(it->value, depth)).second) {
      Corrupt("duplicate attribute '" + Str(it->name) + "'");
    }
  }
  return out;
}

Value DecodeValue(const Json& j, int depth) {
  if (depth > kMaxDepth) Corrupt("nesting deeper than 32 levels");
  if (!j.IsObject() || j.MemberCount() != 1) Corrupt("expected a one-member typed value");
  const auto& m = *j.MemberBegin();
  const std::string_view tag(m.name.GetString(), m.name.GetStringLength());
  const Json& v = m.value;
  if (tag == "S") {
    if (!v.IsString()) Corrupt("S is not a string");
    return Value(Str(v));
  }
  if (tag == "N") {
    if (!v.IsString()) Corrupt("N is not a string");
    const char* b = v.GetString();
    const char* e = b + v.GetStringLength();
    int64_t n = 0;
    auto [end, ec] = std::from_chars(b, e, n);
    if (ec != std::errc() || end != e || b == e) Corrupt("N is not an int64");
    return Value(n);
  }
  if (tag == "BOOL") {
    if (!v.IsBool()) Corrupt("BOOL is not a boolean");
    return Value(v.GetBool());
  }
  if (tag == "NULL") {
    if (!v.IsTrue()) Corrupt("NULL is not true");
    return Value();
  }
  if (tag == "SS") {
    if (!v.IsArray()) Corrupt("SS is not an array");
    Value::StringSet set;
    for (const auto& e : v.GetArray()) {
      if (!e.IsString()) Corrupt("SS member is not a string");
      if (!set.insert(Str(e)).second) Corrupt("duplicate SS member");
    }
    return Value(std::move(set));
  }
  if (tag == "L") {
    if (!v.IsArray()) Corrupt("L is not an array");
    Value::List list;
    list.reserve(v.Size());
    for (const auto& e : v.GetArray()) list.push_back(DecodeValue(e, depth + 1));
    return Value(std::move(list));
  }
  if (tag == "M") return Value(DecodeMap(v, depth + 1));
  Corrupt("unknown type tag '" + std::string(tag) + "'");
}

}  // namespace

std::string EncodeItem(const Item& item) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  for (const auto& [name, v] : item) {
    WriteString(w, name);
    EncodeValue(w, v, 0);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Item DecodeItem(std::string_view data) {
  rapidjson::Document doc;
  // Iterative: a hostile "[[[[..." must not exhaust the stack. The DOM's
  // pool allocator frees without recursing either.
  doc.Parse<rapidjson::kParseIterativeFlag>(data.data(), data.size());
  if (doc.HasParseError()) {
    Corrupt(std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at offset " +
            std::to_string(doc.GetErrorOffset()));
  }
  Item item = DecodeMap(doc, 0);
  auto pk = item.find("PK");
  auto sk = item.find("SK");
  if (pk == item.end() || !pk->second.is_string() || sk == item.end() || !sk->second.is_string()) {
    Corrupt("item lacks string PK and SK");
  }
  return item;
}

}  // namespace zae::sqlite

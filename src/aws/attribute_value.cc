#include "aws/attribute_value.h"

#include <charconv>

#include "aws/errors.h"

namespace zae::aws {

const char* TypeName(AttributeValue::Type t) {
  switch (t) {
    case AttributeValue::Type::kNull:
      return "NULL";
    case AttributeValue::Type::kS:
      return "S";
    case AttributeValue::Type::kN:
      return "N";
    case AttributeValue::Type::kB:
      return "B";
    case AttributeValue::Type::kBool:
      return "BOOL";
    case AttributeValue::Type::kM:
      return "M";
    case AttributeValue::Type::kL:
      return "L";
    case AttributeValue::Type::kSS:
      return "SS";
    case AttributeValue::Type::kNS:
      return "NS";
    case AttributeValue::Type::kBS:
      return "BS";
  }
  return "?";
}

AttributeValue AttributeValue::S(std::string s) {
  AttributeValue v;
  v.type_ = Type::kS;
  v.value_ = std::move(s);
  return v;
}
AttributeValue AttributeValue::N(std::string decimal) {
  AttributeValue v;
  v.type_ = Type::kN;
  v.value_ = std::move(decimal);
  return v;
}
AttributeValue AttributeValue::N(int64_t n) { return N(std::to_string(n)); }
AttributeValue AttributeValue::B(std::string bytes) {
  AttributeValue v;
  v.type_ = Type::kB;
  v.value_ = std::move(bytes);
  return v;
}
AttributeValue AttributeValue::Bool(bool b) {
  AttributeValue v;
  v.type_ = Type::kBool;
  v.value_ = b;
  return v;
}
AttributeValue AttributeValue::Null() { return AttributeValue(); }
AttributeValue AttributeValue::M(Item m) {
  AttributeValue v;
  v.type_ = Type::kM;
  v.value_ = std::move(m);
  return v;
}
AttributeValue AttributeValue::L(std::vector<AttributeValue> l) {
  AttributeValue v;
  v.type_ = Type::kL;
  v.value_ = std::move(l);
  return v;
}
AttributeValue AttributeValue::SS(std::vector<std::string> ss) {
  AttributeValue v;
  v.type_ = Type::kSS;
  v.value_ = Strings{std::move(ss)};
  return v;
}
AttributeValue AttributeValue::NS(std::vector<std::string> ns) {
  AttributeValue v = SS(std::move(ns));
  v.type_ = Type::kNS;
  return v;
}
AttributeValue AttributeValue::BS(std::vector<std::string> bs) {
  AttributeValue v = SS(std::move(bs));
  v.type_ = Type::kBS;
  return v;
}

void AttributeValue::Mismatch(const char* wanted) const {
  throw TypeMismatch(std::string("attribute is ") + TypeName(type_) + ", not " + wanted);
}

const std::string& AttributeValue::s() const {
  if (type_ != Type::kS) Mismatch("S");
  return std::get<std::string>(value_);
}
const std::string& AttributeValue::n() const {
  if (type_ != Type::kN) Mismatch("N");
  return std::get<std::string>(value_);
}
const std::string& AttributeValue::b() const {
  if (type_ != Type::kB) Mismatch("B");
  return std::get<std::string>(value_);
}
bool AttributeValue::boolean() const {
  if (type_ != Type::kBool) Mismatch("BOOL");
  return std::get<bool>(value_);
}
const Item& AttributeValue::m() const {
  if (type_ != Type::kM) Mismatch("M");
  return std::get<Item>(value_);
}
Item& AttributeValue::m() {
  if (type_ != Type::kM) Mismatch("M");
  return std::get<Item>(value_);
}
const std::vector<AttributeValue>& AttributeValue::l() const {
  if (type_ != Type::kL) Mismatch("L");
  return std::get<std::vector<AttributeValue>>(value_);
}
std::vector<AttributeValue>& AttributeValue::l() {
  if (type_ != Type::kL) Mismatch("L");
  return std::get<std::vector<AttributeValue>>(value_);
}
const std::vector<std::string>& AttributeValue::ss() const {
  if (type_ != Type::kSS && type_ != Type::kNS && type_ != Type::kBS) Mismatch("SS/NS/BS");
  return std::get<Strings>(value_).v;
}

int64_t AttributeValue::as_int64() const {
  const std::string& text = n();
  int64_t out = 0;
  const char* first = text.data();
  const char* last = first + text.size();
  if (first != last && *first == '+') ++first;
  auto [ptr, ec] = std::from_chars(first, last, out);
  if (ec != std::errc() || ptr != last || first == last) {
    throw TypeMismatch("N value is not an int64: " + text.substr(0, 40));
  }
  return out;
}

}  // namespace zae::aws

// DynamoDB's typed attribute value and items.
//
// N and NS keep the exact decimal text the service sent, so no precision is
// lost; the int64 helpers parse and format it. B and BS hold raw bytes (the
// wire form is base64). Item is a std::map: ordered iteration makes
// serialisation deterministic, which tests and signatures like.
//
// Thread safety: a value type; const access from many threads is safe.
// Errors: accessors of the wrong type and non-integer N throw aws::TypeMismatch.
#ifndef ZAE_AWS_ATTRIBUTE_VALUE_H_
#define ZAE_AWS_ATTRIBUTE_VALUE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace zae::aws {

class AttributeValue;
using Item = std::map<std::string, AttributeValue>;

class AttributeValue {
 public:
  enum class Type { kNull, kS, kN, kB, kBool, kM, kL, kSS, kNS, kBS };

  AttributeValue() = default;  // NULL

  static AttributeValue S(std::string s);
  static AttributeValue N(std::string decimal);  // not validated; the service does that
  static AttributeValue N(int64_t n);
  static AttributeValue B(std::string bytes);
  static AttributeValue Bool(bool b);
  static AttributeValue Null();
  static AttributeValue M(Item m);
  static AttributeValue L(std::vector<AttributeValue> l);
  static AttributeValue SS(std::vector<std::string> ss);
  static AttributeValue NS(std::vector<std::string> ns);
  static AttributeValue BS(std::vector<std::string> bs);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }

  const std::string& s() const;  // S
  const std::string& n() const;  // N, as sent
  const std::string& b() const;  // B, raw bytes
  bool boolean() const;
  const Item& m() const;
  Item& m();
  const std::vector<AttributeValue>& l() const;
  std::vector<AttributeValue>& l();
  const std::vector<std::string>& ss() const;  // also NS and BS
  int64_t as_int64() const;                    // N holding an integer in int64 range

  bool operator==(const AttributeValue& other) const = default;

 private:
  struct Strings {
    std::vector<std::string> v;
    bool operator==(const Strings&) const = default;
  };
  [[noreturn]] void Mismatch(const char* wanted) const;

  Type type_ = Type::kNull;
  std::variant<std::monostate, std::string, bool, Item, std::vector<AttributeValue>, Strings>
      value_;
};

const char* TypeName(AttributeValue::Type t);  // "S", "N", ..., "NULL"

}  // namespace zae::aws

#endif  // ZAE_AWS_ATTRIBUTE_VALUE_H_

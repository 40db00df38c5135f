// Output for every command: a JSON document (--output json, one document,
// stable keys in insertion order, for scripts) or aligned text tables
// (--output table, for people). JSON is written by RapidJSON so strings are
// escaped correctly. Values; thread-compatible.
#ifndef ZAE_CLI_OUTPUT_H_
#define ZAE_CLI_OUTPUT_H_

#include <concepts>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "zae/limit.h"
#include "zae/limit_status.h"
#include "zae/store.h"
#include "zae/types.h"

namespace zae::cli {

// A JSON value whose objects keep their keys in insertion order.
class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;  // null
  Json(bool b) : v_(b) {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) Json(T n) : v_(static_cast<int64_t>(n)) {}
  Json(double d) : v_(d) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  Json(Object o) : v_(std::move(o)) {}

  static Json MakeObject() { return Json(Object{}); }
  static Json MakeArray() { return Json(Array{}); }

  // Object: appends (or replaces) `key`. Array: appends. Return *this to chain.
  Json& Set(const std::string& key, Json value);
  Json& Push(Json value);

  // Pretty-printed (2-space indent) with a trailing newline when pretty.
  std::string Dump(bool pretty = true) const;

 private:
  template <typename W>
  void Write(W& w) const;
  std::variant<std::monostate, bool, int64_t, double, std::string, Array, Object> v_;
};

Json ToJson(const Value& value);
Json ToJson(const Value::Map& map);
Json ToJson(const Limit& limit);
Json ToJson(const std::vector<Limit>& limits);
Json ToJson(const Entity& entity);
Json ToJson(const Amounts& amounts);
Json ToJson(const LimitStatus& status);
Json OptionalString(const std::optional<std::string>& s);

// Column-aligned text. Empty cells print as "-".
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  void Print(std::ostream& os) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Limits as a table: NAME, CAPACITY, REFILL, PERIOD, DISPLAY.
void PrintLimits(std::ostream& os, const std::vector<Limit>& limits);

// "1.5", "0.001": shortest decimal form of a retry-after in seconds.
std::string FormatSeconds(double seconds);

}  // namespace zae::cli

#endif  // ZAE_CLI_OUTPUT_H_

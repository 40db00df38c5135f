#include "cli/output.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>

#include "cli/limit_syntax.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace zae::cli {

Json& Json::Set(const std::string& key, Json value) {
  auto& obj = std::get<Object>(v_);
  for (auto& [k, v] : obj) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  obj.emplace_back(key, std::move(value));
  return *this;
}

Json& Json::Push(Json value) {
  std::get<Array>(v_).push_back(std::move(value));
  return *this;
}

template <typename W>
void Json::Write(W& w) const {
  switch (v_.index()) {
    case 0:
      w.Null();
      break;
    case 1:
      w.Bool(std::get<bool>(v_));
      break;
    case 2:
      w.Int64(std::get<int64_t>(v_));
      break;
    case 3:
      w.Double(std::get<double>(v_));
      break;
    case 4: {
      const auto& s = std::get<std::string>(v_);
      w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      break;
    }
    case 5:
      w.StartArray();
      for (const Json& j : std::get<Array>(v_)) j.Write(w);
      w.EndArray();
      break;
    case 6:
      w.StartObject();
      for (const auto& [k, v] : std::get<Object>(v_)) {
        w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
        v.Write(w);
      }
      w.EndObject();
      break;
  }
}

std::string Json::Dump(bool pretty) const {
  rapidjson::StringBuffer buf;
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.SetIndent(' ', 2);
    Write(w);
    return std::string(buf.GetString(), buf.GetSize()) + "\n";
  }
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  Write(w);
  return std::string(buf.GetString(), buf.GetSize());
}

Json ToJson(const Value& value) {
  switch (value.type()) {
    case Value::Type::kNull:
      return Json();
    case Value::Type::kBool:
      return Json(value.as_bool());
    case Value::Type::kNumber:
      return Json(value.as_number());
    case Value::Type::kString:
      return Json(value.as_string());
    case Value::Type::kStringSet: {
      Json a = Json::MakeArray();
      for (const auto& s : value.as_string_set()) a.Push(s);
      return a;
    }
    case Value::Type::kList: {
      Json a = Json::MakeArray();
      for (const auto& v : value.as_list()) a.Push(ToJson(v));
      return a;
    }
    case Value::Type::kMap:
      return ToJson(value.as_map());
  }
  return Json();
}

Json ToJson(const Value::Map& map) {
  Json o = Json::MakeObject();
  for (const auto& [k, v] : map) o.Set(k, ToJson(v));
  return o;
}

Json ToJson(const Limit& limit) {
  return Json::MakeObject()
      .Set("name", limit.name)
      .Set("capacity", limit.capacity)
      .Set("refill_amount", limit.refill_amount)
      .Set("refill_period_seconds", limit.refill_period_seconds);
}

Json ToJson(const std::vector<Limit>& limits) {
  Json a = Json::MakeArray();
  for (const Limit& l : limits) a.Push(ToJson(l));
  return a;
}

Json OptionalString(const std::optional<std::string>& s) { return s ? Json(*s) : Json(); }

Json ToJson(const Entity& e) {
  return Json::MakeObject()
      .Set("entity_id", e.id)
      .Set("name", e.name)
      .Set("parent_id", OptionalString(e.parent_id))
      .Set("cascade", e.cascade)
      .Set("metadata", ToJson(e.metadata))
      .Set("created_at", e.created_at);
}

Json ToJson(const Amounts& amounts) {
  Json o = Json::MakeObject();
  for (const auto& [k, v] : amounts) o.Set(k, v);
  return o;
}

Json ToJson(const LimitStatus& s) {
  return Json::MakeObject()
      .Set("entity_id", s.entity_id)
      .Set("resource", s.resource)
      .Set("limit_name", s.limit_name)
      .Set("capacity", s.limit.capacity)
      .Set("refill_amount", s.limit.refill_amount)
      .Set("refill_period_seconds", s.limit.refill_period_seconds)
      .Set("available", s.available)
      .Set("requested", s.requested)
      .Set("exceeded", s.exceeded)
      .Set("retry_after_seconds", s.retry_after_seconds);
}

void Table::Print(std::ostream& os) const {
  static const std::string kEmpty = "-";
  std::vector<size_t> width(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].empty() ? 1 : row[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string& cell = i < cells.size() && !cells[i].empty() ? cells[i] : kEmpty;
      if (i + 1 < width.size()) {
        os << std::left << std::setw(static_cast<int>(width[i] + 2)) << cell;
      } else {
        os << cell;
      }
    }
    os << std::right << "\n";
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
}

void PrintLimits(std::ostream& os, const std::vector<Limit>& limits) {
  Table t({"LIMIT", "CAPACITY", "REFILL", "PERIOD", "DISPLAY"});
  for (const Limit& l : limits) {
    t.Add({l.name, Commas(l.capacity), Commas(l.refill_amount),
           std::to_string(l.refill_period_seconds) + "s", FormatLimit(l)});
  }
  t.Print(os);
}

std::string FormatSeconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", seconds);
  std::string s(buf);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

}  // namespace zae::cli

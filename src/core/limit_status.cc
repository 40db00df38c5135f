#include "zae/limit_status.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace zae {

int64_t LimitStatus::deficit() const { return requested > available ? requested - available : 0; }

Denial::Denial(std::vector<LimitStatus> statuses) : statuses_(std::move(statuses)) {
  FindPrimary();
}

Denial Denial::MoveFrom(std::span<LimitStatus> statuses) { return Denial(MoveTag{}, statuses); }

Denial::Denial(MoveTag, std::span<LimitStatus> statuses) {
  Adopt(statuses);
  try {
    FindPrimary();
  } catch (...) {
    Clear();
    throw;
  }
}

void Denial::Adopt(std::span<LimitStatus> statuses) {
  if (statuses.size() <= kInlineStatuses && !statuses.empty()) {
    for (size_t i = 0; i < statuses.size(); ++i) {
      std::construct_at(&inline_.s[i], std::move(statuses[i]));
    }
    inline_size_ = statuses.size();
  } else {
    statuses_.assign(std::make_move_iterator(statuses.begin()),
                     std::make_move_iterator(statuses.end()));
  }
}

void Denial::Clear() {
  for (size_t i = 0; i < inline_size_; ++i) std::destroy_at(&inline_.s[i]);
  inline_size_ = 0;
  statuses_.clear();
}

void Denial::FindPrimary() {
  const std::span<const LimitStatus> all = statuses();
  bool any = false;
  for (size_t i = 0; i < all.size(); ++i) {
    if (!all[i].exceeded) continue;
    // Strictly greater keeps the first maximum, as Python's max().
    if (!any || all[i].retry_after_seconds > all[primary_].retry_after_seconds) primary_ = i;
    any = true;
  }
  if (!any) throw std::invalid_argument("Denial requires at least one exceeded limit");
}

Denial::Denial(const Denial& other) : primary_(other.primary_) {
  std::vector<LimitStatus> copy(other.statuses().begin(), other.statuses().end());
  Adopt(copy);
}

Denial::Denial(Denial&& other) noexcept : primary_(other.primary_) {
  if (other.inline_size_ > 0) {
    for (size_t i = 0; i < other.inline_size_; ++i) {
      std::construct_at(&inline_.s[i], std::move(other.inline_.s[i]));
    }
    inline_size_ = other.inline_size_;
  } else {
    statuses_ = std::move(other.statuses_);
  }
}

Denial& Denial::operator=(const Denial& other) {
  if (this != &other) {
    Denial copy(other);
    *this = std::move(copy);
  }
  return *this;
}

Denial& Denial::operator=(Denial&& other) noexcept {
  if (this != &other) {
    Clear();
    if (other.inline_size_ > 0) {
      for (size_t i = 0; i < other.inline_size_; ++i) {
        std::construct_at(&inline_.s[i], std::move(other.inline_.s[i]));
      }
      inline_size_ = other.inline_size_;
    } else {
      statuses_ = std::move(other.statuses_);
    }
    primary_ = other.primary_;
  }
  return *this;
}

Denial::~Denial() { Clear(); }

std::vector<LimitStatus> Denial::violations() const {
  std::vector<LimitStatus> out;
  for (const auto& s : statuses())
    if (s.exceeded) out.push_back(s);
  return out;
}

std::vector<LimitStatus> Denial::passed() const {
  std::vector<LimitStatus> out;
  for (const auto& s : statuses())
    if (!s.exceeded) out.push_back(s);
  return out;
}

int64_t Denial::retry_after_ms() const {
  return static_cast<int64_t>(retry_after_seconds() * 1000.0);
}

std::string Denial::retry_after_header() const {
  return std::to_string(static_cast<int64_t>(retry_after_seconds()) + 1);
}

std::string Denial::message() const {
  const LimitStatus& p = primary_violation();
  std::string names;
  for (const auto& s : statuses()) {
    if (!s.exceeded) continue;
    if (!names.empty()) names += ", ";
    names += s.limit_name;
  }
  char retry[64];
  std::snprintf(retry, sizeof retry, "%.1f", retry_after_seconds());
  return "Rate limit exceeded for " + p.entity_id + "/" + p.resource + ": [" + names +
         "]. Retry after " + retry + "s";
}

std::string StatusesJson(std::span<const LimitStatus> statuses) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartArray();
  for (const auto& s : statuses) {
    w.StartObject();
    w.Key("entity_id");
    w.String(s.entity_id.c_str(), static_cast<rapidjson::SizeType>(s.entity_id.size()));
    w.Key("resource");
    w.String(s.resource.c_str(), static_cast<rapidjson::SizeType>(s.resource.size()));
    w.Key("limit_name");
    w.String(s.limit_name.c_str(), static_cast<rapidjson::SizeType>(s.limit_name.size()));
    w.Key("capacity");
    w.Int64(s.limit.capacity);
    w.Key("refill_amount");
    w.Int64(s.limit.refill_amount);
    w.Key("refill_period_seconds");
    w.Int64(s.limit.refill_period_seconds);
    w.Key("available");
    w.Int64(s.available);
    w.Key("requested");
    w.Int64(s.requested);
    w.Key("exceeded");
    w.Bool(s.exceeded);
    w.Key("retry_after_seconds");
    w.Double(s.retry_after_seconds);
    w.EndObject();
  }
  w.EndArray();
  return buf.GetString();
}

std::string Denial::ToJson() const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("error");
  w.String("rate_limit_exceeded");
  w.Key("message");
  const std::string msg = message();
  w.String(msg.c_str(), static_cast<rapidjson::SizeType>(msg.size()));
  w.Key("retry_after_seconds");
  w.Double(retry_after_seconds());
  w.Key("retry_after_ms");
  w.Int64(retry_after_ms());
  w.Key("limits");
  const std::string limits = StatusesJson(statuses());
  w.RawValue(limits.c_str(), limits.size(), rapidjson::kArrayType);
  w.EndObject();
  return buf.GetString();
}

}  // namespace zae

#include "zae/errors.h"

namespace zae {
namespace {

std::string Truncate(std::string value) {
  if (value.size() > 50) {
    value.resize(50);
    value += "...";
  }
  return value;
}

}  // namespace

bool IsOutcomeUnknown(const std::exception_ptr& error) {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const StoreError& e) {
    return e.outcome_unknown();
  } catch (...) {
    return false;
  }
}

ValidationError::ValidationError(std::string field, std::string value, std::string reason)
    : Error("Invalid " + field + ": " + reason),
      field_(std::move(field)),
      value_(Truncate(std::move(value))),
      reason_(std::move(reason)) {}

RateLimiterUnavailable::RateLimiterUnavailable(const std::string& cause, std::string stack,
                                               std::string entity_id, std::string resource)
    : InfrastructureError([&] {
        std::string parts;
        auto add = [&](const char* key, const std::string& v) {
          if (v.empty()) return;
          if (!parts.empty()) parts += ", ";
          parts += key;
          parts += '=';
          parts += v;
        };
        add("stack", stack);
        add("entity", entity_id);
        add("resource", resource);
        return parts.empty() ? cause : cause + " [" + parts + "]";
      }()),
      cause_(cause),
      entity_id_(std::move(entity_id)),
      resource_(std::move(resource)) {}

}  // namespace zae

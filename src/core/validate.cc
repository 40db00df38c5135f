#include "zae/validate.h"

#include <string>

#include "zae/errors.h"

namespace zae {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Checks shared by all three validators, in the reference's order.
template <typename ErrorT>
void CheckCommon(std::string_view value, std::string_view field, size_t max_len, const char* what) {
  const std::string f(field);
  if (value.empty()) throw ErrorT(f, std::string(value), std::string(what) + " cannot be empty");
  if (value.size() > max_len) {
    throw ErrorT(f, std::string(value),
                 std::string(what) + " exceeds maximum length of " + std::to_string(max_len) +
                     " characters");
  }
  if (value.find('#') != std::string_view::npos) {
    throw ErrorT(f, std::string(value),
                 std::string(what) + " cannot contain '#' (reserved delimiter)");
  }
}

template <typename ErrorT, typename Pred>
void CheckPattern(std::string_view value, std::string_view field, bool first_ok, Pred rest_ok,
                  const char* rule) {
  bool ok = first_ok;
  for (size_t i = 1; ok && i < value.size(); ++i) ok = rest_ok(value[i]);
  if (!ok) throw ErrorT(std::string(field), std::string(value), rule);
}

}  // namespace

void ValidateIdentifier(std::string_view value, std::string_view field) {
  CheckCommon<InvalidIdentifierError>(value, field, kMaxIdentifierLength, "identifier");
  CheckPattern<InvalidIdentifierError>(
      value, field, IsAlpha(value[0]) || IsDigit(value[0]),
      [](char c) {
        return IsAlpha(c) || IsDigit(c) || c == '_' || c == '.' || c == '-' || c == ':' || c == '@';
      },
      "must start with a letter or digit and contain only letters, digits, '_', '.', '-', "
      "':' or '@'");
}

void ValidateLimitName(std::string_view value) {
  CheckCommon<InvalidNameError>(value, "name", kMaxNameLength, "name");
  if (value == kWcuLimitName) {
    throw InvalidNameError("name", std::string(value),
                           "'wcu' is a reserved limit name (used for write-capacity tracking)");
  }
  CheckPattern<InvalidNameError>(
      value, "name", IsAlpha(value[0]),
      [](char c) { return IsAlpha(c) || IsDigit(c) || c == '_' || c == '.' || c == '-'; },
      "must start with a letter and contain only letters, digits, '_', '.' or '-'");
}

void ValidateResource(std::string_view value) {
  CheckCommon<InvalidNameError>(value, "resource", kMaxNameLength, "resource");
  CheckPattern<InvalidNameError>(
      value, "resource", IsAlpha(value[0]),
      [](char c) {
        return IsAlpha(c) || IsDigit(c) || c == '_' || c == '.' || c == '-' || c == '/';
      },
      "must start with a letter and contain only letters, digits, '_', '.', '-' or '/'");
}

void ValidateEntityConfigResource(std::string_view value) {
  if (value != kDefaultResource) ValidateResource(value);
}

void ValidateNamespaceName(std::string_view value) {
  if (value == "_") {
    throw ValidationError("namespace", std::string(value), "'_' is reserved for table records");
  }
  ValidateIdentifier(value, "namespace");
}

}  // namespace zae

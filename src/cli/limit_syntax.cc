#include "cli/limit_syntax.h"

#include <charconv>
#include <limits>
#include <set>

#include "zae/errors.h"
#include "zae/validate.h"

namespace zae::cli {
namespace {

// Accepts an optional sign and decimal digits only, so "1e3", " 5" and "0x10"
// are rejected rather than half-read.
bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (*first == '+') {
    ++first;
    if (first == last || *first == '-') return false;
  }
  auto [ptr, ec] = std::from_chars(first, last, *out);
  return ec == std::errc() && ptr == last;
}

struct PeriodUnit {
  std::string_view name;
  int64_t seconds;
};
constexpr PeriodUnit kUnits[] = {{"sec", 1}, {"min", 60}, {"hour", 3600}, {"day", 86400}};

[[noreturn]] void BadFormat(std::string_view text) {
  throw SyntaxError("Invalid limit format: '" + std::string(text) +
                    "'. Expected 'name:rate[/period]' or 'name:rate[/period]:burst'");
}

[[noreturn]] void BadValues(std::string_view text, const std::string& why) {
  throw SyntaxError("Invalid limit values in '" + std::string(text) + "': " + why);
}

int64_t ParsePeriod(std::string_view period) {
  auto bad = [&]() {
    throw SyntaxError("Invalid period: '/" + std::string(period) +
                      "'. Use /[N]sec, /[N]min, /[N]hour, or /[N]day");
  };
  size_t digits = 0;
  while (digits < period.size() && period[digits] >= '0' && period[digits] <= '9') ++digits;
  const std::string_view unit = period.substr(digits);
  for (const PeriodUnit& u : kUnits) {
    if (unit != u.name) continue;
    int64_t multiplier = 1;
    if (digits > 0) {
      auto [ptr, ec] = std::from_chars(period.data(), period.data() + digits, multiplier);
      // Too many digits: report it as a value error below by saturating.
      if (ec != std::errc()) multiplier = std::numeric_limits<int64_t>::max();
    }
    if (multiplier > std::numeric_limits<int64_t>::max() / u.seconds) {
      return std::numeric_limits<int64_t>::max();  // rejected by Limit validation
    }
    return multiplier * u.seconds;
  }
  bad();
  return 0;  // unreachable
}

}  // namespace

Limit ParseLimit(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() != 2 && parts.size() != 3) BadFormat(text);

  const std::string_view name = parts[0];
  std::string_view rate_text = parts[1];
  int64_t period = 60;
  if (size_t slash = rate_text.find('/'); slash != std::string_view::npos) {
    period = ParsePeriod(rate_text.substr(slash + 1));
    rate_text = rate_text.substr(0, slash);
  }
  int64_t rate = 0;
  if (!ParseInt(rate_text, &rate)) {
    BadValues(text, "rate '" + std::string(rate_text) + "' is not an integer");
  }
  int64_t capacity = rate;
  if (parts.size() == 3 && !ParseInt(parts[2], &capacity)) {
    BadValues(text, "burst '" + std::string(parts[2]) + "' is not an integer");
  }
  try {
    return Limit::Custom(std::string(name), capacity, rate, period);
  } catch (const ValidationError& e) {
    BadValues(text, e.what());
  }
}

std::vector<Limit> ParseLimits(const std::vector<std::string>& texts) {
  std::vector<Limit> limits;
  std::set<std::string> seen;
  for (const std::string& t : texts) {
    limits.push_back(ParseLimit(t));
    if (!seen.insert(limits.back().name).second) {
      throw SyntaxError("Duplicate limit name '" + limits.back().name + "' in -l options");
    }
  }
  return limits;
}

std::string FormatPeriod(int64_t seconds) {
  for (auto it = std::rbegin(kUnits); it != std::rend(kUnits); ++it) {
    if (seconds == it->seconds) return std::string(it->name);
  }
  for (auto it = std::rbegin(kUnits); it != std::rend(kUnits); ++it) {
    if (seconds % it->seconds == 0) {
      return std::to_string(seconds / it->seconds) + std::string(it->name);
    }
  }
  return std::to_string(seconds) + "sec";  // unreachable: sec divides everything
}

std::string FormatLimit(const Limit& limit) {
  std::string s = limit.name + ": " + Commas(limit.refill_amount) + "/" +
                  FormatPeriod(limit.refill_period_seconds);
  if (limit.capacity != limit.refill_amount) s += " (burst: " + Commas(limit.capacity) + ")";
  return s;
}

Amounts ParseAmounts(const std::vector<std::string>& texts, bool allow_negative,
                     std::string_view option) {
  Amounts amounts;
  for (const std::string& t : texts) {
    const size_t eq = t.find('=');
    const std::string name = t.substr(0, eq);
    int64_t n = 0;
    const bool ok = eq != std::string::npos && !name.empty() &&
                    ParseInt(std::string_view(t).substr(eq + 1), &n);
    if (!ok) {
      throw SyntaxError("Invalid " + std::string(option) + " value '" + t +
                        "'. Expected NAME=" + (allow_negative ? "[+|-]N" : "N") + ", e.g. tpm=500");
    }
    if (!allow_negative && n < 0) {
      throw SyntaxError("Invalid " + std::string(option) + " value '" + t +
                        "': the amount must not be negative");
    }
    try {
      ValidateLimitName(name);
    } catch (const ValidationError& e) {
      throw SyntaxError("Invalid " + std::string(option) + " value '" + t + "': " + e.what());
    }
    if (!amounts.emplace(name, n).second) {
      throw SyntaxError("Duplicate name '" + name + "' in " + std::string(option) + " values");
    }
  }
  return amounts;
}

std::string Commas(int64_t n) {
  // Built front to back (GCC 12 warns falsely on string::insert here).
  const std::string digits = std::to_string(n);
  const size_t first = (n < 0) ? 1 : 0;
  std::string out = digits.substr(0, first);
  const size_t count = digits.size() - first;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0 && (count - i) % 3 == 0) out += ',';
    out += digits[first + i];
  }
  return out;
}

}  // namespace zae::cli

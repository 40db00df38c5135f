// The CLI's value syntaxes (format.md §8.1):
//   -l/--limit  name:rate[/period][:burst]   e.g. rpm:100, tpm:10000/min:20000, rps:5/10sec
//   -c/--consume and --adjust  NAME=N         e.g. tpm=500, tpm=-120, tpm=+40
// Pure functions; thread-safe. Errors are SyntaxError with the reference's
// message, which the CLI prints as a usage error (exit code 2).
#ifndef ZAE_CLI_LIMIT_SYNTAX_H_
#define ZAE_CLI_LIMIT_SYNTAX_H_

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "zae/limit.h"
#include "zae/types.h"

namespace zae::cli {

// A malformed command-line value.
class SyntaxError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Parses one -l value. The period is sec, min, hour or day with an optional
// multiplier (/5min); default /min. capacity = burst if given, else rate;
// refill_amount = rate. Throws SyntaxError (including for a limit the
// library would reject, e.g. a bad name or a zero rate).
Limit ParseLimit(std::string_view text);
std::vector<Limit> ParseLimits(const std::vector<std::string>& texts);

// "rpm: 1,000/min (burst: 2,000)"; the period is printed as the parser reads it.
std::string FormatLimit(const Limit& limit);
// "min", "5min", "hour", "90sec": the period part of the syntax, without '/'.
std::string FormatPeriod(int64_t seconds);

// Parses NAME=N. With allow_negative, N may carry a sign (+40, -120);
// otherwise it must be >= 0. Repeated names are an error.
Amounts ParseAmounts(const std::vector<std::string>& texts, bool allow_negative,
                     std::string_view option);

// 1234567 -> "1,234,567" (negative numbers keep their sign).
std::string Commas(int64_t n);

}  // namespace zae::cli

#endif  // ZAE_CLI_LIMIT_SYNTAX_H_

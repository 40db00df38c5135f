// libFuzzer target: the -l / -c parsers must either return a valid value or
// throw SyntaxError; nothing else (no crash, no other exception, no UB), and
// a parsed limit must print and re-parse to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cli/limit_syntax.h"
#include "zae/limit.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const zae::Limit limit = zae::cli::ParseLimit(text);
    zae::ValidateLimit(limit);  // throws if the parser let a bad limit through
    const std::string again = limit.name + ":" + std::to_string(limit.refill_amount) + "/" +
                              zae::cli::FormatPeriod(limit.refill_period_seconds) + ":" +
                              std::to_string(limit.capacity);
    if (!(zae::cli::ParseLimit(again) == limit)) std::abort();
    (void)zae::cli::FormatLimit(limit);
  } catch (const zae::cli::SyntaxError&) {
  }
  try {
    (void)zae::cli::ParseAmounts({text}, true, "--adjust");
  } catch (const zae::cli::SyntaxError&) {
  }
  return 0;
}

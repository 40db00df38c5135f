// libFuzzer target for the rule file (rules.h): any text either parses or
// throws ConfigError; nothing else may escape, and matching a parsed set
// must not crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/rules.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto rules = zae::server::RuleSet::Parse(text, "fuzz.yaml");
    for (const char* domain : {"gateway", "a", ""}) {
      if (const auto* d = rules->FindDomain(domain)) {
        const std::vector<zae::server::Entry> entries = {{"api_key", "k"}, {"model", "m"}};
        if (const auto* r = zae::server::RuleSet::Match(*d, entries)) {
          (void)zae::server::RuleSet::Resolve(r->entity, entries);
        }
      }
    }
  } catch (const zae::server::ConfigError&) {
  }
  return 0;
}

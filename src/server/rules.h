// The server's rule file (`zae-limiter serve --config FILE`, docs/server.md):
// which Envoy descriptors are limited, and onto which entity, resource and
// limit name of the stored limits each one lands.
//
//   domains:
//     - name: gateway               # RateLimitRequest.domain
//       response_headers: true      # RateLimit-* headers on every answer
//       rules:
//         - match: [api_key, model]  # entry keys, in order; {key: value} pins a value
//           entity: $api_key         # $KEY = the value of entry KEY; else a literal
//           resource: $model
//           limit: tpm
//           overdraft: true          # charges always land, into debt if need be
//           shadow: false            # evaluate and count, always answer OK
//
// Limits themselves are the stored ones (entity, resource, system defaults);
// a descriptor's `limit` override is the fallback when nothing is stored.
// Rules are values: a RuleSet is immutable once parsed and thread-safe to
// read; reloading builds a new one and swaps it whole (never half-applied).
// Errors: ConfigError with the file position and what is wrong.
#ifndef ZAE_SERVER_RULES_H_
#define ZAE_SERVER_RULES_H_

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zae::server {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A value taken from a descriptor entry ($key) or written in the rule.
struct ValueSource {
  std::string entry;    // non-empty: the value of this entry
  std::string literal;  // otherwise this value
};

struct Rule {
  // Entry keys the descriptor must have, exactly and in this order; a
  // value, when given, must match too.
  std::vector<std::pair<std::string, std::optional<std::string>>> match;
  ValueSource entity, resource, limit;
  bool overdraft = false;
  bool shadow = false;
  std::string where;  // "domain 'x' rule 2", for messages
};

struct Domain {
  std::string name;
  bool response_headers = false;
  std::vector<Rule> rules;
};

// One descriptor entry as Envoy sends it.
struct Entry {
  std::string_view key, value;
};

class RuleSet {
 public:
  // Parses the YAML text; `source` names it in errors. Throws ConfigError.
  static std::shared_ptr<const RuleSet> Parse(const std::string& yaml, const std::string& source);
  // Reads and parses a file. Throws ConfigError (also when unreadable).
  static std::shared_ptr<const RuleSet> Load(const std::string& path);

  // nullptr when the domain has no rules.
  const Domain* FindDomain(std::string_view domain) const;
  // The first rule of `domain` that matches, or nullptr.
  static const Rule* Match(const Domain& domain, const std::vector<Entry>& entries);
  // The value a source takes for `entries` (nullopt: the entry is missing).
  static std::optional<std::string_view> Resolve(const ValueSource& source,
                                                 const std::vector<Entry>& entries);

  size_t rule_count() const;

 private:
  std::map<std::string, Domain, std::less<>> domains_;
};

}  // namespace zae::server

#endif  // ZAE_SERVER_RULES_H_

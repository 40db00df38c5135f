#include "server/rules.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "zae/errors.h"
#include "zae/validate.h"

namespace zae::server {
namespace {

std::string At(const YAML::Node& n, const std::string& source) {
  if (!n) return source;  // a missing node has no position
  const YAML::Mark m = n.Mark();
  if (m.line < 0) return source;
  return source + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

[[noreturn]] void Fail(const YAML::Node& n, const std::string& source, const std::string& what) {
  throw ConfigError(At(n, source) + ": " + what);
}

std::string Scalar(const YAML::Node& n, const std::string& source, const std::string& what) {
  if (!n.IsScalar()) Fail(n, source, what + " must be a string");
  return n.Scalar();
}

bool Bool(const YAML::Node& n, const std::string& source, const std::string& what) {
  if (!n) return false;
  bool b = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) {
    Fail(n, source, what + " must be true or false");
  }
  return b;
}

void OnlyKeys(const YAML::Node& map, const std::set<std::string>& allowed,
              const std::string& source, const std::string& what) {
  for (const auto& kv : map) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
    if (!allowed.count(key)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      Fail(kv.first, source, "unknown key '" + key + "' in " + what + " (expected " + list + ")");
    }
  }
}

// `check` validates a literal (ids, resources and names follow the
// library's rules, so a typo fails at load time, not per request).
ValueSource Source(const YAML::Node& rule, const char* key, const std::string& source,
                   const std::string& what, void (*check)(const std::string&)) {
  const YAML::Node n = rule[key];
  if (!n) Fail(rule, source, what + " is required");
  const std::string text = Scalar(n, source, what);
  ValueSource v;
  if (!text.empty() && text[0] == '$') {
    v.entry = text.substr(1);
    if (v.entry.empty()) Fail(n, source, what + ": '$' must name a descriptor entry");
  } else {
    try {
      check(text);
    } catch (const ValidationError& e) {
      Fail(n, source, what + ": " + e.what());
    }
    v.literal = text;
  }
  return v;
}

Rule ParseRule(const YAML::Node& n, const std::string& source, const std::string& where) {
  if (!n.IsMap()) Fail(n, source, where + " must be a mapping");
  OnlyKeys(n, {"match", "entity", "resource", "limit", "overdraft", "shadow"}, source, where);
  Rule r;
  r.where = where;
  const YAML::Node match = n["match"];
  if (!match || !match.IsSequence() || match.size() == 0) {
    Fail(match ? match : n, source, where + ": match must be a list of entry keys");
  }
  std::set<std::string> seen;
  for (const auto& m : match) {
    std::pair<std::string, std::optional<std::string>> e;
    if (m.IsScalar()) {
      e.first = m.Scalar();
    } else if (m.IsMap() && m.size() == 1) {
      e.first = Scalar(m.begin()->first, source, "match key");
      e.second = Scalar(m.begin()->second, source, "match value");
    } else {
      Fail(m, source, where + ": a match item is a key or {key: value}");
    }
    if (e.first.empty()) Fail(m, source, where + ": an entry key must not be empty");
    if (!seen.insert(e.first).second) Fail(m, source, where + ": key '" + e.first + "' twice");
    r.match.push_back(std::move(e));
  }
  r.entity = Source(n, "entity", source, where + ": entity",
                    [](const std::string& s) { ValidateIdentifier(s, "entity"); });
  r.resource = Source(n, "resource", source, where + ": resource",
                      [](const std::string& s) { ValidateResource(s); });
  r.limit = Source(n, "limit", source, where + ": limit",
                   [](const std::string& s) { ValidateLimitName(s); });
  for (const ValueSource* v : {&r.entity, &r.resource, &r.limit}) {
    if (!v->entry.empty() && !seen.count(v->entry)) {
      Fail(n, source, where + ": '$" + v->entry + "' is not one of the matched keys");
    }
  }
  r.overdraft = Bool(n["overdraft"], source, where + ": overdraft");
  r.shadow = Bool(n["shadow"], source, where + ": shadow");
  return r;
}

}  // namespace

std::shared_ptr<const RuleSet> RuleSet::Parse(const std::string& yaml, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  auto set = std::make_shared<RuleSet>();
  if (!root.IsMap()) Fail(root, source, "expected a mapping with a 'domains' list");
  try {
    OnlyKeys(root, {"domains"}, source, "the file");
    const YAML::Node domains = root["domains"];
    if (!domains || !domains.IsSequence()) Fail(root, source, "'domains' must be a list");
    for (size_t i = 0; i < domains.size(); ++i) {
      const YAML::Node d = domains[i];
      if (!d.IsMap()) Fail(d, source, "a domain must be a mapping");
      OnlyKeys(d, {"name", "response_headers", "rules"}, source, "a domain");
      Domain domain;
      if (!d["name"]) Fail(d, source, "a domain needs a name");
      domain.name = Scalar(d["name"], source, "domain name");
      if (domain.name.empty()) Fail(d["name"], source, "a domain name must not be empty");
      if (set->domains_.count(domain.name)) {
        Fail(d["name"], source, "domain '" + domain.name + "' twice");
      }
      domain.response_headers = Bool(d["response_headers"], source, "response_headers");
      const YAML::Node rules = d["rules"];
      if (!rules || !rules.IsSequence()) Fail(d, source, "a domain needs a 'rules' list");
      for (size_t j = 0; j < rules.size(); ++j) {
        domain.rules.push_back(ParseRule(
            rules[j], source, "domain '" + domain.name + "' rule " + std::to_string(j + 1)));
      }
      set->domains_.emplace(domain.name, std::move(domain));
    }
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return set;
}

std::shared_ptr<const RuleSet> RuleSet::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read the file");
  return Parse(text.str(), path);
}

const Domain* RuleSet::FindDomain(std::string_view domain) const {
  auto it = domains_.find(domain);
  return it == domains_.end() ? nullptr : &it->second;
}

const Rule* RuleSet::Match(const Domain& domain, const std::vector<Entry>& entries) {
  for (const Rule& r : domain.rules) {
    if (r.match.size() != entries.size()) continue;
    bool ok = true;
    for (size_t i = 0; ok && i < entries.size(); ++i) {
      ok = r.match[i].first == entries[i].key &&
           (!r.match[i].second || *r.match[i].second == entries[i].value);
    }
    if (ok) return &r;
  }
  return nullptr;
}

std::optional<std::string_view> RuleSet::Resolve(const ValueSource& source,
                                                 const std::vector<Entry>& entries) {
  if (source.entry.empty()) return std::string_view(source.literal);
  for (const Entry& e : entries) {
    if (e.key == source.entry) return e.value;
  }
  return std::nullopt;
}

size_t RuleSet::rule_count() const {
  size_t n = 0;
  for (const auto& [name, d] : domains_) n += d.rules.size();
  return n;
}

}  // namespace zae::server

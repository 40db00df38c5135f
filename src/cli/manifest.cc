#include "cli/manifest.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>

#include "zae/errors.h"
#include "zae/validate.h"

namespace zae::cli {
namespace {

[[noreturn]] void Fail(const std::string& path, const std::string& why) {
  throw ManifestError(path.empty() ? why : path + ": " + why);
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

void CheckKeys(const YAML::Node& node, const std::string& path,
               const std::set<std::string>& allowed) {
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (!allowed.contains(key)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      Fail(path, "unknown key '" + key + "' (expected " + list + ")");
    }
  }
}

YAML::Node RequireMap(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) Fail(path, "must be a mapping");
  return node;
}

int64_t ParseInteger(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) Fail(path, "must be an integer");
  const std::string& s = node.Scalar();
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) {
    Fail(path, "'" + s + "' is not an integer");
  }
  return v;
}

// {name: {capacity, refill_amount?, refill_period?, burst?}} (§9.1).
std::vector<Limit> ParseLimitsNode(const YAML::Node& node, const std::string& path) {
  std::vector<Limit> out;
  if (!node || node.IsNull()) return out;
  RequireMap(node, path);
  for (const auto& kv : node) {
    const std::string name = kv.first.as<std::string>();
    const std::string lpath = Join(path, name);
    const YAML::Node spec = RequireMap(kv.second, lpath);
    CheckKeys(spec, lpath, {"capacity", "refill_amount", "refill_period", "burst"});
    if (!spec["capacity"]) Fail(lpath, "'capacity' is required");
    int64_t capacity = ParseInteger(spec["capacity"], Join(lpath, "capacity"));
    if (spec["burst"]) capacity = ParseInteger(spec["burst"], Join(lpath, "burst"));
    const int64_t amount = spec["refill_amount"]
                               ? ParseInteger(spec["refill_amount"], Join(lpath, "refill_amount"))
                               : capacity;
    const int64_t period = spec["refill_period"]
                               ? ParseInteger(spec["refill_period"], Join(lpath, "refill_period"))
                               : 60;
    try {
      out.push_back(Limit::Custom(name, capacity, amount, period));
    } catch (const ValidationError& e) {
      Fail(lpath, e.what());
    }
  }
  std::sort(out.begin(), out.end(), [](const Limit& a, const Limit& b) { return a.name < b.name; });
  return out;
}

std::vector<Limit> ParseLimitsBlock(const YAML::Node& node, const std::string& path) {
  RequireMap(node, path);
  CheckKeys(node, path, {"limits"});
  auto limits = ParseLimitsNode(node["limits"], Join(path, "limits"));
  if (limits.empty()) Fail(Join(path, "limits"), "at least one limit is required");
  return limits;
}

template <typename F>
void Guard(const std::string& path, F&& f) {
  try {
    f();
  } catch (const ValidationError& e) {
    Fail(path, e.what());
  }
}

// Python json.dumps(sort_keys=True) of what yaml.safe_load would return,
// close enough for an informational hash: plain scalars that look like
// integers, booleans or null keep those types; everything else is a string.
void CanonicalJson(const YAML::Node& node, std::string& out) {
  auto quote = [&](const std::string& s) {
    out += '"';
    for (char c : s) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\r':
          out += "\\r";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[16];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out += buf;
          } else {
            out += c;
          }
      }
    }
    out += '"';
  };
  if (!node || node.IsNull()) {
    out += "null";
  } else if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    const bool plain = node.Tag() != "!";
    if (plain && !s.empty() && ec == std::errc() && ptr == s.data() + s.size()) {
      out += std::to_string(v);
    } else if (plain && (s == "true" || s == "True")) {
      out += "true";
    } else if (plain && (s == "false" || s == "False")) {
      out += "false";
    } else {
      quote(s);
    }
  } else if (node.IsSequence()) {
    out += '[';
    bool first = true;
    for (const auto& n : node) {
      if (!first) out += ", ";
      first = false;
      CanonicalJson(n, out);
    }
    out += ']';
  } else {
    std::map<std::string, YAML::Node> sorted;
    for (const auto& kv : node) sorted.emplace(kv.first.as<std::string>(), kv.second);
    out += '{';
    bool first = true;
    for (const auto& [k, v] : sorted) {
      if (!first) out += ", ";
      first = false;
      quote(k);
      out += ": ";
      CanonicalJson(v, out);
    }
    out += '}';
  }
}

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    throw ManifestError("sha256 failed");
  }
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

Value::List StringList(const std::vector<std::string>& v) {
  Value::List l;
  for (const auto& s : v) l.emplace_back(s);
  return l;
}

std::vector<std::string> ReadStringList(const Value& v) {
  std::vector<std::string> out;
  if (v.type() != Value::Type::kList) return out;
  for (const auto& e : v.as_list()) {
    if (e.is_string()) out.push_back(e.as_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Manifest ParseManifest(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ManifestError(std::string("invalid YAML: ") + e.what());
  }
  if (!root.IsMap()) Fail("", "the manifest must be a mapping with a 'namespace' key");
  try {
    CheckKeys(root, "", {"namespace", "system", "resources", "entities"});
    Manifest m;
    if (!root["namespace"] || !root["namespace"].IsScalar() || root["namespace"].Scalar().empty()) {
      Fail("namespace", "is required (the namespace the limits belong to)");
    }
    m.namespace_name = root["namespace"].Scalar();
    Guard("namespace", [&] { ValidateNamespaceName(m.namespace_name); });

    if (const YAML::Node sys = root["system"]; sys && !sys.IsNull()) {
      RequireMap(sys, "system");
      CheckKeys(sys, "system", {"on_unavailable", "limits"});
      m.has_system = true;
      if (const YAML::Node ou = sys["on_unavailable"]; ou && !ou.IsNull()) {
        // Parsed here rather than with zae::ParseOnUnavailable so this file
        // needs no limiter (it is fuzzed and unit-tested on its own).
        if (ou.Scalar() == "allow") {
          m.on_unavailable = OnUnavailable::kAllow;
        } else if (ou.Scalar() == "block") {
          m.on_unavailable = OnUnavailable::kBlock;
        } else {
          Fail("system.on_unavailable", "must be 'allow' or 'block'");
        }
      }
      m.system_limits = ParseLimitsNode(sys["limits"], "system.limits");
      if (m.system_limits.empty() && !m.on_unavailable) {
        Fail("system", "needs limits and/or on_unavailable");
      }
    }

    if (const YAML::Node res = root["resources"]; res && !res.IsNull()) {
      RequireMap(res, "resources");
      for (const auto& kv : res) {
        const std::string name = kv.first.as<std::string>();
        const std::string path = Join("resources", name);
        Guard(path, [&] { ValidateResource(name); });
        m.resources[name] = ParseLimitsBlock(kv.second, path);
      }
    }

    if (const YAML::Node ents = root["entities"]; ents && !ents.IsNull()) {
      RequireMap(ents, "entities");
      for (const auto& kv : ents) {
        const std::string id = kv.first.as<std::string>();
        const std::string path = Join("entities", id);
        Guard(path, [&] { ValidateIdentifier(id, "entity_id"); });
        RequireMap(kv.second, path);
        CheckKeys(kv.second, path, {"resources"});
        const YAML::Node rs = kv.second["resources"];
        if (!rs || !rs.IsMap() || rs.size() == 0) Fail(path, "needs a 'resources' mapping");
        for (const auto& rkv : rs) {
          const std::string resource = rkv.first.as<std::string>();
          const std::string rpath = Join(Join(path, "resources"), resource);
          Guard(rpath, [&] { ValidateEntityConfigResource(resource); });
          m.entities[id][resource] = ParseLimitsBlock(rkv.second, rpath);
        }
      }
    }

    std::string canonical;
    CanonicalJson(root, canonical);
    m.hash = "sha256:" + Sha256Hex(canonical);
    return m;
  } catch (const YAML::Exception& e) {
    throw ManifestError(std::string("invalid manifest: ") + e.what());
  }
}

Manifest LoadManifest(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw ManifestError("cannot read manifest " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return ParseManifest(ss.str());
  } catch (const ManifestError& e) {
    throw ManifestError(path + ": " + e.what());
  }
}

ItemKey ProvisionerKey(const std::string& namespace_id) {
  return {namespace_id + "/SYSTEM#", "#PROVISIONER"};
}

ProvisionerState StateFromItem(const Item& item) {
  ProvisionerState s;
  if (auto it = item.find("managed_system");
      it != item.end() && it->second.type() == Value::Type::kBool) {
    s.managed_system = it->second.as_bool();
  }
  if (auto it = item.find("managed_resources"); it != item.end()) {
    s.managed_resources = ReadStringList(it->second);
  }
  if (auto it = item.find("managed_entities");
      it != item.end() && it->second.type() == Value::Type::kMap) {
    for (const auto& [id, list] : it->second.as_map())
      s.managed_entities[id] = ReadStringList(list);
  }
  if (auto it = item.find("last_applied"); it != item.end() && it->second.is_string()) {
    s.last_applied = it->second.as_string();
  }
  if (auto it = item.find("applied_hash"); it != item.end() && it->second.is_string()) {
    s.applied_hash = it->second.as_string();
  }
  return s;
}

Item StateToItem(const std::string& namespace_id, const ProvisionerState& state) {
  const ItemKey key = ProvisionerKey(namespace_id);
  Value::Map entities;
  for (const auto& [id, resources] : state.managed_entities) {
    std::vector<std::string> sorted = resources;
    std::sort(sorted.begin(), sorted.end());
    entities[id] = StringList(sorted);
  }
  std::vector<std::string> resources = state.managed_resources;
  std::sort(resources.begin(), resources.end());
  return Item{
      {"PK", key.pk},
      {"SK", key.sk},
      {"managed_system", state.managed_system},
      {"managed_resources", StringList(resources)},
      {"managed_entities", entities},
      {"last_applied", state.last_applied},
      {"applied_hash", state.applied_hash},
      {"GSI4PK", namespace_id},
  };
}

ProvisionerState StateOf(const Manifest& m, const std::string& last_applied) {
  ProvisionerState s;
  s.managed_system = m.has_system;
  for (const auto& [r, _] : m.resources) s.managed_resources.push_back(r);
  for (const auto& [id, rs] : m.entities) {
    for (const auto& [r, _] : rs) s.managed_entities[id].push_back(r);
  }
  s.last_applied = last_applied;
  s.applied_hash = m.hash;
  return s;
}

std::string Change::target() const {
  if (level == "system") return "";
  if (level == "resource") return resource;
  return entity_id + "/" + resource;
}

std::vector<Change> Plan(const Manifest& m, const ProvisionerState& state) {
  std::vector<Change> changes;
  if (m.has_system) {
    Change c{state.managed_system ? "update" : "create",
             "system",
             "",
             "",
             m.system_limits,
             m.on_unavailable};
    changes.push_back(std::move(c));
  } else if (state.managed_system) {
    changes.push_back({"delete", "system", "", "", {}, {}});
  }

  const std::set<std::string> managed_resources(state.managed_resources.begin(),
                                                state.managed_resources.end());
  std::set<std::string> resources = managed_resources;
  for (const auto& [r, _] : m.resources) resources.insert(r);
  for (const auto& r : resources) {
    auto it = m.resources.find(r);
    if (it != m.resources.end()) {
      changes.push_back(
          {managed_resources.contains(r) ? "update" : "create", "resource", "", r, it->second, {}});
    } else {
      changes.push_back({"delete", "resource", "", r, {}, {}});
    }
  }

  std::set<std::pair<std::string, std::string>> managed_pairs, pairs;
  for (const auto& [id, rs] : state.managed_entities) {
    for (const auto& r : rs) managed_pairs.emplace(id, r);
  }
  pairs = managed_pairs;
  for (const auto& [id, rs] : m.entities) {
    for (const auto& [r, _] : rs) pairs.emplace(id, r);
  }
  for (const auto& [id, r] : pairs) {
    const auto eit = m.entities.find(id);
    const bool wanted = eit != m.entities.end() && eit->second.contains(r);
    if (wanted) {
      changes.push_back({managed_pairs.contains({id, r}) ? "update" : "create",
                         "entity",
                         id,
                         r,
                         eit->second.at(r),
                         {}});
    } else {
      changes.push_back({"delete", "entity", id, r, {}, {}});
    }
  }
  return changes;
}

std::string IsoNowMicros() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto us = duration_cast<microseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us % 1000000));
  return buf;
}

}  // namespace zae::cli

#include "aws/credentials.h"

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "aws/errors.h"
#include "aws/http.h"
#include "aws/json.h"

namespace zae::aws {
namespace {

constexpr std::chrono::milliseconds kHttpTimeout{2000};

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Home(const Env& env) { return env("HOME").value_or(""); }

// Only the values needed here are kept; the body is never echoed in errors
// because it holds secrets.
Credentials ParseCredentialsJson(const std::string& body, const char* source) {
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  auto str = [&](const char* name) -> std::string {
    if (!doc.IsObject()) return "";
    auto it = doc.FindMember(name);
    if (it == doc.MemberEnd() || !it->value.IsString()) return "";
    return std::string(it->value.GetString(), it->value.GetStringLength());
  };
  Credentials c;
  c.access_key_id = str("AccessKeyId");
  c.secret_access_key = str("SecretAccessKey");
  c.session_token = str("Token");
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    throw ConfigError(std::string(source) + " returned no usable credentials");
  }
  std::string exp = str("Expiration");
  if (!exp.empty()) {
    std::tm tm{};
    std::istringstream in(exp);
    in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
    if (in.fail()) throw ConfigError(std::string(source) + " returned a bad Expiration");
    c.expiration = std::chrono::system_clock::from_time_t(timegm(&tm));
  }
  return c;
}

HttpResult Fetch(const std::string& url, const std::string& method,
                 const std::vector<std::pair<std::string, std::string>>& headers,
                 const char* source) {
  HttpResult r = HttpFetch(url, method, headers, kHttpTimeout);
  if (!r.transport_ok) throw NetworkError(std::string(source) + ": " + r.error);
  if (r.status != 200) {
    throw NetworkError(std::string(source) + ": HTTP status " + std::to_string(r.status));
  }
  return r;
}

}  // namespace

Env ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

std::map<std::string, std::map<std::string, std::string>> ParseIni(const std::string& text) {
  std::map<std::string, std::map<std::string, std::string>> out;
  std::istringstream in(text);
  std::string line, section;
  while (std::getline(in, line)) {
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      section = Trim(t.substr(1, t.size() - 2));
      out[section];
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string::npos || section.empty()) continue;
    out[section][Trim(t.substr(0, eq))] = Trim(t.substr(eq + 1));
  }
  return out;
}

std::string ConfigFilePath(const Env& env) {
  return env("AWS_CONFIG_FILE").value_or(Home(env) + "/.aws/config");
}
std::string CredentialsFilePath(const Env& env) {
  return env("AWS_SHARED_CREDENTIALS_FILE").value_or(Home(env) + "/.aws/credentials");
}
std::string ProfileName(const Env& env) { return env("AWS_PROFILE").value_or("default"); }

std::optional<std::string> ConfigFileValue(const Env& env, const std::string& key) {
  auto text = ReadFile(ConfigFilePath(env));
  if (!text) return std::nullopt;
  auto ini = ParseIni(*text);
  std::string profile = ProfileName(env);
  for (const std::string& name : {"profile " + profile, profile}) {
    if (name == profile && profile != "default") continue;  // only [default] is bare
    auto s = ini.find(name);
    if (s == ini.end()) continue;
    auto k = s->second.find(key);
    if (k != s->second.end()) return k->second;
  }
  return std::nullopt;
}

Credentials EnvCredentials::Get() {
  // Called per request: the names are built once (each is too long for a
  // string's inline buffer, so a literal cost an allocation per lookup).
  static const std::string kId = "AWS_ACCESS_KEY_ID", kSecret = "AWS_SECRET_ACCESS_KEY",
                           kToken = "AWS_SESSION_TOKEN";
  auto id = env_(kId);
  auto secret = env_(kSecret);
  if (!id || !secret) throw ConfigError("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set");
  return Credentials{std::move(*id), std::move(*secret), env_(kToken).value_or(""), std::nullopt};
}

Credentials ProfileCredentials::Get() {
  std::string profile = ProfileName(env_);
  auto from = [&](const std::string& path,
                  const std::string& section) -> std::optional<Credentials> {
    auto text = ReadFile(path);
    if (!text) return std::nullopt;
    auto ini = ParseIni(*text);
    auto s = ini.find(section);
    if (s == ini.end()) return std::nullopt;
    auto get = [&](const char* k) {
      auto it = s->second.find(k);
      return it == s->second.end() ? std::string() : it->second;
    };
    Credentials c{get("aws_access_key_id"), get("aws_secret_access_key"), get("aws_session_token"),
                  std::nullopt};
    if (c.access_key_id.empty() || c.secret_access_key.empty()) return std::nullopt;
    return c;
  };
  if (auto c = from(CredentialsFilePath(env_), profile)) return *c;
  if (auto c = from(ConfigFilePath(env_), profile == "default" ? profile : "profile " + profile)) {
    return *c;
  }
  throw ConfigError("no credentials for profile '" + profile + "' in the shared files");
}

bool ContainerCredentials::Configured(const Env& env) {
  return env("AWS_CONTAINER_CREDENTIALS_FULL_URI") || env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
}

Credentials ContainerCredentials::Get() {
  std::string url;
  if (auto rel = env_("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
    url = "http://169.254.170.2" + *rel;
  } else if (auto full = env_("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
    url = *full;
  } else {
    throw ConfigError("container credentials not configured");
  }
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> token;
  if (auto file = env_("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
    token = ReadFile(*file);
    if (!token) throw ConfigError("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    *token = Trim(*token);
  } else {
    token = env_("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  }
  if (token) headers.emplace_back("Authorization", *token);
  return ParseCredentialsJson(Fetch(url, "GET", headers, "container credentials").body,
                              "container credentials");
}

Credentials ImdsCredentials::Get() {
  if (env_("AWS_EC2_METADATA_DISABLED").value_or("") == "true") {
    throw ConfigError("EC2 metadata disabled");
  }
  std::string base = env_("AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
  while (!base.empty() && base.back() == '/') base.pop_back();
  HttpResult token = Fetch(base + "/latest/api/token", "PUT",
                           {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}}, "EC2 IMDS token");
  std::vector<std::pair<std::string, std::string>> auth{
      {"X-aws-ec2-metadata-token", Trim(token.body)}};
  const std::string path = base + "/latest/meta-data/iam/security-credentials/";
  std::string role = Trim(Fetch(path, "GET", auth, "EC2 IMDS role").body);
  role = role.substr(0, role.find('\n'));
  if (role.empty()) throw ConfigError("EC2 IMDS: no instance role");
  return ParseCredentialsJson(Fetch(path + role, "GET", auth, "EC2 IMDS credentials").body,
                              "EC2 IMDS");
}

CachedCredentials::CachedCredentials(std::unique_ptr<CredentialsProvider> source,
                                     std::chrono::seconds refresh_before)
    : source_(std::move(source)), refresh_before_(refresh_before) {}

Credentials CachedCredentials::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = std::chrono::system_clock::now();
  bool fresh = cached_ && (!cached_->expiration || *cached_->expiration - refresh_before_ > now);
  if (fresh) return *cached_;
  try {
    cached_ = source_->Get();
  } catch (const Error&) {
    // A failed refresh must not take down a client whose credentials still work.
    if (cached_ && cached_->expiration && *cached_->expiration > now) return *cached_;
    throw;
  }
  return *cached_;
}

Credentials CredentialsChain::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  if (chosen_) return chosen_->Get();
  std::string tried;
  for (auto& source : sources_) {
    try {
      Credentials c = source->Get();
      chosen_ = source.get();
      return c;
    } catch (const Error& e) {
      if (!tried.empty()) tried += "; ";
      tried += e.what();
    }
  }
  throw ConfigError("no AWS credentials found (" + tried + ")");
}

std::shared_ptr<CredentialsProvider> DefaultCredentialsChain(Env env) {
  std::vector<std::unique_ptr<CredentialsProvider>> sources;
  sources.push_back(std::make_unique<EnvCredentials>(env));
  sources.push_back(std::make_unique<ProfileCredentials>(env));
  if (ContainerCredentials::Configured(env)) {
    sources.push_back(
        std::make_unique<CachedCredentials>(std::make_unique<ContainerCredentials>(env)));
  } else {
    sources.push_back(std::make_unique<CachedCredentials>(std::make_unique<ImdsCredentials>(env)));
  }
  return std::make_shared<CredentialsChain>(std::move(sources));
}

}  // namespace zae::aws

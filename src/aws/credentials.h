// AWS credentials and where to find them.
//
// DefaultCredentialsChain() looks, in order, at: AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; the shared files (profile from
// AWS_PROFILE or "default"; AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
// then AWS_CONFIG_FILE or ~/.aws/config); container credentials
// (AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI, with
// AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]); EC2 IMDSv2 (unless
// AWS_EC2_METADATA_DISABLED=true; AWS_EC2_METADATA_SERVICE_ENDPOINT overrides
// the address). The first source that has credentials wins, and the chain
// remembers it. HTTP sources are wrapped in a cache that refreshes
// `refresh_before` ahead of expiry and keeps serving still-valid credentials if
// a refresh fails.
//
// Environment lookups go through an Env function so tests need not touch the
// process environment.
//
// Thread safety: every provider's Get() may be called from any thread.
// Errors: Get() throws aws::ConfigError (no credentials) or aws::NetworkError
// (an HTTP source failed). Messages never contain secrets.
#ifndef ZAE_AWS_CREDENTIALS_H_
#define ZAE_AWS_CREDENTIALS_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace zae::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty if none
  std::optional<std::chrono::system_clock::time_point> expiration;
};

using Env = std::function<std::optional<std::string>(const std::string& name)>;
Env ProcessEnv();  // reads ::getenv; empty values count as unset

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  virtual Credentials Get() = 0;
};

class StaticCredentials : public CredentialsProvider {
 public:
  explicit StaticCredentials(Credentials c) : c_(std::move(c)) {}
  Credentials Get() override { return c_; }

 private:
  Credentials c_;
};

class EnvCredentials : public CredentialsProvider {
 public:
  explicit EnvCredentials(Env env) : env_(std::move(env)) {}
  Credentials Get() override;

 private:
  Env env_;
};

// Reads aws_access_key_id/aws_secret_access_key/aws_session_token of the
// profile from the credentials file, then from the config file ("[profile X]"
// sections, or "[default]").
class ProfileCredentials : public CredentialsProvider {
 public:
  explicit ProfileCredentials(Env env) : env_(std::move(env)) {}
  Credentials Get() override;

 private:
  Env env_;
};

// ECS/EKS container endpoint. JSON body with AccessKeyId, SecretAccessKey,
// Token, Expiration.
class ContainerCredentials : public CredentialsProvider {
 public:
  explicit ContainerCredentials(Env env) : env_(std::move(env)) {}
  Credentials Get() override;
  static bool Configured(const Env& env);

 private:
  Env env_;
};

// EC2 instance metadata, IMDSv2 (session token first).
class ImdsCredentials : public CredentialsProvider {
 public:
  explicit ImdsCredentials(Env env) : env_(std::move(env)) {}
  Credentials Get() override;

 private:
  Env env_;
};

// Serves cached credentials until `refresh_before` ahead of their expiry.
class CachedCredentials : public CredentialsProvider {
 public:
  CachedCredentials(std::unique_ptr<CredentialsProvider> source,
                    std::chrono::seconds refresh_before = std::chrono::seconds(300));
  Credentials Get() override;

 private:
  std::unique_ptr<CredentialsProvider> source_;
  std::chrono::seconds refresh_before_;
  std::mutex mu_;
  std::optional<Credentials> cached_;
};

class CredentialsChain : public CredentialsProvider {
 public:
  explicit CredentialsChain(std::vector<std::unique_ptr<CredentialsProvider>> sources)
      : sources_(std::move(sources)) {}
  Credentials Get() override;

 private:
  std::vector<std::unique_ptr<CredentialsProvider>> sources_;
  std::mutex mu_;
  CredentialsProvider* chosen_ = nullptr;
};

std::shared_ptr<CredentialsProvider> DefaultCredentialsChain(Env env = ProcessEnv());

// Parses an AWS shared config/credentials file: section -> key -> value.
// Section names are kept as written ("default", "profile dev").
std::map<std::string, std::map<std::string, std::string>> ParseIni(const std::string& text);

// The shared config file's path, honouring AWS_CONFIG_FILE and HOME.
std::string ConfigFilePath(const Env& env);
std::string CredentialsFilePath(const Env& env);
std::string ProfileName(const Env& env);
// A key of the current profile in the config file, if present.
std::optional<std::string> ConfigFileValue(const Env& env, const std::string& key);

}  // namespace zae::aws

#endif  // ZAE_AWS_CREDENTIALS_H_

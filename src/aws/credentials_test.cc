// Credential sources: environment, shared files, container and IMDSv2
// endpoints (served by a loopback server), caching and refresh.
#include "aws/credentials.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "aws/errors.h"
#include "aws/test_server.h"

namespace zae::aws {
namespace {

using testing::TestRequest;
using testing::TestResponse;
using testing::TestServer;

struct FakeEnv {
  std::map<std::string, std::string> vars;
  Env env() {
    return [this](const std::string& k) -> std::optional<std::string> {
      auto it = vars.find(k);
      return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  }
};

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("zae_aws_creds_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(path_ / name) << text;
    return (path_ / name).string();
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

std::string FutureIso(std::chrono::seconds ahead) {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + ahead);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

TEST(CredentialsTest, Environment) {
  FakeEnv e;
  e.vars = {{"AWS_ACCESS_KEY_ID", "AKID"},
            {"AWS_SECRET_ACCESS_KEY", "SECRET"},
            {"AWS_SESSION_TOKEN", "TOKEN"}};
  Credentials c = EnvCredentials(e.env()).Get();
  EXPECT_EQ(c.access_key_id, "AKID");
  EXPECT_EQ(c.secret_access_key, "SECRET");
  EXPECT_EQ(c.session_token, "TOKEN");
}

TEST(CredentialsTest, MissingEnvironmentNeverLeaksSecret) {
  FakeEnv e;
  e.vars = {{"AWS_SECRET_ACCESS_KEY", "SUPERSECRET"},
            {"HOME", "/nonexistent"},
            {"AWS_EC2_METADATA_DISABLED", "true"}};
  try {
    DefaultCredentialsChain(e.env())->Get();
    FAIL();
  } catch (const ConfigError& err) {
    EXPECT_EQ(std::string(err.what()).find("SUPERSECRET"), std::string::npos);
  }
}

TEST(CredentialsTest, SharedFilesWithProfile) {
  TempDir dir;
  FakeEnv e;
  e.vars["AWS_SHARED_CREDENTIALS_FILE"] = dir.Write("credentials",
                                                    "[default]\naws_access_key_id = D\n"
                                                    "aws_secret_access_key = DS\n"
                                                    "# comment\n[dev]\naws_access_key_id=DEV\n"
                                                    "aws_secret_access_key=DEVS\n"
                                                    "aws_session_token = DEVT\n");
  e.vars["AWS_CONFIG_FILE"] =
      dir.Write("config",
                "[default]\nregion = us-west-2\n[profile other]\nregion=eu-north-1\n"
                "aws_access_key_id = O\naws_secret_access_key = OS\n");
  EXPECT_EQ(ProfileCredentials(e.env()).Get().access_key_id, "D");
  EXPECT_EQ(ConfigFileValue(e.env(), "region"), "us-west-2");
  e.vars["AWS_PROFILE"] = "dev";
  Credentials dev = ProfileCredentials(e.env()).Get();
  EXPECT_EQ(dev.access_key_id, "DEV");
  EXPECT_EQ(dev.session_token, "DEVT");
  e.vars["AWS_PROFILE"] = "other";
  EXPECT_EQ(ProfileCredentials(e.env()).Get().access_key_id, "O");
  EXPECT_EQ(ConfigFileValue(e.env(), "region"), "eu-north-1");
  e.vars["AWS_PROFILE"] = "missing";
  EXPECT_THROW(ProfileCredentials(e.env()).Get(), ConfigError);
}

TEST(CredentialsTest, ChainPrefersEnvironmentThenFiles) {
  TempDir dir;
  FakeEnv e;
  e.vars["AWS_SHARED_CREDENTIALS_FILE"] =
      dir.Write("credentials", "[default]\naws_access_key_id=F\naws_secret_access_key=FS\n");
  e.vars["AWS_CONFIG_FILE"] = dir.Write("config", "");
  e.vars["AWS_EC2_METADATA_DISABLED"] = "true";
  EXPECT_EQ(DefaultCredentialsChain(e.env())->Get().access_key_id, "F");
  e.vars["AWS_ACCESS_KEY_ID"] = "E";
  e.vars["AWS_SECRET_ACCESS_KEY"] = "ES";
  EXPECT_EQ(DefaultCredentialsChain(e.env())->Get().access_key_id, "E");
}

TEST(CredentialsTest, ContainerFullUriWithToken) {
  std::string expiration = FutureIso(std::chrono::hours(1));
  std::atomic<int> authorized{0};
  TestServer server([&](const TestRequest& r) -> TestResponse {
    if (r.path != "/creds") return {404, ""};
    auto it = r.headers.find("authorization");
    if (it != r.headers.end() && it->second == "Bearer abc") ++authorized;
    return {200, R"({"AccessKeyId":"CK","SecretAccessKey":"CS","Token":"CT","Expiration":")" +
                     expiration + R"("})"};
  });
  FakeEnv e;
  e.vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server.url() + "/creds";
  e.vars["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "Bearer abc";
  Credentials c = ContainerCredentials(e.env()).Get();
  EXPECT_EQ(c.access_key_id, "CK");
  EXPECT_EQ(c.session_token, "CT");
  ASSERT_TRUE(c.expiration);
  EXPECT_GT(*c.expiration, std::chrono::system_clock::now() + std::chrono::minutes(50));
  EXPECT_EQ(authorized.load(), 1);

  // Through the default chain: cached until close to expiry.
  e.vars["HOME"] = "/nonexistent";
  auto chain = DefaultCredentialsChain(e.env());
  EXPECT_EQ(chain->Get().access_key_id, "CK");
  EXPECT_EQ(chain->Get().access_key_id, "CK");
  EXPECT_EQ(server.requests(), 2);
}

TEST(CredentialsTest, ContainerFailureIsTypedAndSecretFree) {
  TestServer server([&](const TestRequest&) -> TestResponse { return {500, "SecretAccessKey"}; });
  FakeEnv e;
  e.vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server.url() + "/creds";
  try {
    ContainerCredentials(e.env()).Get();
    ADD_FAILURE() << "no error";
  } catch (const NetworkError& err) {
    // The response body may hold secrets: it never reaches the message.
    EXPECT_EQ(std::string(err.what()).find("SecretAccessKey"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("500"), std::string::npos) << err.what();
  }
}

TEST(CredentialsTest, ImdsV2) {
  std::atomic<int> token_ok{0};
  TestServer server([&](const TestRequest& r) -> TestResponse {
    if (r.method == "PUT" && r.path == "/latest/api/token") {
      if (r.headers.count("x-aws-ec2-metadata-token-ttl-seconds")) return {200, "TOKEN123"};
      return {400, ""};
    }
    auto it = r.headers.find("x-aws-ec2-metadata-token");
    if (it == r.headers.end() || it->second != "TOKEN123") return {401, ""};
    ++token_ok;
    if (r.path == "/latest/meta-data/iam/security-credentials/") return {200, "my-role\n"};
    if (r.path == "/latest/meta-data/iam/security-credentials/my-role") {
      return {200, R"({"Code":"Success","AccessKeyId":"IK","SecretAccessKey":"IS",)"
                   R"("Token":"IT","Expiration":")" +
                       FutureIso(std::chrono::minutes(2)) + R"("})"};
    }
    return {404, ""};
  });
  FakeEnv e;
  e.vars["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = server.url() + "/";
  Credentials c = ImdsCredentials(e.env()).Get();
  EXPECT_EQ(c.access_key_id, "IK");
  EXPECT_EQ(c.session_token, "IT");
  EXPECT_EQ(token_ok.load(), 2);

  // Expires in 2 minutes, inside the 5-minute refresh window: refreshed each time.
  CachedCredentials cached(std::make_unique<ImdsCredentials>(e.env()));
  int before = server.requests();
  cached.Get();
  cached.Get();
  EXPECT_EQ(server.requests() - before, 6);
  e.vars["AWS_EC2_METADATA_DISABLED"] = "true";
  EXPECT_THROW(ImdsCredentials(e.env()).Get(), ConfigError);
}

class CountingProvider : public CredentialsProvider {
 public:
  explicit CountingProvider(std::chrono::seconds ttl) : ttl_(ttl) {}
  Credentials Get() override {
    ++calls;
    if (fail) throw NetworkError("down");
    return {"K" + std::to_string(calls), "S", "", std::chrono::system_clock::now() + ttl_};
  }
  int calls = 0;
  bool fail = false;

 private:
  std::chrono::seconds ttl_;
};

TEST(CredentialsTest, CacheRefreshesBeforeExpiryAndSurvivesFailedRefresh) {
  auto* source = new CountingProvider(std::chrono::seconds(600));
  CachedCredentials cached(std::unique_ptr<CredentialsProvider>(source), std::chrono::seconds(300));
  EXPECT_EQ(cached.Get().access_key_id, "K1");
  EXPECT_EQ(cached.Get().access_key_id, "K1");
  EXPECT_EQ(source->calls, 1);

  auto* soon = new CountingProvider(std::chrono::seconds(120));
  CachedCredentials refreshing(std::unique_ptr<CredentialsProvider>(soon),
                               std::chrono::seconds(300));
  EXPECT_EQ(refreshing.Get().access_key_id, "K1");
  EXPECT_EQ(refreshing.Get().access_key_id, "K2");
  soon->fail = true;
  EXPECT_EQ(refreshing.Get().access_key_id, "K2");  // still valid: served from cache
}

TEST(CredentialsTest, ParseIni) {
  auto ini = ParseIni("[a]\nk = v \n; c\n[ profile b ]\nx=1=2\n");
  EXPECT_EQ(ini["a"]["k"], "v");
  EXPECT_EQ(ini["profile b"]["x"], "1=2");
}

}  // namespace
}  // namespace zae::aws

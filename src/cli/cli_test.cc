// Runs the real zae-limiter binary for every command against temporary
// SQLite files (and DynamoDB Local when ZAE_TEST_DYNAMODB_ENDPOINT is set and
// the DynamoDB store is built), checking exit codes, output and messages.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>
#include "rapidjson/document.h"
#include "zae/version.h"

#if ZAE_HAVE_DYNAMODB_STORE
#include "aws/client.h"
#include "zae/dynamodb_store.h"
#endif
#include "store/require_backend.h"
#include "store/tcp_fault_proxy.h"

namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string Slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zae-cli-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = "sqlite:" + (dir_ / "z.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs the binary with `args`, stdin from /dev/null (not a terminal), a
  // clean environment for the variables the CLI reads, plus `env`.
  Result RunRaw(const std::vector<std::string>& args, const std::string& env = "") {
    std::string cmd =
        "cd " + Quote(dir_.string()) +
        " && env -u ZAEL_STORE -u ZAEL_NAMESPACE XDG_DATA_HOME=" + Quote((dir_ / "xdg").string()) +
        " XDG_STATE_HOME=" + Quote((dir_ / "state").string()) + " " + env + " " + ZAE_CLI_BINARY;
    for (const auto& a : args) cmd += " " + Quote(a);
    cmd += " >out.txt 2>err.txt </dev/null";
    const int status = std::system(cmd.c_str());
    Result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = Slurp(dir_ / "out.txt");
    r.err = Slurp(dir_ / "err.txt");
    return r;
  }
  // Same, against this test's SQLite file.
  Result Run(std::vector<std::string> args, const std::string& env = "") {
    args.insert(args.begin(), {"--store", store_});
    return RunRaw(args, env);
  }
  // Runs and expects exit 0; returns stdout.
  std::string Ok(const std::vector<std::string>& args) {
    Result r = Run(args);
    EXPECT_EQ(r.code, 0) << Describe(args, r);
    return r.out;
  }
  rapidjson::Document Json(std::vector<std::string> args, int expected_code = 0) {
    args.push_back("--output");
    args.push_back("json");
    Result r = Run(args);
    EXPECT_EQ(r.code, expected_code) << Describe(args, r);
    rapidjson::Document d;
    d.Parse(r.out.c_str());
    EXPECT_FALSE(d.HasParseError()) << r.out;
    return d;
  }
  // Expects `code` and a stderr line containing `message`.
  void Fails(const std::vector<std::string>& args, int code, const std::string& message) {
    Result r = Run(args);
    EXPECT_EQ(r.code, code) << Describe(args, r);
    EXPECT_NE(r.err.find(message), std::string::npos) << Describe(args, r);
  }
  static std::string Describe(const std::vector<std::string>& args, const Result& r) {
    std::string s = "zae-limiter";
    for (const auto& a : args) s += " " + a;
    return s + "\nexit " + std::to_string(r.code) + "\nstdout:\n" + r.out + "stderr:\n" + r.err;
  }
  void WriteFile(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  fs::path dir_;
  std::string store_;
};

// A port nobody listens on: bind to 0 and let the kernel choose.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// ---- general -----------------------------------------------------------------

TEST_F(CliTest, VersionAndHelp) {
  Result r = RunRaw({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(Contains(r.out, std::string("zae-limiter ") + ZAE_VERSION_STRING + " (commit "))
      << r.out;
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"entity", "--help"},
                                        {"entity", "create", "--help"},
                                        {"acquire", "--help"},
                                        {"limits", "apply", "--help"},
                                        {"local", "up", "--help"},
                                        {"demo", "--help"},
                                        {"namespace", "purge", "--help"}}) {
    r = RunRaw(args);
    EXPECT_EQ(r.code, 0) << Describe(args, r);
    EXPECT_TRUE(Contains(r.out, "Usage")) << Describe(args, r);
  }
  const std::string help = RunRaw({"--help"}).out;
  EXPECT_TRUE(Contains(help, "Default limits of a resource")) << help;
  EXPECT_TRUE(Contains(RunRaw({"resource", "--help"}).out, "set-defaults"));
}

TEST_F(CliTest, UsageErrorsExit2) {
  EXPECT_EQ(RunRaw({}).code, 2);
  Result r = RunRaw({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(Contains(r.err, "Error:")) << r.err;
  EXPECT_EQ(RunRaw({"entity"}).code, 2);
  EXPECT_EQ(RunRaw({"entity", "create"}).code, 2);  // missing id
  EXPECT_EQ(RunRaw({"--output", "xml", "status"}).code, 2);
  Fails({"entity", "create", "a", "--bogus"}, 2, "Error:");
}

TEST_F(CliTest, GlobalOptionsBeforeOrAfterTheCommand) {
  Result r = RunRaw({"entity", "create", "k1", "--store", store_, "--output", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "\"entity_id\": \"k1\"")) << r.out;
  r = RunRaw({"--output", "json", "entity", "show", "k1", "--store", store_});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "\"entity_id\": \"k1\"")) << r.out;
}

TEST_F(CliTest, StoreSelection) {
  // Default: the XDG data directory, created on demand.
  Result r = RunRaw({"entity", "create", "k1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir_ / "xdg" / "zae-limiter" / "zae.db"));
  // ZAEL_STORE.
  r = RunRaw({"entity", "create", "k2"}, "ZAEL_STORE=" + Quote(store_));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Run({"entity", "show", "k2"}).code, 0);
  // memory: works (and forgets).
  EXPECT_EQ(RunRaw({"--store", "memory:", "entity", "create", "m"}).code, 0);
  EXPECT_EQ(RunRaw({"--store", "memory:", "entity", "show", "m"}).code, 1);
}

TEST_F(CliTest, BadStores) {
  Result r = RunRaw({"--store", "sqlite:/nonexistent/dir/z.db", "status"});
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_TRUE(Contains(r.err, "cannot open store sqlite:/nonexistent/dir/z.db")) << r.err;
  r = RunRaw({"--store", "postgres://x", "status"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(Contains(r.err, "Invalid store")) << r.err;
  r = RunRaw({"--store", "sqlite:", "status"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(Contains(r.err, "needs a file path")) << r.err;
  r = RunRaw({"--store", store_, "--name", "tbl", "status"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(Contains(r.err, "cannot be combined")) << r.err;
  // DynamoDB nobody listens on: store unavailable.
  r = RunRaw({"--name", "zae-test", "--region", "us-east-1", "--endpoint-url",
              "http://127.0.0.1:" + std::to_string(FreePort()), "status"},
             "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test");
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_TRUE(Contains(r.err, ZAE_HAVE_DYNAMODB_STORE ? "Error:" : "DynamoDB store not built yet"))
      << r.err;
}

// A DynamoDB endpoint that accepts and never answers: acquire with
// --on-unavailable answers by the policy within --timeout, from opening on.
TEST_F(CliTest, AcquireOnASilentStoreFollowsThePolicyWithinTheTimeout) {
  if (!ZAE_HAVE_DYNAMODB_STORE) ZAE_DYNAMODB_UNAVAILABLE("the DynamoDB store is not built");
  auto hole = zae::testing::TcpFaultProxy::BlackHole();
  const std::string creds = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test";
  auto args = [&](std::vector<std::string> tail) {
    std::vector<std::string> a = {"--name",         "zae-test",  "--region",  "us-east-1",
                                  "--endpoint-url", hole->url(), "--timeout", "0.3"};
    a.insert(a.end(), tail.begin(), tail.end());
    return a;
  };
  const auto t0 = std::chrono::steady_clock::now();
  Result r =
      RunRaw(args({"acquire", "k1", "gpt-4", "-c", "rpm=1", "--on-unavailable", "allow"}), creds);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "(store unavailable; allowed by on_unavailable=allow")) << r.out;
  r = RunRaw(args({"acquire", "k1", "gpt-4", "-c", "rpm=1", "--on-unavailable", "block"}), creds);
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_TRUE(Contains(r.err, "namespace 'default' not resolved")) << r.err;
  // Two processes, each bounded by 0.3 s plus its start-up (ASan): far
  // from the client's own 20 s.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(8));
  r = RunRaw(args({"--timeout", "0", "acquire", "k1", "gpt-4", "-c", "rpm=1"}), creds);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(Contains(r.err, "--timeout")) << r.err;
}

TEST_F(CliTest, VerboseAddsDetail) {
  Result r = Run({"--verbose", "entity", "show", "nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(Contains(r.err, "Error: Entity not found: nope")) << r.err;
  EXPECT_TRUE(Contains(r.err, "[verbose]")) << r.err;
  r = Run({"entity", "show", "nope"});
  EXPECT_FALSE(Contains(r.err, "[verbose]")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one line
}

// ---- infra ---------------------------------------------------------------------

TEST_F(CliTest, DeployStatusVersionCheck) {
  EXPECT_TRUE(Contains(Ok({"deploy"}), "schema version: 0.10.0"));
  auto d = Json({"status"});
  EXPECT_TRUE(d["available"].GetBool());
  EXPECT_TRUE(d["compatible"].GetBool());
  EXPECT_STREQ(d["version"]["schema_version"].GetString(), "0.10.0");
  EXPECT_STREQ(d["namespaces"][0].GetString(), "default");
  d = Json({"version"});
  EXPECT_STREQ(d["client_version"].GetString(), ZAE_VERSION_STRING);
  EXPECT_EQ(std::string(d["stored"]["updated_by"].GetString()),
            std::string("cli:") + ZAE_VERSION_STRING);
  EXPECT_TRUE(Contains(Ok({"check"}), "OK: compatible"));
  EXPECT_TRUE(Contains(Ok({"status"}), "schema_version"));
  EXPECT_TRUE(Contains(Ok({"version"}), "compatibility"));
}

// What CloudFormation and DynamoDB's CreateTable require of the table in
// `text` (what cfn-lint would flag), and the layout of format.md §1: the
// key attributes, GSI1-GSI4 and the reserved LSI1-LSI5.
void ExpectValidTableTemplate(const std::string& text, bool narrow_gsi2) {
  YAML::Node doc;
  ASSERT_NO_THROW(doc = YAML::Load(text)) << "not YAML";
  EXPECT_EQ(doc["AWSTemplateFormatVersion"].as<std::string>(), "2010-09-09");
  std::set<std::string> sections;
  for (const auto& kv : doc) sections.insert(kv.first.as<std::string>());
  for (const auto& s : sections) {
    EXPECT_TRUE((std::set<std::string>{"AWSTemplateFormatVersion", "Description", "Parameters",
                                       "Conditions", "Resources", "Outputs"}
                     .count(s)))
        << "unknown top-level section " << s;
  }
  // Every !Ref names a parameter, a resource or a pseudo parameter, and
  // every !If a condition.
  std::set<std::string> refs_ok{"AWS::StackName", "AWS::NoValue", "AWS::Region"};
  for (const auto& kv : doc["Parameters"]) refs_ok.insert(kv.first.as<std::string>());
  for (const auto& kv : doc["Resources"]) refs_ok.insert(kv.first.as<std::string>());
  std::set<std::string> conditions;
  for (const auto& kv : doc["Conditions"]) conditions.insert(kv.first.as<std::string>());
  std::function<void(const YAML::Node&)> walk = [&](const YAML::Node& n) {
    if (n.Tag() == "!Ref") {
      EXPECT_TRUE(refs_ok.count(n.as<std::string>())) << n.as<std::string>();
    }
    if (n.Tag() == "!If") {
      EXPECT_TRUE(conditions.count(n[0].as<std::string>())) << n[0];
    }
    if (n.Tag() == "!GetAtt") {
      const std::string a = n.as<std::string>();
      EXPECT_TRUE(a == "RateLimitsTable.Arn" || a == "RateLimitsTable.StreamArn") << a;
    }
    if (n.IsMap()) {
      for (const auto& kv : n) walk(kv.second);
    } else if (n.IsSequence()) {
      for (const auto& c : n) walk(c);
    }
  };
  walk(doc);

  const YAML::Node table = doc["Resources"]["RateLimitsTable"];
  ASSERT_TRUE(table.IsMap());
  EXPECT_EQ(table["Type"].as<std::string>(), "AWS::DynamoDB::Table");
  const YAML::Node p = table["Properties"];
  EXPECT_EQ(p["BillingMode"].as<std::string>(), "PAY_PER_REQUEST");
  std::map<std::string, std::string> defined;
  for (const auto& d : p["AttributeDefinitions"]) {
    const std::string name = d["AttributeName"].as<std::string>();
    EXPECT_TRUE(defined.emplace(name, d["AttributeType"].as<std::string>()).second) << name;
    EXPECT_EQ(defined[name], "S") << name;
  }
  // A key schema is HASH then optionally RANGE, on defined attributes.
  std::set<std::string> used;
  auto keys_of = [&](const YAML::Node& ks) {
    std::vector<std::string> out;
    EXPECT_TRUE(ks.IsSequence() && ks.size() >= 1 && ks.size() <= 2);
    for (size_t i = 0; i < ks.size(); ++i) {
      EXPECT_EQ(ks[i]["KeyType"].as<std::string>(), i == 0 ? "HASH" : "RANGE");
      out.push_back(ks[i]["AttributeName"].as<std::string>());
      EXPECT_TRUE(defined.count(out.back())) << out.back() << " is not defined";
      used.insert(out.back());
    }
    return out;
  };
  EXPECT_EQ(keys_of(p["KeySchema"]), (std::vector<std::string>{"PK", "SK"}));
  std::set<std::string> index_names;
  auto check_index = [&](const YAML::Node& ix, const std::vector<std::string>& keys,
                         const std::string& projection) {
    const std::string name = ix["IndexName"].as<std::string>();
    EXPECT_TRUE(index_names.insert(name).second) << "duplicate index " << name;
    EXPECT_EQ(keys_of(ix["KeySchema"]), keys) << name;
    EXPECT_EQ(ix["Projection"]["ProjectionType"].as<std::string>(), projection) << name;
  };
  const YAML::Node gsis = p["GlobalSecondaryIndexes"];
  ASSERT_EQ(gsis.size(), 4u);
  for (int i = 1; i <= 4; ++i) {
    const std::string n = "GSI" + std::to_string(i);
    EXPECT_EQ(gsis[i - 1]["IndexName"].as<std::string>(), n);
    check_index(gsis[i - 1], {n + "PK", n + "SK"},
                i == 1 || (i == 2 && !narrow_gsi2) ? "ALL" : "KEYS_ONLY");
  }
  const YAML::Node lsis = p["LocalSecondaryIndexes"];
  ASSERT_EQ(lsis.size(), 5u);  // DynamoDB's maximum
  for (int i = 1; i <= 5; ++i) {
    const std::string n = "LSI" + std::to_string(i);
    EXPECT_EQ(lsis[i - 1]["IndexName"].as<std::string>(), n);
    check_index(lsis[i - 1], {"PK", n + "SK"}, i % 2 == 1 ? "ALL" : "KEYS_ONLY");
  }
  // CreateTable rejects attribute definitions no key uses.
  for (const auto& [name, type] : defined) EXPECT_TRUE(used.count(name)) << name << " unused";
  EXPECT_EQ(p["StreamSpecification"]["StreamViewType"].as<std::string>(), "NEW_AND_OLD_IMAGES");
  EXPECT_EQ(p["TimeToLiveSpecification"]["AttributeName"].as<std::string>(), "ttl");
  EXPECT_TRUE(p["TimeToLiveSpecification"]["Enabled"].as<bool>());
  const YAML::Node pitr = doc["Parameters"]["PITRRecoveryPeriodDays"];
  EXPECT_EQ(pitr["MinValue"].as<int>(), 0);
  EXPECT_EQ(pitr["MaxValue"].as<int>(), 35);
  for (const auto& out : doc["Outputs"]) EXPECT_TRUE(out.second["Value"]) << out.first;
}

TEST_F(CliTest, CfnTemplate) {
  const std::string t = Ok({"cfn-template"});
  for (const char* part : {"AWS::DynamoDB::Table", "PAY_PER_REQUEST", "IndexName: GSI4",
                           "IndexName: LSI5", "NEW_AND_OLD_IMAGES", "AttributeName: ttl"}) {
    EXPECT_TRUE(Contains(t, part)) << part;
  }
  EXPECT_TRUE(Contains(Ok({"cfn-template", "--narrow-gsi2"}),
                       "ProjectionType: KEYS_ONLY}\n        # entity"));
  Ok({"cfn-template", "-o", (dir_ / "t.yaml").string()});
  EXPECT_EQ(Slurp(dir_ / "t.yaml"), t);
  // cfn-lint is not packaged for Debian 12, so the checks CloudFormation
  // and CreateTable make on this template run here, on every machine.
  for (bool narrow : {false, true}) {
    SCOPED_TRACE(narrow ? "--narrow-gsi2" : "default");
    ExpectValidTableTemplate(narrow ? Ok({"cfn-template", "--narrow-gsi2"}) : t, narrow);
  }
}

// ---- entities ------------------------------------------------------------------

TEST_F(CliTest, Entities) {
  EXPECT_TRUE(Contains(Ok({"entity", "create", "proj", "--display-name", "Project"}),
                       "Created entity proj"));
  EXPECT_TRUE(Contains(Ok({"entity", "create", "key-1", "--parent", "proj", "--cascade"}),
                       "(parent proj, cascade)"));
  Ok({"entity", "create", "key-2", "--parent", "proj"});
  auto d = Json({"entity", "show", "key-1"});
  EXPECT_STREQ(d["parent_id"].GetString(), "proj");
  EXPECT_TRUE(d["cascade"].GetBool());
  EXPECT_STREQ(Json({"entity", "show", "proj"})["name"].GetString(), "Project");
  EXPECT_TRUE(Contains(Ok({"entity", "show", "proj"}), "Project"));

  d = Json({"entity", "children", "proj"});
  ASSERT_TRUE(d.IsArray());
  EXPECT_EQ(d.Size(), 2u);
  EXPECT_TRUE(Contains(Ok({"entity", "children", "proj"}), "key-2"));

  Fails({"entity", "create", "proj"}, 1, "Entity already exists: proj");
  Fails({"entity", "show", "nope"}, 1, "Entity not found: nope");
  Fails({"entity", "create", "bad#id"}, 1, "Invalid entity_id");
  Fails({"entity", "create", "-x"}, 2, "Error:");
  Fails({"entity", "create", "k9", "--cascade"}, 2, "--cascade needs --parent");

  // Destructive: refuses without a terminal, works with --yes.
  Fails({"entity", "delete", "key-2"}, 1, "Refusing without --yes");
  EXPECT_EQ(Run({"entity", "show", "key-2"}).code, 0);
  EXPECT_TRUE(Contains(Ok({"entity", "delete", "key-2", "--yes"}), "Deleted entity key-2"));
  Fails({"entity", "show", "key-2"}, 1, "Entity not found");
  Fails({"entity", "delete", "nope", "-y"}, 1, "Entity not found: nope");
}

TEST_F(CliTest, EntityLimits) {
  Ok({"entity", "create", "key-1"});
  EXPECT_TRUE(Contains(Ok({"entity", "set-limits", "key-1", "-r", "gpt-4", "-l", "rpm:100", "-l",
                           "tpm:10000/min:20000"}),
                       "tpm: 10,000/min (burst: 20,000)"));
  auto d = Json({"entity", "get-limits", "key-1", "-r", "gpt-4"});
  ASSERT_EQ(d["limits"].Size(), 2u);
  EXPECT_STREQ(d["limits"][1]["name"].GetString(), "tpm");
  EXPECT_EQ(d["limits"][1]["capacity"].GetInt64(), 20000);
  EXPECT_EQ(d["limits"][1]["refill_amount"].GetInt64(), 10000);
  EXPECT_EQ(d["limits"][1]["refill_period_seconds"].GetInt64(), 60);
  Ok({"entity", "set-limits", "key-1", "-l", "rpm:5/sec"});  // _default_
  EXPECT_TRUE(Contains(Ok({"entity", "get-limits", "key-1"}), "rpm: 5/sec"));
  EXPECT_TRUE(Contains(Ok({"entity", "get-limits", "key-1", "-r", "other"}), "No limits stored"));

  d = Json({"entity", "list", "--with-custom-limits", "gpt-4"});
  ASSERT_EQ(d["entities"].Size(), 1u);
  EXPECT_STREQ(d["entities"][0].GetString(), "key-1");
  d = Json({"entity", "list-resources"});
  EXPECT_EQ(d["resources"].Size(), 2u);  // _default_, gpt-4
  EXPECT_TRUE(Contains(Ok({"entity", "list-resources"}), "gpt-4"));

  Fails({"entity", "delete-limits", "key-1", "-r", "gpt-4"}, 1, "Refusing without --yes");
  Ok({"entity", "delete-limits", "key-1", "-r", "gpt-4", "--yes"});
  EXPECT_EQ(Json({"entity", "get-limits", "key-1", "-r", "gpt-4"})["limits"].Size(), 0u);
  EXPECT_TRUE(Contains(Ok({"entity", "list", "--with-custom-limits", "gpt-4"}), "No entities"));

  // Malformed limits are usage errors with the reference's messages.
  Fails({"entity", "set-limits", "key-1", "-l", "rpm"}, 2,
        "Invalid limit format: 'rpm'. Expected 'name:rate[/period]' or 'name:rate[/period]:burst'");
  Fails({"entity", "set-limits", "key-1", "-l", "rpm:10/fortnight"}, 2,
        "Invalid period: '/fortnight'. Use /[N]sec, /[N]min, /[N]hour, or /[N]day");
  Fails({"entity", "set-limits", "key-1", "-l", "rpm:ten"}, 2, "Invalid limit values in 'rpm:ten'");
  Fails({"entity", "set-limits", "key-1", "-l", "rpm:0"}, 2, "capacity must be positive");
  Fails({"entity", "set-limits", "key-1", "-l", "wcu:5"}, 2, "reserved");
  Fails({"entity", "set-limits", "key-1"}, 2, "-l");  // required
  Fails({"entity", "set-limits", "key-1", "-r", "bad#res", "-l", "rpm:1"}, 1, "Invalid");
}

// ---- resource and system defaults ------------------------------------------------

TEST_F(CliTest, ResourceDefaults) {
  Ok({"resource", "set-defaults", "openai/gpt-4", "-l", "rpm:60", "-l", "tpm:1000/5min"});
  auto d = Json({"resource", "get-defaults", "openai/gpt-4"});
  EXPECT_STREQ(d["resource"].GetString(), "openai/gpt-4");
  EXPECT_EQ(d["limits"][1]["refill_period_seconds"].GetInt64(), 300);
  EXPECT_TRUE(Contains(Ok({"resource", "get-defaults", "openai/gpt-4"}), "tpm: 1,000/5min"));
  EXPECT_STREQ(Json({"resource", "list"})["resources"][0].GetString(), "openai/gpt-4");
  Fails({"resource", "delete-defaults", "openai/gpt-4"}, 1, "Refusing without --yes");
  Ok({"resource", "delete-defaults", "openai/gpt-4", "-y"});
  EXPECT_TRUE(Contains(Ok({"resource", "list"}), "No resources"));
  EXPECT_TRUE(Contains(Ok({"resource", "get-defaults", "openai/gpt-4"}), "No default limits"));
  Fails({"resource", "set-defaults", "_default_", "-l", "rpm:1"}, 1, "Invalid resource");
  Fails({"resource", "get-defaults", "9lives"}, 1, "Invalid resource");
  Fails({"resource", "set-defaults", "gpt-4"}, 2, "Error:");
}

TEST_F(CliTest, ResourceCapacity) {
  // Per day, so no token refills while the test runs (the CLI's clock is real).
  Ok({"resource", "set-defaults", "gpt-4", "-l", "rpm:100/day"});
  Ok({"entity", "create", "proj"});
  Ok({"entity", "create", "k", "--parent", "proj", "--cascade"});
  Ok({"acquire", "k", "gpt-4", "-c", "rpm=30"});
  Ok({"acquire", "loose", "gpt-4", "-c", "rpm=5"});  // no entity record
  auto d = Json({"resource", "capacity", "gpt-4", "rpm"});
  EXPECT_STREQ(d["resource"].GetString(), "gpt-4");
  EXPECT_STREQ(d["limit_name"].GetString(), "rpm");
  EXPECT_FALSE(d["parents_only"].GetBool());
  EXPECT_EQ(d["total_capacity"].GetInt64(), 300);
  EXPECT_EQ(d["total_available"].GetInt64(), 70 + 95 + 70);
  EXPECT_DOUBLE_EQ(d["utilization_pct"].GetDouble(), 65.0 / 300.0 * 100.0);
  ASSERT_EQ(d["entities"].Size(), 3u);
  EXPECT_STREQ(d["entities"][0]["entity_id"].GetString(), "k");
  EXPECT_EQ(d["entities"][0]["capacity"].GetInt64(), 100);
  EXPECT_EQ(d["entities"][0]["available"].GetInt64(), 70);
  EXPECT_DOUBLE_EQ(d["entities"][0]["utilization_pct"].GetDouble(), 30.0);
  EXPECT_STREQ(d["entities"][1]["entity_id"].GetString(), "loose");
  EXPECT_STREQ(d["entities"][2]["entity_id"].GetString(), "proj");
  EXPECT_EQ(d["entities"][2]["available"].GetInt64(), 70);  // the cascade consumed from it

  d = Json({"resource", "capacity", "gpt-4", "rpm", "--parents-only"});
  EXPECT_TRUE(d["parents_only"].GetBool());
  ASSERT_EQ(d["entities"].Size(), 1u);
  EXPECT_STREQ(d["entities"][0]["entity_id"].GetString(), "proj");
  EXPECT_EQ(d["total_capacity"].GetInt64(), 100);
  EXPECT_EQ(d["total_available"].GetInt64(), 70);

  const std::string table = Ok({"resource", "capacity", "gpt-4", "rpm", "--parents-only"});
  EXPECT_EQ(table,
            "ENTITY  CAPACITY  AVAILABLE  UTILIZATION\n"
            "proj    100       70         30.0%\n"
            "TOTAL   100       70         30.0%\n");
  EXPECT_EQ(Ok({"resource", "capacity", "other", "rpm"}),
            "No entity has a 'rpm' bucket for resource other.\n");
  d = Json({"resource", "capacity", "other", "rpm"});
  EXPECT_EQ(d["entities"].Size(), 0u);
  EXPECT_EQ(d["total_capacity"].GetInt64(), 0);
  EXPECT_EQ(d["utilization_pct"].GetDouble(), 0.0);

  Fails({"resource", "capacity", "gpt-4", "wcu"}, 1,
        "Error: Invalid name: 'wcu' is a reserved limit name");
  Fails({"resource", "capacity", "gpt#4", "rpm"}, 1,
        "Error: Invalid resource: resource cannot contain '#'");
  Fails({"resource", "capacity", "gpt-4"}, 2, "limit is required");
  Fails({"resource", "capacity", "gpt-4", "rpm", "--parents"}, 2, "Error:");
}

TEST_F(CliTest, SystemDefaults) {
  Ok({"system", "set-defaults", "-l", "rpm:1000", "--on-unavailable", "allow"});
  auto d = Json({"system", "get-defaults"});
  EXPECT_STREQ(d["on_unavailable"].GetString(), "allow");
  EXPECT_EQ(d["limits"][0]["capacity"].GetInt64(), 1000);
  // One half given: the other is kept.
  Ok({"system", "set-defaults", "--on-unavailable", "block"});
  d = Json({"system", "get-defaults"});
  EXPECT_STREQ(d["on_unavailable"].GetString(), "block");
  EXPECT_EQ(d["limits"].Size(), 1u);
  Ok({"system", "set-defaults", "-l", "rpm:7"});
  d = Json({"system", "get-defaults"});
  EXPECT_STREQ(d["on_unavailable"].GetString(), "block");
  EXPECT_EQ(d["limits"][0]["capacity"].GetInt64(), 7);
  EXPECT_TRUE(Contains(Ok({"system", "get-defaults"}), "on_unavailable: block"));
  Fails({"system", "set-defaults"}, 2, "give -l/--limit and/or --on-unavailable");
  Fails({"system", "set-defaults", "--on-unavailable", "maybe"}, 2, "Error:");
  Fails({"system", "delete-defaults"}, 1, "Refusing without --yes");
  Ok({"system", "delete-defaults", "--yes"});
  EXPECT_TRUE(Contains(Ok({"system", "get-defaults"}), "No system default limits"));
}

// ---- namespaces and audit ----------------------------------------------------------

TEST_F(CliTest, Namespaces) {
  auto d = Json({"namespace", "register", "tenant-a", "tenant-b"});
  ASSERT_EQ(d["namespaces"].Size(), 2u);
  const std::string id = d["namespaces"][0]["namespace_id"].GetString();
  EXPECT_EQ(id.size(), 11u);
  EXPECT_EQ(
      Json({"namespace", "register", "tenant-a"})["namespaces"][0]["namespace_id"].GetString(),
      id);  // idempotent
  EXPECT_TRUE(Contains(Ok({"namespace", "list"}), "tenant-b"));
  EXPECT_STREQ(Json({"namespace", "show", "tenant-a"})["status"].GetString(), "active");

  // Data is per namespace; unknown namespaces are an error, not created.
  Ok({"-N", "tenant-a", "entity", "create", "k"});
  Fails({"entity", "show", "k"}, 1, "Entity not found");
  Ok({"entity", "show", "k", "-N", "tenant-a"});
  EXPECT_EQ(Run({"entity", "show", "k"}, "ZAEL_NAMESPACE=tenant-a").code, 0);
  Fails({"-N", "nope", "entity", "create", "k"}, 1, "Namespace 'nope' not found");

  Fails({"namespace", "register", "_"}, 1, "Invalid namespace");
  Fails({"namespace", "show", "nope"}, 1, "Namespace 'nope' not found");
  Fails({"namespace", "delete", "tenant-a"}, 1, "Refusing without --yes");
  EXPECT_TRUE(Contains(Ok({"namespace", "delete", "tenant-a", "--yes"}), "Deleted namespace"));
  Fails({"-N", "tenant-a", "entity", "show", "k"}, 1, "not found");
  d = Json({"namespace", "orphans"});
  ASSERT_EQ(d["namespaces"].Size(), 1u);
  EXPECT_STREQ(d["namespaces"][0]["namespace_id"].GetString(), id.c_str());
  EXPECT_TRUE(Contains(Ok({"namespace", "recover", id}), "Recovered namespace tenant-a"));
  Ok({"-N", "tenant-a", "entity", "show", "k"});

  Ok({"namespace", "delete", "tenant-a", "-y"});
  Fails({"namespace", "purge", id}, 1, "Refusing without --yes");
  d = Json({"namespace", "purge", id, "--yes"});
  EXPECT_GT(d["items_deleted"].GetInt64(), 0);
  EXPECT_TRUE(Contains(Ok({"namespace", "orphans"}), "No orphaned namespaces"));
  Fails({"namespace", "recover", "nonexistent1"}, 1,
        "Namespace 'nonexistent1' not found. Register it first or check for typos.");
}

TEST_F(CliTest, Audit) {
  Ok({"entity", "create", "k1"});
  Ok({"entity", "set-limits", "k1", "-l", "rpm:5"});
  auto d = Json({"audit", "list", "-e", "k1"});
  ASSERT_EQ(d["events"].Size(), 2u);
  EXPECT_STREQ(d["events"][0]["action"].GetString(), "limits_set");  // newest first
  EXPECT_STREQ(d["events"][1]["action"].GetString(), "entity_created");
  d = Json({"audit", "list", "-e", "k1", "--limit", "1"});
  ASSERT_EQ(d["events"].Size(), 1u);
  ASSERT_TRUE(d["next_event_id"].IsString());
  d = Json({"audit", "list", "-e", "k1", "--limit", "1", "--start-event-id",
            d["next_event_id"].GetString()});
  ASSERT_EQ(d["events"].Size(), 1u);
  EXPECT_STREQ(d["events"][0]["action"].GetString(), "entity_created");
  Ok({"resource", "set-defaults", "gpt-4", "-l", "rpm:1"});
  EXPECT_TRUE(Contains(Ok({"audit", "list", "-e", "$RESOURCE:gpt-4"}), "limits_set"));
  EXPECT_TRUE(Contains(Ok({"audit", "list", "-e", "nobody"}), "No audit events"));
  Fails({"audit", "list"}, 2, "Error:");
  Fails({"audit", "list", "-e", "bad#id"}, 1, "Invalid entity_id");
}

TEST_F(CliTest, Usage) {
  Ok({"resource", "set-defaults", "gpt-4", "-l", "rpm:100", "-l", "tpm:10000"});
  Ok({"acquire", "k1", "gpt-4", "-c", "rpm=1", "-c", "tpm=500", "--adjust", "tpm=-100"});
  Ok({"acquire", "k1", "gpt-4", "-c", "rpm=1", "-c", "tpm=100"});
  auto d = Json({"usage", "list", "-e", "k1", "-w", "hourly"});
  ASSERT_EQ(d["snapshots"].Size(), 1u);
  EXPECT_STREQ(d["snapshots"][0]["resource"].GetString(), "gpt-4");
  EXPECT_EQ(d["snapshots"][0]["counters"]["rpm"].GetInt64(), 2);
  EXPECT_EQ(d["snapshots"][0]["counters"]["tpm"].GetInt64(), 500);
  d = Json({"usage", "summary", "-r", "gpt-4", "-w", "hourly"});
  EXPECT_EQ(d["snapshot_count"].GetInt64(), 1);
  EXPECT_EQ(d["total"]["tpm"].GetInt64(), 500);
  EXPECT_TRUE(Contains(Ok({"usage", "list", "-e", "k1"}), "hourly"));
  EXPECT_TRUE(Contains(Ok({"usage", "list", "-e", "k1", "--plot"}), "|#"));
  EXPECT_TRUE(Contains(Ok({"usage", "summary", "-e", "k1"}), "TOTAL"));
  EXPECT_TRUE(Contains(Ok({"usage", "list", "-e", "nobody"}), "No usage snapshots"));
  Fails({"usage", "list"}, 2, "give --entity-id and/or --resource");
  Fails({"usage", "summary", "-e", "bad#id"}, 1, "Invalid entity_id");
  Fails({"usage", "list", "-e", "k1", "-w", "weekly"}, 2, "Error:");
}

// ---- data path ------------------------------------------------------------------------

TEST_F(CliTest, AcquireAndAvailable) {
  Ok({"entity", "create", "proj"});
  Ok({"entity", "create", "key-1", "--parent", "proj", "--cascade"});
  Ok({"resource", "set-defaults", "gpt-4", "-l", "rpm:2/day", "-l",
      "tpm:1000/day"});  // no refill during the test

  auto d =
      Json({"acquire", "key-1", "gpt-4", "-c", "rpm=1", "-c", "tpm=500", "--adjust", "tpm=-200"});
  EXPECT_TRUE(d["allowed"].GetBool());
  EXPECT_STREQ(d["entity_id"].GetString(), "key-1");
  EXPECT_STREQ(d["resource"].GetString(), "gpt-4");
  EXPECT_EQ(d["consumed"]["rpm"].GetInt64(), 1);
  EXPECT_EQ(d["consumed"]["tpm"].GetInt64(), 300);
  EXPECT_EQ(d["retry_after_ms"].GetInt64(), 0);
  ASSERT_EQ(d["limits"].Size(), 4u);  // key-1 and proj (cascade), rpm and tpm
  for (const char* key :
       {"entity_id", "resource", "limit_name", "capacity", "refill_amount", "refill_period_seconds",
        "available", "requested", "exceeded", "retry_after_seconds"}) {
    EXPECT_TRUE(d["limits"][0].HasMember(key)) << key;
  }

  d = Json({"available", "key-1", "gpt-4"});
  EXPECT_EQ(d["rpm"].GetInt64(), 1);
  EXPECT_EQ(d["tpm"].GetInt64(), 700);
  EXPECT_TRUE(Contains(Ok({"available", "key-1", "gpt-4"}), "700"));

  Ok({"acquire", "key-1", "gpt-4", "-c", "rpm=1"});
  d = Json({"acquire", "key-1", "gpt-4", "-c", "rpm=1"}, 3);
  EXPECT_FALSE(d["allowed"].GetBool());
  EXPECT_GT(d["retry_after_ms"].GetInt64(), 0);
  EXPECT_GT(d["retry_after_seconds"].GetDouble(), 0);
  EXPECT_EQ(d["consumed"].MemberCount(), 0u);
  bool exceeded = false;
  for (const auto& l : d["limits"].GetArray()) exceeded |= l["exceeded"].GetBool();
  EXPECT_TRUE(exceeded);
  Result r = Run({"acquire", "key-1", "gpt-4", "-c", "rpm=1"});
  EXPECT_EQ(r.code, 3);
  EXPECT_TRUE(Contains(r.out, "Rate limit exceeded for key-1/gpt-4")) << r.out;

  // Fallback limits apply only where nothing is stored.
  d = Json({"acquire", "other", "free-model", "-c", "rpm=1", "-l", "rpm:1"});
  EXPECT_TRUE(d["allowed"].GetBool());
  Json({"acquire", "other", "free-model", "-c", "rpm=1", "-l", "rpm:1"}, 3);
  Fails({"acquire", "other", "unlimited", "-c", "rpm=1"}, 1, "Invalid limits");

  Fails({"acquire", "key-1", "gpt-4"}, 2, "Error:");  // -c required
  Fails({"acquire", "key-1", "gpt-4", "-c", "rpm"}, 2, "Invalid -c/--consume value 'rpm'");
  Fails({"acquire", "key-1", "gpt-4", "-c", "rpm=-1"}, 2, "must not be negative");
  Fails({"acquire", "key-1", "gpt-4", "-c", "rpm=1", "--adjust", "tpm=x"}, 2,
        "Invalid --adjust value");
  Fails({"acquire", "bad#key", "gpt-4", "-c", "rpm=1"}, 1, "Invalid entity_id");
  Fails({"acquire", "key-1", "_default_", "-c", "rpm=1"}, 1, "Invalid resource");
  Fails({"acquire", "key-1", "gpt-4", "-c", "rpm=1", "--on-unavailable", "x"}, 2, "Error:");
}

// ---- declarative limits --------------------------------------------------------------

TEST_F(CliTest, LimitsManifest) {
  WriteFile("limits.yaml", R"(namespace: default
system:
  on_unavailable: allow
  limits:
    rpm: {capacity: 1000}
resources:
  gpt-4:
    limits:
      rpm: {capacity: 100, burst: 150}
entities:
  key-1:
    resources:
      gpt-4:
        limits:
          tpm: {capacity: 5000}
)");
  Result r = Run({"limits", "plan", "-f", "limits.yaml"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "+ create    resource gpt-4")) << r.out;
  EXPECT_TRUE(Contains(r.out, "3 to create, 0 to update, 0 to delete")) << r.out;

  auto d = Json({"limits", "apply", "-f", "limits.yaml"});
  EXPECT_STREQ(d["status"].GetString(), "applied");
  EXPECT_EQ(d["created"].GetInt(), 3);
  EXPECT_EQ(d["errors"].Size(), 0u);
  EXPECT_EQ(Json({"resource", "get-defaults", "gpt-4"})["limits"][0]["capacity"].GetInt64(), 150);
  EXPECT_STREQ(Json({"system", "get-defaults"})["on_unavailable"].GetString(), "allow");
  // Written through the admin API, so the registries know about them.
  EXPECT_STREQ(Json({"entity", "list", "--with-custom-limits", "gpt-4"})["entities"][0].GetString(),
               "key-1");

  d = Json({"limits", "diff", "-f", "limits.yaml"});
  EXPECT_EQ(d["unchanged"].GetInt(), 3);
  Ok({"resource", "set-defaults", "gpt-4", "-l", "rpm:1"});  // drift
  d = Json({"limits", "diff", "-f", "limits.yaml"});
  EXPECT_EQ(d["updated"].GetInt(), 1);
  EXPECT_TRUE(
      Contains(Ok({"limits", "diff", "-f", "limits.yaml"}), "rpm: 1/min  ->  rpm: 150/min"));

  // Dropping an item from the manifest deletes it on apply.
  WriteFile("limits.yaml",
            "namespace: default\nresources:\n  gpt-4:\n    limits:\n"
            "      rpm: {capacity: 10}\n");
  d = Json({"limits", "plan", "-f", "limits.yaml"});
  EXPECT_EQ(d["updated"].GetInt(), 1);
  EXPECT_EQ(d["deleted"].GetInt(), 2);
  Ok({"limits", "apply", "-f", "limits.yaml"});
  EXPECT_EQ(Json({"entity", "get-limits", "key-1", "-r", "gpt-4"})["limits"].Size(), 0u);
  EXPECT_EQ(Json({"system", "get-defaults"})["limits"].Size(), 0u);

  // Another namespace: apply registers it.
  WriteFile("t.yaml",
            "namespace: tenant-x\nresources:\n  m:\n    limits:\n      rpm: {capacity: 3}\n");
  EXPECT_TRUE(Contains(Ok({"limits", "plan", "-f", "t.yaml"}), "not registered yet"));
  Ok({"limits", "apply", "-f", "t.yaml"});
  EXPECT_EQ(Json({"-N", "tenant-x", "resource", "get-defaults", "m"})["limits"].Size(), 1u);

  WriteFile("bad.yaml", "namespace: default\nresources:\n  gpt-4:\n    limits:\n      rpm: {}\n");
  Fails({"limits", "apply", "-f", "bad.yaml"}, 1,
        "resources.gpt-4.limits.rpm: 'capacity' is required");
  WriteFile("bad2.yaml", "resources: {}\n");
  Fails({"limits", "plan", "-f", "bad2.yaml"}, 1, "namespace: is required");
  Fails({"limits", "plan", "-f", "missing.yaml"}, 2, "Error:");
}

// ---- bench, aggregate ---------------------------------------------------------------

TEST_F(CliTest, BenchJsonHasEveryField) {
  rapidjson::Document d = Json(
      {"bench", "--scenario", "multi", "--duration", "0.3", "--warmup", "0", "--threads", "2"});
  for (const char* key : {"scenario", "store", "threads", "inflight", "operations", "ops_per_sec",
                          "latency_ms", "allowed", "denied", "errors", "calls_per_op", "rcu_per_op",
                          "wcu_per_op", "cost_per_million_usd", "client_cpu_us_per_op"}) {
    EXPECT_TRUE(d.HasMember(key)) << key;
  }
  EXPECT_STREQ(d["scenario"].GetString(), "multi");
  EXPECT_GT(d["operations"].GetInt64(), 0);
  EXPECT_EQ(d["errors"].GetInt64(), 0);
  for (const char* key : {"p50", "p95", "p99", "p999"}) {
    EXPECT_TRUE(d["latency_ms"].HasMember(key)) << key;
  }
  Result r = Run({"bench", "--scenario", "deny,hot", "--ops", "50", "--warmup", "0"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "deny")) << r.out;
  EXPECT_TRUE(Contains(r.out, "hot")) << r.out;
  Fails({"bench", "--scenario", "nope"}, 2, "unknown scenario 'nope'");
  Fails({"bench", "--threads", "0"}, 2, "threads");
}

TEST_F(CliTest, AggregateNeedsADynamoDbStream) {
  Fails({"aggregate", "--once"}, 2, "SQLite and memory stores write usage snapshots");
  Fails({"aggregate", "--window", "weekly"}, 2, "window");
}

// ---- local DynamoDB ------------------------------------------------------------------

TEST_F(CliTest, LocalEnvAndStatus) {
  Result r = RunRaw({"local", "env", "--port", "8123"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(Contains(r.out, "export AWS_ENDPOINT_URL='http://127.0.0.1:8123'")) << r.out;
  EXPECT_TRUE(Contains(
      r.out,
      "export ZAEL_STORE='dynamodb://zae-limiter?region=us-east-1&endpoint=http://127.0.0.1:8123'"))
      << r.out;
  EXPECT_TRUE(Contains(RunRaw({"local", "env", "-f", "powershell"}).out,
                       "$env:AWS_ACCESS_KEY_ID = \"test\""));
  EXPECT_TRUE(
      Contains(RunRaw({"local", "env", "-f", "direnv"}).out, "AWS_DEFAULT_REGION='us-east-1'"));
  r = RunRaw({"local", "status"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(Contains(r.out, "not running")) << r.out;
  EXPECT_TRUE(Contains(RunRaw({"local", "down"}).out, "not running"));
}

TEST_F(CliTest, LocalUpDown) {
  const fs::path cache = fs::path(ZAE_SOURCE_DIR) / ".cache";
  if (!fs::exists(cache / "dynamodb-local" / "2.9.30" / "emulator" / "DynamoDBLocal.jar")) {
    ZAE_DYNAMODB_UNAVAILABLE("DynamoDB Local not installed (scripts/dynamodb-local.sh install)");
  }
  const std::string env = "ZAE_CACHE_DIR=" + Quote(cache.string());
  const std::string port = std::to_string(FreePort());
  Result r = RunRaw({"local", "up", "--port", port, "--output", "json"}, env);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "\"running\": true")) << r.out;
  r = RunRaw({"local", "status"}, env);
  EXPECT_TRUE(Contains(r.out, "running (pid")) << r.out;
  {
    // Started without telemetry, and it wrote no metadata file anywhere.
    const size_t at = r.out.find("running (pid ");
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string pid = std::to_string(std::stol(r.out.substr(at + 13)));
    std::ifstream cmdline_file("/proc/" + pid + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmdline_file)), {});
    EXPECT_TRUE(Contains(cmdline, std::string("-disableTelemetry\0", 18))) << pid;
    std::ifstream environ_file("/proc/" + pid + "/environ");
    std::string environ((std::istreambuf_iterator<char>(environ_file)), {});
    EXPECT_TRUE(Contains(environ, std::string("DDB_LOCAL_TELEMETRY=0\0", 22))) << pid;
    const fs::path cwd = fs::read_symlink("/proc/" + pid + "/cwd");
    EXPECT_NE(cwd, fs::current_path());
    EXPECT_FALSE(fs::exists(cwd / "dynamodb-local-metadata.json")) << cwd;
    EXPECT_FALSE(fs::exists(fs::current_path() / "dynamodb-local-metadata.json"));
  }
  EXPECT_TRUE(Contains(RunRaw({"local", "env"}, env).out, ":" + port + "'"));
  r = RunRaw({"local", "up", "--port", port}, env);  // idempotent
  EXPECT_TRUE(Contains(r.out, "already running")) << r.out;
  r = RunRaw({"local", "down"}, env);
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(Contains(r.out, "Stopped DynamoDB Local")) << r.out;
  EXPECT_TRUE(Contains(RunRaw({"local", "status"}, env).out, "not running"));
}

// ---- the demo -------------------------------------------------------------------------

TEST_F(CliTest, DemoIsDeterministicAndRerunnable) {
  auto a = Json({"demo", "--speed", "0", "--seed", "7"});
  auto b = Json({"demo", "--speed", "0", "--seed", "7"});  // rerun on the same file
  ASSERT_TRUE(a["keys"].IsArray());
  EXPECT_EQ(a["keys"].Size(), 5u);
  EXPECT_TRUE(a["keys"] == b["keys"]);
  EXPECT_TRUE(a["project"] == b["project"]);
  int denied = 0;
  for (const auto& k : a["keys"].GetArray()) denied += k["denied"].GetInt();
  EXPECT_GT(denied, 0);
  EXPECT_GT(a["project"]["allowed"].GetInt(), 0);

  const std::string out = Ok({"demo", "--speed", "0"});
  EXPECT_TRUE(Contains(out, "DENIED")) << out;
  EXPECT_TRUE(Contains(out, "REFUNDED")) << out;
  EXPECT_TRUE(Contains(out, "proj-acme (all keys)")) << out;
  // Its data stays for inspection in its namespace.
  EXPECT_EQ(Json({"-N", "demo", "entity", "children", "proj-acme"}).Size(), 5u);
  EXPECT_EQ(RunRaw({"--store", "memory:", "demo", "--speed", "0", "--duration", "5"}).code, 0);
}

// ---- delete, list, upgrade ---------------------------------------------------------

TEST_F(CliTest, DeleteSqliteStore) {
  const fs::path db = dir_ / "z.db";
  Ok({"deploy"});
  ASSERT_TRUE(fs::exists(db));
  Fails({"delete"}, 1, "Refusing without --yes because stdin is not a terminal");
  EXPECT_TRUE(fs::exists(db));
  auto d = Json({"delete", "--yes"});
  EXPECT_TRUE(d["deleted"].GetBool());
  EXPECT_STREQ(d["store"].GetString(), store_.c_str());
  EXPECT_FALSE(fs::exists(db));
  EXPECT_FALSE(fs::exists(dir_ / "z.db-wal"));
  EXPECT_FALSE(fs::exists(dir_ / "z.db-lock"));
  Fails({"delete", "--yes"}, 1, "Error: SQLite store not found: " + db.string());
  EXPECT_FALSE(fs::exists(db));  // and not created by the attempt

  Ok({"deploy"});
  EXPECT_EQ(Ok({"delete", "-y"}), "Deleted SQLite store " + db.string() + "\n");

  // Not a zae-limiter store: left alone.
  WriteFile("empty.db", "");
  Result r = RunRaw({"--store", "sqlite:" + (dir_ / "empty.db").string(), "delete", "--yes"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(Contains(r.err, "is not a zae-limiter SQLite store; not deleting it")) << r.err;
  EXPECT_TRUE(fs::exists(dir_ / "empty.db"));
  WriteFile("text.db", "not a database, just some text that is long enough to have a header\n");
  r = RunRaw({"--store", "sqlite:" + (dir_ / "text.db").string(), "delete", "--yes"});
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_TRUE(Contains(r.err, "cannot read SQLite store")) << r.err;
  EXPECT_TRUE(fs::exists(dir_ / "text.db"));

  r = RunRaw({"--store", "memory:", "delete", "--yes"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(Contains(r.err, "a memory: store lives for one command; there is nothing to delete"))
      << r.err;
  EXPECT_EQ(RunRaw({"delete", "--help"}).code, 0);
}

TEST_F(CliTest, ListNeedsDynamoDb) {
  Result r = Run({"list"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(Contains(r.err,
                       "Error: 'list' shows the zae-limiter tables of a DynamoDB region, "
                       "but the store is " +
                           store_))
      << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "z.db"));  // nothing created
  EXPECT_EQ(RunRaw({"--store", "memory:", "list"}).code, 2);
  r = RunRaw({"--region", "us-east-1", "--endpoint-url",
              "http://127.0.0.1:" + std::to_string(FreePort()), "list"},
             "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test");
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_TRUE(Contains(r.err, "Error:")) << r.err;
  EXPECT_EQ(RunRaw({"list", "--help"}).code, 0);
}

TEST_F(CliTest, UpgradeSqlite) {
  Fails({"upgrade"}, 1, "Error: SQLite store not found: " + (dir_ / "z.db").string());
  EXPECT_FALSE(fs::exists(dir_ / "z.db"));
  Ok({"deploy"});
  auto d = Json({"upgrade"});
  EXPECT_STREQ(d["schema_version"].GetString(), "0.10.0");
  EXPECT_STREQ(d["client_schema_version"].GetString(), "0.10.0");
  EXPECT_STREQ(d["file_format_before"].GetString(), "2");
  EXPECT_STREQ(d["file_format_after"].GetString(), "2");
  EXPECT_EQ(d["migrations"].Size(), 0u);
  EXPECT_FALSE(d["changed"].GetBool());
  EXPECT_TRUE(Contains(Ok({"upgrade"}), "Already up to date: no migrations to apply.\n"));

  // A version 1 file (written by the v1 CLI) is migrated, once.
  fs::copy_file(std::string(ZAE_SOURCE_DIR) + "/testdata/sqlite/v1_store.db", dir_ / "v1.db");
  const std::string v1 = "sqlite:" + (dir_ / "v1.db").string();
  Result r = RunRaw({"--store", v1, "upgrade"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "file_format     1 -> 2")) << r.out;
  EXPECT_TRUE(Contains(r.out, "Applied: sqlite file format 1 -> 2\n")) << r.out;
  r = RunRaw({"--store", v1, "upgrade", "--output", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "\"changed\": false")) << r.out;
  EXPECT_TRUE(Contains(r.out, "\"file_format_before\": \"2\"")) << r.out;
  r = RunRaw({"--store", v1, "entity", "show", "proj-acme"});  // the data survived
  EXPECT_EQ(r.code, 0) << r.err;

  WriteFile("empty.db", "");
  r = RunRaw({"--store", "sqlite:" + (dir_ / "empty.db").string(), "upgrade"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(Contains(r.err, "is not a zae-limiter SQLite store")) << r.err;
  r = RunRaw({"--store", "memory:", "upgrade", "--output", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "\"changed\": false")) << r.out;
  EXPECT_FALSE(Contains(r.out, "file_format")) << r.out;
  EXPECT_EQ(RunRaw({"upgrade", "--help"}).code, 0);
}

// ---- DynamoDB Local -----------------------------------------------------------------

TEST_F(CliTest, DynamoDbLocal) {
  const char* endpoint = std::getenv("ZAE_TEST_DYNAMODB_ENDPOINT");
  if (endpoint == nullptr || !ZAE_HAVE_DYNAMODB_STORE) {
    ZAE_DYNAMODB_UNAVAILABLE("needs ZAE_TEST_DYNAMODB_ENDPOINT and the DynamoDB store");
  }
  store_ = "dynamodb://zae-cli-" + std::to_string(getpid()) +
           "?region=us-east-1&endpoint=" + std::string(endpoint);
  const std::string env = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test";
  auto run = [&](std::vector<std::string> args) { return Run(std::move(args), env); };
  Result r = run({"status"});  // no table yet
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_TRUE(Contains(r.err, "run 'zae-limiter deploy'")) << r.err;
  ASSERT_EQ(run({"deploy"}).code, 0);
  EXPECT_EQ(run({"deploy"}).code, 0);  // idempotent
  EXPECT_EQ(run({"check"}).code, 0);
  EXPECT_EQ(run({"entity", "create", "proj"}).code, 0);
  EXPECT_EQ(run({"entity", "create", "k", "--parent", "proj", "--cascade"}).code, 0);
  EXPECT_EQ(run({"resource", "set-defaults", "m", "-l", "rpm:1"}).code, 0);
  EXPECT_EQ(run({"acquire", "k", "m", "-c", "rpm=1"}).code, 0);
  EXPECT_EQ(run({"acquire", "k", "m", "-c", "rpm=1"}).code, 3);
  EXPECT_EQ(run({"namespace", "register", "tenant-a"}).code, 0);
  WriteFile("m.yaml",
            "namespace: tenant-a\nresources:\n  m:\n    limits:\n      rpm: {capacity: 3}\n");
  EXPECT_EQ(run({"limits", "apply", "-f", "m.yaml"}).code, 0);
  r = run({"-N", "tenant-a", "resource", "get-defaults", "m"});
  EXPECT_TRUE(Contains(r.out, "rpm: 3/min")) << r.out << r.err;
  EXPECT_EQ(run({"demo", "--speed", "0", "--duration", "10"}).code, 0);
  // Usage on DynamoDB comes from the stream aggregator.
  r = run({"aggregate", "--once"});
  EXPECT_EQ(r.code, 0) << r.err;
  r = run({"usage", "summary", "--entity-id", "k", "--window", "daily", "--output", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "\"rpm\": 1\n")) << r.out;  // the one admitted acquire
  r = run({"bench", "--scenario", "multi", "--ops", "20", "--warmup", "0", "--output", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "\"wcu_per_op\"")) << r.out;
}

TEST_F(CliTest, DynamoDbLocalDeleteListUpgradeCapacity) {
  const char* endpoint = std::getenv("ZAE_TEST_DYNAMODB_ENDPOINT");
  if (endpoint == nullptr || !ZAE_HAVE_DYNAMODB_STORE) {
    GTEST_SKIP() << "needs ZAE_TEST_DYNAMODB_ENDPOINT and the DynamoDB store";
  }
  const std::string table = "zae-cli-adm-" + std::to_string(getpid());
  store_ = "dynamodb://" + table + "?region=us-east-1&endpoint=" + std::string(endpoint);
  const std::string env = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test";
  auto run = [&](std::vector<std::string> args) { return Run(std::move(args), env); };
  auto list = [&] {
    return RunRaw({"--region", "us-east-1", "--endpoint-url", endpoint, "list", "--output", "json"},
                  env);
  };
  Result r = run({"delete", "--yes"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(Contains(r.err, "Error: DynamoDB table not found: " + table)) << r.err;
  ASSERT_EQ(run({"deploy"}).code, 0);

  r = list();
  EXPECT_EQ(r.code, 0) << r.err;
  rapidjson::Document d;
  d.Parse(r.out.c_str());
  ASSERT_FALSE(d.HasParseError()) << r.out;
  bool listed = false;
  for (const auto& t : d["tables"].GetArray()) {
    if (t["name"].GetString() != table) continue;
    listed = true;
    EXPECT_STREQ(t["schema_version"].GetString(), "0.10.0");
    EXPECT_TRUE(t["compatible"].GetBool());
  }
  EXPECT_TRUE(listed) << r.out;
  r = RunRaw({"--region", "us-east-1", "--endpoint-url", endpoint, "list"}, env);
  EXPECT_TRUE(Contains(r.out, "TABLE") && Contains(r.out, table + " ")) << r.out;

  r = run({"upgrade", "--output", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "\"changed\": false")) << r.out;
  EXPECT_FALSE(Contains(r.out, "file_format")) << r.out;

  // Capacity on DynamoDB, where buckets are sharded by default.
  EXPECT_EQ(run({"resource", "set-defaults", "m", "-l", "rpm:10/day"}).code, 0);
  EXPECT_EQ(run({"acquire", "k1", "m", "-c", "rpm=4"}).code, 0);
  EXPECT_EQ(run({"acquire", "k2", "m", "-c", "rpm=1"}).code, 0);
  r = run({"resource", "capacity", "m", "rpm", "--output", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "\"total_capacity\": 20,")) << r.out;
  EXPECT_TRUE(Contains(r.out, "\"total_available\": 15,")) << r.out;

  r = run({"delete"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(Contains(r.err, "Refusing without --yes")) << r.err;
  r = run({"delete", "--yes"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "Deleted DynamoDB table " + table)) << r.out;
  EXPECT_FALSE(Contains(list().out, "\"" + table + "\"")) << list().out;
  r = run({"upgrade"});
  EXPECT_EQ(r.code, 4) << r.err;  // the table is gone
}

// Tables that are not zae-limiter tables: list skips them, delete refuses.
TEST_F(CliTest, DynamoDbLocalLeavesOtherTablesAlone) {
  const char* endpoint = std::getenv("ZAE_TEST_DYNAMODB_ENDPOINT");
  if (endpoint == nullptr || !ZAE_HAVE_DYNAMODB_STORE) {
    GTEST_SKIP() << "needs ZAE_TEST_DYNAMODB_ENDPOINT and the DynamoDB store";
  }
#if ZAE_HAVE_DYNAMODB_STORE
  const std::string pid = std::to_string(getpid());
  // Our key schema but no version record (provisioned, never deployed).
  zae::DynamoDbOptions o;
  o.table = "zae-cli-bare-" + pid;
  o.region = "us-east-1";
  o.endpoint = endpoint;
  o.access_key_id = "test";
  o.secret_access_key = "test";
  o.delete_table_on_destroy = true;
  zae::DynamoDbStore bare(o);
  bare.Provision({});
  // Another application's table: another key schema.
  const std::string foreign = "zae-cli-foreign-" + pid;
  zae::aws::DynamoClient client(
      zae::aws::ClientConfig::For(endpoint, "us-east-1", "test", "test", ""));
  zae::aws::CreateTableRequest c;
  c.table_name = foreign;
  zae::aws::AttributeDefinition id;
  id.attribute_name = "id";
  id.attribute_type = "S";
  c.attribute_definitions = {id};
  zae::aws::KeySchemaElement key;
  key.attribute_name = "id";
  key.key_type = "HASH";
  c.key_schema = {key};
  client.CreateTable(c);
  client.WaitForTable(foreign);

  const std::string env = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test";
  Result r = RunRaw({"--region", "us-east-1", "--endpoint-url", endpoint, "-v", "list"}, env);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(Contains(r.out, o.table)) << r.out;
  EXPECT_FALSE(Contains(r.out, foreign)) << r.out;
  EXPECT_TRUE(Contains(r.err, "skipping table " + o.table + ": no version record")) << r.err;
  EXPECT_TRUE(Contains(r.err, "skipping table " + foreign + ": ")) << r.err;
  for (const std::string& table : {o.table, foreign}) {
    r = RunRaw({"--store", "dynamodb://" + table + "?region=us-east-1&endpoint=" + endpoint,
                "delete", "--yes"},
               env);
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_TRUE(Contains(
        r.err, "Error: table " + table + " has no zae-limiter version record; not deleting it"))
        << r.err;
  }
  EXPECT_TRUE(bare.TableExists());
  client.DeleteTable({foreign});
#endif
}

}  // namespace

// Test helpers shared by the store test binaries: the list of backends the
// conformance and contention suites run against, and a fixture that opens a
// fresh, empty store per test.
//
// Adding a backend is one entry in StoreFactories(), e.g.
//   {"dynamodb", RequireEnv("ZAE_TEST_DYNAMODB_ENDPOINT"),
//    [](const std::string&) { return OpenFreshDynamoTable(); }},
// plus its library in the test's LIBS.
#ifndef ZAE_STORE_STORE_TEST_UTIL_H_
#define ZAE_STORE_STORE_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "store/require_backend.h"
#include "zae/memory_store.h"
#include "zae/sqlite_store.h"
#include "zae/store.h"

#if __has_include("zae/dynamodb_store.h")
#include <random>

#include "zae/dynamodb_store.h"
#define ZAE_TEST_HAVE_DYNAMODB_STORE 1
#endif

namespace zae::testing {

struct StoreFactory {
  std::string name;  // the test-name suffix, e.g. "sqlite"
  // Why the backend cannot run here ("" = it can); nullptr = always runs.
  std::function<std::string()> unavailable;
  // Opens a fresh, empty, provisioned store. `scratch_dir` is an empty
  // directory private to the test, removed after the store is destroyed.
  std::function<std::unique_ptr<Store>(const std::string& scratch_dir)> open;
};

inline void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

// In SetUp: skips the test when the backend of `factory` cannot run here,
// or fails it when the run requires that backend (require_backend.h).
#define ZAE_SKIP_UNLESS_AVAILABLE(factory)                                       \
  do {                                                                           \
    const ::zae::testing::StoreFactory& zae_f_ = (factory);                      \
    const std::string zae_why_ = zae_f_.unavailable ? zae_f_.unavailable() : ""; \
    if (!zae_why_.empty()) {                                                     \
      if (::zae::testing::BackendRequired(zae_f_.name))                          \
        GTEST_FAIL() << zae_f_.name << " is required here but: " << zae_why_;    \
      GTEST_SKIP() << zae_f_.name << ": " << zae_why_;                           \
    }                                                                            \
  } while (0)

// Runs the backend only when environment variable `var` is set.
inline std::function<std::string()> RequireEnv(const char* var) {
  return [var]() -> std::string {
    const char* v = std::getenv(var);
    return v && *v ? "" : std::string(var) + " is not set";
  };
}

#ifdef ZAE_TEST_HAVE_DYNAMODB_STORE
// Options of a fresh table "zt-<random hex>" on $ZAE_TEST_DYNAMODB_ENDPOINT
// (DynamoDB Local), deleted when the store is destroyed. Credentials and
// region are fixed so the developer's AWS environment is not needed.
inline DynamoDbOptions FreshDynamoOptions() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
  static const char kHex[] = "0123456789abcdef";
  DynamoDbOptions o;
  o.table = "zt-";
  for (int i = 0; i < 16; ++i) o.table += kHex[rng() % 16];
  o.region = "us-east-1";
  const char* endpoint = std::getenv("ZAE_TEST_DYNAMODB_ENDPOINT");
  o.endpoint = endpoint ? endpoint : "";
  o.access_key_id = "test";
  o.secret_access_key = "test";
  o.delete_table_on_destroy = true;
  // DynamoDB Local under a parallel ASan run can take seconds for one
  // 100-item transaction: these tests check results, not latency.
  o.request_timeout = std::chrono::seconds(60);
  o.call_timeout = std::chrono::seconds(180);
  return o;
}

inline std::unique_ptr<Store> OpenFreshDynamoTable(ProvisionOptions provision = {}) {
  auto store = std::make_unique<DynamoDbStore>(FreshDynamoOptions());
  store->Provision(provision);
  return store;
}
#endif

// RateLimiterOptions::timeout for tests that check results, not latency:
// DynamoDB Local under a parallel ASan run answers some calls in seconds.
constexpr std::chrono::milliseconds kTestTimeout{60'000};

// The seed of a test's random choices: $ZAE_TEST_SEED when set, else a
// fresh one. Printed (and recorded in the XML report), so a failing run is
// reproduced with ZAE_TEST_SEED=<seed>.
inline uint64_t TestSeed() {
  uint64_t seed;
  const char* v = std::getenv("ZAE_TEST_SEED");
  if (v && *v) {
    seed = std::stoull(v);
  } else {
    std::random_device rd;
    seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  std::cout << "ZAE_TEST_SEED=" << seed << " (set it to reproduce this run)" << std::endl;
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

inline std::vector<StoreFactory> StoreFactories() {
  return {
      {"memory", nullptr, [](const std::string&) { return std::make_unique<MemoryStore>(); }},
      {"sqlite", nullptr,
       [](const std::string& dir) { return std::make_unique<SqliteStore>(dir + "/store.db"); }},
#ifdef ZAE_TEST_HAVE_DYNAMODB_STORE
      {"dynamodb", RequireEnv("ZAE_TEST_DYNAMODB_ENDPOINT"),
       [](const std::string&) { return OpenFreshDynamoTable(); }},
#endif
  };
}

// The factories without the named backends, for suites about what only
// the others do (e.g. several processes on one store: not memory).
inline std::vector<StoreFactory> StoreFactoriesExcept(const std::set<std::string>& names) {
  std::vector<StoreFactory> out;
  for (StoreFactory& f : StoreFactories()) {
    if (!names.count(f.name)) out.push_back(std::move(f));
  }
  return out;
}

// An item with its keys set over `attrs`.
inline Item MakeItem(const std::string& pk, const std::string& sk, Item attrs = {}) {
  attrs["PK"] = Value(pk);
  attrs["SK"] = Value(sk);
  return attrs;
}

// Ops with every field spelled (the structs' designated-initializer-free
// brace form trips -Wmissing-field-initializers).
inline Put PutOf(Item item, Condition condition = {}, bool return_old_on_failure = false) {
  return Put{std::move(item), std::move(condition), return_old_on_failure};
}
inline Delete DeleteOf(ItemKey key, Condition condition = {}, bool return_old = false) {
  return Delete{std::move(key), std::move(condition), return_old};
}

inline std::string FactoryName(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/zae-store-test-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Fixture of the value-parameterized store suites.
class StoreTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    ZAE_SKIP_UNLESS_AVAILABLE(GetParam());
    store_ = GetParam().open(dir_.path());
  }
  void TearDown() override { store_.reset(); }

  Store& store() { return *store_; }
  const std::string& scratch_dir() const { return dir_.path(); }

 private:
  ScratchDir dir_;  // declared first: outlives the store
  std::unique_ptr<Store> store_;
};

}  // namespace zae::testing

#endif  // ZAE_STORE_STORE_TEST_UTIL_H_

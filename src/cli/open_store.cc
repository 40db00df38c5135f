// zae::OpenStore (declared in include/zae/store.h). It lives with the CLI
// because the CLI is its first user; it is its own library target
// (zae_open_store) so applications can link it without the CLI.
//
// Each backend is compiled in only when its header exists, so this file
// builds at every stage of the project and picks up a backend when it lands.
#include <memory>
#include <string>

#include "cli/store_url.h"
#include "zae/errors.h"
#include "zae/memory_store.h"
#include "zae/store.h"

#if __has_include("zae/sqlite_store.h")
#include "zae/sqlite_store.h"
#define ZAE_HAVE_SQLITE_STORE 1
#endif
#if __has_include("zae/dynamodb_store.h") && defined(ZAE_CLI_HAVE_DYNAMODB_STORE)
#include "zae/dynamodb_store.h"
#define ZAE_HAVE_DYNAMODB_STORE 1
#endif

namespace zae {

std::unique_ptr<Store> OpenStore(const std::string& url) {
  const cli::StoreUrl u = cli::ParseStoreUrl(url);
  switch (u.kind) {
    case cli::StoreUrl::Kind::kMemory:
      return std::make_unique<MemoryStore>();
    case cli::StoreUrl::Kind::kSqlite:
#ifdef ZAE_HAVE_SQLITE_STORE
      return std::make_unique<SqliteStore>(u.path);
#else
      throw StoreError("SQLite store not built yet (" + url + ")");
#endif
    case cli::StoreUrl::Kind::kDynamoDb:
#ifdef ZAE_HAVE_DYNAMODB_STORE
      // The DynamoDB store's options mirror the URL's parts. If this stops
      // compiling when the backend changes, adapt these lines to its API.
      return OpenDynamoDbStore(u.table, u.region, u.endpoint);
#else
      throw StoreError("DynamoDB store not built yet (" + url + ")");
#endif
  }
  throw ValidationError("store", url, "unknown store kind");
}

}  // namespace zae

// Internal: the one way src/server includes RapidJSON. A failed RapidJSON
// assertion (a type misuse a check missed) throws BadJson instead of
// aborting, so a hostile body can never stop the server.
#ifndef ZAE_SERVER_JSON_H_
#define ZAE_SERVER_JSON_H_

#include <stdexcept>

namespace zae::server {
class BadJson : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};
}  // namespace zae::server

#ifndef RAPIDJSON_ASSERT
#define RAPIDJSON_ASSERT(x) \
  ((x) ? static_cast<void>(0) : throw ::zae::server::BadJson("malformed JSON value"))
#endif
#define RAPIDJSON_HAS_STDSTRING 1
#define RAPIDJSON_NOEXCEPT_ASSERT(x)

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#endif  // ZAE_SERVER_JSON_H_

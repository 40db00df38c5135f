// Internal: the one way src/aws includes RapidJSON.
//
// RapidJSON asserts on type misuse; here a failed assertion throws
// aws::InvalidResponse instead, so a hostile response can never abort the
// process even if a type check was missed. Every file of src/aws that uses
// RapidJSON must include it through this header (one definition everywhere).
#ifndef ZAE_AWS_JSON_H_
#define ZAE_AWS_JSON_H_

#include "aws/errors.h"

#ifndef RAPIDJSON_ASSERT
#define RAPIDJSON_ASSERT(x) \
  ((x) ? static_cast<void>(0) : throw ::zae::aws::InvalidResponse("malformed JSON value"))
#endif
#define RAPIDJSON_HAS_STDSTRING 1
#define RAPIDJSON_NOEXCEPT_ASSERT(x)

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#endif  // ZAE_AWS_JSON_H_

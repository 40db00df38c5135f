// The URLs the HTTP client is given: a base URL (scheme://host[:port] and
// an optional path prefix) per request, and proxy URLs as curl's variables
// spell them. Only what a request needs is split out; there is no URL parser
// among the project's dependencies, so anything unusual is refused, not
// guessed (no credentials in a base URL, no control characters or spaces
// anywhere, a host of URL-safe characters, a port of 1..65535).
//
// Thread safety: pure functions.
// Errors: ParseUrl returns what is wrong, for a person; never throws.
#ifndef ZAE_AWS_URL_H_
#define ZAE_AWS_URL_H_

#include <string>
#include <string_view>

namespace zae::aws {

struct Url {
  bool tls = false;       // https
  std::string host;       // without an IPv6 literal's brackets
  std::string port;       // digits; the scheme's default when left out
  std::string authority;  // the Host header: host[:port], brackets kept
  std::string prefix;     // what follows the authority, sent before each path
  bool ip_literal = false;
  std::string userinfo;  // proxies only: user:password, still %-encoded
};

// An empty string when `url` parses into *out, else the reason. A proxy's
// URL (proxy = true) may leave out the scheme (http), may carry
// user:password@ and defaults to port 1080, as curl's proxy variables do.
std::string ParseUrl(std::string_view url, bool proxy, Url* out);

// %XX escapes decoded; anything else (a lone '%' too) kept as it is.
// (SigV4's canonical query decodes with it too.)
std::string PercentDecode(std::string_view s);

// ASCII case-insensitive equality (schemes, header names).
bool IEquals(std::string_view a, std::string_view b);

}  // namespace zae::aws

#endif  // ZAE_AWS_URL_H_

// AWS Signature Version 4, header form.
//
// SignRequest adds X-Amz-Date (and X-Amz-Security-Token, x-amz-content-sha256
// when asked) plus Authorization to an HttpRequest. Every header present at
// signing time is signed, so callers add transport-only headers (User-Agent,
// Expect) afterwards. Path normalisation follows the non-S3 rules: remove dot
// segments and empty segments, then URI-encode each segment once.
//
// Thread safety: safe from any thread. Each thread keeps its own OpenSSL
// contexts, its scratch strings and its last derived signing key (with a copy
// of the secret it came from, wiped at thread exit), so a warm request costs
// one SHA-256 of the body, one of the canonical request and one HMAC.
// Errors: std::bad_alloc, or std::runtime_error if OpenSSL lacks SHA-256/HMAC
// (a broken provider configuration). Secrets are never copied into the
// returned strings except inside the HMAC output.
#ifndef ZAE_AWS_SIGV4_H_
#define ZAE_AWS_SIGV4_H_

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/credentials.h"

namespace zae::aws {

struct HttpRequest {
  std::string method = "POST";
  std::string path = "/";  // as sent on the wire, unencoded (e.g. "/example space/")
  std::string query;       // without '?', as sent
  std::vector<std::pair<std::string, std::string>> headers;  // in send order
  std::string body;
  // Not signed. True for a request that must reach the server at most once
  // per Send (a non-idempotent write): the transport then never sends it
  // again on its own (it does after a reused connection dies with no
  // answer), and the result tells whether it may have been sent.
  bool send_once = false;
};

struct SigningOptions {
  bool normalize_path = true;
  bool sign_body = false;           // add and sign x-amz-content-sha256
  bool omit_session_token = false;  // add the token header but leave it unsigned
};

// Intermediate strings are returned so tests can compare every step.
struct SigningResult {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
};

SigningResult SignRequest(HttpRequest& request, const Credentials& credentials,
                          std::string_view region, std::string_view service,
                          std::chrono::system_clock::time_point now,
                          const SigningOptions& options = {});

// As SignRequest, without returning the intermediate strings: the request
// path (no allocation but the Authorization header's own).
void SignRequestInPlace(HttpRequest& request, const Credentials& credentials,
                        std::string_view region, std::string_view service,
                        std::chrono::system_clock::time_point now,
                        const SigningOptions& options = {});

std::string Sha256Hex(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);  // raw 32 bytes
std::string UriEncode(std::string_view in, bool keep_slash);
std::string AmzDate(std::chrono::system_clock::time_point t);  // 20150830T123600Z

}  // namespace zae::aws

#endif  // ZAE_AWS_SIGV4_H_

#include "aws/sigv4.h"

#include "aws/url.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace zae::aws {
namespace {

constexpr size_t kDigestSize = 32;

[[noreturn]] void CryptoFailed(const char* what) {
  throw std::runtime_error(std::string("OpenSSL: ") + what + " failed");
}

// OpenSSL 3's one-shot SHA256()/HMAC() look the algorithm up in the provider
// store (locks, refcounts) on every call, which cost more than the hashing
// itself. Fetch once per process...
struct Algorithms {
  EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  Algorithms() {
    if (sha256 == nullptr || hmac == nullptr) CryptoFailed("fetching SHA256/HMAC");
  }
  ~Algorithms() {
    EVP_MAC_free(hmac);
    EVP_MD_free(sha256);
  }
};

const Algorithms& Algo() {
  static const Algorithms algorithms;
  return algorithms;
}

// ...and keep one digest and one MAC context per thread, so hashing needs no
// lock and no allocation of its own.
class Hasher {
 public:
  Hasher() : md_(EVP_MD_CTX_new()) {
    if (md_ == nullptr) CryptoFailed("allocating contexts");
    mac_ = NewMac();
  }
  ~Hasher() {
    EVP_MAC_CTX_free(mac_);
    EVP_MD_CTX_free(md_);
  }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void Sha256(std::string_view data, unsigned char* out) {
    if (EVP_DigestInit_ex2(md_, Algo().sha256, nullptr) != 1 ||
        EVP_DigestUpdate(md_, data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(md_, out, nullptr) != 1) {
      CryptoFailed("SHA256");
    }
  }

  void Hmac(std::string_view key, std::string_view data, unsigned char* out) {
    Mac(mac_, reinterpret_cast<const unsigned char*>(key.data()), key.size(), data, out);
  }

  // HMAC-SHA256 on `mac`; a null `key` reuses the key it was last given.
  static void Mac(EVP_MAC_CTX* mac, const unsigned char* key, size_t key_size,
                  std::string_view data, unsigned char* out) {
    size_t len = 0;
    if (EVP_MAC_init(mac, key, key_size, nullptr) != 1 ||
        EVP_MAC_update(mac, reinterpret_cast<const unsigned char*>(data.data()), data.size()) !=
            1 ||
        EVP_MAC_final(mac, out, &len, kDigestSize) != 1 || len != kDigestSize) {
      CryptoFailed("HMAC-SHA256");
    }
  }

  // A new MAC context for HMAC-SHA256, without a key.
  static EVP_MAC_CTX* NewMac() {
    EVP_MAC_CTX* mac = EVP_MAC_CTX_new(Algo().hmac);
    if (mac == nullptr) CryptoFailed("allocating contexts");
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(mac, params) != 1) {
      EVP_MAC_CTX_free(mac);
      CryptoFailed("HMAC digest");
    }
    return mac;
  }

 private:
  EVP_MD_CTX* md_;
  EVP_MAC_CTX* mac_ = nullptr;
};

Hasher& ThreadHasher() {
  thread_local Hasher hasher;
  return hasher;
}

std::string_view View(const unsigned char* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

// The signing key depends only on (secret, date, region, service), so it
// changes once a day; deriving it costs four HMACs per request otherwise.
// One entry per thread: no lock, and a process almost always signs for one
// identity. The copy of the secret is wiped when the thread ends.
//
// The entry also keeps a MAC context holding the key, so a request's
// signature re-initialises it instead of keying HMAC afresh: OpenSSL 3.0
// keys it with three digest set-ups, each allocating, and hashes the padded
// key twice, on every request otherwise.
class SigningKeyCache {
 public:
  SigningKeyCache() : keyed_(Hasher::NewMac()) {}
  ~SigningKeyCache() {
    EVP_MAC_CTX_free(keyed_);  // OpenSSL wipes the key it holds
    OPENSSL_cleanse(secret_.data(), secret_.size());
    OPENSSL_cleanse(key_, sizeof key_);
  }
  SigningKeyCache(const SigningKeyCache&) = delete;
  SigningKeyCache& operator=(const SigningKeyCache&) = delete;

  // HMAC-SHA256 of `data` with the key Get last returned.
  void Sign(std::string_view data, unsigned char* out) {
    Hasher::Mac(keyed_, nullptr, 0, data, out);
  }

  const unsigned char* Get(const std::string& secret, std::string_view date,
                           std::string_view region, std::string_view service) {
    if (!valid_ || secret != secret_ || date != date_ || region != region_ || service != service_) {
      Hasher& h = ThreadHasher();
      OPENSSL_cleanse(secret_.data(), secret_.size());
      valid_ = false;
      std::string first = "AWS4" + secret;
      h.Hmac(first, date, key_);
      OPENSSL_cleanse(first.data(), first.size());
      h.Hmac(View(key_, kDigestSize), region, key_);
      h.Hmac(View(key_, kDigestSize), service, key_);
      h.Hmac(View(key_, kDigestSize), "aws4_request", key_);
      Hasher::Mac(keyed_, key_, kDigestSize, "", scratch_);  // keyed_ now holds key_
      secret_ = secret;
      date_ = date;
      region_ = region;
      service_ = service;
      valid_ = true;
    }
    return key_;
  }

 private:
  bool valid_ = false;
  std::string secret_, date_, region_, service_;
  unsigned char key_[kDigestSize] = {};
  unsigned char scratch_[kDigestSize] = {};
  EVP_MAC_CTX* keyed_;
};

constexpr char kHex[] = "0123456789abcdef";

void HexInto(const unsigned char* p, size_t n, char* out) {
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[p[i] >> 4];
    out[2 * i + 1] = kHex[p[i] & 15];
  }
}

void Sha256HexInto(std::string_view data, char* out) {
  unsigned char md[kDigestSize];
  ThreadHasher().Sha256(data, md);
  HexInto(md, sizeof md, out);
}

// Requests come many per second; format each second once per thread. The
// view lasts until the thread's next call.
std::string_view AmzDateView(std::chrono::system_clock::time_point t) {
  thread_local std::time_t last = -1;
  thread_local char buf[32];
  thread_local size_t len = 0;
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  if (tt != last) {
    std::tm tm{};
    gmtime_r(&tt, &tm);
    len = std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    last = tt;
  }
  return {buf, len};
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    std::string_view seg = path.substr(pos, next - pos);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    pos = next + 1;
  }
  bool trailing =
      !path.empty() && (path.back() == '/' || path.ends_with("/.") || path.ends_with("/.."));
  std::string out = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i) out += '/';
    out += segments[i];
  }
  if (trailing && !segments.empty()) out += '/';
  return out;
}

std::string CanonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view part = query.substr(pos, amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string_view k = part.substr(0, eq);
      std::string_view v = eq == std::string_view::npos ? "" : part.substr(eq + 1);
      params.emplace_back(UriEncode(PercentDecode(k), false), UriEncode(PercentDecode(v), false));
    }
    pos = amp + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  std::string out(2 * kDigestSize, '0');
  Sha256HexInto(data, out.data());
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char md[kDigestSize];
  ThreadHasher().Hmac(key, data, md);
  return std::string(reinterpret_cast<char*>(md), sizeof md);
}

std::string UriEncode(std::string_view in, bool keep_slash) {
  std::string out;
  out.reserve(in.size());
  for (char ch : in) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += "0123456789ABCDEF"[c >> 4];
      out += "0123456789ABCDEF"[c & 15];
    }
  }
  return out;
}

std::string AmzDate(std::chrono::system_clock::time_point t) { return std::string(AmzDateView(t)); }

namespace {

// What one signature needs besides the request, kept per thread and reused:
// a request is signed on every attempt, and these were a dozen allocations
// each time (a lowered name and a canonical value per header, the canonical
// request, the string to sign, the digests' hex).
struct SigningScratch {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string canonical_headers, signed_headers, scope, canonical_request, string_to_sign;
  char signature[2 * kDigestSize];
};

void LowerInto(std::string_view s, std::string& out) {
  out.clear();
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// Trims and collapses runs of whitespace (including folded continuation
// lines) into one space, as the canonical header form requires.
void CanonicalValueInto(std::string_view v, std::string& out) {
  out.clear();
  bool pending_space = false;
  for (char c : v) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
}

// Signs `request` in place, leaving every intermediate string in `t`.
void Sign(HttpRequest& request, const Credentials& credentials, std::string_view region,
          std::string_view service, std::chrono::system_clock::time_point now,
          const SigningOptions& options, SigningScratch& t) {
  const std::string_view amz_date = AmzDateView(now);
  const std::string_view date = amz_date.substr(0, 8);
  char body_hash[2 * kDigestSize];
  Sha256HexInto(request.body, body_hash);
  const std::string_view payload_hash(body_hash, sizeof body_hash);

  if (!credentials.session_token.empty()) {
    request.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  request.headers.emplace_back("X-Amz-Date", amz_date);
  if (options.sign_body) request.headers.emplace_back("x-amz-content-sha256", payload_hash);

  // Stable sort keeps duplicate headers in their original order, which the
  // canonical form joins with commas.
  auto& headers = t.headers;
  if (headers.size() < request.headers.size()) headers.resize(request.headers.size());
  size_t n = 0;
  for (const auto& [name, value] : request.headers) {
    LowerInto(name, headers[n].first);
    if (options.omit_session_token && headers[n].first == "x-amz-security-token") continue;
    CanonicalValueInto(value, headers[n].second);
    ++n;
  }
  // A request has a handful of headers: an insertion sort, which is stable
  // and, unlike std::stable_sort, takes no temporary buffer from the heap.
  for (size_t i = 1; i < n; ++i) {
    for (size_t j = i; j > 0 && headers[j].first < headers[j - 1].first; --j) {
      std::swap(headers[j], headers[j - 1]);
    }
  }

  std::string& canonical_headers = t.canonical_headers;
  std::string& signed_headers = t.signed_headers;
  canonical_headers.clear();
  signed_headers.clear();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.pop_back();  // the '\n'
      canonical_headers += ',';
    } else {
      if (!signed_headers.empty()) signed_headers += ';';
      signed_headers += headers[i].first;
      canonical_headers += headers[i].first;
      canonical_headers += ':';
    }
    canonical_headers += headers[i].second;
    canonical_headers += '\n';
  }

  std::string& cr = t.canonical_request;
  cr.clear();
  cr.append(request.method).append(1, '\n');
  if (request.path == "/") {
    cr.append(1, '/');  // every DynamoDB request: nothing to normalize or encode
  } else {
    cr.append(UriEncode(options.normalize_path ? NormalizePath(request.path) : request.path, true));
  }
  cr.append(1, '\n');
  if (!request.query.empty()) cr.append(CanonicalQuery(request.query));
  cr.append(1, '\n').append(canonical_headers).append(1, '\n');
  cr.append(signed_headers).append(1, '\n').append(payload_hash);

  std::string& scope = t.scope;
  scope.clear();
  scope.append(date).append(1, '/').append(region).append(1, '/').append(service);
  scope.append("/aws4_request");
  std::string& sts = t.string_to_sign;
  sts.clear();
  sts.append("AWS4-HMAC-SHA256\n").append(amz_date).append(1, '\n').append(scope);
  sts.append(1, '\n');
  char cr_hash[2 * kDigestSize];
  Sha256HexInto(cr, cr_hash);
  sts.append(cr_hash, sizeof cr_hash);

  thread_local SigningKeyCache keys;
  keys.Get(credentials.secret_access_key, date, region, service);
  unsigned char sig[kDigestSize];
  keys.Sign(sts, sig);
  HexInto(sig, sizeof sig, t.signature);

  std::string auth;
  auth.reserve(96 + credentials.access_key_id.size() + scope.size() + signed_headers.size());
  auth.append("AWS4-HMAC-SHA256 Credential=").append(credentials.access_key_id).append(1, '/');
  auth.append(scope).append(", SignedHeaders=").append(signed_headers);
  auth.append(", Signature=").append(t.signature, sizeof t.signature);
  request.headers.emplace_back("Authorization", std::move(auth));
}

SigningScratch& ThreadScratch() {
  thread_local SigningScratch scratch;
  return scratch;
}

}  // namespace

SigningResult SignRequest(HttpRequest& request, const Credentials& credentials,
                          std::string_view region, std::string_view service,
                          std::chrono::system_clock::time_point now,
                          const SigningOptions& options) {
  SigningScratch& t = ThreadScratch();
  Sign(request, credentials, region, service, now, options, t);
  return SigningResult{t.canonical_request, t.string_to_sign,
                       std::string(t.signature, sizeof t.signature)};
}

void SignRequestInPlace(HttpRequest& request, const Credentials& credentials,
                        std::string_view region, std::string_view service,
                        std::chrono::system_clock::time_point now, const SigningOptions& options) {
  Sign(request, credentials, region, service, now, options, ThreadScratch());
}

}  // namespace zae::aws

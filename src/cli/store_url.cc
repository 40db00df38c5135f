#include "cli/store_url.h"

#include <cctype>
#include <string_view>

#include "zae/errors.h"

namespace zae::cli {
namespace {

constexpr const char* kExpected =
    "expected memory:, sqlite:PATH or dynamodb://TABLE?region=R&endpoint=URL";

[[noreturn]] void Bad(const std::string& url, const std::string& why) {
  throw ValidationError("store", url, why);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(const std::string& url, std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) Bad(url, "bad percent-escape in the query");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string PercentEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

StoreUrl ParseStoreUrl(const std::string& url) {
  StoreUrl out;
  const std::string_view u(url);
  if (u == "memory:" || u == "memory://") {
    out.kind = StoreUrl::Kind::kMemory;
    return out;
  }
  if (u.starts_with("sqlite:")) {
    std::string_view path = u.substr(7);
    if (path.starts_with("//")) path = path.substr(2);
    if (path.empty()) Bad(url, "sqlite: needs a file path, e.g. sqlite:/var/lib/zae/zae.db");
    out.kind = StoreUrl::Kind::kSqlite;
    out.path = std::string(path);
    return out;
  }
  if (u.starts_with("dynamodb://")) {
    std::string_view rest = u.substr(11);
    const size_t q = rest.find('?');
    out.kind = StoreUrl::Kind::kDynamoDb;
    out.table = std::string(rest.substr(0, q));
    if (out.table.size() < 3 || out.table.size() > 255) {
      Bad(url, "the DynamoDB table name must have 3 to 255 characters");
    }
    for (char c : out.table) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
        Bad(url, "the DynamoDB table name may contain only letters, digits, '_', '-' and '.'");
      }
    }
    if (q == std::string_view::npos) return out;
    std::string_view query = rest.substr(q + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (pair.empty()) continue;
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos) Bad(url, "query parameters must be KEY=VALUE");
      const std::string_view key = pair.substr(0, eq);
      std::string value = PercentDecode(url, pair.substr(eq + 1));
      if (key == "region") {
        out.region = std::move(value);
      } else if (key == "endpoint" || key == "endpoint_url" || key == "endpoint-url") {
        out.endpoint = std::move(value);
      } else {
        Bad(url, "unknown query parameter '" + std::string(key) + "' (use region, endpoint)");
      }
    }
    return out;
  }
  Bad(url, kExpected);
}

std::string DynamoDbUrl(const std::string& table, const std::string& region,
                        const std::string& endpoint) {
  std::string url = "dynamodb://" + table;
  char sep = '?';
  if (!region.empty()) {
    url += sep + std::string("region=") + PercentEncode(region);
    sep = '&';
  }
  if (!endpoint.empty()) url += sep + std::string("endpoint=") + PercentEncode(endpoint);
  return url;
}

}  // namespace zae::cli

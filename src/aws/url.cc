#include "aws/url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace zae::aws {
namespace {

// Printable ASCII other than space: what may go on a request line or into
// a Host header.
bool Visible(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

bool HostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-._~%", c) != nullptr;
}

bool IsAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
}

}  // namespace

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string ParseUrl(std::string_view url, bool proxy, Url* o) {
  *o = Url{};
  if (!Visible(url)) return "a URL with spaces or control characters";
  const size_t sep = url.find("://");
  const std::string_view scheme = sep == std::string_view::npos ? "" : url.substr(0, sep);
  std::string_view rest = sep == std::string_view::npos ? url : url.substr(sep + 3);
  if (sep == std::string_view::npos && !proxy) {
    return "URL without a scheme (want http:// or https://)";
  }
  if (sep != std::string_view::npos && !IEquals(scheme, "http") && !IEquals(scheme, "https")) {
    return "unsupported URL scheme '" + std::string(scheme) + "' (want http or https)";
  }
  o->tls = IEquals(scheme, "https");
  const size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (end != std::string_view::npos) o->prefix = std::string(rest.substr(end));
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    if (!proxy) return "credentials in a URL are not supported";
    o->userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  std::string_view host = authority, port;
  bool bracketed = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return "unterminated IPv6 address in URL";
    host = authority.substr(1, close - 1);
    bracketed = true;
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "bad character after an IPv6 address in URL";
      port = after.substr(1);
      if (port.empty()) return "bad port in URL";
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return "bad port in URL";
  }
  if (host.empty()) return "URL without a host";
  for (char c : host) {
    if (!HostChar(c) && !(bracketed && c == ':')) return "bad character in the URL's host";
  }
  o->host = std::string(host);
  o->ip_literal = IsAddress(o->host);
  if (bracketed && !o->ip_literal) return "bad IPv6 address in URL";
  const bool explicit_port = !port.empty();
  if (!explicit_port) port = proxy ? "1080" : o->tls ? "443" : "80";
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    return "bad port in URL";
  }
  long p = 0;
  for (char c : port) p = p * 10 + (c - '0');
  if (p < 1 || p > 65535) return "port out of range in URL";
  o->port = std::string(port);
  o->authority = bracketed ? "[" + o->host + "]" : o->host;
  if (explicit_port) o->authority += ":" + o->port;
  return "";
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace zae::aws

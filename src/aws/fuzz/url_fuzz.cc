// libFuzzer target for the HTTP client's URL split (scripts/fuzz.sh): any
// input either parses into parts that hold the documented invariants or is
// refused with a reason, as a base URL and as a proxy URL.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "aws/url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (bool proxy : {false, true}) {
    zae::aws::Url u;
    const std::string error = zae::aws::ParseUrl(input, proxy, &u);
    if (!error.empty()) continue;
    const long port = std::strtol(u.port.c_str(), nullptr, 10);
    if (u.host.empty() || port < 1 || port > 65535) std::abort();
    if (u.authority.find(u.host) == std::string::npos) std::abort();
    for (char c : u.authority + u.prefix) {
      if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
        std::abort();
    }
    if (!proxy && !u.userinfo.empty()) std::abort();
  }
  (void)zae::aws::PercentDecode(input);
  return 0;
}

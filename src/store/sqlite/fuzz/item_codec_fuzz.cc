// libFuzzer target: DecodeItem must turn any bytes into an item or a
// StoreError, and whatever it accepts must survive an encode/decode round
// trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "store/sqlite/item_codec.h"
#include "zae/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  zae::Item item;
  try {
    item = zae::sqlite::DecodeItem(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const zae::StoreError&) {
    return 0;
  }
  if (zae::sqlite::DecodeItem(zae::sqlite::EncodeItem(item)) != item) std::abort();
  return 0;
}

// The encoding of an item in the `data` column of SqliteStore: DynamoDB's
// typed JSON, so a row reads like an item in the AWS console and every Value
// type survives the round trip exactly:
//
//   {"PK":{"S":"ns/BUCKET#e#r#0"},"tk":{"N":"-5"},"on":{"BOOL":true},
//    "x":{"NULL":true},"tags":{"SS":["a","b"]},"l":{"L":[...]},"m":{"M":{...}}}
//
// Numbers are decimal int64 strings. Strings are written byte for byte
// (JSON escapes for control characters and NUL). Nesting is limited to
// kMaxDepth levels of L/M, as in DynamoDB.
//
// DecodeItem is the trust boundary against a damaged or hostile file: any
// input that is not exactly this encoding of an item with string PK and SK
// throws StoreError; it never crashes, recurses without bound, or accepts
// duplicate attribute names or set members. Thread-safe (pure functions).
#ifndef ZAE_STORE_SQLITE_ITEM_CODEC_H_
#define ZAE_STORE_SQLITE_ITEM_CODEC_H_

#include <string>
#include <string_view>

#include "zae/store.h"

namespace zae::sqlite {

inline constexpr int kMaxDepth = 32;

// Throws StoreError when the item nests deeper than kMaxDepth.
std::string EncodeItem(const Item& item);

// Throws StoreError for anything EncodeItem cannot have produced, and for an
// item without string PK and SK.
Item DecodeItem(std::string_view data);

}  // namespace zae::sqlite

#endif  // ZAE_STORE_SQLITE_ITEM_CODEC_H_

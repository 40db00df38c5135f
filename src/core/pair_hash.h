// A hash of two strings taken as one key (an entity and a resource; a PK
// and an SK), for the hot paths' hash tables: the limiter's warm buckets,
// the DynamoDB write ledger and SQLite's usage-snapshot cache.
//
// Why not std::hash: ids are short, and its general-purpose routine costs
// more than the rest of a lookup. FNV-1a, with a separator byte so that
// ("ab", "c") and ("a", "bc") differ, and the high bits folded in because
// tables take the low ones.
// Thread safety: pure functions and stateless function objects.
#ifndef ZAE_CORE_PAIR_HASH_H_
#define ZAE_CORE_PAIR_HASH_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace zae {

inline uint64_t PairHash(std::string_view first, std::string_view second) {
  uint64_t h = 14695981039346656037ull;
  for (char c : first) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  h = (h ^ 0xFF) * 1099511628211ull;  // the separator
  for (char c : second) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h ^ (h >> 29);
}

// For unordered containers keyed by std::pair<std::string, std::string>
// (or anything with string-like .first and .second) and looked up with
// pairs of string_views, without building strings (C++20 transparent lookup).
struct StringPairHash {
  using is_transparent = void;
  template <class P>
  size_t operator()(const P& p) const {
    return static_cast<size_t>(PairHash(p.first, p.second));
  }
};
struct StringPairEq {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return std::string_view(a.first) == std::string_view(b.first) &&
           std::string_view(a.second) == std::string_view(b.second);
  }
};

}  // namespace zae

#endif  // ZAE_CORE_PAIR_HASH_H_

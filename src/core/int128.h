// 128-bit integers for intermediate products of the bucket math.
// __extension__ keeps -Wpedantic quiet about the GCC/Clang builtin.
#ifndef ZAE_CORE_INT128_H_
#define ZAE_CORE_INT128_H_

namespace zae {
__extension__ typedef __int128 Int128;
}  // namespace zae

#endif  // ZAE_CORE_INT128_H_

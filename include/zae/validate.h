// Input validation with the reference's exact rules (runtime.md §1.3).
// Checks run in the order: empty, length, '#', reserved name, pattern.
// Each function returns normally or throws the documented ValidationError
// subclass; they are pure and thread-safe.
#ifndef ZAE_VALIDATE_H_
#define ZAE_VALIDATE_H_

#include <string_view>

namespace zae {

inline constexpr size_t kMaxIdentifierLength = 256;
inline constexpr size_t kMaxNameLength = 64;
// Resource name meaning "every resource" in entity configs; legal only there.
inline constexpr std::string_view kDefaultResource = "_default_";
// Reserved infrastructure limit that tracks write units per bucket shard.
inline constexpr std::string_view kWcuLimitName = "wcu";

// Entity ids, parent ids, audit principals: ^[a-zA-Z0-9][a-zA-Z0-9_.\-:@]*$,
// at most 256 characters. Throws InvalidIdentifierError naming `field`.
void ValidateIdentifier(std::string_view value, std::string_view field = "entity_id");

// Limit names: ^[a-zA-Z][a-zA-Z0-9_.\-]*$, at most 64, not "wcu".
// Throws InvalidNameError.
void ValidateLimitName(std::string_view value);

// Resource names: ^[a-zA-Z][a-zA-Z0-9_.\-/]*$, at most 64. Throws InvalidNameError.
void ValidateResource(std::string_view value);

// Resource names at the entity-config level: a valid resource or "_default_".
void ValidateEntityConfigResource(std::string_view value);

// Namespace names (same rules as identifiers, but "_" is reserved).
void ValidateNamespaceName(std::string_view value);

}  // namespace zae

#endif  // ZAE_VALIDATE_H_

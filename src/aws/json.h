// Internal: the one way src/aws includes RapidJSON.
//
// RapidJSON asserts on type misuse; here a failed assertion throws
// aws::InvalidResponse instead, so a hostile response can never abort the
// process even if a type check was missed. Every file of src/aws that uses
// RapidJSON must include it through this header (one definition everywhere).
#ifndef ZAE_AWS_JSON_H_
#define ZAE_AWS_JSON_H_

#include "aws/errors.h"

#ifndef RAPIDJSON_ASSERT
#define RAPIDJSON_ASSERT(x) \
  ((x) ? static_cast<void>(0) : throw ::zae::aws::InvalidResponse("malformed JSON value"))
#endif
#define RAPIDJSON_HAS_STDSTRING 1
#define RAPIDJSON_NOEXCEPT_ASSERT(x)

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>

namespace zae::aws {

// A DOM parsed into inline buffers. RapidJSON's default document starts its
// pool with a 64 KiB heap chunk and its parse stack with another heap block;
// allocating and freeing those for every small response cost more than the
// parse (the free of the chunk also triggers malloc_consolidate). A document
// larger than the buffers spills into heap chunks as before. Lives on the
// caller's stack (about 12 KiB): neither copyable nor movable.
class InlineDocument {
 public:
  using Document = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                              rapidjson::MemoryPoolAllocator<>>;
  InlineDocument() = default;
  InlineDocument(const InlineDocument&) = delete;
  InlineDocument& operator=(const InlineDocument&) = delete;
  Document& doc() { return doc_; }
  const Document& doc() const { return doc_; }

 private:
  // The stack starts below its buffer's size: the pool keeps its own header
  // in the buffer, and a first block that does not fit would take a heap
  // chunk at once.
  static constexpr size_t kStackStart = 1024;
  alignas(16) char pool_buffer_[8192];
  alignas(16) char stack_buffer_[4096];
  rapidjson::MemoryPoolAllocator<> pool_{pool_buffer_, sizeof pool_buffer_};
  rapidjson::MemoryPoolAllocator<> stack_pool_{stack_buffer_, sizeof stack_buffer_};
  Document doc_{&pool_, kStackStart, &stack_pool_};
};

}  // namespace zae::aws

#endif  // ZAE_AWS_JSON_H_

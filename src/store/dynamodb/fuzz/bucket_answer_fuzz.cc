// libFuzzer target: the typed bucket write's answer reader
// (bucket_request.h) must turn any body into outputs or a refusal, never
// crash or throw; what it accepts keeps its invariants (numbers sorted by
// name and bounded, a view present only with its tk).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "store/dynamodb/bucket_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zae;
  std::string body(reinterpret_cast<const char*>(data), size);
  const ItemKey key{"ns/BUCKET#e#r#0", "#STATE"};
  BucketLimitDelta limits[3] = {
      {"rpm", 1000, true, 1000}, {"a_b", 1, false, 0}, {"wcu", 1, true, 1}};
  BucketLimitView views[3];
  BucketWrite w;
  w.key = &key;
  w.limits = limits;
  w.limit_count = 3;
  w.views = (size % 2) ? views : nullptr;
  auto* answer = new store::dynamodb::BucketAnswer;
  if (store::dynamodb::ReadBucketUpdateAnswer(body, w, answer)) {
    if (answer->number_count > store::dynamodb::BucketAnswer::kMaxNumbers) std::abort();
    for (size_t i = 1; i < answer->number_count; ++i) {
      if (answer->numbers[i].first < answer->numbers[i - 1].first) std::abort();
    }
    if (w.status != WriteStatus::kOk || !w.exists) std::abort();
    if (w.views) {
      for (const BucketLimitView& v : views) {
        if (!v.present && (v.tk != 0 || v.tc)) std::abort();
      }
    }
  }
  delete answer;
  return 0;
}

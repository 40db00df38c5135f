// The LLM-gateway pattern: acquire rpm + tpm with an estimate, adjust with
// the real token count when the call returns, and cascade from an API key
// to its project so the project's budget is shared by all its keys.
//
//   build/release/examples/llm_gateway [store-url]
//
// The store URL is any that zae::OpenStore takes: "memory:" (the default),
// "sqlite:PATH", "dynamodb://TABLE?region=R&endpoint=URL".
#include <cstdio>
#include <exception>
#include <memory>

#include "zae/rate_limiter.h"
#include "zae/store.h"
#include "zae/version.h"

namespace {

// Stands in for the model call; returns the tokens it really used.
int64_t CallModel(int64_t prompt_tokens) { return prompt_tokens + 180; }

}  // namespace

int Run(int argc, char** argv) {
  std::printf("zae-limiter %s\n", ZAE_VERSION_STRING);
  std::shared_ptr<zae::Store> store = zae::OpenStore(argc > 1 ? argv[1] : "memory:");
  auto limiter = zae::RateLimiter::Open(store);

  // Ops set these once (or with `zae-limiter`); they can change at run time.
  if (!limiter->GetEntity("acme")) {
    limiter->CreateEntity("acme", {.name = "ACME project"});
    limiter->CreateEntity("acme-key-1", {.parent_id = "acme", .cascade = true});
  }
  limiter->SetLimits(
      "acme", {zae::Limit::PerMinute("rpm", 100), zae::Limit::PerMinute("tpm", 5000)}, "gpt-4");
  limiter->SetResourceDefaults(
      "gpt-4", {zae::Limit::PerMinute("rpm", 20), zae::Limit::PerMinute("tpm", 2000)});

  for (int request = 0; request < 12; ++request) {
    const int64_t estimate = 500;
    zae::AcquireResult result =
        limiter->Acquire("acme-key-1", "gpt-4", {{"rpm", 1}, {"tpm", estimate}});
    if (!result) {
      std::printf("request %2d: 429, Retry-After: %s (%s)\n", request,
                  result.denial().retry_after_header().c_str(), result.denial().message().c_str());
      continue;
    }
    zae::Lease lease = result.take_lease();
    const int64_t used = CallModel(300);
    lease.Adjust({{"tpm", used - estimate}});  // may refund or go into debt
    std::printf("request %2d: ok, used %lld tokens\n", request, static_cast<long long>(used));
  }  // each lease commits when it leaves scope
  for (const auto& [name, tokens] : limiter->Available("acme-key-1", "gpt-4")) {
    std::printf("available %s: %lld\n", name.c_str(), static_cast<long long>(tokens));
  }
  return 0;
}

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {  // a bad store URL, a store that fails
    std::fprintf(stderr, "llm_gateway: %s\n", e.what());
    return 1;
  }
}

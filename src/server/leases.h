// The HTTP API's open leases: acquired by POST /v1/acquire, adjusted,
// committed or released by id, and committed as they stand when left open
// past their lease_seconds (or when the server drains).
//
// Ids are 128 random bits from OpenSSL (hex), so one client cannot guess
// another's lease. Time comes from the injected Clock (tests use a
// FakeClock and call ExpireDue). The table holds at most `max_open`
// leases; Add refuses more (the caller answers 503).
// Thread safety: every method may be called from any thread. A lease is
// only touched under the table's lock (Lease is not thread-safe); commits
// and rollbacks run after it is taken out, outside the lock.
#ifndef ZAE_SERVER_LEASES_H_
#define ZAE_SERVER_LEASES_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "zae/clock.h"
#include "zae/lease.h"

namespace zae::server {

class LeaseTable {
 public:
  LeaseTable(const Clock* clock, size_t max_open, std::function<void(int64_t)> on_size);

  // Returns the new id, or nullopt when the table is full (the lease is
  // then rolled back).
  std::optional<std::string> Add(Lease lease, int64_t lease_seconds);
  // Runs `fn` on the lease under the lock; false when the id is unknown.
  bool With(const std::string& id, const std::function<void(Lease&)>& fn);
  // Takes the lease out (to commit or roll back); nullopt when unknown.
  // `expires_ms` receives its expiry, for Restore.
  std::optional<Lease> Take(const std::string& id, int64_t* expires_ms = nullptr);
  // Puts back a lease whose commit failed and may be retried.
  void Restore(const std::string& id, Lease lease, int64_t expires_ms);
  // Commits every lease past its expiry; returns how many. Commit failures
  // are counted in `failed` (the lease is gone either way).
  int ExpireDue(int* failed = nullptr);
  // Commits every open lease (drain).
  int CommitAll(int* failed = nullptr);
  size_t size() const;

 private:
  struct Open {
    Lease lease;
    int64_t expires_ms;
  };
  int CommitEach(std::vector<Lease> leases, int* failed);

  const Clock* clock_;
  const size_t max_open_;
  std::function<void(int64_t)> on_size_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Open> open_;
};

}  // namespace zae::server

#endif  // ZAE_SERVER_LEASES_H_

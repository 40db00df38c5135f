#include "server/leases.h"

#include <openssl/rand.h>

#include <stdexcept>

namespace zae::server {
namespace {

std::string NewId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for an id");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(32);
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

}  // namespace

LeaseTable::LeaseTable(const Clock* clock, size_t max_open, std::function<void(int64_t)> on_size)
    : clock_(clock), max_open_(max_open), on_size_(std::move(on_size)) {}

std::optional<std::string> LeaseTable::Add(Lease lease, int64_t lease_seconds) {
  std::string id = NewId();
  const int64_t expires = clock_->NowMs() + lease_seconds * 1000;
  size_t n;
  bool full = false;
  {
    std::lock_guard lock(mu_);
    if (open_.size() >= max_open_) {
      full = true;
    } else {
      open_.emplace(id, Open{std::move(lease), expires});
    }
    n = open_.size();
  }
  if (full) {
    // The caller tells its client it got nothing: refund.
    try {
      lease.Rollback();
    } catch (const std::exception&) {
      // The store failed; the tokens come back as the bucket refills.
    }
    return std::nullopt;
  }
  if (on_size_) on_size_(int64_t(n));
  return id;
}

bool LeaseTable::With(const std::string& id, const std::function<void(Lease&)>& fn) {
  std::lock_guard lock(mu_);
  auto it = open_.find(id);
  if (it == open_.end()) return false;
  fn(it->second.lease);
  return true;
}

std::optional<Lease> LeaseTable::Take(const std::string& id, int64_t* expires_ms) {
  std::optional<Lease> out;
  size_t n;
  {
    std::lock_guard lock(mu_);
    auto it = open_.find(id);
    if (it == open_.end()) return std::nullopt;
    out.emplace(std::move(it->second.lease));
    if (expires_ms) *expires_ms = it->second.expires_ms;
    open_.erase(it);
    n = open_.size();
  }
  if (on_size_) on_size_(int64_t(n));
  return out;
}

void LeaseTable::Restore(const std::string& id, Lease lease, int64_t expires_ms) {
  size_t n;
  {
    std::lock_guard lock(mu_);
    open_.insert_or_assign(id, Open{std::move(lease), expires_ms});
    n = open_.size();
  }
  if (on_size_) on_size_(int64_t(n));
}

int LeaseTable::CommitEach(std::vector<Lease> leases, int* failed) {
  if (on_size_) on_size_(int64_t(size()));
  int n = 0;
  for (Lease& l : leases) {
    try {
      l.Commit();
    } catch (const std::exception&) {
      // Never rolled back: the client has spent what it acquired. The
      // lease's destructor tries the commit once more.
      if (failed) ++*failed;
    }
    ++n;
  }
  return n;
}

int LeaseTable::ExpireDue(int* failed) {
  const int64_t now = clock_->NowMs();
  std::vector<Lease> due;
  {
    std::lock_guard lock(mu_);
    for (auto it = open_.begin(); it != open_.end();) {
      if (it->second.expires_ms <= now) {
        due.push_back(std::move(it->second.lease));
        it = open_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (due.empty()) return 0;
  return CommitEach(std::move(due), failed);
}

int LeaseTable::CommitAll(int* failed) {
  std::vector<Lease> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, open] : open_) all.push_back(std::move(open.lease));
    open_.clear();
  }
  return CommitEach(std::move(all), failed);
}

size_t LeaseTable::size() const {
  std::lock_guard lock(mu_);
  return open_.size();
}

}  // namespace zae::server

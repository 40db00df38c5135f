#include "zae/lease.h"

#include <exception>
#include <map>
#include <tuple>

#include "limiter/keys.h"
#include "limiter/rate_limiter_impl.h"
#include "zae/errors.h"

namespace zae {

void LeaseWriter::WriteDeltas(const std::vector<LeaseEntry>& entries,
                              const std::vector<int64_t>& deltas) {
  std::map<std::tuple<std::string, std::string, int>, Update> groups;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (deltas[i] == 0) continue;
    const LeaseEntry& e = entries[i];
    Update& u = groups[{e.entity_id, e.resource, e.shard}];
    u.key = keys::Bucket(ns_, e.entity_id, e.resource, e.shard);
    const int64_t m = ToMilli(deltas[i]);
    u.add.emplace_back(keys::BucketAttr(e.limit.name, "tk"), -m);
    u.add.emplace_back(keys::BucketAttr(e.limit.name, "tc"), m);
  }
  if (groups.empty()) return;
  std::vector<WriteOp> ops;
  for (auto& [key, u] : groups) {
    // A bucket deleted meanwhile must not come back as a stub item.
    u.condition.Exists("PK");
    ops.push_back(std::move(u));
  }
  store_->WriteEach(ops);
}

Lease::Lease(std::shared_ptr<LeaseWriter> writer, std::vector<LeaseEntry> entries, bool noop)
    : writer_(std::move(writer)),
      entries_(std::move(entries)),
      noop_(noop),
      uncaught_at_start_(std::uncaught_exceptions()) {}

Lease::Lease(Lease&& other) noexcept
    : writer_(std::move(other.writer_)),
      entries_(std::move(other.entries_)),
      noop_(other.noop_),
      done_(other.done_),
      uncaught_at_start_(other.uncaught_at_start_) {
  other.done_ = true;
}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (!done_) {
      try {
        Commit();
      } catch (...) {
      }
    }
    writer_ = std::move(other.writer_);
    entries_ = std::move(other.entries_);
    noop_ = other.noop_;
    done_ = other.done_;
    uncaught_at_start_ = other.uncaught_at_start_;
    other.done_ = true;
  }
  return *this;
}

Lease::~Lease() {
  if (done_) return;
  try {
    if (std::uncaught_exceptions() > uncaught_at_start_) {
      Rollback();
    } else {
      Commit();
    }
  } catch (...) {
    // Destructors must not throw; call Commit() explicitly to see errors.
  }
}

void Lease::CheckActive() const {
  if (done_) throw LeaseExpiredError();
}

std::optional<Denial> Lease::Consume(const Amounts& amounts) {
  CheckActive();
  if (noop_) return std::nullopt;
  for (const auto& [name, amount] : amounts) {
    if (amount < 0) {
      throw ValidationError("consume", name + "=" + std::to_string(amount),
                            "amounts must not be negative");
    }
    bool known = false;
    for (const auto& e : entries_) known |= e.limit.name == name;
    if (!known)
      throw ValidationError("consume", name, "'" + name + "' is not a limit of this lease");
  }
  const int64_t now = writer_->clock().NowMs();
  std::vector<LimitStatus> statuses;
  std::vector<ConsumeResult> results;
  bool exceeded = false;
  for (const auto& e : entries_) {
    auto it = amounts.find(e.limit.name);
    const int64_t amount = it == amounts.end() ? 0 : it->second;
    ConsumeResult r = amount > 0
                          ? TryConsume(e.state, amount, now)
                          : ConsumeResult{true, e.state.tokens_milli, e.state.last_refill_ms, 0};
    statuses.push_back(LimitStatus{e.entity_id, e.resource, e.limit.name, e.limit,
                                   FloorDiv(Refill(e.state, now).tokens_milli, 1000), amount,
                                   !r.success, r.retry_after_seconds});
    exceeded |= !r.success;
    results.push_back(r);
  }
  if (exceeded) return Denial(std::move(statuses));
  for (size_t i = 0; i < entries_.size(); ++i) {
    auto it = amounts.find(entries_[i].limit.name);
    if (it == amounts.end() || it->second == 0) continue;
    entries_[i].state.tokens_milli = results[i].tokens_milli;
    entries_[i].state.last_refill_ms = results[i].refill_ms;
    entries_[i].consumed += it->second;
  }
  return std::nullopt;
}

void Lease::ApplyLocal(const Amounts& amounts, bool negate) {
  CheckActive();
  if (noop_) return;
  for (const auto& [name, amount] : amounts) {
    bool known = false;
    for (const auto& e : entries_) known |= e.limit.name == name;
    if (!known)
      throw ValidationError("adjust", name, "'" + name + "' is not a limit of this lease");
  }
  const int64_t now = writer_->clock().NowMs();
  for (auto& e : entries_) {
    auto it = amounts.find(e.limit.name);
    if (it == amounts.end() || it->second == 0) continue;
    const int64_t amount = negate ? -it->second : it->second;
    const Refilled r = ForceConsume(e.state, amount, now);
    e.state.tokens_milli = r.tokens_milli;
    e.state.last_refill_ms = r.refill_ms;
    e.consumed += amount;
  }
}

void Lease::Adjust(const Amounts& amounts) { ApplyLocal(amounts, false); }
void Lease::Release(const Amounts& amounts) { ApplyLocal(amounts, true); }

void Lease::Commit() {
  CheckActive();
  if (!noop_) {
    std::vector<int64_t> deltas;
    for (const auto& e : entries_) deltas.push_back(e.consumed - e.initial_consumed);
    writer_->WriteDeltas(entries_, deltas);
  }
  done_ = true;
}

void Lease::Rollback() {
  CheckActive();
  done_ = true;
  if (noop_) return;
  std::vector<int64_t> deltas;
  for (const auto& e : entries_) deltas.push_back(-e.initial_consumed);
  writer_->WriteDeltas(entries_, deltas);
}

Amounts Lease::consumed() const {
  Amounts out;
  for (const auto& e : entries_) out[e.limit.name] += e.consumed;
  return out;
}

}  // namespace zae

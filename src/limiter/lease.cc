#include "zae/lease.h"

#include <exception>
#include <map>
#include <tuple>

#include "limiter/keys.h"
#include "limiter/rate_limiter_impl.h"
#include "limiter/usage.h"
#include "zae/errors.h"

namespace zae {

BucketWriter::BucketWriter(std::shared_ptr<Store> store, std::string ns, const Clock& clock,
                           bool inline_usage)
    : store_(std::move(store)), ns_(std::move(ns)), clock_(clock), inline_usage_(inline_usage) {}

bool BucketWriter::Outcome::all_ok() const {
  for (const auto& r : results)
    if (!r.ok()) return false;
  return true;
}

BucketWriter::Outcome BucketWriter::Write(std::vector<WriteOp> ops, Mode mode, int64_t events,
                                          int64_t now) {
  Outcome out;
  if (!inline_usage_) {
    if (ops.size() == 1) {
      out.results.push_back(store_->Write(ops[0]));
    } else if (mode == Mode::kIndependent) {
      out.results = store_->WriteEach(ops);
    } else {
      const TransactResult t = store_->Transact(ops);
      for (size_t i = 0; i < ops.size(); ++i) {
        out.results.push_back(
            t.ok ? WriteResult{}
                 : WriteResult{t.failed[i] ? WriteStatus::kConditionFailed : WriteStatus::kOk,
                               t.old_items[i]});
      }
      out.applied.assign(ops.size(), t.ok);
      return out;
    }
    for (const auto& r : out.results) out.applied.push_back(r.ok());
    return out;
  }
  // Embedded stores: buckets and their snapshots in one transaction.
  const size_t n = ops.size();
  for (size_t i = 0; i < n; ++i) {
    const ItemKey key = std::visit(
        [](const auto& op) -> ItemKey {
          if constexpr (std::is_same_v<std::decay_t<decltype(op)>, Put>) {
            return KeyOf(op.item);
          } else {
            return op.key;
          }
        },
        ops[i]);
    auto pk = usage::ParseBucketPk(key.pk);
    if (!pk) continue;
    for (Update& u : usage::SnapshotUpdates(pk->ns, pk->entity, pk->resource,
                                            usage::TcDeltas(ops[i]), events, now)) {
      ops.push_back(std::move(u));
    }
  }
  TransactResult t = store_->Transact(ops);
  for (size_t i = 0; i < n; ++i) {
    if (t.ok) {
      out.results.push_back(
          {WriteStatus::kOk, t.new_items.empty() ? std::nullopt : std::move(t.new_items[i])});
    } else {
      out.results.push_back({t.failed[i] ? WriteStatus::kConditionFailed : WriteStatus::kOk,
                             t.failed[i] ? std::move(t.old_items[i]) : std::nullopt});
    }
  }
  out.applied.assign(n, t.ok);
  return out;
}

void BucketWriter::WriteDeltas(const std::vector<LeaseEntry>& entries,
                               const std::vector<int64_t>& deltas, int64_t events) {
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
  Write(std::move(ops), Mode::kIndependent, events, clock_.NowMs());
}

Lease::Lease(std::shared_ptr<BucketWriter> writer, std::vector<LeaseEntry> entries, bool noop)
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
    writer_->WriteDeltas(entries_, deltas, 0);
  }
  done_ = true;
}

void Lease::Rollback() {
  CheckActive();
  done_ = true;
  if (noop_) return;
  std::vector<int64_t> deltas;
  for (const auto& e : entries_) deltas.push_back(-e.initial_consumed);
  writer_->WriteDeltas(entries_, deltas, -1);  // the request did not happen
}

Amounts Lease::consumed() const {
  Amounts out;
  for (const auto& e : entries_) out[e.limit.name] += e.consumed;
  return out;
}

}  // namespace zae

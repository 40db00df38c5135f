#include "zae/lease.h"

#include <exception>
#include <map>
#include <tuple>

#include "core/deadline.h"
#include "limiter/bucket_plan.h"
#include "limiter/keys.h"
#include "limiter/rate_limiter_impl.h"
#include "limiter/usage.h"
#include "store/bucket_write.h"
#include "zae/errors.h"

namespace zae {

BucketWriter::BucketWriter(std::shared_ptr<Store> store, std::string ns, const Clock& clock,
                           bool inline_usage, Executor executor, std::chrono::milliseconds timeout)
    : executor_(std::move(executor)),
      async_io_(store->capabilities().async_io),
      store_(std::move(store)),
      ns_(std::move(ns)),
      clock_(clock),
      inline_usage_(inline_usage),
      timeout_(timeout) {}

void BucketWriter::WriteAsync(std::vector<WriteOp> ops, int64_t events, int64_t now,
                              OutcomeCallback done) {
  if (inline_usage_ || !async_io_) {
    // Buckets and snapshots go in one transaction; embedded stores answer
    // inline anyway.
    Outcome out;
    try {
      out = Write(std::move(ops), Mode::kIndependent, events, now);
    } catch (...) {
      done(nullptr, std::current_exception());
      return;
    }
    done(&out, nullptr);
    return;
  }
  store_->WriteEachAsync(std::move(ops), [done = std::move(done)](std::vector<WriteResult>* results,
                                                                  std::exception_ptr error) {
    if (error) {
      done(nullptr, error);
      return;
    }
    Outcome out;
    out.results = std::move(*results);
    for (const auto& r : out.results) out.applied.push_back(r.ok());
    done(&out, nullptr);
  });
}

void BucketWriter::Deliver(std::function<void()> completion) const {
  if (executor_) {
    executor_(std::move(completion));
  } else {
    completion();
  }
}

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

namespace detail {

std::shared_ptr<const std::vector<Update>> LeaseBucket::UsageTemplates(const std::string& ns,
                                                                       int64_t now) const {
  const int64_t hour = FloorDiv(now, 3'600'000);
  std::lock_guard lock(usage_mu_);
  if (hour != usage_hour_ || !usage_) {
    // events = 1 so that SnapshotUpdates produces the items; the typed
    // write ignores the templates' ADDs and adds its own amounts.
    usage_ = std::make_shared<const std::vector<Update>>(
        usage::SnapshotUpdates(ns, entity, resource, {}, 1, now));
    usage_hour_ = hour;
  }
  return usage_;
}

}  // namespace detail

std::shared_ptr<const std::vector<Update>> BucketWriter::PrepareBucketWrite(
    BucketWrite& w, const detail::LeaseBucket& bucket, int64_t events, int64_t now) const {
  w.key = &bucket.key;
  w.handle = bucket.handle.get();
  w.usage = nullptr;
  w.usage_count = 0;
  w.usage_events = 0;
  w.usage_window = 0;
  if (!inline_usage_) return nullptr;
  bool counts = events != 0;
  for (size_t l = 0; l < w.limit_count; ++l) counts |= store::UsageTokens(w.limits[l]) != 0;
  if (!counts) return nullptr;
  std::shared_ptr<const std::vector<Update>> t = bucket.UsageTemplates(ns_, now);
  w.usage = t->data();
  w.usage_count = t->size();
  w.usage_events = events;
  w.usage_window = FloorDiv(now, 3'600'000) + 1;  // the templates' hour (0 = no promise)
  return t;
}

void BucketWriter::WriteBuckets(BucketWrite* writes, const detail::LeaseBucket* const* buckets,
                                size_t n, int64_t events, int64_t now) {
  // Keeps this hour's templates alive for the call (a lease writes at most
  // a few buckets; more spill to the heap).
  std::shared_ptr<const std::vector<Update>> inline_templates[4];
  std::vector<std::shared_ptr<const std::vector<Update>>> more_templates;
  for (size_t i = 0; i < n; ++i) {
    auto t = PrepareBucketWrite(writes[i], *buckets[i], events, now);
    if (!t) continue;
    if (i < 4) {
      inline_templates[i] = std::move(t);
    } else {
      more_templates.push_back(std::move(t));
    }
  }
  store_->WriteBuckets(writes, n);
}

Lease::Lease(BucketWriter* writer, std::shared_ptr<const void> keep_alive, bool noop)
    : writer_(writer),
      keep_alive_(std::move(keep_alive)),
      noop_(noop),
      uncaught_at_start_(std::uncaught_exceptions()) {}

void Lease::AddSlot(const detail::LeaseLimit* limit, const BucketState& state, int64_t consumed) {
  Slot s{limit, state, consumed, consumed};
  if (size_ < kInlineSlots) {
    inline_.slots[size_] = s;
  } else {
    overflow_.push_back(s);
  }
  ++size_;
}

Lease::Lease(Lease&& other) noexcept
    : writer_(other.writer_),
      keep_alive_(std::move(other.keep_alive_)),
      overflow_(std::move(other.overflow_)),
      size_(other.size_),
      noop_(other.noop_),
      done_(other.done_),
      uncaught_at_start_(other.uncaught_at_start_) {
  for (size_t i = 0; i < std::min(size_, kInlineSlots); ++i)
    inline_.slots[i] = other.inline_.slots[i];
  other.done_ = true;
  other.size_ = 0;
}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (!done_) {
      try {
        Commit();
      } catch (...) {
      }
    }
    writer_ = other.writer_;
    keep_alive_ = std::move(other.keep_alive_);
    overflow_ = std::move(other.overflow_);
    size_ = other.size_;
    for (size_t i = 0; i < std::min(size_, kInlineSlots); ++i)
      inline_.slots[i] = other.inline_.slots[i];
    entries_view_.clear();
    noop_ = other.noop_;
    done_ = other.done_;
    uncaught_at_start_ = other.uncaught_at_start_;
    other.done_ = true;
    other.size_ = 0;
  }
  return *this;
}

Lease::~Lease() {
  if (done_) return;
  try {
    const bool rollback = std::uncaught_exceptions() > uncaught_at_start_;
    if (!noop_ && writer_->OnCompletionThread()) {
      // Blocking here would stall the thread that delivers the write.
      FinishAsync(!rollback, nullptr);
    } else if (rollback) {
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

const Lease::Slot* Lease::Find(const std::string& name) const {
  for (size_t i = 0; i < size_; ++i) {
    if (slot(i).limit->name == name) return &slot(i);
  }
  return nullptr;
}

void Lease::CheckNames(const Amounts& amounts, const char* what) const {
  for (const auto& [name, amount] : amounts) {
    if (!Find(name)) {
      throw ValidationError(what, name, "'" + name + "' is not a limit of this lease");
    }
  }
}

namespace {

Limit LimitOf(const detail::LeaseLimit& l, const BucketState& state) {
  return l.limit ? *l.limit : plan::LimitOfState(l.name, state);
}

int64_t AmountOf(const Amounts& amounts, const std::string& name) {
  auto it = amounts.find(name);
  return it == amounts.end() ? 0 : it->second;
}

}  // namespace

std::optional<Denial> Lease::Consume(const Amounts& amounts) {
  CheckActive();
  if (noop_) return std::nullopt;
  for (const auto& [name, amount] : amounts) {
    if (amount < 0) {
      throw ValidationError("consume", name + "=" + std::to_string(amount),
                            "amounts must not be negative");
    }
  }
  CheckNames(amounts, "consume");
  const int64_t now = writer_->clock().NowMs();
  std::vector<LimitStatus> statuses;
  std::vector<ConsumeResult> results;
  bool exceeded = false;
  for (size_t i = 0; i < size_; ++i) {
    const Slot& e = slot(i);
    const int64_t amount = AmountOf(amounts, e.limit->name);
    ConsumeResult r = amount > 0
                          ? TryConsume(e.state, amount, now)
                          : ConsumeResult{true, e.state.tokens_milli, e.state.last_refill_ms, 0};
    statuses.push_back(LimitStatus{e.limit->bucket->entity, e.limit->bucket->resource,
                                   e.limit->name, LimitOf(*e.limit, e.state),
                                   FloorDiv(Refill(e.state, now).tokens_milli, 1000), amount,
                                   !r.success, r.retry_after_seconds});
    exceeded |= !r.success;
    results.push_back(r);
  }
  if (exceeded) return Denial(std::move(statuses));
  for (size_t i = 0; i < size_; ++i) {
    Slot& e = slot(i);
    const int64_t amount = AmountOf(amounts, e.limit->name);
    if (amount == 0) continue;
    e.state.tokens_milli = results[i].tokens_milli;
    e.state.last_refill_ms = results[i].refill_ms;
    e.consumed += amount;
  }
  return std::nullopt;
}

void Lease::ApplyLocal(const Amounts& amounts, bool negate) {
  CheckActive();
  if (noop_) return;
  CheckNames(amounts, "adjust");
  const int64_t now = writer_->clock().NowMs();
  for (size_t i = 0; i < size_; ++i) {
    Slot& e = slot(i);
    const int64_t given = AmountOf(amounts, e.limit->name);
    if (given == 0) continue;
    const int64_t amount = negate ? -given : given;
    const Refilled r = ForceConsume(e.state, amount, now);
    e.state.tokens_milli = r.tokens_milli;
    e.state.last_refill_ms = r.refill_ms;
    e.consumed += amount;
  }
}

void Lease::Adjust(const Amounts& amounts) { ApplyLocal(amounts, false); }
void Lease::Release(const Amounts& amounts) { ApplyLocal(amounts, true); }

namespace {

// One typed write per bucket of the lease, with the limits whose delta is
// not zero; `sink(writes, buckets, n)` gets them (n > 0). A lease has at
// most two buckets (child and parent) in practice; the arrays cover the
// inline slots and spill to vectors beyond.
template <class Slots, class Delta, class Sink>
void BuildDeltaWrites(size_t size, Slots slot, Delta delta, Sink sink) {
  constexpr size_t kInline = 4;
  bool any = false;
  for (size_t i = 0; i < size && !any; ++i) any = delta(slot(i)) != 0;
  if (!any) return;  // a lease committed as acquired writes nothing
  std::vector<BucketLimitDelta> deltas_heap;
  BucketLimitDelta deltas_inline[kInline];
  BucketLimitDelta* deltas = deltas_inline;
  std::vector<BucketWrite> writes_heap;
  std::vector<const detail::LeaseBucket*> buckets_heap;
  BucketWrite writes_inline[kInline];
  const detail::LeaseBucket* buckets_inline[kInline];
  BucketWrite* writes = writes_inline;
  const detail::LeaseBucket** buckets = buckets_inline;
  if (size > kInline) {
    deltas_heap.resize(size);
    deltas = deltas_heap.data();
    writes_heap.resize(size);
    buckets_heap.resize(size);
    writes = writes_heap.data();
    buckets = buckets_heap.data();
  }
  size_t n_writes = 0, n_deltas = 0;
  for (size_t i = 0; i < size; ++i) {
    const detail::LeaseBucket* b = slot(i).limit->bucket;
    bool seen = false;
    for (size_t j = 0; j < n_writes; ++j) seen |= buckets[j] == b;
    if (seen) continue;
    const size_t first = n_deltas;
    for (size_t k = i; k < size; ++k) {
      if (slot(k).limit->bucket != b) continue;
      const int64_t d = delta(slot(k));
      if (d == 0) continue;
      deltas[n_deltas++] = BucketLimitDelta{slot(k).limit->name, ToMilli(d)};
    }
    if (n_deltas == first) continue;
    BucketWrite& w = writes[n_writes];
    w = BucketWrite{};
    w.limits = deltas + first;
    w.limit_count = n_deltas - first;
    buckets[n_writes++] = b;
  }
  if (n_writes > 0) sink(writes, buckets, n_writes);
}

}  // namespace

template <class Delta>
void Lease::WriteDeltas(Delta delta, int64_t events) {
  BuildDeltaWrites(
      size_, [this](size_t i) -> const Slot& { return slot(i); }, delta,
      [&](BucketWrite* writes, const detail::LeaseBucket** buckets, size_t n) {
        writer_->WriteBuckets(writes, buckets, n, events, writer_->clock().NowMs());
      });
}

template <class Delta>
std::vector<WriteOp> Lease::DeltaOps(Delta delta) const {
  std::vector<WriteOp> ops;
  BuildDeltaWrites(
      size_, [this](size_t i) -> const Slot& { return slot(i); }, delta,
      [&](BucketWrite* writes, const detail::LeaseBucket** buckets, size_t n) {
        for (size_t i = 0; i < n; ++i) {
          writes[i].key = &buckets[i]->key;
          ops.push_back(store::BucketWriteAsUpdate(writes[i]));
        }
      });
  return ops;
}

void Lease::Commit() {
  CheckActive();
  DeadlineScope deadline(writer_->timeout());
  if (!noop_) {
    try {
      WriteDeltas([](const Slot& s) { return s.consumed - s.initial; }, 0);
    } catch (const StoreError& e) {
      // The delta may be applied: a retry could apply it twice, a rollback
      // would refund a request whose delta stands. The lease ends.
      if (e.outcome_unknown()) done_ = true;
      throw;
    }
  }
  done_ = true;
}

void Lease::Rollback() {
  CheckActive();
  done_ = true;
  if (noop_) return;
  DeadlineScope deadline(writer_->timeout());
  WriteDeltas([](const Slot& s) { return -s.initial; }, -1);  // the request did not happen
}

void Lease::FinishAsync(bool commit, DoneCallback done) {
  BucketWriter* writer = writer_;
  auto report = [writer](DoneCallback& cb, std::exception_ptr error) {
    if (!cb) return;
    writer->Deliver([cb = std::move(cb), error] { cb(error); });
  };
  if (noop_ || !writer->async_io() || writer->inline_usage()) {
    // Embedded stores (and snapshot transactions) answer inline.
    std::exception_ptr error;
    try {
      if (commit) {
        Commit();
      } else {
        Rollback();
      }
    } catch (...) {
      error = std::current_exception();
      if (commit && active()) {
        try {
          Rollback();  // the promised single rollback of a failed commit
        } catch (...) {
        }
      }
    }
    report(done, error);
    return;
  }
  done_ = true;
  auto delta = [](const Slot& s) { return s.consumed - s.initial; };
  auto refund = [](const Slot& s) { return -s.initial; };
  std::vector<WriteOp> ops = commit ? DeltaOps(delta) : DeltaOps(refund);
  // The write owns what the lease pointed into, so the lease may go.
  std::shared_ptr<const void> keep = std::move(keep_alive_);
  if (ops.empty()) {
    // The common commit (consumed what it acquired) writes nothing: built
    // eagerly, its unused undo was a generic Update per bucket per acquire.
    report(done, nullptr);
    return;
  }
  std::vector<WriteOp> undo = commit ? DeltaOps(refund) : std::vector<WriteOp>{};
  const int64_t now = writer->clock().NowMs();
  // The undo below, sent from the I/O thread, gets a deadline of its own.
  DeadlineScope deadline(writer->timeout());
  writer->WriteAsync(std::move(ops), commit ? 0 : -1, now,
                     [writer, keep, undo = std::move(undo), done = std::move(done), report, now](
                         BucketWriter::Outcome*, std::exception_ptr error) mutable {
                       // A commit whose outcome is unknown may stand: no
                       // refund on top of it (see Commit).
                       if (!error || undo.empty() || IsOutcomeUnknown(error)) {
                         report(done, error);
                         return;
                       }
                       DeadlineScope undo_deadline(writer->timeout());
                       writer->WriteAsync(std::move(undo), -1, now,
                                          [keep, done = std::move(done), report, error](
                                              BucketWriter::Outcome*, std::exception_ptr) mutable {
                                            report(done, error);
                                          });
                     });
}

void Lease::CommitAsync(DoneCallback done) {
  CheckActive();
  FinishAsync(true, std::move(done));
}

void Lease::RollbackAsync(DoneCallback done) {
  CheckActive();
  FinishAsync(false, std::move(done));
}

namespace {

std::future<void> FutureOf(const std::function<void(Lease::DoneCallback)>& start) {
  auto promise = std::make_shared<std::promise<void>>();
  std::future<void> future = promise->get_future();
  start([promise](std::exception_ptr error) {
    if (error) {
      promise->set_exception(error);
    } else {
      promise->set_value();
    }
  });
  return future;
}

}  // namespace

std::future<void> Lease::CommitAsync() {
  return FutureOf([this](DoneCallback done) { CommitAsync(std::move(done)); });
}

std::future<void> Lease::RollbackAsync() {
  return FutureOf([this](DoneCallback done) { RollbackAsync(std::move(done)); });
}

Amounts Lease::consumed() const {
  Amounts out;
  for (size_t i = 0; i < size_; ++i) out[slot(i).limit->name] += slot(i).consumed;
  return out;
}

const std::vector<LeaseEntry>& Lease::entries() const {
  entries_view_.clear();
  for (size_t i = 0; i < size_; ++i) {
    const Slot& s = slot(i);
    const detail::LeaseBucket& b = *s.limit->bucket;
    entries_view_.push_back(LeaseEntry{b.entity, b.resource, LimitOf(*s.limit, s.state), s.state,
                                       s.consumed, s.initial, b.shard});
  }
  return entries_view_;
}

std::vector<LimitStatus> StatusesOf(const Lease& lease, int64_t now_ms) {
  std::vector<LimitStatus> out;
  for (const LeaseEntry& e : lease.entries()) {
    LimitStatus s;
    s.entity_id = e.entity_id;
    s.resource = e.resource;
    s.limit_name = e.limit.name;
    s.limit = e.limit;
    s.available = AvailableTokens(e.state, now_ms);
    s.requested = e.consumed;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace zae

// The asynchronous API (rate_limiter.h, "Asynchronous API"). On stores that
// answer inline (memory) an asynchronous call is the synchronous one
// followed by its callback. On SQLite (async_bucket_writes) a warm acquire
// is one typed write queued for the store's writer thread, which groups the
// queued writes into one transaction; the rest is synchronous, inline. On
// stores with async_io (DynamoDB) a warm acquire is one typed write (or the
// fast path's writes sent with Store::WriteEachAsync) decided on the I/O
// thread (FastFinish without blocking). Whatever needs another store call
// continues on the limiter's WorkPool, where blocking is allowed, with the
// same code the synchronous Acquire runs.
#include <utility>

#include "limiter/rate_limiter_impl.h"
#include "store/bucket_write.h"

namespace zae {

struct RateLimiterImpl::AsyncAcquire {
  // Keeps the limiter (and through it the store) alive until completion.
  std::shared_ptr<RateLimiterImpl> self;
  std::string entity_id, resource;
  Amounts consume;
  AcquireOptions options;
  RateLimiter::AcquireCallback done;
  // From the call's start: continuations on other threads reopen it.
  DeadlineClock::time_point deadline;
};

WorkPool& RateLimiterImpl::pool() {
  std::call_once(pool_once_,
                 [this] { pool_ = std::make_unique<WorkPool>(options_.async_threads); });
  return *pool_;
}

void RateLimiterImpl::FinishAsync(const std::shared_ptr<AsyncAcquire>& op,
                                  std::optional<AcquireResult> result, std::exception_ptr error) {
  writer_->DeliverResult(op->done, std::move(result), error);
}

void RateLimiterImpl::AcquireAsync(const std::string& entity_id, const std::string& resource,
                                   const Amounts& consume, const AcquireOptions& options,
                                   RateLimiter::AcquireCallback done) {
  auto run_inline = [this](const std::string& e, const std::string& r, const Amounts& c,
                           const AcquireOptions& o, const RateLimiter::AcquireCallback& cb) {
    std::optional<AcquireResult> result;
    std::exception_ptr error;
    try {
      result.emplace(Acquire(e, r, c, o));
    } catch (...) {
      error = std::current_exception();
    }
    writer_->DeliverResult(cb, std::move(result), error);
  };
  if (!caps_.async_io && !caps_.async_bucket_writes) {
    run_inline(entity_id, resource, consume, options, done);
    return;
  }
  std::chrono::milliseconds timeout = options_.timeout;
  try {
    if (options.timeout) ValidateTimeout(timeout = *options.timeout);
  } catch (...) {
    writer_->DeliverResult(done, std::optional<AcquireResult>(), std::current_exception());
    return;
  }
  auto op = std::make_shared<AsyncAcquire>(AsyncAcquire{shared_from_this(), entity_id, resource,
                                                        consume, options, std::move(done),
                                                        DeadlineClock::now() + timeout});
  DeadlineScope deadline(op->deadline);  // the fast path's writes, sent from here
  std::optional<FastAttempt> attempt;
  const int64_t now = clock_.NowMs();
  try {
    ValidateAcquire(op->entity_id, op->resource, op->consume, op->options);
    // As the synchronous Acquire decides (acquire.cc).
    if (options_.speculative_writes && !op->options.overdraft) {
      if (WarmAsync(op, now)) return;
      if (caps_.async_io) attempt = FastBegin(op->entity_id, op->resource, op->consume, now);
    }
  } catch (...) {
    FinishAsync(op, std::nullopt, std::current_exception());
    return;
  }
  if (!caps_.async_io) {
    // Only warm writes are queued (SQLite): the rest is the synchronous call.
    run_inline(op->entity_id, op->resource, op->consume, op->options, op->done);
    return;
  }
  if (!attempt) {
    // Cold, expired or cache off: the whole acquire may block.
    ContinueBlocking(std::move(op), nullptr, nullptr, nullptr, false, now);
    return;
  }
  auto shared_attempt = std::make_shared<FastAttempt>(std::move(*attempt));
  std::vector<WriteOp> ops = std::move(shared_attempt->ops);
  writer_->WriteAsync(
      std::move(ops), 1, now,
      [op, shared_attempt, now](BucketWriter::Outcome* out, std::exception_ptr error) {
        op->self->FastWritten(op, shared_attempt, out, error, now);
      });
}

void RateLimiterImpl::FastWritten(const std::shared_ptr<AsyncAcquire>& op,
                                  std::shared_ptr<FastAttempt> attempt, BucketWriter::Outcome* out,
                                  std::exception_ptr error, int64_t now) {
  if (error) {
    // The policy may read the store: decide off the I/O thread.
    ContinueBlocking(op, std::move(attempt), nullptr, error, false, now);
    return;
  }
  bool needs_block = false;
  std::optional<AcquireResult> result;
  try {
    result = FastFinish(*attempt, *out, op->entity_id, op->resource, op->consume,
                        op->options.limits, now, /*may_block=*/false, &needs_block);
  } catch (...) {
    error = std::current_exception();
  }
  if (!error && result) {
    FinishAsync(op, std::move(result), nullptr);
    return;
  }
  // FastFinish runs again off the I/O thread only when it asked to.
  auto outcome = needs_block ? std::make_shared<BucketWriter::Outcome>(std::move(*out)) : nullptr;
  ContinueBlocking(op, std::move(attempt), std::move(outcome), error, needs_block, now);
}

// The state of one typed warm acquire across its round trip.
struct RateLimiterImpl::AsyncWarm {
  static constexpr size_t kMax = kMaxWarmLimits + 1;  // and the hidden wcu limit
  std::shared_ptr<AsyncAcquire> op;
  std::shared_ptr<const WarmBucket> warm;
  size_t app = 0;  // app limits; deltas[app] is wcu when the store shards
  BucketLimitDelta deltas[kMax];
  BucketLimitView views[kMax];
  int64_t amounts[kMax] = {};
  BucketWrite w;
  std::shared_ptr<const std::vector<Update>> usage;  // w's usage templates
  int64_t now = 0;
};

bool RateLimiterImpl::WarmAsync(const std::shared_ptr<AsyncAcquire>& op, int64_t now) {
  // Usage windows ride along on SQLite's queued writes; DynamoDB would
  // write them through the generic (blocking) path, so the fast path does.
  if (options_.config_cache_ttl_seconds <= 0 || op->consume.empty() ||
      (writer_->inline_usage() && caps_.async_io)) {
    return false;
  }
  std::shared_ptr<const WarmBucket> warm = FindWarm(op->entity_id, op->resource);
  if (!warm || warm->verified_until < now) return false;
  auto a = std::make_shared<AsyncWarm>();
  a->op = op;
  a->now = now;
  const size_t n = warm->limits.size();
  if (!WarmDeltas(*warm, op->consume, a->deltas, a->amounts)) return false;
  a->app = n;
  size_t count = n;
  if (caps_.sharding) {
    // The reference's write-capacity limit, as FastUpdate writes it.
    a->deltas[count++] = BucketLimitDelta{kWcuLimitName, 1000, true, 1000, false};
  }
  a->w.limits = a->deltas;
  a->w.limit_count = count;
  a->w.ttl_after = FloorDiv(now, 1000);
  a->w.views = a->views;
  a->usage = writer_->PrepareBucketWrite(a->w, warm->bucket, /*events=*/1, now);
  a->warm = std::move(warm);
  try {
    store_->WriteBucketsAsync(&a->w, 1, [a](std::exception_ptr error) {
      a->op->self->WarmAsyncDone(a, std::move(error));
    });
  } catch (...) {
    FinishAsync(op, std::nullopt, std::current_exception());
  }
  return true;
}

void RateLimiterImpl::WarmAsyncDone(const std::shared_ptr<AsyncWarm>& a, std::exception_ptr error) {
  const WarmBucket& wb = *a->warm;
  const std::shared_ptr<AsyncAcquire>& op = a->op;
  if (!error && a->w.ok()) {
    std::optional<AcquireResult> result;
    try {
      result.emplace(WarmLease(a->warm, a->w, a->views, a->amounts, op->entity_id, op->resource));
    } catch (...) {
      error = std::current_exception();
    }
    if (!error) {
      FinishAsync(op, std::move(result), nullptr);
      return;
    }
  }
  // Anything else is decided exactly as the generic fast path decides: from
  // the item the write saw (rebuilt from its views), or from the error.
  auto attempt = std::make_shared<FastAttempt>();
  FastTarget target{op->entity_id, {}, 0, 1};
  for (size_t i = 0; i < a->app; ++i) target.names.insert(wb.limits[i].name);
  attempt->targets.push_back(std::move(target));
  for (const auto& [name, amount] : op->consume) attempt->consume_names.insert(name);
  attempt->entity_known = true;
  if (error) {
    FastWritten(op, std::move(attempt), nullptr, std::move(error), a->now);
    return;
  }
  BucketWriter::Outcome out;
  WriteResult seen{WriteStatus::kConditionFailed, std::nullopt};
  if (a->w.exists) {
    Item item{{"PK", Value(wb.bucket.key.pk)},
              {"SK", Value(wb.bucket.key.sk)},
              {"rf", Value(a->w.rf)},
              {"shard_count", Value(a->w.shard_count)}};
    for (size_t i = 0; i < a->w.limit_count; ++i) {
      const BucketLimitView& v = a->views[i];
      if (!v.present) continue;
      const std::string_view name = a->deltas[i].name;
      item[store::BucketAttr(name, "tk")] = Value(v.tk);
      item[store::BucketAttr(name, "cp")] = Value(v.cp);
      item[store::BucketAttr(name, "ra")] = Value(v.ra);
      item[store::BucketAttr(name, "rp")] = Value(v.rp);
      if (v.tc) item[store::BucketAttr(name, "tc")] = Value(*v.tc);
    }
    seen.item = std::move(item);
  }
  out.results.push_back(std::move(seen));
  out.applied.push_back(false);
  FastWritten(op, std::move(attempt), &out, nullptr, a->now);
}

void RateLimiterImpl::ContinueBlocking(std::shared_ptr<AsyncAcquire> op,
                                       std::shared_ptr<FastAttempt> attempt,
                                       std::shared_ptr<BucketWriter::Outcome> outcome,
                                       std::exception_ptr error, bool finish_fast, int64_t now) {
  pool().Post([op = std::move(op), attempt = std::move(attempt), outcome = std::move(outcome),
               error, finish_fast, now] {
    RateLimiterImpl& self = *op->self;
    DeadlineScope deadline(op->deadline);
    std::optional<AcquireResult> result;
    std::exception_ptr failure;
    try {
      if (!attempt && !error) {
        result.emplace(self.Acquire(op->entity_id, op->resource, op->consume, op->options));
      } else {
        result = self.UnderPolicy(
            op->options, op->entity_id, op->resource, [&]() -> std::optional<AcquireResult> {
              if (error) std::rethrow_exception(error);
              if (finish_fast) {
                if (auto fast =
                        self.FastFinish(*attempt, *outcome, op->entity_id, op->resource,
                                        op->consume, op->options.limits, now, true, nullptr)) {
                  return fast;
                }
              }
              return self.SlowTail(op->entity_id, op->resource, op->consume, op->options.limits,
                                   now, attempt->targets[0].shard);
            });
      }
    } catch (...) {
      failure = std::current_exception();
    }
    self.FinishAsync(op, std::move(result), failure);
  });
}

void RateLimiterImpl::AvailableAsync(const std::string& entity_id, const std::string& resource,
                                     const std::optional<std::vector<Limit>>& limits,
                                     RateLimiter::AvailableCallback done) {
  auto run = [this](const std::string& e, const std::string& r,
                    const std::optional<std::vector<Limit>>& l,
                    const RateLimiter::AvailableCallback& cb) {
    std::optional<Amounts> available;
    std::exception_ptr error;
    try {
      available = Available(e, r, l);
    } catch (...) {
      error = std::current_exception();
    }
    writer_->DeliverResult(cb, std::move(available), error);
  };
  if (!caps_.async_io) {
    run(entity_id, resource, limits, done);
    return;
  }
  pool().Post([self = shared_from_this(), run, entity_id, resource, limits, done = std::move(done),
               at = DeadlineClock::now() + options_.timeout] {
    DeadlineScope deadline(at);
    run(entity_id, resource, limits, done);
  });
}

}  // namespace zae

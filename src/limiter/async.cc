// The asynchronous API (rate_limiter.h, "Asynchronous API"). On stores that
// answer inline (memory, SQLite) an asynchronous call is the synchronous
// one followed by its callback. On stores with async_io (DynamoDB) a warm
// acquire is the fast path's writes sent with Store::WriteEachAsync and
// decided on the I/O thread (FastFinish without blocking); whatever needs
// another store call continues on the limiter's WorkPool, where blocking
// is allowed, with the same code the synchronous Acquire runs.
#include <utility>

#include "limiter/rate_limiter_impl.h"

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
  if (!caps_.async_io) {
    std::optional<AcquireResult> result;
    std::exception_ptr error;
    try {
      result.emplace(Acquire(entity_id, resource, consume, options));
    } catch (...) {
      error = std::current_exception();
    }
    writer_->DeliverResult(done, std::move(result), error);
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
      attempt = FastBegin(op->entity_id, op->resource, op->consume, now);
    }
  } catch (...) {
    FinishAsync(op, std::nullopt, std::current_exception());
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
        RateLimiterImpl& self = *op->self;
        if (error) {
          // The policy may read the store: decide off the I/O thread.
          self.ContinueBlocking(op, shared_attempt, nullptr, error, false, now);
          return;
        }
        bool needs_block = false;
        std::optional<AcquireResult> result;
        try {
          result = self.FastFinish(*shared_attempt, *out, op->entity_id, op->resource, op->consume,
                                   op->options.limits, now, /*may_block=*/false, &needs_block);
        } catch (...) {
          error = std::current_exception();
        }
        if (!error && result) {
          self.FinishAsync(op, std::move(result), nullptr);
          return;
        }
        // FastFinish runs again off the I/O thread only when it asked to.
        auto outcome =
            needs_block ? std::make_shared<BucketWriter::Outcome>(std::move(*out)) : nullptr;
        self.ContinueBlocking(op, shared_attempt, std::move(outcome), error, needs_block, now);
      });
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

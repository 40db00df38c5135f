#include "aws/client.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <random>
#include <thread>

#include "core/deadline.h"

namespace zae::aws {
namespace {

using Clock = std::chrono::steady_clock;

bool Retryable(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& err) {
    return err.retryable();
  } catch (...) {
    return false;
  }
}

bool IsThrottle(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const Throttled&) {
    return true;
  } catch (...) {
    return false;
  }
}

// "https://host:port/..." -> "host:port"; the Host header we sign is the
// one the transport sends (it adds none of its own).
std::string HostOf(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t end = url.find('/', start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string StripSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

void AddCapacity(std::vector<ConsumedCapacity>& to, std::vector<ConsumedCapacity>&& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

struct DynamoClient::Pending {
  Op op;
  std::string body;
  int attempt = 0;
  bool send_once = false;  // IsSendOnceOp
  Clock::time_point deadline;
  RawCallback done;
  // Itself while an attempt is out: the transport's callback then holds a
  // plain pointer, which std::function keeps without an allocation, and
  // takes this back (the transport runs every callback exactly once).
  std::shared_ptr<Pending> self;
};

ClientConfig ClientConfig::For(const std::string& endpoint, const std::string& region,
                               const std::string& access_key_id,
                               const std::string& secret_access_key,
                               const std::string& session_token) {
  ClientConfig config;
  config.endpoint = endpoint;
  config.region = region;
  if (!access_key_id.empty()) {
    Credentials c;
    c.access_key_id = access_key_id;
    c.secret_access_key = secret_access_key;
    c.session_token = session_token;
    config.credentials = std::make_shared<StaticCredentials>(std::move(c));
  }
  return config;
}

ClientConfig ClientConfig::Resolve(const Env& env) const {
  ClientConfig c = *this;
  const bool explicit_endpoint = !c.endpoint.empty();
  if (c.endpoint.empty()) {
    c.endpoint = env("AWS_ENDPOINT_URL_DYNAMODB")
                     .value_or(env("AWS_ENDPOINT_URL")
                                   .value_or(ConfigFileValue(env, "endpoint_url").value_or("")));
  }
  if (c.region.empty()) {
    c.region =
        env("AWS_REGION")
            .value_or(
                env("AWS_DEFAULT_REGION").value_or(ConfigFileValue(env, "region").value_or("")));
  }
  if (c.region.empty()) {
    if (c.endpoint.empty()) {
      throw ConfigError("no AWS region (set AWS_REGION or region in the config file)");
    }
    c.region = "us-east-1";  // only used in the signature scope of a custom endpoint
  }
  if (c.streams_endpoint.empty()) {
    if (!c.endpoint.empty()) {
      c.streams_endpoint = env("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").value_or(c.endpoint);
    } else {
      c.streams_endpoint = "https://streams.dynamodb." + c.region + ".amazonaws.com";
    }
  }
  if (c.endpoint.empty()) c.endpoint = "https://dynamodb." + c.region + ".amazonaws.com";
  (void)explicit_endpoint;
  c.endpoint = StripSlash(c.endpoint);
  c.streams_endpoint = StripSlash(c.streams_endpoint);
  if (!c.credentials) c.credentials = DefaultCredentialsChain(env);
  if (c.max_attempts < 1) c.max_attempts = 1;
  return c;
}

OpStats MetricsSnapshot::Total() const {
  OpStats t;
  for (const auto& s : ops) {
    t.calls += s.calls;
    t.attempts += s.attempts;
    t.errors += s.errors;
    t.throttles += s.throttles;
    t.read_units += s.read_units;
    t.write_units += s.write_units;
  }
  return t;
}

namespace {

uint64_t NextClientId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// The credentials one thread last signed with for a client, kept for a
// second (for the last few clients the thread served). Asking the provider
// on every attempt cost three environment scans and three copies of the
// keys per request (EnvCredentials); a provider's own cache refreshes
// minutes before expiry, and a change to the environment is seen within
// the second. Expired credentials are never reused. The copies are wiped
// when the thread ends, as the signing key's is.
struct ThreadCredentials {
  struct Entry {
    uint64_t client = 0;
    std::chrono::steady_clock::time_point until;
    Credentials credentials;
  };
  std::array<Entry, 4> entries;
  size_t next = 0;  // the entry a new client takes
  ~ThreadCredentials() {
    for (Entry& e : entries) {
      OPENSSL_cleanse(e.credentials.secret_access_key.data(),
                      e.credentials.secret_access_key.size());
      OPENSSL_cleanse(e.credentials.session_token.data(), e.credentials.session_token.size());
    }
  }
};

}  // namespace

const Credentials& DynamoClient::CurrentCredentials(std::chrono::steady_clock::time_point now) {
  thread_local ThreadCredentials cache;
  ThreadCredentials::Entry* e = nullptr;
  for (auto& candidate : cache.entries) {
    if (candidate.client == id_) e = &candidate;
  }
  if (e == nullptr) {
    e = &cache.entries[cache.next];
    cache.next = (cache.next + 1) % cache.entries.size();
  }
  if (e->client != id_ || now >= e->until ||
      (e->credentials.expiration &&
       std::chrono::system_clock::now() >= *e->credentials.expiration)) {
    e->client = 0;
    e->credentials = config_.credentials->Get();  // may throw
    e->client = id_;
    e->until = now + std::chrono::seconds(1);
  }
  return e->credentials;
}

DynamoClient::DynamoClient(ClientConfig config)
    : config_(config.Resolve()),
      id_(NextClientId()),
      host_(HostOf(config_.endpoint)),
      streams_host_(HostOf(config_.streams_endpoint)),
      http_(std::make_unique<HttpClient>(config_.http)) {}

DynamoClient::~DynamoClient() { http_.reset(); }

void DynamoClient::Submit(Op op, std::string body, RawCallback done) {
  counters_[static_cast<size_t>(op)].calls.fetch_add(1, std::memory_order_relaxed);
  auto p = std::make_shared<Pending>();
  p->op = op;
  p->body = std::move(body);
  p->send_once = IsSendOnceOp(op);
  // The limiter call's deadline (core/deadline.h) bounds the client's own.
  p->deadline = std::min(Clock::now() + config_.call_timeout, CurrentDeadline());
  p->done = std::move(done);
  Attempt(std::move(p), Clock::now());
}

void DynamoClient::Attempt(std::shared_ptr<Pending> p, Clock::time_point at) {
  const bool streams = IsStreamsOp(p->op);
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(p->deadline - at);
  // An attempt with a millisecond or two left could not be answered in time;
  // sent, it would only leave a write's outcome unknown.
  if (remaining.count() < 2) {
    counters_[static_cast<size_t>(p->op)].errors.fetch_add(1, std::memory_order_relaxed);
    p->done({}, std::make_exception_ptr(
                    Timeout(std::string(OpName(p->op)) + ": call deadline exceeded")));
    return;
  }
  auto fail = [&](std::exception_ptr e) {
    counters_[static_cast<size_t>(p->op)].errors.fetch_add(1, std::memory_order_relaxed);
    p->done({}, std::move(e));
  };
  const Credentials* creds = nullptr;
  try {
    creds = &CurrentCredentials(at);
  } catch (...) {
    fail(std::current_exception());
    return;
  }
  HttpRequest req;
  req.headers.reserve(6);
  req.headers.emplace_back("Host", streams ? streams_host_ : host_);
  req.headers.emplace_back("Content-Type", "application/x-amz-json-1.0");
  req.headers.emplace_back("X-Amz-Target", TargetHeader(p->op));
  req.body = std::move(p->body);  // handed back in the result (OnResult)
  req.send_once = p->send_once;
  auto wall = std::chrono::system_clock::now() +
              std::chrono::duration_cast<std::chrono::system_clock::duration>(
                  std::max(Clock::duration::zero(), at - Clock::now()));
  try {
    SignRequestInPlace(req, *creds, config_.region, "dynamodb", wall);
  } catch (const std::runtime_error& e) {
    // Only a misconfigured OpenSSL gets here; keep the error typed.
    fail(std::make_exception_ptr(ConfigError(e.what())));
    return;
  }
  counters_[static_cast<size_t>(p->op)].attempts.fetch_add(1, std::memory_order_relaxed);
  auto timeout = std::min(config_.request_timeout, remaining);
  Pending* out = p.get();
  out->self = std::move(p);
  http_->Send(
      streams ? config_.streams_endpoint : config_.endpoint, std::move(req), timeout,
      [this, out](HttpResult&& r) { OnResult(std::move(out->self), std::move(r)); }, at);
}

void DynamoClient::OnResult(std::shared_ptr<Pending> p, HttpResult&& r) {
  p->body = std::move(r.request_body);  // for a retry
  Counters& c = counters_[static_cast<size_t>(p->op)];
  if (r.transport_ok && r.status == 200) {
    p->done(std::move(r.body), nullptr);
    return;
  }
  std::exception_ptr error;
  bool retry = !r.cancelled;
  if (!r.transport_ok) {
    std::string what = std::string(OpName(p->op)) + ": " + r.error;
    if (p->send_once && r.maybe_sent) {
      // Resending could apply it twice; the store finds out instead.
      error = std::make_exception_ptr(OutcomeUnknown(what, 0));
      retry = false;
    } else {
      error = r.timed_out ? std::make_exception_ptr(Timeout(what))
                          : std::make_exception_ptr(NetworkError(what));
    }
  } else {
    error = ErrorFromResponse(r.status, r.body, p->op, r.error_type);
    retry = Retryable(error);
    if (IsThrottle(error)) c.throttles.fetch_add(1, std::memory_order_relaxed);
    if (p->send_once && r.status >= 500) {
      // A 5xx does not say the write was not applied (an InternalServerError
      // may come after it was).
      std::string what;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        what = e.what();
      }
      error = std::make_exception_ptr(OutcomeUnknown(what, static_cast<int>(r.status)));
      retry = false;
    }
  }
  if (retry && p->attempt + 1 < config_.max_attempts) {
    auto at = Clock::now() + Backoff(p->attempt);
    if (at < p->deadline) {
      ++p->attempt;
      Attempt(std::move(p), at);
      return;
    }
  }
  c.errors.fetch_add(1, std::memory_order_relaxed);
  p->done({}, error);
}

std::chrono::milliseconds DynamoClient::Backoff(int attempt) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t cap = config_.base_backoff.count() << std::min(attempt, 20);
  cap = std::min<int64_t>(cap, config_.max_backoff.count());
  std::uniform_int_distribution<int64_t> dist(0, std::max<int64_t>(cap, 0));
  return std::chrono::milliseconds(dist(rng));
}

void DynamoClient::RecordCapacity(Op op, const std::vector<ConsumedCapacity>& capacity) {
  Counters& c = counters_[static_cast<size_t>(op)];
  double read = 0, write = 0;
  for (const auto& cc : capacity) {
    if (cc.read_units == 0 && cc.write_units == 0) {
      (IsReadOp(op) ? read : write) += cc.capacity_units;
    } else {
      read += cc.read_units;
      write += cc.write_units;
    }
  }
  if (read != 0) c.read_units.fetch_add(read, std::memory_order_relaxed);
  if (write != 0) c.write_units.fetch_add(write, std::memory_order_relaxed);
}

MetricsSnapshot DynamoClient::Metrics() const {
  MetricsSnapshot s;
  for (int i = 0; i < kOpCount; ++i) {
    const Counters& c = counters_[i];
    OpStats& o = s.ops[i];
    o.calls = c.calls.load(std::memory_order_relaxed);
    o.attempts = c.attempts.load(std::memory_order_relaxed);
    o.errors = c.errors.load(std::memory_order_relaxed);
    o.throttles = c.throttles.load(std::memory_order_relaxed);
    o.read_units = c.read_units.load(std::memory_order_relaxed);
    o.write_units = c.write_units.load(std::memory_order_relaxed);
  }
  return s;
}

void DynamoClient::ResetMetrics() {
  for (Counters& c : counters_) {
    c.calls = 0;
    c.attempts = 0;
    c.errors = 0;
    c.throttles = 0;
    c.read_units = 0;
    c.write_units = 0;
  }
}

void DynamoClient::RefuseOnIoThread(Op op) {
  if (OnIoThread()) {
    throw Error("SyncCallOnIoThread",
                std::string("DynamoDB ") + OpName(op) +
                    ": a synchronous call inside a completion callback would deadlock its I/O "
                    "thread; use the asynchronous form",
                0, false);
  }
}

void DynamoClient::ExecuteAllAsync(std::vector<Request> requests,
                                   std::function<void(std::vector<Result>&&)> done) {
  if (requests.empty()) {
    done({});
    return;
  }
  struct Join {
    std::vector<Result> results;
    std::atomic<size_t> left;
    std::function<void(std::vector<Result>&&)> done;
  };
  auto join = std::make_shared<Join>();
  join->results.resize(requests.size());
  join->left = requests.size();
  join->done = std::move(done);
  for (size_t i = 0; i < requests.size(); ++i) {
    std::visit(
        [&, i](auto& req) {
          using Req = std::decay_t<decltype(req)>;
          using Resp = typename OpTraits<Req>::Response;
          Async<Req>(std::move(req), [join, i](Resp* r, std::exception_ptr e) {
            if (e) {
              join->results[i].error = e;
            } else {
              join->results[i].response = std::move(*r);
            }
            if (join->left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
              join->done(std::move(join->results));
            }
          });
        },
        requests[i]);
  }
}

std::vector<Result> DynamoClient::ExecuteAll(std::vector<Request> requests) {
  if (!requests.empty()) {
    RefuseOnIoThread(std::visit(
        [](const auto& r) { return OpTraits<std::decay_t<decltype(r)>>::kOp; }, requests[0]));
  }
  std::vector<Result> results(requests.size());
  std::latch done(static_cast<std::ptrdiff_t>(requests.size()));
  for (size_t i = 0; i < requests.size(); ++i) {
    std::visit(
        [&, i](auto& req) {
          using Req = std::decay_t<decltype(req)>;
          using Resp = typename OpTraits<Req>::Response;
          Async<Req>(std::move(req), [&results, &done, i](Resp* r, std::exception_ptr e) {
            if (e) {
              results[i].error = e;
            } else {
              results[i].response = std::move(*r);
            }
            done.count_down();
          });
        },
        requests[i]);
  }
  done.wait();
  return results;
}

BatchWriteItemResponse DynamoClient::BatchWriteItem(BatchWriteItemRequest r) {
  BatchWriteItemResponse total;
  for (int round = 0;; ++round) {
    BatchWriteItemResponse resp = Async(r).get();
    AddCapacity(total.consumed_capacity, std::move(resp.consumed_capacity));
    if (resp.unprocessed_items.empty() || round + 1 >= config_.max_batch_rounds) {
      total.unprocessed_items = std::move(resp.unprocessed_items);
      return total;
    }
    std::this_thread::sleep_for(Backoff(round));
    r.request_items = std::move(resp.unprocessed_items);
  }
}

BatchGetItemResponse DynamoClient::BatchGetItem(BatchGetItemRequest r) {
  BatchGetItemResponse total;
  for (int round = 0;; ++round) {
    BatchGetItemResponse resp = Async(r).get();
    for (auto& [table, items] : resp.responses) {
      auto& to = total.responses[table];
      to.insert(to.end(), std::make_move_iterator(items.begin()),
                std::make_move_iterator(items.end()));
    }
    AddCapacity(total.consumed_capacity, std::move(resp.consumed_capacity));
    if (resp.unprocessed_keys.empty() || round + 1 >= config_.max_batch_rounds) {
      total.unprocessed_keys = std::move(resp.unprocessed_keys);
      return total;
    }
    std::this_thread::sleep_for(Backoff(round));
    r.request_items = std::move(resp.unprocessed_keys);
  }
}

namespace {

// Reads pages with `read` until the last one or `max_items`, summing counts
// and capacity (Query and Scan page alike).
template <class Request, class Response, class Read>
Response ReadAllPages(Request r, size_t max_items, Read read) {
  Response total;
  for (;;) {
    Response page = read(r);
    total.count += page.count;
    total.scanned_count += page.scanned_count;
    total.items.insert(total.items.end(), std::make_move_iterator(page.items.begin()),
                       std::make_move_iterator(page.items.end()));
    AddCapacity(total.consumed_capacity, std::move(page.consumed_capacity));
    total.last_evaluated_key = std::move(page.last_evaluated_key);
    if (!total.last_evaluated_key || total.items.size() >= max_items) return total;
    r.exclusive_start_key = total.last_evaluated_key;
  }
}

}  // namespace

QueryResponse DynamoClient::QueryAll(QueryRequest r, size_t max_items) {
  return ReadAllPages<QueryRequest, QueryResponse>(
      std::move(r), max_items, [this](const QueryRequest& q) { return Query(q); });
}

ScanResponse DynamoClient::ScanAll(ScanRequest r, size_t max_items) {
  return ReadAllPages<ScanRequest, ScanResponse>(std::move(r), max_items,
                                                 [this](const ScanRequest& q) { return Scan(q); });
}

void DynamoClient::WaitForTable(const std::string& table_name, bool until_deleted,
                                std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (int i = 0;; ++i) {
    try {
      auto t = DescribeTable({table_name}).table;
      bool indexes_ready = true;  // GSI status is not parsed; ACTIVE covers creation
      if (!until_deleted && t.table_status == "ACTIVE" && indexes_ready) return;
    } catch (const ResourceNotFound&) {
      if (until_deleted) return;
    }
    if (Clock::now() > deadline) throw Timeout("table " + table_name + " not ready in time");
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50 << std::min(i, 4), 1000)));
  }
}

}  // namespace zae::aws

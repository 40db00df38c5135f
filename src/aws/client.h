// DynamoClient: the DynamoDB and DynamoDB Streams client.
//
// Every operation exists in three forms, all sharing one pool of I/O threads:
//   - synchronous:  client.PutItem(req) returns the response or throws;
//   - future:       client.Async(req) returns std::future<Response>;
//   - batch:        client.ExecuteAll({req1, req2, ...}) sends all at once and
//                   waits for all, so two writes cost one round trip.
// Requests are signed, sent over kept-alive connections (http.h) and
// retried when retryable (throttling, 5xx, network, timeout, and
// TransactionConflict outside transactions) with capped exponential backoff
// and full jitter, within max_attempts and the per-call deadline
// call_timeout. TransactionCanceled and ConditionalCheckFailed are never
// retried: they are answers, not failures.
//
// The synchronous BatchGetItem/BatchWriteItem re-send unprocessed keys/items
// with backoff for up to max_batch_rounds and return what is still left;
// QueryAll/ScanAll follow pagination. Async/ExecuteAll send one request.
//
// Thread safety: all methods may be called concurrently from any thread.
// Never call a synchronous method, or wait on a future, from inside an Async
// callback (it runs on an I/O thread). Destroying the client fails requests
// still in flight with aws::NetworkError.
// Ownership: the client owns its I/O threads; the credentials provider is
// shared.
// Errors: all failures are aws::Error subclasses (aws/errors.h), themselves
// zae::StoreError.
#ifndef ZAE_AWS_CLIENT_H_
#define ZAE_AWS_CLIENT_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "aws/credentials.h"
#include "aws/errors.h"
#include "aws/http.h"
#include "aws/model.h"
#include "aws/protocol.h"

namespace zae::aws {

struct ClientConfig {
  // Empty fields are resolved by Resolve(): endpoint from AWS_ENDPOINT_URL_DYNAMODB,
  // AWS_ENDPOINT_URL, the profile's endpoint_url, else the regional AWS endpoint;
  // region from AWS_REGION, AWS_DEFAULT_REGION, the profile's region (us-east-1
  // if an endpoint was given explicitly); credentials from
  // DefaultCredentialsChain().
  std::string endpoint;          // e.g. "http://127.0.0.1:8000"
  std::string streams_endpoint;  // default: endpoint if custom, else streams.dynamodb.<region>
  std::string region;
  std::shared_ptr<CredentialsProvider> credentials;

  HttpOptions http;
  std::chrono::milliseconds request_timeout{5000};  // one attempt
  std::chrono::milliseconds call_timeout{20000};    // all attempts and backoff
  int max_attempts = 8;
  std::chrono::milliseconds base_backoff{25};
  std::chrono::milliseconds max_backoff{2000};
  int max_batch_rounds = 8;
  std::string default_return_consumed_capacity = "TOTAL";  // "" to leave it out

  // A copy with every empty field filled in. Throws aws::ConfigError.
  ClientConfig Resolve(const Env& env = ProcessEnv()) const;

  // For `endpoint` and `region` (either may be empty), with static
  // credentials when `access_key_id` is set, else the default chain.
  static ClientConfig For(const std::string& endpoint, const std::string& region,
                          const std::string& access_key_id, const std::string& secret_access_key,
                          const std::string& session_token);
};

// Counters of one operation since creation or the last ResetMetrics().
struct OpStats {
  uint64_t calls = 0;      // logical calls (a retried call counts once)
  uint64_t attempts = 0;   // HTTP requests sent
  uint64_t errors = 0;     // calls that ended in an error
  uint64_t throttles = 0;  // throttling responses, retried or not
  double read_units = 0;   // consumed RCU reported by the service
  double write_units = 0;  // consumed WCU
};
struct MetricsSnapshot {
  std::array<OpStats, kOpCount> ops{};  // indexed by Op
  const OpStats& of(Op op) const { return ops[static_cast<size_t>(op)]; }
  OpStats Total() const;
};

using Request = std::variant<GetItemRequest, PutItemRequest, UpdateItemRequest, DeleteItemRequest,
                             BatchGetItemRequest, BatchWriteItemRequest, QueryRequest, ScanRequest,
                             TransactWriteItemsRequest, TransactGetItemsRequest, CreateTableRequest,
                             DescribeTableRequest, DeleteTableRequest, ListTablesRequest,
                             UpdateTimeToLiveRequest, ListStreamsRequest, DescribeStreamRequest,
                             GetShardIteratorRequest, GetRecordsRequest>;
using Response =
    std::variant<std::monostate, GetItemResponse, PutItemResponse, UpdateItemResponse,
                 DeleteItemResponse, BatchGetItemResponse, BatchWriteItemResponse, QueryResponse,
                 ScanResponse, TransactWriteItemsResponse, TransactGetItemsResponse,
                 CreateTableResponse, DescribeTableResponse, DeleteTableResponse,
                 ListTablesResponse, UpdateTimeToLiveResponse, ListStreamsResponse,
                 DescribeStreamResponse, GetShardIteratorResponse, GetRecordsResponse>;

// One outcome of ExecuteAll: a response of the request's type, or an error.
struct Result {
  Response response;
  std::exception_ptr error;
  bool ok() const { return !error; }
  // The response, or rethrows the error.
  template <class T>
  T& get() {
    if (error) std::rethrow_exception(error);
    return std::get<T>(response);
  }
};

class DynamoClient {
 public:
  // Resolves the config (see ClientConfig::Resolve). Throws aws::ConfigError.
  explicit DynamoClient(ClientConfig config);
  ~DynamoClient();
  DynamoClient(const DynamoClient&) = delete;
  DynamoClient& operator=(const DynamoClient&) = delete;

  // The synchronous forms throw aws::Error (a StoreError) when called on an
  // I/O thread, where waiting would deadlock the thread that must deliver.
  GetItemResponse GetItem(GetItemRequest r) { return Async(std::move(r)).get(); }
  PutItemResponse PutItem(PutItemRequest r) { return Async(std::move(r)).get(); }
  UpdateItemResponse UpdateItem(UpdateItemRequest r) { return Async(std::move(r)).get(); }
  DeleteItemResponse DeleteItem(DeleteItemRequest r) { return Async(std::move(r)).get(); }
  BatchGetItemResponse BatchGetItem(BatchGetItemRequest r);        // retries unprocessed
  BatchWriteItemResponse BatchWriteItem(BatchWriteItemRequest r);  // retries unprocessed
  QueryResponse Query(QueryRequest r) { return Async(std::move(r)).get(); }
  ScanResponse Scan(ScanRequest r) { return Async(std::move(r)).get(); }
  TransactWriteItemsResponse TransactWriteItems(TransactWriteItemsRequest r) {
    return Async(std::move(r)).get();
  }
  TransactGetItemsResponse TransactGetItems(TransactGetItemsRequest r) {
    return Async(std::move(r)).get();
  }
  CreateTableResponse CreateTable(CreateTableRequest r) { return Async(std::move(r)).get(); }
  DescribeTableResponse DescribeTable(DescribeTableRequest r) { return Async(std::move(r)).get(); }
  DeleteTableResponse DeleteTable(DeleteTableRequest r) { return Async(std::move(r)).get(); }
  ListTablesResponse ListTables(ListTablesRequest r) { return Async(std::move(r)).get(); }
  UpdateTimeToLiveResponse UpdateTimeToLive(UpdateTimeToLiveRequest r) {
    return Async(std::move(r)).get();
  }
  ListStreamsResponse ListStreams(ListStreamsRequest r) { return Async(std::move(r)).get(); }
  DescribeStreamResponse DescribeStream(DescribeStreamRequest r) {
    return Async(std::move(r)).get();
  }
  GetShardIteratorResponse GetShardIterator(GetShardIteratorRequest r) {
    return Async(std::move(r)).get();
  }
  GetRecordsResponse GetRecords(GetRecordsRequest r) { return Async(std::move(r)).get(); }

  // All pages (until no LastEvaluatedKey or at least max_items items).
  QueryResponse QueryAll(QueryRequest r, size_t max_items = std::numeric_limits<size_t>::max());
  ScanResponse ScanAll(ScanRequest r, size_t max_items = std::numeric_limits<size_t>::max());
  // Polls DescribeTable until the table is ACTIVE (or gone, for deletes).
  void WaitForTable(const std::string& table_name, bool until_deleted = false,
                    std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // Sends one request; `done` runs on an I/O thread with the response or error.
  template <class Req>
  void Async(Req req,
             std::function<void(typename OpTraits<Req>::Response*, std::exception_ptr)> done);

  // Throws aws::Error on an I/O thread: a future is made to be waited on.
  template <class Req>
  std::future<typename OpTraits<Req>::Response> Async(Req req) {
    using Resp = typename OpTraits<Req>::Response;
    RefuseOnIoThread(OpTraits<Req>::kOp);
    auto promise = std::make_shared<std::promise<Resp>>();
    auto future = promise->get_future();
    Async<Req>(std::move(req), [promise](Resp* r, std::exception_ptr e) {
      if (e) {
        promise->set_exception(e);
      } else {
        promise->set_value(std::move(*r));
      }
    });
    return future;
  }

  // The lean form of Async for a caller that writes the JSON body itself
  // and reads only what it needs of the answer (the DynamoDB store's typed
  // bucket writes): `body` is sent as `op` with the same signing, retries,
  // deadline and error mapping; `done` runs on an I/O thread with the raw
  // 200 body or the error. The caller parses the body, and reports the
  // ConsumedCapacity it found with RecordWriteUnits.
  using RawDone = std::function<void(std::string&& body, std::exception_ptr error)>;
  void AsyncRaw(Op op, std::string body, RawDone done) {
    Submit(op, std::move(body), std::move(done));
  }
  void RecordCapacityUnits(Op op, double capacity_units) {
    RecordCapacity(op, {ConsumedCapacity{{}, capacity_units, 0, 0}});
  }

  // Sends every request concurrently and waits for all; results in order.
  std::vector<Result> ExecuteAll(std::vector<Request> requests);
  // Sends every request concurrently; `done` runs once, on an I/O thread,
  // with all the results in order (inline when `requests` is empty).
  void ExecuteAllAsync(std::vector<Request> requests,
                       std::function<void(std::vector<Result>&& results)> done);

  MetricsSnapshot Metrics() const;
  void ResetMetrics();
  const ClientConfig& config() const { return config_; }

 private:
  using RawCallback = std::function<void(std::string&& body, std::exception_ptr error)>;
  struct Pending;
  struct Counters {
    std::atomic<uint64_t> calls{0}, attempts{0}, errors{0}, throttles{0};
    std::atomic<double> read_units{0}, write_units{0};
  };

  void Submit(Op op, std::string body, RawCallback done);
  static void RefuseOnIoThread(Op op);
  void Attempt(std::shared_ptr<Pending> p, std::chrono::steady_clock::time_point at);
  void OnResult(std::shared_ptr<Pending> p, HttpResult&& r);
  void RecordCapacity(Op op, const std::vector<ConsumedCapacity>& capacity);
  std::chrono::milliseconds Backoff(int attempt) const;
  const Credentials& CurrentCredentials(std::chrono::steady_clock::time_point now);

  ClientConfig config_;
  const uint64_t id_;  // names this client in per-thread caches (an address may be reused)
  std::string host_, streams_host_;
  std::array<Counters, kOpCount> counters_;
  std::unique_ptr<HttpClient> http_;  // last: destroyed first, before the state it calls
};

template <class Req>
void DynamoClient::Async(
    Req req, std::function<void(typename OpTraits<Req>::Response*, std::exception_ptr)> done) {
  using Resp = typename OpTraits<Req>::Response;
  constexpr Op op = OpTraits<Req>::kOp;
  if constexpr (requires { req.return_consumed_capacity; }) {
    if (req.return_consumed_capacity.empty()) {
      req.return_consumed_capacity = config_.default_return_consumed_capacity;
    }
  }
  Submit(op, Serialize(req),
         [this, done = std::move(done)](std::string&& body, std::exception_ptr error) {
           if (error) {
             done(nullptr, error);
             return;
           }
           Resp resp;
           try {
             Parse(body, &resp);
           } catch (const std::exception& e) {
             // A 200 was applied whatever its body says; unreadable, the
             // outcome of a send-once write is unknown, not an error.
             if (IsSendOnceOp(op)) {
               done(nullptr,
                    std::make_exception_ptr(OutcomeUnknown(
                        std::string(OpName(op)) + ": unreadable answer: " + e.what(), 200)));
             } else {
               done(nullptr, std::current_exception());
             }
             return;
           }
           if constexpr (requires { resp.consumed_capacity; }) {
             RecordCapacity(op, resp.consumed_capacity);
           }
           done(&resp, nullptr);
         });
}

}  // namespace zae::aws

#endif  // ZAE_AWS_CLIENT_H_

// Typed failures of the DynamoDB client.
//
// Every failure derives from aws::Error, itself a zae::StoreError, so the store
// layer can treat any client failure as "store unavailable" and still catch
// the few it handles itself (ConditionalCheckFailed, TransactionCanceled).
// retryable() is true for the kinds the client's own retry loop repeats; when
// such an error reaches the caller, the retry budget or deadline ran out.
//
// Messages carry the service's error code and message text, never request
// headers, credentials or item contents.
// Thread safety: immutable values; safe to share.
#ifndef ZAE_AWS_ERRORS_H_
#define ZAE_AWS_ERRORS_H_

#include <optional>
#include <string>
#include <vector>

#include "aws/attribute_value.h"
#include "zae/errors.h"

namespace zae::aws {

class Error : public StoreError {
 public:
  // code: the short `__type` name (e.g. "ValidationException") or a client
  // code such as "NetworkError"; status: HTTP status, 0 if none was received.
  Error(std::string code, std::string message, int status, bool retryable,
        bool outcome_unknown = false)
      : StoreError(code + ": " + message, retryable, outcome_unknown),
        code_(std::move(code)),
        status_(status) {}
  const std::string& code() const { return code_; }
  int http_status() const { return status_; }

 private:
  std::string code_;
  int status_;
};

// The condition of a Put/Update/Delete failed. item() is the old item when the
// request set ReturnValuesOnConditionCheckFailure=ALL_OLD and the item existed.
class ConditionalCheckFailed : public Error {
 public:
  ConditionalCheckFailed(std::string message, std::optional<Item> item)
      : Error("ConditionalCheckFailedException", std::move(message), 400, false),
        item_(std::move(item)) {}
  const std::optional<Item>& item() const { return item_; }

 private:
  std::optional<Item> item_;
};

// One entry per action of the transaction, in request order. code is "None"
// for actions that did not cause the cancellation.
struct CancellationReason {
  std::string code;
  std::string message;
  std::optional<Item> item;
};

class TransactionCanceled : public Error {
 public:
  TransactionCanceled(std::string message, std::vector<CancellationReason> reasons)
      : Error("TransactionCanceledException", std::move(message), 400, false),
        reasons_(std::move(reasons)) {}
  const std::vector<CancellationReason>& reasons() const { return reasons_; }

 private:
  std::vector<CancellationReason> reasons_;
};

// ThrottlingException, ProvisionedThroughputExceededException,
// RequestLimitExceeded, LimitExceededException: code() tells which.
class Throttled : public Error {
 public:
  Throttled(std::string code, std::string message, int status)
      : Error(std::move(code), std::move(message), status, true) {}
};

class TransactionConflict : public Error {
 public:
  TransactionConflict(std::string message, bool retryable)
      : Error("TransactionConflictException", std::move(message), 400, retryable) {}
};

class ResourceNotFound : public Error {
 public:
  explicit ResourceNotFound(std::string message)
      : Error("ResourceNotFoundException", std::move(message), 400, false) {}
};

class ResourceInUse : public Error {
 public:
  explicit ResourceInUse(std::string message)
      : Error("ResourceInUseException", std::move(message), 400, false) {}
};

// ValidationException and other 4xx the caller must fix (SerializationException,
// UnrecognizedClientException, AccessDeniedException...): code() tells which.
class InvalidRequest : public Error {
 public:
  InvalidRequest(std::string code, std::string message, int status)
      : Error(std::move(code), std::move(message), status, false) {}
};

// Streams: the iterator expired or its records were trimmed.
class ExpiredIterator : public Error {
 public:
  ExpiredIterator(std::string code, std::string message)
      : Error(std::move(code), std::move(message), 400, false) {}
};

// InternalServerError, ServiceUnavailable or any 5xx.
class ServerError : public Error {
 public:
  ServerError(std::string code, std::string message, int status)
      : Error(std::move(code), std::move(message), status, true) {}
};

// No HTTP response: DNS, connect, TLS, reset.
class NetworkError : public Error {
 public:
  explicit NetworkError(std::string message) : Error("NetworkError", std::move(message), 0, true) {}
};

// An attempt hit the request timeout, or the call hit its deadline.
class Timeout : public Error {
 public:
  explicit Timeout(std::string message) : Error("Timeout", std::move(message), 0, true) {}
};

// A write that may not be sent twice (PutItem, UpdateItem: their ADDs and
// conditions are not idempotent) failed after it may have reached DynamoDB:
// the connection was lost or timed out after sending, the answer was a 5xx,
// or a 200 whose body could not be read. Whether it was applied is unknown;
// the client did not resend it (the store resolves it, dynamodb_store.cc).
class OutcomeUnknown : public Error {
 public:
  OutcomeUnknown(std::string message, int status)
      : Error("OutcomeUnknown", std::move(message), status, false, /*outcome_unknown=*/true) {}
};

// The response was not what the protocol promises (bad JSON, wrong types), or
// a 4xx without an error code; status: its HTTP status, 0 for a bad 200 body.
class InvalidResponse : public Error {
 public:
  explicit InvalidResponse(std::string message, int status = 0)
      : Error("InvalidResponse", std::move(message), status, false) {}
};

// An AttributeValue accessor was used on the wrong type or a non-integer N.
class TypeMismatch : public Error {
 public:
  explicit TypeMismatch(std::string message)
      : Error("TypeMismatch", std::move(message), 0, false) {}
};

// No credentials, region or endpoint could be found, or a source failed.
class ConfigError : public Error {
 public:
  explicit ConfigError(std::string message) : Error("ConfigError", std::move(message), 0, false) {}
};

}  // namespace zae::aws

#endif  // ZAE_AWS_ERRORS_H_

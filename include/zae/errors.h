// Typed errors of zae-limiter, mirroring the reference's exception hierarchy.
//
// A denial is *not* an error on the hot path: RateLimiter::Acquire returns it
// as a value (zae::Denial). RateLimitExceeded exists for callers who prefer to
// throw (AcquireResult::lease_or_throw) and for Lease::Consume.
//
// Hierarchy (all derive from zae::Error, itself a std::runtime_error):
//   ValidationError        bad input; InvalidIdentifierError, InvalidNameError
//   RateLimitError         RateLimitExceeded, LeaseExpiredError
//   InfrastructureError    RateLimiterUnavailable, StoreError, NamespaceNotFoundError,
//                          NamespaceStateError, IncompatibleSchemaError
//   EntityError            EntityExistsError, EntityNotFoundError
// Thread safety: immutable values; safe to share.
#ifndef ZAE_ERRORS_H_
#define ZAE_ERRORS_H_

#include <exception>
#include <stdexcept>
#include <string>

namespace zae {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "Invalid {field}: {reason}". value() holds the offending input, cut to 50
// characters plus "..." so huge inputs never flood logs.
class ValidationError : public Error {
 public:
  ValidationError(std::string field, std::string value, std::string reason);
  const std::string& field() const { return field_; }
  const std::string& value() const { return value_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string field_, value_, reason_;
};

class InvalidIdentifierError : public ValidationError {
 public:
  using ValidationError::ValidationError;
};

class InvalidNameError : public ValidationError {
 public:
  using ValidationError::ValidationError;
};

class RateLimitError : public Error {
 public:
  using Error::Error;
};

// Thrown by Lease methods after commit or rollback.
class LeaseExpiredError : public RateLimitError {
 public:
  LeaseExpiredError() : RateLimitError("Lease is no longer active") {}
};

class InfrastructureError : public Error {
 public:
  using Error::Error;
};

// A store call failed (network, throttling, timeout, corrupt data...).
// retryable() says whether repeating the same call may succeed.
class StoreError : public InfrastructureError {
 public:
  StoreError(std::string message, bool retryable = false, bool outcome_unknown = false)
      : InfrastructureError(std::move(message)),
        retryable_(retryable),
        outcome_unknown_(outcome_unknown) {}
  bool retryable() const { return retryable_; }
  // A write that may or may not have been applied: its answer was lost and
  // the store could not tell (docs/reliability.md, "What is counted"). It
  // was not resent, and must not be: sending it again could apply it twice.
  bool outcome_unknown() const { return outcome_unknown_; }

 private:
  bool retryable_;
  bool outcome_unknown_;
};

// True when `error` holds a StoreError whose outcome_unknown() is set: for
// the exception_ptr an asynchronous callback receives.
bool IsOutcomeUnknown(const std::exception_ptr& error);

// Acquire could not reach the store and the on_unavailable policy is "block".
// The message is the cause plus " [stack=..., entity=..., resource=...]".
class RateLimiterUnavailable : public InfrastructureError {
 public:
  RateLimiterUnavailable(const std::string& cause, std::string stack, std::string entity_id,
                         std::string resource);
  const std::string& cause() const { return cause_; }
  const std::string& entity_id() const { return entity_id_; }
  const std::string& resource() const { return resource_; }

 private:
  std::string cause_, entity_id_, resource_;
};

class NamespaceNotFoundError : public InfrastructureError {
 public:
  explicit NamespaceNotFoundError(const std::string& name)
      : InfrastructureError("Namespace not found: " + name), name_(name) {}
  const std::string& namespace_name() const { return name_; }

 private:
  std::string name_;
};

class NamespaceStateError : public InfrastructureError {
 public:
  NamespaceStateError(const std::string& message, std::string name, std::string state)
      : InfrastructureError(message), name_(std::move(name)), state_(std::move(state)) {}
  const std::string& namespace_name() const { return name_; }
  const std::string& state() const { return state_; }

 private:
  std::string name_, state_;
};

// The store was written by an incompatible schema (major version differs).
class IncompatibleSchemaError : public InfrastructureError {
 public:
  using InfrastructureError::InfrastructureError;
};

class EntityError : public Error {
 public:
  using Error::Error;
};

class EntityExistsError : public EntityError {
 public:
  explicit EntityExistsError(const std::string& id)
      : EntityError("Entity already exists: " + id), entity_id_(id) {}
  const std::string& entity_id() const { return entity_id_; }

 private:
  std::string entity_id_;
};

class EntityNotFoundError : public EntityError {
 public:
  explicit EntityNotFoundError(const std::string& id)
      : EntityError("Entity not found: " + id), entity_id_(id) {}
  const std::string& entity_id() const { return entity_id_; }

 private:
  std::string entity_id_;
};

}  // namespace zae

#endif  // ZAE_ERRORS_H_

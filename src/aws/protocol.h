// The DynamoDB JSON 1.0 wire protocol: operation names, request serialisation,
// response parsing and error decoding. No I/O.
//
// Parsing is hardened for hostile input: any malformed, mistyped or too deeply
// nested body (more than 64 levels of M/L) throws aws::InvalidResponse; no
// other exception type escapes and nothing aborts (fuzzed by fuzz/).
//
// Thread safety: pure functions.
#ifndef ZAE_AWS_PROTOCOL_H_
#define ZAE_AWS_PROTOCOL_H_

#include <exception>
#include <string>
#include <string_view>

#include "aws/model.h"

namespace zae::aws {

enum class Op : int {
  kGetItem,
  kPutItem,
  kUpdateItem,
  kDeleteItem,
  kBatchGetItem,
  kBatchWriteItem,
  kQuery,
  kScan,
  kTransactWriteItems,
  kTransactGetItems,
  kCreateTable,
  kDescribeTable,
  kDeleteTable,
  kListTables,
  kUpdateTimeToLive,
  kListStreams,
  kDescribeStream,
  kGetShardIterator,
  kGetRecords,
};
inline constexpr int kOpCount = static_cast<int>(Op::kGetRecords) + 1;

const char* OpName(Op op);  // "GetItem"
bool IsStreamsOp(Op op);    // X-Amz-Target prefix DynamoDBStreams_20120810
// The X-Amz-Target header's value, "DynamoDB_20120810.GetItem"; built once.
const std::string& TargetHeader(Op op);
bool IsReadOp(Op op);  // capacity without a read/write split counts as read
// PutItem and UpdateItem: sent at most once per call (aws::OutcomeUnknown).
// Everything else may be resent: reads, deletes, admin calls, and
// TransactWriteItems, whose ClientRequestToken makes a resend a no-op.
bool IsSendOnceOp(Op op);

template <class Request>
struct OpTraits;
#define ZAE_AWS_OP(Name)                           \
  template <>                                      \
  struct OpTraits<Name##Request> {                 \
    static constexpr Op kOp = Op::k##Name;         \
    using Response = Name##Response;               \
  };                                               \
  std::string Serialize(const Name##Request& req); \
  void Parse(std::string_view body, Name##Response* out);
ZAE_AWS_OP(GetItem)
ZAE_AWS_OP(PutItem)
ZAE_AWS_OP(UpdateItem)
ZAE_AWS_OP(DeleteItem)
ZAE_AWS_OP(BatchGetItem)
ZAE_AWS_OP(BatchWriteItem)
ZAE_AWS_OP(Query)
ZAE_AWS_OP(Scan)
ZAE_AWS_OP(TransactWriteItems)
ZAE_AWS_OP(TransactGetItems)
ZAE_AWS_OP(CreateTable)
ZAE_AWS_OP(DescribeTable)
ZAE_AWS_OP(DeleteTable)
ZAE_AWS_OP(ListTables)
ZAE_AWS_OP(UpdateTimeToLive)
ZAE_AWS_OP(ListStreams)
ZAE_AWS_OP(DescribeStream)
ZAE_AWS_OP(GetShardIterator)
ZAE_AWS_OP(GetRecords)
#undef ZAE_AWS_OP

// The typed aws::Error for a non-200 response. body may be anything: a
// DynamoDB JSON error, the XML of an AWS front end or moto (<Code>, <Message>),
// an HTML page from a proxy (its <title> or first heading), plain text or
// bytes. error_type_header is the x-amzn-ErrorType response header, used when
// the body names no type. Classification, first match wins:
//   DynamoDB's own types (ConditionalCheckFailed, TransactionCanceled, ...);
//   throttling codes (ThrottlingException, Throttling, RequestLimitExceeded,
//     SlowDown, ...) or HTTP 429 -> Throttled (retryable);
//   auth codes (SignatureDoesNotMatch, InvalidClientTokenId,
//     UnrecognizedClientException, AccessDenied*, ExpiredToken*,
//     MissingAuthenticationToken) -> InvalidRequest, code() the service code,
//     even on a 5xx: repeating the request cannot fix credentials;
//   5xx -> ServerError (retryable), code() the service code or "HTTP503";
//   another 4xx code -> InvalidRequest; no code -> InvalidResponse whose
//   http_status() is the status.
// Unless the body is a DynamoDB JSON error, the message starts "HTTP <status>"
// and quotes the body's reason. Messages hold printable UTF-8 only, at most
// 512 bytes (200 for excerpts), with Authorization: and X-Amz-Security-Token:
// lines, Credential=, Signature= and session-token values and access key ids
// replaced by REDACTED. Markup is parsed by libxml2 without
// network access or entity expansion, from at most the first 64 KiB. Never
// throws.
std::exception_ptr ErrorFromResponse(long status, std::string_view body, Op op,
                                     std::string_view error_type_header = {});

// DynamoDB JSON of one item ({"attr": {"S": "x"}, ...}), for tests and tools.
std::string ItemToJson(const Item& item);
Item ItemFromJson(std::string_view json);

std::string Base64Encode(std::string_view bytes);
std::string Base64Decode(std::string_view text);  // throws InvalidResponse

}  // namespace zae::aws

#endif  // ZAE_AWS_PROTOCOL_H_

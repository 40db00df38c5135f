// libFuzzer target: every response parser and the error decoder must turn any
// body into a value or an aws::Error, never crash or throw anything else; the
// error decoder's messages stay bounded and free of control characters.
// The first byte picks the operation (and the HTTP status of error bodies).
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include "aws/errors.h"
#include "aws/protocol.h"

namespace {

using namespace zae::aws;

template <class Resp>
void Try(std::string_view body) {
  Resp r;
  try {
    Parse(body, &r);
  } catch (const Error&) {
  }
}

// Code, "HTTP <status>: ", 512 bytes of message and a little slack.
constexpr size_t kMaxWhat = 1024;

void CheckError(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& err) {
    std::string_view what = err.what();
    if (what.size() > kMaxWhat) __builtin_trap();
    for (char c : what) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto op = static_cast<Op>(data[0] % kOpCount);
  switch (op) {
    case Op::kGetItem:
      Try<GetItemResponse>(body);
      break;
    case Op::kPutItem:
      Try<PutItemResponse>(body);
      break;
    case Op::kUpdateItem:
      Try<UpdateItemResponse>(body);
      break;
    case Op::kDeleteItem:
      Try<DeleteItemResponse>(body);
      break;
    case Op::kBatchGetItem:
      Try<BatchGetItemResponse>(body);
      break;
    case Op::kBatchWriteItem:
      Try<BatchWriteItemResponse>(body);
      break;
    case Op::kQuery:
      Try<QueryResponse>(body);
      break;
    case Op::kScan:
      Try<ScanResponse>(body);
      break;
    case Op::kTransactWriteItems:
      Try<TransactWriteItemsResponse>(body);
      break;
    case Op::kTransactGetItems:
      Try<TransactGetItemsResponse>(body);
      break;
    case Op::kCreateTable:
      Try<CreateTableResponse>(body);
      break;
    case Op::kDescribeTable:
      Try<DescribeTableResponse>(body);
      break;
    case Op::kDeleteTable:
      Try<DeleteTableResponse>(body);
      break;
    case Op::kListTables:
      Try<ListTablesResponse>(body);
      break;
    case Op::kUpdateTimeToLive:
      Try<UpdateTimeToLiveResponse>(body);
      break;
    case Op::kListStreams:
      Try<ListStreamsResponse>(body);
      break;
    case Op::kDescribeStream:
      Try<DescribeStreamResponse>(body);
      break;
    case Op::kGetShardIterator:
      Try<GetShardIteratorResponse>(body);
      break;
    case Op::kGetRecords:
      Try<GetRecordsResponse>(body);
      break;
  }
  // Error bodies: ErrorFromResponse must return (not throw) a typed error with
  // a bounded, printable message, whatever the body (JSON, XML, HTML, bytes).
  // The second call takes the body's first line as the x-amzn-ErrorType header.
  CheckError(ErrorFromResponse(400 + data[0] % 200, body, op));
  size_t eol = body.find('\n');
  std::string_view header = body.substr(0, eol == std::string_view::npos ? 0 : eol);
  std::string_view rest = body.substr(header.size() + (eol == std::string_view::npos ? 0 : 1));
  CheckError(ErrorFromResponse(data[0] % 2 ? 403 : 503, rest, op, header));
  try {
    (void)ItemFromJson(body);
  } catch (const Error&) {
  }
  return 0;
}

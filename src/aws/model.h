// Request and response structs of the DynamoDB and DynamoDB Streams
// operations the client supports, mirroring the service's JSON shapes with
// snake_case names. Empty strings and empty optionals are left out of the
// request. return_consumed_capacity left empty takes the client's default.
//
// Thread safety: plain values.
#ifndef ZAE_AWS_MODEL_H_
#define ZAE_AWS_MODEL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "aws/attribute_value.h"

namespace zae::aws {

using NameMap = std::map<std::string, std::string>;  // "#n" -> attribute name
using ValueMap = Item;                               // ":v" -> value

struct ConsumedCapacity {
  std::string table_name;
  double capacity_units = 0;
  double read_units = 0;  // 0 when the service sent only capacity_units
  double write_units = 0;
};

// ---- Items ----

struct GetItemRequest {
  std::string table_name;
  Item key;
  bool consistent_read = false;
  std::string projection_expression;
  NameMap expression_attribute_names;
  std::string return_consumed_capacity;
};
struct GetItemResponse {
  std::optional<Item> item;
  std::vector<ConsumedCapacity> consumed_capacity;
};

struct PutItemRequest {
  std::string table_name;
  Item item;
  std::string condition_expression;
  NameMap expression_attribute_names;
  ValueMap expression_attribute_values;
  std::string return_values;                             // NONE | ALL_OLD
  std::string return_values_on_condition_check_failure;  // NONE | ALL_OLD
  std::string return_consumed_capacity;
};
struct PutItemResponse {
  std::optional<Item> attributes;
  std::vector<ConsumedCapacity> consumed_capacity;
};

struct UpdateItemRequest {
  std::string table_name;
  Item key;
  std::string update_expression;
  std::string condition_expression;
  NameMap expression_attribute_names;
  ValueMap expression_attribute_values;
  std::string return_values;  // NONE | ALL_OLD | UPDATED_OLD | ALL_NEW | UPDATED_NEW
  std::string return_values_on_condition_check_failure;
  std::string return_consumed_capacity;
};
struct UpdateItemResponse {
  std::optional<Item> attributes;
  std::vector<ConsumedCapacity> consumed_capacity;
};

struct DeleteItemRequest {
  std::string table_name;
  Item key;
  std::string condition_expression;
  NameMap expression_attribute_names;
  ValueMap expression_attribute_values;
  std::string return_values;
  std::string return_values_on_condition_check_failure;
  std::string return_consumed_capacity;
};
struct DeleteItemResponse {
  std::optional<Item> attributes;
  std::vector<ConsumedCapacity> consumed_capacity;
};

struct KeysAndAttributes {
  std::vector<Item> keys;
  bool consistent_read = false;
  std::string projection_expression;
  NameMap expression_attribute_names;
};
struct BatchGetItemRequest {
  std::map<std::string, KeysAndAttributes> request_items;  // table -> keys
  std::string return_consumed_capacity;
};
struct BatchGetItemResponse {
  std::map<std::string, std::vector<Item>> responses;
  std::map<std::string, KeysAndAttributes> unprocessed_keys;
  std::vector<ConsumedCapacity> consumed_capacity;
};

// Exactly one of put_item / delete_key is set.
struct WriteRequest {
  std::optional<Item> put_item;
  std::optional<Item> delete_key;
};
struct BatchWriteItemRequest {
  std::map<std::string, std::vector<WriteRequest>> request_items;
  std::string return_consumed_capacity;
};
struct BatchWriteItemResponse {
  std::map<std::string, std::vector<WriteRequest>> unprocessed_items;
  std::vector<ConsumedCapacity> consumed_capacity;
};

struct QueryRequest {
  std::string table_name;
  std::string index_name;
  std::string key_condition_expression;
  std::string filter_expression;
  std::string projection_expression;
  NameMap expression_attribute_names;
  ValueMap expression_attribute_values;
  std::optional<int> limit;
  bool consistent_read = false;
  bool scan_index_forward = true;
  std::string select;
  std::optional<Item> exclusive_start_key;
  std::string return_consumed_capacity;
};
struct QueryResponse {
  std::vector<Item> items;
  int64_t count = 0;
  int64_t scanned_count = 0;
  std::optional<Item> last_evaluated_key;  // set when more pages exist
  std::vector<ConsumedCapacity> consumed_capacity;
};

struct ScanRequest {
  std::string table_name;
  std::string index_name;
  std::string filter_expression;
  std::string projection_expression;
  NameMap expression_attribute_names;
  ValueMap expression_attribute_values;
  std::optional<int> limit;
  bool consistent_read = false;
  std::string select;
  std::optional<Item> exclusive_start_key;
  std::optional<int> segment;
  std::optional<int> total_segments;
  std::string return_consumed_capacity;
};
struct ScanResponse : QueryResponse {};

// ---- Transactions ----

struct TransactWriteItem {
  enum class Kind { kPut, kUpdate, kDelete, kConditionCheck };
  Kind kind = Kind::kPut;
  std::string table_name;
  Item item;  // kPut
  Item key;   // kUpdate, kDelete, kConditionCheck
  std::string update_expression;
  std::string condition_expression;
  NameMap expression_attribute_names;
  ValueMap expression_attribute_values;
  std::string return_values_on_condition_check_failure;
};
struct TransactWriteItemsRequest {
  std::vector<TransactWriteItem> transact_items;
  std::string client_request_token;
  std::string return_consumed_capacity;
};
struct TransactWriteItemsResponse {
  std::vector<ConsumedCapacity> consumed_capacity;
};

struct TransactGetItem {
  std::string table_name;
  Item key;
  std::string projection_expression;
  NameMap expression_attribute_names;
};
struct TransactGetItemsRequest {
  std::vector<TransactGetItem> transact_items;
  std::string return_consumed_capacity;
};
struct TransactGetItemsResponse {
  std::vector<std::optional<Item>> items;  // request order; nullopt if absent
  std::vector<ConsumedCapacity> consumed_capacity;
};

// ---- Tables ----

struct AttributeDefinition {
  std::string attribute_name;
  std::string attribute_type;  // S | N | B
};
struct KeySchemaElement {
  std::string attribute_name;
  std::string key_type;  // HASH | RANGE
};
struct Projection {
  std::string projection_type = "ALL";  // ALL | KEYS_ONLY | INCLUDE
  std::vector<std::string> non_key_attributes;
};
struct ProvisionedThroughput {
  int64_t read_capacity_units = 0;
  int64_t write_capacity_units = 0;
};
struct SecondaryIndex {
  std::string index_name;
  std::vector<KeySchemaElement> key_schema;
  Projection projection;
  std::optional<ProvisionedThroughput> provisioned_throughput;  // GSI, PROVISIONED only
};
struct StreamSpecification {
  bool stream_enabled = false;
  std::string stream_view_type;  // NEW_IMAGE | OLD_IMAGE | NEW_AND_OLD_IMAGES | KEYS_ONLY
};
struct TableDescription {
  std::string table_name;
  std::string table_arn;
  std::string table_status;
  std::vector<AttributeDefinition> attribute_definitions;
  std::vector<KeySchemaElement> key_schema;
  std::vector<std::string> global_secondary_indexes;  // index names
  std::string billing_mode;
  int64_t item_count = 0;
  std::optional<StreamSpecification> stream_specification;
  std::string latest_stream_arn;
  std::string latest_stream_label;
};

struct CreateTableRequest {
  std::string table_name;
  std::vector<AttributeDefinition> attribute_definitions;
  std::vector<KeySchemaElement> key_schema;
  std::vector<SecondaryIndex> global_secondary_indexes;
  std::vector<SecondaryIndex> local_secondary_indexes;
  std::string billing_mode = "PAY_PER_REQUEST";
  std::optional<ProvisionedThroughput> provisioned_throughput;
  std::optional<StreamSpecification> stream_specification;
  std::vector<std::pair<std::string, std::string>> tags;
};
struct CreateTableResponse {
  TableDescription table_description;
};
struct DescribeTableRequest {
  std::string table_name;
};
struct DescribeTableResponse {
  TableDescription table;
};
struct DeleteTableRequest {
  std::string table_name;
};
struct DeleteTableResponse {
  TableDescription table_description;
};
struct ListTablesRequest {
  std::string exclusive_start_table_name;
  std::optional<int> limit;
};
struct ListTablesResponse {
  std::vector<std::string> table_names;
  std::string last_evaluated_table_name;  // empty on the last page
};
struct UpdateTimeToLiveRequest {
  std::string table_name;
  std::string attribute_name;
  bool enabled = true;
};
struct UpdateTimeToLiveResponse {
  std::string attribute_name;
  bool enabled = false;
};

// ---- Streams ----

struct ListStreamsRequest {
  std::string table_name;
  std::optional<int> limit;
  std::string exclusive_start_stream_arn;
};
struct StreamSummary {
  std::string stream_arn;
  std::string table_name;
  std::string stream_label;
};
struct ListStreamsResponse {
  std::vector<StreamSummary> streams;
  std::string last_evaluated_stream_arn;
};

struct DescribeStreamRequest {
  std::string stream_arn;
  std::optional<int> limit;
  std::string exclusive_start_shard_id;
};
struct Shard {
  std::string shard_id;
  std::string parent_shard_id;
  std::string starting_sequence_number;
  std::string ending_sequence_number;  // empty while the shard is open
};
struct DescribeStreamResponse {
  std::string stream_arn;
  std::string stream_label;
  std::string stream_status;
  std::string stream_view_type;
  std::string table_name;
  std::vector<KeySchemaElement> key_schema;
  std::vector<Shard> shards;
  std::string last_evaluated_shard_id;
};

struct GetShardIteratorRequest {
  std::string stream_arn;
  std::string shard_id;
  std::string shard_iterator_type = "TRIM_HORIZON";  // | LATEST | AT_/AFTER_SEQUENCE_NUMBER
  std::string sequence_number;
};
struct GetShardIteratorResponse {
  std::string shard_iterator;
};

struct GetRecordsRequest {
  std::string shard_iterator;
  std::optional<int> limit;
};
struct StreamRecord {
  std::string event_id;
  std::string event_name;  // INSERT | MODIFY | REMOVE
  std::string event_source;
  std::string aws_region;
  double approximate_creation_date_time = 0;  // epoch seconds
  Item keys;
  std::optional<Item> new_image;
  std::optional<Item> old_image;
  std::string sequence_number;
  int64_t size_bytes = 0;
  std::string stream_view_type;
};
struct GetRecordsResponse {
  std::vector<StreamRecord> records;
  std::string next_shard_iterator;  // empty once the shard is closed and drained
};

}  // namespace zae::aws

#endif  // ZAE_AWS_MODEL_H_

#include "aws/protocol.h"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <memory>
#include <mutex>

#include "aws/errors.h"
#include "aws/json.h"
#include "aws/url.h"

namespace zae::aws {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
using Value = rapidjson::Value;
constexpr int kMaxDepth = 64;

// ---------------------------------------------------------------- writing

void Str(Writer& w, const std::string& s) { w.String(s.data(), static_cast<unsigned>(s.size())); }

void Field(Writer& w, const char* key, const std::string& value) {
  if (value.empty()) return;
  w.Key(key);
  Str(w, value);
}

void WriteValue(Writer& w, const AttributeValue& v);

void WriteItem(Writer& w, const Item& item) {
  w.StartObject();
  for (const auto& [name, value] : item) {
    Str(w, name);
    WriteValue(w, value);
  }
  w.EndObject();
}

void WriteStrings(Writer& w, const std::vector<std::string>& v, bool base64) {
  w.StartArray();
  for (const auto& s : v) Str(w, base64 ? Base64Encode(s) : s);
  w.EndArray();
}

void WriteValue(Writer& w, const AttributeValue& v) {
  using T = AttributeValue::Type;
  w.StartObject();
  w.Key(TypeName(v.type()));
  switch (v.type()) {
    case T::kNull:
      w.Bool(true);
      break;
    case T::kS:
      Str(w, v.s());
      break;
    case T::kN:
      Str(w, v.n());
      break;
    case T::kB:
      Str(w, Base64Encode(v.b()));
      break;
    case T::kBool:
      w.Bool(v.boolean());
      break;
    case T::kM:
      WriteItem(w, v.m());
      break;
    case T::kL:
      w.StartArray();
      for (const auto& e : v.l()) WriteValue(w, e);
      w.EndArray();
      break;
    case T::kSS:
    case T::kNS:
      WriteStrings(w, v.ss(), false);
      break;
    case T::kBS:
      WriteStrings(w, v.ss(), true);
      break;
  }
  w.EndObject();
}

void ItemField(Writer& w, const char* key, const Item& item) {
  w.Key(key);
  WriteItem(w, item);
}

void Expressions(Writer& w, const NameMap& names, const ValueMap& values) {
  if (!names.empty()) {
    w.Key("ExpressionAttributeNames");
    w.StartObject();
    for (const auto& [k, v] : names) {
      Str(w, k);
      Str(w, v);
    }
    w.EndObject();
  }
  if (!values.empty()) ItemField(w, "ExpressionAttributeValues", values);
}

void IntField(Writer& w, const char* key, const std::optional<int>& v) {
  if (!v) return;
  w.Key(key);
  w.Int(*v);
}

template <class F>
std::string Build(F&& body) {
  // Item requests are a few hundred bytes; start big enough to not regrow.
  rapidjson::StringBuffer buf(nullptr, 1024);
  Writer w(buf);
  w.StartObject();
  body(w);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// ---------------------------------------------------------------- reading

[[noreturn]] void Bad(const std::string& what) { throw InvalidResponse(what); }

const Value* Find(const Value& obj, const char* name) {
  if (!obj.IsObject()) Bad(std::string("expected an object around ") + name);
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string AsString(const Value& v, const char* what) {
  if (!v.IsString()) Bad(std::string(what) + " is not a string");
  return std::string(v.GetString(), v.GetStringLength());
}

std::string GetString(const Value& obj, const char* name) {
  const Value* v = Find(obj, name);
  return v ? AsString(*v, name) : std::string();
}

double GetDouble(const Value& obj, const char* name) {
  const Value* v = Find(obj, name);
  if (!v) return 0;
  if (!v->IsNumber()) Bad(std::string(name) + " is not a number");
  return v->GetDouble();
}

int64_t GetInt(const Value& obj, const char* name) {
  const Value* v = Find(obj, name);
  if (!v) return 0;
  if (!v->IsInt64()) Bad(std::string(name) + " is not an integer");
  return v->GetInt64();
}

bool GetBool(const Value& obj, const char* name) {
  const Value* v = Find(obj, name);
  if (!v) return false;
  if (!v->IsBool()) Bad(std::string(name) + " is not a boolean");
  return v->GetBool();
}

const Value& Array(const Value& v, const char* what) {
  if (!v.IsArray()) Bad(std::string(what) + " is not an array");
  return v;
}

Item ReadItem(const Value& v, int depth);

std::vector<std::string> ReadStrings(const Value& v, bool base64) {
  std::vector<std::string> out;
  for (const auto& e : Array(v, "set").GetArray()) {
    out.push_back(base64 ? Base64Decode(AsString(e, "set element")) : AsString(e, "set element"));
  }
  return out;
}

AttributeValue ReadValue(const Value& v, int depth) {
  if (depth > kMaxDepth) Bad("attribute value nested too deeply");
  if (!v.IsObject() || v.MemberCount() != 1) Bad("attribute value must have exactly one type");
  const auto& m = *v.MemberBegin();
  std::string_view type(m.name.GetString(), m.name.GetStringLength());
  const Value& x = m.value;
  if (type == "S") return AttributeValue::S(AsString(x, "S"));
  if (type == "N") return AttributeValue::N(AsString(x, "N"));
  if (type == "B") return AttributeValue::B(Base64Decode(AsString(x, "B")));
  if (type == "BOOL") {
    if (!x.IsBool()) Bad("BOOL is not a boolean");
    return AttributeValue::Bool(x.GetBool());
  }
  if (type == "NULL") return AttributeValue::Null();
  if (type == "M") return AttributeValue::M(ReadItem(x, depth + 1));
  if (type == "L") {
    std::vector<AttributeValue> l;
    for (const auto& e : Array(x, "L").GetArray()) l.push_back(ReadValue(e, depth + 1));
    return AttributeValue::L(std::move(l));
  }
  if (type == "SS") return AttributeValue::SS(ReadStrings(x, false));
  if (type == "NS") return AttributeValue::NS(ReadStrings(x, false));
  if (type == "BS") return AttributeValue::BS(ReadStrings(x, true));
  Bad("unknown attribute type");
}

Item ReadItem(const Value& v, int depth) {
  if (depth > kMaxDepth) Bad("item nested too deeply");
  if (!v.IsObject()) Bad("item is not an object");
  Item item;
  for (const auto& m : v.GetObject()) {
    item.emplace(std::string(m.name.GetString(), m.name.GetStringLength()),
                 ReadValue(m.value, depth + 1));
  }
  return item;
}

std::optional<Item> OptionalItem(const Value& obj, const char* name) {
  const Value* v = Find(obj, name);
  if (!v) return std::nullopt;
  return ReadItem(*v, 0);
}

ConsumedCapacity ReadCapacity(const Value& v) {
  ConsumedCapacity c;
  c.table_name = GetString(v, "TableName");
  c.capacity_units = GetDouble(v, "CapacityUnits");
  c.read_units = GetDouble(v, "ReadCapacityUnits");
  c.write_units = GetDouble(v, "WriteCapacityUnits");
  return c;
}

std::vector<ConsumedCapacity> ReadCapacities(const Value& doc) {
  std::vector<ConsumedCapacity> out;
  const Value* v = Find(doc, "ConsumedCapacity");
  if (!v) return out;
  if (v->IsArray()) {
    for (const auto& e : v->GetArray()) out.push_back(ReadCapacity(e));
  } else {
    out.push_back(ReadCapacity(*v));
  }
  return out;
}

// A parsed response whose DOM lives in inline buffers (InlineDocument).
class ParsedDoc {
 public:
  explicit ParsedDoc(std::string_view body) {
    auto& doc = inline_.doc();
    doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
    if (doc.HasParseError()) {
      Bad(std::string("bad JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()));
    }
    if (!doc.IsObject()) Bad("response is not a JSON object");
  }
  ParsedDoc(const ParsedDoc&) = delete;
  ParsedDoc& operator=(const ParsedDoc&) = delete;
  operator const Value&() const { return inline_.doc(); }  // NOLINT: used where a Value is

 private:
  InlineDocument inline_;
};

ParsedDoc ParseDoc(std::string_view body) { return ParsedDoc(body); }

std::vector<KeySchemaElement> ReadKeySchema(const Value& obj) {
  std::vector<KeySchemaElement> out;
  if (const Value* v = Find(obj, "KeySchema")) {
    for (const auto& e : Array(*v, "KeySchema").GetArray()) {
      out.push_back({GetString(e, "AttributeName"), GetString(e, "KeyType")});
    }
  }
  return out;
}

TableDescription ReadTable(const Value& doc, const char* name) {
  TableDescription t;
  const Value* v = Find(doc, name);
  if (!v) return t;
  t.table_name = GetString(*v, "TableName");
  t.table_arn = GetString(*v, "TableArn");
  t.table_status = GetString(*v, "TableStatus");
  t.item_count = GetInt(*v, "ItemCount");
  t.key_schema = ReadKeySchema(*v);
  if (const Value* defs = Find(*v, "AttributeDefinitions")) {
    for (const auto& e : Array(*defs, "AttributeDefinitions").GetArray()) {
      t.attribute_definitions.push_back(
          {GetString(e, "AttributeName"), GetString(e, "AttributeType")});
    }
  }
  if (const Value* gsis = Find(*v, "GlobalSecondaryIndexes")) {
    for (const auto& e : Array(*gsis, "GlobalSecondaryIndexes").GetArray()) {
      t.global_secondary_indexes.push_back(GetString(e, "IndexName"));
    }
  }
  if (const Value* b = Find(*v, "BillingModeSummary"))
    t.billing_mode = GetString(*b, "BillingMode");
  if (const Value* s = Find(*v, "StreamSpecification")) {
    t.stream_specification =
        StreamSpecification{GetBool(*s, "StreamEnabled"), GetString(*s, "StreamViewType")};
  }
  t.latest_stream_arn = GetString(*v, "LatestStreamArn");
  t.latest_stream_label = GetString(*v, "LatestStreamLabel");
  return t;
}

std::vector<WriteRequest> ReadWriteRequests(const Value& v) {
  std::vector<WriteRequest> out;
  for (const auto& e : Array(v, "write requests").GetArray()) {
    WriteRequest w;
    if (const Value* p = Find(e, "PutRequest")) {
      const Value* item = Find(*p, "Item");
      if (!item) Bad("PutRequest without Item");
      w.put_item = ReadItem(*item, 0);
    } else if (const Value* d = Find(e, "DeleteRequest")) {
      const Value* key = Find(*d, "Key");
      if (!key) Bad("DeleteRequest without Key");
      w.delete_key = ReadItem(*key, 0);
    } else {
      Bad("write request is neither put nor delete");
    }
    out.push_back(std::move(w));
  }
  return out;
}

KeysAndAttributes ReadKeysAndAttributes(const Value& v) {
  KeysAndAttributes k;
  if (const Value* keys = Find(v, "Keys")) {
    for (const auto& e : Array(*keys, "Keys").GetArray()) k.keys.push_back(ReadItem(e, 0));
  }
  k.consistent_read = GetBool(v, "ConsistentRead");
  k.projection_expression = GetString(v, "ProjectionExpression");
  if (const Value* names = Find(v, "ExpressionAttributeNames")) {
    if (!names->IsObject()) Bad("ExpressionAttributeNames is not an object");
    for (const auto& m : names->GetObject()) {
      k.expression_attribute_names[AsString(m.name, "name")] = AsString(m.value, "name");
    }
  }
  return k;
}

void WriteKeysAndAttributes(Writer& w, const KeysAndAttributes& k) {
  w.StartObject();
  w.Key("Keys");
  w.StartArray();
  for (const auto& key : k.keys) WriteItem(w, key);
  w.EndArray();
  if (k.consistent_read) {
    w.Key("ConsistentRead");
    w.Bool(true);
  }
  Field(w, "ProjectionExpression", k.projection_expression);
  Expressions(w, k.expression_attribute_names, {});
  w.EndObject();
}

void ReadQueryResponse(std::string_view body, QueryResponse* out) {
  auto doc = ParseDoc(body);
  if (const Value* items = Find(doc, "Items")) {
    for (const auto& e : Array(*items, "Items").GetArray()) out->items.push_back(ReadItem(e, 0));
  }
  out->count = GetInt(doc, "Count");
  out->scanned_count = GetInt(doc, "ScannedCount");
  out->last_evaluated_key = OptionalItem(doc, "LastEvaluatedKey");
  out->consumed_capacity = ReadCapacities(doc);
}

}  // namespace

// ---------------------------------------------------------------- ops

const char* OpName(Op op) {
  static constexpr const char* kNames[] = {"GetItem",
                                           "PutItem",
                                           "UpdateItem",
                                           "DeleteItem",
                                           "BatchGetItem",
                                           "BatchWriteItem",
                                           "Query",
                                           "Scan",
                                           "TransactWriteItems",
                                           "TransactGetItems",
                                           "CreateTable",
                                           "DescribeTable",
                                           "DeleteTable",
                                           "ListTables",
                                           "UpdateTimeToLive",
                                           "ListStreams",
                                           "DescribeStream",
                                           "GetShardIterator",
                                           "GetRecords"};
  int i = static_cast<int>(op);
  return i >= 0 && i < kOpCount ? kNames[i] : "Unknown";
}

bool IsStreamsOp(Op op) { return op >= Op::kListStreams; }

const std::string& TargetHeader(Op op) {
  static const auto* targets = [] {
    auto* t = new std::array<std::string, kOpCount + 1>;
    for (int i = 0; i <= kOpCount; ++i) {
      const Op o = static_cast<Op>(i);
      (*t)[static_cast<size_t>(i)] =
          std::string(IsStreamsOp(o) && i < kOpCount ? "DynamoDBStreams_20120810."
                                                     : "DynamoDB_20120810.") +
          OpName(o);
    }
    return t;
  }();
  const int i = static_cast<int>(op);
  return (*targets)[static_cast<size_t>(i >= 0 && i < kOpCount ? i : kOpCount)];
}

bool IsSendOnceOp(Op op) { return op == Op::kPutItem || op == Op::kUpdateItem; }

bool IsReadOp(Op op) {
  switch (op) {
    case Op::kGetItem:
    case Op::kBatchGetItem:
    case Op::kQuery:
    case Op::kScan:
    case Op::kTransactGetItems:
      return true;
    default:
      return false;
  }
}

std::string Serialize(const GetItemRequest& r) {
  return Build([&](Writer& w) {
    Field(w, "TableName", r.table_name);
    ItemField(w, "Key", r.key);
    if (r.consistent_read) {
      w.Key("ConsistentRead");
      w.Bool(true);
    }
    Field(w, "ProjectionExpression", r.projection_expression);
    Expressions(w, r.expression_attribute_names, {});
    Field(w, "ReturnConsumedCapacity", r.return_consumed_capacity);
  });
}
void Parse(std::string_view body, GetItemResponse* out) {
  auto doc = ParseDoc(body);
  out->item = OptionalItem(doc, "Item");
  out->consumed_capacity = ReadCapacities(doc);
}

std::string Serialize(const PutItemRequest& r) {
  return Build([&](Writer& w) {
    Field(w, "TableName", r.table_name);
    ItemField(w, "Item", r.item);
    Field(w, "ConditionExpression", r.condition_expression);
    Expressions(w, r.expression_attribute_names, r.expression_attribute_values);
    Field(w, "ReturnValues", r.return_values);
    Field(w, "ReturnValuesOnConditionCheckFailure", r.return_values_on_condition_check_failure);
    Field(w, "ReturnConsumedCapacity", r.return_consumed_capacity);
  });
}
void Parse(std::string_view body, PutItemResponse* out) {
  auto doc = ParseDoc(body);
  out->attributes = OptionalItem(doc, "Attributes");
  out->consumed_capacity = ReadCapacities(doc);
}

std::string Serialize(const UpdateItemRequest& r) {
  return Build([&](Writer& w) {
    Field(w, "TableName", r.table_name);
    ItemField(w, "Key", r.key);
    Field(w, "UpdateExpression", r.update_expression);
    Field(w, "ConditionExpression", r.condition_expression);
    Expressions(w, r.expression_attribute_names, r.expression_attribute_values);
    Field(w, "ReturnValues", r.return_values);
    Field(w, "ReturnValuesOnConditionCheckFailure", r.return_values_on_condition_check_failure);
    Field(w, "ReturnConsumedCapacity", r.return_consumed_capacity);
  });
}
void Parse(std::string_view body, UpdateItemResponse* out) {
  auto doc = ParseDoc(body);
  out->attributes = OptionalItem(doc, "Attributes");
  out->consumed_capacity = ReadCapacities(doc);
}

std::string Serialize(const DeleteItemRequest& r) {
  return Build([&](Writer& w) {
    Field(w, "TableName", r.table_name);
    ItemField(w, "Key", r.key);
    Field(w, "ConditionExpression", r.condition_expression);
    Expressions(w, r.expression_attribute_names, r.expression_attribute_values);
    Field(w, "ReturnValues", r.return_values);
    Field(w, "ReturnValuesOnConditionCheckFailure", r.return_values_on_condition_check_failure);
    Field(w, "ReturnConsumedCapacity", r.return_consumed_capacity);
  });
}
void Parse(std::string_view body, DeleteItemResponse* out) {
  auto doc = ParseDoc(body);
  out->attributes = OptionalItem(doc, "Attributes");
  out->consumed_capacity = ReadCapacities(doc);
}

std::string Serialize(const BatchGetItemRequest& r) {
  return Build([&](Writer& w) {
    w.Key("RequestItems");
    w.StartObject();
    for (const auto& [table, keys] : r.request_items) {
      Str(w, table);
      WriteKeysAndAttributes(w, keys);
    }
    w.EndObject();
    Field(w, "ReturnConsumedCapacity", r.return_consumed_capacity);
  });
}
void Parse(std::string_view body, BatchGetItemResponse* out) {
  auto doc = ParseDoc(body);
  if (const Value* responses = Find(doc, "Responses")) {
    if (!responses->IsObject()) Bad("Responses is not an object");
    for (const auto& m : responses->GetObject()) {
      auto& items = out->responses[AsString(m.name, "table")];
      for (const auto& e : Array(m.value, "Responses").GetArray()) {
        items.push_back(ReadItem(e, 0));
      }
    }
  }
  if (const Value* un = Find(doc, "UnprocessedKeys")) {
    if (!un->IsObject()) Bad("UnprocessedKeys is not an object");
    for (const auto& m : un->GetObject()) {
      out->unprocessed_keys[AsString(m.name, "table")] = ReadKeysAndAttributes(m.value);
    }
  }
  out->consumed_capacity = ReadCapacities(doc);
}

std::string Serialize(const BatchWriteItemRequest& r) {
  return Build([&](Writer& w) {
    w.Key("RequestItems");
    w.StartObject();
    for (const auto& [table, writes] : r.request_items) {
      Str(w, table);
      w.StartArray();
      for (const auto& wr : writes) {
        w.StartObject();
        if (wr.put_item) {
          w.Key("PutRequest");
          w.StartObject();
          ItemField(w, "Item", *wr.put_item);
          w.EndObject();
        } else {
          w.Key("DeleteRequest");
          w.StartObject();
          ItemField(w, "Key", wr.delete_key.value_or(Item{}));
          w.EndObject();
        }
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
    Field(w, "ReturnConsumedCapacity", r.return_consumed_capacity);
  });
}
void Parse(std::string_view body, BatchWriteItemResponse* out) {
  auto doc = ParseDoc(body);
  if (const Value* un = Find(doc, "UnprocessedItems")) {
    if (!un->IsObject()) Bad("UnprocessedItems is not an object");
    for (const auto& m : un->GetObject()) {
      auto writes = ReadWriteRequests(m.value);
      if (!writes.empty()) out->unprocessed_items[AsString(m.name, "table")] = std::move(writes);
    }
  }
  out->consumed_capacity = ReadCapacities(doc);
}

namespace {
template <class R>
void ReadCommon(Writer& w, const R& r) {
  Field(w, "TableName", r.table_name);
  Field(w, "IndexName", r.index_name);
  Field(w, "FilterExpression", r.filter_expression);
  Field(w, "ProjectionExpression", r.projection_expression);
  Expressions(w, r.expression_attribute_names, r.expression_attribute_values);
  IntField(w, "Limit", r.limit);
  if (r.consistent_read) {
    w.Key("ConsistentRead");
    w.Bool(true);
  }
  Field(w, "Select", r.select);
  if (r.exclusive_start_key) ItemField(w, "ExclusiveStartKey", *r.exclusive_start_key);
  Field(w, "ReturnConsumedCapacity", r.return_consumed_capacity);
}
}  // namespace

std::string Serialize(const QueryRequest& r) {
  return Build([&](Writer& w) {
    ReadCommon(w, r);
    Field(w, "KeyConditionExpression", r.key_condition_expression);
    if (!r.scan_index_forward) {
      w.Key("ScanIndexForward");
      w.Bool(false);
    }
  });
}
void Parse(std::string_view body, QueryResponse* out) { ReadQueryResponse(body, out); }

std::string Serialize(const ScanRequest& r) {
  return Build([&](Writer& w) {
    ReadCommon(w, r);
    IntField(w, "Segment", r.segment);
    IntField(w, "TotalSegments", r.total_segments);
  });
}
void Parse(std::string_view body, ScanResponse* out) { ReadQueryResponse(body, out); }

std::string Serialize(const TransactWriteItemsRequest& r) {
  return Build([&](Writer& w) {
    w.Key("TransactItems");
    w.StartArray();
    for (const auto& t : r.transact_items) {
      using K = TransactWriteItem::Kind;
      w.StartObject();
      w.Key(t.kind == K::kPut      ? "Put"
            : t.kind == K::kUpdate ? "Update"
            : t.kind == K::kDelete ? "Delete"
                                   : "ConditionCheck");
      w.StartObject();
      Field(w, "TableName", t.table_name);
      if (t.kind == K::kPut) {
        ItemField(w, "Item", t.item);
      } else {
        ItemField(w, "Key", t.key);
      }
      Field(w, "UpdateExpression", t.update_expression);
      Field(w, "ConditionExpression", t.condition_expression);
      Expressions(w, t.expression_attribute_names, t.expression_attribute_values);
      Field(w, "ReturnValuesOnConditionCheckFailure", t.return_values_on_condition_check_failure);
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
    Field(w, "ClientRequestToken", r.client_request_token);
    Field(w, "ReturnConsumedCapacity", r.return_consumed_capacity);
  });
}
void Parse(std::string_view body, TransactWriteItemsResponse* out) {
  auto doc = ParseDoc(body);
  out->consumed_capacity = ReadCapacities(doc);
}

std::string Serialize(const TransactGetItemsRequest& r) {
  return Build([&](Writer& w) {
    w.Key("TransactItems");
    w.StartArray();
    for (const auto& t : r.transact_items) {
      w.StartObject();
      w.Key("Get");
      w.StartObject();
      Field(w, "TableName", t.table_name);
      ItemField(w, "Key", t.key);
      Field(w, "ProjectionExpression", t.projection_expression);
      Expressions(w, t.expression_attribute_names, {});
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
    Field(w, "ReturnConsumedCapacity", r.return_consumed_capacity);
  });
}
void Parse(std::string_view body, TransactGetItemsResponse* out) {
  auto doc = ParseDoc(body);
  if (const Value* responses = Find(doc, "Responses")) {
    for (const auto& e : Array(*responses, "Responses").GetArray()) {
      out->items.push_back(OptionalItem(e, "Item"));
    }
  }
  out->consumed_capacity = ReadCapacities(doc);
}

namespace {
void WriteKeySchema(Writer& w, const std::vector<KeySchemaElement>& ks) {
  w.Key("KeySchema");
  w.StartArray();
  for (const auto& k : ks) {
    w.StartObject();
    Field(w, "AttributeName", k.attribute_name);
    Field(w, "KeyType", k.key_type);
    w.EndObject();
  }
  w.EndArray();
}
void WriteThroughput(Writer& w, const ProvisionedThroughput& t) {
  w.Key("ProvisionedThroughput");
  w.StartObject();
  w.Key("ReadCapacityUnits");
  w.Int64(t.read_capacity_units);
  w.Key("WriteCapacityUnits");
  w.Int64(t.write_capacity_units);
  w.EndObject();
}
void WriteIndexes(Writer& w, const char* key, const std::vector<SecondaryIndex>& indexes) {
  if (indexes.empty()) return;
  w.Key(key);
  w.StartArray();
  for (const auto& i : indexes) {
    w.StartObject();
    Field(w, "IndexName", i.index_name);
    WriteKeySchema(w, i.key_schema);
    w.Key("Projection");
    w.StartObject();
    Field(w, "ProjectionType", i.projection.projection_type);
    if (!i.projection.non_key_attributes.empty()) {
      w.Key("NonKeyAttributes");
      WriteStrings(w, i.projection.non_key_attributes, false);
    }
    w.EndObject();
    if (i.provisioned_throughput) WriteThroughput(w, *i.provisioned_throughput);
    w.EndObject();
  }
  w.EndArray();
}
}  // namespace

std::string Serialize(const CreateTableRequest& r) {
  return Build([&](Writer& w) {
    Field(w, "TableName", r.table_name);
    w.Key("AttributeDefinitions");
    w.StartArray();
    for (const auto& d : r.attribute_definitions) {
      w.StartObject();
      Field(w, "AttributeName", d.attribute_name);
      Field(w, "AttributeType", d.attribute_type);
      w.EndObject();
    }
    w.EndArray();
    WriteKeySchema(w, r.key_schema);
    WriteIndexes(w, "GlobalSecondaryIndexes", r.global_secondary_indexes);
    WriteIndexes(w, "LocalSecondaryIndexes", r.local_secondary_indexes);
    Field(w, "BillingMode", r.billing_mode);
    if (r.provisioned_throughput) WriteThroughput(w, *r.provisioned_throughput);
    if (r.stream_specification) {
      w.Key("StreamSpecification");
      w.StartObject();
      w.Key("StreamEnabled");
      w.Bool(r.stream_specification->stream_enabled);
      Field(w, "StreamViewType", r.stream_specification->stream_view_type);
      w.EndObject();
    }
    if (!r.tags.empty()) {
      w.Key("Tags");
      w.StartArray();
      for (const auto& [k, v] : r.tags) {
        w.StartObject();
        Field(w, "Key", k);
        w.Key("Value");
        Str(w, v);
        w.EndObject();
      }
      w.EndArray();
    }
  });
}
void Parse(std::string_view body, CreateTableResponse* out) {
  out->table_description = ReadTable(ParseDoc(body), "TableDescription");
}

std::string Serialize(const DescribeTableRequest& r) {
  return Build([&](Writer& w) { Field(w, "TableName", r.table_name); });
}
void Parse(std::string_view body, DescribeTableResponse* out) {
  out->table = ReadTable(ParseDoc(body), "Table");
}

std::string Serialize(const DeleteTableRequest& r) {
  return Build([&](Writer& w) { Field(w, "TableName", r.table_name); });
}
void Parse(std::string_view body, DeleteTableResponse* out) {
  out->table_description = ReadTable(ParseDoc(body), "TableDescription");
}

std::string Serialize(const ListTablesRequest& r) {
  return Build([&](Writer& w) {
    Field(w, "ExclusiveStartTableName", r.exclusive_start_table_name);
    IntField(w, "Limit", r.limit);
  });
}
void Parse(std::string_view body, ListTablesResponse* out) {
  auto doc = ParseDoc(body);
  if (const Value* names = Find(doc, "TableNames")) {
    for (const auto& e : Array(*names, "TableNames").GetArray()) {
      out->table_names.push_back(AsString(e, "table name"));
    }
  }
  out->last_evaluated_table_name = GetString(doc, "LastEvaluatedTableName");
}

std::string Serialize(const UpdateTimeToLiveRequest& r) {
  return Build([&](Writer& w) {
    Field(w, "TableName", r.table_name);
    w.Key("TimeToLiveSpecification");
    w.StartObject();
    Field(w, "AttributeName", r.attribute_name);
    w.Key("Enabled");
    w.Bool(r.enabled);
    w.EndObject();
  });
}
void Parse(std::string_view body, UpdateTimeToLiveResponse* out) {
  auto doc = ParseDoc(body);
  if (const Value* spec = Find(doc, "TimeToLiveSpecification")) {
    out->attribute_name = GetString(*spec, "AttributeName");
    out->enabled = GetBool(*spec, "Enabled");
  }
}

std::string Serialize(const ListStreamsRequest& r) {
  return Build([&](Writer& w) {
    Field(w, "TableName", r.table_name);
    IntField(w, "Limit", r.limit);
    Field(w, "ExclusiveStartStreamArn", r.exclusive_start_stream_arn);
  });
}
void Parse(std::string_view body, ListStreamsResponse* out) {
  auto doc = ParseDoc(body);
  if (const Value* streams = Find(doc, "Streams")) {
    for (const auto& e : Array(*streams, "Streams").GetArray()) {
      out->streams.push_back(
          {GetString(e, "StreamArn"), GetString(e, "TableName"), GetString(e, "StreamLabel")});
    }
  }
  out->last_evaluated_stream_arn = GetString(doc, "LastEvaluatedStreamArn");
}

std::string Serialize(const DescribeStreamRequest& r) {
  return Build([&](Writer& w) {
    Field(w, "StreamArn", r.stream_arn);
    IntField(w, "Limit", r.limit);
    Field(w, "ExclusiveStartShardId", r.exclusive_start_shard_id);
  });
}
void Parse(std::string_view body, DescribeStreamResponse* out) {
  auto doc = ParseDoc(body);
  const Value* d = Find(doc, "StreamDescription");
  if (!d) Bad("DescribeStream response without StreamDescription");
  out->stream_arn = GetString(*d, "StreamArn");
  out->stream_label = GetString(*d, "StreamLabel");
  out->stream_status = GetString(*d, "StreamStatus");
  out->stream_view_type = GetString(*d, "StreamViewType");
  out->table_name = GetString(*d, "TableName");
  out->key_schema = ReadKeySchema(*d);
  if (const Value* shards = Find(*d, "Shards")) {
    for (const auto& e : Array(*shards, "Shards").GetArray()) {
      Shard s;
      s.shard_id = GetString(e, "ShardId");
      s.parent_shard_id = GetString(e, "ParentShardId");
      if (const Value* range = Find(e, "SequenceNumberRange")) {
        s.starting_sequence_number = GetString(*range, "StartingSequenceNumber");
        s.ending_sequence_number = GetString(*range, "EndingSequenceNumber");
      }
      out->shards.push_back(std::move(s));
    }
  }
  out->last_evaluated_shard_id = GetString(*d, "LastEvaluatedShardId");
}

std::string Serialize(const GetShardIteratorRequest& r) {
  return Build([&](Writer& w) {
    Field(w, "StreamArn", r.stream_arn);
    Field(w, "ShardId", r.shard_id);
    Field(w, "ShardIteratorType", r.shard_iterator_type);
    Field(w, "SequenceNumber", r.sequence_number);
  });
}
void Parse(std::string_view body, GetShardIteratorResponse* out) {
  out->shard_iterator = GetString(ParseDoc(body), "ShardIterator");
}

std::string Serialize(const GetRecordsRequest& r) {
  return Build([&](Writer& w) {
    Field(w, "ShardIterator", r.shard_iterator);
    IntField(w, "Limit", r.limit);
  });
}
void Parse(std::string_view body, GetRecordsResponse* out) {
  auto doc = ParseDoc(body);
  if (const Value* records = Find(doc, "Records")) {
    for (const auto& e : Array(*records, "Records").GetArray()) {
      StreamRecord r;
      r.event_id = GetString(e, "eventID");
      r.event_name = GetString(e, "eventName");
      r.event_source = GetString(e, "eventSource");
      r.aws_region = GetString(e, "awsRegion");
      if (const Value* d = Find(e, "dynamodb")) {
        r.approximate_creation_date_time = GetDouble(*d, "ApproximateCreationDateTime");
        if (const Value* keys = Find(*d, "Keys")) r.keys = ReadItem(*keys, 0);
        r.new_image = OptionalItem(*d, "NewImage");
        r.old_image = OptionalItem(*d, "OldImage");
        r.sequence_number = GetString(*d, "SequenceNumber");
        r.size_bytes = GetInt(*d, "SizeBytes");
        r.stream_view_type = GetString(*d, "StreamViewType");
      }
      out->records.push_back(std::move(r));
    }
  }
  out->next_shard_iterator = GetString(doc, "NextShardIterator");
}

// ---------------------------------------------------------------- errors

namespace {

// Non-JSON bodies come from whatever stands between the client and the
// service (AWS front ends and moto answer XML, proxies and load balancers
// HTML). Only their first bytes are parsed: the reason is always near the top,
// and a bound keeps a hostile 64 MiB body from costing a 64 MiB parse.
constexpr size_t kMaxParsedBody = 64 << 10;
constexpr size_t kMaxMessage = 512;  // service messages
constexpr size_t kMaxExcerpt = 200;  // text quoted from a body without a message
// libxml2 walks are iterative; this bounds the work on a hostile document.
constexpr int kMaxNodesVisited = 10000;

size_t IFind(std::string_view haystack, std::string_view needle, size_t from) {
  for (size_t i = from; i + needle.size() <= haystack.size(); ++i) {
    if (IEquals(haystack.substr(i, needle.size()), needle)) return i;
  }
  return std::string_view::npos;
}

// Servers that reject a signature may echo the request's signing material
// (moto quotes the Authorization header, a proxy may echo every header,
// presigned-URL errors quote the query string). The value after each of these
// keys, and anything shaped like an access key id, is replaced before the text
// enters a message.
std::string Redact(std::string s) {
  struct Key {
    std::string_view name;
    std::string_view end;  // what ends the value
  };
  // Header lines first: their value runs to the end of the line and may hold
  // the parameters below.
  static constexpr Key kKeys[] = {
      {"authorization:", "\r\n<\""},          {"x-amz-security-token:", "\r\n<\""},
      {"credential=", " \t\r\n,;&\"'<>"},     {"signature=", " \t\r\n,;&\"'<>"},
      {"security-token=", " \t\r\n,;&\"'<>"}, {"securitytoken=", " \t\r\n,;&\"'<>"},
      {"sessiontoken=", " \t\r\n,;&\"'<>"},
  };
  static constexpr std::string_view kMask = "REDACTED";
  for (const Key& key : kKeys) {
    for (size_t at = IFind(s, key.name, 0); at != std::string::npos; at = IFind(s, key.name, at)) {
      at += key.name.size();
      if (key.name.back() == ':') at = std::min(s.find_first_not_of(" \t", at), s.size());
      size_t end = s.find_first_of(key.end, at);
      if (end == std::string::npos) end = s.size();
      s.replace(at, end - at, kMask);
      at += kMask.size();
    }
  }
  // AKIA/ASIA + 16 upper-case letters or digits: long-term and session key ids.
  auto key_char = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  for (size_t i = 0; i + 20 <= s.size(); ++i) {
    if ((s.compare(i, 4, "AKIA") != 0 && s.compare(i, 4, "ASIA") != 0) ||
        (i > 0 && key_char(s[i - 1]))) {
      continue;
    }
    size_t n = 4;
    while (i + n < s.size() && key_char(s[i + n])) ++n;
    if (n == 20) s.replace(i, n, kMask);
  }
  return s;
}

// The length of the valid, printable UTF-8 sequence at s[i], or 0: C0/C1
// controls, DEL, stray continuation bytes, overlong and surrogate encodings
// all count as not printable.
size_t PrintableAt(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c >= 0x20 && c < 0x7f) return 1;
  size_t n = (c >= 0xc2 && c <= 0xdf)   ? 2
             : (c >= 0xe0 && c <= 0xef) ? 3
             : (c >= 0xf0 && c <= 0xf4) ? 4
                                        : 0;
  if (n == 0 || i + n > s.size()) return 0;
  uint32_t cp = c & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f) return 0;
  return n;
}

// What a message may hold: credentials redacted, whitespace runs folded into
// one space, anything unprintable shown as '?', at most `max` bytes (cut on a
// character boundary, marked with "...").
std::string Clean(std::string_view raw, size_t max) {
  // Folding whitespace can shrink the text, so redact a generous prefix.
  const size_t taken = std::min(raw.size(), 4 * max + 64);
  std::string s = Redact(std::string(raw.substr(0, taken)));
  std::string out;
  auto cut = [&] {
    // On a character boundary, leaving room for the marker.
    size_t keep = max > 3 ? max - 3 : 0;
    if (out.size() > keep) {
      while (keep > 0 && (static_cast<unsigned char>(out[keep]) & 0xc0) == 0x80) --keep;
      out.resize(keep);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "...";
  };
  bool space = false;
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
      ++i;
      continue;
    }
    size_t n = PrintableAt(s, i);
    if (out.size() + (space ? 1 : 0) + std::max<size_t>(n, 1) > max) return cut();
    if (space) out += ' ';
    space = false;
    if (n == 0) {
      out += '?';
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return taken < raw.size() ? cut() : out;
}

// True when most of the body is not text: quoting it would say nothing.
bool LooksBinary(std::string_view body) {
  std::string_view head = body.substr(0, std::min(body.size(), kMaxExcerpt));
  size_t bad = 0;
  for (size_t i = 0; i < head.size();) {
    char c = head[i];
    size_t n = (c == '\t' || c == '\n' || c == '\r') ? 1 : PrintableAt(head, i);
    if (n == 0) {
      if (c == '\0') return true;
      ++bad;
      n = 1;
    }
    i += n;
  }
  return bad * 4 > head.size();
}

struct XmlDocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using XmlDoc = std::unique_ptr<xmlDoc, XmlDocFree>;

bool NameIs(const xmlNode* n, std::string_view name) {
  return n->type == XML_ELEMENT_NODE && n->name &&
         IEquals(reinterpret_cast<const char*>(n->name), name);
}

// The text directly inside an element. Entity references are not followed,
// so nothing a DTD declares can reach a message.
std::string TextOf(const xmlNode* n) {
  std::string out;
  for (const xmlNode* c = n->children; c && out.size() < 4 * kMaxMessage; c = c->next) {
    if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
      out += reinterpret_cast<const char*>(c->content);
    }
  }
  return out;
}

// Depth-first, document order, without recursion: the first element that
// `match` accepts, or null.
template <class Match>
const xmlNode* FindElement(const xmlNode* root, Match match) {
  int budget = kMaxNodesVisited;
  const xmlNode* n = root;
  while (n && --budget > 0) {
    if (n->type == XML_ELEMENT_NODE && match(n)) return n;
    if (n->children && n->type == XML_ELEMENT_NODE) {
      n = n->children;
      continue;
    }
    while (n && n != root && !n->next) n = n->parent;
    if (!n || n == root) return nullptr;
    n = n->next;
  }
  return nullptr;
}

// The visible text of an HTML element (scripts and styles skipped).
std::string VisibleText(const xmlNode* root) {
  std::string out;
  int budget = kMaxNodesVisited;
  const xmlNode* n = root;
  while (n && --budget > 0 && out.size() < 4 * kMaxExcerpt) {
    bool skip = NameIs(n, "script") || NameIs(n, "style") || NameIs(n, "head");
    if (n->type == XML_TEXT_NODE && n->content) {
      out += reinterpret_cast<const char*>(n->content);
      out += ' ';
    }
    if (n->children && n->type == XML_ELEMENT_NODE && !skip) {
      n = n->children;
      continue;
    }
    while (n && n != root && !n->next) n = n->parent;
    if (!n || n == root) break;
    n = n->next;
  }
  return out;
}

void InitXml() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

// What a non-JSON error body says: `code` from an XML <Code>, `message` from
// an XML <Message>, an HTML title or heading, or an excerpt of the text.
struct BodyReason {
  std::string code;
  std::string message;
};

bool StartsWithHtml(std::string_view text) {
  for (std::string_view prefix : {"<!doctype html", "<html"}) {
    if (text.size() >= prefix.size() && IEquals(text.substr(0, prefix.size()), prefix)) return true;
  }
  return false;
}

BodyReason ReadMarkup(std::string_view body) {
  BodyReason r;
  size_t start = body.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos || body[start] != '<') return r;
  std::string_view head = body.substr(start, std::min(body.size() - start, kMaxParsedBody));
  // No AWS or proxy error body declares entities; one that does is quoted as
  // text, unparsed, whatever the libxml2 version does about expansion.
  if (head.find("<!ENTITY") != std::string_view::npos) return r;
  const int size = static_cast<int>(head.size());
  InitXml();
  if (!StartsWithHtml(head)) {
    // NONET: never fetch; no NOENT/DTDLOAD: entities stay references and no
    // external subset is read; RECOVER: a body cut at kMaxParsedBody still
    // yields its first elements; NOERROR/NOWARNING: nothing on stderr.
    XmlDoc doc(xmlReadMemory(head.data(), size, nullptr, nullptr,
                             XML_PARSE_NONET | XML_PARSE_RECOVER | XML_PARSE_NOERROR |
                                 XML_PARSE_NOWARNING | XML_PARSE_NOCDATA));
    if (const xmlNode* root = doc ? xmlDocGetRootElement(doc.get()) : nullptr) {
      if (const xmlNode* c =
              FindElement(root, [](const xmlNode* n) { return NameIs(n, "Code"); })) {
        r.code = Clean(TextOf(c), 128);
        // A code is one word, not a sentence someone put in a <Code> element.
        if (r.code.find_first_of(" :") != std::string::npos) r.code.clear();
      }
      if (const xmlNode* m =
              FindElement(root, [](const xmlNode* n) { return NameIs(n, "Message"); })) {
        r.message = Clean(TextOf(m), kMaxMessage);
      }
      if (!r.code.empty() || !r.message.empty()) return r;
    }
  }
  // HTML, XHTML, tag soup or XML without Code/Message: the page's title, its
  // first heading, or its visible text.
  XmlDoc doc(htmlReadMemory(head.data(), size, nullptr, nullptr,
                            HTML_PARSE_NONET | HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
                                HTML_PARSE_NOWARNING | HTML_PARSE_NOBLANKS));
  if (const xmlNode* root = doc ? xmlDocGetRootElement(doc.get()) : nullptr) {
    for (const char* name : {"title", "h1", "h2", "h3"}) {
      const xmlNode* e = FindElement(root, [name](const xmlNode* n) { return NameIs(n, name); });
      if (e) r.message = Clean(VisibleText(e), kMaxExcerpt);
      if (!r.message.empty()) return r;
    }
    r.message = Clean(VisibleText(root), kMaxExcerpt);
  }
  return r;
}

// "ValidationException:http://internal.amazon.com/coral/..." -> "ValidationException".
std::string TypeFromHeader(std::string_view header) {
  std::string_view t = header.substr(0, header.find(':'));
  if (size_t hash = t.rfind('#'); hash != std::string_view::npos) t = t.substr(hash + 1);
  std::string code = Clean(t, 128);
  return code.find(' ') == std::string::npos ? code : "";
}

bool IsThrottleCode(std::string_view type) {
  return type == "ProvisionedThroughputExceededException" || type == "ThrottlingException" ||
         type == "Throttling" || type == "RequestLimitExceeded" ||
         type == "LimitExceededException" || type == "SlowDown";
}

// Credentials or signing the caller must fix; repeating the request cannot help.
bool IsAuthCode(std::string_view type) {
  return type == "SignatureDoesNotMatch" || type == "InvalidClientTokenId" ||
         type == "UnrecognizedClientException" || type == "MissingAuthenticationToken" ||
         type == "IncompleteSignature" || type == "InvalidSignatureException" ||
         type.starts_with("AccessDenied") || type.starts_with("ExpiredToken");
}

}  // namespace

std::exception_ptr ErrorFromResponse(long status, std::string_view body, Op op,
                                     std::string_view error_type_header) {
  const int code_status = static_cast<int>(status);
  const std::string http = "HTTP " + std::to_string(status);
  std::string type, message;
  bool json = false;
  InlineDocument parsed;
  auto& doc = parsed.doc();
  try {
    doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
    if (!doc.HasParseError() && doc.IsObject()) {
      json = true;
      type = GetString(doc, "__type");
      message = GetString(doc, "message");
      if (message.empty()) message = GetString(doc, "Message");
    }
  } catch (const InvalidResponse&) {
    type.clear();
  }
  if (size_t hash = type.rfind('#'); hash != std::string::npos) type = type.substr(hash + 1);
  type = Clean(type, 128);
  message = Clean(message, kMaxMessage);
  if (json && !type.empty()) {
    // A DynamoDB error body: its message as the service wrote it.
    if (message.empty()) message = http;
  } else {
    // Anything else: the reason as far as it can be read, always with the status.
    if (!json) {
      BodyReason reason = ReadMarkup(body);
      type = std::move(reason.code);
      message = std::move(reason.message);
    }
    const bool blank = body.find_first_not_of(" \t\r\n") == std::string_view::npos;
    // A body that names a code but says nothing more is not worth quoting.
    if (message.empty() && type.empty() && !blank) {
      message = LooksBinary(body) ? std::to_string(body.size()) + "-byte binary body"
                                  : Clean(body, kMaxExcerpt);
    }
    if (type.empty()) type = TypeFromHeader(error_type_header);
    message = !message.empty() ? http + ": " + message
              : blank          ? http + " with an empty body"
                               : http;
  }

  try {
    if (type == "ConditionalCheckFailedException") {
      // Items and reasons come only with a JSON body; a header can name the type alone.
      std::optional<Item> item = json ? OptionalItem(doc, "Item") : std::nullopt;
      return std::make_exception_ptr(ConditionalCheckFailed(message, std::move(item)));
    }
    if (type == "TransactionCanceledException") {
      std::vector<CancellationReason> reasons;
      if (const Value* v = json ? Find(doc, "CancellationReasons") : nullptr) {
        for (const auto& e : Array(*v, "CancellationReasons").GetArray()) {
          reasons.push_back({GetString(e, "Code"), Clean(GetString(e, "Message"), kMaxMessage),
                             OptionalItem(e, "Item")});
        }
      }
      return std::make_exception_ptr(TransactionCanceled(message, std::move(reasons)));
    }
  } catch (const InvalidResponse& e) {
    return std::make_exception_ptr(e);
  }
  if (type == "TransactionConflictException") {
    // Documented as retryable for single-item operations that collided with a
    // transaction; a transaction itself reports conflicts as cancellations.
    bool retryable = op != Op::kTransactWriteItems && op != Op::kTransactGetItems;
    return std::make_exception_ptr(TransactionConflict(message, retryable));
  }
  if (type == "ResourceNotFoundException") {
    return std::make_exception_ptr(ResourceNotFound(message));
  }
  if (type == "ResourceInUseException") return std::make_exception_ptr(ResourceInUse(message));
  if (type == "ExpiredIteratorException" || type == "TrimmedDataAccessException") {
    return std::make_exception_ptr(ExpiredIterator(type, message));
  }
  if (IsThrottleCode(type) || status == 429) {
    return std::make_exception_ptr(
        Throttled(type.empty() ? "HTTP" + std::to_string(status) : type, message, code_status));
  }
  if (IsAuthCode(type)) {
    return std::make_exception_ptr(InvalidRequest(type, message, code_status));
  }
  if (status >= 500 || type == "InternalServerError" || type == "ServiceUnavailable") {
    return std::make_exception_ptr(
        ServerError(type.empty() ? "HTTP" + std::to_string(status) : type, message, code_status));
  }
  if (type.empty()) return std::make_exception_ptr(InvalidResponse(message, code_status));
  return std::make_exception_ptr(InvalidRequest(type, message, code_status));
}

// ---------------------------------------------------------------- helpers

std::string ItemToJson(const Item& item) {
  // Item requests are a few hundred bytes; start big enough to not regrow.
  rapidjson::StringBuffer buf(nullptr, 1024);
  Writer w(buf);
  WriteItem(w, item);
  return std::string(buf.GetString(), buf.GetSize());
}

Item ItemFromJson(std::string_view json) { return ReadItem(ParseDoc(json), 0); }

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) Bad("bad base64 length");
  if (text.empty()) return "";
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) Bad("bad base64");
  size_t pad = 0;
  if (text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

}  // namespace zae::aws

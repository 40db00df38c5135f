#include "cli/cfn_template.h"

#include "zae/admin.h"

namespace zae::cli {
namespace {

// Kept as one literal so it reads like the YAML it is; the two variable
// parts are substituted below.
constexpr const char* kTemplate = R"(AWSTemplateFormatVersion: "2010-09-09"
Description: zae-limiter rate limiter table (schema @SCHEMA@), created by zae-limiter-cpp @VERSION@

Parameters:
  PITRRecoveryPeriodDays:
    Type: Number
    Default: 0
    MinValue: 0
    MaxValue: 35
    Description: Point-in-time recovery period in days (1-35); 0 keeps the AWS default (35)
  EnableDeletionProtection:
    Type: String
    Default: "false"
    AllowedValues: ["true", "false"]
    Description: Protect the table from deletion

Conditions:
  HasPITRRecoveryPeriod: !Not [!Equals [!Ref PITRRecoveryPeriodDays, 0]]
  DeletionProtection: !Equals [!Ref EnableDeletionProtection, "true"]

Resources:
  RateLimitsTable:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      TableName: !Ref AWS::StackName
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: PK, AttributeType: S}
        - {AttributeName: SK, AttributeType: S}
        - {AttributeName: GSI1PK, AttributeType: S}
        - {AttributeName: GSI1SK, AttributeType: S}
        - {AttributeName: GSI2PK, AttributeType: S}
        - {AttributeName: GSI2SK, AttributeType: S}
        - {AttributeName: GSI3PK, AttributeType: S}
        - {AttributeName: GSI3SK, AttributeType: S}
        - {AttributeName: GSI4PK, AttributeType: S}
        - {AttributeName: GSI4SK, AttributeType: S}
        - {AttributeName: LSI1SK, AttributeType: S}
        - {AttributeName: LSI2SK, AttributeType: S}
        - {AttributeName: LSI3SK, AttributeType: S}
        - {AttributeName: LSI4SK, AttributeType: S}
        - {AttributeName: LSI5SK, AttributeType: S}
      KeySchema:
        - {AttributeName: PK, KeyType: HASH}
        - {AttributeName: SK, KeyType: RANGE}
      GlobalSecondaryIndexes:
        # parent -> children
        - IndexName: GSI1
          KeySchema:
            - {AttributeName: GSI1PK, KeyType: HASH}
            - {AttributeName: GSI1SK, KeyType: RANGE}
          Projection: {ProjectionType: ALL}
        # per-resource buckets and usage snapshots
        - IndexName: GSI2
          KeySchema:
            - {AttributeName: GSI2PK, KeyType: HASH}
            - {AttributeName: GSI2SK, KeyType: RANGE}
          Projection: {ProjectionType: @GSI2@}
        # entity configs per resource; buckets per entity
        - IndexName: GSI3
          KeySchema:
            - {AttributeName: GSI3PK, KeyType: HASH}
            - {AttributeName: GSI3SK, KeyType: RANGE}
          Projection: {ProjectionType: KEYS_ONLY}
        # every item of a namespace (namespace purge)
        - IndexName: GSI4
          KeySchema:
            - {AttributeName: GSI4PK, KeyType: HASH}
            - {AttributeName: GSI4SK, KeyType: RANGE}
          Projection: {ProjectionType: KEYS_ONLY}
      # Reserved slots (ADR-123): never written, kept for table-format parity.
      LocalSecondaryIndexes:
        - IndexName: LSI1
          KeySchema:
            - {AttributeName: PK, KeyType: HASH}
            - {AttributeName: LSI1SK, KeyType: RANGE}
          Projection: {ProjectionType: ALL}
        - IndexName: LSI2
          KeySchema:
            - {AttributeName: PK, KeyType: HASH}
            - {AttributeName: LSI2SK, KeyType: RANGE}
          Projection: {ProjectionType: KEYS_ONLY}
        - IndexName: LSI3
          KeySchema:
            - {AttributeName: PK, KeyType: HASH}
            - {AttributeName: LSI3SK, KeyType: RANGE}
          Projection: {ProjectionType: ALL}
        - IndexName: LSI4
          KeySchema:
            - {AttributeName: PK, KeyType: HASH}
            - {AttributeName: LSI4SK, KeyType: RANGE}
          Projection: {ProjectionType: KEYS_ONLY}
        - IndexName: LSI5
          KeySchema:
            - {AttributeName: PK, KeyType: HASH}
            - {AttributeName: LSI5SK, KeyType: RANGE}
          Projection: {ProjectionType: ALL}
      StreamSpecification:
        StreamViewType: NEW_AND_OLD_IMAGES
      TimeToLiveSpecification:
        AttributeName: ttl
        Enabled: true
      PointInTimeRecoverySpecification:
        PointInTimeRecoveryEnabled: true
        RecoveryPeriodInDays: !If [HasPITRRecoveryPeriod, !Ref PITRRecoveryPeriodDays, !Ref AWS::NoValue]
      DeletionProtectionEnabled: !If [DeletionProtection, true, false]
      Tags:
        - {Key: Application, Value: zae-limiter}
        - {Key: ManagedBy, Value: zae-limiter}

Outputs:
  TableName:
    Value: !Ref RateLimitsTable
    Export: {Name: !Sub "${AWS::StackName}-TableName"}
  TableArn:
    Value: !GetAtt RateLimitsTable.Arn
    Export: {Name: !Sub "${AWS::StackName}-TableArn"}
  StreamArn:
    Value: !GetAtt RateLimitsTable.StreamArn
    Export: {Name: !Sub "${AWS::StackName}-StreamArn"}
)";

void ReplaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

}  // namespace

std::string CfnTemplate(bool narrow_gsi2) {
  std::string t = kTemplate;
  ReplaceAll(t, "@SCHEMA@", kSchemaVersion);
  ReplaceAll(t, "@VERSION@", kLibraryVersion);
  ReplaceAll(t, "@GSI2@", narrow_gsi2 ? "KEYS_ONLY" : "ALL");
  return t;
}

}  // namespace zae::cli

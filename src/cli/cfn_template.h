// The CloudFormation template of the table (format.md §1): keys, GSI1-GSI4,
// the five reserved LSIs, streams with new and old images, TTL on `ttl`,
// on-demand billing, point-in-time recovery. Table name = stack name.
#ifndef ZAE_CLI_CFN_TEMPLATE_H_
#define ZAE_CLI_CFN_TEMPLATE_H_

#include <string>

namespace zae::cli {

// narrow_gsi2: project GSI2 KEYS_ONLY (1 WCU per warm acquire) instead of the
// reference's ALL; see ProvisionOptions in include/zae/store.h.
std::string CfnTemplate(bool narrow_gsi2);

}  // namespace zae::cli

#endif  // ZAE_CLI_CFN_TEMPLATE_H_

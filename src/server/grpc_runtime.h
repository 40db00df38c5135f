// Process-wide settings for the gRPC runtime, shared by the server and the
// load generator.
//
// Thread safety: ConfigureGrpcRuntime may be called from any thread, any
// number of times; the first call applies the settings. Call it before
// creating a gRPC server or channel. It never fails.
#ifndef ZAE_SERVER_GRPC_RUNTIME_H_
#define ZAE_SERVER_GRPC_RUNTIME_H_

namespace zae::server {

void ConfigureGrpcRuntime();

}  // namespace zae::server

#endif  // ZAE_SERVER_GRPC_RUNTIME_H_

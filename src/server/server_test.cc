// TLS and mTLS on both listeners, with certificates made by openssl here.
#include <cstdlib>

#include "server/server_test_util.h"

namespace zae::server::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class TlsTest : public ServerTest {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/tls-" + std::to_string(::getpid());
    const std::string d = dir_;
    // A CA, a server certificate for 127.0.0.1 and a client certificate.
    const std::string script =
        "set -e; mkdir -p " + d + "; cd " + d +
        "; openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1"
        " -subj /CN=zae-test-ca 2>/dev/null"
        "; printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext"
        "; openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr"
        " -subj /CN=127.0.0.1 2>/dev/null"
        "; openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -out server.pem -days 1 -extfile san.ext 2>/dev/null"
        "; openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr"
        " -subj /CN=client 2>/dev/null"
        "; openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -out client.pem -days 1 2>/dev/null";
    ASSERT_EQ(std::system(script.c_str()), 0) << "openssl failed";
  }

  ServerOptions Tls(bool mutual) {
    ServerOptions o;
    o.tls_cert = dir_ + "/server.pem";
    o.tls_key = dir_ + "/server.key";
    if (mutual) o.tls_client_ca = dir_ + "/ca.pem";
    return o;
  }

  // ShouldRateLimit over TLS, optionally with the client certificate.
  grpc::Status GrpcCall(bool with_client_cert) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(dir_ + "/ca.pem");
    if (with_client_cert) {
      ssl.pem_private_key = ReadFile(dir_ + "/client.key");
      ssl.pem_cert_chain = ReadFile(dir_ + "/client.pem");
    }
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                       grpc::SslCredentials(ssl));
    auto stub = envoy::service::ratelimit::v3::RateLimitService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    rlspb::RateLimitResponse response;
    return stub->ShouldRateLimit(&context, Request("gateway", {{{{"api_key", "t1"}}}}), &response);
  }

  int HttpsGet(bool with_client_cert) {
    std::unique_ptr<httplib::SSLClient> client =
        with_client_cert
            ? std::make_unique<httplib::SSLClient>("127.0.0.1", server_->http_port(),
                                                   dir_ + "/client.pem", dir_ + "/client.key")
            : std::make_unique<httplib::SSLClient>("127.0.0.1", server_->http_port());
    client->set_ca_cert_path((dir_ + "/ca.pem").c_str());
    client->enable_server_certificate_verification(true);
    client->set_connection_timeout(5);
    auto res = client->Get("/healthz");
    return res ? res->status : -1;
  }

  std::string dir_;
};

TEST_F(TlsTest, BothListenersSpeakTls) {
  StartWith(kGatewayRules, Tls(false));
  EXPECT_TRUE(GrpcCall(false).ok());
  EXPECT_EQ(HttpsGet(false), 200);
  // Plain text is refused.
  EXPECT_FALSE(http_->Get("/healthz"));
  rlspb::RateLimitResponse response;
  EXPECT_FALSE(Call(Request("gateway", {{{{"api_key", "t1"}}}}), &response).ok());
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificate) {
  StartWith(kGatewayRules, Tls(true));
  EXPECT_TRUE(GrpcCall(true).ok());
  EXPECT_FALSE(GrpcCall(false).ok());
  EXPECT_EQ(HttpsGet(true), 200);
  EXPECT_EQ(HttpsGet(false), -1);
}

TEST(ServerStartTest, BadOptionsAreClearErrors) {
  FakeClock clock;
  RateLimiterOptions lo;
  lo.clock = &clock;
  std::shared_ptr<RateLimiter> limiter = RateLimiter::Open(std::make_shared<MemoryStore>(), lo);
  auto start = [&](auto edit) {
    ServerOptions o;
    o.grpc_listen = "127.0.0.1:0";
    o.http_listen = "127.0.0.1:0";
    edit(o);
    try {
      Server::Start(limiter, o);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("started");
  };
  EXPECT_NE(start([](ServerOptions& o) { o.grpc_listen = "nohost"; }).find("HOST:PORT"),
            std::string::npos);
  EXPECT_NE(start([](ServerOptions& o) { o.http_listen = "127.0.0.1:99999"; }).find("0..65535"),
            std::string::npos);
  EXPECT_NE(start([](ServerOptions& o) { o.tls_cert = "/x.pem"; }).find("both"), std::string::npos);
  EXPECT_NE(start([](ServerOptions& o) {
              o.tls_cert = "/nonexistent.pem";
              o.tls_key = "/nonexistent.key";
            }).find("cannot read"),
            std::string::npos);
  EXPECT_NE(
      start([](ServerOptions& o) { o.config_path = "/nonexistent.yaml"; }).find("cannot read"),
      std::string::npos);
  EXPECT_NE(start([](ServerOptions& o) {
              o.grpc_listen = "";
              o.http_listen = "";
            }).find("nothing to serve"),
            std::string::npos);
  // A port in use.
  auto first = Server::Start(limiter, [] {
    ServerOptions o;
    o.grpc_listen = "127.0.0.1:0";
    o.http_listen = "127.0.0.1:0";
    return o;
  }());
  const std::string http_taken = "127.0.0.1:" + std::to_string(first->http_port());
  const std::string grpc_taken = "127.0.0.1:" + std::to_string(first->grpc_port());
  EXPECT_NE(start([&](ServerOptions& o) { o.http_listen = http_taken; }).find("cannot listen"),
            std::string::npos);
  EXPECT_NE(start([&](ServerOptions& o) { o.grpc_listen = grpc_taken; }).find("cannot listen"),
            std::string::npos);
}

}  // namespace
}  // namespace zae::server::testing

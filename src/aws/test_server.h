// Test scaffolding: a tiny loopback HTTP/1.1 server that answers each request
// with whatever the handler returns, one connection at a time, then closes the
// connection. Only for tests of HTTP credential sources and retries.
#ifndef ZAE_AWS_TEST_SERVER_H_
#define ZAE_AWS_TEST_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>

namespace zae::aws::testing {

struct TestRequest {
  std::string method, path, body;
  std::map<std::string, std::string> headers;  // lowercase names
};
struct TestResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/x-amz-json-1.0";
  std::map<std::string, std::string> headers;  // sent in addition
};

class TestServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;
  explicit TestServer(Handler handler);
  ~TestServer();
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }

 private:
  void Serve();
  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace zae::aws::testing

#endif  // ZAE_AWS_TEST_SERVER_H_

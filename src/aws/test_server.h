// Test scaffolding: a tiny loopback HTTP/1.1 server that answers each request
// with whatever the handler returns, one connection at a time, then closes the
// connection (unless told to keep it alive). Only for tests of the HTTP
// client, credential sources and retries.
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
  bool drop = false;                           // close the connection instead of answering
};

class TestServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;
  explicit TestServer(Handler handler);
  ~TestServer();
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }
  // Close each connection after its response without saying so (no
  // "Connection: close"): the client keeps the dead connection cached, as
  // when a server drops idle keep-alive connections.
  void set_silent_close(bool on) { silent_close_ = on; }
  // Keep each connection open for further requests until the client closes
  // it (one connection at a time still).
  void set_keep_alive(bool on) { keep_alive_ = on; }

 private:
  void Serve();
  bool ServeOne(int connection);  // false: the connection is done
  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> silent_close_{false};
  std::atomic<bool> keep_alive_{false};
  std::thread thread_;
};

}  // namespace zae::aws::testing

#endif  // ZAE_AWS_TEST_SERVER_H_

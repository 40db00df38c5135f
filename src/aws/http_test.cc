#include "aws/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "aws/test_server.h"

namespace zae::aws {
namespace {

using testing::TestRequest;
using testing::TestResponse;
using testing::TestServer;
using namespace std::chrono_literals;

// Counts callbacks and lets the test wait for a number of them.
class Done {
 public:
  void Add(HttpResult r) {
    std::lock_guard lock(mu_);
    results_.push_back(std::move(r));
    cv_.notify_all();
  }
  bool WaitFor(size_t n, std::chrono::seconds limit = 20s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return results_.size() >= n; });
  }
  std::vector<HttpResult> Results() {
    std::lock_guard lock(mu_);
    return results_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<HttpResult> results_;
};

HttpRequest Numbered(int i) {
  HttpRequest r;
  r.body = std::to_string(i);
  r.headers = {{"x-n", std::to_string(i)}};
  return r;
}

TestServer Echo() {
  return TestServer([](const TestRequest& req) {
    TestResponse resp;
    resp.body = req.body + "/" + req.headers.at("x-n");
    return resp;
  });
}

// Each request is sent from the callback of the one before (AddFromLoop:
// the request joins the I/O thread's own loop). All of them must reach the
// server with their own headers and body, and each answer must reach its
// own callback.
TEST(HttpClientTest, RequestsSentFromCallbacksChainOnTheIoThread) {
  TestServer server = Echo();
  HttpClient client;
  Done done;
  constexpr int kChain = 40;
  std::function<void(int)> send = [&](int i) {
    client.Send(server.url(), Numbered(i), 5000ms, [&, i](HttpResult&& r) {
      EXPECT_TRUE(OnIoThread());
      const bool ok = r.transport_ok && r.body == std::to_string(i) + "/" + std::to_string(i);
      done.Add(std::move(r));
      if (ok && i + 1 < kChain) send(i + 1);
    });
  };
  send(0);
  ASSERT_TRUE(done.WaitFor(kChain)) << done.Results().size() << " of " << kChain;
  auto results = done.Results();
  for (int i = 0; i < kChain; ++i) {
    EXPECT_TRUE(results[static_cast<size_t>(i)].transport_ok)
        << results[static_cast<size_t>(i)].error;
    EXPECT_EQ(results[static_cast<size_t>(i)].body, std::to_string(i) + "/" + std::to_string(i));
  }
  EXPECT_EQ(server.requests(), kChain);
}

// The server drops every connection after its answer without announcing it,
// so the client caches a connection whose socket then fires while no
// transfer watches it (a parked socket), and descriptor numbers are reused
// by the next connection. A stale epoll registration would leave the next
// request unwatched until its timeout.
TEST(HttpClientTest, ServerClosingIdleConnectionsDoesNotStallLaterRequests) {
  TestServer server = Echo();
  server.set_silent_close(true);
  HttpOptions options;
  options.io_threads = 1;
  HttpClient client(options);
  for (int i = 0; i < 20; ++i) {
    Done done;
    client.Send(server.url(), Numbered(i), 3000ms, [&](HttpResult&& r) { done.Add(std::move(r)); });
    ASSERT_TRUE(done.WaitFor(1));
    auto r = done.Results()[0];
    ASSERT_TRUE(r.transport_ok) << "request " << i << ": " << r.error;
    EXPECT_EQ(r.body, std::to_string(i) + "/" + std::to_string(i));
    std::this_thread::sleep_for(5ms);  // let the close arrive while idle
  }
  EXPECT_EQ(server.requests(), 20);
}

// Two kept-alive servers and a connection cache of one: each request to one
// server makes curl close the cached (parked, still registered) connection
// to the other, and the next connection usually gets that descriptor's
// number. The client must not take the new socket for the registered one.
TEST(HttpClientTest, ConnectionsClosedWhileParkedDoNotStallLaterRequests) {
  TestServer a = Echo();
  TestServer b = Echo();
  a.set_keep_alive(true);
  b.set_keep_alive(true);
  HttpOptions options;
  options.io_threads = 1;
  options.max_connections_per_thread = 1;
  HttpClient client(options);
  for (int i = 0; i < 12; ++i) {
    Done done;
    const std::string url = i % 2 == 0 ? a.url() : b.url();
    client.Send(url, Numbered(i), 2000ms, [&](HttpResult&& r) { done.Add(std::move(r)); });
    ASSERT_TRUE(done.WaitFor(1));
    auto r = done.Results()[0];
    ASSERT_TRUE(r.transport_ok) << "request " << i << ": " << r.error;
    EXPECT_EQ(r.body, std::to_string(i) + "/" + std::to_string(i));
  }
  EXPECT_EQ(a.requests() + b.requests(), 12);
}

// A listener that never answers: connections are accepted by the kernel
// (backlog) and requests wait until the client gives up.
class Silent {
 public:
  Silent() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  }
  ~Silent() { ::close(fd_); }
  const std::string& url() const { return url_; }

 private:
  int fd_ = -1;
  std::string url_;
};

// Destroying the client fails what is in flight; a callback that sends again
// from there gets a cancelled result too, and every callback runs once.
TEST(HttpClientTest, DestructionCancelsInFlightAndResentRequestsOnce) {
  Silent silent;
  Done done;
  std::mutex mu;
  std::multiset<std::string> called;  // body of each request whose callback ran
  {
    HttpClient client;
    for (int i = 0; i < 4; ++i) {
      client.Send(silent.url(), Numbered(i), 30000ms, [&, i](HttpResult&& r) {
        {
          std::lock_guard lock(mu);
          called.insert(std::to_string(i));
        }
        EXPECT_TRUE(r.cancelled);
        EXPECT_FALSE(r.transport_ok);
        // Resend from the callback: during shutdown this must fail as well.
        client.Send(silent.url(), Numbered(100 + i), 30000ms, [&, i](HttpResult&& again) {
          {
            std::lock_guard lock(mu);
            called.insert(std::to_string(100 + i));
          }
          EXPECT_TRUE(again.cancelled);
          done.Add(std::move(again));
        });
        done.Add(std::move(r));
      });
    }
    std::this_thread::sleep_for(100ms);  // connected, waiting for an answer
  }
  ASSERT_TRUE(done.WaitFor(8, 5s));
  std::lock_guard lock(mu);
  EXPECT_EQ(called.size(), 8u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(called.count(std::to_string(i)), 1u);
    EXPECT_EQ(called.count(std::to_string(100 + i)), 1u);
  }
}

}  // namespace
}  // namespace zae::aws

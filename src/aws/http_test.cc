#include "aws/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

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

// Sends one request and waits for its result (a missing one fails the test:
// at(0) throws).
HttpResult SendAndWait(HttpClient& client, const std::string& url, HttpRequest request,
                       std::chrono::milliseconds timeout, std::chrono::seconds wait = 20s) {
  Done done;
  client.Send(url, std::move(request), timeout, [&](HttpResult&& r) { done.Add(std::move(r)); });
  EXPECT_TRUE(done.WaitFor(1, wait)) << url;
  return done.Results().at(0);
}

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

// A request sent from a callback goes out once the callback has returned,
// not from inside it (see AddFromLoop). On a kept-alive connection it would
// otherwise be written at once, and the server would see it while the
// callback still runs.
TEST(HttpClientTest, ARequestSentFromACallbackGoesOutWhenTheCallbackReturns) {
  TestServer server = Echo();
  server.set_keep_alive(true);
  HttpClient client;
  Done done;
  int seen_inside = -1;
  client.Send(server.url(), Numbered(0), 5000ms, [&](HttpResult&& first) {
    client.Send(server.url(), Numbered(1), 5000ms,
                [&](HttpResult&& second) { done.Add(std::move(second)); });
    std::this_thread::sleep_for(300ms);  // time for a request sent now to arrive
    seen_inside = server.requests();
    done.Add(std::move(first));
  });
  ASSERT_TRUE(done.WaitFor(2));
  EXPECT_EQ(seen_inside, 1);
  EXPECT_EQ(server.requests(), 2);
  for (const HttpResult& r : done.Results()) EXPECT_TRUE(r.transport_ok) << r.error;
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
    const HttpResult r = SendAndWait(client, server.url(), Numbered(i), 3000ms);
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
    const std::string url = i % 2 == 0 ? a.url() : b.url();
    const HttpResult r = SendAndWait(client, url, Numbered(i), 2000ms);
    ASSERT_TRUE(r.transport_ok) << "request " << i << ": " << r.error;
    EXPECT_EQ(r.body, std::to_string(i) + "/" + std::to_string(i));
  }
  EXPECT_EQ(a.requests() + b.requests(), 12);
}

// A socket bound to a free loopback port, listening when backlog > 0.
int ListenOnLoopback(int backlog, int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  if (backlog > 0) {
    EXPECT_EQ(::listen(fd, backlog), 0);
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

// A listener that never answers: connections are accepted by the kernel
// (backlog) and requests wait until the client gives up. With a backlog of
// 1 the kernel finishes two handshakes, then drops every later SYN, so
// those connects hang.
class Silent {
 public:
  explicit Silent(int backlog = 64) {
    int port = 0;
    fd_ = ListenOnLoopback(backlog, &port);
    url_ = "http://127.0.0.1:" + std::to_string(port);
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

// A kept-alive connection the server closes when the next request arrives
// on it (after the client's liveness check): a request that may be sent
// twice goes out again once on a new connection; a send_once one fails,
// saying it may have been applied.
TEST(HttpClientTest, AStaleConnectionIsReplacedOnceUnlessTheRequestIsSendOnce) {
  std::atomic<int> n{0};
  TestServer server([&](const TestRequest& req) {
    TestResponse resp;
    resp.body = req.body;
    resp.drop = n.fetch_add(1) % 2 == 1;  // every second request
    return resp;
  });
  server.set_keep_alive(true);
  HttpOptions options;
  options.io_threads = 1;
  HttpClient client(options);
  auto send = [&](HttpRequest r) {
    return SendAndWait(client, server.url(), std::move(r), 3000ms);
  };
  ASSERT_TRUE(send(Numbered(1)).transport_ok);
  HttpResult again = send(Numbered(2));  // dropped, then answered on a new connection
  EXPECT_TRUE(again.transport_ok) << again.error;
  EXPECT_EQ(again.body, "2");
  EXPECT_EQ(server.requests(), 3);
  HttpRequest once = Numbered(3);
  once.send_once = true;
  HttpResult lost = send(once);  // the kept-alive connection of the last answer is dropped
  EXPECT_FALSE(lost.transport_ok);
  EXPECT_TRUE(lost.maybe_sent);
  EXPECT_NE(lost.error.find("not resent"), std::string::npos) << lost.error;
  EXPECT_EQ(server.requests(), 4);
}

TEST(HttpClientTest, AnAnswerOverTheSizeLimitFails) {
  TestServer server([](const TestRequest&) {
    TestResponse resp;
    resp.body = std::string(5000, 'x');
    return resp;
  });
  HttpOptions options;
  options.max_response_bytes = 4096;
  HttpClient client(options);
  const HttpResult r = SendAndWait(client, server.url(), Numbered(1), 3000ms);
  EXPECT_FALSE(r.transport_ok);
  EXPECT_EQ(r.error, "response too large");
}

// Answers each request on one connection with raw bytes, written in the
// given pieces with a pause between them (so the client sees an answer
// split anywhere, as TCP may deliver it), then closes if told to. The
// request is read with Beast.
class Scripted {
 public:
  Scripted(std::vector<std::string> pieces, bool close_after)
      : pieces_(std::move(pieces)), close_after_(close_after), acceptor_(io_, {{}, 0}) {
    acceptor_.listen();
    url_ = "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    thread_ = std::thread([this] { Serve(); });
  }
  ~Scripted() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    thread_.join();
  }
  const std::string& url() const { return url_; }

 private:
  void Serve() {
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket socket(io_);
    acceptor_.accept(socket, ec);
    if (ec) return;
    boost::beast::flat_buffer buffer;
    for (;;) {
      boost::beast::http::request<boost::beast::http::string_body> req;
      boost::beast::http::read(socket, buffer, req, ec);
      if (ec) return;
      for (const std::string& piece : pieces_) {
        boost::asio::write(socket, boost::asio::buffer(piece), ec);
        if (ec) return;
        std::this_thread::sleep_for(20ms);
      }
      if (close_after_) return;
    }
  }

  std::vector<std::string> pieces_;
  bool close_after_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::string url_;
  std::thread thread_;
};

// The answer's parts may arrive split anywhere: inside the status line, a
// header, a chunk's size or its data. A chunked body is joined, and the
// one header kept (x-amzn-ErrorType, any case) is read.
TEST(HttpClientTest, AnAnswerSplitAnywhereAndChunkedIsReadWhole) {
  Scripted server({"HTTP/1.1 4", "00 Bad Request\r\nX-Amzn-Errortype: Throttl",
                   "ingException:\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "lo\r\n6",
                   "\r\n world\r\n0\r\n\r\n"},
                  false);
  HttpClient client;
  for (int i = 0; i < 2; ++i) {  // the second on the kept-alive connection
    const HttpResult r = SendAndWait(client, server.url(), Numbered(i), 3000ms);
    ASSERT_TRUE(r.transport_ok) << r.error;
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body, "hello world");
    EXPECT_EQ(r.error_type, "ThrottlingException:");
  }
}

// An answer without a length ends when the server closes; one that
// promised more than it sent fails, and says the request may have been
// applied. x-amzn-ErrorType is kept to its first 256 bytes.
TEST(HttpClientTest, AnAnswerEndsAtItsLengthOrAtTheClose) {
  {
    Scripted server({"HTTP/1.1 200 OK\r\nConnection: close\r\nx-amzn-ErrorType: " +
                         std::string(300, 'e') + "\r\n\r\nuntil ",
                     "the end"},
                    true);
    HttpClient client;
    const HttpResult r = SendAndWait(client, server.url(), Numbered(0), 3000ms);
    ASSERT_TRUE(r.transport_ok) << r.error;
    EXPECT_EQ(r.body, "until the end");
    EXPECT_EQ(r.error_type, std::string(256, 'e'));
  }
  {
    Scripted server({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten.."}, true);
    HttpClient client;
    const HttpResult r = SendAndWait(client, server.url(), Numbered(0), 3000ms);
    EXPECT_FALSE(r.transport_ok);
    EXPECT_TRUE(r.maybe_sent);
    EXPECT_NE(r.error.find("receive"), std::string::npos) << r.error;
  }
  {
    Scripted server({"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nBad Header Line\r\n\r\nbody"}, true);
    HttpClient client;
    const HttpResult r = SendAndWait(client, server.url(), Numbered(0), 3000ms);
    EXPECT_FALSE(r.transport_ok);
    EXPECT_NE(r.error.find("receive"), std::string::npos) << r.error;
  }
}

TEST(HttpClientTest, BadBaseUrlsAndRefusedConnectionsFailWithAReason) {
  HttpClient client;
  // A port nothing listens on: bound, then closed.
  int port = 0;
  ::close(ListenOnLoopback(0, &port));
  const std::string refused = "http://127.0.0.1:" + std::to_string(port);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ftp://127.0.0.1", "unsupported URL scheme"},
      {"127.0.0.1:8000", "without a scheme"},
      {"http://", "without a host"},
      {"http://127.0.0.1:99999", "port out of range"},
      {"http://127.0.0.1:80x", "bad port"},
      {"http://user@127.0.0.1", "credentials"},
      {"http://[::1", "IPv6"},
      {refused, "onnection refused"}};
  for (const auto& [url, want] : cases) {
    const HttpResult r = SendAndWait(client, url, Numbered(1), 2000ms);
    EXPECT_FALSE(r.transport_ok) << url;
    EXPECT_FALSE(r.maybe_sent) << url;
    EXPECT_NE(r.error.find(want), std::string::npos) << url << ": " << r.error;
  }
}

TEST(HttpClientTest, AnUnansweredRequestTimesOutAfterItsTimeout) {
  Silent silent;
  HttpClient client;
  const auto t0 = std::chrono::steady_clock::now();
  const HttpResult r = SendAndWait(client, silent.url(), Numbered(1), 300ms, 5s);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(r.timed_out);
  EXPECT_TRUE(r.maybe_sent);  // the kernel accepted the connection and the request
  EXPECT_NE(r.error.find("timed out after 300 ms"), std::string::npos) << r.error;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3s);
}

void SendNumbered(HttpClient& client, const std::string& url, int n,
                  std::chrono::milliseconds timeout, Done& done) {
  for (int i = 0; i < n; ++i) {
    client.Send(url, Numbered(i), timeout, [&done](HttpResult&& r) { done.Add(std::move(r)); });
  }
}

// A burst of new requests opens at most 32 connections at once (each counts
// until its first answer), so a small listen backlog is not overrun. Here
// the connects hang: the first 32 requests hold every slot until their
// deadline (2 s), so the last 32 wait for one until theirs (300 ms). Without
// the limit none would wait.
TEST(HttpClientTest, ABurstOfNewRequestsConnectsAtMost32AtOnce) {
  Silent server(1);
  Done done;
  {
    HttpClient client;
    SendNumbered(client, server.url(), 32, 2000ms, done);
    SendNumbered(client, server.url(), 32, 300ms, done);
    ASSERT_TRUE(done.WaitFor(64, 10s));
  }
  int waited = 0;
  for (const HttpResult& r : done.Results()) {
    EXPECT_TRUE(r.timed_out) << r.error;
    if (r.error == "wait for a connection timed out after 300 ms") ++waited;
  }
  EXPECT_EQ(waited, 32);
  EXPECT_EQ(done.Results().size(), 64u);
}

// Requests waiting for a connect slot are cancelled, once each, when the
// client is destroyed.
TEST(HttpClientTest, DestructionCancelsRequestsWaitingForAConnectSlot) {
  Silent server(1);
  Done done;
  {
    HttpClient client;
    SendNumbered(client, server.url(), 64, 10s, done);
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(done.WaitFor(64, 5s));
  for (const HttpResult& r : done.Results()) EXPECT_TRUE(r.cancelled) << r.error;
  EXPECT_EQ(done.Results().size(), 64u);
}

// Requests queued behind the connect limit all go out as connections free
// up: 64 at once to a server that serves one connection at a time.
TEST(HttpClientTest, RequestsWaitingForAConnectSlotAreAllServed) {
  TestServer server = Echo();
  HttpClient client;
  Done done;
  SendNumbered(client, server.url(), 64, 8000ms, done);
  ASSERT_TRUE(done.WaitFor(64, 20s));
  std::set<std::string> bodies;
  for (const HttpResult& r : done.Results()) {
    EXPECT_TRUE(r.transport_ok) << r.error;
    bodies.insert(r.body);
  }
  EXPECT_EQ(bodies.size(), 64u);
  EXPECT_EQ(server.requests(), 64);
}

// The deadline holds on a kept-alive connection too, where no connect
// starts a timer.
TEST(HttpClientTest, ARequestOnAKeptAliveConnectionTimesOutToo) {
  std::atomic<int> n{0};
  TestServer server([&](const TestRequest& req) {
    if (n.fetch_add(1) == 1) std::this_thread::sleep_for(1500ms);
    TestResponse resp;
    resp.body = req.body;
    return resp;
  });
  server.set_keep_alive(true);
  HttpOptions options;
  options.io_threads = 1;
  HttpClient client(options);
  for (int i = 0; i < 2; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const HttpResult r = SendAndWait(client, server.url(), Numbered(i), 300ms, 5s);
    EXPECT_EQ(r.timed_out, i == 1) << r.error;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    std::this_thread::sleep_for(400ms);  // past the first one's deadline: no timer left
  }
}

TEST(HttpClientTest, RequestsStartNoEarlierThanTheirNotBefore) {
  TestServer server = Echo();
  HttpClient client;
  Done done;
  const auto t0 = std::chrono::steady_clock::now();
  client.Send(
      server.url(), Numbered(1), 3000ms, [&](HttpResult&& r) { done.Add(std::move(r)); },
      t0 + 200ms);
  ASSERT_TRUE(done.WaitFor(1));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
  EXPECT_EQ(done.Results()[0].body, "1/1");
}

TEST(HttpClientTest, HttpFetchSendsPathQueryAndHost) {
  TestServer server([](const TestRequest& req) {
    TestResponse resp;
    resp.body =
        req.method + " " + req.path + " " + req.headers.at("host") + " " + req.headers.at("x-a");
    return resp;
  });
  const std::string host = server.url().substr(7);
  HttpResult r = HttpFetch(server.url() + "/latest/x?y=1", "PUT", {{"x-a", "b"}}, 3000ms);
  ASSERT_TRUE(r.transport_ok) << r.error;
  EXPECT_EQ(r.body, "PUT /latest/x?y=1 " + host + " b");
}

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

// A loopback HTTP/1.1 server written with Beast, one connection at a time:
// over TLS (a certificate made here by openssl) or plain. As a proxy it
// tunnels CONNECT and answers absolute-form requests itself; every request
// line and Proxy-Authorization it saw is kept.
class BeastServer {
 public:
  BeastServer(std::string cert, std::string key) : cert_(std::move(cert)), key_(std::move(key)) {
    fd_ = ListenOnLoopback(16, &port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~BeastServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      asio::io_context io;
      tcp::socket socket(io, tcp::v4(), c);
      try {
        if (cert_.empty()) {
          Exchange(socket);
        } else {
          ssl::context ctx(ssl::context::tls_server);
          ctx.use_certificate_chain_file(cert_);
          ctx.use_private_key_file(key_, ssl::context::pem);
          ssl::stream<tcp::socket&> tls(socket, ctx);
          tls.handshake(ssl::stream_base::server);
          Exchange(tls);
        }
      } catch (const std::exception&) {
        // The client gave up (a refused certificate, a closed connection).
      }
    }
  }

  template <class Stream>
  void Exchange(Stream& stream) {
    boost::beast::flat_buffer buffer;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      bhttp::read(stream, buffer, parser);
      auto& req = parser.get();
      const std::string line = std::string(req.method_string()) + " " + std::string(req.target());
      {
        std::lock_guard lock(mu_);
        seen_.push_back(line);
        if (auto it = req.find(bhttp::field::proxy_authorization); it != req.end()) {
          seen_.push_back("auth " + std::string(it->value()));
        }
      }
      if constexpr (std::is_same_v<Stream, tcp::socket>) {
        if (req.method() == bhttp::verb::connect) return Tunnel(stream, std::string(req.target()));
      }
      bhttp::response<bhttp::string_body> resp{bhttp::status::ok, 11};
      resp.body() = "served " + line;
      resp.prepare_payload();
      bhttp::write(stream, resp);
    }
  }

  // CONNECT host:port: answer 200 and copy bytes both ways until either
  // side closes.
  void Tunnel(tcp::socket& client, const std::string& target) {
    const size_t colon = target.rfind(':');
    tcp::socket origin(client.get_executor());
    origin.connect({asio::ip::make_address(target.substr(0, colon)),
                    static_cast<unsigned short>(std::stoi(target.substr(colon + 1)))});
    bhttp::response<bhttp::empty_body> ok{bhttp::status::ok, 11};
    bhttp::response_serializer<bhttp::empty_body> head(ok);
    bhttp::write_header(client, head);
    pollfd fds[2] = {{client.native_handle(), POLLIN, 0}, {origin.native_handle(), POLLIN, 0}};
    char buf[16384];
    while (!stop_) {
      if (::poll(fds, 2, 50) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (!fds[i].revents) continue;
        const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0 || ::write(fds[1 - i].fd, buf, static_cast<size_t>(n)) != n) return;
      }
    }
  }

  std::string cert_, key_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> seen_;
  std::thread thread_;
};

// A CA and a certificate for 127.0.0.1 (an address only: no DNS name).
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ::testing::TempDir() + "/http-tls-" + std::to_string(::getpid());
    const std::string script =
        "set -e; mkdir -p " + dir_ + "; cd " + dir_ +
        "; openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1"
        " -subj /CN=zae-test-ca 2>/dev/null"
        "; printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext"
        "; openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr"
        " -subj /CN=zae-test-server 2>/dev/null"
        "; openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -out server.pem -days 1 -extfile san.ext 2>/dev/null";
    ASSERT_EQ(std::system(script.c_str()), 0) << "openssl failed";
  }
  static HttpResult Get(HttpClient& client, const std::string& url) {
    return SendAndWait(client, url, Numbered(1), 5000ms);
  }
  static std::string dir_;
};
std::string TlsTest::dir_;

TEST_F(TlsTest, TheServerCertificateIsVerifiedAgainstTheCaFileAndTheAddress) {
  BeastServer server(dir_ + "/server.pem", dir_ + "/server.key");
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port());
  HttpOptions trusted;
  trusted.ca_file = dir_ + "/ca.pem";
  trusted.io_threads = 1;  // one pool: the kept-alive connection is reused
  trusted.proxies = ProxyOptions{};
  {
    HttpClient client(trusted);
    for (int i = 0; i < 3; ++i) {  // the second and third on the kept-alive connection
      HttpResult r = Get(client, url);
      ASSERT_TRUE(r.transport_ok) << r.error;
      EXPECT_EQ(r.status, 200);
      EXPECT_EQ(r.body, "served POST /");
    }
  }
  // The system's CAs do not know this one.
  HttpOptions system;
  system.proxies = ProxyOptions{};
  HttpClient untrusting(system);
  HttpResult r = Get(untrusting, url);
  EXPECT_FALSE(r.transport_ok);
  EXPECT_FALSE(r.maybe_sent);
  EXPECT_NE(r.error.find("TLS handshake"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("certificate verify failed"), std::string::npos) << r.error;
  // Trusted CA, but the certificate names 127.0.0.1, not "localhost".
  HttpClient misnamed(trusted);
  r = Get(misnamed, "https://localhost:" + std::to_string(server.port()));
  EXPECT_FALSE(r.transport_ok);
  EXPECT_NE(r.error.find("certificate verify failed"), std::string::npos) << r.error;
  // A CA file that is not there fails the request, saying so.
  HttpOptions missing = trusted;
  missing.ca_file = dir_ + "/nope.pem";
  HttpClient broken(missing);
  r = Get(broken, url);
  EXPECT_FALSE(r.transport_ok);
  EXPECT_NE(r.error.find("nope.pem"), std::string::npos) << r.error;
}

TEST_F(TlsTest, HttpsGoesThroughAConnectTunnelAndHttpInAbsoluteForm) {
  BeastServer origin(dir_ + "/server.pem", dir_ + "/server.key");
  BeastServer proxy("", "");
  BeastServer http_proxy("", "");  // the tunnel keeps the first one busy
  HttpOptions options;
  options.ca_file = dir_ + "/ca.pem";
  options.io_threads = 1;
  options.proxies = ProxyOptions{};
  options.proxies->https = "127.0.0.1:" + std::to_string(proxy.port());  // no scheme: http
  options.proxies->http = "http://u%40x:p%3Aw@127.0.0.1:" + std::to_string(http_proxy.port());
  options.proxies->no_proxy = "example.invalid, .skip.invalid";
  HttpClient client(options);
  const std::string target = "127.0.0.1:" + std::to_string(origin.port());
  for (int i = 0; i < 2; ++i) {  // one tunnel, kept alive
    HttpResult r = Get(client, "https://" + target);
    ASSERT_TRUE(r.transport_ok) << r.error;
    EXPECT_EQ(r.body, "served POST /");
  }
  // Plain HTTP: the proxy gets the absolute URL and the credentials.
  HttpResult r = Get(client, "http://127.0.0.9:1234");
  ASSERT_TRUE(r.transport_ok) << r.error;
  EXPECT_EQ(r.body, "served POST http://127.0.0.9:1234/");
  EXPECT_EQ(proxy.seen(), std::vector<std::string>{"CONNECT " + target});
  const std::vector<std::string> want = {"POST http://127.0.0.9:1234/",
                                         "auth Basic dUB4OnA6dw=="};  // "u@x:p:w"
  EXPECT_EQ(http_proxy.seen(), want);
  // Hosts on the no_proxy list go direct: nothing listens there.
  r = Get(client, "http://a.skip.invalid:1");
  EXPECT_FALSE(r.transport_ok);
  EXPECT_EQ(http_proxy.seen().size(), want.size()) << r.error;
}

TEST_F(TlsTest, AProxyThatIsNotHttpIsRefusedPerRequest) {
  HttpOptions options;
  options.proxies = ProxyOptions{};
  options.proxies->http = "socks5://127.0.0.1:1080";
  HttpClient client(options);
  HttpResult r = Get(client, "http://127.0.0.1:1");
  EXPECT_FALSE(r.transport_ok);
  EXPECT_NE(r.error.find("only http:// proxies"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace zae::aws

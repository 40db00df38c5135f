#include "aws/test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace zae::aws::testing {

TestServer::TestServer(Handler handler) : handler_(std::move(handler)) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 64) != 0) {
    throw std::runtime_error("test server: cannot listen");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

TestServer::~TestServer() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

void TestServer::Serve() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) continue;
    while (ServeOne(c) && keep_alive_ && !stop_) {
    }
    ::close(c);
  }
}

bool TestServer::ServeOne(int c) {
  std::string data;
  char buf[4096];
  size_t header_end = std::string::npos;
  size_t content_length = 0;
  for (;;) {
    pollfd cp{c, POLLIN, 0};
    if (::poll(&cp, 1, 2000) <= 0) break;
    ssize_t n = ::read(c, buf, sizeof buf);
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      std::string lower = data.substr(0, header_end);
      for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      size_t cl = lower.find("content-length:");
      if (cl != std::string::npos) content_length = std::stoul(lower.substr(cl + 15));
    }
    if (data.size() >= header_end + 4 + content_length) break;
  }
  if (header_end == std::string::npos) return false;
  TestRequest req;
  std::string head = data.substr(0, header_end);
  req.body = data.substr(header_end + 4);
  size_t line_end = head.find("\r\n");
  std::string first = head.substr(0, line_end);
  size_t sp1 = first.find(' '), sp2 = first.rfind(' ');
  req.method = first.substr(0, sp1);
  req.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string line = head.substr(pos, e - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      size_t v = line.find_first_not_of(' ', colon + 1);
      req.headers[name] = v == std::string::npos ? "" : line.substr(v);
    }
    pos = e + 2;
  }
  ++requests_;
  TestResponse resp = handler_(req);
  if (resp.drop) return false;
  std::string out = "HTTP/1.1 " + std::to_string(resp.status) +
                    " X\r\nContent-Type: " + resp.content_type +
                    "\r\nContent-Length: " + std::to_string(resp.body.size()) + "\r\n";
  if (!silent_close_ && !keep_alive_) out += "Connection: close\r\n";
  for (const auto& [name, value] : resp.headers) out += name + ": " + value + "\r\n";
  out += "\r\n" + resp.body;
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::write(c, out.data() + sent, out.size() - sent);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  return sent == out.size();
}

}  // namespace zae::aws::testing

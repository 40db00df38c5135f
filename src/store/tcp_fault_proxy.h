// Test scaffolding: a loopback TCP proxy in front of a real server (DynamoDB
// Local) that can stop answering, the way a hung store or a dead network
// path does. It forwards bytes only: it never parses HTTP, so what the
// client sees is exactly what the real server sent, or silence.
//
//   TcpFaultProxy proxy("127.0.0.1", 8000);   // or TcpFaultProxy::BlackHole()
//   store options.endpoint = proxy.url();
//   proxy.set_mode(TcpFaultProxy::Mode::kHang);  // requests go unanswered
//
// Modes apply to bytes moving from then on, on every connection:
//   kPass   forward both ways;
//   kHang   accept and read, forward nothing either way (a request sent now
//           is never answered; connections stay open);
//   kReset  close every connection at once, and new ones on accept.
// A black hole (no upstream) is kHang forever.
// ResetAfterNextResponse(): the next answer of the server is dropped and its
// connection reset: the request was applied, the client never hears of it
// (the fault that makes a blind retry count twice).
//
// Bounded in time: every poll waits at most 20 ms, so the destructor
// returns promptly and closes every socket it opened.
// Thread safety: set_mode from any thread; one thread of its own.
#ifndef ZAE_STORE_TCP_FAULT_PROXY_H_
#define ZAE_STORE_TCP_FAULT_PROXY_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace zae::testing {

class TcpFaultProxy {
 public:
  enum class Mode { kPass, kHang, kReset };

  // Forwards to host:port (an IPv4 address).
  TcpFaultProxy(std::string host, int port) : host_(std::move(host)), port_(port) { Start(); }
  // Forwards to the endpoint of an "http://HOST:PORT" URL.
  static std::unique_ptr<TcpFaultProxy> For(const std::string& url) {
    const std::string rest = url.substr(url.find("//") + 2);
    const size_t colon = rest.rfind(':');
    return std::make_unique<TcpFaultProxy>(rest.substr(0, colon),
                                           std::stoi(rest.substr(colon + 1)));
  }
  // Accepts and never answers.
  static std::unique_ptr<TcpFaultProxy> BlackHole() {
    auto p = std::make_unique<TcpFaultProxy>("", 0);
    p->set_mode(Mode::kHang);
    return p;
  }
  ~TcpFaultProxy() {
    stop_ = true;
    thread_.join();
    for (Link& l : links_) Close(l);
    ::close(listen_fd_);
  }
  TcpFaultProxy(const TcpFaultProxy&) = delete;
  TcpFaultProxy& operator=(const TcpFaultProxy&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(listen_port_); }
  void set_mode(Mode m) { mode_ = m; }
  void ResetAfterNextResponse() { reset_next_response_ = true; }
  // Answers dropped by ResetAfterNextResponse.
  int responses_dropped() const { return dropped_.load(); }
  int connections() const { return accepted_.load(); }

 private:
  struct Link {
    int client = -1, upstream = -1;
  };

  void Start() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 64) != 0) {
      throw std::runtime_error(std::string("proxy listen: ") + std::strerror(errno));
    }
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    listen_port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Run(); });
  }

  int Connect() const {
    if (port_ == 0) return -1;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    ::inet_pton(AF_INET, host_.c_str(), &a.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  static void Close(Link& l) {
    if (l.client >= 0) ::close(l.client);
    if (l.upstream >= 0) ::close(l.upstream);
    l.client = l.upstream = -1;
  }

  // Moves what `from` has to `to` (or drops it while hanging); false when
  // the connection is over.
  bool Pump(int from, int to, bool from_server) {
    char buf[16384];
    const ssize_t n = ::recv(from, buf, sizeof buf, 0);
    if (n <= 0) return false;
    if (from_server && reset_next_response_.exchange(false)) {
      dropped_.fetch_add(1);
      return false;  // the link closes: a reset after the server answered
    }
    if (mode_ == Mode::kHang || to < 0) return true;  // read and dropped
    for (ssize_t sent = 0; sent < n;) {
      const ssize_t k = ::send(to, buf + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
      if (k <= 0) return false;
      sent += k;
    }
    return true;
  }

  void Run() {
    while (!stop_) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (const Link& l : links_) {
        fds.push_back({l.client, POLLIN, 0});
        fds.push_back({l.upstream, static_cast<short>(l.upstream >= 0 ? POLLIN : 0), 0});
      }
      if (::poll(fds.data(), fds.size(), 20) < 0) continue;
      const Mode mode = mode_;
      for (size_t i = 0; i < links_.size(); ++i) {
        Link& l = links_[i];
        const pollfd& c = fds[1 + 2 * i];
        const pollfd& u = fds[2 + 2 * i];
        bool alive = mode != Mode::kReset;
        if (alive && (c.revents & (POLLIN | POLLHUP | POLLERR))) {
          alive = Pump(l.client, l.upstream, false);
        }
        if (alive && l.upstream >= 0 && (u.revents & (POLLIN | POLLHUP | POLLERR))) {
          alive = Pump(l.upstream, l.client, true);
        }
        if (!alive) Close(l);
      }
      std::erase_if(links_, [](const Link& l) { return l.client < 0; });
      if (fds[0].revents & POLLIN) {
        const int client = ::accept(listen_fd_, nullptr, nullptr);
        if (client < 0) continue;
        accepted_.fetch_add(1);
        if (mode == Mode::kReset) {
          ::close(client);
          continue;
        }
        links_.push_back({client, Connect()});
      }
    }
  }

  const std::string host_;
  const int port_;
  int listen_fd_ = -1;
  int listen_port_ = 0;
  std::atomic<Mode> mode_{Mode::kPass};
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<bool> reset_next_response_{false};
  std::atomic<int> dropped_{0};
  std::vector<Link> links_;  // the proxy thread's
  std::thread thread_;
};

}  // namespace zae::testing

#endif  // ZAE_STORE_TCP_FAULT_PROXY_H_

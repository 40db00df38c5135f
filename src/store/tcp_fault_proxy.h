// Test scaffolding: a loopback TCP proxy in front of a real server (DynamoDB
// Local) that injects faults, per connection state or per request. It never
// parses HTTP: what it forwards is exactly what the client or the server
// sent; what it makes up itself is a canned HTTP/1.1 answer (test data).
//
//   TcpFaultProxy proxy("127.0.0.1", 8000);   // or TcpFaultProxy::BlackHole()
//   store options.endpoint = proxy.url();
//   proxy.set_mode(TcpFaultProxy::Mode::kHang);  // requests go unanswered
//   using Fault = TcpFaultProxy::Fault;
//   proxy.set_plan([](int i) { return i % 3 == 0 ? Fault::Http500() : Fault::Pass(); });
//
// Modes apply to bytes moving from then on, on every connection:
//   kPass   forward both ways (and apply the plan, below);
//   kHang   accept and read, forward nothing either way (a request sent now
//           is never answered; connections stay open);
//   kReset  close every connection at once, and new ones on accept.
// A black hole (no upstream) is kHang forever.
// ResetAfterNextResponse(): the next answer of the server is dropped and its
// connection reset: the request was applied, the client never hears of it
// (the fault that makes a blind retry count twice).
//
// Per-request faults (set_plan): "a request" is what a client sends on a
// connection after the server's previous answer began (HTTP/1.1 without
// pipelining, one request at a time per connection, and no
// `Expect: 100-continue`, as the project's client sends). The plan is asked
// once per request, with the proxy's request index (0, 1, ... over every
// connection), and returns the Fault of that request:
//   Pass                forward, answer forwarded;
//   ResetBeforeForward  RST the client (SO_LINGER 0), nothing forwarded;
//   ResetAfterAnswer    forward; the server's answer dropped, client RST
//                       (applied, the client never hears of it);
//   NeverAnswer         forward nothing, answer nothing, keep the
//                       connection open (it closes when the client does);
//   Delay(ms)           hold the request ms, then forward it (a client that
//                       gives up first closes: nothing was forwarded);
//   RespondBefore(...)  nothing forwarded; a canned answer
//                       (`Connection: close`), then the connection closes;
//   RespondAfter(...)   forwarded; the server's answer dropped and replaced
//                       by the canned one (an error after the write applied:
//                       ambiguous to the client).
// Canned answers of DynamoDB's failures: Http500, Http503Html, Throttling,
// ProvisionedThroughputExceeded, MalformedJson200, NonJson200 (before
// forwarding), Http500AfterForward (after). Counters: requests(), count(kind)
// and abandoned() (forwarded, the client left before the answer: a timeout
// after the server may have applied it).
//
// Bounded in time: every poll waits at most 20 ms, so the destructor
// returns promptly and closes every socket it opened; a connection that got
// a canned answer is drained for at most 2 s. Loopback only.
// Thread safety: set_mode, set_plan and the counters from any thread. The
// plan runs on the proxy's one thread of its own, under the lock set_plan
// takes: it must not call set_plan.
#ifndef ZAE_STORE_TCP_FAULT_PROXY_H_
#define ZAE_STORE_TCP_FAULT_PROXY_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace zae::testing {

class TcpFaultProxy {
 public:
  // What the proxy does to one request (see the top of this file).
  struct Fault {
    enum class Kind {
      kPass,
      kResetBeforeForward,
      kResetAfterAnswer,
      kNeverAnswer,
      kDelay,
      kRespondBefore,
      kRespondAfter,
    };
    static constexpr size_t kKinds = 7;

    Kind kind = Kind::kPass;
    int delay_ms = 0;  // kDelay
    int status = 0;    // kRespondBefore / kRespondAfter
    std::string content_type;
    std::string body;
    std::string name;  // for test names and messages

    static Fault Pass() { return Make(Kind::kPass, "Pass"); }
    static Fault ResetBeforeForward() {
      return Make(Kind::kResetBeforeForward, "ResetBeforeForward");
    }
    static Fault ResetAfterAnswer() { return Make(Kind::kResetAfterAnswer, "ResetAfterAnswer"); }
    static Fault NeverAnswer() { return Make(Kind::kNeverAnswer, "NeverAnswer"); }
    static Fault Delay(int ms) {
      Fault f = Make(Kind::kDelay, "Delay" + std::to_string(ms) + "ms");
      f.delay_ms = ms;
      return f;
    }
    static Fault RespondBefore(int status, std::string body, std::string content_type,
                               std::string name) {
      return Canned(Kind::kRespondBefore, status, std::move(body), std::move(content_type),
                    std::move(name));
    }
    static Fault RespondAfter(int status, std::string body, std::string content_type,
                              std::string name) {
      return Canned(Kind::kRespondAfter, status, std::move(body), std::move(content_type),
                    std::move(name));
    }

    // DynamoDB's answers to failures, sent instead of forwarding.
    static Fault Http500() { return RespondBefore(500, kInternalServerError, kJson, "Http500"); }
    static Fault Http503Html() {
      return RespondBefore(503, "<html><body><h1>503 Service Unavailable</h1></body></html>",
                           "text/html", "Http503Html");
    }
    static Fault Throttling() {
      return RespondBefore(
          400,
          R"({"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"})",
          kJson, "Throttling");
    }
    static Fault ProvisionedThroughputExceeded() {
      return RespondBefore(
          400,
          R"({"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",)"
          R"("message":"The level of configured provisioned throughput for the table was exceeded."})",
          kJson, "ProvisionedThroughputExceeded");
    }
    static Fault MalformedJson200() {
      return RespondBefore(200, R"({"Attributes":)", kJson, "MalformedJson200");
    }
    static Fault NonJson200() {
      return RespondBefore(200, "<html>oops</html>", "text/html", "NonJson200");
    }
    // Forwarded, applied, and answered with a 500 instead of the server's answer.
    static Fault Http500AfterForward() {
      return RespondAfter(500, kInternalServerError, kJson, "Http500AfterForward");
    }

    static constexpr const char* kJson = "application/x-amz-json-1.0";
    static constexpr const char* kInternalServerError =
        R"({"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"})";

   private:
    static Fault Make(Kind kind, std::string name) {
      Fault f;
      f.kind = kind;
      f.name = std::move(name);
      return f;
    }
    static Fault Canned(Kind kind, int status, std::string body, std::string content_type,
                        std::string name) {
      Fault f = Make(kind, std::move(name));
      f.status = status;
      f.body = std::move(body);
      f.content_type = std::move(content_type);
      return f;
    }
  };

  enum class Mode { kPass, kHang, kReset };
  using Plan = std::function<Fault(int request_index)>;

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
  // The fault of every request from now on; an empty plan passes them all.
  void set_plan(Plan plan) {
    std::lock_guard<std::mutex> lock(plan_mu_);
    plan_ = std::move(plan);
  }
  void ResetAfterNextResponse() { reset_next_response_ = true; }
  // Answers dropped by ResetAfterNextResponse.
  int responses_dropped() const { return dropped_.load(); }
  int connections() const { return accepted_.load(); }
  // Requests seen (each one asked the plan), and those given each kind.
  int requests() const { return requests_.load(); }
  int count(Fault::Kind kind) const { return counts_[static_cast<size_t>(kind)].load(); }
  // Requests forwarded whose client closed before the server answered (an
  // attempt cut by its timeout after it was sent: its outcome is unknown to
  // the client).
  int abandoned() const { return abandoned_.load(); }

 private:
  using Steady = std::chrono::steady_clock;
  // Where a connection is in its current request.
  enum class State {
    kIdle,        // the server answered (or nothing was sent yet)
    kForwarding,  // the request went (is going) to the server
    kHeld,        // a delayed request, buffered until release_at
    kSilent,      // NeverAnswer: everything from the client is dropped
    kDraining,    // a canned answer was sent: read and drop until EOF
  };
  struct Link {
    int client = -1, upstream = -1;
    State state = State::kIdle;
    Fault fault;
    std::string held;
    Steady::time_point until;  // kHeld: release; kDraining: give up
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

  static void CloseFd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  static void Close(Link& l) {
    CloseFd(l.client);
    CloseFd(l.upstream);
  }
  // Closes the link with a TCP RST to the client (a reset, not a clean EOF).
  static void Reset(Link& l) {
    if (l.client >= 0) {
      linger lg{1, 0};
      ::setsockopt(l.client, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    Close(l);
  }
  static bool SendAll(int to, const char* data, size_t n) {
    for (size_t sent = 0; sent < n;) {
      const ssize_t k = ::send(to, data + sent, n - sent, MSG_NOSIGNAL);
      if (k <= 0) return false;
      sent += static_cast<size_t>(k);
    }
    return true;
  }
  static const char* Reason(int status) {
    switch (status) {
      case 200:
        return "OK";
      case 400:
        return "Bad Request";
      case 500:
        return "Internal Server Error";
      case 503:
        return "Service Unavailable";
      default:
        return "Injected";
    }
  }
  // Sends the fault's canned answer, then reads and drops what the client
  // still sends until it closes (closing with unread bytes would reset the
  // connection and could discard the answer before the client reads it).
  void Answer(Link& l) {
    const Fault& f = l.fault;
    const std::string answer = "HTTP/1.1 " + std::to_string(f.status) + " " + Reason(f.status) +
                               "\r\nContent-Type: " + f.content_type +
                               "\r\nContent-Length: " + std::to_string(f.body.size()) +
                               "\r\nConnection: close\r\n\r\n" + f.body;
    CloseFd(l.upstream);
    if (!SendAll(l.client, answer.data(), answer.size())) return Close(l);
    ::shutdown(l.client, SHUT_WR);
    l.state = State::kDraining;
    l.until = Steady::now() + std::chrono::seconds(2);
  }

  Fault NextFault() {
    const int index = requests_.fetch_add(1);
    Fault f;
    {
      std::lock_guard<std::mutex> lock(plan_mu_);
      if (plan_) f = plan_(index);
    }
    counts_[static_cast<size_t>(f.kind)].fetch_add(1);
    return f;
  }

  // Bytes from the client; false when the link is over.
  bool FromClient(Link& l) {
    char buf[16384];
    const ssize_t n = ::recv(l.client, buf, sizeof buf, 0);
    if (n <= 0) {
      // The client gave up on a request the server has (it may be applied).
      if (l.state == State::kForwarding) abandoned_.fetch_add(1);
      return false;
    }
    if (mode_ == Mode::kHang) return true;  // read and dropped
    if (l.state == State::kSilent || l.state == State::kDraining) return true;
    if (l.state == State::kIdle) {  // a new request
      l.fault = NextFault();
      switch (l.fault.kind) {
        case Fault::Kind::kResetBeforeForward:
          Reset(l);
          return false;
        case Fault::Kind::kNeverAnswer:
          l.state = State::kSilent;
          return true;
        case Fault::Kind::kDelay:
          l.state = State::kHeld;
          l.held.assign(buf, static_cast<size_t>(n));
          l.until = Steady::now() + std::chrono::milliseconds(l.fault.delay_ms);
          return true;
        case Fault::Kind::kRespondBefore:
          Answer(l);
          return l.client >= 0;
        case Fault::Kind::kPass:
        case Fault::Kind::kResetAfterAnswer:
        case Fault::Kind::kRespondAfter:
          l.state = State::kForwarding;
          break;
      }
    }
    if (l.state == State::kHeld) {
      l.held.append(buf, static_cast<size_t>(n));
      return true;
    }
    return l.upstream < 0 || SendAll(l.upstream, buf, static_cast<size_t>(n));
  }

  // Bytes from the server; false when the link is over.
  bool FromServer(Link& l) {
    char buf[16384];
    const ssize_t n = ::recv(l.upstream, buf, sizeof buf, 0);
    if (n <= 0) return false;
    if (reset_next_response_.exchange(false)) {
      dropped_.fetch_add(1);
      return false;  // the link closes: a reset after the server answered
    }
    if (mode_ == Mode::kHang) return true;  // read and dropped
    if (l.state == State::kForwarding) {    // the first bytes of the answer
      if (l.fault.kind == Fault::Kind::kResetAfterAnswer) {
        Reset(l);
        return false;
      }
      if (l.fault.kind == Fault::Kind::kRespondAfter) {
        Answer(l);
        return l.client >= 0;
      }
      l.state = State::kIdle;  // the client's next bytes are a new request
    }
    return SendAll(l.client, buf, static_cast<size_t>(n));
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
      const Steady::time_point now = Steady::now();
      for (size_t i = 0; i < links_.size(); ++i) {
        Link& l = links_[i];
        const pollfd& c = fds[1 + 2 * i];
        const pollfd& u = fds[2 + 2 * i];
        bool alive = mode != Mode::kReset;
        if (alive && (c.revents & (POLLIN | POLLHUP | POLLERR))) alive = FromClient(l);
        if (alive && l.upstream >= 0 && (u.revents & (POLLIN | POLLHUP | POLLERR))) {
          alive = FromServer(l);
        }
        if (alive && l.state == State::kHeld && now >= l.until) {
          l.state = State::kForwarding;
          alive = l.upstream < 0 || SendAll(l.upstream, l.held.data(), l.held.size());
          l.held.clear();
        }
        if (alive && l.state == State::kDraining && now >= l.until) alive = false;
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
        Link l;
        l.client = client;
        l.upstream = Connect();
        links_.push_back(std::move(l));
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
  std::atomic<int> requests_{0};
  std::atomic<int> abandoned_{0};
  std::array<std::atomic<int>, Fault::kKinds> counts_{};
  std::mutex plan_mu_;
  Plan plan_;                // guarded by plan_mu_
  std::vector<Link> links_;  // the proxy thread's
  std::thread thread_;
};

}  // namespace zae::testing

#endif  // ZAE_STORE_TCP_FAULT_PROXY_H_

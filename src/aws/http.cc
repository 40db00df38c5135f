#include "aws/http.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <queue>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "core/thread_exit.h"

namespace zae::aws {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    // Signing and TLS leave OpenSSL state on the I/O and pool threads;
    // freed here, it is gone before exit proceeds (core/thread_exit.h).
    AtHeldThreadEnd([] { OPENSSL_thread_stop(); });
  });
}

struct Job {
  std::string url;
  HttpRequest request;
  std::chrono::milliseconds timeout{};
  HttpClient::Callback done;
  HttpClient::Clock::time_point not_before;
  // Transfer state. The header list is the job's own: its lines live in
  // one buffer and its nodes in one vector (curl_slist is a public struct
  // libcurl only reads), where curl_slist_append cost two allocations per
  // header line per request.
  std::string header_lines;
  std::vector<curl_slist> header_nodes;
  std::string response;
  std::string error_type;  // x-amzn-ErrorType
  size_t max_bytes = 0;
  bool too_large = false;
  int sends = 0;  // times curl was about to send the request
  char errbuf[CURL_ERROR_SIZE] = {};
};

size_t OnData(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* job = static_cast<Job*>(user);
  size_t n = size * nmemb;
  if (job->response.size() + n > job->max_bytes) {
    job->too_large = true;
    return 0;  // makes curl fail the transfer
  }
  job->response.append(ptr, n);
  return n;
}

// Called once per response header line ("Name: value\r\n").
size_t OnHeader(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* job = static_cast<Job*>(user);
  size_t n = size * nmemb;
  static constexpr std::string_view kName = "x-amzn-errortype:";
  std::string_view line(ptr, n);
  if (line.size() > kName.size() &&
      std::equal(kName.begin(), kName.end(), line.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    std::string_view value = line.substr(kName.size());
    size_t b = value.find_first_not_of(" \t");
    size_t e = value.find_last_not_of(" \t\r\n");
    job->error_type = b == std::string_view::npos ? "" : value.substr(b, e - b + 1).substr(0, 256);
  }
  return n;
}

// Called each time curl is about to send the request on a connection; a
// second time when it resends by itself after a reused connection died
// without an answer, which a send_once request must not do: the first one
// may have been applied.
int OnPrereq(void* user, char*, char*, int, int) {
  auto* job = static_cast<Job*>(user);
  ++job->sends;
  return job->request.send_once && job->sends > 1 ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

// Whether the environment names a proxy (curl's variables). Read once: with
// none, curl is told so and stops reading them on every transfer.
bool ProxyInEnvironment() {
  static const bool any = [] {
    for (const char* name :
         {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
      const char* v = std::getenv(name);
      if (v != nullptr && *v != '\0') return true;
    }
    return false;
  }();
  return any;
}

// Options that are the same for every transfer of a handle: set once when the
// handle is created, since curl_easy_reset and a full reconfiguration per
// request showed up in profiles.
void ConfigureHandle(CURL* easy, const HttpOptions& options) {
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, OnPrereq);
  if (!ProxyInEnvironment()) {
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOPROXY, "");
  }
}

// Everything that differs per request; a reused handle keeps the rest.
void ConfigureTransfer(CURL* easy, Job& job, const HttpOptions& options) {
  curl_easy_setopt(easy, CURLOPT_URL, job.url.c_str());
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, std::max<long>(1, job.timeout.count()));
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &job);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &job);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, job.errbuf);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, &job);
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, &job);
  job.max_bytes = options.max_response_bytes;

  const HttpRequest& r = job.request;
  if (r.method == "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, nullptr);
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method == "POST" ? nullptr : r.method.c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
  }
  // "Expect:" and "Accept:" turn off the 100-continue round trip and the
  // default Accept header.
  static constexpr std::string_view kFixed[] = {"Expect:", "Accept:"};
  size_t bytes = 0;
  for (const auto& [name, value] : r.headers) bytes += name.size() + value.size() + 3;
  for (std::string_view f : kFixed) bytes += f.size() + 1;
  std::string& lines = job.header_lines;
  lines.clear();
  lines.reserve(bytes);
  for (const auto& [name, value] : r.headers) {
    lines.append(name).append(": ").append(value).push_back('\0');
  }
  for (std::string_view f : kFixed) lines.append(f).push_back('\0');
  job.header_nodes.assign(r.headers.size() + std::size(kFixed), curl_slist{});
  char* line = lines.data();
  for (size_t i = 0; i < job.header_nodes.size(); ++i) {
    job.header_nodes[i].data = line;
    job.header_nodes[i].next = i + 1 < job.header_nodes.size() ? &job.header_nodes[i + 1] : nullptr;
    line += std::strlen(line) + 1;
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, job.header_nodes.data());
}

HttpResult Finish(CURL* easy, Job& job, CURLcode code) {
  HttpResult result;
  if (code == CURLE_OK) {
    result.transport_ok = true;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &result.status);
    result.body = std::move(job.response);
    result.error_type = std::move(job.error_type);
  } else {
    result.timed_out = code == CURLE_OPERATION_TIMEDOUT;
    result.maybe_sent = job.sends > 0;
    result.error = job.too_large ? "response too large"
                   : code == CURLE_ABORTED_BY_CALLBACK
                       ? "connection lost after the request was sent (not resent)"
                   : job.errbuf[0] ? job.errbuf
                                   : curl_easy_strerror(code);
  }
  return result;
}

}  // namespace

namespace {
// The worker whose loop runs on this thread, if any (see CallingWorker).
// (void*: the Worker type is private to HttpClient.)
thread_local void* t_worker = nullptr;
}  // namespace

bool OnIoThread() { return t_worker != nullptr; }

class HttpClient::Worker {
 public:
  // Event-driven (curl_multi_socket_action on epoll): each wakeup costs
  // what its sockets did, not a poll() and a pass over every transfer in
  // flight, which is what curl_multi_perform/poll cost per response with
  // 64 connections open.
  Worker(const HttpClient* owner, const HttpOptions& options) : owner_(owner), options_(options) {
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, options.max_connections_per_thread);
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_ < 0 || wake_ < 0) throw std::runtime_error("epoll/eventfd failed");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Worker::OnSocket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Worker::OnTimer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    thread_ = std::thread([this] {
      HoldExitUntilThreadEnds();  // may be joined by a detached thread
      t_worker = this;
      Run();
    });
  }

  ~Worker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    Wake();
    thread_.join();
    for (CURL* e : idle_) curl_easy_cleanup(e);
    curl_multi_cleanup(multi_);
    close(wake_);
    close(epoll_);
  }

  const HttpClient* owner() const { return owner_; }

  void Add(std::unique_ptr<Job> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      incoming_.push_back(std::move(job));
    }
    Wake();
  }

  // From this worker's own thread (a completion callback): the loop starts
  // the job before it next waits, so there is no lock and no wakeup, which
  // were an eventfd write, a read and an extra epoll_wait per request when a
  // caller sends its next request from the answer to the last.
  void AddFromLoop(std::unique_ptr<Job> job) { local_.push_back(std::move(job)); }

 private:
  struct Later {
    bool operator()(const std::unique_ptr<Job>& a, const std::unique_ptr<Job>& b) const {
      return a->not_before > b->not_before;
    }
  };

  void Start(std::unique_ptr<Job> job) {
    CURL* easy;
    if (!idle_.empty()) {
      easy = idle_.back();
      idle_.pop_back();
    } else {
      easy = curl_easy_init();
      ConfigureHandle(easy, options_);
      curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &Worker::OnOpen);
      curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
      curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &Worker::OnClose);
      curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
    }
    ConfigureTransfer(easy, *job, options_);
    job.release();  // owned through CURLOPT_PRIVATE until done
    curl_multi_add_handle(multi_, easy);
    active_.insert(easy);
  }

  void Complete(CURL* easy, CURLcode code) {
    Job* raw = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, reinterpret_cast<char**>(&raw));
    std::unique_ptr<Job> job(raw);
    curl_multi_remove_handle(multi_, easy);
    active_.erase(easy);
    HttpResult result = Finish(easy, *job, code);
    // The idle handle must not point into the job about to be freed.
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(easy, CURLOPT_PREREQDATA, nullptr);
    idle_.push_back(easy);
    job->done(std::move(result));
  }

  void Wake() {
    const uint64_t one = 1;
    if (write(wake_, &one, sizeof one) < 0) {
      // EAGAIN: the counter is already non-zero, so a wakeup is pending.
    }
  }

  // curl says which events each socket waits for, and REMOVE when a
  // transfer ends and its connection goes back to the cache. epoll is told
  // only of changes, and a removed connection socket stays registered
  // ("parked") until curl wants it again or it fires: a kept-alive
  // connection then costs no epoll_ctl per request, where ADD, MOD and DEL
  // were three system calls. Only sockets curl opened and closes through
  // OnOpen/OnClose are parked, so a descriptor number reused by a new socket
  // is never mistaken for a registered one; any other socket curl watches
  // (its resolver's, say) leaves epoll on REMOVE as before.
  static int OnSocket(CURL*, curl_socket_t s, int what, void* userp, void*) {
    auto* w = static_cast<Worker*>(userp);
    if (s < 0) return 0;
    Watch& watch = w->WatchOf(s);
    if (what == CURL_POLL_REMOVE) {
      if (watch.registered == kUnwatched) return 0;
      if (watch.connection) {
        watch.parked = true;
      } else {
        epoll_ctl(w->epoll_, EPOLL_CTL_DEL, s, nullptr);
        watch = Watch{};
      }
      return 0;
    }
    epoll_event ev{};
    ev.data.fd = s;
    ev.events = ((what & CURL_POLL_IN) ? static_cast<uint32_t>(EPOLLIN) : 0u) |
                ((what & CURL_POLL_OUT) ? static_cast<uint32_t>(EPOLLOUT) : 0u);
    watch.parked = false;
    if (watch.registered == ev.events) return 0;
    if (watch.registered == kUnwatched ||
        (epoll_ctl(w->epoll_, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)) {
      epoll_ctl(w->epoll_, EPOLL_CTL_ADD, s, &ev);
    }
    watch.registered = ev.events;
    return 0;
  }

  static curl_socket_t OnOpen(void* userp, curlsocktype, curl_sockaddr* address) {
    auto* w = static_cast<Worker*>(userp);
    const int s = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (s < 0) return CURL_SOCKET_BAD;
    Watch& watch = w->WatchOf(s);
    watch = Watch{};
    watch.connection = true;
    return s;
  }

  static int OnClose(void* userp, curl_socket_t s) {
    auto* w = static_cast<Worker*>(userp);
    // Closing the descriptor takes it out of epoll.
    if (s >= 0) w->WatchOf(s) = Watch{};
    return close(s);
  }

  // A parked socket fired (the server closed an idle connection, say):
  // curl is not watching it, so it leaves epoll; curl finds the connection
  // dead when it next checks it.
  bool Unpark(int fd) {
    Watch& watch = WatchOf(fd);
    if (!watch.parked) return false;
    epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    watch.registered = kUnwatched;
    watch.parked = false;
    return true;
  }

  static int OnTimer(CURLM*, long timeout_ms, void* userp) {
    auto* w = static_cast<Worker*>(userp);
    w->timer_ = timeout_ms < 0 ? Clock::time_point::max()
                               : Clock::now() + std::chrono::milliseconds(timeout_ms);
    return 0;
  }

  void Drain() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg == CURLMSG_DONE) Complete(msg->easy_handle, msg->data.result);
    }
  }

  void Run() {
    std::vector<std::unique_ptr<Job>> batch;
    epoll_event events[64];
    int running = 0;
    for (;;) {
      bool stopping;
      {
        std::lock_guard<std::mutex> lock(mu_);
        batch.swap(incoming_);
        stopping = stop_;
      }
      if (stopping) break;
      for (auto& job : local_) batch.push_back(std::move(job));
      local_.clear();
      auto now = Clock::now();
      for (auto& job : batch) {
        if (job->not_before > now) {
          delayed_.push(std::move(job));
        } else {
          Start(std::move(job));
        }
      }
      batch.clear();
      while (!delayed_.empty() && delayed_.top()->not_before <= now) {
        Start(std::move(const_cast<std::unique_ptr<Job>&>(delayed_.top())));
        delayed_.pop();
      }
      if (timer_ <= Clock::now()) {
        timer_ = Clock::time_point::max();
        curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
        Drain();
      }
      Clock::time_point until = timer_;
      if (!delayed_.empty()) until = std::min(until, delayed_.top()->not_before);
      int wait_ms = 1000;
      if (until != Clock::time_point::max()) {
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
        wait_ms = static_cast<int>(std::clamp<int64_t>(ms + 1, 0, wait_ms));
      }
      if (!local_.empty()) wait_ms = 0;  // sent from the timer pass's callbacks
      const int n = epoll_wait(epoll_, events, 64, wait_ms);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.fd == wake_) {
          uint64_t count;
          if (read(wake_, &count, sizeof count) < 0) {
            // Already drained by an earlier event of this batch.
          }
          continue;
        }
        if (Unpark(events[i].data.fd)) continue;
        int flags = 0;
        if (events[i].events & EPOLLIN) flags |= CURL_CSELECT_IN;
        if (events[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
        if (events[i].events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(multi_, events[i].data.fd, flags, &running);
      }
      Drain();
    }
    Shutdown(batch);
  }

  // Fails everything still owned by this worker so no caller waits forever.
  void Shutdown(std::vector<std::unique_ptr<Job>>& batch) {
    auto fail = [](std::unique_ptr<Job> job) {
      HttpResult r;
      r.cancelled = true;
      r.error = "HTTP client shut down";
      job->done(std::move(r));
    };
    for (auto& job : batch) fail(std::move(job));
    batch.clear();
    while (!delayed_.empty()) {
      fail(std::move(const_cast<std::unique_ptr<Job>&>(delayed_.top())));
      delayed_.pop();
    }
    for (CURL* easy : active_) {
      Job* raw = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, reinterpret_cast<char**>(&raw));
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
      fail(std::unique_ptr<Job>(raw));
    }
    active_.clear();
    // A failed caller may have sent again from its callback.
    while (!local_.empty()) {
      batch.swap(local_);
      for (auto& job : batch) fail(std::move(job));
      batch.clear();
    }
  }

  static constexpr uint32_t kUnwatched = ~0u;
  struct Watch {
    uint32_t registered = kUnwatched;  // the epoll mask, or not in epoll
    bool connection = false;           // opened by OnOpen, closed by OnClose
    bool parked = false;               // registered, but curl removed it
  };
  Watch& WatchOf(int fd) {
    const auto i = static_cast<size_t>(fd);
    if (i >= watched_.size()) watched_.resize(i + 1);
    return watched_[i];
  }

  const HttpClient* owner_;
  HttpOptions options_;
  CURLM* multi_;
  int epoll_ = -1;
  int wake_ = -1;  // eventfd: Add() and the destructor wake the loop
  Clock::time_point timer_ = Clock::time_point::max();  // curl's next timeout
  std::thread thread_;
  std::mutex mu_;
  bool stop_ = false;
  std::vector<std::unique_ptr<Job>> incoming_;
  std::vector<std::unique_ptr<Job>> local_;  // AddFromLoop's; this thread only
  std::vector<Watch> watched_;               // by descriptor
  std::priority_queue<std::unique_ptr<Job>, std::vector<std::unique_ptr<Job>>, Later> delayed_;
  std::vector<CURL*> idle_;
  std::unordered_set<CURL*> active_;
};

HttpClient::HttpClient(HttpOptions options) {
  GlobalInit();
  int n = std::max(1, options.io_threads);
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(this, options));
}

HttpClient::Worker* HttpClient::CallingWorker() const {
  auto* w = static_cast<Worker*>(t_worker);
  return w != nullptr && w->owner() == this ? w : nullptr;
}

HttpClient::~HttpClient() {
  if (CallingWorker() == nullptr) return;  // the workers stop and join as members
  // The last owner let go inside a completion callback, on one of these
  // threads: it cannot join itself. The callback has returned by the time
  // this runs (it runs while the finished job is destroyed), so a detached
  // thread stops and joins the workers once this one is back in its loop.
  std::thread([workers = std::move(workers_)]() mutable {
    HoldExitUntilThreadEnds();
    workers.clear();
  }).detach();
}

void HttpClient::Send(const std::string& base_url, HttpRequest request,
                      std::chrono::milliseconds timeout, Callback done,
                      Clock::time_point not_before) {
  auto job = std::make_unique<Job>();
  job->url = base_url + request.path;
  if (!request.query.empty()) job->url += "?" + request.query;
  job->request = std::move(request);
  job->timeout = timeout;
  job->done = std::move(done);
  job->not_before = not_before;
  if (Worker* own = CallingWorker()) {
    own->AddFromLoop(std::move(job));
    return;
  }
  workers_[next_.fetch_add(1, std::memory_order_relaxed) % workers_.size()]->Add(std::move(job));
}

HttpResult HttpFetch(const std::string& url, const std::string& method,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     std::chrono::milliseconds timeout) {
  GlobalInit();
  Job job;
  job.url = url;
  job.request.method = method;
  job.request.headers = headers;
  job.timeout = timeout;
  HttpOptions options;
  options.connect_timeout = std::min(options.connect_timeout, timeout);
  options.max_response_bytes = 1 << 20;
  CURL* easy = curl_easy_init();
  ConfigureHandle(easy, options);
  ConfigureTransfer(easy, job, options);
  CURLcode code = curl_easy_perform(easy);
  HttpResult result = Finish(easy, job, code);
  curl_easy_cleanup(easy);
  return result;
}

}  // namespace zae::aws

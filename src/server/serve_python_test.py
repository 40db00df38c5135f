#!/usr/bin/python3
"""End-to-end test of `zae-limiter serve` from the outside, as Envoy and an
HTTP client see it: real sockets, real gRPC (grpcio), stubs generated from
our own .proto files, Prometheus text parsed by prometheus_client.

Run (from the repository root; Debian's python3 has grpcio, grpc_tools and
prometheus_client):

    /usr/bin/python3 src/server/serve_python_test.py \
        --binary build/src/cli/zae-limiter --proto-dir src/server/proto

Exits non-zero and names the failed tests on any failure.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

BINARY = None
PROTO_DIR = None
TMP = None  # tempfile.TemporaryDirectory, alive for the whole run

# Generated modules, imported by generate_stubs().
rls_pb2 = rls_pb2_grpc = rl_pb2 = health_pb2 = health_pb2_grpc = wrappers_pb2 = None

PROTOS = [
    "envoy/type/v3/ratelimit_unit.proto",
    "envoy/config/core/v3/base.proto",
    "envoy/extensions/common/ratelimit/v3/ratelimit.proto",
    "envoy/service/ratelimit/v3/rls.proto",
    "grpc/health/v1/health.proto",
]

# The gateway domain maps one descriptor shape per limit so a single
# request can carry rpm and tpm (all or nothing). Domain `ai` has the
# post-stream charge (overdraft) and a check-only probe on the same bucket.
RULES = """\
domains:
  - name: gateway
    rules:
      - match: [api_key]
        entity: $api_key
        resource: api
        limit: rpm
      - match: [api_key, {limit: rpm}]
        entity: $api_key
        resource: gpt-4
        limit: rpm
      - match: [api_key, {limit: tpm}]
        entity: $api_key
        resource: gpt-4
        limit: tpm
  - name: ai
    rules:
      - match: [api_key, {kind: tokens}]
        entity: $api_key
        resource: gpt-4
        limit: tpm
        overdraft: true
      - match: [api_key, {kind: check}]
        entity: $api_key
        resource: gpt-4
        limit: tpm
"""

# Every entity id the tests use; none may ever show up as a metric label.
ENTITY_IDS = {"k1", "k2", "k3", "h1", "j1", "m1", "d1", "d2", "d3", "d4", "d5"}

OK, OVER_LIMIT = 1, 2  # RateLimitResponse.Code
MINUTE = 2  # RateLimitResponse.RateLimit.Unit
SERVING = 1  # HealthCheckResponse.ServingStatus


def generate_stubs(out_dir):
    import grpc_tools
    from grpc_tools import protoc

    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    if not os.path.exists(os.path.join(include, "google/protobuf/wrappers.proto")):
        include = "/usr/include"  # Debian ships the well-known types there
    args = ["grpc_tools.protoc", "-I", PROTO_DIR, "-I", include,
            "--python_out", out_dir, "--grpc_python_out", out_dir] + PROTOS
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed: %s" % " ".join(args))
    sys.path.insert(0, out_dir)
    # grpc/health/v1 lands under a top-level `grpc` directory, but `grpc` is
    # grpcio's package (a regular package wins over our namespace directory):
    # make our directory part of it so grpc.health.v1 resolves to the stubs.
    import grpc
    grpc.__path__.append(os.path.join(out_dir, "grpc"))

    global rls_pb2, rls_pb2_grpc, rl_pb2, health_pb2, health_pb2_grpc, wrappers_pb2
    from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc
    from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2 as rl_pb2
    from grpc.health.v1 import health_pb2, health_pb2_grpc
    from google.protobuf import wrappers_pb2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(store, *args):
    r = subprocess.run([BINARY, "--store", store] + list(args),
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (args, r.returncode, r.stdout, r.stderr))


def http(method, url, body=None, raw=None):
    """(status, headers, body bytes); HTTP errors are answers, not exceptions."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Server:
    """One `zae-limiter serve` on its own fresh SQLite store and free ports."""

    def __init__(self, name, serve_args=(), global_args=(), channel_credentials=None):
        self.dir = os.path.join(TMP.name, name)
        os.makedirs(self.dir)
        self.store = "sqlite://" + os.path.join(self.dir, "zae.db")
        self.grpc_port, self.http_port = free_port(), free_port()
        while self.http_port == self.grpc_port:
            self.http_port = free_port()
        self.base = "http://127.0.0.1:%d" % self.http_port
        self.rules = os.path.join(self.dir, "rules.yaml")
        with open(self.rules, "w") as f:
            f.write(RULES)
        cli(self.store, "resource", "set-defaults", "api", "-l", "rpm:3/min")
        cli(self.store, "resource", "set-defaults", "gpt-4", "-l", "rpm:10/min", "-l", "tpm:1000/min")
        self.stderr = open(os.path.join(self.dir, "stderr.log"), "w+")
        self.proc = subprocess.Popen(
            [BINARY, "--store", self.store] + list(global_args) + ["serve",
             "--grpc-listen", "127.0.0.1:%d" % self.grpc_port,
             "--http-listen", "127.0.0.1:%d" % self.http_port,
             "--config", self.rules, "--drain-seconds", "1"] + list(serve_args),
            stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.channel = None
        self.tls = channel_credentials is not None
        try:
            self._wait_healthy()
        except BaseException:
            self.kill()
            raise
        import grpc
        if self.tls:
            self.channel = grpc.secure_channel("127.0.0.1:%d" % self.grpc_port, channel_credentials)
        else:
            self.channel = grpc.insecure_channel("127.0.0.1:%d" % self.grpc_port)
        grpc.channel_ready_future(self.channel).result(timeout=10)
        self.rls = rls_pb2_grpc.RateLimitServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def log(self):
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()

    def _wait_healthy(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %d:\n%s" % (self.proc.returncode, self.log()))
            if self.tls:
                # TLS listeners: wait for the port; the tests speak TLS themselves.
                try:
                    socket.create_connection(("127.0.0.1", self.http_port), timeout=1).close()
                    return
                except OSError:
                    pass
                time.sleep(0.05)
                continue
            try:
                if http("GET", self.base + "/healthz")[0] == 200:
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.05)
        raise RuntimeError("no 200 from /healthz within 15 s:\n" + self.log())

    def kill(self):
        if self.channel is not None:
            self.channel.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.stderr.close()


def descriptor(*entries, hits=None):
    d = rl_pb2.RateLimitDescriptor(
        entries=[rl_pb2.RateLimitDescriptor.Entry(key=k, value=v) for k, v in entries])
    if hits is not None:
        d.hits_addend.CopyFrom(wrappers_pb2.UInt64Value(value=hits))
    return d


def request(domain, *descriptors):
    return rls_pb2.RateLimitRequest(domain=domain, descriptors=list(descriptors))


SERVER = None  # shared by the gRPC, HTTP and metrics tests


def setUpModule():
    global SERVER
    SERVER = Server("main")


def tearDownModule():
    if SERVER is not None:
        SERVER.kill()


class GrpcTest(unittest.TestCase):
    def call(self, req):
        return SERVER.rls.ShouldRateLimit(req, timeout=5)

    def test_exact_capacity_then_over_limit(self):
        for remaining in (2, 1, 0):
            r = self.call(request("gateway", descriptor(("api_key", "k1"))))
            self.assertEqual(r.overall_code, OK, r)
            s = r.statuses[0]
            self.assertEqual(s.code, OK)
            self.assertEqual(s.current_limit.requests_per_unit, 3)
            self.assertEqual(s.current_limit.unit, MINUTE)
            self.assertEqual(s.current_limit.name, "rpm")
            self.assertEqual(s.limit_remaining, remaining)
        r = self.call(request("gateway", descriptor(("api_key", "k1"))))
        self.assertEqual(r.overall_code, OVER_LIMIT, r)
        s = r.statuses[0]
        self.assertEqual(s.code, OVER_LIMIT)
        self.assertEqual(s.limit_remaining, 0)
        # One token at 3/min refills in 20 s, minus the few ms since the
        # bucket emptied, rounded up.
        self.assertIn(s.duration_until_reset.seconds, (20, 21), s)

    def test_rpm_and_tpm_all_or_nothing(self):
        rpm = ("limit", "rpm")
        tpm = ("limit", "tpm")
        r = self.call(request("gateway", descriptor(("api_key", "k2"), rpm),
                              descriptor(("api_key", "k2"), tpm, hits=900)))
        self.assertEqual(r.overall_code, OK, r)
        self.assertEqual([s.current_limit.name for s in r.statuses], ["rpm", "tpm"])
        self.assertEqual(r.statuses[0].limit_remaining, 9)
        self.assertEqual(r.statuses[1].limit_remaining, 100)

        r = self.call(request("gateway", descriptor(("api_key", "k2"), rpm),
                              descriptor(("api_key", "k2"), tpm, hits=200)))
        self.assertEqual(r.overall_code, OVER_LIMIT, r)
        self.assertEqual(r.statuses[1].code, OVER_LIMIT)

        # The refused request consumed no rpm: 10 - 1 (first) - 1 (this one).
        r = self.call(request("gateway", descriptor(("api_key", "k2"), rpm)))
        self.assertEqual(r.overall_code, OK, r)
        self.assertEqual(r.statuses[0].limit_remaining, 8, r)

    def test_check_only_then_overdraft_then_refusal(self):
        check = descriptor(("api_key", "k3"), ("kind", "check"), hits=0)
        r = self.call(request("ai", check))
        self.assertEqual(r.overall_code, OK, r)
        self.assertEqual(r.statuses[0].limit_remaining, 1000, "check-only must charge nothing")

        # The post-stream charge (real tokens, more than the bucket holds)
        # lands anyway, into debt; its status says it went over.
        r = self.call(request("ai", descriptor(("api_key", "k3"), ("kind", "tokens"), hits=1500)))
        self.assertEqual(r.statuses[0].code, OVER_LIMIT, r)
        self.assertEqual(r.statuses[0].limit_remaining, 0)

        # The bucket is about -500: the next check-only probe is refused,
        # with the time until one whole token is back (~30 s at 1000/min).
        r = self.call(request("ai", check))
        self.assertEqual(r.overall_code, OVER_LIMIT, r)
        self.assertEqual(r.statuses[0].code, OVER_LIMIT)
        self.assertGreaterEqual(r.statuses[0].duration_until_reset.seconds, 29, r)
        self.assertLessEqual(r.statuses[0].duration_until_reset.seconds, 31, r)

    def test_unknown_descriptor_and_domain_are_ok_without_limit(self):
        for req in (request("gateway", descriptor(("foo", "bar"))),
                    request("no-such-domain", descriptor(("api_key", "k1")))):
            r = self.call(req)
            self.assertEqual(r.overall_code, OK, r)
            self.assertEqual(len(r.statuses), 1)
            self.assertEqual(r.statuses[0].code, OK)
            self.assertFalse(r.statuses[0].HasField("current_limit"), r)

    def test_empty_domain_is_invalid_argument(self):
        import grpc
        with self.assertRaises(grpc.RpcError) as cm:
            self.call(request("", descriptor(("api_key", "k1"))))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_health_serving(self):
        r = SERVER.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        self.assertEqual(r.status, SERVING)


class HttpTest(unittest.TestCase):
    def test_lease_acquire_adjust_commit(self):
        b = SERVER.base
        status, _, body = http("POST", b + "/v1/acquire", {
            "entity_id": "h1", "resource": "gpt-4", "consume": {"rpm": 1, "tpm": 500}})
        self.assertEqual(status, 200, body)
        got = json.loads(body)
        self.assertIs(got["allowed"], True, got)
        lease = got["lease_id"]
        self.assertTrue(lease)

        status, _, body = http("POST", b + "/v1/leases/%s/adjust" % lease, {"adjust": {"tpm": -200}})
        self.assertEqual(status, 200, body)
        status, _, body = http("POST", b + "/v1/leases/%s/commit" % lease, raw=b"")
        self.assertEqual(status, 200, body)

        status, _, body = http("GET", b + "/v1/available?entity_id=h1&resource=gpt-4")
        self.assertEqual(status, 200, body)
        available = json.loads(body)["available"]
        self.assertEqual(available["tpm"], 700, available)
        self.assertEqual(available["rpm"], 9, available)

        status, _, body = http("POST", b + "/v1/leases/%s/commit" % lease, raw=b"")
        self.assertEqual(status, 404, body)

    def test_json_endpoint(self):
        status, _, body = http("POST", SERVER.base + "/json", {
            "domain": "gateway",
            "descriptors": [{"entries": [{"key": "api_key", "value": "j1"}]}]})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["overallCode"], "OK", body)

        status, _, body = http("POST", SERVER.base + "/json", raw=b"{not json")
        self.assertEqual(status, 400, body)


class MetricsTest(unittest.TestCase):
    def test_metrics(self):
        from prometheus_client.parser import text_string_to_metric_families

        # Traffic of our own, so the endpoints checked below have series
        # whatever order the tests ran in.
        SERVER.rls.ShouldRateLimit(request("gateway", descriptor(("api_key", "m1"))), timeout=5)
        http("GET", SERVER.base + "/v1/available?entity_id=m1&resource=gpt-4")

        status, headers, body = http("GET", SERVER.base + "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"),
                        headers["Content-Type"])
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}

        def family(name):
            # The parser names a counter family without its _total suffix.
            f = families.get(name) or families.get(name[:-len("_total")])
            self.assertIsNotNone(f, "no family %s in %s" % (name, sorted(families)))
            return f

        requests = [s for s in family("zae_requests_total").samples if s.name == "zae_requests_total"]
        self.assertTrue(requests)
        for s in requests:
            self.assertEqual(set(s.labels), {"api", "endpoint", "code"}, s)
        self.assertIn("should_rate_limit", {s.labels["endpoint"] for s in requests})

        hist = family("zae_request_duration_seconds")
        self.assertEqual(hist.type, "histogram")
        series = {}
        for s in hist.samples:
            key = (s.labels["api"], s.labels["endpoint"])
            series.setdefault(key, {"buckets": [], "count": None})
            if s.name.endswith("_bucket"):
                series[key]["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                series[key]["count"] = s.value
        self.assertIn(("grpc", "should_rate_limit"), series)
        for key, v in series.items():
            buckets = sorted(v["buckets"])
            counts = [c for _, c in buckets]
            self.assertEqual(counts, sorted(counts), "buckets decrease: %s %s" % (key, buckets))
            self.assertEqual(buckets[-1][0], float("inf"), key)
            self.assertEqual(buckets[-1][1], v["count"], "+Inf != _count for %s" % (key,))

        versions = [s.labels.get("version") for s in family("zae_build_info").samples]
        self.assertTrue(versions and all(versions), versions)
        family("process_cpu_seconds_total")

        # Bounded cardinality: no entity id is ever a label value.
        for f in families.values():
            for s in f.samples:
                leaked = ENTITY_IDS & set(s.labels.values())
                self.assertFalse(leaked, "entity id as a label: %s" % (s,))


class DrainTest(unittest.TestCase):
    """SIGTERM: not ready at once, still serving for --drain-seconds, then exit 0."""

    def setUp(self):
        self.server = Server("drain")

    def tearDown(self):
        self.server.kill()

    def test_sigterm_drains(self):
        import grpc
        srv = self.server
        # Calls sent before the signal: each must get a real answer.
        futures = [srv.rls.ShouldRateLimit.future(
            request("gateway", descriptor(("api_key", "d%d" % (i % 5 + 1)))), timeout=10)
            for i in range(10)]
        self.assertEqual(http("GET", srv.base + "/readyz")[0], 200)
        signalled = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)

        # Not ready well within the drain second, while still answering.
        not_ready_after = None
        while time.monotonic() - signalled < 1.0:
            try:
                if http("GET", srv.base + "/readyz")[0] == 503:
                    not_ready_after = time.monotonic() - signalled
                    break
            except OSError:
                break  # already closed: not_ready_after stays None and fails below
            time.sleep(0.02)
        self.assertIsNotNone(not_ready_after, "/readyz never said 503 during the drain\n" + srv.log())
        self.assertEqual(http("GET", srv.base + "/healthz")[0], 200, "HTTP stopped serving while draining")
        r = srv.rls.ShouldRateLimit(request("gateway", descriptor(("api_key", "d1"))), timeout=5)
        self.assertIn(r.overall_code, (OK, OVER_LIMIT), "gRPC stopped serving while draining")

        for i, f in enumerate(futures):
            try:
                r = f.result(timeout=10)
            except grpc.RpcError as e:
                self.fail("call %d sent before SIGTERM failed: %s %s" % (i, e.code(), e.details()))
            self.assertIn(r.overall_code, (OK, OVER_LIMIT), r)

        try:
            rc = srv.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("server still running 10 s after SIGTERM\n" + srv.log())
        self.assertEqual(rc, 0, srv.log())


class DrainUnderLoadTest(unittest.TestCase):
    """SIGTERM with calls streaming in: every admitted call is answered, every
    answered OK is counted in the store (tc), and the process exits 0."""

    def test_nothing_lost(self):
        import grpc
        import sqlite3
        srv = Server("drain-load")
        try:
            ok = [0] * 4
            stop = threading.Event()

            def caller(i):
                req = request("gateway", descriptor(("api_key", "z1"), ("limit", "tpm"), hits=1))
                while not stop.is_set():
                    try:
                        r = srv.rls.ShouldRateLimit(req, timeout=5)
                    except grpc.RpcError:
                        return  # the listener is gone: nothing more is admitted
                    if r.overall_code == OK:
                        ok[i] += 1
            threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.5)
            srv.proc.send_signal(signal.SIGTERM)
            try:
                rc = srv.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.fail("server still running 15 s after SIGTERM\n" + srv.log())
            stop.set()
            for t in threads:
                t.join(timeout=10)
            self.assertEqual(rc, 0, srv.log())
            self.assertGreater(sum(ok), 0)
            db = sqlite3.connect(srv.store[len("sqlite://"):])
            rows = db.execute("SELECT tc FROM bucket_limits WHERE name = 'tpm' AND pk LIKE ?",
                              ("%#z1#gpt-4#%",)).fetchall()
            db.close()
            self.assertEqual(len(rows), 1, rows)
            self.assertEqual(rows[0][0], sum(ok) * 1000,
                             "tokens counted vs OK answers (milli-tokens)")
        finally:
            srv.kill()


def metric(base, name, labels):
    """The value of one sample of /metrics, parsed by prometheus_client."""
    from prometheus_client.parser import text_string_to_metric_families
    text = http("GET", base + "/metrics")[2].decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


class ReloadTest(unittest.TestCase):
    """The rule file is reloaded when it changes and on SIGHUP; a bad one keeps the old rules."""

    def setUp(self):
        self.server = Server("reload")

    def tearDown(self):
        self.server.kill()

    def wait_for(self, predicate, what):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        self.fail("%s within 5 s\n%s" % (what, self.server.log()))

    def test_change_then_bad_file_then_sighup(self):
        srv = self.server
        call = lambda: srv.rls.ShouldRateLimit(
            request("batch", descriptor(("user", "r1"))), timeout=5)
        # `batch` is not configured yet: OK without a limit.
        self.assertFalse(call().statuses[0].HasField("current_limit"))
        with open(srv.rules, "a") as f:
            f.write("  - name: batch\n    rules:\n      - match: [user]\n"
                    "        entity: $user\n        resource: api\n        limit: rpm\n")
        self.wait_for(lambda: call().statuses[0].HasField("current_limit"),
                      "the changed file was not applied")
        # api is 3/min; the probe above used one or more: drain it.
        codes = [call().overall_code for _ in range(4)]
        self.assertEqual(codes[-1], OVER_LIMIT, codes)
        good = metric(srv.base, "zae_config_reloads_total", {"result": "success"})
        self.assertGreaterEqual(good, 1)

        with open(srv.rules, "w") as f:
            f.write("domains: [this is not: a rule file\n")
        self.wait_for(lambda: (metric(srv.base, "zae_config_reloads_total",
                                      {"result": "failure"}) or 0) >= 1,
                      "the bad file was not refused")
        self.assertEqual(call().overall_code, OVER_LIMIT, "the old rules must stay")

        with open(srv.rules, "w") as f:
            f.write(RULES)  # back to the start: no `batch`
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_for(lambda: not call().statuses[0].HasField("current_limit"),
                      "SIGHUP did not apply the file")


class StoreUnavailableTest(unittest.TestCase):
    """A store that cannot answer within the deadline: UNAVAILABLE under block, OK under allow.

    The SQLite store is made unavailable by holding its writers' lock
    (a POSIX lock on <path>-lock, as another process's writer would) past
    the call's deadline (--timeout 0.3)."""

    def run_with(self, policy):
        import fcntl
        import grpc
        srv = Server("unavailable-" + policy, serve_args=["--on-unavailable", policy],
                     global_args=["--timeout", "0.3"])
        try:
            call = lambda key: srv.rls.ShouldRateLimit(
                request("gateway", descriptor(("api_key", key))), timeout=5)
            self.assertEqual(call("u1").overall_code, OK)
            with open(srv.store[len("sqlite://"):] + "-lock", "r+") as lock:
                fcntl.lockf(lock, fcntl.LOCK_EX)
                try:
                    if policy == "block":
                        with self.assertRaises(grpc.RpcError) as cm:
                            call("u2")
                        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
                        status, _, body = http("POST", srv.base + "/v1/acquire",
                                               {"entity_id": "u2", "resource": "api",
                                                "consume": {"rpm": 1}})
                        self.assertEqual(status, 503, body)
                        self.assertIn("error", json.loads(body))
                    else:
                        r = call("u2")
                        self.assertEqual(r.overall_code, OK, r)
                finally:
                    fcntl.lockf(lock, fcntl.LOCK_UN)
            self.assertEqual(call("u3").overall_code, OK, "the store is back")
            errors = metric(srv.base, "zae_store_errors_total", {})
            self.assertGreaterEqual(errors or 0, 1 if policy == "block" else 0)
        finally:
            srv.kill()

    def test_block_answers_unavailable(self):
        self.run_with("block")

    def test_allow_answers_ok(self):
        self.run_with("allow")


class TlsTest(unittest.TestCase):
    """TLS and mTLS on both listeners, certificates made with openssl here."""

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(TMP.name, "certs")
        os.makedirs(cls.dir)
        script = """
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 \
              -subj /CN=zae-py-ca
            printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
              -out server.pem -days 1 -extfile san.ext
            openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client
            openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
              -out client.pem -days 1
        """
        r = subprocess.run(["sh", "-ec", script], cwd=cls.dir, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("openssl failed: " + r.stderr)

    def path(self, name):
        return os.path.join(self.dir, name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def https(self, srv, client_cert):
        import ssl
        ctx = ssl.create_default_context(cafile=self.path("ca.pem"))
        if client_cert:
            ctx.load_cert_chain(self.path("client.pem"), self.path("client.key"))
        with urllib.request.urlopen("https://127.0.0.1:%d/healthz" % srv.http_port,
                                    context=ctx, timeout=5) as r:
            return r.status

    def test_tls(self):
        import grpc
        creds = grpc.ssl_channel_credentials(root_certificates=self.read("ca.pem"))
        srv = Server("tls", serve_args=["--tls-cert", self.path("server.pem"),
                                        "--tls-key", self.path("server.key")],
                     channel_credentials=creds)
        try:
            r = srv.rls.ShouldRateLimit(request("gateway", descriptor(("api_key", "t1"))), timeout=5)
            self.assertEqual(r.overall_code, OK)
            self.assertEqual(self.https(srv, client_cert=False), 200)
            # Plaintext gRPC on the TLS port fails.
            plain = grpc.insecure_channel("127.0.0.1:%d" % srv.grpc_port)
            with self.assertRaises(grpc.RpcError):
                rls_pb2_grpc.RateLimitServiceStub(plain).ShouldRateLimit(
                    request("gateway", descriptor(("api_key", "t1"))), timeout=2)
            plain.close()
        finally:
            srv.kill()

    def test_mutual_tls(self):
        import grpc
        import ssl
        with_cert = grpc.ssl_channel_credentials(
            root_certificates=self.read("ca.pem"), private_key=self.read("client.key"),
            certificate_chain=self.read("client.pem"))
        srv = Server("mtls", serve_args=["--tls-cert", self.path("server.pem"),
                                         "--tls-key", self.path("server.key"),
                                         "--tls-client-ca", self.path("ca.pem")],
                     channel_credentials=with_cert)
        try:
            r = srv.rls.ShouldRateLimit(request("gateway", descriptor(("api_key", "t2"))), timeout=5)
            self.assertEqual(r.overall_code, OK)
            self.assertEqual(self.https(srv, client_cert=True), 200)
            # Without a client certificate: refused on both listeners.
            no_cert = grpc.secure_channel(
                "127.0.0.1:%d" % srv.grpc_port,
                grpc.ssl_channel_credentials(root_certificates=self.read("ca.pem")))
            with self.assertRaises(grpc.RpcError) as cm:
                rls_pb2_grpc.RateLimitServiceStub(no_cert).ShouldRateLimit(
                    request("gateway", descriptor(("api_key", "t2"))), timeout=2)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            no_cert.close()
            with self.assertRaises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
                self.https(srv, client_cert=False)
        finally:
            srv.kill()


def main():
    global BINARY, PROTO_DIR, TMP
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, help="the zae-limiter executable")
    parser.add_argument("--proto-dir", required=True, help="src/server/proto")
    args, rest = parser.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    PROTO_DIR = os.path.abspath(args.proto_dir)
    TMP = tempfile.TemporaryDirectory(prefix="zae-serve-test-")
    try:
        stubs = os.path.join(TMP.name, "stubs")
        os.makedirs(stubs)
        generate_stubs(stubs)
        program = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
        ok = program.result.wasSuccessful()
    finally:
        TMP.cleanup()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

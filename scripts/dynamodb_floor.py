#!/usr/bin/env python3
"""The DynamoDB client-CPU benchmark of docs/benchmarks.md, in one run.

Against one DynamoDB Local (started by scripts/bench-dynamodb-floor.sh):
  1. records the limiter's own fast-path UpdateItem (a warm `multi` acquire:
     rpm + tpm + the hidden wcu limit) through a recording reverse proxy;
  2. drives DynamoDB Local with `wrk` sending that request pre-built (no
     signing, no JSON building), rotating over 256 existing buckets so no
     bucket's wcu limit runs out, with 1 and 64 connections;
  3. runs the bare DynamoDB client (zae_aws_bench, one UpdateItem per call);
  4. runs `zae-limiter bench -s multi`: async with 1 and 64 in flight from
     one thread, and the thread-per-request mode with 64 (per-minute limits,
     as their names say), then async with 64 under per-second limits, whose
     TTL sends every bucket through the slow path every 7 s;
and prints one table of requests/s and whole-process CPU per request: wrk
and ours (async, 1 and 64 in flight) alternate for --rounds rounds and the
table shows medians, with every round's figure.

  scripts/dynamodb_floor.py --endpoint URL --cli PATH --aws-bench PATH [--seconds N]
                            [--rounds N] [--warm SECONDS]
Stdlib only (runs on any python3).
"""
import argparse
import http.client
import http.server
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import urllib.parse


def recording_proxy(upstream):
    """A loopback reverse proxy to `upstream` keeping fast-path UpdateItems."""
    target = urllib.parse.urlparse(upstream)
    recorded = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            amz_target = self.headers.get("X-Amz-Target", "")
            if amz_target.endswith(".UpdateItem"):
                expr = json.loads(body).get("UpdateExpression", "")
                if expr.startswith("ADD") and "SET" not in expr:
                    recorded.append((amz_target, body))
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            conn.request("POST", self.path, body, headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (the bench ended)
            conn.close()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, recorded


def child_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_wrk(endpoint, amz_target, body, seconds, connections, work):
    """wrk with the pre-built request; returns (requests/s, CPU µs/request)."""
    text = body.decode()
    m = re.search(r'#e-\d+#', text)
    if not m:
        sys.exit("floor: no bucket entity (#e-N#) in the recorded request: " + text[:200])
    template = text.replace("%", "%%").replace(m.group(0), "#e-%d#")
    lua = os.path.join(work, "floor.lua")
    with open(lua, "w") as f:
        f.write('local template = %s\n' % json.dumps(template))
        f.write('local n = 0\n')
        f.write('wrk.method = "POST"\n')
        f.write('wrk.headers["Content-Type"] = "application/x-amz-json-1.0"\n')
        f.write('wrk.headers["X-Amz-Target"] = "%s"\n' % amz_target)
        # DynamoDB Local wants the header's shape, not a valid signature.
        f.write('wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=test/20260101/'
                'us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"\n')
        f.write('wrk.headers["X-Amz-Date"] = "20260101T000000Z"\n')
        f.write('request = function()\n  n = n + 1\n'
                '  return wrk.format(nil, "/", nil, string.format(template, n % 256))\nend\n')
        f.write('done = function(summary, latency, requests)\n'
                '  io.write(string.format("ZAE requests=%d errors=%d non2xx=%d\\n", '
                'summary.requests, summary.errors.connect + summary.errors.read + '
                'summary.errors.write + summary.errors.timeout, summary.errors.status))\nend\n')
    cpu0 = child_cpu()
    out = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "-s", lua,
                          endpoint + "/"], capture_output=True, text=True, check=True).stdout
    cpu = child_cpu() - cpu0
    reqs = int(re.search(r"ZAE requests=(\d+)", out).group(1))
    non2xx = int(re.search(r"non2xx=(\d+)", out).group(1))
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    if non2xx > reqs // 100:
        sys.exit("floor: %d of %d wrk requests were refused; the floor would be wrong:\n%s"
                 % (non2xx, reqs, out))
    return rate, cpu * 1e6 / max(reqs, 1)


def run_ours(cli, store, seconds, inflight, mode, period="minute"):
    out = subprocess.run([cli, "--store", store, "--output", "json", "bench", "-s", "multi",
                          "--threads", "1", "--inflight", str(inflight), "--mode", mode,
                          "--duration", str(seconds), "--warmup", "1", "--period", period],
                         capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    if r["errors"]:
        sys.exit("floor: bench had %d errors: %s" % (r["errors"], r.get("first_error", "")))
    return r["ops_per_sec"], r["client_cpu_us_per_op"]


def run_bare(aws_bench, endpoint):
    env = dict(os.environ, ZAE_BENCH_DYNAMODB_ENDPOINT=endpoint)
    out = subprocess.run([aws_bench, "--benchmark_filter=BM_AwsDynamoLocalUpdateItem/(1|64)/",
                          "--benchmark_format=json", "--benchmark_min_time=3"],
                         capture_output=True, text=True, check=True, env=env).stdout
    rows = {}
    for b in json.loads(out)["benchmarks"]:
        n = int(re.search(r"/(\d+)/", b["name"]).group(1))
        rows[n] = (b.get("items_per_second", 0.0), b["cpu_us_per_req"])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--aws-bench", required=True)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of wrk and ours, alternated; the table shows medians")
    ap.add_argument("--warm", type=int, default=60,
                    help="seconds of load on the emulator before the rounds")
    a = ap.parse_args()
    if a.rounds < 1 or a.seconds < 1 or a.warm < 0:
        sys.exit("floor: --rounds and --seconds must be positive, --warm not negative")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    store = "dynamodb://zae-floor?region=us-east-1&endpoint=" + a.endpoint
    subprocess.run([a.cli, "--store", store, "deploy"], check=True, capture_output=True)

    proxy, recorded = recording_proxy(a.endpoint)
    proxied = "dynamodb://zae-floor?region=us-east-1&endpoint=http://127.0.0.1:%d" % (
        proxy.server_address[1])
    # 256 workers: buckets e-0 .. e-255 exist and are warm afterwards.
    # Through this one-thread proxy some of the 256 calls in flight outlast
    # the client's attempt timeout; their outcome is unknown (the store does
    # not resend an ADD) and bench exits 1. Only the recorded request matters.
    warm = subprocess.run([a.cli, "--store", proxied, "bench", "-s", "multi", "--threads", "4",
                           "--inflight", "64", "--duration", "2", "--warmup", "0"],
                          capture_output=True, text=True)
    if warm.returncode not in (0, 1):
        sys.exit("floor: the recording run failed (%d): %s" % (warm.returncode, warm.stderr))
    proxy.shutdown()
    if not recorded:
        sys.exit("floor: recorded no fast-path UpdateItem")
    amz_target, body = recorded[-1]

    # DynamoDB Local serves faster for minutes after it starts (its JIT):
    # in one run the same 30 s bench went from 808 to 1,385 acquires/s over
    # four minutes, and the client's CPU per acquire from 107 to 65 µs.
    # Load it first.
    if a.warm > 0:
        run_ours(a.cli, store, a.warm, 64, "async")
    # DynamoDB Local's speed drifts by tens of percent within minutes (its
    # JIT, its garbage collector, the machine): wrk and ours alternate, a
    # round at a time, and the table shows each one's median round.
    per_round = {}  # (name, n, unit) -> [(rate, cpu) per round]

    def record(key, rate, cpu):
        per_round.setdefault(key, []).append((rate, cpu))

    wrk_row = ("wrk, pre-built fast-path UpdateItem", "connections")
    ours_row = ("zae-limiter bench -s multi --mode async", "in flight (1 thread)")
    with tempfile.TemporaryDirectory() as work:
        for _ in range(a.rounds):
            for n in (1, 64):
                record((wrk_row[0], n, wrk_row[1]),
                       *run_wrk(a.endpoint, amz_target, body, a.seconds, n, work))
                record((ours_row[0], n, ours_row[1]),
                       *run_ours(a.cli, store, a.seconds, n, "async"))
    for n, (rate, cpu) in sorted(run_bare(a.aws_bench, a.endpoint).items()):
        record(("bare client (zae_aws_bench), UpdateItem", n, "in flight (ExecuteAll batches)"),
               rate, cpu)
    record(("zae-limiter bench -s multi --mode threads", 64, "worker threads"),
           *run_ours(a.cli, store, a.seconds, 64, "threads"))
    # Per-second limits: every bucket's TTL (seven refill periods) runs out
    # every 7 s and its acquire takes the slow path (a read and a full
    # write, on the limiter's pool): not a warm acquire, shown for scale.
    record(("zae-limiter bench -s multi --mode async --period second", 64,
            "in flight (1 thread)"), *run_ours(a.cli, store, a.seconds, 64, "async", "second"))

    def median(values):
        v = sorted(values)
        return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

    print("| client | in flight | req/s | CPU µs/req | rounds (CPU µs/req) |")
    print("|---|---|---:|---:|---|")
    med = {}
    for key, runs in per_round.items():
        name, n, unit = key
        med[key] = (median([r for r, _ in runs]), median([c for _, c in runs]))
        print("| %s | %d %s | %.0f | %.1f | %s |" % (name, n, unit, med[key][0], med[key][1],
                                                   " / ".join("%.1f" % c for _, c in runs)))
    print()
    for n in (1, 64):
        o, w = med[(ours_row[0], n, ours_row[1])], med[(wrk_row[0], n, wrk_row[1])]
        ratios = [oc / wc for (_, oc), (_, wc) in zip(per_round[(ours_row[0], n, ours_row[1])],
                                                      per_round[(wrk_row[0], n, wrk_row[1])])]
        print("async, %d in flight: CPU %.1f µs = %.2f× wrk's %.1f µs (per round: %s); "
              "rate %.2f× wrk's" % (n, o[1], o[1] / w[1], w[1],
                                    " / ".join("%.2f×" % r for r in ratios), o[0] / w[0]))
    print("request:", amz_target, body.decode())


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The benchmark regression guard, run by scripts/test.sh (docs/development.md).

Runs a short, fixed set of Google Benchmark figures (core math, memory and
SQLite acquire+commit, a warm denial, DynamoDB request signing, serialising
and parsing), each binary with BM_Calibration in the same process, and
divides every figure by the calibration's so the machine's speed cancels
out. The ratios are compared with bench/baseline.json:

  above 1.30x the baseline: an alert naming the benchmark and both figures;
  above 2x: the run fails (exit 1).

  scripts/bench_guard.py [--build DIR]            compare
  scripts/bench_guard.py [--build DIR] --update   write a new baseline
                                                  (commit it, saying why)
"""
import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = os.path.join(ROOT, "bench", "baseline.json")
ALERT, FAIL = 1.30, 2.0

# binary -> guarded benchmark names (exact, with their arguments)
GUARDED = {
    "zae_core_bench": ["BM_Refill/1", "BM_TryConsume/1"],
    "zae_limiter_bench": ["BM_AcquireCommit/0/1/1", "BM_AcquireCommit/1/1/1", "BM_Denial/0"],
    "zae_aws_bench": ["BM_AwsSignSerializeUpdateItem", "BM_AwsParseUpdateItemResponse"],
}


def run(binary, names):
    pattern = "^(" + "|".join(re.escape(n) for n in ["BM_Calibration"] + names) + ")$"
    out = subprocess.run(
        # Repetitions interleaved at random with the calibration's, so a
        # noisy moment of the machine weighs on both alike; medians.
        [binary, "--benchmark_filter=" + pattern, "--benchmark_repetitions=10",
         "--benchmark_min_time=0.1", "--benchmark_enable_random_interleaving=true",
         "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    medians = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            medians[b["run_name"]] = b["cpu_time"]
    missing = [n for n in ["BM_Calibration"] + names if n not in medians]
    if missing:
        sys.exit(f"bench_guard: {os.path.basename(binary)} did not report {missing}")
    cal = medians["BM_Calibration"]
    return {n: medians[n] / cal for n in names}, cal


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--update", action="store_true", help="write bench/baseline.json")
    args = ap.parse_args()

    def measure():
        out = {}
        for binary, names in GUARDED.items():
            path = os.path.join(args.build, "bench", binary)
            if not os.access(path, os.X_OK):
                sys.exit(f"bench_guard: {path} is missing (build the release configuration first)")
            ratios, cal = run(path, names)
            print(f"{binary}: calibration {cal:.1f} ns")
            out.update(ratios)
        return out

    # A baseline is the median of three whole measurements; a check is one.
    runs = [measure() for _ in range(3 if args.update else 1)]
    current = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}

    if args.update:
        with open(BASELINE, "w") as f:
            json.dump({"unit": "median cpu_time / BM_Calibration in the same process",
                       "ratios": {k: float(f"{v:.5g}") for k, v in sorted(current.items())}},
                      f, indent=2)
            f.write("\n")
        print(f"bench_guard: wrote {os.path.relpath(BASELINE, ROOT)}; commit it and say why")
        return 0

    try:
        with open(BASELINE) as f:
            baseline = json.load(f)["ratios"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"bench_guard: cannot read {BASELINE}: {e} (run with --update to create it)")
    failed = False
    print(f"{'benchmark':<36} {'baseline':>10} {'current':>10} {'x':>6}")
    for name, now in sorted(current.items()):
        base = baseline.get(name)
        if base is None:
            print(f"{name:<36} {'-':>10} {now:>10.4g}      (not in the baseline: run --update)")
            continue
        factor = now / base
        mark = ""
        if factor > FAIL:
            mark, failed = "  FAIL: more than 2x slower", True
        elif factor > ALERT:
            mark = "  ALERT: more than 1.30x slower"
        print(f"{name:<36} {base:>10.4g} {now:>10.4g} {factor:>6.2f}{mark}")
    if failed:
        print("bench_guard: a guarded benchmark is more than 2x slower than bench/baseline.json")
        return 1
    print("bench_guard: no benchmark above 2x its baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())

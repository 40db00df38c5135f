#!/usr/bin/env python3
"""Line and branch coverage per subsystem, from a --coverage build (gcovr).

Run by scripts/test.sh after the tests of the coverage configuration.
Counts only the project's own library and command sources under src/:
tests (*_test.cc, test utilities, the scripted test servers), fuzz targets
and benchmarks are excluded. Fails (exit 1) when total line coverage is
below the threshold kept in scripts/coverage-threshold.

  scripts/coverage.py BUILD_DIR
"""
import json
import os
import subprocess
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THRESHOLD_FILE = os.path.join(ROOT, "scripts", "coverage-threshold")
EXCLUDES = [r".*_test\.cc", r".*_test_util\.h", r".*/test_server\.(cc|h)", r"src/.*/fuzz/.*",
            r"src/aggregator/aggregator_test_util\.h", r"src/store/store_test_util\.h",
            r"src/limiter/limiter_test_util\.h"]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    cmd = ["gcovr", "--root", ROOT, "--filter", os.path.join(ROOT, "src") + "/",
           "--json", "-", "--gcov-ignore-parse-errors", "-j", "2", build]
    for e in EXCLUDES:
        cmd += ["--exclude", os.path.join(ROOT, e)]
    data = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    per = defaultdict(lambda: [0, 0, 0, 0])  # lines covered, lines, branches covered, branches
    for f in data["files"]:
        parts = f["file"].split("/")
        sub = "/".join(parts[:2]) if parts[0] == "src" else parts[0]
        if sub.startswith("src/store") and len(parts) > 3 and parts[2] in ("memory", "sqlite", "dynamodb"):
            sub = "/".join(parts[:3])
        acc = per[sub]
        for line in f["lines"]:
            if line.get("gcovr/noncode"):
                continue
            acc[1] += 1
            acc[0] += line["count"] > 0
            for b in line.get("branches", []):
                acc[3] += 1
                acc[2] += b["count"] > 0
    total = [sum(v[i] for v in per.values()) for i in range(4)]
    pct = lambda a, b: 100.0 * a / b if b else 100.0
    print(f"{'subsystem':<22} {'lines':>15} {'%':>7} {'branches':>15} {'%':>7}")
    for sub in sorted(per):
        lc, l, bc, b = per[sub]
        print(f"{sub:<22} {lc:>7}/{l:<7} {pct(lc, l):>6.1f}% {bc:>7}/{b:<7} {pct(bc, b):>6.1f}%")
    print(f"{'TOTAL':<22} {total[0]:>7}/{total[1]:<7} {pct(total[0], total[1]):>6.1f}% "
          f"{total[2]:>7}/{total[3]:<7} {pct(total[2], total[3]):>6.1f}%")
    with open(THRESHOLD_FILE) as fh:
        threshold = float(fh.read().split()[0])
    line_pct = pct(total[0], total[1])
    if line_pct < threshold:
        print(f"coverage: total line coverage {line_pct:.1f}% is below the threshold "
              f"{threshold:.1f}% in scripts/coverage-threshold")
        return 1
    print(f"coverage: {line_pct:.1f}% of lines (threshold {threshold:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

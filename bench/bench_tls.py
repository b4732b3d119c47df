#!/usr/bin/env python3
"""Benchmark `smtpsh tls` against nmap's ssl-enum-ciphers on the same port, same run.

    python3 bench/bench_tls.py                     # 127.0.0.1:25 (STARTTLS), 5 runs each
    python3 bench/bench_tls.py --port 10465 --runs 3

Prints each tool's median wall time (goal: smtpsh <= nmap) and whether both found the same
versions and suites. Only loopback targets are accepted.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.tls.test_tls_scan import parse_nmap


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
    return time.perf_counter() - start, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not ipaddress.ip_address(args.host).is_loopback:
        parser.error("loopback targets only")
    if shutil.which("nmap") is None:
        parser.error("nmap is not installed")
    mode = "--tls" if args.port in (465, 10465) else "--starttls"
    ours = [sys.executable, "-m", "smtpsh", "tls", f"{args.host}:{args.port}", mode, "--json"]
    # -sV only where nmap cannot tell the service from the port number.
    theirs = ["nmap", "-Pn", "-n", "-p", str(args.port), "--script", "ssl-enum-ciphers",
              args.host] + ([] if args.port in (25, 587, 465) else ["-sV", "--version-intensity", "0"])  # fmt: skip
    t_ours, t_theirs = [], []
    out_ours = out_theirs = ""
    for _ in range(args.runs):  # interleaved, so that load hits both alike
        t, out_ours = timed(ours)
        t_ours.append(t)
        t, out_theirs = timed(theirs)
        t_theirs.append(t)
    found = {v["version"]: {s["name"] for s in v["suites"]}
             for v in json.loads(out_ours)["result"]["versions"] if v["accepted"]}  # fmt: skip
    nmap_found = parse_nmap(out_theirs).get(args.port, {})
    a, b = statistics.median(t_ours), statistics.median(t_theirs)
    print(f"target {args.host}:{args.port} ({mode[2:]}), {args.runs} runs each, interleaved")
    print(
        f"  smtpsh tls                  median {a * 1000:7.0f} ms  (min {min(t_ours) * 1000:.0f})"
    )
    print(
        f"  nmap ssl-enum-ciphers       median {b * 1000:7.0f} ms  (min {min(t_theirs) * 1000:.0f})"
    )
    print(f"  ratio smtpsh/nmap           {a / b:.2f}x  (goal <= 1.0x)")
    counts = ", ".join(f"{v} {len(s)}" for v, s in sorted(found.items()))
    print(f"  same findings               {'yes' if found == nmap_found else 'NO'} ({counts})")
    return 0 if found == nmap_found else 1


if __name__ == "__main__":
    sys.exit(main())

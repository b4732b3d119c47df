#!/usr/bin/env python3
"""Issue 2 speed goals, measured side by side in one run (loopback only).

1. Time from `smtpsh HOST` to the first prompt with the banner printed (goal <= 0.25 s),
   in a real pty; bare `python -c pass` shown for scale.
2. A piped one-shot dialogue (EHLO, MAIL, RCPT, QUIT) against Postfix, smtpsh vs
   `swaks --quit-after RCPT` on the same server (goal: smtpsh <= 1.0x swaks).

Usage: python3 bench/bench_session.py [--host 127.0.0.1] [--port 25] [--runs 20]
Prints medians and the ratio; exits 0 (it measures, it does not judge).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import pexpect

SCRIPT = "EHLO bench.smtpsh.test\nMAIL FROM:<bench@smtpsh.test>\nRCPT TO:<robin@smtpsh.test>\nQUIT\n"


def env() -> dict[str, str]:
    home = tempfile.mkdtemp(prefix="smtpsh-bench-")
    return {**os.environ, "HOME": home, "XDG_STATE_HOME": home, "PROMPT_TOOLKIT_NO_CPR": "1"}


def time_to_prompt(host: str, port: int) -> float:
    started = time.perf_counter()
    child = pexpect.spawn(
        sys.executable, ["-m", "smtpsh", f"{host}:{port}"], env=env(), encoding="utf-8", timeout=10
    )
    child.expect_exact("›")
    elapsed = time.perf_counter() - started
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    return elapsed


def timed(cmd: list[str], stdin: str | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env(), timeout=30)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({result.returncode}): {result.stderr or result.stdout}")
    return elapsed


def report(name: str, samples: list[float]) -> float:
    median = statistics.median(samples)
    print(f"  {name:<38} median {median * 1000:7.1f} ms   min {min(samples) * 1000:7.1f} ms")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    runs = max(3, args.runs)

    print(f"1. start-up to the first prompt ({runs} runs, pty)")
    bare = report("python3 -c pass", [timed([sys.executable, "-c", "pass"]) for _ in range(runs)])
    prompt = report("smtpsh HOST → banner + prompt", [time_to_prompt(args.host, args.port) for _ in range(runs)])
    print(f"  goal ≤ 250 ms: {'met' if prompt <= 0.25 else 'NOT met'} ({prompt * 1000:.0f} ms; bare Python {bare * 1000:.0f} ms)")

    print(f"\n2. piped EHLO/MAIL/RCPT/QUIT against {args.host}:{args.port} ({runs} runs each, interleaved)")
    smtpsh_cmd = [sys.executable, "-m", "smtpsh", f"{args.host}:{args.port}", "--no-annotate"]
    swaks = shutil.which("swaks")
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(runs):
        ours.append(timed(smtpsh_cmd, SCRIPT))
        if swaks:
            theirs.append(
                timed(
                    [swaks, "--server", args.host, "--port", str(args.port), "--quit-after", "RCPT",
                     "--from", "bench@smtpsh.test", "--to", "robin@smtpsh.test", "--helo", "bench.smtpsh.test"]
                )
            )
    mine = report("smtpsh (piped)", ours)
    if theirs:
        other = report("swaks --quit-after RCPT", theirs)
        ratio = mine / other
        print(f"  ratio smtpsh/swaks = {ratio:.2f}x  goal ≤ 1.0x: {'met' if ratio <= 1.0 else 'NOT met'}")
    else:
        print("  swaks not installed (apt-get install swaks) — no comparison")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Benchmark `smtpsh enum` on a word list of a million names: memory and first answer.

    python3 bench/bench_enum_stream.py              # 127.0.0.1:25, user robin, 15 s
    python3 bench/bench_enum_stream.py --seconds 60 --names 2000000

The list (random names, the real user 10th) is streamed, never held whole, so the peak
resident memory stays flat however long the list; the goal is <= 50 MB for 1,000,000
names (round one read the whole list first: 185 MB) and the first found name printed
within 1 s of the start. A full run of a million names at Postfix's pace takes most of an
hour, so the run is stopped with SIGTERM after --seconds, which also shows the partial
results being printed. Only loopback targets are accepted.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# Runs smtpsh as its child and writes the child's peak RSS (KiB) to argv[1]: a child
# forked from this script would count the script's own memory in its peak.
MEASURED = """\
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
def forward(signum, frame):
    child.send_signal(signum)
import signal
signal.signal(signal.SIGTERM, forward)
_, status, usage = os.wait4(child.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def wordlist(path: Path, count: int, user: str, position: int) -> Path:
    rng = random.Random(5321)
    letters = string.ascii_lowercase
    with path.open("w") as out:
        for i in range(count):
            if i == position:
                out.write(user + "\n")
            else:
                out.write("zz" + "".join(rng.choice(letters) for _ in range(8)) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--user", default="robin", help="a real user of the server")
    parser.add_argument("--names", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=15.0, help="then SIGTERM")
    args = parser.parse_args()
    if not ipaddress.ip_address(args.host).is_loopback:
        parser.error("loopback targets only")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        path = wordlist(Path(tmp) / "names.txt", args.names, args.user, 9)
        made = time.monotonic() - started
        size = path.stat().st_size
        peak_file = Path(tmp) / "peak"
        command = [sys.executable, "-m", "smtpsh", "enum", f"{args.host}:{args.port}",
                   "-U", str(path), "-m", "vrfy", "-q"]
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", MEASURED, str(peak_file), *command],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        first: list[float] = []
        found: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if not first:
                    first.append(time.monotonic() - started)
                found.append(line.rstrip())

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(args.seconds)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        reader.join(10)
        ran = time.monotonic() - started
        peak_kib = int(peak_file.read_text())
    checked = next((line for line in err.splitlines() if "names checked" in line), "?")
    print(f"word list: {args.names:,} names, {size / 2**20:.1f} MiB (made in {made:.1f} s)")
    print(f"smtpsh enum -U (stopped by SIGTERM after {ran:.1f} s, exit {proc.returncode}):")
    print(f"  first found name printed after {first[0]:.2f} s (goal <= 1 s): {found[0]}"
          if first else "  no name found")
    print(f"  peak resident memory {peak_kib / 1024:.1f} MB (goal <= 50 MB; round one: 185 MB)")
    print(f"  summary on SIGTERM: {checked}")
    ok = bool(first) and first[0] <= 1.0 and peak_kib <= 50 * 1024 and proc.returncode == 143
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark `smtpsh enum` against stock Postfix on loopback, beside the peers.

    python3 bench/bench_enum.py                 # 127.0.0.1:25, user robin
    python3 bench/bench_enum.py --skip-peers    # smtpsh only (no ~100 s peer run)

Figures printed:
  1. 1,000 names (the real user among them), VRFY: smtpsh wall time, 3 runs (goal <= 3 s).
  2. 200 names, VRFY: smtpsh vs the PyPI tool `smtp-user-enum` (defaults), same run,
     the speed-up (goal >= 50x) and whether each found the user.
  3. nmap's smtp-enum-users on the same list, if nmap is installed.
  4. Exim (the interop server of scripts/setup-interop, stock defaults: VRFY wants
     NAME@DOMAIN, 10 non-mail commands a connection): 1,000 names with its three users
     among them, `smtpsh enum` (auto), and smtp-user-enum on the same list in the same
     run: names/s and the users each found (with its defaults, and with -d DOMAIN).

Only loopback targets are accepted. The server must run with its stock error limits
(Postfix: smtpd_soft_error_limit 10, smtpd_hard_error_limit 20). smtp-user-enum (PyPI)
is installed into the bench's own venv (~/.cache/smtpsh/bench-venv), never into smtpsh's.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import pwd
import random
import re
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAUSE = 2.0  # between runs, so one run's connections are gone before the next starts
INTEROP_FACTS = Path("/var/lib/smtpsh-test/interop.json")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
BENCH_VENV = CACHE / "smtpsh" / "bench-venv"


def existing_names() -> set[str]:
    """Every name that might be a real user here (so the random names are all unknown)."""
    names = {entry.pw_name for entry in pwd.getpwall()}
    try:
        for line in Path("/etc/aliases").read_text().splitlines():
            if ":" in line and not line.lstrip().startswith("#"):
                names.add(line.split(":", 1)[0].strip())
    except OSError:
        pass
    return names


def wordlist(path: Path, count: int, user: str, position: int, seed: int) -> Path:
    taken = existing_names() | {user}
    rng = random.Random(seed)
    names: set[str] = set()
    while len(names) < count - 1:
        name = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))
        if name not in taken:
            names.add(name)
    ordered = sorted(names)
    ordered.insert(position, user)
    path.write_text("\n".join(ordered) + "\n")
    return path


def timed(command: list[str], timeout: float) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    return time.monotonic() - started, proc


def smtpsh_run(target: str, listing: Path) -> tuple[float, list[str], str]:
    command = [sys.executable, "-m", "smtpsh", "enum", target, "-U", str(listing),
               "-m", "vrfy", "-q"]
    took, proc = timed(command, 300)
    found = [line.split("  ", 1)[0] for line in proc.stdout.splitlines() if line.strip()]
    summary = next((line for line in proc.stderr.splitlines() if "names checked" in line), "")
    if proc.returncode not in (0, 1):
        print(f"  smtpsh failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return took, found, summary


def peer_executable() -> str | None:
    """smtp-user-enum from PyPI, in the bench's own venv (made on first use)."""
    exe = BENCH_VENV / "bin" / "smtp-user-enum"
    if exe.exists():
        return str(exe)
    print(f"installing smtp-user-enum from PyPI into {BENCH_VENV} ...")
    if not (BENCH_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=False)
    subprocess.run([str(BENCH_VENV / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", "smtp-user-enum"], check=False)
    return str(exe) if exe.exists() else None


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def peer_run(exe: str, host: str, port: int, listing: Path, user: str) -> tuple[float, str]:
    took, proc = timed([exe, "-U", str(listing), host, str(port)], 900)
    text = ANSI.sub("", proc.stdout.replace("\r", "\n"))
    line = next((ln.strip() for ln in text.splitlines()
                 if re.match(rf"\[(SUCC|----)\] {re.escape(user)}\s", ln.strip())), "")
    return took, line


def nmap_runs(host: str, port: int, listing: Path) -> list[tuple[str, float, str]]:
    out = []
    for label, extra in (("methods={VRFY}", "smtp-enum-users.methods={VRFY},"),
                         ("default methods", "")):
        args = f"{extra}userdb={listing},unpwdb.timelimit=0"
        took, proc = timed(["nmap", "-Pn", "-p", str(port), "--script", "smtp-enum-users",
                            "--script-args", args, host], 300)
        result = [ln.strip("|_ ").strip() for ln in proc.stdout.splitlines()
                  if ln.startswith("|")][1:]
        out.append((label, took, "; ".join(result) or proc.stdout.strip()[-200:]))
    return out


def peer_found(stdout: str) -> list[str]:
    """The names smtp-user-enum marked [SUCC] (it files 250/252 answers there)."""
    text = ANSI.sub("", stdout.replace("\r", "\n"))
    return [m.group(1) for m in re.finditer(r"\[SUCC\] (\S+)", text)]


def exim_row(skip_peers: bool) -> None:
    """Section 4: the Exim of scripts/setup-interop, 1,000 names, smtpsh beside smtp-user-enum."""
    print("\n== 4. Exim 4 (stock defaults), 1,000 names, auto method")
    try:
        facts = json.loads(INTEROP_FACTS.read_text(encoding="utf-8"))
        exim = facts["servers"]["exim"]
    except (OSError, ValueError, KeyError):
        print(f"   no Exim: {INTEROP_FACTS} missing (run scripts/setup-test-env); skipped")
        return
    host, port, users = facts["host"], int(exim["port"]), list(exim["users"])
    work = Path(tempfile.mkdtemp(prefix="bench-enum-exim-"))
    rng = random.Random(4)
    taken = existing_names() | set(users) | set(exim["aliases"])
    names: set[str] = set()
    while len(names) < 1000 - len(users):
        name = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))
        if name not in taken:
            names.add(name)
    ordered = sorted(names)
    for user, place in zip(users, (150, 500, 850), strict=False):
        ordered.insert(place, user)
    listing = work / "names1000.txt"
    listing.write_text("\n".join(ordered) + "\n")
    target = f"{host}:{port}"
    command = [sys.executable, "-m", "smtpsh", "enum", target, "-U", str(listing), "-q"]
    print(f"   command: smtpsh enum {target} -U {listing}")
    times = []
    for run in range(3):
        took, proc = timed(command, 300)
        found = [line.split("  ", 1)[0] for line in proc.stdout.splitlines() if line.strip()]
        times.append(took)
        summary = next((ln for ln in proc.stderr.splitlines() if "names checked" in ln), "")
        print(f"   run {run + 1}: {took:.2f} s wall ({1000 / took:.0f} names/s), found {found}"
              f" (configured: {users}) · {summary}")
        time.sleep(PAUSE)
    ours = statistics.median(times)
    print(f"   => smtpsh median {ours:.2f} s, {1000 / ours:.0f} names/s")
    if skip_peers:
        print("   (smtp-user-enum skipped)")
        return
    exe = peer_executable()
    if exe is None:
        print("   smtp-user-enum: could not be installed; no comparison")
        return
    for label, extra in (("defaults (VRFY, bare names)", []),
                         (f"-d {exim['hostname']} (what Exim's 501 asks for)",
                          ["-d", exim["hostname"]])):
        took, proc = timed([exe, *extra, "-U", str(listing), host, str(port)], 1800)
        found = peer_found(proc.stdout)
        print(f"   smtp-user-enum {label}: {took:.2f} s ({1000 / took:.0f} names/s),"
              f" found {found}; smtpsh is {took / ours:.1f}x faster")
        time.sleep(PAUSE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--user", default="robin", help="a user that exists on the server")
    parser.add_argument("--skip-peers", action="store_true",
                        help="do not run smtp-user-enum or nmap")
    parser.add_argument("--exim-only", action="store_true",
                        help="only section 4: the Exim row")
    args = parser.parse_args()
    if not ipaddress.ip_address(args.host).is_loopback:
        parser.error("only loopback targets (127.0.0.0/8, ::1)")
    target = f"[{args.host}]:{args.port}" if ":" in args.host else f"{args.host}:{args.port}"
    if args.exim_only:
        exim_row(args.skip_peers)
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-enum-"))
    big = wordlist(work / "names1000.txt", 1000, args.user, 617, seed=1)
    # Position 100: clear of the 21st-command 421s smtp-user-enum walks into.
    small = wordlist(work / "names200.txt", 200, args.user, 100, seed=2)

    print(f"== 1. smtpsh enum, 1,000 names ({args.user} among them), VRFY, {target}")
    print(f"   command: smtpsh enum {target} -U {big} -m vrfy")
    times = []
    for run in range(3):
        took, found, summary = smtpsh_run(target, big)
        times.append(took)
        print(f"   run {run + 1}: {took:.2f} s wall, found {found} · {summary}")
        time.sleep(PAUSE)
    best, median = min(times), statistics.median(times)
    verdict = "met" if median <= 3 else "MISSED"
    print(f"   => median {median:.2f} s, best {best:.2f} s (goal <= 3 s: {verdict})")

    print(f"\n== 2. 200 names, VRFY: smtpsh vs smtp-user-enum (defaults), {target}")
    small_times = []
    for _ in range(3):
        took, found, summary = smtpsh_run(target, small)
        small_times.append(took)
        time.sleep(PAUSE)
    ours = statistics.median(small_times)
    print(f"   smtpsh:         {ours:.2f} s (median of 3), found {found} · {summary}")
    if args.skip_peers:
        print("   (peers skipped)")
        return 0
    exe = peer_executable()
    if exe is None:
        print("   smtp-user-enum: could not be installed; no comparison")
    else:
        print(f"   command: {Path(exe).name} -U {small} {args.host} {args.port}"
              " (takes ~100 s on stock Postfix)")
        took, line = peer_run(exe, args.host, args.port, small, args.user)
        found_it = bool(re.search(r"\b25[02] ", line))
        print(f"   smtp-user-enum: {took:.2f} s, its line for {args.user}: {line!r}"
              f" ({'the reply shows the user exists' if found_it else 'user NOT found'};"
              f" it files 252 under [----], so a person must read the reply)")
        ratio = took / ours if ours else float("inf")
        print(f"   => smtpsh is {ratio:.0f}x faster (goal >= 50x: "
              f"{'met' if ratio >= 50 else 'MISSED'})")
        time.sleep(PAUSE)

    print(f"\n== 3. nmap smtp-enum-users on the 200 names, {target}")
    if shutil.which("nmap") is None:
        print("   nmap is not installed (apt-get install nmap); skipped")
    else:
        for label, took, result in nmap_runs(args.host, args.port, small):
            print(f"   {label}: {took:.2f} s → {result}")
    exim_row(args.skip_peers)
    return 0


if __name__ == "__main__":
    sys.exit(main())

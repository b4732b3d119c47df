#!/usr/bin/env python3
"""Benchmark `smtpsh probe -T` over the fake fleet (bench/fakefleet.py), beside nmap.

    python3 bench/bench_fleet.py                        # 1,000 servers, --concurrency 100
    python3 bench/bench_fleet.py --count 300 --concurrency 50 --no-nmap
    python3 bench/bench_fleet.py --probe-args=--no-relay # extra options for smtpsh probe
    python3 bench/bench_fleet.py --profile              # also: where smtpsh's CPU goes
    python3 bench/bench_fleet.py --runs 3 --no-nmap     # smtpsh 3 times: the median run, all rates

Starts the fleet (one process, 127.x.y.z addresses, loopback only), then in the same run:
  1. `smtpsh probe -T FILE --concurrency N --jsonl OUT`: hosts/second (goal >= 200) and the
     peak resident memory of its process tree, sampled from /proc (goal <= 150 MB); the
     JSONL checked against the fleet's plan (lines, planted findings found, none elsewhere).
  2. `nmap -sV --script smtp-commands` on the same addresses and port: its hosts/second,
     peak memory and how many hosts it reported EHLO keywords for.
  3. With --profile, smtpsh again under cProfile: the functions with the most own time.
Also printed: CPU seconds of each tool and of the fleet (the fleet must not be the
bottleneck) and the load average before and after (the machine may be shared). Before each
smtpsh run it waits (up to 65 s) for the TIME_WAIT sockets an earlier run left to clear.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fakefleet import Fleet, running_fleet

GOAL_RATE = 200.0  # hosts/second
GOAL_RSS_MB = 150.0
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Run:
    argv: list[str]
    seconds: float
    peak_rss_mb: float  # the peak of the sum of the tree's RSS (shared pages counted each time)
    cpu_seconds: float
    returncode: int
    stderr: str
    peak_pss_mb: float = 0.0  # the peak of the sum of the tree's PSS (shared pages once)
    processes: int = 1  # the most processes the tree had at once


def _tree(pid: int) -> list[int]:
    """``pid`` and every descendant (from /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo += [int(child) for child in handle.read().split()]
        except OSError:
            continue  # gone meanwhile
    return out


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def _pss(pids: list[int]) -> int:
    """The proportional set size of the processes together: a page shared by n of them
    (a forked worker shares its parent's interpreter and modules) counts 1/n in each, so
    the sum is the memory the tree really holds; the sum of their RSS counts it n times."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total


# PSS is read again when the tree's RSS has grown this much since the last reading, or this
# long after it: reading a process's smaps_rollup costs ~0.75 ms of the kernel walking its
# page tables (and holds its memory map's lock meanwhile), statm's RSS ~0.01 ms. Every 20 ms
# for three processes that was a tenth of one of this machine's two CPUs, taken from the
# run being measured.
PSS_AFTER_GROWTH = 2 * 2**20
PSS_AT_LEAST_EVERY = 0.25


def measure(argv: list[str], timeout: float = 1800) -> Run:
    """Run ``argv``; its wall time, the peak memory of its process tree (RSS summed every
    20 ms; PSS summed as it grows, see PSS_AFTER_GROWTH), how many processes it had and
    its CPU time (user + system, children included)."""
    peak = peak_pss = most = 0
    done = threading.Event()
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)

    def sample() -> None:
        nonlocal peak, peak_pss, most
        rss_then, when = -PSS_AFTER_GROWTH, 0.0  # the RSS at the last PSS reading, and when
        while not done.is_set():
            tree = _tree(proc.pid)
            most = max(most, len(tree))
            rss = _rss(tree)
            peak = max(peak, rss)
            now = time.monotonic()
            if rss >= rss_then + PSS_AFTER_GROWTH or now - when >= PSS_AT_LEAST_EVERY:
                peak_pss = max(peak_pss, _pss(tree))
                rss_then, when = rss, now
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr_chunks: list[str] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    reader.join(5)
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss (KiB) is the largest single process: a floor under the sampled tree peak.
    peak = max(peak, usage.ru_maxrss * 1024)
    return Run(argv, seconds, peak / 2**20, usage.ru_utime + usage.ru_stime, proc.returncode,
               "".join(stderr_chunks), max(peak_pss, usage.ru_maxrss * 1024 if most <= 1 else 0)
               / 2**20, max(most, 1))


def time_wait_sockets() -> int:
    """TCP sockets in TIME_WAIT on this machine (/proc/net/tcp and tcp6, state 06)."""
    count = 0
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as handle:
                next(handle, None)
                count += sum(1 for line in handle if line.split()[3:4] == ["06"])
        except OSError:
            continue
    return count


def settle(limit: int = 1000, most: float = 65.0) -> tuple[float, int]:
    """Wait (at most ``most`` s, TIME_WAIT lasts 60 s on Linux) until fewer than ``limit``
    sockets of earlier runs are in TIME_WAIT: each of smtpsh's 3,000 connections leaves
    one (the client closes first), and connect() then searches a crowded port range
    (32768-60999 here), so a run straight after another measured slower (about a tenth).
    (seconds waited, sockets there were)."""
    started, there = time.monotonic(), time_wait_sockets()
    while time_wait_sockets() >= limit and time.monotonic() - started < most:
        time.sleep(1)
    return time.monotonic() - started, there


def check_jsonl(path: Path, fleet: Fleet) -> tuple[int, list[str]]:
    """(lines, problems): each planted host's dangerous findings as the plan says, and no
    dangerous finding on the others."""
    hosts = fleet.by_target()
    problems: list[str] = []
    lines = path.read_text().splitlines() if path.exists() else []
    seen = set()
    for line in lines:
        doc = json.loads(line)
        target = doc.get("target")
        host = hosts.get(target)
        if host is None:
            problems.append(f"a line for {target!r}, not in the fleet")
            continue
        seen.add(target)
        result = doc.get("result") or {}
        got = {f["key"] for f in result.get("findings", []) if f.get("dangerous")}
        if got != host.expected:
            problems.append(f"{target} ({host.persona}, {' '.join(sorted(host.traits)) or '-'}):"
                            f" found {sorted(got)}, expected {sorted(host.expected)}")
    problems += [f"{t}: no line" for t in hosts if t not in seen]
    return len(lines), problems


def nmap_hosts_with_commands(xml: str) -> int:
    """How many hosts nmap's smtp-commands reported EHLO keywords for."""
    return len(re.findall(r'<script id="smtp-commands" output="', xml))


# The name each tool should give each persona's software (from behaviour or the banner).
FAMILY = {"postfix": "Postfix", "exim": "Exim", "opensmtpd": "OpenSMTPD",
          "exchange": "Microsoft Exchange", "sendmail": "Sendmail"}


def named_right(names: dict[str, str], fleet: Fleet) -> tuple[int, int]:
    """(hosts whose software was named as its persona, hosts that could be named)."""
    hosts = [h for h in fleet.hosts if "refuses" not in h.traits]
    right = sum(1 for h in hosts if names.get(h.address, "").startswith(FAMILY[h.persona]))
    return right, len(hosts)


def smtpsh_names(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        doc = json.loads(line)
        family = (doc.get("result") or {}).get("family")
        if family and doc.get("target"):
            out[doc["target"].rsplit(":", 1)[0]] = family
    return out


def nmap_names(xml: str) -> dict[str, str]:
    import xml.etree.ElementTree as ET

    out = {}
    for host in ET.fromstring(xml).iter("host"):
        address = host.find("address")
        service = host.find("ports/port/service")
        if address is not None and service is not None and service.get("product"):
            out[address.get("addr", "")] = service.get("product", "")
    return out


def compile_smtpsh() -> int:
    """Bring the bytecode of the smtpsh the runs import up to date, as `pip install .` does,
    and say how many modules that took. A checkout's edited modules are otherwise compiled
    again at every start when PYTHONDONTWRITEBYTECODE is set (as in some shells and CI):
    ~80 ms of a 4 s run, a cost no installed smtpsh pays."""
    import compileall
    import io

    # The smtpsh the runs import (they start as this one does, from the same directory).
    where = subprocess.run(
        [sys.executable, "-c", "import os, smtpsh; print(os.path.dirname(smtpsh.__file__))"],
        capture_output=True, text=True, check=False).stdout.strip()
    if not where:
        return 0
    folder = Path(where)

    def stamps() -> dict[Path, float]:
        return {path: path.stat().st_mtime for path in folder.rglob("*.pyc")}

    before = stamps()
    with contextlib.redirect_stdout(io.StringIO()):
        compileall.compile_dir(str(folder), quiet=2)  # writes only the out-of-date ones
    return sum(1 for path, when in stamps().items() if before.get(path) != when)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--probe-args", default="",
                        help="more options for smtpsh probe, space-separated")
    parser.add_argument("--no-nmap", action="store_true")
    parser.add_argument("--runs", type=int, default=1,
                        help="run smtpsh this many times on the same fleet (each checked); the"
                             " figures are the median run's, every run's rate listed")
    parser.add_argument("--profile", action="store_true",
                        help="run smtpsh once more under cProfile and list the hot spots")
    args = parser.parse_args()
    if not args.no_nmap and shutil.which("nmap") is None:
        parser.error("nmap is not installed (scripts/setup-test-env installs it), or --no-nmap")
    compiled = compile_smtpsh()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    with running_fleet(args.count) as fleet:
        targets = work / "targets.txt"
        targets.write_text(fleet.targets_text())
        (work / "addresses.txt").write_text("".join(f"{h.address}\n" for h in fleet.hosts))
        def probe(out: Path) -> list[str]:
            return ["probe", "-T", str(targets), "--concurrency", str(args.concurrency),
                    "--jsonl", str(out), *args.probe_args.split()]

        runs = []  # (run, what the fleet served meanwhile, its JSONL, lines, problems)
        for index in range(max(args.runs, 1)):
            out = work / ("probe.jsonl" if index == 0 else f"probe{index + 1}.jsonl")
            smtpsh = [sys.executable, "-m", "smtpsh", *probe(out)]
            waited, there = settle()
            if waited >= 1:
                print(f"(waited {waited:.0f} s for {there} TIME_WAIT sockets of earlier runs"
                      " to clear)", flush=True)
            before = fleet.snapshot()
            run = measure(smtpsh)
            runs.append((run, served_between(before, fleet.snapshot()), out,
                         *check_jsonl(out, fleet)))
        rates = [args.count / run.seconds for run, *_ in runs]
        ours, served, jsonl, lines, problems = sorted(runs, key=lambda r: r[0].seconds)[
            len(runs) // 2]
        problems = [p for *_, run_problems in runs for p in run_problems]
        theirs = None
        if not args.no_nmap:
            xml = work / "nmap.xml"
            theirs = measure(["nmap", "-Pn", "-n", "-sV", "--script", "smtp-commands", "-p",
                              str(fleet.port), "-iL", str(work / "addresses.txt"),
                              "-oX", str(xml)])
            nmap_xml = xml.read_text() if xml.exists() else "<nmaprun/>"
            nmap_found = nmap_hosts_with_commands(nmap_xml)
            nmap_right = named_right(nmap_names(nmap_xml), fleet)
        profile_rows = ""
        if args.profile:
            stats_file = work / "probe.prof"
            profiled = [sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m", "smtpsh",
                        *probe(work / "profiled.jsonl")]
            measure(profiled)
            if stats_file.exists():
                profile_rows = _hot_spots(stats_file)
    load_after = os.getloadavg()
    count = args.count
    print(f"fake fleet: {count} servers on {fleet.network} port {fleet.port}"
          f" ({len(fleet.planted)} planted); files in {work}")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}"
          f" ({os.cpu_count()} CPUs)")
    print(f"smtpsh: {' '.join(ours.argv[1:])}")
    if compiled:
        print(f"  ({compiled} of smtpsh's modules compiled to bytecode first, as pip install"
              " does: their .pyc were out of date)")
    rate = count / ours.seconds
    print(f"  wall {ours.seconds:6.1f} s   {rate:6.1f} hosts/s (goal >= {GOAL_RATE:.0f}:"
          f" {'met' if rate >= GOAL_RATE else 'MISSED'})")
    if len(rates) > 1:
        print(f"  {len(rates)} runs: {', '.join(f'{r:.1f}' for r in rates)} hosts/s;"
              " the figures here are the median run's")
    memory = ours.peak_pss_mb if ours.processes > 1 else ours.peak_rss_mb
    print(f"  peak memory {memory:6.1f} MB (goal <= {GOAL_RSS_MB:.0f}:"
          f" {'met' if memory <= GOAL_RSS_MB else 'MISSED'}; "
          + (f"PSS of its {ours.processes} processes; their RSS summed, a shared page"
             f" counted in each, {ours.peak_rss_mb:.1f} MB)" if ours.processes > 1 else "RSS)")
          + f"   CPU {ours.cpu_seconds:.1f} s   exit {ours.returncode}")
    print(f"  {ours.processes} process{'es' if ours.processes > 1 else ''}"
          f" ({'a parent and its forked workers: --processes' if ours.processes > 1 else 'one'}),"
          f" each a {_smtpsh_loop(args.probe_args)} event loop")
    print(f"  JSONL: {lines} lines; {'findings as planted' if not problems else 'PROBLEMS:'}")
    right, nameable = named_right(smtpsh_names(jsonl), fleet)
    print(f"  MTA named right (family from behaviour): {right} of {nameable} hosts")
    for problem in problems[:15]:
        print(f"    {problem}")
    if len(problems) > 15:
        print(f"    … and {len(problems) - 15} more")
    if ours.returncode not in (0, 1) or "Traceback" in ours.stderr:
        print("  stderr (last lines):\n    " + "\n    ".join(ours.stderr.splitlines()[-8:]))
    if theirs is not None:
        their_rate = count / theirs.seconds
        print(f"nmap: {' '.join(theirs.argv[:8])} -iL ADDRESSES")
        print(f"  wall {theirs.seconds:6.1f} s   {their_rate:6.1f} hosts/s"
              f"   peak RSS {theirs.peak_rss_mb:6.1f} MB   CPU {theirs.cpu_seconds:.1f} s"
              f"   EHLO keywords reported for {nmap_found} hosts")
        print(f"  MTA named right (-sV product): {nmap_right[0]} of {nmap_right[1]} hosts")
        print(f"  smtpsh/nmap wall time: {ours.seconds / theirs.seconds:.2f}x (smtpsh also runs"
              " STARTTLS, VRFY/EXPN, relay tests; nmap reads the banner, EHLO and HELP)")
    print(f"fleet ({fleet.loop} event loop) during smtpsh's run:"
          f" {served['connections'] / count:.2f} connections,"
          f" {served['commands'] / count:.1f} commands, {served['tls'] / count:.2f} TLS"
          f" handshakes a host; CPU {served['cpu_seconds']:.2f} s"
          f" ({1000 * served['cpu_seconds'] / count:.2f} ms a host; smtpsh"
          f" {1000 * ours.cpu_seconds / count:.2f} ms a host)")
    print(f"fleet (everything it served in this bench): {json.dumps(fleet.counters)}")
    if profile_rows:
        print("smtpsh under cProfile (own time, top 15):")
        print(profile_rows)
    return 0 if not problems and ours.returncode in (0, 1) else 1


def _smtpsh_loop(probe_args: str) -> str:
    """The event loop smtpsh's --event-loop (auto unless given) picks in this interpreter."""
    import importlib.util

    given = re.search(r"--event-loop[= ](\w+)", probe_args)
    choice = given.group(1) if given else "auto"
    if choice == "auto":
        return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return choice


def served_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What the fleet served, and the CPU it spent, between two snapshots."""
    keys = ("connections", "commands", "tls", "errors_421", "paused_replies", "cpu_seconds")
    return {key: after[key] - before[key] for key in keys}


def _hot_spots(stats_file: Path) -> str:
    stats = pstats.Stats(str(stats_file))
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:15]  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]
    out = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in rows:
        where = f"{Path(filename).name}:{line}({name})" if line else name
        out.append(f"  {tottime:6.2f} s {100 * tottime / total:5.1f}%  {calls:>9} calls"
                   f"  cum {cumtime:6.2f} s  {where}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())

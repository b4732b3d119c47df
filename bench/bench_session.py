#!/usr/bin/env python3
"""Issue 2 speed goals, measured side by side in one run (loopback only).

1. Time from `smtpsh HOST` to the first prompt with the banner printed (goal <= 0.25 s),
   in a real pty; also against a loopback server that greets 150 ms late (--slow-banner),
   as a distant one does: the connect runs while the shell's modules load.
2. A piped one-shot dialogue (EHLO, MAIL, RCPT, QUIT) against Postfix: smtpsh vs
   `swaks --quit-after RCPT` on the same server (goal: smtpsh <= 1.0x swaks), with a
   twelve-line raw-socket Python client beside them as the floor of any Python tool.

What is timed is smtpsh as a user installs it: by default this script makes (once) a
virtual environment in $TMPDIR/smtpsh-bench-venv and `pip install`s this checkout into it
(reinstalled each run, so the figures are of the code in front of you). `--smtpsh CMD`
times another command instead, e.g. `--smtpsh smtpsh` for the one on PATH; `--dev` adds
`python -m smtpsh` with the interpreter running this script (an editable install pays for
compiling changed sources when PYTHONDONTWRITEBYTECODE is set, and for every .pth file in
its site-packages). Each row also shows its interpreter's bare start-up for scale.

Usage: python3 bench/bench_session.py [--host 127.0.0.1] [--port 25] [--runs 20]
Prints medians and the ratios; exits 0 (it measures, it does not judge).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import socket
import tempfile
import threading
import time
from pathlib import Path

import pexpect

REPO = Path(__file__).resolve().parent.parent
SCRIPT = "EHLO bench.smtpsh.test\nMAIL FROM:<bench@smtpsh.test>\nRCPT TO:<robin@smtpsh.test>\nQUIT\n"

# The least a Python client can do for the same dialogue: connect, read each reply, print.
RAW_CLIENT = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline()
        sys.stdout.write(line.decode())
        if line[3:4] != b"-":
            return
reply()
for cmd in sys.stdin:
    s.sendall(cmd.rstrip("\\n").encode() + b"\\r\\n")
    reply()
"""


def slow_banner_server(delay: float) -> int:
    """A loopback server that greets ``delay`` seconds after the connect, as a distant or
    busy server does (postscreen, a long round trip); answers 250 and 221. Its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            time.sleep(delay)
            conn.sendall(b"220 slow.bench.test ESMTP\r\n")
            for line in conn.makefile("rb"):
                quit_ = line.upper().startswith(b"QUIT")
                conn.sendall(b"221 2.0.0 bye\r\n" if quit_ else b"250 2.0.0 ok\r\n")
                if quit_:
                    return

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return int(listener.getsockname()[1])


def env() -> dict[str, str]:
    home = tempfile.mkdtemp(prefix="smtpsh-bench-")
    return {**os.environ, "HOME": home, "XDG_STATE_HOME": home, "PROMPT_TOOLKIT_NO_CPR": "1"}


def installed_smtpsh(venv: Path) -> list[str]:
    """`pip install` this checkout into ``venv`` (made if missing); its smtpsh command."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"making {venv} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(REPO)], check=True)
    else:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(REPO)],
            check=True,
        )
    return [str(venv / "bin" / "smtpsh")]


def interpreter_of(command: list[str]) -> str:
    """The Python that runs ``command`` (its shebang), for the bare start-up row."""
    if Path(command[0]).name.startswith("python"):
        return command[0]
    first = Path(shutil.which(command[0]) or command[0]).read_text(errors="replace").splitlines()[0]
    return first.removeprefix("#!").split()[0]


def time_to_prompt(command: list[str], host: str, port: int) -> float:
    started = time.perf_counter()
    child = pexpect.spawn(command[0], [*command[1:], f"{host}:{port}"], env=env(),
                          encoding="utf-8", timeout=10)
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
    print(f"  {name:<44} median {median * 1000:7.1f} ms   min {min(samples) * 1000:7.1f} ms")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--smtpsh", help="the command to time (default: a fresh install in a venv)")
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "smtpsh-bench-venv")
    parser.add_argument("--dev", action="store_true", help="also time `python -m smtpsh` (this interpreter)")
    parser.add_argument("--slow-banner", type=float, default=150.0,
                        help="also time the prompt against a server that greets this many ms late (0: no)")
    args = parser.parse_args()
    runs = max(3, args.runs)

    candidates = {"smtpsh": args.smtpsh.split() if args.smtpsh else installed_smtpsh(args.venv)}
    if args.dev:
        candidates["python -m smtpsh (dev)"] = [sys.executable, "-m", "smtpsh"]
    for name, command in candidates.items():
        print(f"{name}: {' '.join(command)}")

    print(f"\n1. start-up to the first prompt ({runs} runs, pty)")
    for name, command in candidates.items():
        python = interpreter_of(command)
        bare = report(f"{Path(python).name} -c pass ({name})", [timed([python, "-c", "pass"]) for _ in range(runs)])
        prompt = report(f"{name} HOST → banner + prompt",
                        [time_to_prompt(command, args.host, args.port) for _ in range(runs)])
        verdict = "met" if prompt <= 0.25 else "NOT met"
        print(f"  goal ≤ 250 ms: {verdict} ({prompt * 1000:.0f} ms; bare interpreter {bare * 1000:.0f} ms)")
        if args.slow_banner > 0:
            port = slow_banner_server(args.slow_banner / 1000)
            report(f"{name}, banner {args.slow_banner:g} ms late",
                   [time_to_prompt(command, "127.0.0.1", port) for _ in range(runs)])

    print(f"\n2. piped EHLO/MAIL/RCPT/QUIT against {args.host}:{args.port} ({runs} runs each, interleaved)")
    swaks = shutil.which("swaks")
    rows: dict[str, list[str]] = {
        name: [*command, f"{args.host}:{args.port}"] for name, command in candidates.items()
    }
    rows["raw socket (python, 12 lines)"] = [interpreter_of(candidates["smtpsh"]), "-c", RAW_CLIENT,
                                             args.host, str(args.port)]
    if swaks:
        rows["swaks --quit-after RCPT"] = [
            swaks, "--server", args.host, "--port", str(args.port), "--quit-after", "RCPT",
            "--from", "bench@smtpsh.test", "--to", "robin@smtpsh.test", "--helo", "bench.smtpsh.test",
        ]
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(runs):
        for name, cmd in rows.items():
            samples[name].append(timed(cmd, SCRIPT))
    medians = {name: report(name, values) for name, values in samples.items()}
    if medians["raw socket (python, 12 lines)"] > 0.25:
        print("  ! the server itself is slow (the raw client takes over 250 ms): these figures measure"
              " it, not the clients; a Postfix in that state recovers with `postfix reload`")
    if swaks:
        other = medians["swaks --quit-after RCPT"]
        for name in candidates:
            ratio = medians[name] / other
            print(f"  ratio {name}/swaks = {ratio:.2f}x  goal ≤ 1.0x: {'met' if ratio <= 1.0 else 'NOT met'}")
    else:
        print("  swaks not installed (apt-get install swaks) — no comparison")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

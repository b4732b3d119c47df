#!/usr/bin/env python3
"""Send a 100 MB message to the loopback Postfix: smtpsh's /send against a raw-socket sender.

    python3 bench/bench_bigmessage.py [--size-mb 100] [--runs 3] [--lf]

What it measures, in the same run, alternating the two senders:
  * raw: a plain socket sending the file's bytes as they are (the file is already in wire
    form: CRLF, no line starting with '.'), no SIZE, no checks — the upper bound;
  * smtpsh: `python -m smtpsh HOST:PORT` in piped mode, `/send FILE --yes`, with
    everything it does to send safely (the read-ahead for SIZE= and the line checks,
    CRLF normalisation, dot-stuffing).
Each is timed from the moment MAIL (for smtpsh: the /send line) is given to the moment
the 250 after the message is read. smtpsh's peak RSS comes from wait4() on its process.
Goals (issue 4): smtpsh throughput >= 0.8x raw, peak RSS <= 80 MB.

Postfix: the `bigmsg` listener (scripts/postfix-setup) has no size limit in smtpd and in
its own cleanup service, and relays from loopback to the discard transport, so the 100 MB
never lands in a mailbox. cleanup(8) enforces message_size_limit too: with only
`smtpd -o message_size_limit=0`, Postfix 3.7 advertises SIZE without a limit and accepts
MAIL ... SIZE=20000002, then answers the end of the data with "552 5.3.4 Error: message
file too big" (tried here); hence `-o cleanup_service_name=bigcleanup` and a bigcleanup
service with `-o message_size_limit=0`. main.cf is not touched. If the listener is
missing, the bench runs scripts/postfix-setup (idempotent; needs root) and says so.
--lf gives smtpsh the same message with LF line ends (it converts; the raw sender gets
the CRLF copy).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACTS = Path("/var/lib/smtpsh-test/postfix.json")
PROFILE = "bigmsg"
SENDER = "bench@smtpsh.test"
RECIPIENT = "bench@discard.smtpsh.invalid"  # relayed to the discard transport
TIMEOUT = 300.0


def bigmsg_address() -> tuple[str, int]:
    facts = json.loads(FACTS.read_text()) if FACTS.exists() else {}
    if PROFILE not in facts.get("ports", {}):
        if os.geteuid() != 0:
            sys.exit(f"no '{PROFILE}' Postfix listener: run scripts/postfix-setup as root")
        print(f"bench: the '{PROFILE}' listener is missing; running scripts/postfix-setup")
        subprocess.run([str(ROOT / "scripts" / "postfix-setup")], check=True)
        facts = json.loads(FACTS.read_text())
    return facts["host"], int(facts["ports"][PROFILE])


def make_message(path: Path, size_mb: int) -> int:
    """A message of about size_mb MB in wire form: headers and a base64 body (76-octet
    lines, CRLF), no line starting with '.'."""
    block = base64.encodebytes(os.urandom(57 * 16384)).replace(b"\n", b"\r\n")
    with path.open("wb") as out:
        for header in (f"From: {SENDER}", f"To: {RECIPIENT}", "Subject: bench 100 MB",
                       "MIME-Version: 1.0", "Content-Type: application/octet-stream",
                       "Content-Transfer-Encoding: base64", ""):
            out.write(header.encode() + b"\r\n")
        while out.tell() < size_mb * 1_000_000:
            out.write(block)
    return path.stat().st_size


# --- raw sender --------------------------------------------------------------------------


def _reply(sock_file: object) -> bytes:
    lines = []
    while True:
        line = sock_file.readline()  # type: ignore[attr-defined]
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            return b"".join(lines)


def raw_send(host: str, port: int, path: Path) -> float:
    """Seconds from MAIL to the 250 after the message, sending the file as it is."""
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        reader = sock.makefile("rb")
        _reply(reader)
        sock.sendall(b"EHLO raw.smtpsh.test\r\n")
        _reply(reader)
        started = time.perf_counter()
        for line in (f"MAIL FROM:<{SENDER}>", f"RCPT TO:<{RECIPIENT}>", "DATA"):
            sock.sendall(line.encode() + b"\r\n")
            reply = _reply(reader)
            if not reply.startswith((b"250", b"354")):
                sys.exit(f"raw sender: {line} -> {reply!r}")
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                sock.sendall(chunk)
        sock.sendall(b".\r\n")
        reply = _reply(reader)
        elapsed = time.perf_counter() - started
        if not reply.startswith(b"250"):
            sys.exit(f"raw sender: end of data -> {reply!r}")
        sock.sendall(b"QUIT\r\n")
        return elapsed


# --- smtpsh ------------------------------------------------------------------------------


class Output:
    """smtpsh's standard output, read as it comes, each line stamped with its arrival."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.buf = b""
        self.lines: list[tuple[float, str]] = []

    def wait_for(self, needle: str) -> float:
        """The time the first line (not yet seen) holding ``needle`` arrived."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i, (stamp, line) in enumerate(self.lines):
                if needle in line:
                    del self.lines[: i + 1]
                    self.last = line
                    return stamp
            self.lines.clear()
            ready, _, _ = select.select([self.fd], [], [], max(deadline - time.monotonic(), 0))
            data = os.read(self.fd, 65536) if ready else b""
            if not data:
                sys.exit(f"smtpsh: no {needle!r} in its output")
            now = time.perf_counter()
            self.buf += data
            *done, self.buf = self.buf.split(b"\n")
            self.lines += [(now, line.decode("utf-8", "replace")) for line in done]


def smtpsh_send(host: str, port: int, path: Path) -> tuple[float, float, int, str]:
    """(seconds from the /send line to the 250 after the message, of which reading ahead
    until MAIL was sent; peak RSS in KiB; smtpsh's own closing line)."""
    command = [sys.executable, "-m", "smtpsh", f"{host}:{port}", "--no-annotate",
               "--helo", "bench.smtpsh.test", "--color", "never"]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd=ROOT)
    assert proc.stdin is not None
    out = Output(proc)
    proc.stdin.write(b"EHLO bench.smtpsh.test\n")
    proc.stdin.flush()
    out.wait_for("250 CHUNKING")
    started = time.perf_counter()
    proc.stdin.write(f"/send {path} --from {SENDER} --to {RECIPIENT} --yes\n".encode())
    proc.stdin.flush()
    mail_sent = out.wait_for("C: MAIL FROM:")  # echoed as it leaves: the read-ahead is over
    done = out.wait_for("S: 250 2.0.0 Ok: queued")
    said = (out.wait_for("message accepted"), out.last)[1]
    proc.stdin.write(b"QUIT\n")
    proc.stdin.close()
    assert proc.stdout is not None
    proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return done - started, mail_sent - started, usage.ru_maxrss, said


def settle() -> None:
    """Let Postfix drop the last 100 MB queue file before the next run is timed."""
    time.sleep(1.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lf", action="store_true", help="smtpsh gets an LF-only file")
    args = parser.parse_args()
    host, port = bigmsg_address()
    with tempfile.TemporaryDirectory(prefix="smtpsh-bench-") as tmp:
        wire = Path(tmp) / "big-crlf.eml"
        size = make_message(wire, args.size_mb)
        given = wire
        if args.lf:
            given = Path(tmp) / "big-lf.eml"  # the same message with LF line ends
            with wire.open("rb") as src, given.open("wb") as out:
                out.writelines(line.removesuffix(b"\r\n") + b"\n" for line in src)
        print(f"message: {size:,} octets ({'LF' if args.lf else 'CRLF'} file for smtpsh);"
              f" Postfix {host}:{port} ({PROFILE})")
        raw_times, sh_times, ahead_times, rss = [], [], [], []
        for run in range(1, args.runs + 1):
            settle()
            raw = raw_send(host, port, wire)
            settle()
            took, ahead, peak, said = smtpsh_send(host, port, given)
            raw_times.append(raw)
            sh_times.append(took)
            ahead_times.append(ahead)
            rss.append(peak)
            print(f"run {run}: raw {raw:.3f} s · smtpsh {took:.3f} s = read-ahead {ahead:.3f}"
                  f" + MAIL..250 {took - ahead:.3f} · peak RSS {peak / 1024:.1f} MB")
            print(f"        smtpsh said: {said.strip()}")
    raw_med = statistics.median(raw_times)
    sh_med = statistics.median(sh_times)
    xfer_med = statistics.median(t - a for t, a in zip(sh_times, ahead_times, strict=True))
    ahead_med = statistics.median(ahead_times)
    mb = size / 1e6
    print(f"median MAIL..250:  raw {mb / raw_med:.0f} MB/s, smtpsh {mb / xfer_med:.0f} MB/s"
          f" -> transfer throughput smtpsh/raw = {raw_med / xfer_med:.2f} (goal >= 0.80)")
    print(f"median end to end: smtpsh {mb / sh_med:.0f} MB/s including {ahead_med:.2f} s of"
          f" read-ahead for SIZE= -> smtpsh/raw = {raw_med / sh_med:.2f}")
    print(f"smtpsh peak RSS: max {max(rss) / 1024:.1f} MB (goal <= 80 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

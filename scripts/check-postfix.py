#!/usr/bin/env python3
"""Check that every listener named in postfix.json answers with a 220 banner.

Plain and STARTTLS profiles are read in clear; the implicit-TLS profile is read through a
TLS connection verified against the test CA. With --wait, the first listener is retried
until the deadline (Postfix takes a moment after `postfix start`). One line out; exit 1
with a one-line reason on the first listener that does not answer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_FACTS = Path("/var/lib/smtpsh-test/postfix.json")


def read_banner(host: str, port: int, tls_ctx: ssl.SSLContext | None, timeout: float) -> str:
    with socket.create_connection((host, port), timeout=timeout) as raw:
        sock: socket.socket = raw
        if tls_ctx is not None:
            sock = tls_ctx.wrap_socket(raw, server_hostname=host)
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = sock.recv(1024)
            if not chunk:
                break
            data += chunk
        with contextlib.suppress(OSError):  # the banner is what we came for
            sock.sendall(b"QUIT\r\n")
        return data.decode("ascii", "replace").strip()


def check(host: str, port: int, tls_ctx: ssl.SSLContext | None, banner: str) -> str | None:
    """Return None when the listener is healthy, else a reason."""
    try:
        line = read_banner(host, port, tls_ctx, timeout=5.0)
    except (OSError, ssl.SSLError) as exc:
        return f"{host} port {port}: {exc}"
    if not line.startswith("220 ") or banner not in line:
        return f"{host} port {port}: unexpected banner {line!r}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("facts", nargs="?", type=Path, default=DEFAULT_FACTS)
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait for Postfix")
    args = parser.parse_args(argv)
    try:
        facts: dict[str, Any] = json.loads(args.facts.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.facts}: {exc}")
        return 1
    ctx = ssl.create_default_context(cafile=facts["ca_file"])
    host: str = facts["host"]
    banner: str = facts["banner"]
    targets: list[tuple[str, str, int, ssl.SSLContext | None]] = []
    for name, prof in facts["profiles"].items():
        tls = ctx if prof["tls"] == "implicit" else None
        targets.append((name, host, int(prof["port"]), tls))
    if facts.get("host6"):
        targets.append(("smtp6", facts["host6"], int(facts["ports"]["smtp"]), None))

    deadline = time.monotonic() + args.wait
    first = targets[0]
    while (reason := check(*first[1:], banner)) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    if reason is None:
        for _name, h, port, tls in targets[1:]:
            if (reason := check(h, port, tls, banner)) is not None:
                break
    if reason is not None:
        print(f"listener check failed: {reason}")
        return 1
    print("listeners answer 220: " + " ".join(f"{n}={p}" for n, _h, p, _t in targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())

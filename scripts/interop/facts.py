#!/usr/bin/env python3
"""Write /var/lib/smtpsh-test/interop.json for scripts/setup-interop, or check it.

    facts.py                       write $FACTS_TMP from the environment setup-interop sets
    facts.py --check FILE --wait S every server in FILE greets with 220 within S seconds,
                                   and its STARTTLS completes, verified with the test CA

The table below is the one description of the interop servers the tests read: port,
names, the users a test config defines (what `enum` must find), TLS and AUTH as set up.
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import socket
import ssl
import sys
import time

# name: (port, product, host name, domain, TLS, AUTH inside TLS, catch-all, notes)
SERVERS: dict[str, dict[str, object]] = {
    "exim": {"port": 11001, "family": "Exim", "hostname": "mx.exim.test",
             "domain": "exim.test", "tls": "starttls", "auth": ["PLAIN", "LOGIN"],
             "aliases": ["postmaster", "abuse"]},
    "opensmtpd": {"port": 11002, "family": "OpenSMTPD", "hostname": "mx.opensmtpd.test",
                  "domain": "opensmtpd.test", "tls": "starttls", "auth": ["PLAIN", "LOGIN"],
                  "aliases": ["postmaster"]},
    "haraka": {"port": 11003, "family": "Haraka", "hostname": "mx.haraka.test",
               "domain": "haraka.test", "tls": "starttls", "auth": ["PLAIN", "LOGIN"],
               "catch_all": True, "aliases": []},
    "nodemailer": {"port": 11004, "family": "nodemailer smtp-server",
                   "hostname": "mx.node.test", "domain": "node.test", "tls": "starttls",
                   "auth": ["PLAIN", "LOGIN"], "aliases": []},
    "aiosmtpd": {"port": 11005, "family": "aiosmtpd", "hostname": "mx.aiosmtpd.test",
                 "domain": "aiosmtpd.test", "tls": "starttls", "auth": ["PLAIN", "LOGIN"],
                 "aliases": []},
    "aiosmtpd_tls": {"port": 11006, "family": "aiosmtpd", "hostname": "mx.aiosmtpd.test",
                     "domain": "aiosmtpd.test", "tls": "required",
                     "auth": ["PLAIN", "LOGIN"], "aliases": []},
    "postfix": {"port": 25, "family": "Postfix", "hostname": "mx.smtpsh.test",
                "domain": "smtpsh.test", "tls": "starttls", "auth": [],
                "aliases": ["postmaster"], "users_from": "postfix"},
    "postfix_plain": {"port": 11007, "family": "Postfix", "hostname": "mx.smtpsh.test",
                      "domain": "smtpsh.test", "tls": "starttls", "auth": [],
                      "aliases": ["postmaster"], "users_from": "postfix"},
}


def write() -> None:
    env = os.environ
    state, run = env["STATE_DIR"], env["RUN"]
    users = env["USERS"].split()
    postfix_users: list[str] = []
    try:
        with open(f"{state}/postfix.json", encoding="utf-8") as fh:
            postfix_users = list(json.load(fh)["users"])
    except (OSError, ValueError, KeyError):
        pass
    servers = {}
    for name, spec in SERVERS.items():
        entry = dict(spec)
        entry["users"] = postfix_users if entry.pop("users_from", None) else (
            [] if entry.get("catch_all") else users)
        entry.setdefault("catch_all", False)
        servers[name] = entry
    facts = {
        "schema": 1,
        "host": env["HOST"],
        "ca_file": f"{state}/ca.pem",
        "auth": {"user": env["AUTH_USER"], "password": env["AUTH_PASSWORD"]},
        "size_limit": int(env["SIZE"]),
        "versions": {"haraka": env["HARAKA_VERSION"],
                     "smtp-server": env["SMTP_SERVER_VERSION"]},
        "logs": {name: f"{run}/{name}.log"
                 for name in ("exim", "opensmtpd", "haraka", "nodemailer", "aiosmtpd")},
        "exim_log": f"{run}/exim/log/mainlog",
        "servers": servers,
    }
    with open(env["FACTS_TMP"], "w", encoding="utf-8") as fh:
        json.dump(facts, fh, indent=2)
        fh.write("\n")


def banner(host: str, port: int, timeout: float = 5.0) -> str:
    """The first line a server says (its greeting), then QUIT. The one copy: the interop
    tests read it from here (tests/interop/servers.py)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        data = b""
        while b"\n" not in data:
            chunk = sock.recv(1024)
            if not chunk:
                break
            data += chunk
        sock.sendall(b"QUIT\r\n")
    return data.decode("ascii", "replace").strip()


def starttls(host: str, port: int, ca_file: str, timeout: float = 30.0) -> str:
    """The TLS version after STARTTLS and a verified handshake, or an OSError /
    smtplib.SMTPException saying why not. Every interop server offers STARTTLS; OpenSMTPD's
    needs scripts/interop/opensmtpd-openssl3.c, and this is where its absence shows first."""
    context = ssl.create_default_context(cafile=ca_file)
    with smtplib.SMTP(host, port, local_hostname="setup.test", timeout=timeout) as client:
        client.starttls(context=context)
        version = client.sock.version() if isinstance(client.sock, ssl.SSLSocket) else None
        client.ehlo("setup.test")
    return version or "TLS"


def check(path: str, wait: float) -> int:
    with open(path, encoding="utf-8") as fh:
        facts = json.load(fh)
    deadline = time.monotonic() + wait
    bad = 0
    for name, server in facts["servers"].items():
        while True:
            try:
                text = banner(facts["host"], int(server["port"]))
                error = "" if text.startswith("220") else f"answered {text!r}"
            except OSError as exc:
                error = str(exc)
            if not error or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        tls = ""
        if not error:
            try:
                tls = starttls(facts["host"], int(server["port"]), facts["ca_file"])
            except (OSError, smtplib.SMTPException) as exc:
                error = f"greets, but STARTTLS fails: {type(exc).__name__}: {exc}"
        if error:
            print(f"{name} on {facts['host']}:{server['port']}: {error}")
            bad += 1
        else:
            print(f"{name} ok: {text[:70]} · STARTTLS {tls}")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", metavar="FILE")
    parser.add_argument("--wait", type=float, default=20.0)
    args = parser.parse_args()
    if args.check:
        return check(args.check, args.wait)
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main())

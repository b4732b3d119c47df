"""--delay over many targets: the pause between two connections to the same host, for every
connection a check opens (a TLS scan opens dozens), while other hosts go on at once; and
the way every connection goes (--socks5, --proxy-v1/-v2) kept with many targets.

Timings are lower bounds only (a loaded machine makes a run slower, never faster): each
fails if the connections to a host are not spaced."""

from __future__ import annotations

import itertools
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trustme

from smtpsh import exitcodes
from tests.audit.fakesmtp import Policy
from tests.fleet.fleetservers import fleet, free_block
from tests.fleet.test_fleet_cli import FAST, lines_of, smtpsh


def tls_policy(tmp_path: Path, addresses: list[str]) -> tuple[Policy, Path]:
    """A fake SMTP server that offers STARTTLS with a certificate for ``addresses``, and
    the CA file that trusts it."""
    ca = trustme.CA()
    cert = ca.issue_cert(*addresses)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Policy(banner="tls.smtpsh.test ESMTP", vrfy="off", expn=False, tls=context), ca_file


def gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [b - a for a, b in itertools.pairwise(ordered)]


def test_tls_spaces_every_connection_of_a_scan_to_one_host(tmp_path: Path) -> None:
    delay = 0.25
    out = tmp_path / "tls.jsonl"
    block = free_block()
    policy, ca_file = tls_policy(tmp_path, [f"{block}.1", f"{block}.2"])
    with fleet([policy, policy], block=block) as (_, port, servers, _):
        started = time.monotonic()
        proc = smtpsh("tls", f"{block}.1-2", "--port", str(port), "--cafile", str(ca_file),
                      "--delay", str(delay), "--jsonl", str(out), *FAST)
        took = time.monotonic() - started
        accepted = [list(server.accepted_at) for server in servers]
    assert "Traceback" not in proc.stderr, proc.stderr
    docs = lines_of(out)
    assert set(docs) == {f"{block}.{n}:{port}" for n in (1, 2)}, proc.stdout + proc.stderr
    for doc in docs.values():
        assert doc["result"] is not None, doc
        accepted_versions = [v["version"] for v in doc["result"]["versions"] if v["accepted"]]
        assert "TLSv1.2" in accepted_versions, doc
    for times in accepted:
        # A scan is a connection to reach the server, a few a version, and the certificate's
        assert len(times) >= 6, times
        spaced = gaps(times)
        # Without the spacing the versions' connections come at once (gaps of ms).
        assert statistics.median(spaced) >= 0.8 * delay, spaced
        assert took >= (len(times) - 1) * delay
    # Per host, not one queue for the run: the second host's scan starts before the
    # first's ends.
    first, second = accepted
    assert min(second) < max(first) and min(first) < max(second)


def test_probe_delay_spaces_its_connections_and_hosts_go_on_together(tmp_path: Path) -> None:
    delay = 0.3
    clean = Policy(banner="fake.smtpsh.test ESMTP", vrfy="off", expn=False,
                   help="see RFC 5321")
    with fleet([clean, clean]) as (block, port, servers, _):
        started = time.monotonic()
        proc = smtpsh("probe", f"{block}.1-2", "--port", str(port), "--delay", str(delay),
                      "--jsonl", str(tmp_path / "o.jsonl"), *FAST)
        took = time.monotonic() - started
        accepted = [list(server.accepted_at) for server in servers]
    assert proc.returncode in (exitcodes.OK, exitcodes.FOUND), proc.stdout + proc.stderr
    for times in accepted:
        assert len(times) >= 3, times  # the probe, its relay tests: several connections
        assert statistics.median(gaps(times)) >= 0.8 * delay, gaps(times)
        assert took >= (len(times) - 1) * delay
    first, second = accepted
    assert min(second) < max(first) and min(first) < max(second)


def test_many_targets_go_through_the_socks_proxy_given(tmp_path: Path) -> None:
    """--socks5 with many targets: every host is reached through the proxy, none directly
    (the servers are there; the proxy is not, so each host fails naming it)."""
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        proxy = f"127.0.0.1:{closed.getsockname()[1]}"  # nothing listens once closed
    clean = Policy(banner="fake.smtpsh.test ESMTP", vrfy="off", expn=False)
    with fleet([clean, clean]) as (block, port, servers, _):
        for extra in ([], ["--delay", "0.1"]):
            out = tmp_path / f"socks{len(extra)}.jsonl"
            proc = smtpsh("probe", f"{block}.1-2", "--port", str(port), "--no-relay",
                          "--socks5", proxy, "--jsonl", str(out), *extra, *FAST)
            assert proc.returncode == exitcodes.FAILED, proc.stdout + proc.stderr
            for doc in lines_of(out).values():
                assert doc["status"] == "failed", doc
                assert f"the SOCKS proxy: cannot connect to {proxy}" in doc["error"]["message"]
        assert [server.connections for server in servers] == [0, 0]


def test_one_host_is_spaced_the_same_way(tmp_path: Path) -> None:
    """--delay without many targets: `smtpsh probe HOST` and `smtpsh tls HOST` space their
    own connections as a run over many hosts does (a lower bound on every gap's median)."""
    delay = 0.25
    block = free_block()
    policy, ca_file = tls_policy(tmp_path, [f"{block}.1"])
    with fleet([policy], block=block) as (_, port, servers, _):
        target = f"{block}.1:{port}"
        proc = smtpsh("probe", target, "--delay", str(delay), "--json", *FAST)
        probe_times = list(servers[0].accepted_at)
        doc = json.loads(proc.stdout)
        assert doc["error"] is None, proc.stdout + proc.stderr
        servers[0].accepted_at.clear()
        proc = smtpsh("tls", target, "--cafile", str(ca_file), "--delay", str(delay), "--json",
                      *FAST)
        tls_times = list(servers[0].accepted_at)
        doc = json.loads(proc.stdout)
        assert doc["error"] is None, proc.stdout + proc.stderr
    for times in (probe_times, tls_times):
        assert len(times) >= 3, times
        assert statistics.median(gaps(times)) >= 0.8 * delay, gaps(times)
    assert len(tls_times) >= 6
    for command in ("probe", "tls", "relay"):
        for many in ([], ["127.0.0.2:9"]):  # one host, and a run over several
            for value in ("-1", "nan", "inf"):
                proc = smtpsh(command, "127.0.0.1:9", *many, f"--delay={value}")
                assert proc.returncode == exitcodes.USAGE, (command, value, proc.stderr)
                assert "--delay must be from 0 to 3600 seconds" in proc.stderr, (
                    command, value, proc.stderr)


@pytest.mark.parametrize("many", [False, True])
def test_ctrl_c_stops_a_spaced_tls_scan_at_once(tmp_path: Path, many: bool) -> None:
    """A scan spaced by --delay 1 takes a minute; Ctrl-C ends it in a moment, with one line
    (one host) or the run's summary and resume hint (many): the scan's threads open no
    more connections and the waits for a turn end (they held the exit for the whole scan,
    20 s and more, and one host's Ctrl-C printed a traceback)."""
    block = free_block()
    policy, ca_file = tls_policy(tmp_path, [f"{block}.1", f"{block}.2"])
    with fleet([policy, policy], block=block) as (_, port, servers, _):
        targets = [f"{block}.1:{port}"] + ([f"{block}.2:{port}"] if many else [])
        proc = subprocess.Popen(
            [sys.executable, "-m", "smtpsh", "tls", *targets, "--cafile", str(ca_file),
             "--delay", "1", *FAST], text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(servers[0].accepted_at) < 3:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - signalled
        after = len(servers[0].accepted_at)
        time.sleep(1.5)  # a thread still going would connect again by now
        assert len(servers[0].accepted_at) == after
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert took < 8, took
    if many:
        assert "smtpsh tls: interrupted: 0 of 2 hosts done" in stderr
    else:
        assert stderr.strip().endswith("smtpsh tls: interrupted: the scan was stopped"), stderr

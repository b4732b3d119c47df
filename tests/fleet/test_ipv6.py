"""Many targets over IPv6, end to end: fake SMTP servers on ::1, reached from a -T file
of [::1]:PORT lines and an IPv6 CIDR block, the JSON Lines keyed [::1]:PORT.

::1 must work here: under CI=true a machine where it cannot be bound fails these tests.
The one exception is a kernel built or booted without IPv6 (no /proc/net/if_inet6): no
set-up script can give it one, so the tests are skipped saying so."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.jsondoc import VALIDATOR

from smtpsh import exitcodes
from tests.fleet.fleetservers import PlacedServer
from tests.fleet.test_fleet_cli import (
    CLEAN,
    FAST,
    RELAY,
    VRFY,
    finding_keys,
    lines_of,
    smtpsh,
)


def _ipv6_problem() -> str | None:
    """Why ::1 cannot be used here (None: it can)."""
    if not socket.has_ipv6:
        return "this Python was built without IPv6"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
            probe.listen()
            with socket.create_connection(probe.getsockname()[:2], timeout=5):
                pass
    except OSError as exc:
        return f"cannot listen on and connect to [::1]: {exc.strerror or exc}"
    return None


def _kernel_has_ipv6() -> bool:
    return os.path.exists("/proc/net/if_inet6") or not os.path.exists("/proc/net")


@pytest.fixture(scope="module")
def ipv6() -> None:
    problem = _ipv6_problem()
    if problem is None:
        return
    in_ci = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
    if not _kernel_has_ipv6():
        pytest.skip(f"IPv6 end-to-end tests not run: the kernel has no IPv6 ({problem})")
    if in_ci:
        pytest.fail(f"IPv6 on loopback is needed (CI=true): {problem}; enable it"
                    " (sysctl net.ipv6.conf.lo.disable_ipv6=0)")
    pytest.skip(f"IPv6 on loopback unavailable here: {problem}")


@pytest.fixture
def v6_servers(ipv6: None) -> Iterator[list[PlacedServer]]:
    """Three fake servers on ::1, each on a port of its own: VRFY, an open relay, clean."""
    servers = [PlacedServer("::1", 0, policy) for policy in (VRFY, RELAY, CLEAN)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_probe_over_ipv6_targets_from_a_file(v6_servers: list[PlacedServer],
                                             tmp_path: Path) -> None:
    vrfy, relay, clean = (server.port for server in v6_servers)
    hosts = tmp_path / "hosts.txt"
    hosts.write_text(
        f"[::1]:{vrfy}        # VRFY tells users apart\n"
        f"[::1/128]:{relay}   # a CIDR block of one address, the open relay\n"
        "\n"
        f"[0:0:0:0:0:0:0:1]:{vrfy}\n"  # the same host written long: checked once
        "[::1/129]:25\n"  # not a block: one line says so, the rest runs
    )
    out = tmp_path / "v6.jsonl"
    proc = smtpsh("probe", "-T", str(hosts), f"[::1]:{clean}", "--jsonl", str(out), *FAST)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == exitcodes.FOUND, proc.stdout + proc.stderr
    assert f"{hosts}:5: '::1/129' is not a CIDR block" in proc.stderr
    docs = lines_of(out)
    assert set(docs) == {f"[::1]:{port}" for port in (vrfy, relay, clean)}
    first, second, third = (docs[f"[::1]:{port}"] for port in (vrfy, relay, clean))
    assert {"vrfy", "expn"} <= finding_keys(first) and "open_relay" not in finding_keys(first)
    assert "open_relay" in finding_keys(second) and "vrfy" not in finding_keys(second)
    assert not {"vrfy", "expn", "open_relay"} & finding_keys(third), third
    assert third["result"]["banner"] == ["220 fake.smtpsh.test ESMTP"]
    for doc in docs.values():
        assert doc["command"] == "probe" and doc["result"]["target"] == doc["target"]
    assert [server.connections > 0 for server in v6_servers] == [True, True, True]


def test_a_v6_block_on_the_command_line_with_port_and_json(v6_servers: list[PlacedServer]
                                                           ) -> None:
    relay = v6_servers[1].port
    proc = smtpsh("relay", "::1/128", "--port", str(relay), "--json", *FAST)
    assert proc.returncode == exitcodes.FOUND, proc.stdout + proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["target"] for d in docs] == [f"[::1]:{relay}"]
    VALIDATOR.validate(docs[0])
    assert docs[0]["result"]["verdict"] == "open"

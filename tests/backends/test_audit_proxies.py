"""probe, enum and relay through the same transports as the shell: --socks5 through the real
microsocks, --proxy-v1/-v2 to the Postfix listener that reads the PROXY header (the address
it logs is the one sent). Every connection of a command goes the same way, the probe's TLS
scan included."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from smtpsh.audit import tlsscan
from smtpsh.net.base import ClientOptions, Connector
from tests.backends.conftest import CA_FILE, Backends, log_mark, smtpsh, wait_for_log

pytestmark = pytest.mark.postfix


def envelope(args: list[str], timeout: float = 120) -> dict[str, object]:
    result = smtpsh([*args, "--json"], timeout=timeout)
    assert result.stdout, result.stderr
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_probe_through_socks5_with_its_tls_scan(
    backends: Backends, socks_args: list[str], matrix_row: Callable[..., None]
) -> None:
    matrix_row("probe --socks5 (+ --tls-scan)", "microsocks")
    doc = envelope(["probe", backends.target("sasl_tls"), "--no-relay", "--tls-scan",
                    "--cafile", CA_FILE, *socks_args])  # fmt: skip
    assert doc["error"] is None, doc
    result = doc["result"]
    assert isinstance(result, dict)
    assert result["banner"] == ["220 mx.smtpsh.test ESMTP InFreight v2.11"]
    assert result["auth"]["after_tls"] == ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1",
                                           "SCRAM-SHA-256"]  # fmt: skip
    scan = result["tls_scan"]
    assert isinstance(scan, dict), scan  # a string would say why there is no scan
    accepted = [v["version"] for v in scan["versions"] if v["accepted"]]
    assert "TLSv1.3" in accepted and "TLSv1.2" in accepted


def test_every_command_refuses_to_go_round_a_refusing_proxy(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy is on the path: a wrong SOCKS password stops each command at once."""
    monkeypatch.setenv("SMTPSH_SOCKS_PW", "wrong")
    proxy = f"{backends.socks['user']}@{backends.host}:{backends.ports['socks']}"
    socks = ["--socks5", proxy, "--socks5-password-env", "SMTPSH_SOCKS_PW"]
    refused = f"SOCKS proxy {backends.host}:{backends.ports['socks']} refused the user 'socksuser'"
    for command in (["probe", "127.0.0.1:25", "--no-relay"], ["enum", "127.0.0.1", "-u", "root"],
                    ["relay", "127.0.0.1:25"]):  # fmt: skip
        result = smtpsh([*command, *socks], timeout=60)
        assert result.returncode == 4, (command, result.stdout, result.stderr)
        assert refused in result.stdout + result.stderr, (command, result.stderr)


def test_enum_through_socks5(
    backends: Backends, socks_args: list[str], matrix_row: Callable[..., None]
) -> None:
    matrix_row("enum --socks5", "microsocks")
    doc = envelope(["enum", "127.0.0.1", "-u", "root", "-u", "zzq-no-such-user", "-m", "vrfy",
                    *socks_args])  # fmt: skip
    assert doc["error"] is None, doc
    assert doc["status"] == "found"
    result = doc["result"]
    assert isinstance(result, dict)
    assert "root" in json.dumps(result["found"]) and "zzq-no-such-user" not in json.dumps(
        result["found"]
    )


def test_relay_through_socks5_names_the_unknown_address(
    backends: Backends, socks_args: list[str], matrix_row: Callable[..., None]
) -> None:
    matrix_row("relay --socks5", "microsocks")
    # "localhost": a name the proxy resolves; the server's address is then unknown here,
    # and the [IP] tests must not use the proxy's address instead.
    result = smtpsh(["relay", "localhost:25", *socks_args], timeout=120)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "not an open relay" in out
    assert (
        "· through the SOCKS proxy the server's IP address is not known here (the proxy"
        " resolved localhost): the [IP] tests use [localhost]; give --ip ADDR for them" in out
    )
    doc = envelope(["relay", "127.0.0.1:25", *socks_args])
    assert doc["status"] == "ok" and doc["error"] is None, doc


@pytest.mark.parametrize(("command", "version"), [("probe", 2), ("enum", 1), ("relay", 2)])
def test_proxy_header_from_each_command_reaches_postfix(
    backends: Backends, command: str, version: int, matrix_row: Callable[..., None]
) -> None:
    matrix_row(f"{command} --proxy-v{version} address in the log", "Postfix")
    source = {"probe": "198.51.100.31", "enum": "198.51.100.32", "relay": "198.51.100.33"}[
        command
    ]
    args = {
        "probe": ["probe", backends.target("proxy"), "--no-relay"],
        "enum": ["enum", backends.target("proxy"), "-u", "root", "-m", "vrfy"],
        "relay": ["relay", backends.target("proxy")],
    }[command]
    mark = log_mark()
    doc = envelope([*args, f"--proxy-v{version}", f"{source}:40000"])
    assert doc["error"] is None, doc
    line = wait_for_log(f"connect from unknown[{source}]", mark)
    assert "postfix/smtpd" in line


def test_proxy_and_socks_usage_errors_are_one_line() -> None:
    for command in (["probe"], ["enum", "-u", "root"], ["relay"]):
        result = smtpsh([*command, "127.0.0.1", "--proxy-v1", "nohost:1"], timeout=30)
        assert result.returncode == 2, result.stderr
        assert "--proxy-v1 'nohost:1': the source must be an IP address and a port" in (
            result.stdout + result.stderr
        )
        result = smtpsh([*command, "127.0.0.1", "--socks5-password-env", "HOME"], timeout=30)
        assert result.returncode == 2
        assert "--socks5-password-file/-env without --socks5" in result.stdout + result.stderr


def test_the_tls_scan_connects_through_the_given_connector() -> None:
    """Each of the scan's connections comes from Target.connector (a proxy), none direct."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    calls: list[int] = []

    class Counting(Connector):
        def __call__(self, opts: ClientOptions) -> socket.socket:
            calls.append(opts.port)
            return socket.create_connection(server.getsockname(), timeout=5)

        def describe(self, opts: ClientOptions) -> str:
            return "counting"

    # Port 9 (discard) is closed: a direct connection would fail; the connector's succeeds
    # and the silent listener makes the handshake go nowhere (no answer: no verdict).
    target = tlsscan.Target("127.0.0.1", 9, starttls=False, timeout=0.5, connector=Counting())
    try:
        result = tlsscan.scan(target, ("TLSv1.2",))
    finally:
        server.close()
    assert calls and set(calls) == {9}, "the scan did not use the connector"
    # A listener that never answers did not refuse TLS 1.2: "could not tell", no grade.
    assert result.grade == "?" and result.versions[0].unknown is not None


def test_many_targets_go_through_socks5_and_the_proxy_header(
    backends: Backends, socks_args: list[str], tmp_path: Path
) -> None:
    """A run over several targets takes the same way as one: through microsocks (each host
    reached), and with a PROXY v2 header that the Postfix listener logs, after --delay."""
    out = tmp_path / "socks.jsonl"
    result = smtpsh(["relay", "127.0.0.1:25", "localhost:25", "--jsonl", str(out), *socks_args],
                    timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(d["target"] for d in docs) == ["127.0.0.1:25", "localhost:25"]
    assert all(d["status"] == "ok" and d["result"]["verdict"] == "closed" for d in docs), docs
    mark = log_mark()
    proxied = backends.target("proxy")
    result = smtpsh(["probe", proxied, f"localhost:{backends.ports['proxy']}", "--no-relay",
                     "--proxy-v2", "198.51.100.41:40000", "--delay", "0.2",
                     "--jsonl", str(tmp_path / "proxy.jsonl")], timeout=180)
    assert "Traceback" not in result.stderr, result.stderr
    docs = [json.loads(line) for line in (tmp_path / "proxy.jsonl").read_text().splitlines()]
    assert len(docs) == 2 and all(d["error"] is None for d in docs), docs
    wait_for_log("connect from unknown[198.51.100.41]", mark)

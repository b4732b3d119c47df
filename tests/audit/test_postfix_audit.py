"""probe, enum and relay against the real loopback Postfix (stock error limits, VRFY on,
banner 'mx.smtpsh.test ESMTP InFreight v2.11'; port 10025 relays for anyone)."""

from __future__ import annotations

import json
import pwd
import random
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import PostfixEnv

pytestmark = pytest.mark.postfix


def smtpsh(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smtpsh", *args], capture_output=True,
                          text=True, timeout=timeout, env={"PATH": "/usr/bin:/bin",
                                                           "NO_COLOR": "1"})


def existing_names() -> set[str]:
    names = {entry.pw_name for entry in pwd.getpwall()}
    try:
        for line in Path("/etc/aliases").read_text().splitlines():
            if ":" in line and not line.startswith("#"):
                names.add(line.split(":", 1)[0].strip())
    except OSError:
        pass
    return names


def make_wordlist(path: Path, count: int, real: list[str]) -> list[str]:
    """``count`` names: random ones that exist nowhere on this machine, plus ``real``."""
    taken = existing_names()
    rng = random.Random(1000)
    names: set[str] = set()
    while len(names) < count - len(real):
        name = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))
        if name not in taken:
            names.add(name)
    out = sorted(names)
    for i, user in enumerate(real):
        out.insert((i + 1) * count // (len(real) + 1), user)
    path.write_text("\n".join(out) + "\n")
    return out


# --- enum --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["vrfy", "rcpt", "auto"])
def test_enum_1000_names_finds_exactly_the_real_users(
    postfix: PostfixEnv, tmp_path: Path, method: str
) -> None:
    listing = tmp_path / "names.txt"
    make_wordlist(listing, 1000, list(postfix.users))
    mark = postfix.log_mark()
    started = time.monotonic()
    proc = smtpsh("enum", f"{postfix.host}:{postfix.port('smtp')}", "-U", str(listing),
                  "-m", method)
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr  # found
    found = sorted(line.split("  ", 1)[0] for line in proc.stdout.splitlines())
    assert found == sorted(postfix.users)
    if method in ("vrfy", "auto"):  # Postfix: 252 for an existing user
        assert "robin  252 2.0.0 robin" in proc.stdout.splitlines()
    else:
        assert "robin  250 2.1.5 Ok" in proc.stdout.splitlines()
    assert "1000 of 1000 names checked" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Tarpit-aware: Postfix never had to sleep for us, let alone cut us off.
    assert not any("too many errors" in line for line in postfix.log_since(mark))
    assert took < 15  # the bench holds the 3 s goal; CI machines vary


def test_enum_expn_on_postfix_says_it_is_not_supported(postfix: PostfixEnv) -> None:
    proc = smtpsh("enum", f"{postfix.host}:{postfix.port('smtp')}", "-u", "robin",
                  "-m", "expn")
    assert proc.returncode == 3  # undetermined: the method tells nothing here
    assert proc.stderr.strip().splitlines() == [
        "smtpsh enum: EXPN not supported: 500 5.5.2 Error: command not recognized"
    ]


def test_enum_auto_falls_back_to_rcpt_when_vrfy_is_off(postfix: PostfixEnv) -> None:
    proc = smtpsh("enum", f"{postfix.host}:{postfix.port('no_vrfy')}", "-u", "robin",
                  "-u", "nosuchuserhere")
    assert proc.returncode == 1, proc.stderr  # found
    assert proc.stdout.splitlines() == ["robin  250 2.1.5 Ok"]
    assert "RCPT" in proc.stderr and "chosen by --method auto" in proc.stderr


def test_enum_none_found_exits_0(postfix: PostfixEnv) -> None:
    proc = smtpsh("enum", f"{postfix.host}:{postfix.port('smtp')}", "-u", "nosuchuserhere",
                  "-m", "vrfy")
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert "found 0: none" in proc.stderr


# --- relay -------------------------------------------------------------------------------


def test_relay_port_25_is_not_an_open_relay(postfix: PostfixEnv) -> None:
    # -v: each test's whole dialogue (the default is one line a test).
    proc = smtpsh("relay", f"{postfix.host}:{postfix.port('smtp')}", "-v")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "not an open relay (0/16 tests relayed, 16 refused)" in out
    for n in range(1, 17):
        assert f"[{n:>2}/16]" in out
    assert out.count("C: RSET") == 16
    assert "C: MAIL FROM:<>" in out  # test 1: the null sender
    assert "C: RCPT TO:<@[127.0.0.1]:relaytest@example.com>" in out  # source route
    assert "C: RCPT TO:<example.com!relaytest>" in out  # bang path
    assert "Relay access denied" in out and "↳ 454" in out  # annotated replies
    assert "C: DATA" not in out


def test_relay_compact_output_is_one_line_a_test_verdict_first(postfix: PostfixEnv) -> None:
    proc = smtpsh("relay", f"{postfix.host}:{postfix.port('smtp')}")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "/16]" in line]
    assert len(lines) == 16
    # Stock Postfix defers relaying (454 4.7.1 Relay access denied): a refusal all the same.
    assert all(line.startswith("refused ") and "454 4.7.1" in line for line in lines), lines
    assert "C: " not in proc.stdout


def test_relay_open_relay_profile_is_reported(postfix: PostfixEnv) -> None:
    proc = smtpsh("relay", f"{postfix.host}:{postfix.port('open_relay')}", "--json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)["result"]
    assert data["open_relay"] is True
    relayed = [r for r in data["results"] if r["outcome"] == "relayed"]
    assert data["relayed"] == len(relayed) >= 1
    assert data["summary"] == f"open relay ({len(relayed)}/16 tests)"
    assert {r["test"] for r in relayed} >= {1, 2}  # plain outside recipients relay
    for result in data["results"]:
        assert [d["command"].split()[0] for d in result["dialogue"]][:1] == ["RSET"]


def test_an_open_relay_seen_from_the_server_s_own_host_says_so(postfix: PostfixEnv) -> None:
    # A stock Postfix relays for 127.0.0.1 (mynetworks_style = host): `smtpsh relay
    # localhost` on the server itself said "open relay" with nothing to tell the user that
    # the same tests from outside may all be refused. The verdict stays what was seen; the
    # caveat says where it was seen from.
    proc = smtpsh("relay", f"{postfix.host}:{postfix.port('open_relay')}", "--json")
    assert proc.returncode == 1, proc.stderr
    caveat = json.loads(proc.stdout)["result"]["caveat"]
    assert caveat.startswith("caveat: an accepted RCPT is not a delivered message;"), caveat
    assert f"the tests came from the server's own host (loopback: {postfix.host})" in caveat
    assert "only the same tests from outside that network tell an open relay" in caveat
    text = smtpsh("relay", f"{postfix.host}:{postfix.port('open_relay')}").stdout
    assert "Postfix's mynetworks" in text, text
    # A refused run has no caveat, from loopback or not.
    closed = smtpsh("relay", f"{postfix.host}:{postfix.port('smtp')}", "--json")
    assert json.loads(closed.stdout)["result"]["caveat"] is None


def test_near_address_is_loopback_or_private() -> None:
    from smtpsh.audit.relay import near_address

    assert near_address("127.0.0.1") and near_address("::1") and near_address("10.1.2.3")
    assert near_address("192.168.0.25") and near_address("fd00::5")
    assert not near_address("8.8.8.8") and not near_address("2001:4860::8888")
    assert not near_address("mx.example.com")


# --- probe -------------------------------------------------------------------------------


def test_probe_port_25(postfix: PostfixEnv) -> None:
    proc = smtpsh("probe", f"{postfix.host}:{postfix.port('smtp')}")
    assert proc.returncode == 1, proc.stderr  # something dangerous
    out = proc.stdout
    assert f"220 {postfix.banner}" in out
    assert "InFreight 2.11 (from the banner)" in out
    assert "✗ VRFY enabled (user enumeration)" in out
    assert "✗ banner leaks software and version" in out
    assert "not an open relay (0/16 tests relayed, 16 refused)" in out
    assert "open relay:" not in out.split("dangerous settings found")[1]
    assert "PIPELINING" in out and "(RFC 2920)" in out  # capabilities explained


def test_probe_shows_where_the_family_evidence_is_cut(postfix: PostfixEnv) -> None:
    # The EHLO keywords shown as evidence were cut at 70 characters with nothing to show
    # it: "... 8BITMIME DSN SM — Postfix's EHLO keyword order", SM read as a keyword.
    proc = smtpsh("probe", f"{postfix.host}:{postfix.port('smtp')}", "--no-relay")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("  keywords: "))
    shown = line.removeprefix("  keywords: ").split(" — ", 1)[0]
    assert shown.endswith("…") and len(shown) == 70, line
    assert shown[:-1] in "PIPELINING SIZE VRFY ETRN STARTTLS ENHANCEDSTATUSCODES 8BITMIME DSN" \
        " SMTPUTF8 CHUNKING", line


def test_probe_json_and_open_relay(postfix: PostfixEnv) -> None:
    proc = smtpsh("probe", f"{postfix.host}:{postfix.port('open_relay')}", "--json",
                  "--cafile", str(postfix.ca_file))
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)["result"]
    keys = {f["key"] for f in data["findings"] if f["dangerous"]}
    assert {"open_relay", "vrfy", "banner_version"} <= keys
    assert data["relay"]["open_relay"] is True
    assert data["tls"]["works"] is True and data["tls"]["verified"] is True
    assert data["vrfy"]["state"] == "reveals"
    assert data["software"] == [{"name": "InFreight", "version": "2.11", "source": "banner"}]


def test_probe_no_vrfy_and_tls_required(postfix: PostfixEnv) -> None:
    proc = smtpsh("probe", f"{postfix.host}:{postfix.port('submission')}", "--json",
                  "--no-relay", "--cafile", str(postfix.ca_file))
    data = json.loads(proc.stdout)["result"]
    assert data["tls"]["required"] is True
    assert "starttls_not_required" not in {f["key"] for f in data["findings"]}
    proc = smtpsh("probe", f"{postfix.host}:{postfix.port('no_vrfy')}", "--json",
                  "--no-relay")
    data = json.loads(proc.stdout)["result"]
    assert data["vrfy"]["state"] == "unsupported"
    assert "vrfy" not in {f["key"] for f in data["findings"]}


def test_probe_in_the_shell(postfix: PostfixEnv) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", f"{postfix.host}:{postfix.port('smtp')}"],
        input="EHLO me\n/probe --no-relay\nQUIT\n", capture_output=True, text=True,
        timeout=60, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": "/tmp"},
    )
    assert "probe of 127.0.0.1:25" in proc.stdout
    assert "✗ VRFY enabled (user enumeration)" in proc.stdout
    assert "C: QUIT" in proc.stdout  # the shell's own session went on afterwards

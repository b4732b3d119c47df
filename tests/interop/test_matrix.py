"""The interop matrix: every feature against every real server of scripts/setup-interop.

A cell passes when smtpsh did the thing and said the right thing; when the feature cannot
apply to a server (it does not offer it), the cell checks that smtpsh says so plainly and
records why. Printed at the end (conftest.py). Every server's STARTTLS works with the test
CA (OpenSMTPD's thanks to scripts/interop/opensmtpd-openssl3.c): a failed handshake fails
the cells that need TLS, never makes them n/a.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.run import smtpsh_env
from tests.interop.conftest import server_fixture
from tests.interop.servers import FACTS_FILE, SERVER_NAMES, Server

FIVE_MB = 5 * 1024 * 1024
SECRET_ENV = "SMTPSH_INTEROP_SECRET"
TRACEBACK = "Traceback (most recent call last)"


@dataclass(frozen=True)
class Seen:
    said: str  # one line: what smtpsh said that decided the cell
    why: str = ""  # set when the feature cannot apply to this server


# --- running smtpsh ----------------------------------------------------------------------


def smtpsh(args: list[str], home: Path, stdin: str = "", timeout: float = 120,
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtpsh", *args], input=stdin, capture_output=True,
        text=True, timeout=timeout, env={**smtpsh_env(home)},
    )


def output(proc: subprocess.CompletedProcess[str]) -> str:
    text = proc.stdout + proc.stderr
    assert TRACEBACK not in text, text
    return text


def connect_args(server: Server, *, tls: bool = True) -> list[str]:
    """Connection options: STARTTLS, verified with the test CA (unless ``tls`` is off)."""
    args = ["--cafile", str(server.ca_file), "--no-annotate"]
    if tls:
        args.append("--starttls")
    return [*args, server.target]


def piped(server: Server, script: str, home: Path, *extra: str, tls: bool = True) -> str:
    proc = smtpsh([*extra, *connect_args(server, tls=tls)], home, script)
    text = output(proc)
    assert proc.returncode == 0, text
    return text


def s_lines(text: str) -> list[str]:
    return [line[3:] for line in text.splitlines() if line.startswith("S: ")]


def last_ehlo(text: str) -> list[str]:
    """The lines of the last multi-line 250 reply (the EHLO answer smtpsh works with)."""
    block: list[str] = []
    last: list[str] = []
    for line in s_lines(text):
        if line.startswith("250-"):
            block.append(line)
        elif line.startswith("250 ") and block:
            last, block = [*block, line], []
        else:
            block = []
    return last


def ehlo_keywords(server: Server, home: Path) -> set[str]:
    lines = last_ehlo(piped(server, "EHLO me\nQUIT\n", home))
    return {line[4:].split()[0].upper() for line in lines[1:] if len(line) > 4}


def first(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"no {pattern!r} in:\n{text}"
    return match.group(0)


def message_file(path: Path, server: Server, size: int) -> Path:
    """An RFC 5322 message of about ``size`` octets, 76-character lines."""
    line = b"x" * 76 + b"\n"
    head = (f"From: {server.address('alice')}\nTo: {server.address('bob')}\n"
            f"Subject: smtpsh interop {size}\nMessage-ID: <{path.stem}@smtpsh.test>\n\n").encode()
    path.write_bytes(head + line * max(1, size // len(line)))
    return path


def recipient(server: Server) -> str:
    return server.address(server.users[1] if len(server.users) > 1 else "bob")


# --- the features -------------------------------------------------------------------------


def dialogue(server: Server, home: Path) -> Seen:
    text = piped(server, "EHLO me\nNOOP\nQUIT\n", home)
    lines = s_lines(text)
    assert lines[0].startswith("220 "), text
    assert any(line.startswith("221") for line in lines), text
    bye = next(line for line in lines if line.startswith("221"))
    return Seen(f"{lines[0][:40]} … {bye[:30]}")


def multiline(server: Server, home: Path) -> Seen:
    text = piped(server, "EHLO me\nHELP\nQUIT\n", home)
    ehlo = last_ehlo(text)
    assert len(ehlo) >= 3, text
    return Seen(f"EHLO reply of {len(ehlo)} lines, every one shown")


def starttls(server: Server, home: Path) -> Seen:
    proc = smtpsh(["--cafile", str(server.ca_file), "--no-annotate", server.target], home,
                  "EHLO me\nSTARTTLS\nEHLO me\nQUIT\n")
    text = output(proc)
    assert proc.returncode == 0, text
    assert "✗ TLS handshake" not in text, text
    first(r"TLS established: TLSv1\.[23]", text)
    first(r"verified: yes", text)
    after = text.split("TLS established", 1)[1]
    second = [line for line in s_lines(after) if re.match(r"250[- ]", line)]
    assert second and not any("STARTTLS" in line for line in second), text
    return Seen(f"STARTTLS, verified certificate, EHLO again ({len(second)} lines, no STARTTLS)")


def auth(server: Server, home: Path) -> Seen:
    if not server.auth:
        text = piped(server, "EHLO me\nQUIT\n", home)
        assert not [line for line in s_lines(text) if line[4:].upper().startswith("AUTH")]
        return Seen("no AUTH in EHLO", "the server advertises no AUTH (no SASL on this listener)")
    said = []
    for mech in ("PLAIN", "LOGIN"):
        proc = smtpsh(["--user", server.auth_user, "--password-env", SECRET_ENV, "--auth", mech,
                       *connect_args(server)], home, "QUIT\n")
        text = output(proc)
        assert proc.returncode == 0, text
        said.append(first(r"^S: 235.*$", text)[3:])
        assert server.auth_password not in text
    return Seen(f"PLAIN and LOGIN: {said[0]}")


def send5mb(server: Server, home: Path) -> Seen:
    eml = message_file(home / "big.eml", server, FIVE_MB)
    text = piped(server, f"EHLO me\n/send {eml} --to {recipient(server)} --yes\nQUIT\n", home)
    return Seen(first(r"message accepted.*$", text)[:70])


def bdat(server: Server, home: Path) -> Seen:
    if "CHUNKING" not in ehlo_keywords(server, home):
        return Seen("no CHUNKING in EHLO", "the server does not offer CHUNKING (RFC 3030)")
    eml = message_file(home / "bdat.eml", server, 200_000)
    text = piped(server, f"EHLO me\n/send {eml} --to {recipient(server)} --bdat --chunk 65536"
                 " --yes\nQUIT\n", home)
    assert re.search(r"^C: BDAT \d+ LAST", text, re.MULTILINE), text
    return Seen(first(r"message accepted.*$", text)[:70])


def pipelining(server: Server, home: Path) -> Seen:
    if "PIPELINING" not in ehlo_keywords(server, home):
        return Seen("no PIPELINING in EHLO", "the server does not offer PIPELINING (RFC 2920)")
    eml = message_file(home / "pipe.eml", server, 2_000)
    rcpts = " ".join(f"--to {server.address(u)}" for u in server.users[:2] or ("bob",))
    text = piped(server, f"EHLO me\n/send {eml} {rcpts} --pipeline --yes\nQUIT\n", home)
    return Seen(first(r"message accepted.*$", text)[:70])


def record_replay(server: Server, home: Path) -> Seen:
    path = home / "session.smtpt"
    script = (f"EHLO me\nMAIL FROM:<{server.address('alice')}>\nRCPT TO:<{recipient(server)}>\n"
              "RSET\nNOOP\nQUIT\n")
    piped(server, script, home, "--record", str(path))
    assert path.stat().st_mode & 0o777 == 0o600
    proc = smtpsh(["replay", "--color", "never", "--cafile", str(server.ca_file), str(path)],
                  home)
    text = output(proc)
    assert proc.returncode == 0, text
    return Seen(first(r"^\d+ steps, \d+ matched, 0 differed$", text))


# The id in each server's own wording, checked against what smtpsh reported.
QUEUE_ID_IN_REPLY = {
    "postfix": r"queued as ([A-Z0-9]+)",
    "postfix_plain": r"queued as ([A-Z0-9]+)",
    "exim": r"OK id=([A-Za-z0-9-]+)",
    "opensmtpd": r"2\.0\.0 ([0-9a-f]{8,}) Message accepted for delivery",
    "haraka": r"Message Queued \(([0-9A-F-]+\.\d+)\)",
}


def queue_id(server: Server, home: Path) -> Seen:
    script = (f"EHLO me\nMAIL FROM:<{server.address('alice')}>\nRCPT TO:<{recipient(server)}>\n"
              "DATA\nSubject: queue id\n\nhello\n.\nQUIT\n")
    text = piped(server, script, home)
    data_end = [line for line in s_lines(text) if line.startswith("250")][-1]
    pattern = QUEUE_ID_IN_REPLY.get(server.name)
    if pattern is None:
        assert "message accepted, queue id" not in text, text
        return Seen(data_end, f"the server gives no queue id ({data_end!r}): smtpsh invents none")
    match = re.search(pattern, data_end)
    assert match, data_end
    said = first(r"message accepted, queue id \S+", text)
    assert said.endswith(match.group(1)), (said, data_end)
    return Seen(said)


# Absent names around the configured users: 40 names, so that Exim's
# smtp_accept_max_nonmail (10 a connection) is hit and must be worked around.
ABSENT = [f"nosuch{n:02d}" for n in range(37)]


def enum(server: Server, home: Path) -> Seen:
    users = list(server.users) or ["alice", "bob", "carol"]
    words = ABSENT[:5] + users[:1] + ABSENT[5:20] + users[1:2] + ABSENT[20:] + users[2:]
    wordlist = home / "words.txt"
    wordlist.write_text("\n".join(words) + "\n")
    proc = smtpsh(["enum", server.target, "-U", str(wordlist), "-w", "4", "--cafile",
                   str(server.ca_file)], home)
    text = output(proc)
    if server.catch_all:
        # Every local part is accepted and VRFY says 252 to all: nothing to enumerate, and
        # smtpsh must say so rather than report names.
        assert proc.returncode == 3, text  # undetermined
        assert "catch-all" in text and proc.stdout == "", text
        return Seen(first(r"rcpt: the server accepts any name at the domain \(catch-all\)",
                          text),
                    "a catch-all (Haraka's rcpt_to.in_host_list) and VRFY 252 for every name:"
                    " no method can tell users apart, and smtpsh says so (exit 3)")
    assert proc.returncode == 1, text  # found
    found = [line.split()[0] for line in proc.stdout.splitlines()]
    assert found == list(server.users), text  # exactly the users, in word-list order
    method = first(r"^· (VRFY|EXPN|RCPT): '[^']*'", text).split()[1].rstrip(":")
    asked = ("NAME@DOMAIN" if method == "RCPT" or "wants NAME@DOMAIN" in text
             else "bare names")
    limit = "; renewed at the server's command limit" if "at most" in text else ""
    return Seen(f"auto chose {method} ({asked}); found {', '.join(found)} of 40{limit}")


# The exact relay verdict on each server: (exit status, verdict, tests inconclusive).
RELAY = {"haraka": (3, "inconclusive", [6, 16])}


def relay(server: Server, home: Path) -> Seen:
    proc = smtpsh(["relay", server.target, "--json", "--cafile", str(server.ca_file)], home)
    text = output(proc)
    status, verdict, inconclusive = RELAY.get(server.name, (0, "closed", []))
    data = json.loads(proc.stdout)["result"]
    assert (proc.returncode, data["verdict"]) == (status, verdict), text
    assert data["relayed"] == 0 and len(data["results"]) == 16
    assert [r["test"] for r in data["results"] if r["outcome"] == "inconclusive"] \
        == inconclusive, text
    for result in data["results"]:
        if result["outcome"] == "inconclusive":
            assert "accepted too" in result["note"], result
    said = data["summary"]
    if server.tls == "required":
        assert data["starttls"] and "run again inside TLS" in data["notes"][0], text
        said += "; after 530 the tests ran again inside STARTTLS"
    swapped = [r for r in data["results"] if "sender_used" in r]
    if swapped:
        said += f"; {len(swapped)} tests retried with sender <{swapped[0]['sender_used']}>"
    return Seen(said)


def probe_json(server: Server, home: Path, *extra: str) -> dict[str, object]:
    proc = smtpsh(["probe", server.target, "--json", "--cafile", str(server.ca_file), *extra],
                  home)
    text = output(proc)
    assert proc.returncode in (0, 1), text
    data: dict[str, object] = json.loads(proc.stdout)["result"]
    assert data["fatal"] is None, text
    return data


# What probe must find (VRFY state, banner finding) beside a sane relay verdict.
PROBE_VRFY = {"exim": "reveals", "postfix": "reveals", "postfix_plain": "reveals",
              "opensmtpd": "unsupported"}
PROBE_AUTH_IN_CLEAR = {"haraka": "auth_in_clear", "nodemailer": "auth_refused_in_clear"}


def banner_leak(name: str) -> str | None:
    """What probe must report as the banner's software and version on each server."""
    facts = json.loads(FACTS_FILE.read_text(encoding="utf-8"))
    return {"postfix": "InFreight 2.11",  # the banner says 'ESMTP InFreight v2.11'
            "exim": "Exim 4.", "haraka": f"Haraka {facts['versions']['haraka']}",
            "aiosmtpd": "aiosmtpd 1.", "aiosmtpd_tls": "aiosmtpd 1."}.get(name)


def probe(server: Server, home: Path) -> Seen:
    data = probe_json(server, home)
    vrfy = data["vrfy"]
    assert isinstance(vrfy, dict)
    assert vrfy["state"] == PROBE_VRFY.get(server.name, "same-answer"), vrfy
    findings = {str(f["key"]): str(f["detail"]) for f in data["findings"]}  # type: ignore[attr-defined]
    assert "open_relay" not in findings
    # AUTH listed in clear: Haraka takes it (from loopback, a private address to it);
    # smtp-server lists it and answers 538 (a note). Optional STARTTLS off ports 25 and 587
    # is said with the port's role unknown, never counted as dangerous.
    auth_key = PROBE_AUTH_IN_CLEAR.get(server.name)
    dangerous = {str(f["key"]) for f in data["findings"] if f["dangerous"]}  # type: ignore[attr-defined]
    assert {"auth_in_clear", "auth_refused_in_clear"} & set(findings) == (
        {auth_key} if auth_key else set()), findings
    assert ("auth_in_clear" in dangerous) == (auth_key == "auth_in_clear"), dangerous
    assert "starttls_not_required" not in dangerous, dangerous
    leak = banner_leak(server.name)
    if leak:
        assert leak in findings["banner_version"], findings
    else:
        assert "banner_version" not in findings, findings
    relay_data = data["relay"]
    assert isinstance(relay_data, dict)
    # Its TLS part: the handshake, the certificate verified with the test CA, and the AUTH
    # mechanisms the server lists only inside TLS found there.
    tls, auth = data["tls"], data["auth"]
    assert isinstance(tls, dict) and isinstance(auth, dict)
    assert tls["works"] and tls["verified"] and tls["error"] is None, tls
    assert tls["version"] in ("TLSv1.2", "TLSv1.3"), tls
    assert set(server.auth) <= set(auth["after_tls"]), auth
    return Seen(f"VRFY {vrfy['state']}; relay {relay_data['verdict']}; {tls['version']};"
                f" AUTH after TLS {' '.join(auth['after_tls']) or 'none'};"
                f" findings: {', '.join(findings)}")


def family(server: Server, home: Path) -> Seen:
    data = probe_json(server, home, "--no-relay")
    guesses = data["fingerprint"]
    assert isinstance(guesses, list) and guesses, data
    assert data["family"] == server.family, guesses[:2]
    top = guesses[0]
    names = dict.fromkeys(str(s["name"]) for s in data["software"])  # type: ignore[attr-defined]
    software = ", ".join(names) or "nothing"
    return Seen(f"{top['family']} ({top['level']}, {top['confidence']}) from"
                f" {len(top['evidence'])} traits; the banner names {software}")


FEATURES: dict[str, Callable[[Server, Path], Seen]] = {
    "dialogue": dialogue,
    "multiline": multiline,
    "starttls": starttls,
    "auth": auth,
    "send5mb": send5mb,
    "bdat": bdat,
    "pipelining": pipelining,
    "record": record_replay,
    "queueid": queue_id,
    "probe": probe,
    "enum": enum,
    "relay": relay,
    "fingerprint": family,
}


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test login's password for --password-env (never on a command line)."""
    try:
        facts = json.loads(FACTS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    monkeypatch.setenv(SECRET_ENV, str(facts.get("auth", {}).get("password", "")))


@pytest.mark.parametrize("feature", list(FEATURES))
@pytest.mark.parametrize("name", SERVER_NAMES)
def test_interop(name: str, feature: str, tmp_path: Path,
                 record_property: Callable[[str, object], None]) -> None:
    server = server_fixture(name)
    seen = FEATURES[feature](server, tmp_path)
    record_property("said", seen.said)
    record_property("why", seen.why)

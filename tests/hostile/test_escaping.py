"""Every text output, fed terminal controls and spoofing characters through every field it
shows: none may reach the output raw, and each must be shown escaped (not dropped).

One hostile SMTP server (banner, EHLO, HELP, VRFY, EXPN, MAIL, RCPT, RSET, an NTLM
challenge, a certificate whose subject, issuer and names carry the payload) and one
hostile DNS server (TXT of SPF, DMARC, MTA-STS, TLS-RPT, DKIM; PTR) serve all front-ends:
`smtpsh HOST` piped and in a terminal, send, probe, enum, relay, tls, dns, replay, /info,
/cert and /mailbox; and the roads that are not a server's: words of the command line that
argparse echoes, config.toml's ignored keys, a -T list (its name, a duplicate target), the
recipients `smtpsh send` names as refused. The unsafe set is written out here again on
purpose, independently of smtpsh.output.safe, so that the test checks the definition
rather than repeating it.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import ipaddress
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.TXT
import dns.rrset
import pexpect
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.audit.ntlm_message import build_challenge
from tests.helpers.run import smtpsh_env
from tests.helpers.scripted_server import Handler, read_line, scripted_server, smtp_like

# The payload: C0 (NUL, BEL, BS, CR), CSI, OSC 52 (clipboard write), OSC 8 (hyperlink),
# DCS, C1 as U+009B, DEL, every bidi embedding/override/isolate, zero-width and other
# invisible characters. On the SMTP wire C1 also comes as one raw byte (not UTF-8).
PAYLOAD = (
    "\x1b[2J\x00\x07\x08\r"
    "\x1b]52;c;cHduZWQ=\x07"
    "\x1b]8;;http://evil.test/\x1b\\link\x1b]8;;\x1b\\"
    "\x1bP1$qm\x1b\\"
    "\x9b31m\x7f"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u200b\u200c\u200d\u200e\u200f\u2028\u2029\ufeff\u061c"
)
C1_BYTE = b"\x9b4m"  # C1 CSI as a single byte: invalid UTF-8, decoded with surrogateescape
WIRE = PAYLOAD.encode() + C1_BYTE

# How each piece must be shown (in this order on a line that carries the whole payload).
ESCAPED = [
    "\\x1b[2J", "\\x00", "\\x07", "\\x08", "\\x0d",
    "\\x1b]52;c;cHduZWQ=", "\\x1b]8;;http://evil.test/", "\\x1bP1$qm",
    "\\x9b31m", "\\x7f",
    "\\u202a", "\\u202b", "\\u202c", "\\u202d", "\\u202e",
    "\\u2066", "\\u2067", "\\u2068", "\\u2069",
    "\\u200b", "\\u200c", "\\u200d", "\\u200e", "\\u200f", "\\u2028", "\\u2029",
    "\\ufeff", "\\u061c",
]
ESCAPED_C1_BYTE = "\\x9b4m"

# Code points that must never reach the output raw (LF and TAB are our own layout).
UNSAFE = (
    {*range(0x00, 0x20)} - {0x0A, 0x09}
    | {0x7F, *range(0x80, 0xA0)}
    | {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}
    | {*range(0x200B, 0x2010), 0x2028, 0x2029, 0xFEFF, 0x061C}
    | {*range(0xD800, 0xE000)}  # a raw byte that was not UTF-8 (surrogateescape)
)
# What a colour printer itself writes: SGR codes, and prompt_toolkit's line-wrap mode
# (CSI ? 7 h/l); the payload's CSI ends in J, its others are not CSI.
OWN_SGR = re.compile(r"\x1b\[(?:[0-9;]*m|\?7[hl])")

USERS = ("postmaster", "robin")


def raw_unsafe(output: str, *, colour: bool = False) -> list[str]:
    if colour:  # prompt_toolkit also ends its lines with CRLF
        output = OWN_SGR.sub("", output).replace("\r\n", "\n")
    return sorted({f"U+{ord(ch):04X}" for ch in output if ord(ch) in UNSAFE})


def check(output: str, fields: list[str], *, colour: bool = False, c1_byte: bool = True) -> None:
    """No unsafe character raw; each field's line shows the whole payload escaped."""
    assert raw_unsafe(output, colour=colour) == [], output
    lines = output.splitlines()
    for field in fields:
        marker = f"[{field}]"
        shown = [line for line in lines if marker in line]
        assert shown, f"{marker} not shown in:\n{output}"
        line = shown[0][shown[0].index(marker):]
        position = 0
        for piece in ESCAPED + ([ESCAPED_C1_BYTE] if c1_byte else []):
            found = line.find(piece, position)
            assert found >= 0, f"{piece!r} not shown escaped in {marker}: {line!r}"
            position = found + len(piece)


def field(name: str) -> bytes:
    return f"[{name}]".encode() + WIRE


# --- the hostile servers -------------------------------------------------------------------


@dataclass(frozen=True)
class HostileCert:
    server: ssl.SSLContext


def _name(text: str) -> x509.Name:
    # Longer than the 64 characters X.520 suggests for a CN: a hostile CA does not care.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        common_name = x509.NameAttribute(NameOID.COMMON_NAME, text, _validate=False)
    return x509.Name([common_name,
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hostile")])


@pytest.fixture(scope="module")
def hostile_cert(tmp_path_factory: pytest.TempPathFactory) -> HostileCert:
    """A CA and a server certificate whose subject, issuer and names carry the payload."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("[issuer]" + PAYLOAD)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    # A DNS name is IA5 (ASCII): the payload's ASCII controls only.
    san = "[san]" + "".join(ch for ch in PAYLOAD if ord(ch) < 0x80) + ".hostile.test"
    cert = (x509.CertificateBuilder().subject_name(_name("[subject]" + PAYLOAD))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(san), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory = tmp_path_factory.mktemp("hostile-cert")
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                                         + ca.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return HostileCert(context)


NTLM_CHALLENGE = build_challenge(
    target_name="[ntlm-target]" + PAYLOAD,
    nb_domain="[ntlm-nb-domain]" + PAYLOAD,
    nb_computer="[ntlm-nb-computer]" + PAYLOAD,
    dns_domain="[ntlm-dns-domain]" + PAYLOAD,
    dns_computer="[ntlm-dns-computer]" + PAYLOAD,
    dns_tree="[ntlm-dns-tree]" + PAYLOAD,
)
NTLM_FIELDS = ["ntlm-target", "ntlm-nb-domain", "ntlm-nb-computer", "ntlm-dns-domain",
               "ntlm-dns-computer", "ntlm-dns-tree"]


def hostile_smtp(tls: ssl.SSLContext) -> Handler:
    """Every reply text carries the payload, marked with the field's name."""

    def handle(sock: socket.socket) -> None:
        peer: socket.socket = sock
        secure = False
        auth = ""
        peer.sendall(b"220 " + field("banner") + b"\r\n")
        while line := read_line(peer):
            text = line.decode("utf-8", "replace").strip()
            verb = text.split(" ", 1)[0].split(":", 1)[0].upper()
            arg = text.split(" ", 1)[1].strip() if " " in text else ""
            if auth == "negotiate":
                auth = "challenge"
                peer.sendall(b"334 " + base64.b64encode(NTLM_CHALLENGE) + b"\r\n")
                continue
            if auth:
                auth = ""
                peer.sendall(b"501 5.7.0 " + field("auth") + b"\r\n")
                continue
            if verb in ("EHLO", "HELO"):
                lines = [field("ehlo"), b"PIPELINING", b"AUTH NTLM LOGIN",
                         b"X-HOSTILE " + field("keyword"), b"8BITMIME"]
                if not secure:
                    lines.insert(1, b"STARTTLS")
                peer.sendall(b"".join(b"250" + (b" " if i == len(lines) - 1 else b"-") + t
                                      + b"\r\n" for i, t in enumerate(lines)))
            elif verb == "STARTTLS" and not secure:
                peer.sendall(b"220 2.0.0 go ahead\r\n")
                peer = tls.wrap_socket(peer, server_side=True)
                secure = True
            elif verb == "AUTH" and arg.upper() == "NTLM":
                auth = "negotiate"
                peer.sendall(b"334 \r\n")
            elif verb == "HELP":
                peer.sendall(b"214 " + field("help") + b"\r\n")
            elif verb in ("VRFY", "EXPN"):
                known = arg.split("@")[0] in USERS
                code = (b"252 " if verb == "VRFY" else b"250 ") if known else b"550 "
                peer.sendall(code + field(verb.lower()) + b"\r\n")
            elif verb == "MAIL":
                peer.sendall(b"250 2.1.0 " + field("mail") + b"\r\n")
            elif verb == "RCPT":
                peer.sendall(b"554 5.7.1 " + field("rcpt") + b"\r\n")
            elif verb in ("RSET", "NOOP"):
                peer.sendall(b"250 2.0.0 " + field(verb.lower()) + b"\r\n")
            elif verb == "QUIT":
                peer.sendall(b"221 2.0.0 " + field("quit") + b"\r\n")
                return
            else:
                peer.sendall(b"500 5.5.2 " + field("unknown") + b"\r\n")

    return handle


DOMAIN = "hostile.test"
MX_HOST = "mx.hostile.test"


def _txt(*records: bytes) -> list[dns.rdtypes.ANY.TXT.TXT]:
    return [dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT,
                                    [r[i:i + 255] for i in range(0, len(r), 255)])
            for r in records]


def dns_field(name: str) -> bytes:
    return field(name) + b"\n[fake-line]"  # a line break in a record must not start a line


ZONE: dict[tuple[str, str], list[str] | list[dns.rdtypes.ANY.TXT.TXT]] = {
    (DOMAIN, "MX"): [f"10 {MX_HOST}."],
    (MX_HOST, "A"): ["127.0.0.1"],
    (DOMAIN, "TXT"): _txt(b"v=spf1 -all exp=" + dns_field("spf")),
    (f"_dmarc.{DOMAIN}", "TXT"): _txt(b"v=DMARC1; p=reject; rua=mailto:" + dns_field("dmarc")),
    (f"_mta-sts.{DOMAIN}", "TXT"): _txt(b"v=STSv1; id=" + dns_field("mta-sts")),
    (f"_smtp._tls.{DOMAIN}", "TXT"): _txt(b"v=TLSRPTv1; rua=mailto:" + dns_field("tls-rpt")),
    (f"sel._domainkey.{DOMAIN}", "TXT"): _txt(b"v=DKIM1; k=rsa; n=" + dns_field("dkim")
                                              + b"; p=MFkwEwYHKoZIzj0CAQ"),
}
# The roads of a DMARC record with a second, malformed one beside it and a report address
# in another domain (RFC 7489 §7.1: its authorisation is looked up and the host named).
DOMAIN2 = "hostile2.test"
ZONE.update({
    (DOMAIN2, "MX"): [f"10 {MX_HOST}."],
    (f"_dmarc.{DOMAIN2}", "TXT"): _txt(
        b"v=DMARC1; p=reject; rua=mailto:d@rua." + dns_field("rua-host"),
        b"v=DMARC1 p=none " + dns_field("dmarc-malformed"),
    ),
    (f"default._bimi.{DOMAIN2}", "TXT"): _txt(b"v=BIMI1; l=" + dns_field("bimi")),
})  # fmt: skip
PTR_LABEL = b"[ptr]" + b"".join(bytes([b]) for b in PAYLOAD.encode("utf-8")[:40])


@pytest.fixture(scope="module")
def hostile_dns() -> Iterator[str]:
    """A UDP DNS server answering ZONE; anything else NXDOMAIN. Yields IP:PORT."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def answer(query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        if rdtype == "PTR" and name == "1.0.0.127.in-addr.arpa":
            target = dns.name.Name([PTR_LABEL, b"hostile", b"test", b""])
            response.answer.append(dns.rrset.from_rdata(
                question.name, 60,
                dns.rdtypes.ANY.PTR.PTR(dns.rdataclass.IN, dns.rdatatype.PTR, target)))
            return response
        data = ZONE.get((name, rdtype))
        if data is None:
            known = any(n == name for n, _ in ZONE)
            response.set_rcode(dns.rcode.NOERROR if known else dns.rcode.NXDOMAIN)
            return response
        if isinstance(data[0], str):
            rrset = dns.rrset.from_text_list(question.name, 60, "IN", rdtype, data)  # type: ignore[arg-type]
        else:
            rrset = dns.rrset.from_rdata_list(question.name, 60, data)  # type: ignore[arg-type]
        response.answer.append(rrset)
        return response

    def serve() -> None:
        while not stop.is_set():
            try:
                data, address = sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                sock.sendto(answer(dns.message.from_wire(data)).to_wire(), address)
            except Exception:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join(2)
    sock.close()


@pytest.fixture(scope="module")
def smtp_port(hostile_cert: HostileCert) -> Iterator[int]:
    with scripted_server(hostile_smtp(hostile_cert.server)) as port:
        yield port


def smtpsh(args: list[str], home: Path, script: str = "", timeout: float = 90) -> str:
    """stdout and stderr of `smtpsh ARGS`, bytes that are not UTF-8 kept (surrogateescape)."""
    proc = subprocess.run([sys.executable, "-m", "smtpsh", *args], input=script.encode(),
                          capture_output=True, timeout=timeout, env=smtpsh_env(home))
    out = (proc.stdout + proc.stderr).decode("utf-8", "surrogateescape")
    assert "Traceback" not in out, out
    return out


# --- the front-ends ----------------------------------------------------------------------

DIALOGUE = "EHLO me\n/send-verb HELP\nVRFY robin\nEXPN nobody\nMAIL FROM:<a@b.test>\n" \
           "RCPT TO:<c@d.test>\nRSET\nNOOP\nQUIT\n"
DIALOGUE_FIELDS = ["banner", "ehlo", "keyword", "help", "vrfy", "expn", "mail", "rcpt", "rset",
                   "noop", "quit"]


@pytest.mark.parametrize("colour", ["never", "always"])
def test_piped_dialogue(
    smtp_port: int, tmp_path: Path, hostile_row: Callable[[str, str], None], colour: str
) -> None:
    hostile_row("server: controls, bidi, zero-width in replies", "piped")
    out = smtpsh([f"127.0.0.1:{smtp_port}", "--color", colour], tmp_path, DIALOGUE)
    check(out, DIALOGUE_FIELDS, colour=colour == "always")


def test_interactive_shell(
    smtp_port: int, tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    """In a terminal (prompt_toolkit, colour on): the raw byte stream is searched for the
    hostile sequences themselves, since the shell draws with escape sequences of its own."""
    hostile_row("server: controls, bidi, zero-width in replies", "shell")
    seen = io.BytesIO()
    child = pexpect.spawn(sys.executable, ["-m", "smtpsh", f"127.0.0.1:{smtp_port}"],
                          env=smtpsh_env(tmp_path), dimensions=(50, 400), timeout=20)
    child.logfile_read = seen
    try:
        child.expect_exact("\u203a".encode())  # the prompt
        for line in DIALOGUE.splitlines():
            child.sendline(line)
            verb = line.removeprefix("/send-verb ").split()[0]  # `HELP` alone is local
            child.expect_exact(f"[{verb.split(':')[0].lower()}]".encode())
            child.expect_exact("\u203a".encode())
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    everything = seen.getvalue()
    invisible = (*range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0x200B, 0x2010),
                 0x2028, 0x2029, 0xFEFF, 0x061C)
    # (not BS: prompt_toolkit moves the cursor back with it)
    for sequence in (b"\x1b[2J", b"\x1b]52;", b"\x1b]8;;", b"\x1bP1$q", b"\x9b31m",
                     b"\x9b4m", b"\xc2\x9b", b"\x7f", b"\x00", b"\x07",
                     *(chr(c).encode() for c in invisible)):
        assert sequence not in everything, f"{sequence!r} reached the terminal raw"
    text = everything.decode("utf-8", "replace")
    for name in DIALOGUE_FIELDS:
        assert f"[{name}]\\x1b[2J" in text, f"[{name}] not shown escaped"
    for piece in [*ESCAPED, ESCAPED_C1_BYTE]:
        assert piece in text, f"{piece!r} not shown escaped"


def test_probe(smtp_port: int, tmp_path: Path, hostile_row: Callable[[str, str], None]) -> None:
    hostile_row("server: controls in NTLM fields, certificate names", "probe")
    out = smtpsh(["probe", f"127.0.0.1:{smtp_port}", "--no-relay", "--color", "always"],
                 tmp_path)
    check(out, ["banner", "ehlo", "keyword", "help", "vrfy", "expn"], colour=True)
    check(out, [*NTLM_FIELDS, "subject", "issuer"], colour=True, c1_byte=False)
    assert raw_unsafe(out, colour=True) == []
    assert "[san]\\x1b[2J" in out


def test_enum(smtp_port: int, tmp_path: Path, hostile_row: Callable[[str, str], None]) -> None:
    hostile_row("server: controls, bidi, zero-width in replies", "enum")
    out = smtpsh(["enum", f"127.0.0.1:{smtp_port}", "--method", "vrfy",
                  "-u", "robin", "-u", "nobody"], tmp_path)
    check(out, ["vrfy"])
    assert "robin  252" in out  # the found name, with the server's (escaped) answer


def test_relay(smtp_port: int, tmp_path: Path, hostile_row: Callable[[str, str], None]) -> None:
    hostile_row("server: controls, bidi, zero-width in replies", "relay")
    # One line a test shows the RCPT reply; -v shows every reply of the dialogue.
    out = smtpsh(["relay", f"127.0.0.1:{smtp_port}", "--color", "always"], tmp_path)
    check(out, ["rcpt"], colour=True)
    out = smtpsh(["relay", f"127.0.0.1:{smtp_port}", "--color", "always", "-v"], tmp_path)
    check(out, ["rcpt", "mail", "rset"], colour=True)


def test_dns(hostile_dns: str, tmp_path: Path, hostile_row: Callable[[str, str], None]) -> None:
    hostile_row("DNS: controls, bidi in TXT records", "dns")
    for colour in ("never", "always"):
        out = smtpsh(["dns", DOMAIN, "--dns-server", hostile_dns, "--dkim-selector", "sel",
                      "--color", colour], tmp_path)
        # (the DKIM record itself is not shown, only what was found in it)
        check(out, ["spf", "dmarc", "mta-sts", "tls-rpt"], colour=colour == "always")
        assert "\\x0a[fake-line]" in out
        assert not any(line.startswith("[fake-line]") for line in out.splitlines())


def test_dns_dmarc_roads(
    hostile_dns: str, tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("DNS: a malformed DMARC record, a report host, BIMI", "dns")
    for colour in ("never", "always"):
        out = smtpsh(["dns", DOMAIN2, "--dns-server", hostile_dns, "--color", colour], tmp_path)
        check(out, ["dmarc-malformed", "rua-host", "bimi"], colour=colour == "always")
        lines = out.splitlines()
        assert any("is malformed" in line and "[dmarc-malformed]" in line for line in lines)
        assert any("[rua-host]" in line and ("has not authorised" in line
                                             or "could not check" in line)
                   for line in lines), out  # fmt: skip
        assert not any(line.startswith("[fake-line]") for line in lines)


def test_replay(smtp_port: int, tmp_path: Path, hostile_row: Callable[[str, str], None]) -> None:
    """Both sides are from outside: a transcript made against a well-behaved server,
    replayed against the hostile one (the differences show what it said), and one
    recorded from the hostile server, replayed against a well-behaved one."""
    hostile_row("server: controls, bidi, zero-width in replies", "replay")
    good = tmp_path / "good.smtpt"
    hostile = tmp_path / "hostile.smtpt"
    replies = {b"EHLO": b"250 ok\r\n", b"VRFY": b"252 ok\r\n", b"QUIT": b"221 bye\r\n"}
    with scripted_server(smtp_like(replies, banner=b"220 good.test ESMTP\r\n")) as port:
        smtpsh([f"127.0.0.1:{port}", "--record", str(good)], tmp_path,
               "EHLO me\nVRFY robin\nQUIT\n")
        smtpsh([f"127.0.0.1:{smtp_port}", "--record", str(hostile)], tmp_path,
               "EHLO me\nVRFY robin\nQUIT\n")
        for flag in ("--strict", "-v"):
            out = smtpsh(["replay", "--color", "never", flag, str(good),
                          f"127.0.0.1:{smtp_port}"], tmp_path)
            check(out, ["banner", "ehlo", "vrfy", "quit"])
            out = smtpsh(["replay", "--color", "never", flag, str(hostile),
                          f"127.0.0.1:{port}"], tmp_path)
            # What was recorded shows where it differs: text (--strict), the code of QUIT.
            check(out, ["banner", "ehlo", "vrfy", "quit"] if flag == "--strict" else ["quit"])


def test_info_cert_mailbox_in_the_shell(
    smtp_port: int, hostile_dns: str, tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    """/info (PTR names, banner), /cert (subject, issuer, names) through the shell's
    dispatcher, piped; /mailbox of the sandbox with a hostile message."""
    hostile_row("server: controls in NTLM fields, certificate names", "piped")
    out = smtpsh([f"127.0.0.1:{smtp_port}", "--dns-server", hostile_dns, "--starttls",
                  "--no-verify"], tmp_path, "/info\n/cert\nQUIT\n")
    check(out, ["banner", "subject", "issuer"], c1_byte=False)
    assert "Reverse DNS for 127.0.0.1" in out and "[ptr]" in out
    assert "[san]\\x1b[2J" in out

    message = ("EHLO me\nMAIL FROM:<a@sandbox.test>\nRCPT TO:<alice@sandbox.test>\nDATA\n"
               f"Subject: [header]{PAYLOAD.replace(chr(0), '').replace(chr(13), '')}\n\n"
               "body\n.\n/mailbox\nQUIT\n")
    out = smtpsh(["--sandbox"], tmp_path, message)
    assert raw_unsafe(out) == [], out
    assert "[header]\\x1b[2J" in out and "\\u202e" in out


def test_pipe_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """--pipe: what the child writes to its stderr is relayed made safe."""
    from smtpsh.net.local import _relay_stderr

    _relay_stderr(io.BytesIO(field("pipe-stderr") + b"\n"), 42)
    err = capsys.readouterr().err
    check(err, ["pipe-stderr"])


def test_send(smtp_port: int, tmp_path: Path, hostile_row: Callable[[str, str], None]) -> None:
    """`smtpsh send`: the dialogue as a piped session shows it, and its end."""
    hostile_row("server: controls, bidi, zero-width in replies", "send")
    for colour in ("never", "always"):
        out = smtpsh(["send", f"127.0.0.1:{smtp_port}", "--from", "a@b.test", "--to",
                      "c@d.test", "--color", colour], tmp_path)
        check(out, ["banner", "ehlo", "keyword", "mail", "rcpt"], colour=colour == "always")


def test_tls(smtp_port: int, tmp_path: Path, hostile_row: Callable[[str, str], None]) -> None:
    """`smtpsh tls`: the certificate's subject and issuer under the suites it found."""
    hostile_row("server: controls in NTLM fields, certificate names", "tls")
    for colour in ("never", "always"):
        out = smtpsh(["tls", f"127.0.0.1:{smtp_port}", "--color", colour], tmp_path)
        assert "TLSv1.3" in out  # the scan did run
        check(out, ["subject", "issuer"], colour=colour == "always", c1_byte=False)


def test_report_markdown(
    smtp_port: int, tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    """`smtpsh report --markdown` prints on standard output the server's words, from the
    probe's JSON and from a transcript recorded from the hostile server."""
    hostile_row("server: controls, bidi, zero-width in replies", "report")
    probe = subprocess.run([sys.executable, "-m", "smtpsh", "probe", f"127.0.0.1:{smtp_port}",
                            "--no-relay", "--json"], capture_output=True, timeout=90,
                           env=smtpsh_env(tmp_path))
    (tmp_path / "probe.json").write_bytes(probe.stdout)
    transcript = tmp_path / "hostile.smtpt"
    smtpsh([f"127.0.0.1:{smtp_port}", "--record", str(transcript)], tmp_path, DIALOGUE)
    out = smtpsh(["report", str(tmp_path / "probe.json"), str(transcript), "--markdown"],
                 tmp_path)
    # Evidence and the recorded dialogue are fenced: the lines as shown elsewhere.
    check(out, ["banner", "ehlo", "keyword", "help", "vrfy", "expn", "mail", "rcpt", "quit"])
    check(out, ["subject", "issuer"], c1_byte=False)
    # Prose is Markdown-escaped as well ('[' and '\\' get a backslash): the NTLM names.
    for name in NTLM_FIELDS:
        assert f"\\[{name}\\]\\\\x1b\\[2J" in out, name
    # The probe's banner in the inputs table, escaped once (the JSON holds it escaped).
    assert "banner '220 \\[banner\\]\\\\x1b\\[2J" in out


# --- roads added later: argv echoes, config notes, many targets, send's refused line ------

# argv holds no NUL; a C1 byte comes as one raw byte (surrogateescape, like a reply's).
ARGV_WIRE = WIRE.replace(b"\x00", b"")
ESCAPED_NO_NUL = [piece for piece in ESCAPED if piece != "\\x00"]


def check_pieces(output: str, marker: str, pieces: list[str], *, colour: bool = False) -> None:
    """No unsafe character raw, and the line with ``marker`` shows ``pieces`` escaped, in
    order (check() with a payload that lacks some pieces)."""
    assert raw_unsafe(output, colour=colour) == [], output
    shown = [line for line in output.splitlines() if marker in line]
    assert shown, f"{marker} not shown in:\n{output}"
    line = shown[0][shown[0].index(marker):]
    position = 0
    for piece in pieces:
        found = line.find(piece, position)
        assert found >= 0, f"{piece!r} not shown escaped in {marker}: {line!r}"
        position = found + len(piece)


def smtpsh_bytes(args: list[bytes], home: Path, timeout: float = 60) -> str:
    proc = subprocess.run([sys.executable.encode(), b"-m", b"smtpsh", *args],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                          env=smtpsh_env(home))
    out = (proc.stdout + proc.stderr).decode("utf-8", "surrogateescape")
    assert "Traceback" not in out, out
    return out


@pytest.mark.parametrize("command", [[], [b"probe"], [b"sandbox"], [b"send"]])
def test_argv_echoed_by_the_parser(
    command: list[bytes], tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    """argparse quotes an unknown option as it was typed ('unrecognized arguments: ...'):
    it reached the terminal raw, ESC, C1 and bidi overrides included."""
    hostile_row("argv: controls, bidi in a word the parser echoes",
                command[0].decode() if command and command[0] != b"sandbox" else "piped")
    out = smtpsh_bytes([*command, b"127.0.0.1:9", b"--[argv]" + ARGV_WIRE], tmp_path)
    assert "unrecognized arguments" in out
    check_pieces(out, "[argv]", [*ESCAPED_NO_NUL, ESCAPED_C1_BYTE])


def test_config_notes(tmp_path: Path, hostile_row: Callable[[str, str], None]) -> None:
    """config.toml's keys that are ignored (unknown, a secret, an unknown table) are named
    in one line each on standard error, the rest of the file used: names from the file."""
    hostile_row("config: controls, bidi in key and table names", "files")
    toml = PAYLOAD.encode("unicode_escape").decode().replace("\\x", "\\u00")
    config = tmp_path / "config" / "smtpsh" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'helo = "me.test"\n"[top-key]{toml}" = 1\n'
        f'[profiles.work]\nhost = "127.0.0.1"\n"[profile-key]{toml}" = 2\n'
        f'["[table]{toml}"]\nx = 1\n', encoding="utf-8")
    out = smtpsh_bytes([b"dns", b"--help"], tmp_path)
    for marker in ("[top-key]", "[profile-key]", "[table]"):
        check_pieces(out, marker, ESCAPED)
    assert "profile 'work'" in out


def test_many_targets_notes(
    smtp_port: int, tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    """-T FILE: the lines it cannot read, the duplicate target's line (its file name), and
    one line a host with what the hostile server said."""
    hostile_row("files: controls, bidi in a -T list and its name", "probe")
    hosts = tmp_path / os.fsdecode(b"[list]" + ARGV_WIRE.replace(b"/", b""))
    hosts.write_bytes(f"127.0.0.1:{smtp_port}\n127.0.0.1:{smtp_port}\n".encode()
                      + b"[line]" + WIRE + b"\n")
    out = smtpsh_bytes([b"probe", b"--no-relay", b"-T", os.fsencode(hosts), b"--color",
                        b"always"], tmp_path, timeout=120)
    assert "given more than once" in out and "hosts checked" in out
    # The list's name ('/' left out of it), in its unreadable line's line and the duplicate's.
    in_name = [piece.replace("/", "") for piece in [*ESCAPED_NO_NUL, ESCAPED_C1_BYTE]]
    for marker in ("[list]", "once, checked once"):
        check_pieces(out, marker, in_name, colour=True)


def _one_refused(sock: socket.socket) -> None:
    """SMTPUTF8; every recipient accepted but those with 'rcptaddr' in them."""
    sock.sendall(b"220 refuses.test ESMTP\r\n")
    while line := read_line(sock):
        verb = line.split(b" ", 1)[0].split(b":", 1)[0].strip().upper()
        if verb == b"EHLO":
            sock.sendall(b"250-refuses.test\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n")
        elif verb == b"RCPT" and b"rcptaddr" in line:
            sock.sendall(b"550 5.1.1 no such user\r\n")
        elif verb == b"DATA":
            sock.sendall(b"354 go ahead\r\n")
            while read_line(sock) not in (b".\r\n", b""):
                pass
            sock.sendall(b"250 2.0.0 queued\r\n")
        elif verb == b"QUIT":
            sock.sendall(b"221 bye\r\n")
            return
        else:
            sock.sendall(b"250 ok\r\n")


def test_send_refused_recipients(tmp_path: Path, hostile_row: Callable[[str, str], None]) -> None:
    """`smtpsh send`: an address with controls is refused before connecting, one line; the
    refused recipients' line names an address with bidi and zero-width characters (an
    SMTPUTF8 address may hold them)."""
    hostile_row("argv: controls, bidi in a word the parser echoes", "send")
    out = smtpsh_bytes([b"send", b"127.0.0.1:9", b"--from", b"a@b.test", b"--to",
                        b"[bad-addr]" + ARGV_WIRE + b"@d.test"], tmp_path)
    # (quoted up to the CR: a space ends the word the line names)
    check_pieces(out, "[bad-addr]", ["\\x1b[2J", "\\x07", "\\x08"])
    # (not U+2028/U+2029: white space, they end the word)
    invisible = "".join(ch for ch in PAYLOAD if ord(ch) >= 0x600 and ch not in "\u2028\u2029")
    with scripted_server(_one_refused) as port:
        out = smtpsh_bytes([b"send", f"127.0.0.1:{port}".encode(), b"--from", b"a@b.test",
                            b"--to", b"ok@d.test", b"--to",
                            f"rcptaddr{invisible}@d.test".encode(), b"--body", b"hi"],
                           tmp_path)
    assert "not every recipient: refused" in out
    line = next(line for line in out.splitlines() if "not every recipient" in line)
    check_pieces(line, "rcptaddr",
                 [p for p in ESCAPED if p.startswith("\\u") and p[2:] not in ("2028", "2029")])


def _unix_smtp(path: Path) -> Callable[[], None]:
    """A small SMTP server on a UNIX socket at ``path`` (any name a file may have), AUTH
    PLAIN offered and refused; returns what stops it."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(os.fsencode(path))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(peer: socket.socket) -> None:
        with peer:
            peer.sendall(b"220 unix.test ESMTP\r\n")
            while line := read_line(peer):
                verb = line.split(b" ", 1)[0].strip().upper()
                if verb == b"EHLO":
                    peer.sendall(b"250-unix.test\r\n250 AUTH PLAIN\r\n")
                elif verb == b"AUTH":
                    peer.sendall(b"535 5.7.8 no\r\n")
                elif verb == b"QUIT":
                    peer.sendall(b"221 bye\r\n")
                    return
                else:
                    peer.sendall(b"250 ok\r\n")

    def accept() -> None:
        while not stop.is_set():
            try:
                peer, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed meanwhile (a join that timed out on a loaded machine)
            threading.Thread(target=serve, args=(peer,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()

    def close() -> None:
        stop.set()
        acceptor.join(timeout=5)  # before the close: an accept() on a closed socket raises
        listener.close()

    return close


def test_shell_prompt_and_questions(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    """In a terminal, the prompt shows the target (a unix:PATH may be any file name) and
    /auth asks for the password of the --user given: prompt_toolkit draws both as they are,
    ESC as ^[ but bidi overrides raw; the toolbar already showed them escaped."""
    hostile_row("argv: controls, bidi in a word the parser echoes", "shell")
    path = tmp_path / "[sock]\x1b[2J\u202e\u2066"
    stop = _unix_smtp(path)
    seen = io.BytesIO()
    child = pexpect.spawn(sys.executable, ["-m", "smtpsh", f"unix:{path}", "--user",
                                           "[user]\u202e\u2066", "--insecure-auth"],
                          env=smtpsh_env(tmp_path), dimensions=(50, 400), timeout=20)
    child.logfile_read = seen
    try:
        child.expect_exact("\u203a".encode())
        child.sendline("EHLO me")
        child.expect_exact(b"250 AUTH PLAIN")
        child.expect_exact("\u203a".encode())
        child.sendline("/auth PLAIN")
        child.expect_exact(b"(hidden)")
        child.sendline("not-the-password")
        child.expect_exact(b"535")
        child.expect_exact("\u203a".encode())
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
        stop()
    everything = seen.getvalue()
    for sequence in (b"\x1b[2J", "\u202e".encode(), "\u2066".encode()):
        assert sequence not in everything, f"{sequence!r} reached the terminal raw"
    text = everything.decode("utf-8", "replace")
    assert "[sock]\\x1b[2J\\u202e\\u2066\u203a" in text  # the prompt
    assert "[user]\\u202e\\u2066 (hidden)" in text  # /auth's question

"""The test zone served by dnsmasq (see conftest.py) and helpers to start it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdata
import dns.resolver
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from smtpsh.dnsinfo.lookup import make_resolver
from tests.helpers.ports import pick_free_port

FACTS_FILE = Path("/var/lib/smtpsh-test/postfix.json")
DEFAULT_POSTFIX_HOST = "mx.smtpsh.test"
TXT_CHUNK = 255  # one TXT character-string holds at most 255 octets

# TLSA certificate-association data: any bytes of the right length will do.
SHA256_DATA = bytes(range(1, 33)).hex()
SHA512_DATA = bytes(range(1, 65)).hex()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def postfix_hostname() -> str:
    """The loopback Postfix's host name (its banner's), so that PTR and FCrDNS of
    127.0.0.1 agree with the banner. Works without Postfix too."""
    try:
        return str(json.loads(FACTS_FILE.read_text(encoding="utf-8"))["hostname"]).lower()
    except (OSError, ValueError, KeyError):
        return DEFAULT_POSTFIX_HOST


free_port = pick_free_port  # shared with tests/conftest.py


@dataclass(frozen=True)
class DkimKeys:
    rsa2048: str  # base64 SubjectPublicKeyInfo
    rsa1024: str
    rsa768_pkcs1: str  # base64 RSAPublicKey (the form RFC 6376 names)
    ed25519: str  # base64 raw 32-byte key (RFC 8463)


def make_dkim_keys() -> DkimKeys:
    def spki(key: rsa.RSAPublicKey) -> str:
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    # cryptography refuses to generate keys under 1024 bits; a short public key
    # only needs a modulus of the right size, which is all a verifier sees.
    short = rsa.RSAPublicNumbers(65537, (1 << 767) | 0x1F0F).public_key()
    short_der = short.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    ed_raw = ed.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return DkimKeys(
        rsa2048=spki(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()),
        rsa1024=spki(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()),
        rsa768_pkcs1=base64.b64encode(short_der).decode(),
        ed25519=base64.b64encode(ed_raw).decode(),
    )


def _txt(name: str, text: str) -> str:
    """A dnsmasq txt-record line; long texts are split into 255-octet strings."""
    chunks = [text[i : i + TXT_CHUNK] for i in range(0, len(text), TXT_CHUNK)] or [""]
    return f"txt-record={name}," + ",".join(f'"{c}"' for c in chunks)


def _tlsa(host: str, usage: int, selector: int, mtype: int, data: str) -> str:
    return f"dns-rr=_25._tcp.{host},52,{usage:02x}{selector:02x}{mtype:02x}{data}"


SERVER_CERT = Path("/var/lib/smtpsh-test/server.pem")  # the loopback Postfix's (postfix-setup)


def server_spki_sha256() -> str:
    """SHA-256 of the Postfix certificate's SubjectPublicKeyInfo: a TLSA 3 1 1 that matches.
    Without Postfix set up, bytes that match nothing (the DANE match test needs Postfix)."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(SERVER_CERT.read_bytes())
    except (OSError, ValueError):
        return SHA256_DATA
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def _rr(name: str, rdtype: str, text: str) -> str:
    """Any record as dnsmasq's raw dns-rr line (type number, rdata as hex)."""
    rdata = dns.rdata.from_text("IN", rdtype, text)
    return f"dns-rr={name},{int(rdata.rdtype)},{rdata.to_wire().hex()}"


def zone_lines(
    postfix_host: str, keys: DkimKeys, servfail_port: int, silent_port: int
) -> list[str]:
    """The whole test zone as dnsmasq configuration lines."""
    pf = postfix_host
    dkim = "_domainkey.fallback.example.test"
    return [
        "local=/example.test/",
        "local=/corp.test/",
        "local=/other.test/",
        f"local=/{pf}/",
        "local=/127.in-addr.arpa/",
        "local=/ip6.arpa/",
        f"server=/servfail.example.test/127.0.0.1#{servfail_port}",
        f"server=/timeout.example.test/127.0.0.1#{silent_port}",
        # fallback.example.test: well set up; its first MX (127.0.0.2) has nothing on
        # port 25, the second is the loopback Postfix.
        "mx-host=fallback.example.test,dead.example.test,10",
        f"mx-host=fallback.example.test,{pf},20",
        "host-record=dead.example.test,127.0.0.2",
        _rr("mta-sts.fallback.example.test", "A", "127.0.0.21"),  # its MTA-STS policy host
        f"host-record={pf},127.0.0.1,::1",
        _txt("fallback.example.test", "v=spf1 mx ip4:127.0.0.0/8 -all"),
        _txt("fallback.example.test", "site-verification=not-spf"),
        _txt(
            "_dmarc.fallback.example.test",
            "v=DMARC1; p=reject; sp=quarantine; adkim=s;"
            " rua=mailto:dmarc@example.test,mailto:dmarc2@example.test!10m",
        ),
        _txt("_mta-sts.fallback.example.test", "v=STSv1; id=20240501T120000"),
        _txt("_smtp._tls.fallback.example.test", "v=TLSRPTv1; rua=mailto:tlsrpt@example.test"),
        _tlsa("dead.example.test", 3, 1, 1, SHA256_DATA),
        _tlsa(pf, 2, 0, 2, SHA512_DATA),
        _txt(f"s2048.{dkim}", f"v=DKIM1; k=rsa; p={keys.rsa2048}"),
        _txt(f"s1024.{dkim}", f"v=DKIM1; k=rsa; t=y; p={keys.rsa1024}"),
        _txt(f"short.{dkim}", f"v=DKIM1; p={keys.rsa768_pkcs1}"),
        _txt(f"ed.{dkim}", f"v=DKIM1; k=ed25519; p={keys.ed25519}"),
        _txt(f"revoked.{dkim}", "v=DKIM1; k=rsa; p="),
        _txt(f"sha1.{dkim}", f"v=DKIM1; h=sha1; p={keys.rsa2048}"),
        # implicit.example.test: no MX, but an address.
        "host-record=implicit.example.test,127.0.0.5",
        # nullmx.example.test: "MX 0 ." as raw rdata (preference 0, the root name).
        "dns-rr=nullmx.example.test,15,000000",
        _txt("nullmx.example.test", "v=spf1 -all"),
        _txt("_dmarc.nullmx.example.test", "v=DMARC1; p=reject"),
        # noaddr.example.test: the name exists (TXT) but has no MX and no address.
        _txt("noaddr.example.test", "v=spf1 -all"),
        # equal.example.test: two MX of equal preference after a better one.
        "mx-host=equal.example.test,eq-a.example.test,10",
        "mx-host=equal.example.test,eq-b.example.test,10",
        "mx-host=equal.example.test,eq-c.example.test,5",
        "host-record=eq-a.example.test,127.0.0.11",
        "host-record=eq-b.example.test,127.0.0.12",
        "host-record=eq-c.example.test,127.0.0.13",
        # broken.example.test: everything wrong.
        "mx-host=broken.example.test,nowhere.example.test,10",
        "mx-host=broken.example.test,alias.example.test,20",
        "cname=alias.example.test,host1.example.test",
        "host-record=host1.example.test,127.0.0.7",
        _txt("broken.example.test", "v=spf1 ip4:300.1.2.3 foo:bar +all"),
        _txt("_dmarc.broken.example.test", "v=DMARC1; p=maybe; pct=150"),
        _txt("_mta-sts.broken.example.test", "v=STSv1; id=not-valid!"),
        _txt("_smtp._tls.broken.example.test", "v=TLSRPTv1; rua=ftp://reports.example.test"),
        _tlsa("alias.example.test", 1, 1, 2, SHA512_DATA),
        # spf-over.example.test: includes worth 12 lookups (2 + 3 + 3 + 3 + 1).
        "mx-host=spf-over.example.test,host1.example.test,10",
        _txt(
            "spf-over.example.test",
            "v=spf1 include:spf1.example.test include:spf2.example.test -all",
        ),
        _txt(
            "spf1.example.test",
            "v=spf1 a:host1.example.test mx:fallback.example.test include:spf3.example.test ~all",
        ),
        _txt(
            "spf3.example.test",
            "v=spf1 exists:%{i}.bl.example.test a:host1.example.test a:dead.example.test ?all",
        ),
        _txt(
            "spf2.example.test",
            "v=spf1 include:spf4.example.test mx:fallback.example.test ptr -all",
        ),
        _txt("spf4.example.test", "v=spf1 ip4:192.0.2.0/24 a:host1.example.test -all"),
        _txt("_dmarc.spf-over.example.test", "v=DMARC1; p=quarantine; pct=50"),
        # spf-ok.example.test: 3 lookups; DMARC p=none.
        "mx-host=spf-ok.example.test,host1.example.test,10",
        _txt(
            "spf-ok.example.test",
            "v=spf1 ip4:127.0.0.0/8 ip6:::1 include:spf4.example.test a:host1.example.test -all",
        ),
        _txt("_dmarc.spf-ok.example.test", "v=DMARC1; p=none; rua=mailto:dmarc@example.test"),
        # SPF trouble of other kinds.
        _txt("spf-loop.example.test", "v=spf1 include:loop-b.example.test -all"),
        _txt("loop-b.example.test", "v=spf1 include:spf-loop.example.test -all"),
        _txt("spf-two.example.test", "v=spf1 -all"),
        _txt("spf-two.example.test", "v=spf1 ip4:127.0.0.1 -all"),
        _txt("spf-redirect.example.test", "v=spf1 redirect=spf4.example.test"),
        _txt("spf-badredirect.example.test", "v=spf1 redirect=nothere.example.test"),
        _txt(
            "spf-void.example.test",
            "v=spf1 a:gone1.example.test a:gone2.example.test mx:gone3.example.test -all",
        ),
        # sub.corp.test has no DMARC record: its organisational domain corp.test has one
        # (RFC 7489 §6.6.3), p=reject with sp=quarantine for subdomains.
        "mx-host=sub.corp.test,host1.example.test,10",
        _txt("_dmarc.corp.test", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@corp.test"),
        # BIMI with a logo under DMARC p=quarantine at pct=50: no mail client shows it
        _txt("default._bimi.spf-over.example.test",
             "v=BIMI1; l=https://spf-over.example.test/l.svg; a=https://spf-over.example.test/a.pem"),
        # SPF: mechanisms after "all" are never evaluated (RFC 7208 §5.1), so the 12
        # lookups of spf-over's includes behind it do not count
        _txt("spf-after-all.example.test",
             "v=spf1 ip4:192.0.2.1 -all include:spf-over.example.test a mx exp=why.example.test"),
        # DMARC cases a checker gets wrong (tests/dns/test_dns_adversarial.py):
        # reports to another organisation's domain, authorised (corp.test) and not (other.test)
        _txt("_dmarc.dmarc-ext.example.test",
             "v=DMARC1; p=reject; rua=mailto:d@reports.other.test!10m; ruf=mailto:f@corp.test"),
        _txt("dmarc-ext.example.test._report._dmarc.corp.test", "v=DMARC1"),
        # DMARCbis tags (np, psd, t); no p= at all; a record without its ';'
        _txt("_dmarc.dmarc-bis.example.test",
             "v=DMARC1; p=reject; np=reject; psd=n; t=y; rua=mailto:d@example.test"),
        _txt("_dmarc.dmarc-nop.example.test", "v=DMARC1; rua=mailto:d@example.test"),
        _txt("_dmarc.dmarc-semi.example.test", "v=DMARC1 p=reject"),
        # a subdomain of corp.test with a malformed record of its own: corp.test's applies
        _txt("_dmarc.semi.corp.test", "v=DMARC1 p=none"),
        # BIMI: a well-formed record, and one with a plain-HTTP PNG logo.
        _txt(
            "default._bimi.fallback.example.test",
            "v=BIMI1; l=https://fallback.example.test/bimi/logo.svg;"
            " a=https://fallback.example.test/bimi/vmc.pem",
        ),
        _txt("default._bimi.broken.example.test", "v=BIMI1; l=http://broken.example.test/logo.png"),
        # NS and SOA of example.test (raw rdata: dnsmasq has no NS/SOA directive for them).
        _rr("example.test", "NS", "ns1.example.test."),
        _rr("example.test", "NS", "ns2.example.test."),
        _rr("example.test", "SOA",
            "ns1.example.test. hostmaster.example.test. 2026120601 3600 600 604800 300"),
        _rr("corp.test", "NS", "ns1.corp.test."),
        _rr("corp.test", "SOA", "ns1.corp.test. hostmaster.corp.test. 7 3600 600 604800 300"),
        # dane.example.test: its first MX has a TLSA 3 1 1 that matches the Postfix key, the
        # second (the Postfix name) only a 2 0 2 that matches nothing.
        "mx-host=dane.example.test,danegood.example.test,10",
        f"mx-host=dane.example.test,{pf},20",
        "host-record=danegood.example.test,127.0.0.1",
        _tlsa("danegood.example.test", 3, 1, 1, server_spki_sha256()),
        # A DNS blocklist zone: 127.0.0.1 is listed (127.0.0.2 and a reason), 127.0.0.5 not.
        _rr("1.0.0.127.bl.example.test", "A", "127.0.0.2"),
        _txt("1.0.0.127.bl.example.test", "Listed for the smtpsh tests"),
        # PTR: 127.0.0.1 -> the Postfix name (from its host-record) -> 127.0.0.1;
        # 127.0.0.3 -> liar.example.test -> 127.0.0.4; 127.0.0.9 has none.
        "ptr-record=3.0.0.127.in-addr.arpa,liar.example.test",
        "host-record=liar.example.test,127.0.0.4",
    ]


@dataclass(frozen=True)
class DnsZone:
    host: str
    port: int
    postfix_host: str
    keys: DkimKeys
    log_file: Path

    @property
    def server(self) -> str:
        """The --dns-server value."""
        return f"{self.host}:{self.port}"

    def resolver(self, timeout: float = 3.0) -> dns.resolver.Resolver:
        return make_resolver(self.server, timeout)


def wait_until_serving(proc: subprocess.Popen[bytes], zone: DnsZone, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    resolver = zone.resolver(timeout=0.5)
    while True:
        if proc.poll() is not None:
            log = zone.log_file.read_text(errors="replace")
            pytest.fail(f"dnsmasq exited with {proc.returncode}:\n{log}", pytrace=False)
        try:
            resolver.resolve("dead.example.test", "A")
            return
        except Exception:
            if time.monotonic() > deadline:
                log = zone.log_file.read_text(errors="replace")
                pytest.fail(f"dnsmasq does not answer on {zone.server}:\n{log}", pytrace=False)
            time.sleep(0.1)

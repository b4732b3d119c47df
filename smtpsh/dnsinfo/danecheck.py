"""DANE, checked for real (`smtpsh dns DOMAIN --check-mx`): connect to each MX on port 25,
STARTTLS, and match the certificates it presents against its TLSA records (RFC 7672 §3).

DANE replaces the CA system for SMTP, so the handshake does not verify the chain against a
trust store: the TLSA records are the trust. Usage 3 (DANE-EE) must match the server's own
certificate, usage 2 (DANE-TA) a CA certificate of the chain it sent; usages 0/1 (PKIX-*)
are not used by SMTP senders and are not matched (RFC 7672 §3.1.3).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from smtpsh.dnsinfo.dane import DANEHost, TLSARecord
from smtpsh.dnsinfo.model import Item, Status
from smtpsh.net.certinfo import CertificateInfo, tlsa_data

DEFAULT_TIMEOUT = 15.0


@dataclass
class RecordMatch:
    record: TLSARecord
    matched: bool | None  # None: not matched on purpose (PKIX usages) or not computable
    depth: int | None = None  # which certificate of the chain matched (0 the server's)

    def to_json(self) -> dict[str, Any]:
        return {**self.record.to_json(), "matched": self.matched, "depth": self.depth}


@dataclass
class MXCheck:
    host: str
    address: str | None = None
    error: str | None = None  # could not connect / no STARTTLS / handshake failed
    tls: str | None = None  # "TLSv1.3 TLS_AES_256_GCM_SHA384"
    chain: list[str] = field(default_factory=list)  # subjects, leaf first
    matches: list[RecordMatch] = field(default_factory=list)
    dnssec_validated: bool = False
    dnssec_bogus: bool = False
    dnssec_insecure: bool = False  # proven unsigned by --trust-anchor

    @property
    def verdict(self) -> str:
        """match / mismatch / no TLSA / error."""
        if self.error is not None:
            return "error"
        usable = [m for m in self.matches if m.matched is not None]
        if not self.matches:
            return "no TLSA"
        return "match" if any(m.matched for m in usable) else "mismatch"

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "verdict": self.verdict,
            "error": self.error,
            "tls": self.tls,
            "chain": self.chain,
            "tlsa": [m.to_json() for m in self.matches],
            "dnssec_validated": self.dnssec_validated,
            "dnssec_bogus": self.dnssec_bogus,
            "dnssec_insecure": self.dnssec_insecure,
        }


def match_records(
    records: Sequence[TLSARecord], chain: Sequence[CertificateInfo]
) -> list[RecordMatch]:
    """Each TLSA record against the chain the server presented (leaf first)."""
    found: list[RecordMatch] = []
    for record in records:
        if record.usage == 3:
            candidates = list(enumerate(chain[:1]))
        elif record.usage == 2:
            candidates = list(enumerate(chain))[1:] or list(enumerate(chain[:1]))
        else:
            found.append(RecordMatch(record, None))
            continue
        match = RecordMatch(record, False)
        for depth, cert in candidates:
            data = tlsa_data(cert, record.selector, record.mtype)
            if data is None:
                match.matched = None
            elif data == record.data.lower():
                match.matched, match.depth = True, depth
                break
        found.append(match)
    return found


async def _handshake(host: str, port: int, timeout: float, helo: str,
                     connector: Any = None) -> tuple[Any, str]:
    from smtpsh.net.base import ClientOptions
    from smtpsh.net.client import SMTPClient

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the TLSA records are the trust, not a CA store
    client = SMTPClient(ClientOptions(host, port, timeout=timeout, connect_timeout=timeout,
                                      connector=connector))
    try:
        banner = await client.open()
        if banner.code != 220:
            raise OSError(f"the server greeted with {banner.code}, not 220")
        ehlo = await client.command(f"EHLO {helo}")
        if "STARTTLS" not in client.session.extensions:
            raise OSError(f"no STARTTLS offered (EHLO answered {ehlo.code})")
        reply = await client.starttls(context=context, server_hostname=host)
        if reply.code != 220 or client.tls_info is None:
            raise OSError(f"STARTTLS answered {reply.code}")
        return client.tls_info, client.address
    finally:
        await client.close()


def check_mx(
    entry: DANEHost,
    *,
    port: int = 25,
    timeout: float = DEFAULT_TIMEOUT,
    helo: str = "smtpsh.invalid",
    connect_to: str | None = None,
    connector: Any = None,
) -> MXCheck:
    """Connect to one MX (``connect_to`` overrides the address, for tests; ``connector``:
    smtpsh.net.base.Connector, another way to connect) and match."""
    result = MXCheck(entry.host, dnssec_validated=entry.authenticated, dnssec_bogus=entry.bogus,
                     dnssec_insecure=entry.insecure)  # fmt: skip
    try:
        info, address = asyncio.run(
            _handshake(connect_to or entry.host, port, timeout, helo, connector))
    except Exception as exc:  # every failure is one line in the report
        result.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return result
    result.address = address
    result.tls = f"{info.version} {info.cipher}"
    result.chain = [cert.subject_text for cert in info.chain]
    result.matches = match_records(entry.records, info.chain)
    return result


def items_for(checks: Sequence[MXCheck]) -> list[Item]:
    items: list[Item] = []
    for check in checks:
        where = f"{check.host}"
        if check.error is not None:
            items.append(Item("DANE", Status.ERROR, f"{where}: could not check: {check.error}"))
            continue
        if not check.matches:
            items.append(Item("DANE", Status.WARNING, f"{where}: no TLSA records to match"))
            continue
        for m in check.matches:
            what = m.record.description
            if m.matched is None:
                why = "PKIX usages are not used by SMTP, or the part is unreadable"
                items.append(Item("DANE", Status.WARNING, f"{where}: {what}: not matched ({why})"))
            elif m.matched:
                cert = (
                    "the server's certificate" if m.depth == 0 else f"chain certificate [{m.depth}]"
                )
                items.append(Item("DANE", Status.OK, f"{where}: {what}: matches {cert}"))
            else:
                text = f"{where}: {what}: matches no certificate the server presented"
                items.append(Item("DANE", Status.ERROR, text))
        if check.verdict == "mismatch":
            items.append(
                Item("DANE", Status.ERROR, f"{where}: no TLSA record matches: DANE senders "
                     "will not deliver to it (RFC 7672 §2.2)")
            )  # fmt: skip
        if check.dnssec_insecure:
            text = ("the TLSA answer is unsigned (its zone is DNSSEC-insecure): senders do not "
                    "use it")  # fmt: skip
            items.append(Item("DANE", Status.WARNING, f"{where}: {text}"))
        elif not check.dnssec_validated and not check.dnssec_bogus:  # bogus: said once, above
            text = "the TLSA answer was not DNSSEC-validated (no AD bit): senders would not use it"
            items.append(Item("DANE", Status.WARNING, f"{where}: {text}"))
    return items

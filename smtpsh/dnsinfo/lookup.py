"""Resolver factory and a query wrapper that turns dnspython exceptions into data.

Every check calls :func:`query`; it never raises for a DNS failure, so a report can
say "DMARC: lookup failed: SERVFAIL" and carry on.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.resolver

from smtpsh import exitcodes
from smtpsh.protocol.errors import SmtpshError

DEFAULT_PORT = 53


class DNSInputError(SmtpshError, ValueError):
    """Bad user input (a domain, an address, a server); the message is one line."""

    exit_status = exitcodes.USAGE
    fault = "user"


class Failure(str, Enum):
    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    ERROR = "error"


# What each failure means, for the one-line reasons.
FAILURE_TEXT = {
    Failure.NXDOMAIN: "NXDOMAIN (the name does not exist)",
    Failure.SERVFAIL: "SERVFAIL (the DNS server failed to answer)",
    Failure.REFUSED: "REFUSED (the DNS server refused the query)",
    Failure.TIMEOUT: "timeout (no answer from the DNS server)",
    Failure.ERROR: "DNS error",
}

# Response codes that dnspython reports through NoNameservers.
_RCODE_FAILURE = {"SERVFAIL": Failure.SERVFAIL, "REFUSED": Failure.REFUSED}


@dataclass(frozen=True)
class Answer:
    """The outcome of one query: records, or nothing (NODATA), or a failure."""

    qname: str
    rdtype: str
    rdatas: tuple[dns.rdata.Rdata, ...] = ()
    failure: Failure | None = None
    detail: str = ""
    canonical: str = ""
    authenticated: bool = False

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def nodata(self) -> bool:
        return self.failure is None and not self.rdatas

    @property
    def void(self) -> bool:
        """RFC 7208 §4.6.4: an empty answer or NXDOMAIN."""
        return self.nodata or self.failure is Failure.NXDOMAIN

    @property
    def failure_text(self) -> str:
        if self.failure is None:
            return ""
        text = FAILURE_TEXT[self.failure]
        return f"{text}: {self.detail}" if self.failure is Failure.ERROR else text

    def texts(self) -> list[str]:
        """TXT records as strings; the character-strings of one record are joined
        without separators (RFC 7208 §3.3, RFC 6376 §3.6.2.2)."""
        return [
            b"".join(rd.strings).decode("utf-8", "backslashreplace")
            for rd in self.rdatas
            if isinstance(rd, dns.rdtypes.ANY.TXT.TXT)
        ]


def name_text(name: dns.name.Name | str) -> str:
    """A host name as users write it: no final dot, lower case."""
    if isinstance(name, dns.name.Name):
        name = name.to_text(omit_final_dot=True)
    return name.rstrip(".").lower()


def parse_domain(text: str) -> str:
    """Validate a domain typed by a user and return it in A-label form."""
    text = text.strip()
    if not text or text == ".":
        raise DNSInputError("empty domain name")
    if any(c.isspace() for c in text) or "@" in text or "/" in text:
        raise DNSInputError(f"{text!r} is not a domain name")
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        pass
    else:
        raise DNSInputError(f"{text} is an IP address, not a domain name")
    try:
        name = dns.name.from_text(text)
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise DNSInputError(f"{text!r} is not a valid domain name: {exc}") from None
    return name_text(name)


def parse_server(text: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address -> (ip, port)."""
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise DNSInputError(f"bad DNS server {text!r}: expected [IPv6]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise DNSInputError(f"bad DNS server {text!r}: not an IP address") from None
    port = DEFAULT_PORT
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise DNSInputError(f"bad DNS server {text!r}: port must be 1-65535")
        port = int(port_text)
    return str(ip), port


def make_resolver(server: str | None = None, timeout: float | None = None) -> dns.resolver.Resolver:
    """A resolver for ``--dns-server IP[:PORT]`` / ``--dns-timeout`` (default: the system's)."""
    if timeout is not None and not timeout > 0:
        raise DNSInputError(f"bad DNS timeout {timeout!r}: must be more than 0 seconds")
    if server is None:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            raise DNSInputError(
                "no system DNS resolver configured (/etc/resolv.conf); use --dns-server IP[:PORT]"
            ) from None
    else:
        ip, port = parse_server(server)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [ip]
        resolver.port = port
    if timeout is not None:
        resolver.timeout = timeout
        resolver.lifetime = timeout
    # Asking with AD set makes a validating resolver say whether the answer is
    # DNSSEC-validated (RFC 6840 §5.7); DANE depends on it.
    resolver.flags = dns.flags.RD | dns.flags.AD
    return resolver


def describe_resolver(resolver: dns.resolver.Resolver) -> str:
    servers = [str(ns) for ns in resolver.nameservers]
    port = resolver.port
    shown = ", ".join(f"[{s}]:{port}" if ":" in s else f"{s}:{port}" for s in servers)
    return shown or "(none)"


def _failure_from_nonameservers(exc: dns.resolver.NoNameservers) -> tuple[Failure, str]:
    errors = exc.kwargs.get("errors") or []
    for error in errors:
        # (server, tcp, port, error, response): the error is an rcode name or an exception.
        if len(error) >= 5 and isinstance(error[4], dns.message.Message):
            rcode = dns.rcode.to_text(error[4].rcode())
            return _RCODE_FAILURE.get(rcode, Failure.ERROR), rcode
        if len(error) >= 4 and isinstance(error[3], dns.exception.Timeout):
            return Failure.TIMEOUT, "timed out"
    detail = str(errors[0][3]) if errors and len(errors[0]) >= 4 else "no server answered"
    return Failure.ERROR, detail


def query(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> Answer:
    """Resolve ``name``/``rdtype``; failures come back as data, never as exceptions."""
    try:
        answer = resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return Answer(name, rdtype, failure=Failure.NXDOMAIN)
    except dns.resolver.NoNameservers as exc:
        failure, detail = _failure_from_nonameservers(exc)
        return Answer(name, rdtype, failure=failure, detail=detail)
    except dns.exception.Timeout:
        return Answer(name, rdtype, failure=Failure.TIMEOUT, detail="timed out")
    except dns.exception.DNSException as exc:
        return Answer(name, rdtype, failure=Failure.ERROR, detail=str(exc) or type(exc).__name__)
    except OSError as exc:
        return Answer(name, rdtype, failure=Failure.ERROR, detail=exc.strerror or str(exc))
    rdatas = tuple(answer.rrset) if answer.rrset is not None else ()
    return Answer(
        name,
        rdtype,
        rdatas=rdatas,
        canonical=name_text(answer.canonical_name),
        authenticated=bool(answer.response.flags & dns.flags.AD),
    )

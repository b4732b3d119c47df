"""Reverse DNS of a server address: PTR, forward confirmation (FCrDNS) and the
comparison with the host name the server gives in its banner."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rdtypes.ANY.PTR
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.resolver
import dns.reversename

from smtpsh.dnsinfo.lookup import DNSInputError, Failure, name_text, query
from smtpsh.dnsinfo.model import Item, Status


def banner_hostname(banner: str) -> str | None:
    """The host name a greeting announces: ``220 mx.example.com ESMTP ...`` (RFC 5321
    §4.3.1: the domain or address literal comes first). None if there is none."""
    line = banner.splitlines()[0] if banner.strip() else ""
    if line[:3].isdigit() and line[3:4] in (" ", "-"):
        line = line[4:]
    token = line.split(maxsplit=1)[0] if line.split() else ""
    if token.startswith("[") and token.endswith("]"):
        return token
    if "." not in token.strip("."):
        return None
    try:
        dns.name.from_text(token)
    except (dns.exception.DNSException, UnicodeError):
        return None
    return name_text(token)


@dataclass
class PTRResult:
    address: str
    names: list[str] = field(default_factory=list)
    forward: dict[str, list[str]] = field(default_factory=dict)
    confirmed: list[str] = field(default_factory=list)
    banner_host: str | None = None
    banner_match: bool | None = None
    failure: str | None = None
    item_list: list[Item] = field(default_factory=list)

    def items(self) -> list[Item]:
        return self.item_list

    def add(self, status: Status, text: str) -> None:
        self.item_list.append(Item("PTR", status, text))

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "ptr": self.names,
            "forward": self.forward,
            "fcrdns": bool(self.confirmed),
            "confirmed_names": self.confirmed,
            "banner_host": self.banner_host,
            "banner_match": self.banner_match,
            "failure": self.failure,
            "items": [i.to_json() for i in self.item_list],
        }


def check_ptr(
    address: str, resolver: dns.resolver.Resolver, banner_host: str | None = None
) -> PTRResult:
    """PTR of ``address``, whether each name resolves back to it, and whether the
    banner's host name is one of those names."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        raise DNSInputError(f"{address!r} is not an IP address") from None
    result = PTRResult(str(ip), banner_host=banner_host)
    reverse = dns.reversename.from_address(str(ip)).to_text()
    answer = query(resolver, reverse, "PTR")
    if answer.failure and answer.failure is not Failure.NXDOMAIN:
        result.failure = answer.failure_text
        result.add(Status.ERROR, f"PTR lookup for {ip} failed: {answer.failure_text}")
        return result
    result.names = [
        name_text(rd.target) for rd in answer.rdatas if isinstance(rd, dns.rdtypes.ANY.PTR.PTR)
    ]
    if not result.names:
        result.add(Status.WARNING, f"{ip} has no PTR record (receivers often distrust that)")
    elif len(result.names) > 1:
        result.add(Status.WARNING, f"{ip} has {len(result.names)} PTR records; one is expected")
    family = "A" if ip.version == 4 else "AAAA"
    for name in result.names:
        forward = query(resolver, name, family)
        addresses = [
            rd.address
            for rd in forward.rdatas
            if isinstance(rd, dns.rdtypes.IN.A.A | dns.rdtypes.IN.AAAA.AAAA)
        ]
        result.forward[name] = addresses
        if any(ipaddress.ip_address(a) == ip for a in addresses):
            result.confirmed.append(name)
            result.add(Status.OK, f"{ip} -> {name} -> {ip}: forward-confirmed (FCrDNS)")
        else:
            back = ", ".join(addresses) or forward.failure_text or f"no {family} record"
            result.add(Status.WARNING, f"{ip} -> {name} -> {back}: not forward-confirmed")
    if banner_host is not None:
        _compare_banner(result, banner_host)
    return result


def _compare_banner(result: PTRResult, banner_host: str) -> None:
    host = banner_host.lower().rstrip(".")
    if not result.names:
        result.banner_match = False
        result.add(Status.WARNING, f"banner host name {host}: no PTR name to compare with")
        return
    result.banner_match = host in result.names
    if result.banner_match:
        result.add(Status.OK, f"banner host name {host} matches the PTR")
    else:
        shown = ", ".join(result.names)
        result.add(Status.WARNING, f"banner host name {host} differs from the PTR ({shown})")

"""More of what a mail domain publishes: its zone's NS and SOA, its BIMI record, and
whether its MX addresses are on DNS blocklists the user names.

Each check turns every failure into an item (a report line), never an exception.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.name
import dns.resolver

from smtpsh.dnsinfo.lookup import Failure, name_text, query
from smtpsh.dnsinfo.model import Item, Status
from smtpsh.dnsinfo.tags import parse_tag_list

# RFC 1034 §4.1: every zone should have at least two name servers.
MIN_NAME_SERVERS = 2


# ---------------------------------------------------------------- NS and SOA


@dataclass
class ZoneResult:
    zone: str = ""  # the zone the domain is in (where the SOA is)
    name_servers: list[str] = field(default_factory=list)
    soa: dict[str, Any] | None = None
    item_list: list[Item] = field(default_factory=list)

    def items(self) -> list[Item]:
        return self.item_list

    def to_json(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "name_servers": self.name_servers,
            "soa": self.soa,
            "items": [i.to_json() for i in self.item_list],
        }


def _zone_of(domain: str, resolver: dns.resolver.Resolver) -> str | None:
    """The closest enclosing name that has an SOA record (the zone apex)."""
    name = dns.name.from_text(domain)
    while True:
        answer = query(resolver, name_text(name), "SOA")
        if answer.rdatas:
            return name_text(name)
        if answer.failure not in (None, Failure.NXDOMAIN) or name == dns.name.root:
            return None
        name = name.parent()
        if name == dns.name.root:
            return None


def check_zone(domain: str, resolver: dns.resolver.Resolver) -> ZoneResult:
    result = ZoneResult()
    zone = _zone_of(domain, resolver)
    if zone is None:
        result.item_list.append(Item("zone", Status.WARNING, f"no SOA found for {domain}"))
        return result
    result.zone = zone
    soa_answer = query(resolver, zone, "SOA")
    soa = soa_answer.rdatas[0]
    result.soa = {
        "primary": name_text(soa.mname),  # type: ignore[attr-defined]
        "contact": name_text(soa.rname),  # type: ignore[attr-defined]
        "serial": soa.serial,  # type: ignore[attr-defined]
        "refresh": soa.refresh,  # type: ignore[attr-defined]
        "retry": soa.retry,  # type: ignore[attr-defined]
        "expire": soa.expire,  # type: ignore[attr-defined]
        "minimum": soa.minimum,  # type: ignore[attr-defined]
    }
    ns_answer = query(resolver, zone, "NS")
    if ns_answer.failure is not None:
        result.item_list.append(
            Item("zone", Status.ERROR, f"NS lookup of {zone} failed: {ns_answer.failure_text}")
        )
        return result
    result.name_servers = sorted(name_text(rd.target) for rd in ns_answer.rdatas)  # type: ignore[attr-defined]
    count = len(result.name_servers)
    if count < MIN_NAME_SERVERS:
        result.item_list.append(
            Item(
                "zone",
                Status.WARNING,
                f"zone {zone} has {count} name server{'s' if count != 1 else ''}; "
                f"at least {MIN_NAME_SERVERS} are expected (RFC 1034 §4.1)",
            )
        )
    else:
        result.item_list.append(
            Item("zone", Status.OK, f"zone {zone}: {count} name servers, SOA serial {soa.serial}")  # type: ignore[attr-defined]
        )
    return result


# ---------------------------------------------------------------- BIMI


@dataclass
class BIMIResult:
    name: str
    record: str | None = None
    logo: str | None = None
    authority: str | None = None
    item_list: list[Item] = field(default_factory=list)

    def items(self) -> list[Item]:
        return self.item_list

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "record": self.record,
            "logo": self.logo,
            "authority": self.authority,
            "items": [i.to_json() for i in self.item_list],
        }


def check_bimi(
    domain: str, resolver: dns.resolver.Resolver, selector: str = "default"
) -> BIMIResult:
    """BIMI (draft-brand-indicators-for-message-identification): `v=BIMI1; l=<https SVG>;
    a=<https VMC>`. Optional: its absence is no problem, only its mistakes are."""
    name = f"{selector}._bimi.{domain}"
    result = BIMIResult(name)
    answer = query(resolver, name, "TXT")
    if answer.failure not in (None, Failure.NXDOMAIN):
        result.item_list.append(
            Item("BIMI", Status.WARNING, f"lookup of {name} failed: {answer.failure_text}")
        )
        return result
    records = [t for t in answer.texts() if t.replace(" ", "").startswith("v=BIMI1")]
    if not records:
        result.item_list.append(Item("BIMI", Status.OK, f"no BIMI record at {name} (optional)"))
        return result
    if len(records) > 1:
        result.item_list.append(
            Item("BIMI", Status.ERROR, f"{len(records)} records at {name}; there must be one")
        )
    result.record = records[0]
    tags = parse_tag_list(records[0])
    for problem in tags.problems:
        result.item_list.append(Item("BIMI", Status.ERROR, problem))
    result.logo = tags.get("l") or None
    result.authority = tags.get("a") or None
    if result.logo is None:
        result.item_list.append(
            Item("BIMI", Status.WARNING, "l= is empty: the domain declines to show a logo")
        )
    elif not result.logo.lower().startswith("https://"):
        result.item_list.append(
            Item("BIMI", Status.ERROR, f"l={result.logo}: the logo must be fetched over https")
        )
    elif not result.logo.lower().endswith(".svg"):
        result.item_list.append(
            Item("BIMI", Status.WARNING, f"l={result.logo}: the logo must be an SVG (SVG Tiny PS)")
        )
    else:
        result.item_list.append(Item("BIMI", Status.OK, f"logo {result.logo}"))
    if result.authority and not result.authority.lower().startswith("https://"):
        result.item_list.append(
            Item("BIMI", Status.ERROR, f"a={result.authority}: the evidence document must be https")
        )
    elif result.logo and not result.authority:
        result.item_list.append(
            Item(
                "BIMI",
                Status.WARNING,
                "no a= (mark certificate): most mail clients show no logo without one",
            )
        )
    return result


def bimi_needs_enforcement(bimi: BIMIResult, policy: str | None, pct: int | None) -> None:
    """Mail clients show a BIMI logo only for mail under an enforced DMARC policy:
    p=reject, or p=quarantine applied to all of it (pct=100). ``policy``: the DMARC policy
    that applies to the domain (its own p=, or its organisational domain's sp=/p=)."""
    if bimi.logo is None:
        return
    if policy == "reject" or (policy == "quarantine" and (pct is None or pct >= 100)):
        return
    if policy is None:
        why = "the domain has no usable DMARC policy"
    elif policy == "quarantine":
        why = f"DMARC p=quarantine applies to only pct={pct}%"
    else:
        why = f"DMARC policy {policy}"
    bimi.item_list.append(
        Item("BIMI", Status.WARNING, f"no logo will be shown: {why} (BIMI needs DMARC "
             "p=quarantine at pct=100, or p=reject)")
    )  # fmt: skip


# ---------------------------------------------------------------- DNS blocklists


@dataclass
class Listing:
    address: str
    zone: str
    listed: bool | None  # None: the blocklist gave no usable answer
    codes: list[str] = field(default_factory=list)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "zone": self.zone,
            "listed": self.listed,
            "codes": self.codes,
            "reason": self.reason,
        }


@dataclass
class DNSBLResult:
    listings: list[Listing] = field(default_factory=list)
    item_list: list[Item] = field(default_factory=list)

    def items(self) -> list[Item]:
        return self.item_list

    def to_json(self) -> dict[str, Any]:
        return {
            "listings": [x.to_json() for x in self.listings],
            "items": [i.to_json() for i in self.item_list],
        }


def dnsbl_name(address: str, zone: str) -> str:
    """127.0.0.1 → 1.0.0.127.ZONE; an IPv6 address as nibbles (RFC 5782 §2.4)."""
    ip = ipaddress.ip_address(address)
    reversed_ip = ip.reverse_pointer.rsplit(".", 2)[0]  # drop in-addr.arpa / ip6.arpa
    return f"{reversed_ip}.{zone.rstrip('.')}"


def check_dnsbl(
    addresses: Sequence[str], zones: Sequence[str], resolver: dns.resolver.Resolver
) -> DNSBLResult:
    """Each address against each zone: an A record in 127.0.0.0/8 means listed (RFC 5782
    §2.1), NXDOMAIN means not; anything else (an error code such as Spamhaus' 127.255.255.x
    for refused queries, or a failure) is said to be inconclusive."""
    result = DNSBLResult()
    for address in addresses:
        for zone in zones:
            name = dnsbl_name(address, zone)
            answer = query(resolver, name, "A")
            listing = Listing(address, zone, None)
            if answer.failure is Failure.NXDOMAIN or answer.nodata:
                listing.listed = False
            elif answer.failure is not None:
                listing.reason = answer.failure_text
            else:
                listing.codes = sorted(rd.address for rd in answer.rdatas)  # type: ignore[attr-defined]
                real = [
                    c
                    for c in listing.codes
                    if c.startswith("127.") and not c.startswith("127.255.")
                ]
                listing.listed = True if real else None
                if listing.listed:
                    listing.reason = " ".join(query(resolver, name, "TXT").texts())
                else:
                    listing.reason = (
                        f"answered {', '.join(listing.codes)} (an error code, not a listing)"
                    )
            result.listings.append(listing)
            if listing.listed:
                why = f": {listing.reason}" if listing.reason else ""
                result.item_list.append(
                    Item(
                        "DNSBL",
                        Status.ERROR,
                        f"{address} is listed on {zone} ({', '.join(listing.codes)}){why}",
                    )
                )
            elif listing.listed is False:
                result.item_list.append(
                    Item("DNSBL", Status.OK, f"{address} is not listed on {zone}")
                )
            else:
                result.item_list.append(
                    Item(
                        "DNSBL",
                        Status.WARNING,
                        f"{address} on {zone}: inconclusive ({listing.reason})",
                    )
                )
    return result

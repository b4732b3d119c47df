"""MX resolution (RFC 5321 §5.1, RFC 7505) and the order a client tries exchangers in."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import groupby
from typing import Any

import dns.name
import dns.rdtypes.ANY.MX
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.resolver

from smtpsh.dnsinfo.lookup import FAILURE_TEXT, Answer, Failure, name_text, query
from smtpsh.dnsinfo.model import Item, Status


class MXKind(str, Enum):
    MX = "mx"  # the domain publishes MX records
    IMPLICIT = "implicit"  # no MX: the domain's own A/AAAA (RFC 5321 §5.1)
    NULL = "null"  # "MX 0 ." (RFC 7505): the domain accepts no mail
    NONE = "none"  # no MX and no address: nowhere to deliver
    FAILED = "failed"  # the MX lookup itself failed (NXDOMAIN, SERVFAIL, timeout)


@dataclass(frozen=True)
class Exchanger:
    preference: int
    host: str
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # why it cannot be used
    warnings: tuple[str, ...] = ()  # usable, but not as the RFCs want
    implicit: bool = False
    # Every address answer that held records carried the AD bit: DANE applies to an MX host
    # only when its addresses were obtained securely (RFC 7672 §2.2.2).
    addresses_authenticated: bool = False

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.ipv4 + self.ipv6

    def to_json(self) -> dict[str, Any]:
        return {
            "preference": self.preference,
            "host": self.host,
            "ipv4": list(self.ipv4),
            "ipv6": list(self.ipv6),
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "implicit": self.implicit,
            "addresses_dnssec_validated": self.addresses_authenticated,
        }


@dataclass(frozen=True)
class MXResult:
    domain: str
    kind: MXKind
    exchangers: tuple[Exchanger, ...] = ()
    failure: Failure | None = None
    null_mixed: bool = False  # a "0 ." record next to real ones (RFC 7505 §3 forbids it)
    # The MX answer carried the AD bit: DANE applies only behind a secure MX RRset (RFC 7672
    # §2.2.1), as a forged one can name any host.
    authenticated: bool = False

    @property
    def accepts_mail(self) -> bool:
        return self.kind in (MXKind.MX, MXKind.IMPLICIT) and any(
            e.addresses for e in self.exchangers
        )

    @property
    def summary(self) -> str:
        """One line saying where mail for the domain goes."""
        return _KIND_SUMMARY[self.kind](self)

    def items(self) -> list[Item]:
        return mx_items(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "kind": self.kind.value,
            "accepts_mail": self.accepts_mail,
            "summary": self.summary,
            "failure": self.failure.value if self.failure else None,
            "null_mx_mixed": self.null_mixed,
            "dnssec_validated": self.authenticated,
            "exchangers": [e.to_json() for e in self.exchangers],
            "candidates": [{"host": h, "address": a} for h, a in mx_candidates(self)],
        }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_KIND_SUMMARY = {
    MXKind.MX: lambda r: f"{_plural(len(r.exchangers), 'MX record')} for {r.domain}",
    MXKind.IMPLICIT: lambda r: (
        f"no MX for {r.domain}: implicit MX, the domain's own address (RFC 5321 §5.1)"
    ),
    MXKind.NULL: lambda r: f"null MX (RFC 7505): {r.domain} accepts no mail",
    MXKind.NONE: lambda r: f"no MX and no address for {r.domain}: mail cannot be delivered",
    MXKind.FAILED: lambda r: (
        f"MX lookup for {r.domain} failed: "
        + (FAILURE_TEXT[r.failure] if r.failure else "unknown error")
    ),
}


def _addresses(answer: Answer) -> tuple[str, ...]:
    return tuple(
        rd.address
        for rd in answer.rdatas
        if isinstance(rd, dns.rdtypes.IN.A.A | dns.rdtypes.IN.AAAA.AAAA)
    )


def _resolve_host(
    resolver: dns.resolver.Resolver, preference: int, host: str, implicit: bool = False
) -> Exchanger:
    problems: list[str] = []
    warnings: list[str] = []
    if _is_ip_literal(host):
        # An MX target must be a host name (RFC 5321 §5.1); some servers publish IPs.
        problems.append("is an IP address, not a host name")
        return Exchanger(preference, host, problems=tuple(problems), implicit=implicit)
    a = query(resolver, host, "A")
    aaaa = query(resolver, host, "AAAA")
    ipv4, ipv6 = _addresses(a), _addresses(aaaa)
    if not ipv4 and not ipv6:
        if a.failure is Failure.NXDOMAIN:
            problems.append("does not exist (NXDOMAIN)")
        elif a.failure or aaaa.failure:
            failed = a if a.failure else aaaa
            problems.append(f"address lookup failed: {failed.failure_text}")
        else:
            problems.append("has no A or AAAA record")
    for answer in (a, aaaa):
        if answer.rdatas and answer.canonical and answer.canonical != host and not implicit:
            # RFC 2181 §10.3: an MX must not point at an alias.
            warnings.append(f"is an alias (CNAME to {answer.canonical}), RFC 2181 §10.3")
            break
    answered = [answer for answer in (a, aaaa) if answer.rdatas]
    secure = bool(answered) and all(answer.authenticated for answer in answered)
    return Exchanger(preference, host, ipv4, ipv6, tuple(problems), tuple(warnings), implicit,
                     secure)  # fmt: skip


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def order_by_preference(
    records: Sequence[tuple[int, str]], rng: random.Random | None = None
) -> list[tuple[int, str]]:
    """Lowest preference first; equal preferences in random order (RFC 5321 §5.1)."""
    shuffle = (rng or random).shuffle
    ordered: list[tuple[int, str]] = []
    for _, group in groupby(sorted(records, key=lambda r: r[0]), key=lambda r: r[0]):
        same = list(group)
        shuffle(same)
        ordered.extend(same)
    return ordered


def resolve_mx(
    domain: str, resolver: dns.resolver.Resolver, rng: random.Random | None = None
) -> MXResult:
    """Where mail for ``domain`` goes: MX, implicit MX, null MX, or why not."""
    answer = query(resolver, domain, "MX")
    if answer.failure:
        return MXResult(domain, MXKind.FAILED, failure=answer.failure)
    mx = [rd for rd in answer.rdatas if isinstance(rd, dns.rdtypes.ANY.MX.MX)]
    records = [(rd.preference, name_text(rd.exchange)) for rd in mx]
    real = [(rd.preference, name_text(rd.exchange)) for rd in mx if rd.exchange != dns.name.root]
    if records and not real:
        # Only "0 .": RFC 7505 null MX.
        return MXResult(domain, MXKind.NULL)
    if not records:
        implicit = _resolve_host(resolver, 0, domain, implicit=True)
        if implicit.addresses:
            secure = answer.authenticated
            return MXResult(domain, MXKind.IMPLICIT, (implicit,), authenticated=secure)
        return MXResult(domain, MXKind.NONE, authenticated=answer.authenticated)
    exchangers = tuple(_resolve_host(resolver, p, h) for p, h in order_by_preference(real, rng))
    return MXResult(domain, MXKind.MX, exchangers, null_mixed=len(real) != len(records),
                    authenticated=answer.authenticated)  # fmt: skip


def mx_candidates(result: MXResult, families: Sequence[int] = (4, 6)) -> list[tuple[str, str]]:
    """(host, address) pairs in the order a client should try them.

    Exchangers keep their preference order (already shuffled within equal
    preferences by :func:`resolve_mx`); within one exchanger, addresses go by
    ``families`` (IPv4 first by default). Empty when the domain accepts no mail.
    """
    if result.kind not in (MXKind.MX, MXKind.IMPLICIT):
        return []
    by_family = {4: "ipv4", 6: "ipv6"}
    return [
        (ex.host, address)
        for ex in result.exchangers
        for family in families
        for address in getattr(ex, by_family[family])
    ]


# Status of the summary item by kind of result.
_KIND_STATUS = {
    MXKind.MX: Status.OK,
    MXKind.IMPLICIT: Status.WARNING,
    MXKind.NULL: Status.WARNING,
    MXKind.NONE: Status.ERROR,
    MXKind.FAILED: Status.ERROR,
}


def mx_items(result: MXResult) -> list[Item]:
    items: list[Item] = []
    summary = result.summary
    status = _KIND_STATUS[result.kind]
    if result.kind is MXKind.MX:
        usable = sum(1 for e in result.exchangers if e.addresses)
        summary = f"{summary}, {usable} of {len(result.exchangers)} resolve to an address"
        status = Status.OK if usable else Status.ERROR
    items.append(Item("MX", status, summary))
    if result.null_mixed:
        text = "null MX '0 .' published next to other MX records (RFC 7505 §3)"
        items.append(Item("MX", Status.ERROR, text))
    for ex in result.exchangers:
        items.extend(Item("MX", Status.ERROR, f"{ex.host} {p}") for p in ex.problems)
        items.extend(Item("MX", Status.WARNING, f"{ex.host} {w}") for w in ex.warnings)
    return items

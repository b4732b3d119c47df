"""DANE for SMTP (RFC 7672): TLSA records at ``_25._tcp.<mx>``, decoded by dnspython."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.rdtypes.ANY.TLSA
import dns.resolver

from smtpsh.dnsinfo.lookup import Failure, query
from smtpsh.dnsinfo.model import Item, Status, worst

# RFC 6698 §2.1 / RFC 7218 names; the status says whether SMTP senders use the usage.
TLSA_USAGE: dict[int, tuple[str, Status, str]] = {
    0: ("PKIX-TA", Status.WARNING, "PKIX-TA is not used by SMTP senders (RFC 7672 §3.1.3)"),
    1: ("PKIX-EE", Status.WARNING, "PKIX-EE is not used by SMTP senders (RFC 7672 §3.1.3)"),
    2: ("DANE-TA", Status.OK, "trust anchor: a CA certificate/key of the server's chain"),
    3: ("DANE-EE", Status.OK, "the server's own certificate/key"),
}
TLSA_SELECTOR = {0: "Cert", 1: "SPKI"}
TLSA_MATCHING = {0: "Full", 1: "SHA2-256", 2: "SHA2-512"}


def tlsa_name(host: str, port: int = 25) -> str:
    return f"_{port}._tcp.{host}"


@dataclass(frozen=True)
class TLSARecord:
    usage: int
    selector: int
    mtype: int
    data: str  # hex

    @property
    def usage_name(self) -> str:
        return TLSA_USAGE[self.usage][0] if self.usage in TLSA_USAGE else f"usage {self.usage}"

    @property
    def description(self) -> str:
        selector = TLSA_SELECTOR.get(self.selector, f"selector {self.selector}")
        matching = TLSA_MATCHING.get(self.mtype, f"matching type {self.mtype}")
        return (
            f"{self.usage} {self.selector} {self.mtype} ({self.usage_name}, {selector}, {matching})"
        )

    def problems(self) -> list[tuple[Status, str]]:
        found: list[tuple[Status, str]] = []
        if self.usage not in TLSA_USAGE:
            found.append((Status.ERROR, f"unknown usage {self.usage}"))
        elif TLSA_USAGE[self.usage][1] is not Status.OK:
            found.append(TLSA_USAGE[self.usage][1:])
        if self.selector not in TLSA_SELECTOR:
            found.append((Status.ERROR, f"unknown selector {self.selector}"))
        if self.mtype not in TLSA_MATCHING:
            found.append((Status.ERROR, f"unknown matching type {self.mtype}"))
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "usage": self.usage,
            "usage_name": self.usage_name,
            "selector": self.selector,
            "selector_name": TLSA_SELECTOR.get(self.selector),
            "matching_type": self.mtype,
            "matching_type_name": TLSA_MATCHING.get(self.mtype),
            "data": self.data,
        }


@dataclass
class DANEHost:
    host: str
    name: str
    records: list[TLSARecord] = field(default_factory=list)
    failure: str | None = None
    authenticated: bool = False
    bogus: bool = False  # --trust-anchor found the TLSA answer bogus
    insecure: bool = False  # --trust-anchor proved it unsigned (no DS above its zone)
    # Whether a sender applies these records (RFC 7672 §2.2: the MX, address and TLSA
    # answers all secure), and if not, why: set by judge_applicability.
    applies: bool = False
    not_applied_because: str | None = None
    # No TLSA record: how its absence stands with --trust-anchor's validation (proven by a
    # signed denial, unsigned, bogus...), set by absence_by_anchor.
    absence: Security | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "name": self.name,
            "records": [r.to_json() for r in self.records],
            "failure": self.failure,
            "dnssec_validated": self.authenticated,
            "dnssec_bogus": self.bogus,
            "dnssec_insecure": self.insecure,
            "dane_applies": self.applies,
            "not_applied_because": self.not_applied_because,
            "tlsa_absence": None if self.absence is None else self.absence.to_json(),
        }


@dataclass(frozen=True)
class Security:
    """How one answer DANE rests on stands with DNSSEC: secure, insecure (its zone proven
    unsigned), bogus, indeterminate (from --trust-anchor's validation), or unvalidated (no
    AD bit and no validation of ours)."""

    status: str
    reason: str = ""

    @property
    def secure(self) -> bool:
        return self.status == "secure"

    @property
    def words(self) -> str:
        """What was seen, to follow "its MX answer"."""
        if self.status == "unvalidated":
            return ("carried no AD bit (the DNS server asked did not vouch for it; ask a "
                    "validating resolver or give --trust-anchor)")  # fmt: skip
        verb = {"bogus": "is DNSSEC-bogus", "indeterminate": "could not be validated",
                "insecure": "is unsigned: DNSSEC-insecure"}  # fmt: skip
        said = verb.get(self.status, f"is {self.status}")
        return f"{said} ({self.reason})" if self.reason else said

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason}


@dataclass
class DANEResult:
    hosts: list[DANEHost] = field(default_factory=list)
    item_list: list[Item] = field(default_factory=list)
    # --check-mx: each MX's certificates matched against its TLSA records (danecheck.py).
    checks: list[Any] | None = None
    mx_security: Security | None = None  # the MX answer's, once judged

    def items(self) -> list[Item]:
        return self.item_list

    def to_json(self) -> dict[str, Any]:
        return {
            "hosts": [h.to_json() for h in self.hosts],
            "checks": None if self.checks is None else [c.to_json() for c in self.checks],
            "mx_dnssec": None if self.mx_security is None else self.mx_security.to_json(),
            "items": [i.to_json() for i in self.item_list],
        }


def check_dane(hosts: Sequence[str], resolver: dns.resolver.Resolver) -> DANEResult:
    result = DANEResult()
    items = result.item_list
    for host in dict.fromkeys(hosts):  # keep order, drop repeats
        entry = DANEHost(host, tlsa_name(host))
        answer = query(resolver, entry.name, "TLSA")
        if answer.failure and answer.failure is not Failure.NXDOMAIN:
            # With a signed zone a failed TLSA lookup makes senders defer (RFC 7672 §2.2).
            entry.failure = answer.failure_text
            items.append(Item("DANE", Status.ERROR, f"{entry.name}: {answer.failure_text}"))
        entry.records = [
            TLSARecord(rd.usage, rd.selector, rd.mtype, rd.cert.hex())
            for rd in answer.rdatas
            if isinstance(rd, dns.rdtypes.ANY.TLSA.TLSA)
        ]
        entry.authenticated = answer.authenticated
        result.hosts.append(entry)
    with_tlsa = [h for h in result.hosts if h.records]
    if result.hosts and not with_tlsa:
        if not any(h.failure for h in result.hosts):
            items.append(Item("DANE", Status.WARNING, "no TLSA records for any MX (DANE not used)"))
        return result
    for entry in result.hosts:
        if not entry.records:
            if not entry.failure:
                text = f"{entry.host} has no TLSA record: no DANE for this MX"
                items.append(Item("DANE", Status.WARNING, text))
            continue
        count = f"{len(entry.records)} TLSA record" + ("s" if len(entry.records) > 1 else "")
        shown = "; ".join(r.description for r in entry.records)
        problems = [
            Item("DANE", status, f"{entry.host}: {text}")
            for record in entry.records
            for status, text in record.problems()
        ]
        items.append(Item("DANE", worst(problems), f"{entry.host}: {count}: {shown}"))
        items.extend(problems)
    if any(not h.authenticated for h in with_tlsa):
        items.append(UNVALIDATED)
    return result


# The resolver did not vouch for the TLSA answers. An authoritative server (asked with
# --dns-server) never sets AD, so --trust-anchor may still prove them secure.
UNVALIDATED = Item(
    "DANE",
    Status.WARNING,
    "TLSA answers lack the AD bit (not DNSSEC-validated); senders ignore unsigned TLSA",
)


def validated_by_anchor(result: DANEResult, statuses: dict[str, str]) -> None:
    """Our own DNSSEC validation's verdict on each TLSA name (``statuses``: name -> secure,
    bogus, ...). Secure ones are validated even though the server's answers carried no AD
    bit. A bogus one is not "unsigned TLSA that senders ignore": a validating sender
    treats it as a failed lookup and does not deliver to that MX (RFC 7672 §2.1.1). An
    insecure one (its zone proven unsigned) is what "unsigned TLSA" means: DANE does not
    apply, and judge_applicability says so. The AD warning goes when it covers no host with
    records any more: each was then proven secure, insecure or bogus."""
    for host in result.hosts:
        status = statuses.get(host.name.rstrip(".")) if host.records else None
        if status == "secure":
            host.authenticated = True
        elif status == "bogus":
            # Our validation outweighs a resolver's AD bit: it vouched for a bogus answer.
            host.bogus, host.authenticated = True, False
            result.item_list.append(
                Item("DANE", Status.ERROR,
                     f"{host.host}: its TLSA answer is DNSSEC-bogus: validating senders treat it "
                     "as a failed lookup and do not deliver to this MX (RFC 7672 §2.1.1)")
            )  # fmt: skip
        elif status == "insecure":
            host.insecure, host.authenticated = True, False
    if all(h.authenticated or h.bogus or h.insecure for h in result.hosts if h.records):
        result.item_list = [i for i in result.item_list if i != UNVALIDATED]


def absence_by_anchor(result: DANEResult, checks: dict[str, Security]) -> None:
    """Our own DNSSEC validation's verdict on each MX host without TLSA records
    (``checks``: TLSA name -> how the denial stands). Proven absent, or absent from an
    unsigned zone: no DANE for that MX, as said already. A bogus denial is not "no DANE": a
    validating sender cannot tell that no TLSA record exists and defers mail to that MX
    (RFC 7672 §2.2)."""
    for host in result.hosts:
        found = checks.get(host.name.rstrip("."))
        if host.records or host.failure or found is None:
            continue
        host.absence = found
        if found.status == "bogus":
            result.item_list.append(
                Item("DANE", Status.ERROR,
                     f"{host.host}: the denial of its TLSA record is DNSSEC-bogus: validating "
                     "senders treat the lookup as failed and defer mail to this MX "
                     "(RFC 7672 §2.2)")
            )  # fmt: skip


def judge_applicability(
    result: DANEResult,
    domain: str,
    mx: Security,
    addresses: dict[str, Security],
    tlsa: dict[str, Security],
) -> None:
    """Whether senders apply the TLSA records found: only when the MX answer, the MX host's
    address answers and its TLSA answer were all obtained securely (RFC 7672 §2.2). Signed
    TLSA records behind an unsigned MX answer protect nothing against whoever forges that
    answer: the forged host is one the records do not name (RFC 7672 §2.2.1 lets a sender
    use them anyway, but the host name itself is then unauthenticated)."""
    result.mx_security = mx
    with_records = [h for h in result.hosts if h.records]
    if not with_records:
        return
    if not mx.secure:
        for host in with_records:
            host.not_applied_because = f"the MX answer for {domain} {mx.words}"
        hosts = ", ".join(h.host for h in with_records)
        shown = "is not shown to be" if mx.status in ("unvalidated", "indeterminate") else "is not"
        if mx.status == "bogus":
            then = "validating senders treat the MX lookup as failed and defer (RFC 7672 §2.1.1)"
        else:
            then = (f"a forged MX answer can name a host that the TLSA records of {hosts} do "
                    "not cover (RFC 7672 §2.2.1)")  # fmt: skip
        result.item_list.append(
            Item("DANE", Status.ERROR if mx.status == "bogus" else Status.WARNING,
                 f"mail for {domain} {shown} DANE-protected: its MX answer {mx.words}; {then}")
        )  # fmt: skip
        return
    for host in with_records:
        address = addresses.get(host.host, Security("indeterminate", "no address answer"))
        record = tlsa.get(host.host, Security("unvalidated"))
        if not address.secure:
            host.not_applied_because = f"its address answer {address.words}"
            text = (f"{host.host}: DANE does not apply: its address answer {address.words}; "
                    "senders use TLSA records only for an MX host whose addresses were "
                    "obtained securely (RFC 7672 §2.2.2)")  # fmt: skip
        elif not record.secure:
            host.not_applied_because = f"its TLSA answer {record.words}"
            if record.status == "bogus":
                continue  # said by validated_by_anchor, with what senders then do
            text = (f"{host.host}: DANE does not apply: its TLSA answer {record.words} "
                    "(RFC 7672 §2.2)")  # fmt: skip
        else:
            host.applies = True
            result.item_list.append(
                Item("DANE", Status.OK, f"{host.host}: DANE applies to mail for {domain}: its "
                     "MX, address and TLSA answers are DNSSEC-validated (RFC 7672 §2.2)")
            )  # fmt: skip
            continue
        bogus = "bogus" in (address.status, record.status)
        result.item_list.append(Item("DANE", Status.ERROR if bogus else Status.WARNING, text))

"""DNSSEC validation of the answers smtpsh relies on (MX, TLSA, the MTA-STS record), from
trust anchors the user configures (`smtpsh dns DOMAIN --trust-anchor FILE`).

A trust anchor is a DS or DNSKEY record of a zone, in zone-file syntax, as resolvers take
them (`signed.test. IN DS 41014 13 2 ce25...`). The validator asks the server for the
zone's DNSKEY set and the answer with the DO bit, checks that a DNSKEY matches an anchor
and signs the DNSKEY set, then that the answer's RRSIG verifies with those keys
(dnspython's dns.dnssec, on `cryptography`). Verdicts (RFC 4035 §4.3): secure, bogus (a
signature is missing or does not verify), or indeterminate: no anchor covers the name (the
RFC's own meaning of the word), or the server did not answer in a way that can be judged.
Never "insecure": that needs a validated proof that the zone is unsigned (a DS chain down
to an NSEC/NSEC3 denial of the DS), and neither DS chains nor denials are checked here;
an answer that does not exist is not proven not to exist either.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from smtpsh.dnsinfo.model import Item, Status

_MAX_ANCHORS_FILE = 1 << 20


class TrustAnchorError(ValueError):
    """The trust-anchor file cannot be used; the message is one line."""


def _dnssec() -> Any:
    with warnings.catch_warnings():
        # cryptography warns about DSA when dnspython loads its algorithms: not ours to print.
        warnings.simplefilter("ignore")
        import dns.dnssec

    return dns.dnssec


def load_trust_anchors(path: str) -> dict[dns.name.Name, list[dns.rdata.Rdata]]:
    """DS and DNSKEY records by owner name, from a zone-file-like text."""
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_ANCHORS_FILE + 1)
    except OSError as exc:
        raise TrustAnchorError(f"--trust-anchor {path}: {exc.strerror or exc}") from None
    if len(raw) > _MAX_ANCHORS_FILE:
        raise TrustAnchorError(f"--trust-anchor {path}: larger than 1 MiB")
    anchors: dict[dns.name.Name, list[dns.rdata.Rdata]] = {}
    for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
        words = line.split(";", 1)[0].split()
        if not words:
            continue
        try:
            owner = dns.name.from_text(words[0])
            rest = words[1:]
            # skip an optional TTL and the class before the type
            while rest and (rest[0].isdigit() or rest[0].upper() == "IN"):
                rest.pop(0)
            rdtype = dns.rdatatype.from_text(rest[0])
            if rdtype not in (dns.rdatatype.DS, dns.rdatatype.DNSKEY):
                raise ValueError(f"{rest[0]} is not DS or DNSKEY")
            rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, " ".join(rest[1:]))
        except (dns.exception.DNSException, ValueError, IndexError) as exc:
            raise TrustAnchorError(f"--trust-anchor {path}:{number}: not a DS or DNSKEY record "
                                   f"({exc})") from None  # fmt: skip
        anchors.setdefault(owner, []).append(rdata)
    if not anchors:
        raise TrustAnchorError(f"--trust-anchor {path}: no DS or DNSKEY record in it")
    return anchors


@dataclass
class Validation:
    name: str
    rdtype: str
    status: str  # secure, bogus, indeterminate (never insecure: see the module's doc)
    reason: str = ""
    zone: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.rdtype, "status": self.status,
                "reason": self.reason, "zone": self.zone}  # fmt: skip


@dataclass
class DNSSECResult:
    checks: list[Validation] = field(default_factory=list)
    item_list: list[Item] = field(default_factory=list)

    def items(self) -> list[Item]:
        return self.item_list

    def to_json(self) -> dict[str, Any]:
        return {"checks": [c.to_json() for c in self.checks],
                "items": [i.to_json() for i in self.item_list]}  # fmt: skip


def _utc(seconds: int) -> str:
    import datetime

    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def signature_failure(sigs: dns.rrset.RRset, exc: Exception, now: float | None = None) -> str:
    """Why ``sigs`` did not verify, in words: dnspython says only "no RRSIGs validated",
    and an expired signature (the commonest DNSSEC failure) deserves its date."""
    import time

    now = time.time() if now is None else now
    expirations = [int(sig.expiration) for sig in sigs]  # type: ignore[attr-defined]
    inceptions = [int(sig.inception) for sig in sigs]  # type: ignore[attr-defined]
    if expirations and all(e < now for e in expirations):
        return f"its signature expired on {_utc(max(expirations))}"
    if inceptions and all(i > now for i in inceptions):
        return f"its signature is not valid before {_utc(min(inceptions))}"
    return f"its signature does not verify ({exc})"


class Validator:
    def __init__(
        self,
        anchors: dict[dns.name.Name, list[dns.rdata.Rdata]],
        server: str,
        port: int = 53,
        timeout: float = 5.0,
    ) -> None:
        self.anchors = anchors
        self.server, self.port, self.timeout = server, port, timeout
        self._keys: dict[dns.name.Name, dns.rrset.RRset | str] = {}

    def _ask(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        query = dns.message.make_query(name, rdtype, want_dnssec=True)
        response = dns.query.udp(query, self.server, timeout=self.timeout, port=self.port)
        if response.flags & dns.flags.TC:
            response = dns.query.tcp(query, self.server, timeout=self.timeout, port=self.port)
        return response

    def _anchor_zone(self, name: dns.name.Name) -> dns.name.Name | None:
        covering = [z for z in self.anchors if name.is_subdomain(z)]
        return max(covering, key=lambda z: len(z.labels)) if covering else None

    def _zone_keys(self, zone: dns.name.Name) -> dns.rrset.RRset | str:
        """The zone's DNSKEY set once proven by an anchor, or why it could not be."""
        if zone in self._keys:
            return self._keys[zone]
        dnssec = _dnssec()
        try:
            response = self._ask(zone, dns.rdatatype.DNSKEY)
            keys = response.find_rrset(response.answer, zone, dns.rdataclass.IN,
                                       dns.rdatatype.DNSKEY)  # fmt: skip
            sigs = response.find_rrset(response.answer, zone, dns.rdataclass.IN,
                                       dns.rdatatype.RRSIG, dns.rdatatype.DNSKEY)  # fmt: skip
        except KeyError:
            self._keys[zone] = f"no signed DNSKEY set for {zone}"
            return self._keys[zone]
        except (dns.exception.DNSException, OSError) as exc:
            self._keys[zone] = f"DNSKEY query for {zone} failed: {exc}"
            return self._keys[zone]
        trusted = []
        for anchor in self.anchors[zone]:
            for key in keys:
                if anchor.rdtype == dns.rdatatype.DNSKEY and anchor == key:
                    trusted.append(key)
                elif anchor.rdtype == dns.rdatatype.DS:
                    algorithm = {1: "SHA1", 2: "SHA256", 4: "SHA384"}.get(anchor.digest_type)  # type: ignore[attr-defined]
                    if algorithm and dnssec.make_ds(zone, key, algorithm) == anchor:
                        trusted.append(key)
        if not trusted:
            self._keys[zone] = f"no DNSKEY of {zone} matches its trust anchor"
            return self._keys[zone]
        try:
            anchor_set = dns.rrset.from_rdata_list(zone, keys.ttl, trusted)
            dnssec.validate(keys, sigs, {zone: anchor_set})
        except dnssec.ValidationFailure as exc:
            why = signature_failure(sigs, exc)
            self._keys[zone] = (f"the DNSKEY set of {zone.to_text(omit_final_dot=True)} does not "
                               f"verify with its anchor: {why}")
            return self._keys[zone]
        self._keys[zone] = keys
        return keys

    def _signed_or_not(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> str:
        """What the answer showed, for a name no anchor covers: signatures or none (which
        proves nothing either way: anyone on the path can strip them)."""
        try:
            response = self._ask(name, rdtype)
            response.find_rrset(response.answer, name, dns.rdataclass.IN, rdtype)
        except (dns.exception.DNSException, OSError, KeyError):
            return ""
        try:
            response.find_rrset(response.answer, name, dns.rdataclass.IN, dns.rdatatype.RRSIG,
                                rdtype)  # fmt: skip
        except KeyError:
            return "; the answer came unsigned, without RRSIG"
        return "; the answer came signed, but nothing here can check the signature"

    def validate(self, name_text: str, rdtype_text: str) -> Validation:
        name = dns.name.from_text(name_text)
        rdtype = dns.rdatatype.from_text(rdtype_text)
        result = Validation(name_text.rstrip("."), rdtype_text, "indeterminate")
        zone = self._anchor_zone(name)
        if zone is None:
            # Not "insecure": the zone may well be signed under an anchor not given.
            result.reason = "no trust anchor covers this name" + self._signed_or_not(name, rdtype)
            return result
        result.zone = zone.to_text(omit_final_dot=True)
        keys = self._zone_keys(zone)
        if isinstance(keys, str):
            result.status, result.reason = "bogus", keys
            return result
        dnssec = _dnssec()
        try:
            response = self._ask(name, rdtype)
        except (dns.exception.DNSException, OSError) as exc:
            result.status, result.reason = "indeterminate", f"query failed: {exc}"
            return result
        try:
            rrset = response.find_rrset(response.answer, name, dns.rdataclass.IN, rdtype)
        except KeyError:
            result.status = "indeterminate"
            result.reason = "no such record (authenticated denial is not checked)"
            return result
        try:
            sigs = response.find_rrset(response.answer, name, dns.rdataclass.IN,
                                       dns.rdatatype.RRSIG, rdtype)  # fmt: skip
        except KeyError:
            result.status, result.reason = "bogus", "the answer carries no RRSIG in a signed zone"
            return result
        try:
            dnssec.validate(rrset, sigs, {zone: keys})
        except dnssec.ValidationFailure as exc:
            result.status, result.reason = "bogus", signature_failure(sigs, exc)
            return result
        result.status = "secure"
        result.reason = f"validated from the trust anchor of {result.zone}"
        return result


def check_dnssec(
    names: Sequence[tuple[str, str]], validator: Validator
) -> DNSSECResult:
    """Validate each (name, type); an item per answer."""
    result = DNSSECResult()
    status_of = {"secure": Status.OK, "insecure": Status.WARNING,
                 "indeterminate": Status.WARNING, "bogus": Status.ERROR}  # fmt: skip
    for name, rdtype in names:
        check = validator.validate(name, rdtype)
        result.checks.append(check)
        result.item_list.append(
            Item("DNSSEC", status_of[check.status],
                 f"{check.rdtype} {check.name}: {check.status} ({check.reason})")
        )  # fmt: skip
    return result


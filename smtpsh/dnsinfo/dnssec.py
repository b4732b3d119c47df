"""DNSSEC validation of the answers smtpsh relies on (MX, TLSA, the MTA-STS record), from
trust anchors the user configures (`smtpsh dns DOMAIN --trust-anchor FILE`).

A trust anchor is a DS or DNSKEY record of a zone, in zone-file syntax, as resolvers take
them (`signed.test. IN DS 41014 13 2 ce25...`). The validator asks the server, with the DO
bit, for the answer and for what links the answer's zone to the anchor: the zone is the
answer's RRSIG signer (or, for an unsigned answer, the SOA the server names); for each zone
cut between it and the anchor, the parent's DS set (its RRSIG verified with the parent's
keys) must match a DNSKEY of the child that signs the child's DNSKEY set, or the parent
must prove with signed NSEC/NSEC3 records that there is no DS (denial.py). Then the
answer's RRSIG must verify with its zone's keys (dnspython's dns.dnssec, on
`cryptography`). Verdicts (RFC 4035 §4.3, §5): secure; insecure (a signed parent proves the
zone has no DS: its answers are unsigned by design, not broken); bogus (a signature is
missing or does not verify, a DS matches no key); or indeterminate: no anchor covers the
name (the RFC's own meaning of the word), or the server did not answer in a way that can
be judged (a failed query, an unsigned denial, a DS query answered by the child itself,
a DS set or anchor with only algorithms smtpsh cannot check).
A record that does not exist (NODATA or NXDOMAIN) is judged the same way, by the denial
its zone signed (denial.deny_answer, RFC 4035 §5.4, RFC 5155 §8): "proven absent" (secure,
with ``exists`` False), absent in an unsigned zone (insecure), a bogus denial, or unproven.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from smtpsh.dnsinfo.denial import deny_answer, deny_ds
from smtpsh.dnsinfo.model import Item, Status
from smtpsh.dnsinfo.rrsig import dnssec_module, signature_failure

_MAX_ANCHORS_FILE = 1 << 20


class TrustAnchorError(ValueError):
    """The trust-anchor file cannot be used; the message is one line."""


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
    status: str  # secure, insecure, bogus, indeterminate (see the module's doc)
    reason: str = ""
    zone: str = ""
    # False: the answer had no such record, and the status is its denial's (secure: proven
    # absent, by NSEC/NSEC3 records that verify).
    exists: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.rdtype, "status": self.status,
                "reason": self.reason, "zone": self.zone, "exists": self.exists}  # fmt: skip


@dataclass
class DNSSECResult:
    checks: list[Validation] = field(default_factory=list)
    item_list: list[Item] = field(default_factory=list)

    def items(self) -> list[Item]:
        return self.item_list

    def to_json(self) -> dict[str, Any]:
        return {"checks": [c.to_json() for c in self.checks],
                "items": [i.to_json() for i in self.item_list]}  # fmt: skip


# DS digest types and DNSKEY algorithms dnspython checks. A DS set (or trust anchor) with
# none of them leaves no path to follow: RFC 4035 §5.2 has a validator without them treat
# the zone as unsigned, but one with them may find it secure or bogus, so what senders see
# depends on theirs. smtpsh says it cannot tell (indeterminate), and why.
_DIGESTS = {1: "SHA1", 2: "SHA256", 4: "SHA384"}
_ALGORITHMS = {5, 7, 8, 10, 13, 14, 15, 16}


def _supported(records: Sequence[dns.rdata.Rdata]) -> list[dns.rdata.Rdata]:
    """The DS and DNSKEY records with an algorithm (and, for DS, a digest) smtpsh checks;
    the others are ignored (RFC 6840 §5.2)."""
    return [r for r in records if r.algorithm in _ALGORITHMS  # type: ignore[attr-defined]
            and (r.rdtype != dns.rdatatype.DS or r.digest_type in _DIGESTS)]  # type: ignore[attr-defined]  # fmt: skip


def _unsupported_words(records: Sequence[dns.rdata.Rdata]) -> str:
    """What the records use, for the reason: 'DNSKEY algorithm 12 (ECCGOST) with digest
    type 3 (GOST)'."""
    dnssec = dnssec_module()
    said = []
    for record in records:
        number = record.algorithm  # type: ignore[attr-defined]
        name = dnssec.algorithm_to_text(number)
        text = f"DNSKEY algorithm {number}" + (f" ({name})" if name != str(number) else "")
        if record.rdtype == dns.rdatatype.DS:
            digest = record.digest_type  # type: ignore[attr-defined]
            known = {**_DIGESTS, 3: "GOST"}.get(digest)
            text += f" with digest type {digest}" + (f" ({known})" if known else "")
        said.append(text)
    return ", ".join(dict.fromkeys(said))


def _no_path(what: str, records: Sequence[dns.rdata.Rdata]) -> ZoneState:
    return ZoneState("indeterminate", f"{what} names only algorithms smtpsh cannot check "
                     f"({_unsupported_words(records)}): validators without them take the zone "
                     "as unsigned (RFC 4035 §5.2), those with them may find it secure or "
                     "bogus")  # fmt: skip


@dataclass(frozen=True)
class ZoneState:
    """Where a zone stands on the chain from a trust anchor: secure (with its validated
    DNSKEY set), insecure (proven unsigned), bogus or indeterminate, and why."""

    status: str
    reason: str
    keys: dns.rrset.RRset | None = None


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True)


class Validator:
    """Validates answers from the trust anchors down: each zone cut below an anchor is
    followed through its DS (signed by the parent) to the child's DNSKEY set, or through the
    parent's signed proof that there is no DS (the child is then insecure)."""

    def __init__(
        self,
        anchors: dict[dns.name.Name, list[dns.rdata.Rdata]],
        server: str,
        port: int = 53,
        timeout: float = 5.0,
    ) -> None:
        self.anchors = anchors
        self.server, self.port, self.timeout = server, port, timeout
        self._zones: dict[dns.name.Name, ZoneState] = {}

    def _ask(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        query = dns.message.make_query(name, rdtype, want_dnssec=True)
        response = dns.query.udp(query, self.server, timeout=self.timeout, port=self.port)
        if response.flags & dns.flags.TC:
            response = dns.query.tcp(query, self.server, timeout=self.timeout, port=self.port)
        return response

    def _anchor_zone(self, name: dns.name.Name) -> dns.name.Name | None:
        covering = [z for z in self.anchors if name.is_subdomain(z)]
        return max(covering, key=lambda z: len(z.labels)) if covering else None

    def _keys_from(self, zone: dns.name.Name, trusted: Sequence[dns.rdata.Rdata],
                   source: str) -> ZoneState:  # fmt: skip
        """The zone's DNSKEY set, once a key of it matches one of ``trusted`` (DS or DNSKEY
        records: an anchor, or the DS set its parent signed) and signs the set."""
        dnssec = dnssec_module()
        try:
            response = self._ask(zone, dns.rdatatype.DNSKEY)
        except (dns.exception.DNSException, OSError) as exc:
            return ZoneState("indeterminate", f"DNSKEY query for {_text(zone)} failed: {exc}")
        try:
            keys = response.find_rrset(response.answer, zone, dns.rdataclass.IN,
                                       dns.rdatatype.DNSKEY)  # fmt: skip
            sigs = response.find_rrset(response.answer, zone, dns.rdataclass.IN,
                                       dns.rdatatype.RRSIG, dns.rdatatype.DNSKEY)  # fmt: skip
        except KeyError:
            return ZoneState("bogus", f"no signed DNSKEY set for {_text(zone)}")
        matching = []
        for record in trusted:
            for key in keys:
                if record.rdtype == dns.rdatatype.DNSKEY and record == key:
                    matching.append(key)
                elif record.rdtype == dns.rdatatype.DS:
                    algorithm = _DIGESTS.get(record.digest_type)  # type: ignore[attr-defined]
                    if algorithm and dnssec.make_ds(zone, key, algorithm) == record:
                        matching.append(key)
        if not matching:
            return ZoneState("bogus", f"no DNSKEY of {_text(zone)} matches {source}")
        try:
            anchor_set = dns.rrset.from_rdata_list(zone, keys.ttl, matching)
            dnssec.validate(keys, sigs, {zone: anchor_set})
        except dnssec.ValidationFailure as exc:
            why = signature_failure(sigs, exc)
            return ZoneState("bogus", f"the DNSKEY set of {_text(zone)} does not verify with "
                             f"{source}: {why}")  # fmt: skip
        return ZoneState("secure", "", keys)

    def _zone_of(self, name: dns.name.Name) -> dns.name.Name | str:
        """The apex of the zone ``name`` is in, by the SOA the server answers with (in the
        answer at an apex, in the authority section below one), or why not."""
        try:
            response = self._ask(name, dns.rdatatype.SOA)
        except (dns.exception.DNSException, OSError) as exc:
            return f"SOA query for {_text(name)} failed: {exc}"
        for rrset in [*response.answer, *response.authority]:
            if rrset.rdtype == dns.rdatatype.SOA and name.is_subdomain(rrset.name):
                return rrset.name
        return f"the server names no zone for {_text(name)} (no SOA in its answer)"

    def zone_state(self, zone: dns.name.Name) -> ZoneState:
        """How ``zone`` stands, from the nearest trust anchor above or at it."""
        if zone not in self._zones:
            anchor = self._anchor_zone(zone)
            if anchor is None:
                state = ZoneState("indeterminate", f"no trust anchor covers {_text(zone)}")
            elif zone == anchor:
                given = self.anchors[zone]
                usable = _supported(given)
                state = (self._keys_from(zone, usable, "its trust anchor") if usable
                         else _no_path(f"the trust anchor of {_text(zone)}", given))  # fmt: skip
            else:
                state = self._delegation(zone, anchor)
            self._zones[zone] = state
        return self._zones[zone]

    def _parent_state(self, zone: dns.name.Name, parent: dns.name.Name,
                      anchor: dns.name.Name) -> ZoneState:  # fmt: skip
        """The state of the zone that answered for ``zone``'s DS, once it is shown to be
        one above ``zone`` and under the anchor."""
        if parent == zone:
            return ZoneState("indeterminate", f"the DS query for {_text(zone)} was answered by "
                             f"{_text(zone)} itself, not by its parent zone: this server "
                             "cannot show whether the parent holds a DS")  # fmt: skip
        if not (zone.is_subdomain(parent) and parent.is_subdomain(anchor)):
            return ZoneState("indeterminate", f"the DS query for {_text(zone)} was answered "
                             f"for {_text(parent)}, not a zone between it and the trust anchor "
                             f"of {_text(anchor)}")  # fmt: skip
        return self.zone_state(parent)

    def _delegation(self, zone: dns.name.Name, anchor: dns.name.Name) -> ZoneState:
        """A zone below an anchor: its parent's DS for it (validated with the parent's keys)
        leads to its keys; the parent's signed proof of no DS makes it insecure."""
        dnssec = dnssec_module()
        try:
            response = self._ask(zone, dns.rdatatype.DS)
        except (dns.exception.DNSException, OSError) as exc:
            return ZoneState("indeterminate", f"DS query for {_text(zone)} failed: {exc}")
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return ZoneState("indeterminate", f"the DS query for {_text(zone)} was answered "
                             f"{dns.rcode.to_text(rcode)}")  # fmt: skip
        try:
            ds = response.find_rrset(response.answer, zone, dns.rdataclass.IN, dns.rdatatype.DS)
        except KeyError:
            ds = None
        if ds is not None:
            try:
                sigs = response.find_rrset(response.answer, zone, dns.rdataclass.IN,
                                           dns.rdatatype.RRSIG, dns.rdatatype.DS)  # fmt: skip
            except KeyError:
                sigs = None
            found = self._zone_of(zone.parent()) if sigs is None else sigs[0].signer  # type: ignore[attr-defined]
            if isinstance(found, str):
                return ZoneState("indeterminate", found)
            parent = self._parent_state(zone, found, anchor)
            if parent.status != "secure" or parent.keys is None:
                return parent
            where = f"the DS set of {_text(zone)} in {_text(found)}"
            if sigs is None:
                return ZoneState("bogus", f"{where} is unsigned, in a signed zone")
            try:
                dnssec.validate(ds, sigs, {found: parent.keys})
            except dnssec.ValidationFailure as exc:
                why = signature_failure(sigs, exc)
                return ZoneState("bogus", f"{where} does not verify: {why}")
            usable = _supported(list(ds))
            if not usable:
                return _no_path(where, list(ds))
            return self._keys_from(zone, usable, f"its DS in {_text(found)}")
        # No DS: which zone says so (the signer of its proof, else its SOA), and its proof.
        proofs = (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)
        signers = [r[0].signer for r in response.authority  # type: ignore[attr-defined]
                   if r.rdtype == dns.rdatatype.RRSIG and r.covers in proofs]  # fmt: skip
        denier = signers[0] if signers else None
        if denier is None:
            denier = next((r.name for r in response.authority if r.rdtype == dns.rdatatype.SOA),
                          None)  # fmt: skip
        if denier is None:
            return ZoneState("indeterminate", f"the answer to the DS query for {_text(zone)} "
                             "names no zone that denies it (no SOA, no NSEC)")  # fmt: skip
        parent = self._parent_state(zone, denier, anchor)
        if parent.status != "secure" or parent.keys is None:
            return parent
        denial = deny_ds(zone, denier, response.authority, parent.keys)
        return ZoneState(denial.status, denial.reason)

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
        anchor = self._anchor_zone(name)
        if anchor is None:
            # Not "insecure": the zone may well be signed under an anchor not given.
            result.reason = "no trust anchor covers this name" + self._signed_or_not(name, rdtype)
            return result
        result.zone = _text(anchor)
        dnssec = dnssec_module()
        try:
            response = self._ask(name, rdtype)
        except (dns.exception.DNSException, OSError) as exc:
            result.status, result.reason = "indeterminate", f"query failed: {exc}"
            return result
        try:
            rrset = response.find_rrset(response.answer, name, dns.rdataclass.IN, rdtype)
        except KeyError:
            return self._absent(result, name, rdtype, response, anchor)
        try:
            sigs = response.find_rrset(response.answer, name, dns.rdataclass.IN,
                                       dns.rdatatype.RRSIG, rdtype)  # fmt: skip
        except KeyError:
            sigs = None
        # The zone the answer comes from: its signer, or for an unsigned answer the SOA the
        # server names; one outside the anchor's tree is judged as the anchor's own.
        found = sigs[0].signer if sigs is not None else self._zone_of(name)  # type: ignore[attr-defined]
        if isinstance(found, str):
            result.reason = f"the answer came unsigned, and its zone is unknown: {found}"
            return result
        zone: dns.name.Name = found
        if not (name.is_subdomain(zone) and zone.is_subdomain(anchor)):
            zone = anchor
        result.zone = _text(zone)
        state = self.zone_state(zone)
        if state.status != "secure" or state.keys is None:
            result.status, result.reason = state.status, state.reason
            if state.status == "insecure":
                result.reason += f": {result.zone} is not signed"
            return result
        if sigs is None:
            result.status, result.reason = "bogus", "the answer carries no RRSIG in a signed zone"
            return result
        try:
            dnssec.validate(rrset, sigs, {zone: state.keys})
        except dnssec.ValidationFailure as exc:
            result.status, result.reason = "bogus", signature_failure(sigs, exc)
            return result
        result.status = "secure"
        result.reason = f"validated from the trust anchor of {_text(anchor)}"
        if zone != anchor:
            result.reason += f", down the DS chain to {result.zone}"
        return result


    def _absent(self, result: Validation, name: dns.name.Name, rdtype: dns.rdatatype.RdataType,
                response: dns.message.Message, anchor: dns.name.Name) -> Validation:  # fmt: skip
        """An answer without the record: whether its zone proves there is none."""
        result.exists = False
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            result.reason = (f"no answer to judge: the query was answered "
                             f"{dns.rcode.to_text(rcode)}")  # fmt: skip
            return result
        alias = next((r for r in response.answer if r.name == name
                      and r.rdtype == dns.rdatatype.CNAME), None)  # fmt: skip
        if alias is not None:
            result.reason = (f"no such record here: {result.name} is an alias (CNAME to "
                             f"{_text(alias[0].target)}), which is not followed")  # type: ignore[attr-defined]  # fmt: skip
            return result
        # The zone that denies it: the signer of its proof, else the SOA it names.
        kinds = (dns.rdatatype.NSEC, dns.rdatatype.NSEC3, dns.rdatatype.SOA)
        signers = [r[0].signer for r in response.authority  # type: ignore[attr-defined]
                   if r.rdtype == dns.rdatatype.RRSIG and r.covers in kinds]  # fmt: skip
        soa = [r.name for r in response.authority if r.rdtype == dns.rdatatype.SOA]
        zone = (signers or soa or [None])[0]
        if zone is None or not (name.is_subdomain(zone) and zone.is_subdomain(anchor)):
            result.reason = ("no such record, and the answer names no zone under the trust "
                             f"anchor of {_text(anchor)} that denies it: its absence is not "
                             "proven")  # fmt: skip
            return result
        result.zone = _text(zone)
        state = self.zone_state(zone)
        if state.status != "secure" or state.keys is None:
            result.status = state.status
            result.reason = (f"no such record, absent and unsigned: {state.reason}: "
                             f"{result.zone} is not signed" if state.status == "insecure" else
                             f"no such record, its absence not proven: {state.reason}")  # fmt: skip
            return result
        denial = deny_answer(name, rdtype, zone, rcode == dns.rcode.NXDOMAIN,
                             response.authority, state.keys)  # fmt: skip
        result.status = denial.status
        result.reason = {
            "secure": "no such record, proven absent by authenticated denial: {}",
            "insecure": "no such record, absent but unproven: {}",
            "bogus": "no such record, and its denial is bogus: {}",
            "indeterminate": "no such record, its absence not proven: {}",
        }[denial.status].format(denial.reason)
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


"""Authenticated denial of a DS record (RFC 4035 §5.2, RFC 5155 §8.6): whether a signed
parent zone proves, with NSEC or NSEC3 records it signed, that it holds no DS for a child
zone. Such a proof is what makes the child *insecure* (unsigned by its parent's word, so
answers from it are taken unsigned) rather than *bogus* (a DS exists, or should, and the
child's signatures do not follow from it).

The proofs accepted, for the child name C in the parent P:
  - NSEC at C whose type bitmap has NS but neither DS nor SOA (an unsigned delegation);
  - NSEC at an ancestor delegation D of C (NS, no DS, no SOA): C is inside D's unsigned zone;
  - NSEC covering C (owner < C < next in canonical order): no name C in P at all;
  - NSEC3 matching C (hash of C), with the same bitmap rules;
  - NSEC3 closest-encloser proof: an NSEC3 matching an ancestor E of C, and one covering the
    "next closer" name (one label longer than E, towards C); with the Opt-Out flag, it
    proves only that no *signed* delegation is there, which is what insecurity needs.
Each record a proof uses must verify with P's validated keys: unsigned → indeterminate (it
proves nothing, and nothing is shown broken either), a signature that fails → bogus. Signed
records that prove nothing, or a DS bit at C, are bogus: P is signed and does not show the
DS missing.

deny_answer does the same for any record a signed zone says it does not have (a TLSA at
_25._tcp.<mx>, an MX): NODATA and NXDOMAIN proofs, wildcards included (RFC 4035 §5.4,
RFC 5155 §8.4-8.7). There an unsigned proof is bogus, as an unsigned answer is in a signed
zone, and an opt-out NSEC3 over the name leaves the absence unproven (insecure).
Hashing, signatures: dnspython (dns.dnssec.nsec3_hash, dns.dnssec.validate).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dns.name
import dns.rdatatype
import dns.rrset

from smtpsh.dnsinfo.rrsig import dnssec_module, signature_failure

# RFC 9276 §3.2: validators may refuse NSEC3 with more iterations (each is a SHA-1 of the
# name, paid by the validator); BIND and Unbound stop at 150.
MAX_NSEC3_ITERATIONS = 150
NSEC3_SHA1 = 1
OPT_OUT = 0x01

Signed = tuple[dns.rrset.RRset, "dns.rrset.RRset | None"]  # a record and its RRSIG set


@dataclass(frozen=True)
class Denial:
    status: str  # insecure (proven: no DS), bogus or indeterminate
    reason: str


@dataclass(frozen=True)
class _Proof:
    records: list[Signed]  # what it rests on: each must verify
    how: str  # what it proves, in words
    opt_out: bool = False  # an opt-out NSEC3 covers the name: an unsigned delegation may
    # be there, so an answer's absence is not proven (a DS's is: RFC 5155 §8.6)


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True)


def bitmap_types(windows: Sequence[tuple[int, bytes]]) -> set[int]:
    """The record types an NSEC/NSEC3 type bitmap lists (RFC 4034 §4.1.2)."""
    types = set()
    for window, bitmap in windows:
        for index, octet in enumerate(bitmap):
            for bit in range(8):
                if octet & (0x80 >> bit):
                    types.add(window * 256 + index * 8 + bit)
    return types


def _signed(authority: Sequence[dns.rrset.RRset], rdtype: dns.rdatatype.RdataType,
            parent: dns.name.Name) -> list[Signed]:  # fmt: skip
    """The ``rdtype`` sets of the authority section owned in ``parent``, each with its RRSIG
    set if it has one."""
    found: list[Signed] = []
    for rrset in authority:
        if rrset.rdtype != rdtype or not rrset.name.is_subdomain(parent):
            continue
        sigs = next((s for s in authority if s.rdtype == dns.rdatatype.RRSIG
                     and s.covers == rdtype and s.name == rrset.name), None)  # fmt: skip
        found.append((rrset, sigs))
    return found


def _covers(owner: Any, following: Any, name: Any) -> bool:
    """Whether ``name`` falls strictly between a record's owner and the next name of the
    chain (names in canonical order, or NSEC3 hashes); the last record of a chain points
    back to the first."""
    if following <= owner:
        return bool(name > owner or name < following)
    return bool(owner < name < following)


def _delegation_types(types: set[int]) -> bool:
    """A parent's record at a delegation point: NS, and not the child's apex (SOA)."""
    return dns.rdatatype.NS in types and dns.rdatatype.SOA not in types


def _nsec_proof(child: dns.name.Name, parent: dns.name.Name,
                nsecs: list[Signed]) -> _Proof | Denial | None:  # fmt: skip
    for rrset, sigs in nsecs:
        owner, rdata = rrset.name, rrset[0]
        types = bitmap_types(rdata.windows)  # type: ignore[attr-defined]
        if owner == child:
            return _at_child(child, parent, types, "NSEC record at", [(rrset, sigs)])
        if child.is_subdomain(owner) and owner != parent and _delegation_types(types):
            # An NSEC at an ancestor delegation: what is below it is the child zone's.
            if dns.rdatatype.DS in types:
                continue  # a signed one: it says nothing of the names below it
            return _Proof([(rrset, sigs)],
                          f"no DS for {_text(owner)} in {_text(parent)} (NSEC proof), "
                          f"and {_text(child)} is inside it")  # fmt: skip
        if _covers(owner, rdata.next, child):  # type: ignore[attr-defined]
            return _no_zone(child, parent, "NSEC")
    return None


def _at_child(child: dns.name.Name, parent: dns.name.Name, types: set[int], record: str,
              proof: list[Signed]) -> _Proof | Denial:  # fmt: skip
    """The parent's NSEC or NSEC3 record at the child's own name (``record``: "NSEC record
    at", "NSEC3 record for"): a proof of no DS only where it shows a delegation without one."""
    kind = record.split()[0]
    if dns.rdatatype.DS in types:
        return Denial("bogus", f"{_text(parent)}'s {record} {_text(child)} lists a DS record,"
                      " yet none was given")  # fmt: skip
    if not _delegation_types(types):
        return Denial("bogus", f"{_text(parent)}'s {kind} record shows {_text(child)} is "
                      "not a delegation, yet it answers as a zone of its own")  # fmt: skip
    return _Proof(proof, f"no DS for {_text(child)} in {_text(parent)} ({kind} proof)")


def _no_zone(name: dns.name.Name, parent: dns.name.Name, kind: str) -> Denial:
    return Denial("bogus", f"{_text(parent)}'s {kind} records show there is no name "
                  f"{_text(name)} in {_text(parent)}: not a delegation, yet it answers as a "
                  "zone of its own")  # fmt: skip


class _NSEC3Chain:
    """A zone's NSEC3 records in one answer (those with the parameters of the first): the
    record matching a name's hash, the one covering it, the closest encloser of a name."""

    def __init__(self, zone: dns.name.Name, nsec3s: list[Signed]) -> None:
        first = nsec3s[0][0][0]
        self.zone = zone
        self.algorithm = first.algorithm  # type: ignore[attr-defined]
        self.iterations = first.iterations  # type: ignore[attr-defined]
        self.salt = first.salt  # type: ignore[attr-defined]
        self.records: list[tuple[str, str, Any, Signed]] = []  # owner, next hash, rdata, set
        for rrset, sigs in nsec3s:
            rdata = rrset[0]
            if (rrset.name.parent() != zone or rdata.algorithm != self.algorithm  # type: ignore[attr-defined]
                    or rdata.iterations != self.iterations or rdata.salt != self.salt):  # type: ignore[attr-defined]
                continue  # not of this zone's chain
            owner = rrset.name.labels[0].decode("ascii", "replace").upper()
            following = base64.b32hexencode(rdata.next).decode("ascii")  # type: ignore[attr-defined]
            self.records.append((owner, following, rdata, (rrset, sigs)))

    def unusable(self) -> Denial | None:
        """Why these records cannot be followed here, if they cannot."""
        if self.algorithm != NSEC3_SHA1:
            return Denial("indeterminate", f"{_text(self.zone)}'s NSEC3 records use hash "
                          f"algorithm {self.algorithm}, which smtpsh cannot compute")  # fmt: skip
        if self.iterations > MAX_NSEC3_ITERATIONS:
            return Denial("indeterminate", f"{_text(self.zone)}'s NSEC3 records use "
                          f"{self.iterations} iterations, more than the "
                          f"{MAX_NSEC3_ITERATIONS} validators compute (RFC 9276 §3.2)")  # fmt: skip
        return None

    def _hash(self, name: dns.name.Name) -> str:
        return str(dnssec_module().nsec3_hash(name, self.salt, self.iterations,
                                              self.algorithm))  # fmt: skip

    def matching(self, name: dns.name.Name) -> tuple[Any, Signed] | None:
        digest = self._hash(name)
        return next(((rd, rec) for owner, _, rd, rec in self.records if owner == digest), None)

    def covering(self, name: dns.name.Name) -> tuple[Any, Signed] | None:
        digest = self._hash(name)
        for owner, following, rdata, record in self.records:
            if _covers(owner, following, digest):
                return rdata, record
        return None

    def closest_encloser(self, name: dns.name.Name
                         ) -> tuple[dns.name.Name, tuple[Any, Signed]] | None:  # fmt: skip
        """The longest ancestor of ``name`` an NSEC3 record shows to exist (RFC 5155 §8.3),
        with that record; None when not even the apex's is in the answer."""
        encloser = name.parent()
        while True:
            exists = self.matching(encloser)
            if exists is not None:
                return encloser, exists
            if encloser == self.zone:
                return None
            encloser = encloser.parent()


def _next_closer(name: dns.name.Name, encloser: dns.name.Name) -> dns.name.Name:
    """The name one label longer than ``encloser`` towards ``name`` (RFC 5155 §1.3)."""
    return dns.name.Name(name.labels[-(len(encloser.labels) + 1):])


def _nsec3_proof(child: dns.name.Name, parent: dns.name.Name,
                 nsec3s: list[Signed]) -> _Proof | Denial | None:  # fmt: skip
    chain = _NSEC3Chain(parent, nsec3s)
    if (unusable := chain.unusable()) is not None:
        return unusable
    found = chain.matching(child)
    if found is not None:
        types = bitmap_types(found[0].windows)
        return _at_child(child, parent, types, "NSEC3 record for", [found[1]])
    # The closest encloser proof (RFC 5155 §8.3): the longest ancestor that exists...
    enclosing = chain.closest_encloser(child)
    if enclosing is None:
        return None
    encloser, exists = enclosing
    types = bitmap_types(exists[0].windows)
    if encloser != parent and _delegation_types(types):
        if dns.rdatatype.DS in types:
            return None
        return _Proof([exists[1]], f"no DS for {_text(encloser)} in {_text(parent)} (NSEC3 "
                      f"proof), and {_text(child)} is inside it")  # fmt: skip
    # ... and the name one label longer towards the child does not (or is opted out).
    closer = _next_closer(child, encloser)
    cover = chain.covering(closer)
    if cover is None:
        return None
    if cover[0].flags & OPT_OUT:
        inside = f", and {_text(child)} is inside it" if closer != child else ""
        return _Proof([exists[1], cover[1]], f"no signed delegation at {_text(closer)} in "
                      f"{_text(parent)} (NSEC3 opt-out proof){inside}")  # fmt: skip
    return _no_zone(closer, parent, "NSEC3")


def _verify(used: list[Signed], zone: dns.name.Name, keys: dns.rrset.RRset, what: str,
            unsigned: str, now: float | None) -> Denial | None:  # fmt: skip
    """Each record a verdict rests on must be the zone's own word, signed with its keys:
    an unsigned one gives ``unsigned`` (a status), one that fails is bogus. ``what``: what
    the records deny, for the words."""
    dnssec = dnssec_module()
    for rrset, sigs in used:
        kind = dns.rdatatype.to_text(rrset.rdtype)
        where = f"{_text(zone)}'s {kind} record at {_text(rrset.name)}"
        if sigs is None:
            return Denial(unsigned, f"{where} is unsigned: it proves nothing about {what}")
        try:
            dnssec.validate(rrset, sigs, {zone: keys}, now=now)
        except dnssec.ValidationFailure as exc:
            return Denial("bogus", f"{where}, which denies {what}, does not verify: "
                          f"{signature_failure(sigs, exc, now)}")  # fmt: skip
    return None


def deny_ds(
    child: dns.name.Name,
    parent: dns.name.Name,
    authority: Sequence[dns.rrset.RRset],
    keys: dns.rrset.RRset,
    now: float | None = None,
) -> Denial:
    """Whether ``authority`` (the authority section of the parent's no-DS answer) proves,
    signed by ``keys`` (the parent's validated DNSKEY set), that ``parent`` has no DS for
    ``child``."""
    nsecs = _signed(authority, dns.rdatatype.NSEC, parent)
    nsec3s = _signed(authority, dns.rdatatype.NSEC3, parent)
    if not nsecs and not nsec3s:
        return Denial("indeterminate", f"{_text(parent)} says it has no DS for {_text(child)} "
                      "but sends no NSEC or NSEC3 record to prove it")  # fmt: skip
    proof = _nsec_proof(child, parent, nsecs) if nsecs else None
    if proof is None and nsec3s:
        proof = _nsec3_proof(child, parent, nsec3s)
    if isinstance(proof, Denial) and proof.status == "indeterminate":
        return proof
    # What the verdict rests on must be the parent's own word: signed with its keys. An
    # unsigned record proves nothing, and shows nothing broken either.
    used = proof.records if isinstance(proof, _Proof) else nsecs + nsec3s
    failed = _verify(used, parent, keys, f"a DS for {_text(child)}", "indeterminate", now)
    if failed is not None:
        return failed
    if isinstance(proof, Denial):
        return proof
    if proof is None:
        return Denial("bogus", f"{_text(parent)} is signed and says it has no DS for "
                      f"{_text(child)}, but its NSEC/NSEC3 records do not prove it")  # fmt: skip
    return Denial("insecure", proof.how)


# ---------------------------------------------------------------- an answer's absence


def _wildcard(encloser: dns.name.Name) -> dns.name.Name:
    return dns.name.Name((b"*", *encloser.labels))


def _common(name: dns.name.Name, other: dns.name.Name) -> dns.name.Name:
    """The longest ancestor (or self) ``name`` and ``other`` share."""
    shared = name.fullcompare(other)[2]
    return dns.name.Name(name.labels[-shared:]) if shared else dns.name.root


def _lists(types: set[int], rdtype: dns.rdatatype.RdataType, where: str,
           zone: dns.name.Name, nxdomain: bool, what: str) -> Denial | None:  # fmt: skip
    """A record at the name (NSEC, or NSEC3 matching it) that contradicts the answer: it
    shows the type or an alias there, or shows the name exists under an NXDOMAIN."""
    for shown in (rdtype, dns.rdatatype.CNAME):
        if shown in types:
            listed = dns.rdatatype.to_text(dns.rdatatype.RdataType(shown))
            return Denial("bogus", f"{_text(zone)}'s {where} lists {listed}, yet the answer "
                          f"has no {what}")  # fmt: skip
    if nxdomain:
        return Denial("bogus", f"{_text(zone)}'s {where} shows the name exists, yet the "
                      "answer says it does not (NXDOMAIN)")  # fmt: skip
    return None


def _nsec_absence(name: dns.name.Name, rdtype: dns.rdatatype.RdataType, zone: dns.name.Name,
                  nxdomain: bool, nsecs: list[Signed]) -> _Proof | Denial | None:  # fmt: skip
    """RFC 4035 §5.4 with NSEC: the record at the name lists no such type (NODATA); or one
    covers the name (an empty non-terminal when the next name is below it), and another
    shows no wildcard at the closest encloser would have made the name (NXDOMAIN), or that
    the wildcard holds no such type (a wildcard NODATA)."""
    kind = dns.rdatatype.to_text(rdtype)
    what = f"{kind} record"
    for rrset, sigs in nsecs:
        types = bitmap_types(rrset[0].windows)  # type: ignore[attr-defined]
        if rrset.name == name:
            if (said := _lists(types, rdtype, f"NSEC record at {_text(name)}", zone, nxdomain,
                               what)) is not None:  # fmt: skip
                return said
            return _Proof([(rrset, sigs)], f"{_text(zone)}'s NSEC record at {_text(name)} "
                          f"lists no {kind}")  # fmt: skip
        if name.is_subdomain(rrset.name) and rrset.name != zone and _delegation_types(types):
            return Denial("indeterminate", f"{_text(name)} is inside {_text(rrset.name)}, a "
                          f"delegation from {_text(zone)}: the answer is that zone's to give, "
                          "and this one is its parent's")  # fmt: skip
    cover = next(((r, s) for r, s in nsecs if _covers(r.name, r[0].next, name)), None)  # type: ignore[attr-defined]
    if cover is None:
        return None
    owner, following = cover[0].name, cover[0][0].next  # type: ignore[attr-defined]
    if not nxdomain and following.is_subdomain(name):
        return _Proof([cover], f"{_text(name)} is an empty non-terminal in {_text(zone)}: "
                      "it holds no record (NSEC proof)")  # fmt: skip
    encloser = max(_common(name, owner), _common(name, following), key=lambda n: len(n))
    if not encloser.is_subdomain(zone):
        return None
    wildcard = _wildcard(encloser)
    for rrset, sigs in nsecs:
        if rrset.name == wildcard:
            types = bitmap_types(rrset[0].windows)  # type: ignore[attr-defined]
            where = f"NSEC record at the wildcard {_text(wildcard)}"
            if (said := _lists(types, rdtype, where, zone, nxdomain, what)) is not None:
                return said
            return _Proof([cover, (rrset, sigs)],
                          f"no name {_text(name)} in {_text(zone)}, and the wildcard "
                          f"{_text(wildcard)} holds no {kind} (NSEC proof)")  # fmt: skip
    if not nxdomain:
        return None  # no name there, no wildcard: an NXDOMAIN's proof under a NOERROR
    wild = next(((r, s) for r, s in nsecs if _covers(r.name, r[0].next, wildcard)), None)  # type: ignore[attr-defined]
    if wild is None:
        return None
    return _Proof([cover] + ([wild] if wild[0] != cover[0] else []),
                  f"no name {_text(name)} in {_text(zone)}, nor a wildcard at "
                  f"{_text(encloser)} (NSEC proof)")  # fmt: skip


def _nsec3_absence(name: dns.name.Name, rdtype: dns.rdatatype.RdataType, zone: dns.name.Name,
                   nxdomain: bool, nsec3s: list[Signed]) -> _Proof | Denial | None:  # fmt: skip
    """RFC 5155 §8.5-8.7: an NSEC3 record matching the name without the type (NODATA, an
    empty non-terminal too); or the closest encloser proof with an NSEC3 covering the
    wildcard at the encloser (NXDOMAIN) or matching it without the type (wildcard NODATA).
    A next closer name covered by an opt-out NSEC3 is not proven absent."""
    kind = dns.rdatatype.to_text(rdtype)
    what = f"{kind} record"
    chain = _NSEC3Chain(zone, nsec3s)
    if (unusable := chain.unusable()) is not None:
        return unusable
    found = chain.matching(name)
    if found is not None:
        types = bitmap_types(found[0].windows)
        where = f"NSEC3 record for {_text(name)}"
        if (said := _lists(types, rdtype, where, zone, nxdomain, what)) is not None:
            return said
        return _Proof([found[1]], f"{_text(zone)}'s NSEC3 record for {_text(name)} lists no "
                      f"{kind}")  # fmt: skip
    enclosing = chain.closest_encloser(name)
    if enclosing is None:
        return None
    encloser, exists = enclosing
    if encloser != zone and _delegation_types(bitmap_types(exists[0].windows)):
        return Denial("indeterminate", f"{_text(name)} is inside {_text(encloser)}, a "
                      f"delegation from {_text(zone)}: the answer is that zone's to give, and "
                      "this one is its parent's")  # fmt: skip
    cover = chain.covering(_next_closer(name, encloser))
    if cover is None:
        return None
    wildcard = _wildcard(encloser)
    if not nxdomain and cover[0].flags & OPT_OUT and chain.matching(wildcard) is None:
        # NODATA with no NSEC3 of its own: an empty non-terminal above unsigned delegations
        # only, which an opt-out chain leaves out (Knot answers so): unproven, not bogus.
        return _Proof([exists[1], cover[1]], f"an opt-out NSEC3 record of {_text(zone)} "
                      f"covers {_text(_next_closer(name, encloser))}: an unsigned delegation "
                      "may be there, so no answer's absence is proven below it (RFC 5155 §6)",
                      opt_out=True)  # fmt: skip
    records = [exists[1], cover[1]]
    if (wild := chain.matching(wildcard)) is not None:
        where = f"NSEC3 record for the wildcard {_text(wildcard)}"
        types = bitmap_types(wild[0].windows)
        if (said := _lists(types, rdtype, where, zone, nxdomain, what)) is not None:
            return said
        how = f", and the wildcard {_text(wildcard)} holds no {kind}"
        records.append(wild[1])
    elif nxdomain and (wild := chain.covering(wildcard)) is not None:
        how = f", nor a wildcard at {_text(encloser)}"
        records.append(wild[1])
    else:
        return None
    if cover[0].flags & OPT_OUT:
        return _Proof(records, f"an opt-out NSEC3 record of {_text(zone)} covers "
                      f"{_text(_next_closer(name, encloser))}: an unsigned delegation may be "
                      "there, so no answer's absence is proven below it (RFC 5155 §6)",
                      opt_out=True)  # fmt: skip
    return _Proof(records, f"no name {_text(name)} in {_text(zone)}{how} (NSEC3 proof)")


def deny_answer(
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    zone: dns.name.Name,
    nxdomain: bool,
    authority: Sequence[dns.rrset.RRset],
    keys: dns.rrset.RRset,
    now: float | None = None,
) -> Denial:
    """Whether ``authority`` (the authority section of an answer without the record) proves,
    signed by ``keys`` (``zone``'s validated DNSKEY set), that ``zone`` has no ``rdtype``
    record at ``name``: a NODATA answer (``nxdomain`` False) or an NXDOMAIN one. Status:
    secure (proven absent), insecure (an opt-out NSEC3 leaves it unproven, as RFC 5155 means
    it), bogus (the zone is signed and its denial is missing, unsigned, does not verify or
    proves nothing) or indeterminate (records smtpsh cannot follow)."""
    what = f"a {dns.rdatatype.to_text(rdtype)} record at {_text(name)}"
    nsecs = _signed(authority, dns.rdatatype.NSEC, zone)
    nsec3s = _signed(authority, dns.rdatatype.NSEC3, zone)
    if not nsecs and not nsec3s:
        return Denial("bogus", f"{_text(zone)} is signed, yet its answer sends no NSEC or NSEC3 "
                      f"record to prove there is no such record")  # fmt: skip
    proof = _nsec_absence(name, rdtype, zone, nxdomain, nsecs) if nsecs else None
    if proof is None and nsec3s:
        proof = _nsec3_absence(name, rdtype, zone, nxdomain, nsec3s)
    if isinstance(proof, Denial) and proof.status == "indeterminate":
        return proof
    # In a signed zone an unsigned denial is bogus, as an unsigned answer is (RFC 4035 §5.5).
    used = proof.records if isinstance(proof, _Proof) else nsecs + nsec3s
    failed = _verify(used, zone, keys, what, "bogus", now)
    if failed is not None:
        return failed
    if isinstance(proof, Denial):
        return proof
    if proof is None:
        return Denial("bogus", f"{_text(zone)} is signed and says there is no such record, "
                      "but its NSEC/NSEC3 records do not prove it")  # fmt: skip
    return Denial("insecure" if proof.opt_out else "secure", proof.how)

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
DS missing. Hashing, signatures: dnspython (dns.dnssec.nsec3_hash, dns.dnssec.validate).
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


def _signed(authority: Sequence[dns.rrset.RRset], rdtype: int,
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


def _nsec3_proof(child: dns.name.Name, parent: dns.name.Name,
                 nsec3s: list[Signed]) -> _Proof | Denial | None:  # fmt: skip
    first = nsec3s[0][0][0]
    algorithm, iterations, salt = first.algorithm, first.iterations, first.salt  # type: ignore[attr-defined]
    if algorithm != NSEC3_SHA1:
        return Denial("indeterminate", f"{_text(parent)}'s NSEC3 records use hash algorithm "
                      f"{algorithm}, which smtpsh cannot compute")  # fmt: skip
    if iterations > MAX_NSEC3_ITERATIONS:
        return Denial("indeterminate", f"{_text(parent)}'s NSEC3 records use {iterations} "
                      f"iterations, more than the {MAX_NSEC3_ITERATIONS} validators compute "
                      "(RFC 9276 §3.2)")  # fmt: skip
    chain: list[tuple[str, str, Any, Signed]] = []  # owner hash, next hash, rdata, record
    for rrset, sigs in nsec3s:
        rdata = rrset[0]
        if (rrset.name.parent() != parent or rdata.algorithm != algorithm  # type: ignore[attr-defined]
                or rdata.iterations != iterations or rdata.salt != salt):  # type: ignore[attr-defined]
            continue  # not of this zone's chain
        owner = rrset.name.labels[0].decode("ascii", "replace").upper()
        following = base64.b32hexencode(rdata.next).decode("ascii")  # type: ignore[attr-defined]
        chain.append((owner, following, rdata, (rrset, sigs)))

    def hashed(name: dns.name.Name) -> str:
        return str(dnssec_module().nsec3_hash(name, salt, iterations, algorithm))

    def matching(name: dns.name.Name) -> tuple[Any, Signed] | None:
        digest = hashed(name)
        return next(((rd, rec) for owner, _, rd, rec in chain if owner == digest), None)

    def covering(name: dns.name.Name) -> tuple[Any, Signed] | None:
        digest = hashed(name)
        for owner, following, rdata, record in chain:
            if _covers(owner, following, digest):
                return rdata, record
        return None

    found = matching(child)
    if found is not None:
        types = bitmap_types(found[0].windows)
        return _at_child(child, parent, types, "NSEC3 record for", [found[1]])
    # The closest encloser proof (RFC 5155 §8.3): the longest ancestor that exists...
    encloser = child.parent()
    while True:
        exists = matching(encloser)
        if exists is not None or encloser == parent:
            break
        encloser = encloser.parent()
    if exists is None:
        return None
    types = bitmap_types(exists[0].windows)
    if encloser != parent and _delegation_types(types):
        if dns.rdatatype.DS in types:
            return None
        return _Proof([exists[1]], f"no DS for {_text(encloser)} in {_text(parent)} (NSEC3 "
                      f"proof), and {_text(child)} is inside it")  # fmt: skip
    # ... and the name one label longer towards the child does not (or is opted out).
    closer = dns.name.Name(child.labels[-(len(encloser.labels) + 1):])
    cover = covering(closer)
    if cover is None:
        return None
    if cover[0].flags & OPT_OUT:
        inside = f", and {_text(child)} is inside it" if closer != child else ""
        return _Proof([exists[1], cover[1]], f"no signed delegation at {_text(closer)} in "
                      f"{_text(parent)} (NSEC3 opt-out proof){inside}")  # fmt: skip
    return _no_zone(closer, parent, "NSEC3")


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
    # What the verdict rests on must be the parent's own word: signed with its keys.
    dnssec = dnssec_module()
    used = proof.records if isinstance(proof, _Proof) else nsecs + nsec3s
    for rrset, sigs in used:
        kind = dns.rdatatype.to_text(rrset.rdtype)
        where = f"{_text(parent)}'s {kind} record at {_text(rrset.name)}"
        if sigs is None:
            return Denial("indeterminate", f"{where} is unsigned: it proves nothing about a DS "
                          f"for {_text(child)}")  # fmt: skip
        try:
            dnssec.validate(rrset, sigs, {parent: keys}, now=now)
        except dnssec.ValidationFailure as exc:
            return Denial("bogus", f"{where}, which denies a DS for {_text(child)}, does not "
                          f"verify: {signature_failure(sigs, exc, now)}")  # fmt: skip
    if isinstance(proof, Denial):
        return proof
    if proof is None:
        return Denial("bogus", f"{_text(parent)} is signed and says it has no DS for "
                      f"{_text(child)}, but its NSEC/NSEC3 records do not prove it")  # fmt: skip
    return Denial("insecure", proof.how)

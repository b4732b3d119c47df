"""SPF (RFC 7208): parse the record into terms and walk the include/redirect tree,
counting DNS lookups against the limit of 10 and void lookups against 2 (§4.6.4).

dnspython hands us the TXT strings; the SPF term syntax itself is ours to parse.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rdtypes.ANY.MX
import dns.resolver

from smtpsh.dnsinfo.lookup import Failure, query
from smtpsh.dnsinfo.model import Item, Status

LOOKUP_LIMIT = 10  # RFC 7208 §4.6.4
VOID_LIMIT = 2  # RFC 7208 §4.6.4
MX_NAME_LIMIT = 10  # RFC 7208 §4.6.4: address lookups per "mx" mechanism
# Past this many lookups we stop following includes: enough to show the limit is
# broken, and a hostile zone cannot make us walk forever.
FOLLOW_CAP = 40

QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}

# Verdict on the record's final "all" (or its absence), by qualifier.
ALL_VERDICT: dict[str | None, tuple[Status, str]] = {
    "-": (Status.OK, "ends in -all: mail from unlisted hosts fails"),
    "~": (Status.OK, "ends in ~all: mail from unlisted hosts soft-fails"),
    "?": (Status.WARNING, "ends in ?all: unlisted hosts are neutral, no protection"),
    "+": (Status.ERROR, "ends in +all: every host on the internet passes"),
    None: (Status.WARNING, "no 'all' and no redirect: unlisted hosts get neutral (§4.7)"),
}

_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$")
_MECHANISM = re.compile(r"^([+\-~?]?)([A-Za-z][A-Za-z0-9]*)(.*)$")
# A macro-expand (§7.1): %% %_ %- or %{letter digits r delimiters}.
_MACRO = re.compile(r"%(?:[%_-]|\{[slodiphcrtvSLODIPHCRTV][0-9]*[rR]?[.\-+,/_=]*\})")


@dataclass(frozen=True)
class SPFTerm:
    text: str
    name: str
    modifier: bool = False
    qualifier: str = ""  # "+", "-", "~", "?" for mechanisms
    value: str = ""  # domain-spec or network
    cidr: str = ""  # "/24", "//64", "/24//64"
    lookup: bool = False  # counts towards the limit of 10
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "name": self.name,
            "type": "modifier" if self.modifier else "mechanism",
            "qualifier": self.qualifier or None,
            "result": QUALIFIERS.get(self.qualifier) if not self.modifier else None,
            "value": self.value or None,
            "cidr": self.cidr or None,
            "counts_lookup": self.lookup,
            "error": self.error,
        }


def _check_domain_spec(spec: str) -> str | None:
    if not spec:
        return "empty domain"
    if "%" in spec:
        rest = _MACRO.sub("", spec)
        return "bad macro" if "%" in rest else None
    try:
        dns.name.from_text(spec)
    except (dns.exception.DNSException, UnicodeError):
        return f"bad domain {spec!r}"
    return None if "." in spec.strip(".") else f"bad domain {spec!r} (no dot)"


def _check_cidr(cidr: str) -> str | None:
    v4, _, v6 = cidr.partition("//")
    for text, limit in ((v4.removeprefix("/"), 32), (v6, 128)):
        if text and (not text.isdigit() or int(text) > limit or text != str(int(text))):
            return f"bad CIDR length {cidr!r}"
    if cidr and not cidr.startswith("/"):
        return f"bad CIDR length {cidr!r}"
    return None


# Argument parsers by mechanism: rest of the term -> (value, cidr, error).
ArgParser = Callable[[str], tuple[str, str, "str | None"]]


def _arg_none(rest: str) -> tuple[str, str, str | None]:
    return "", "", (f"unexpected argument {rest!r}" if rest else None)


def _arg_domain(rest: str) -> tuple[str, str, str | None]:
    if not rest.startswith(":"):
        return "", "", "needs ':domain'"
    return rest[1:], "", _check_domain_spec(rest[1:])


def _arg_optional_domain(rest: str) -> tuple[str, str, str | None]:
    return ("", "", None) if not rest else _arg_domain(rest)


def _arg_domain_cidr(rest: str) -> tuple[str, str, str | None]:
    domain, cidr = "", rest
    if rest.startswith(":"):
        domain, slash, tail = rest[1:].partition("/")
        cidr = slash + tail
        if error := _check_domain_spec(domain):
            return domain, cidr, error
    return domain, cidr, _check_cidr(cidr)


def _arg_network(version: int) -> ArgParser:
    def parse(rest: str) -> tuple[str, str, str | None]:
        if not rest.startswith(":"):
            return "", "", f"needs ':address' (ip{version})"
        address, slash, length = rest[1:].partition("/")
        cidr = slash + length
        try:
            ip = ipaddress.ip_address(address)
            if ip.version != version:
                raise ValueError
            ipaddress.ip_network(f"{address}{cidr}", strict=False)
        except ValueError:
            return address, cidr, f"bad ip{version} network {rest[1:]!r}"
        return address, cidr, None

    return parse


@dataclass(frozen=True)
class MechanismSpec:
    parse: ArgParser
    lookup: bool  # RFC 7208 §4.6.4: include, a, mx, ptr, exists (and redirect) cost a lookup


MECHANISMS = {
    "all": MechanismSpec(_arg_none, lookup=False),
    "include": MechanismSpec(_arg_domain, lookup=True),
    "a": MechanismSpec(_arg_domain_cidr, lookup=True),
    "mx": MechanismSpec(_arg_domain_cidr, lookup=True),
    "ptr": MechanismSpec(_arg_optional_domain, lookup=True),
    "ip4": MechanismSpec(_arg_network(4), lookup=False),
    "ip6": MechanismSpec(_arg_network(6), lookup=False),
    "exists": MechanismSpec(_arg_domain, lookup=True),
}
# Known modifiers; unknown ones are allowed and ignored (§6).
MODIFIER_LOOKUP = {"redirect": True, "exp": False}


def is_spf_record(text: str) -> bool:
    """RFC 7208 §4.5: the version is exactly "v=spf1", then a space or the end."""
    lowered = text.lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def parse_spf(record: str) -> list[SPFTerm]:
    """Split an SPF record into terms; syntax errors are kept on the term."""
    terms: list[SPFTerm] = []
    for text in record.split()[1:]:
        if m := _MODIFIER.match(text):
            name, value = m.group(1).lower(), m.group(2)
            error = _check_domain_spec(value) if name in MODIFIER_LOOKUP else None
            duplicate = any(t.modifier and t.name == name for t in terms)
            if duplicate and name in MODIFIER_LOOKUP:
                error = f"{name}= appears more than once (§6)"
            terms.append(
                SPFTerm(
                    text,
                    name,
                    True,
                    value=value,
                    lookup=MODIFIER_LOOKUP.get(name, False),
                    error=error,
                )
            )
            continue
        m = _MECHANISM.match(text)
        spec = MECHANISMS.get(m.group(2).lower()) if m else None
        if m is None or spec is None:
            terms.append(SPFTerm(text, text.lower(), error=f"unknown mechanism {text!r}"))
            continue
        value, cidr, error = spec.parse(m.group(3))
        terms.append(
            SPFTerm(
                text,
                m.group(2).lower(),
                False,
                m.group(1) or "+",
                value,
                cidr,
                spec.lookup,
                f"{text}: {error}" if error else None,
            )
        )
    return terms


@dataclass
class SPFNode:
    """One domain's SPF record in the tree; children are its include/redirect targets."""

    domain: str
    via: str = ""  # "" for the domain asked about, else "include" or "redirect"
    record: str | None = None
    records: list[str] = field(default_factory=list)
    terms: list[SPFTerm] = field(default_factory=list)
    children: list[SPFNode] = field(default_factory=list)
    note: str = ""  # why the node has no record or was not followed
    lookups: int = 0  # of the terms evaluated (not those after 'all', nor an ignored redirect)
    never_evaluated: list[str] = field(default_factory=list)  # mechanisms after 'all'

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "via": self.via or None,
            "record": self.record,
            "lookups": self.lookups,
            "never_evaluated": self.never_evaluated,
            "terms": [t.to_json() for t in self.terms],
            "note": self.note or None,
            "children": [c.to_json() for c in self.children],
        }


@dataclass
class SPFResult:
    domain: str
    root: SPFNode
    lookups: int = 0
    void_lookups: int = 0
    final_all: str | None = None
    truncated: bool = False
    item_list: list[Item] = field(default_factory=list)

    def items(self) -> list[Item]:
        return self.item_list

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "record": self.root.record,
            "records": self.root.records,
            "lookups": self.lookups,
            "lookup_limit": LOOKUP_LIMIT,
            "void_lookups": self.void_lookups,
            "void_lookup_limit": VOID_LIMIT,
            "final_all": QUALIFIERS.get(self.final_all) if self.final_all else None,
            "truncated": self.truncated,
            "tree": self.root.to_json(),
            "items": [i.to_json() for i in self.item_list],
        }


class _Walker:
    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver
        self.lookups = 0
        self.voids = 0
        self.truncated = False
        self.items: list[Item] = []

    def error(self, text: str) -> None:
        self.items.append(Item("SPF", Status.ERROR, text))

    def warn(self, text: str) -> None:
        self.items.append(Item("SPF", Status.WARNING, text))

    def visit(self, domain: str, via: str, path: tuple[str, ...]) -> SPFNode:
        node = SPFNode(domain, via)
        answer = query(self.resolver, domain, "TXT")
        if via and answer.void:
            self.voids += 1
        if answer.failure and answer.failure is not Failure.NXDOMAIN:
            node.note = f"TXT lookup failed: {answer.failure_text}"
            self.error(f"TXT lookup for {domain} failed: {answer.failure_text}")
            return node
        node.records = [t for t in answer.texts() if is_spf_record(t)]
        if not node.records:
            node.note = "no SPF record"
            if via:
                self.error(f"{via} target {domain} has no SPF record (permerror, §5.2)")
            return node
        if len(node.records) > 1:
            self.error(f"{domain} publishes {len(node.records)} SPF records (permerror, §4.5)")
        node.record = node.records[0]
        node.terms = parse_spf(node.record)
        has_all = any(t.name == "all" and not t.modifier for t in node.terms)
        seen_all = False
        for term in node.terms:
            if term.error:
                self.error(f"{domain}: {term.error} (permerror)")
                continue
            if seen_all and not term.modifier:
                # §5.1: never tested, so neither looked up nor counted towards the limit.
                node.never_evaluated.append(term.text)
                continue
            seen_all = seen_all or (term.name == "all" and not term.modifier)
            if term.name == "redirect" and term.modifier and has_all:
                self.warn(f"{domain}: redirect= is ignored because the record has 'all' (§6.1)")
                continue
            if term.lookup:
                self.lookups += 1
                node.lookups += 1
            if term.name == "ptr" and not term.modifier:
                self.warn(f"{domain}: 'ptr' is slow and unreliable, do not use it (§5.5)")
            if term.name in ("include", "redirect") and term.lookup:
                node.children.append(self.follow(term, (*path, domain)))
            elif term.name in ("a", "mx") and not term.modifier and "%" not in term.value:
                self.check_target(term, term.value or domain)
        if node.never_evaluated:
            count = len(node.never_evaluated)
            self.warn(f"{domain}: {count} mechanism{'s' if count > 1 else ''} after 'all' "
                      f"never evaluated (§5.1): {' '.join(node.never_evaluated)}")  # fmt: skip
        return node

    def follow(self, term: SPFTerm, path: tuple[str, ...]) -> SPFNode:
        target = term.value.lower().rstrip(".")
        if "%" in target:
            return SPFNode(target, term.name, note="contains macros, not followed")
        if target in path:
            self.error("include loop: " + " -> ".join((*path, target)) + " (permerror)")
            return SPFNode(target, term.name, note="loop, not followed")
        if self.lookups > FOLLOW_CAP:
            self.truncated = True
            return SPFNode(target, term.name, note=f"not followed (over {FOLLOW_CAP} lookups)")
        return self.visit(target, term.name, path)

    def check_target(self, term: SPFTerm, target: str) -> None:
        """a/mx targets: void lookups, and at most 10 MX names per "mx" (§4.6.4)."""
        if term.name == "a":
            void = all(query(self.resolver, target, t).void for t in ("A", "AAAA"))
        else:
            answer = query(self.resolver, target, "MX")
            void = answer.void
            names = [rd for rd in answer.rdatas if isinstance(rd, dns.rdtypes.ANY.MX.MX)]
            if len(names) > MX_NAME_LIMIT:
                self.error(f"{term.text}: {len(names)} MX names, over the limit of 10 (§4.6.4)")
        if void:
            self.voids += 1
            self.warn(f"{term.text}: {target} has no {term.name.upper()} records (void lookup)")


def _final_all(node: SPFNode) -> str | None:
    for term in node.terms:
        if term.name == "all" and not term.modifier and not term.error:
            return term.qualifier
    redirect = next((c for c in node.children if c.via == "redirect"), None)
    return _final_all(redirect) if redirect else None


def _lookups(count: int) -> str:
    return f"{count} DNS lookup" + ("" if count == 1 else "s")


def _broken_redirect(node: SPFNode) -> bool:
    redirect = next((c for c in node.children if c.via == "redirect"), None)
    if redirect is None:
        return False
    return redirect.record is None or _broken_redirect(redirect)


def check_spf(domain: str, resolver: dns.resolver.Resolver) -> SPFResult:
    walker = _Walker(resolver)
    root = walker.visit(domain, "", ())
    result = SPFResult(domain, root, walker.lookups, walker.voids, truncated=walker.truncated)
    items: list[Item] = []
    if root.record is None:
        if root.note == "no SPF record":
            items.append(
                Item(
                    "SPF",
                    Status.WARNING,
                    f"no SPF record: receivers cannot tell who may send for {domain}",
                )
            )
        result.item_list = items + walker.items
        return result
    at_least = "at least " if walker.truncated else ""
    if walker.lookups > LOOKUP_LIMIT:
        items.append(
            Item(
                "SPF",
                Status.ERROR,
                f"{at_least}{_lookups(walker.lookups)}, over the limit of "
                f"{LOOKUP_LIMIT} (permerror)",
            )
        )
    else:
        items.append(
            Item(
                "SPF",
                Status.OK,
                f"{_lookups(walker.lookups)}, within the limit of {LOOKUP_LIMIT}",
            )
        )
    if walker.voids > VOID_LIMIT:
        items.append(
            Item(
                "SPF", Status.ERROR, f"{walker.voids} void lookups, over the limit of {VOID_LIMIT}"
            )
        )
    result.final_all = _final_all(root)
    # A broken redirect chain is already an error; no verdict on "all" then.
    if result.final_all is not None or not _broken_redirect(root):
        status, text = ALL_VERDICT[result.final_all]
        items.append(Item("SPF", status, text))
    result.item_list = items + walker.items
    return result

"""The mail-domain report: run every check, then render it as text or JSON."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.resolver

from smtpsh import exitcodes
from smtpsh.dnsinfo.dane import (
    DANEResult,
    Security,
    absence_by_anchor,
    check_dane,
    judge_applicability,
    validated_by_anchor,
)
from smtpsh.dnsinfo.dkim import DKIMResult, check_dkim
from smtpsh.dnsinfo.lookup import FAILURE_TEXT, Failure, describe_resolver
from smtpsh.dnsinfo.model import Item, Status, count_by_status, worst
from smtpsh.dnsinfo.mx import MXKind, MXResult, mx_candidates, resolve_mx
from smtpsh.dnsinfo.policy import (
    TXTPolicy,
    apply_fetched_policy,
    check_dmarc,
    check_mta_sts,
    check_tls_rpt,
    fetch_mta_sts_policy,
)
from smtpsh.dnsinfo.ptr import PTRResult
from smtpsh.dnsinfo.spf import SPFNode, SPFResult, check_spf
from smtpsh.dnsinfo.zoneinfo import (
    BIMIResult,
    DNSBLResult,
    ZoneResult,
    bimi_needs_enforcement,
    check_bimi,
    check_dnsbl,
    check_zone,
)
from smtpsh.output.printer import Fragments, render
from smtpsh.output.safe import safe
from smtpsh.protocol.errors import SmtpshError

# Exit codes of `smtpsh dns`.
EXIT_OK = exitcodes.OK
EXIT_PROBLEMS = exitcodes.FOUND
EXIT_UNRESOLVED = exitcodes.FAILED


class DomainResolutionError(SmtpshError):
    """The domain itself could not be resolved (NXDOMAIN, SERVFAIL, timeout)."""

    def __init__(self, domain: str, failure: Failure) -> None:
        super().__init__(f"{domain}: {FAILURE_TEXT[failure]}")
        self.domain = domain
        self.failure = failure

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "status": "error",
            "error": {"kind": self.failure.value, "message": str(self)},
        }


@dataclass
class DomainReport:
    domain: str
    dns_server: str
    mx: MXResult
    spf: SPFResult
    dmarc: TXTPolicy
    mta_sts: TXTPolicy | None = None  # None: not applicable (the domain takes no mail)
    tls_rpt: TXTPolicy | None = None
    dane: DANEResult | None = None
    dkim: list[DKIMResult] = field(default_factory=list)
    zone: ZoneResult | None = None
    bimi: BIMIResult | None = None
    dnsbl: DNSBLResult | None = None  # None: no blocklist zone was given
    dnssec: Any = None  # DNSSECResult with --trust-anchor, else None

    @property
    def items(self) -> list[Item]:
        sections: list[Any] = [self.mx, self.spf, self.dmarc, self.mta_sts, self.tls_rpt]
        sections += [self.dane, *self.dkim, self.bimi, self.zone, self.dnsbl, self.dnssec]
        return [item for s in sections if s is not None for item in s.items()]

    @property
    def status(self) -> Status:
        return worst(self.items)

    @property
    def exit_code(self) -> int:
        return EXIT_PROBLEMS if self.status is Status.ERROR else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        def section(s: Any) -> Any:
            return s.to_json() if s is not None else None

        return {
            "domain": self.domain,
            "dns_server": self.dns_server,
            "status": self.status.value,
            "summary": count_by_status(self.items),
            "items": [i.to_json() for i in self.items],
            "mx": {**self.mx.to_json(), "items": [i.to_json() for i in self.mx.items()]},
            "spf": self.spf.to_json(),
            "dmarc": self.dmarc.to_json(),
            "mta_sts": section(self.mta_sts),
            "tls_rpt": section(self.tls_rpt),
            "dane": section(self.dane),
            "dkim": [d.to_json() for d in self.dkim],
            "zone": section(self.zone),
            "bimi": section(self.bimi),
            "dnsbl": section(self.dnsbl),
            "dnssec": section(self.dnssec),
        }


def build_report(
    domain: str,
    resolver: dns.resolver.Resolver,
    *,
    dkim_selectors: Sequence[str] = (),
    mta_sts_fetch: bool = False,
    fetch: Callable[[str], str] = fetch_mta_sts_policy,
    rng: random.Random | None = None,
    dnsbl_zones: Sequence[str] = (),
    check_mx: bool = False,
    mx_port: int = 25,
    trust_anchors: Any = None,  # from dnssec.load_trust_anchors: validate what we rely on
    mx_connector: Any = None,  # smtpsh.net.base.Connector: how check_mx connects to each MX
) -> DomainReport:
    """Run every check for ``domain``. Raises DomainResolutionError when the MX
    lookup of the domain itself fails; every other failure becomes an item."""
    mx = resolve_mx(domain, resolver, rng)
    if mx.kind is MXKind.FAILED and mx.failure is not None:
        raise DomainResolutionError(domain, mx.failure)
    report = DomainReport(
        domain,
        describe_resolver(resolver),
        mx,
        check_spf(domain, resolver),
        check_dmarc(domain, resolver),
    )
    if mx.kind in (MXKind.MX, MXKind.IMPLICIT):
        report.mta_sts = check_mta_sts(domain, resolver)
        if mta_sts_fetch and report.mta_sts.record is not None:
            hosts = [e.host for e in mx.exchangers if not e.implicit]
            apply_fetched_policy(report.mta_sts, domain, hosts, fetch)
        report.tls_rpt = check_tls_rpt(domain, resolver)
        report.dane = check_dane([e.host for e in mx.exchangers], resolver)
        report.bimi = check_bimi(domain, resolver)
        dmarc = report.dmarc.extra
        applied = dmarc.get("applied_policy") if dmarc.get("inherited") else dmarc.get("policy")
        bimi_needs_enforcement(report.bimi, applied, dmarc.get("pct"))
        if dnsbl_zones:
            addresses = list(dict.fromkeys(a for e in mx.exchangers for a in e.addresses))
            report.dnsbl = check_dnsbl(addresses, dnsbl_zones, resolver)
    report.dkim = [check_dkim(domain, s, resolver) for s in dkim_selectors]
    report.zone = check_zone(domain, resolver)
    if trust_anchors is not None:
        report.dnssec = _validate(report, trust_anchors, resolver)
        if report.dane is not None:
            statuses = {c.name: c.status for c in report.dnssec.checks if c.rdtype == "TLSA"}
            validated_by_anchor(report.dane, statuses)
            absence_by_anchor(report.dane, {c.name: Security(c.status, c.reason)
                                            for c in report.dnssec.checks
                                            if c.rdtype == "TLSA" and not c.exists})  # fmt: skip
    if report.dane is not None:
        _judge_dane(report)
    # After the DNSSEC validation: each MX's verdict says whether its TLSA answer was
    # validated, and --trust-anchor may have proven what the AD bit did not.
    if check_mx and report.dane is not None:
        _check_each_mx(report.dane, mx, mx_port, mx_connector)
    return report


def _validate(report: DomainReport, anchors: Any, resolver: dns.resolver.Resolver) -> Any:
    """DNSSEC validation of the answers the report relies on: MX (or its absence, and with
    neither MX nor address the addresses' absence), each MX's TLSA, the MTA-STS record."""
    from smtpsh.dnsinfo.dnssec import Validator, check_dnssec

    server = str(resolver.nameservers[0])
    port = int(getattr(resolver, "port", 53))
    names: list[tuple[str, str]] = []
    if report.mx.kind in (MXKind.MX, MXKind.IMPLICIT, MXKind.NONE):
        # implicit or none: the MX's absence, proven or not
        names.append((report.domain, "MX"))
    if report.mx.kind is MXKind.NONE:
        # "No MX and no address: mail cannot be delivered" rests on the addresses'
        # absence too: forged, it turns mail away as well as a forged MX's would.
        names += [(report.domain, "A"), (report.domain, "AAAA")]
    if report.dane is not None:
        # Each MX's TLSA name, found or not: a missing one is judged by its zone's denial
        # (proven absent, unsigned, or a bogus denial that makes senders defer).
        names += [(h.name, "TLSA") for h in report.dane.hosts if h.records or not h.failure]
        # DANE rests on the address answers of each MX host with TLSA records too
        # (RFC 7672 §2.2.2).
        with_records = {h.host for h in report.dane.hosts if h.records}
        for exchanger in report.mx.exchangers:
            if exchanger.host in with_records:
                names += [(exchanger.host, "A")] if exchanger.ipv4 else []
                names += [(exchanger.host, "AAAA")] if exchanger.ipv6 else []
    if report.mta_sts is not None and report.mta_sts.records:
        names.append((report.mta_sts.name, "TXT"))
    timeout = float(getattr(resolver, "lifetime", 5.0) or 5.0)
    return check_dnssec(names, Validator(anchors, server, port, timeout))


def _judge_dane(report: DomainReport) -> None:
    """Whether the TLSA records found apply at all: the MX, address and TLSA answers must be
    secure, by the resolver's AD bit or by our own validation from --trust-anchor."""
    assert report.dane is not None
    checks = {} if report.dnssec is None else {(c.name, c.rdtype): c for c in report.dnssec.checks}

    def security(name: str, rdtypes: Sequence[str], ad_bit: bool) -> Security:
        found = [checks[(name, t)] for t in rdtypes if (name, t) in checks]
        # The weakest answer decides: one forged address is enough to divert the mail. A
        # bogus one outweighs the resolver's AD bit (it vouched for what does not verify),
        # and so does an insecure one (proven unsigned from the user's own anchor); the AD
        # bit outweighs "indeterminate" (no anchor of ours: the resolver has its own).
        for weakest in ("bogus", "insecure"):
            for check in found:
                if check.status == weakest:
                    return Security(weakest, check.reason)
        if ad_bit:
            return Security("secure", "the resolver set the AD bit")
        if not found:
            return Security("unvalidated")
        for check in found:
            if check.status == "indeterminate":
                return Security("indeterminate", check.reason)
        return Security("secure", found[0].reason)

    mx = report.mx
    if mx.kind is MXKind.MX:
        mx_security = security(report.domain, ["MX"], mx.authenticated)
    elif mx.authenticated:
        mx_security = Security("secure", "the resolver set the AD bit on the empty MX answer")
    elif (report.domain, "MX") in checks:  # --trust-anchor judged the denial of the MX
        absent = checks[(report.domain, "MX")]
        mx_security = Security(absent.status, absent.reason)
    else:
        # No MX: its absence would have to be proven by NSEC/NSEC3 (--trust-anchor does).
        mx_security = Security("indeterminate", "no MX record; a proof that none exists is not "
                               "checked without --trust-anchor")  # fmt: skip
    addresses = {
        e.host: security(e.host, [t for t, have in (("A", e.ipv4), ("AAAA", e.ipv6)) if have],
                         e.addresses_authenticated)
        for e in mx.exchangers
    }  # fmt: skip
    tlsa: dict[str, Security] = {}
    for host in report.dane.hosts:
        if host.bogus:  # our validation's verdict first, as above
            tlsa[host.host] = Security("bogus")
        elif host.authenticated:
            tlsa[host.host] = Security("secure")
        else:
            tlsa[host.host] = security(host.name, ["TLSA"], False)
    judge_applicability(report.dane, report.domain, mx_security, addresses, tlsa)


def _check_each_mx(dane: DANEResult, mx: MXResult, port: int, connector: Any = None) -> None:
    """--check-mx: STARTTLS to each MX (at the address this report's DNS gave) and match
    its certificates against its TLSA records."""
    from smtpsh.dnsinfo.danecheck import check_mx, items_for

    addresses = {e.host: e.addresses for e in mx.exchangers}
    dane.checks = []
    for entry in dane.hosts:
        found = addresses.get(entry.host) or ()
        if not found:
            continue
        dane.checks.append(check_mx(entry, port=port, connect_to=found[0], connector=connector))
    dane.item_list.extend(items_for(dane.checks))


# ---------------------------------------------------------------- rendering

MARKS = {Status.OK: "[ok]", Status.WARNING: "[warn]", Status.ERROR: "[error]"}
_STATUS_STYLES = {
    Status.OK: "class:status.ok",
    Status.WARNING: "class:status.warning",
    Status.ERROR: "class:status.error",
}
_MARK_WIDTH = max(len(m) for m in MARKS.values())


class Style:
    """How report lines are built; ``color`` only for the string forms (format_mx, ...)."""

    def __init__(self, color: bool = False) -> None:
        self.color = color

    @staticmethod
    def title(text: str) -> Fragments:
        return [("class:bold", text)]

    @staticmethod
    def mark(status: Status) -> tuple[str, str]:
        return (_STATUS_STYLES[status], MARKS[status].ljust(_MARK_WIDTH))

    @staticmethod
    def item_line(item: Item, indent: str = "  ") -> Fragments:
        return [("", indent), Style.mark(item.status), ("", f" {safe(item.reason)}")]

    def item(self, item: Item, indent: str = "  ") -> str:
        return render([self.item_line(item, indent)], colour=self.color)


def _item_lines(items: Iterable[Item]) -> list[Fragments]:
    return [Style.item_line(i) for i in items]


def _plain(lines: Iterable[str]) -> list[Fragments]:
    # Each is one line quoting DNS data: a line break in a record is shown, not obeyed.
    return [[("", safe(line))] for line in lines]


def mx_table_lines(mx: MXResult) -> list[str]:
    if not mx.exchangers:
        return []
    width = max(len(e.host) for e in mx.exchangers)
    rows = [f"  {'pref':>5}  {'exchanger'.ljust(width)}  addresses"]
    for ex in mx.exchangers:
        pref = "-" if ex.implicit else str(ex.preference)
        addresses = " ".join(ex.addresses) or "(none)"
        rows.append(f"  {pref:>5}  {ex.host.ljust(width)}  {addresses}")
    return rows


def mx_lines(mx: MXResult) -> list[Fragments]:
    """The MX table, the order a client tries, and the verdicts (for /mx and --mx)."""
    lines = [Style.title(f"MX for {mx.domain}")]
    lines += _plain(mx_table_lines(mx))
    candidates = mx_candidates(mx)
    if candidates:
        order = ", ".join(f"{h} [{a}]" for h, a in candidates)
        lines.append([("", f"  try order: {order}")])
    lines += _item_lines(mx.items())
    return lines


def format_mx(mx: MXResult, color: bool = False) -> str:
    return render(mx_lines(mx), colour=color)


def _spf_tree_lines(node: SPFNode, depth: int = 1) -> list[str]:
    indent = "  " * depth
    head = f"{node.via}:{node.domain}" if node.via else node.domain
    lookups = node.lookups
    if node.record is not None:
        counted = f"  ({lookups} lookup{'s' if lookups != 1 else ''})" if lookups else ""
        lines = [f"{indent}{head}{counted}", f'{indent}  "{node.record}"']
    else:
        lines = [f"{indent}{head}  ({node.note})"]
    for child in node.children:
        lines += _spf_tree_lines(child, depth + 1)
    return lines


def _policy_lines(policy: TXTPolicy) -> list[str]:
    if not policy.records:
        return []  # the item says the record is missing, and where
    return [f"  {policy.name}", *(f'    "{record}"' for record in policy.records)]


def _dmarc_lines(dmarc: TXTPolicy) -> list[str]:
    lines = _policy_lines(dmarc)
    extra = dmarc.extra
    if dmarc.records and extra:
        lines.append(
            f"    policy {extra['policy'] or '-'}, subdomains {extra['subdomain_policy'] or '-'},"
            f" pct {extra['pct']}, adkim {extra['adkim']}, aspf {extra['aspf']}"
        )
        for tag in ("rua", "ruf"):
            if extra[tag]:
                lines.append(f"    {tag} {', '.join(extra[tag])}")
    return lines


def _mta_sts_lines(mta_sts: TXTPolicy) -> list[str]:
    lines = _policy_lines(mta_sts)
    policy = mta_sts.extra.get("policy")
    if policy:
        lines.append(f"    policy: mode {policy['mode']}, max_age {policy['max_age']}")
        lines += [f"    mx: {pattern}" for pattern in policy["mx"]]
    elif mta_sts.extra.get("policy_fetch") == "failed":
        lines.append("    (policy file could not be fetched: see below)")
    elif mta_sts.records:
        lines.append("    (policy file not fetched; use --mta-sts-fetch)")
    return lines


def _dane_lines(dane: DANEResult) -> list[str]:
    lines: list[str] = []
    for host in dane.hosts:
        if host.records:
            lines.append(f"  {host.name}")
            lines += [f"    {r.description}  {r.data}" for r in host.records]
    for check in dane.checks or []:
        lines.append(f"  {check.host}: {check.verdict}"
                     + (f" ({check.tls}; {', '.join(check.chain)})" if check.tls else ""))
    return lines


def _dkim_lines(dkim: DKIMResult) -> list[str]:
    lines = [f"  {dkim.name}"]
    if dkim.key_type:
        bits = f", {dkim.key_bits} bits" if dkim.key_bits else ""
        lines.append(f"    key type {dkim.key_type}{bits}")
    return lines


def _bimi_lines(bimi: BIMIResult) -> list[str]:
    return [f"  {bimi.name}", f'    "{bimi.record}"'] if bimi.record else []


def _zone_lines(zone: ZoneResult) -> list[str]:
    lines = [f"  NS {ns}" for ns in zone.name_servers]
    if zone.soa is not None:
        soa = zone.soa
        lines.append(
            f"  SOA {soa['primary']} {soa['contact']} serial {soa['serial']}, refresh "
            f"{soa['refresh']}, retry {soa['retry']}, expire {soa['expire']}, "
            f"negative TTL {soa['minimum']}"
        )
    return lines


def report_lines(report: DomainReport) -> list[Fragments]:
    """The whole mail-domain report, as lines of (style, text) fragments."""
    out = [Style.title(f"Mail-domain report for {report.domain}")]
    out.append([("", f"  DNS server {report.dns_server}")])

    def section(title: str, detail: list[str], items: list[Item]) -> None:
        out.append([])
        out.append(Style.title(title))
        out.extend(_plain(detail))
        out.extend(_item_lines(items))

    section("MX", mx_table_lines(report.mx), report.mx.items())
    section("SPF", _spf_tree_lines(report.spf.root), report.spf.items())
    section("DMARC", _dmarc_lines(report.dmarc), report.dmarc.items())
    if report.mta_sts is None or report.tls_rpt is None or report.dane is None:
        out.append([])
        out.append(Style.title("MTA-STS, TLS-RPT, DANE"))
        out.append([("", "  not applicable: the domain accepts no mail")])
    else:
        section("MTA-STS", _mta_sts_lines(report.mta_sts), report.mta_sts.items())
        section("TLS-RPT", _policy_lines(report.tls_rpt), report.tls_rpt.items())
        section("DANE", _dane_lines(report.dane), report.dane.items())
    for dkim in report.dkim:
        section(f"DKIM selector {dkim.selector}", _dkim_lines(dkim), dkim.items())
    if report.bimi is not None:
        section("BIMI", _bimi_lines(report.bimi), report.bimi.items())
    if report.dnsbl is not None:
        section("DNS blocklists", [], report.dnsbl.items())
    if report.zone is not None:
        section("Zone (NS, SOA)", _zone_lines(report.zone), report.zone.items())
    if report.dnssec is not None:
        # Validated: the MX answer, each MX's TLSA and the MTA-STS record (_validate).
        implicit = report.mx.kind is MXKind.IMPLICIT
        none = [] if report.dnssec.checks else [
            "  nothing to validate: no MX, TLSA or MTA-STS record"
            + (" (the address of the implicit MX is not checked)" if implicit else "")
        ]
        section("DNSSEC (from your trust anchors)", none, report.dnssec.items())
    counts = count_by_status(report.items)
    out.append([])
    out.append([("", f"Summary: {counts['ok']} ok, {counts['warning']} warning(s),"
                     f" {counts['error']} error(s)")])
    return out


def render_text(report: DomainReport, color: bool = False) -> str:
    return render(report_lines(report), colour=color)


def ptr_lines(result: PTRResult) -> list[Fragments]:
    """PTR / FCrDNS / banner comparison (for /info)."""
    lines = [Style.title(f"Reverse DNS for {result.address}")]
    for name in result.names:
        forward = " ".join(result.forward.get(name, [])) or "(no address)"
        lines.append([("", f"  PTR {name} -> {forward}")])
    if result.banner_host:
        lines.append([("", f"  banner host {result.banner_host}")])
    lines += _item_lines(result.items())
    return lines


def format_ptr(result: PTRResult, color: bool = False) -> str:
    return render(ptr_lines(result), colour=color)

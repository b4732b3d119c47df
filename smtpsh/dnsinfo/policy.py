"""Policy records in TXT: DMARC (RFC 7489), MTA-STS (RFC 8461) and TLS-RPT (RFC 8460)."""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dns.resolver

from smtpsh.dnsinfo.lookup import Failure, query
from smtpsh.dnsinfo.model import Item, Status
from smtpsh.dnsinfo.tags import TagList, parse_tag_list, split_uris

if TYPE_CHECKING:
    from smtpsh.net.polite import Politeness

Validator = Callable[[str], "str | None"]


def _one_of(*allowed: str) -> Validator:
    def check(value: str) -> str | None:
        return None if value.lower() in allowed else f"must be one of {', '.join(allowed)}"

    return check


def _int_range(low: int, high: int) -> Validator:
    def check(value: str) -> str | None:
        if value.isdigit() and low <= int(value) <= high:
            return None
        return f"must be a whole number from {low} to {high}"

    return check


def _colon_list(*allowed: str) -> Validator:
    def check(value: str) -> str | None:
        bad = [v for v in value.split(":") if v.strip().lower() not in allowed]
        return f"unknown option(s) {', '.join(bad)}" if bad else None

    return check


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def _uri_list(schemes: Sequence[str], size_suffix: bool) -> Validator:
    def check(value: str) -> str | None:
        uris = split_uris(value)
        if not uris:
            return "empty URI list"
        for uri in uris:
            if size_suffix:  # DMARC allows "uri!10m" (RFC 7489 §6.2)
                uri = re.sub(r"![0-9]+[kmgtKMGT]?$", "", uri)
            if not _URI.match(uri) or uri.split(":", 1)[0].lower() not in schemes:
                return f"{uri!r} is not a {' or '.join(schemes)} URI"
        return None

    return check


# ---------------------------------------------------------------- DMARC

DMARC_TAGS: dict[str, Validator] = {
    "v": lambda v: None if v == "DMARC1" else "must be DMARC1",
    "p": _one_of("none", "quarantine", "reject"),
    "sp": _one_of("none", "quarantine", "reject"),
    "pct": _int_range(0, 100),
    "rua": _uri_list(("mailto", "https"), size_suffix=True),
    "ruf": _uri_list(("mailto", "https"), size_suffix=True),
    "adkim": _one_of("r", "s"),
    "aspf": _one_of("r", "s"),
    "fo": _colon_list("0", "1", "d", "s"),
    "rf": _one_of("afrf"),
    "ri": _int_range(0, 2**32 - 1),
    # DMARCbis (draft-ietf-dmarc-dmarcbis): known to up-to-date receivers, not "unknown".
    "np": _one_of("none", "quarantine", "reject"),
    "psd": _one_of("y", "n", "u"),
    "t": _one_of("y", "n"),
}

# What each policy means for mail that fails DMARC.
DMARC_POLICY: dict[str, tuple[Status, str]] = {
    "reject": (Status.OK, "p=reject: mail failing DMARC is rejected"),
    "quarantine": (Status.OK, "p=quarantine: mail failing DMARC is treated as suspicious"),
    "none": (Status.WARNING, "p=none: reports only, no enforcement"),
}
ALIGNMENT = {"r": "relaxed", "s": "strict"}


@dataclass
class TXTPolicy:
    """A TXT policy record found (or not) at ``name``."""

    check: str
    name: str
    records: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)  # TXTs meant as one, discarded
    tags: TagList = field(default_factory=TagList)
    item_list: list[Item] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def record(self) -> str | None:
        return self.records[0] if self.records else None

    def items(self) -> list[Item]:
        return self.item_list

    def add(self, status: Status, text: str) -> None:
        self.item_list.append(Item(self.check, status, text))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "record": self.record,
            "records": self.records,
            "tags": dict(self.tags.tags),
            **self.extra,
            "items": [i.to_json() for i in self.item_list],
        }


def _fetch_policy_record(
    check: str,
    name: str,
    version: str,
    resolver: dns.resolver.Resolver,
    absent: tuple[Status, str],
) -> TXTPolicy:
    """Look up ``name`` and keep the TXT records whose first tag is ``v=version``
    (other TXT records at the name are not this kind of record and are ignored)."""
    result = TXTPolicy(check, name)
    answer = query(resolver, name, "TXT")
    if answer.failure and answer.failure is not Failure.NXDOMAIN:
        result.add(Status.ERROR, f"lookup of {name} failed: {answer.failure_text}")
        return result
    for text in answer.texts():
        tags = parse_tag_list(text)
        if tags.order[:1] == ["v"] and tags.tags["v"] == version:
            result.records.append(text)
        elif _looks_like(text, version):
            result.malformed.append(text)
    for text in result.malformed:
        # e.g. "v=DMARC1 p=reject" (no ";"): its v= is not exactly the version, so
        # receivers discard it; "no record" alone would hide why.
        # Quoted as the records are shown (the output layer escapes what is in it).
        result.add(Status.ERROR, f'"{text}" at {name} is malformed (v= must be exactly '
                   f"{version}, then ';'): receivers ignore it")  # fmt: skip
    if not result.records and not result.malformed:
        result.add(*absent)
    elif len(result.records) > 1:
        result.add(Status.ERROR, f"{len(result.records)} records at {name}; there must be one")
    if result.records:
        result.tags = parse_tag_list(result.records[0])
        for problem in result.tags.problems:
            result.add(Status.ERROR, problem)
    return result


def _looks_like(text: str, version: str) -> bool:
    """A TXT meant as this kind of record (it starts with v=VERSION, any case or spacing)."""
    head = "".join(text.split()).lower()
    return head.startswith(f"v={version.lower()}")


def check_dmarc(domain: str, resolver: dns.resolver.Resolver) -> TXTPolicy:
    """The domain's DMARC record or, when it has none, its organisational domain's
    (RFC 7489 §6.6.3), whose sp= (else p=) policy then applies to the domain."""
    name = f"_dmarc.{domain}"
    own = _fetch_policy_record("DMARC", name, "DMARC1", resolver, (Status.WARNING, ""))
    failed = not own.malformed and any(i.status is Status.ERROR for i in own.item_list)
    if own.records or failed:
        return _judge_dmarc(own, resolver, domain)
    # RFC 7489 §6.6.3: a malformed record is discarded, and the organisational domain's
    # record is looked for as if there were none; the malformed one stays reported.
    own_problems = [i for i in own.item_list if i.status is Status.ERROR]
    from smtpsh.dnsinfo.orgdomain import organisational_domain

    org = organisational_domain(domain)
    org_name = f"_dmarc.{org}"
    if org is None or org == domain.lower().rstrip("."):
        own.item_list = own_problems or [Item("DMARC", Status.WARNING,
                                              f"no DMARC record at {name}")]  # fmt: skip
        return own
    absent = (
        Status.WARNING,
        f"no DMARC record at {name}, nor at its organisational domain's {org_name}",
    )
    inherited = _fetch_policy_record("DMARC", org_name, "DMARC1", resolver, absent)
    if not inherited.records:
        inherited.name = name
        inherited.extra = {"organisational_domain": org, "inherited": False}
        inherited.item_list[:0] = own_problems
        return inherited
    result = _judge_dmarc(inherited, resolver, org, subdomain=True)
    applied = result.extra.get("subdomain_policy")
    result.item_list.insert(
        0,
        Item(
            "DMARC",
            Status.OK if applied in ("reject", "quarantine") else Status.WARNING,
            f"no record at {name}: the organisational domain {org}'s record applies "
            f"(RFC 7489 §6.6.3), with its {'sp' if 'sp' in result.tags.tags else 'p'}="
            f"{applied or '?'} for subdomains",
        ),
    )
    result.item_list[:0] = own_problems
    result.extra.update(organisational_domain=org, inherited=True, applied_policy=applied)
    return result


def _judge_dmarc(
    result: TXTPolicy,
    resolver: dns.resolver.Resolver,
    policy_domain: str,
    *,
    subdomain: bool = False,
) -> TXTPolicy:
    """Check a DMARC record's tags and sum up its policy (for a subdomain: its sp=).
    ``policy_domain``: where the record was found (report destinations are authorised for
    it, RFC 7489 §7.1)."""
    if not result.records:
        return result
    tags = result.tags
    for tag in tags.order:
        validator = DMARC_TAGS.get(tag)
        if validator is None:
            result.add(Status.WARNING, f"unknown tag {tag}= (ignored by receivers)")
        elif problem := validator(tags.tags[tag]):
            result.add(Status.ERROR, f"{tag}={tags.tags[tag]}: {problem}")
    policy = (tags.get("p") or "").lower()
    pct = tags.get("pct") or "100"
    applied = (tags.get("sp") or policy).lower() if subdomain else policy
    if "p" not in tags.tags:
        # RFC 7489 §6.6.3 step 6: with a valid rua= receivers act as if p=none, else
        # they ignore the record.
        result.add(Status.ERROR, "no p= tag: the record has no policy (receivers treat it as "
                   "p=none when rua= is valid, else ignore it; RFC 7489 §6.6.3)")  # fmt: skip
    elif policy in DMARC_POLICY and not subdomain:  # an unknown p= was reported above
        result.item_list.insert(0, Item("DMARC", *DMARC_POLICY[policy]))
        sub = (tags.get("sp") or "").lower()
        if sub == "none" and policy != "none":
            result.add(Status.WARNING, "sp=none: subdomains have no enforcement")
    if pct.isdigit() and int(pct) < 100 and applied in ("quarantine", "reject"):
        result.add(Status.WARNING, f"pct={pct}: the policy applies to {pct}% of failing mail")
    if "rua" not in tags.tags:
        result.add(Status.WARNING, "no rua=: nobody receives aggregate reports")
    for tag in ("rua", "ruf"):
        for uri in split_uris(tags.get(tag) or ""):
            if problem := _external_destination(uri, policy_domain, resolver):
                result.add(Status.WARNING, f"{tag}={uri}: {problem}")
    result.extra = {
        "policy": policy or None,
        "subdomain_policy": (tags.get("sp") or policy or "").lower() or None,
        "pct": int(pct) if pct.isdigit() else None,
        "rua": split_uris(tags.get("rua") or ""),
        "ruf": split_uris(tags.get("ruf") or ""),
        "adkim": ALIGNMENT.get((tags.get("adkim") or "r").lower()),
        "aspf": ALIGNMENT.get((tags.get("aspf") or "r").lower()),
    }
    return result


def _external_destination(
    uri: str, policy_domain: str, resolver: dns.resolver.Resolver
) -> str | None:
    """RFC 7489 §7.1: reports go to a mailto: address in another organisational domain
    only when that domain publishes ``<policy domain>._report._dmarc.<host>`` (a TXT
    starting v=DMARC1). Why reports will not (or may not) go there, or None."""
    scheme, _, rest = uri.partition(":")
    if scheme.lower() != "mailto" or "@" not in rest:
        return None  # a bad URI was reported by the tag check
    host = re.sub(r"![0-9]+[kmgtKMGT]?$", "", rest).rpartition("@")[2].lower().rstrip(".")
    own = policy_domain.lower().rstrip(".")
    if not host or host == own or host.endswith("." + own):
        return None
    from smtpsh.dnsinfo.orgdomain import organisational_domain

    if organisational_domain(host) == organisational_domain(own):
        return None
    name = f"{own}._report._dmarc.{host}"
    answer = query(resolver, name, "TXT")
    if answer.failure and answer.failure is not Failure.NXDOMAIN:
        return (f"could not check that {host} accepts reports for {own} "
                f"(lookup of {name} failed: {answer.failure_text})")  # fmt: skip
    if any(_looks_like(text, "DMARC1") for text in answer.texts()):
        return None
    return (f"{host} has not authorised reports for {own} (no v=DMARC1 TXT at {name}, "
            "RFC 7489 §7.1): receivers will not send them there")  # fmt: skip


# ---------------------------------------------------------------- TLS-RPT

_TLSRPT_RUA = _uri_list(("mailto", "https"), size_suffix=False)


def check_tls_rpt(domain: str, resolver: dns.resolver.Resolver) -> TXTPolicy:
    name = f"_smtp._tls.{domain}"
    absent = (Status.WARNING, f"not published at {name} (optional: TLS failure reports)")
    result = _fetch_policy_record("TLS-RPT", name, "TLSRPTv1", resolver, absent)
    if not result.records:
        return result
    rua = result.tags.get("rua")
    if rua is None:
        result.add(Status.ERROR, "no rua=: reports have nowhere to go")
    elif problem := _TLSRPT_RUA(rua):
        result.add(Status.ERROR, f"rua={rua}: {problem}")
    else:
        result.item_list.insert(0, Item("TLS-RPT", Status.OK, f"reports go to {rua}"))
    result.extra = {"rua": split_uris(rua or "")}
    return result


# ---------------------------------------------------------------- MTA-STS

_STS_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")  # RFC 8461 §3.1
MTA_STS_MAX_AGE = 31557600  # RFC 8461 §3.2
MTA_STS_MIN_SENSIBLE_AGE = 86400  # below a day the policy barely protects (§3.2 advice)
MTA_STS_MODES: dict[str, tuple[Status, str]] = {
    "enforce": (Status.OK, "mode enforce: senders refuse MX hosts without valid TLS"),
    "testing": (Status.WARNING, "mode testing: failures are reported, not enforced"),
    "none": (Status.WARNING, "mode none: the policy is withdrawn"),
}
POLICY_SIZE_LIMIT = 64 * 1024


def policy_url(domain: str) -> str:
    return f"https://mta-sts.{domain}/.well-known/mta-sts.txt"


def check_mta_sts(domain: str, resolver: dns.resolver.Resolver) -> TXTPolicy:
    name = f"_mta-sts.{domain}"
    absent = (Status.WARNING, f"not published at {name} (optional: lets senders require TLS)")
    result = _fetch_policy_record("MTA-STS", name, "STSv1", resolver, absent)
    if not result.records:
        return result
    sts_id = result.tags.get("id")
    if sts_id is None:
        result.add(Status.ERROR, "no id= tag (RFC 8461 §3.1)")
    elif not _STS_ID.match(sts_id):
        result.add(Status.ERROR, f"id={sts_id}: must be 1-32 letters or digits")
    else:
        text = f"id={sts_id}, policy at {policy_url(domain)}"
        result.item_list.insert(0, Item("MTA-STS", Status.OK, text))
    result.extra = {"id": sts_id, "policy_url": policy_url(domain), "policy": None}
    return result


@dataclass
class MTASTSPolicy:
    fields: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def first(self, key: str) -> str | None:
        values = self.fields.get(key)
        return values[0] if values else None

    @property
    def mx_patterns(self) -> list[str]:
        return self.fields.get("mx", [])


def parse_mta_sts_policy(text: str) -> MTASTSPolicy:
    """The policy file: "key: value" lines (RFC 8461 §3.2); "mx" may repeat."""
    policy = MTASTSPolicy()
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            policy.problems.append(f"malformed line {line.strip()!r}")
            continue
        policy.fields.setdefault(key.strip().lower(), []).append(value.strip())
    return policy


def mx_pattern_matches(pattern: str, host: str) -> bool:
    """RFC 8461 §4.1: exact match, or "*.example.com" matching exactly one more label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, tail = host.partition(".")
        return bool(head) and tail == pattern[2:]
    return pattern == host


def policy_items(policy: MTASTSPolicy, mx_hosts: Sequence[str]) -> list[Item]:
    items: list[Item] = [Item("MTA-STS", Status.ERROR, p) for p in policy.problems]
    if policy.first("version") != "STSv1":
        items.append(Item("MTA-STS", Status.ERROR, "policy: version is not STSv1"))
    mode = (policy.first("mode") or "").lower()
    status, text = MTA_STS_MODES.get(mode, (Status.ERROR, f"policy: bad mode {mode!r}"))
    items.append(Item("MTA-STS", status, text))
    max_age = policy.first("max_age") or ""
    if not max_age.isdigit() or int(max_age) > MTA_STS_MAX_AGE:
        items.append(Item("MTA-STS", Status.ERROR, f"policy: bad max_age {max_age!r}"))
    elif int(max_age) < MTA_STS_MIN_SENSIBLE_AGE:
        items.append(Item("MTA-STS", Status.WARNING, f"policy: max_age={max_age} is under a day"))
    if mode != "none":
        if not policy.mx_patterns:
            items.append(Item("MTA-STS", Status.ERROR, "policy lists no mx: patterns"))
        for host in mx_hosts:
            if not any(mx_pattern_matches(p, host) for p in policy.mx_patterns):
                items.append(
                    Item("MTA-STS", Status.ERROR, f"MX {host} is not covered by the policy")
                )
    return items


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # RFC 8461 §3.3: redirects must not be followed.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address found beforehand; the certificate is checked for the URL's host."""

    def __init__(self, host: str, address: str, context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(host, context=context, **kwargs)
        self._address, self._pinned_context = address, context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._pinned_context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, address: str, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._address, self._pinned_context = address, context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def connection(host: str, **kwargs: Any) -> http.client.HTTPSConnection:
            kwargs.pop("context", None)
            kwargs.pop("check_hostname", None)  # Python 3.11 passes it
            return _PinnedHTTPSConnection(host, self._address, self._pinned_context, **kwargs)

        return self.do_open(connection, req)  # type: ignore[arg-type]


def fetch_mta_sts_policy(
    domain: str,
    timeout: float = 10.0,
    *,
    url: str | None = None,
    context: ssl.SSLContext | None = None,
    address: str | None = None,
) -> str:
    """Fetch the policy file over HTTPS (certificate verified). Raises OSError with a
    one-line message on failure. Only called when the user asks (--mta-sts-fetch).
    ``url`` and ``context`` replace the well-known URL and the system trust store;
    ``address``: connect there (found in the report's DNS) instead of asking the system."""
    url = url or policy_url(domain)
    context = context or ssl.create_default_context()
    https: urllib.request.BaseHandler = (
        urllib.request.HTTPSHandler(context=context) if address is None
        else _PinnedHTTPSHandler(address, context)
    )  # fmt: skip
    extra = [] if address is None else [urllib.request.ProxyHandler({})]  # no proxy then
    opener = urllib.request.build_opener(_NoRedirect(), https, *extra)
    request = urllib.request.Request(url, headers={"User-Agent": "smtpsh"})
    try:
        with opener.open(request, timeout=timeout) as response:
            ctype = response.headers.get_content_type()
            if ctype != "text/plain":
                raise OSError(f"policy served as {ctype}, not text/plain (RFC 8461 §3.3)")
            body: bytes = response.read(POLICY_SIZE_LIMIT + 1)
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code} {exc.reason} from {url}") from None
    except urllib.error.URLError as exc:
        raise OSError(f"cannot fetch {url}: {exc.reason}") from None
    except (TimeoutError, ssl.SSLError, http.client.HTTPException) as exc:
        raise OSError(f"cannot fetch {url}: {exc or type(exc).__name__}") from None
    if len(body) > POLICY_SIZE_LIMIT:
        raise OSError(f"policy larger than {POLICY_SIZE_LIMIT} bytes")
    return body.decode("utf-8", "replace")


def resolving_fetch(
    resolver: dns.resolver.Resolver,
    timeout: float,
    context: ssl.SSLContext | None = None,
    politeness: Politeness | None = None,
) -> Callable[[str], str]:
    """A fetch for apply_fetched_policy that finds mta-sts.DOMAIN's address with the
    report's resolver (--dns-server), as every other name in the report, not the system's.
    ``politeness`` (--delay): each HTTPS connection waits its turn at that address, as
    --check-mx's do at each MX (many domains are often hosted at one policy server)."""

    def fetch(domain: str) -> str:
        host = f"mta-sts.{domain}"
        for rdtype in ("A", "AAAA"):
            answer = query(resolver, host, rdtype)
            if answer.rdatas:
                address = answer.rdatas[0].to_text()
                if politeness is not None and not politeness.wait_turn(address):
                    raise OSError(f"cannot fetch {policy_url(domain)}: the run was stopped")
                return fetch_mta_sts_policy(domain, timeout, context=context, address=address)
            if answer.failure and answer.failure is not Failure.NXDOMAIN:
                raise OSError(f"cannot fetch {policy_url(domain)}: lookup of {host} failed: "
                              f"{answer.failure_text}")  # fmt: skip
        raise OSError(f"cannot fetch {policy_url(domain)}: {host} has no address (A or AAAA)")

    return fetch


def apply_fetched_policy(
    result: TXTPolicy, domain: str, mx_hosts: Sequence[str], fetch: Callable[[str], str]
) -> None:
    """Fetch (with ``fetch``) and judge the policy file, adding items to ``result``."""
    try:
        text = fetch(domain)
    except OSError as exc:
        result.add(Status.ERROR, f"policy fetch failed: {exc}")
        result.extra["policy_fetch"] = "failed"
        return
    result.extra["policy_fetch"] = "fetched"
    policy = parse_mta_sts_policy(text)
    result.item_list.extend(policy_items(policy, mx_hosts))
    result.extra["policy"] = {
        "version": policy.first("version"),
        "mode": policy.first("mode"),
        "mx": policy.mx_patterns,
        "max_age": policy.first("max_age"),
    }

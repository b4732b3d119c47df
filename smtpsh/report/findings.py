"""From the JSON that `smtpsh probe|relay|tls|dns --json` print (and `smtpsh enum -o x.json`
writes) to findings with their evidence.

The documents come from files a person hands us, so nothing in them is trusted to have the
shape we wrote: a field of the wrong type is read as missing, never as a crash, and every
string is passed on as text for the renderers to escape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smtpsh.report.model import Finding, Source

# How bad each `smtpsh probe` finding is (its "dangerous" flag only says yes or no).
PROBE_SEVERITY = {
    "open_relay": "high",
    "auth_in_clear": "high",
    "starttls_broken": "high",
    "no_starttls": "medium",
    "starttls_not_required": "medium",
    "vrfy": "medium",
    "expn": "medium",
    "ntlm_info": "medium",
    "banner_version": "low",
    "weak_tls": "medium",
}
# How many relayed tests are shown as evidence (each is three dialogue lines and replies).
RELAY_EVIDENCE = 3
# Weak suites shown from a TLS scan (one line each; a grade F server can list a hundred).
TLS_EVIDENCE = 12


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _lines(value: Any) -> list[str]:
    return [line for line in _list(value) if isinstance(line, str)]


def _server(lines: Any) -> list[str]:
    return [f"S: {line}" for line in _lines(lines)]


def _dialogue(steps: Any) -> list[str]:
    """Relay JSON's [{"command", "reply"}] as C:/S: lines."""
    out: list[str] = []
    for step in _list(steps):
        step = _dict(step)
        if _str(step.get("command")):
            out.append(f"C: {step['command']}")
        out += _server(step.get("reply"))
    return out


def kind_of(doc: dict[str, Any]) -> str | None:
    """Which command printed ``doc`` (None: not one smtpsh knows)."""
    if "fingerprint" in doc and "findings" in doc:
        return "probe"
    if "verdict" in doc and "results" in doc:
        return "relay"
    if "versions" in doc and "grade" in doc:
        return "tls"
    if "domain" in doc and ("items" in doc or "error" in doc) and "status" in doc:
        return "dns"
    if "method" in doc and "found" in doc and "checked" in doc:
        return "enum"
    return None


# ---------------------------------------------------------------- probe


def _probe_evidence(key: str, doc: dict[str, Any]) -> list[str]:
    if key == "open_relay":
        return _relayed_evidence(_dict(doc.get("relay")))
    if key in ("vrfy", "expn"):
        check = _dict(doc.get(key))
        out: list[str] = []
        for part in ("reference", "canary"):
            pair = _dict(check.get(part))
            if _str(pair.get("name")):
                out += [f"C: {key.upper()} {pair['name']}", *_server(pair.get("reply"))]
        return out
    if key in ("banner_version", "banner_software"):
        return _server(doc.get("banner"))
    if key == "no_starttls":
        return ["C: EHLO …", *_server(doc.get("ehlo"))]
    if key in ("auth_in_clear", "auth_refused_in_clear"):
        # The EHLO reply that lists AUTH, and the answer to AUTH asked in clear (if asked).
        tried = _dict(_dict(doc.get("auth")).get("in_clear"))
        asked = ([f"C: AUTH {_str(tried.get('mechanism'))}", *_server(tried.get("reply"))]
                 if _str(tried.get("mechanism")) else [])
        return ["C: EHLO …", *_server(doc.get("ehlo")), *asked]
    if key in ("certificate", "starttls_broken"):
        return _lines(_dict(doc.get("tls")).get("certificate"))
    return []


def _probe(doc: dict[str, Any], source: str) -> tuple[Source, list[Finding]]:
    target = _str(doc.get("target")) or source
    found: list[Finding] = []
    fatal = _str(doc.get("fatal"))
    if fatal:
        found.append(Finding("info", "probe did not finish", target, fatal, source=source))
    for item in _list(doc.get("findings")):
        item = _dict(item)
        key = _str(item.get("key"))
        dangerous = item.get("dangerous") is True
        severity = PROBE_SEVERITY.get(key, "medium") if dangerous else "low"
        why = _str(item.get("why"))
        if key == "open_relay":
            why = _with_caveat(why, _dict(doc.get("relay")))
        found.append(Finding(
            severity, _str(item.get("title")) or key or "finding", target,
            _str(item.get("detail")), why, tuple(_probe_evidence(key, doc)), source,
        ))  # fmt: skip
    scan = doc.get("tls_scan")
    if isinstance(scan, dict):
        found += _tls(scan, source)[1]
    relay = _dict(doc.get("relay"))
    if relay and relay.get("verdict") not in ("open", None):
        found += _relay(relay, source, target)[1]
    banner = " / ".join(_lines(doc.get("banner")))
    family = _str(doc.get("family"))
    serious = sum(1 for f in found if f.severity in ("high", "medium"))
    # (not !r: the probe's JSON holds the banner already escaped, and repr would double
    # each backslash; whatever is raw in it, the renderer escapes)
    summary = f"banner '{banner}'" if banner else "no banner"
    if family:
        summary += f"; behaves like {family}"
    summary += f"; {serious} high or medium finding{'s' if serious != 1 else ''}"
    return Source(source, "probe", target, summary), found


# ---------------------------------------------------------------- relay


def _relayed_evidence(relay: dict[str, Any]) -> list[str]:
    out: list[str] = []
    relayed = [r for r in _list(relay.get("results")) if _dict(r).get("outcome") == "relayed"]
    for result in relayed[:RELAY_EVIDENCE]:
        result = _dict(result)
        out.append(f"# test {result.get('test', '?')}: {_str(result.get('trick'))}")
        out += _dialogue(result.get("dialogue"))
    if len(relayed) > RELAY_EVIDENCE:
        out.append(f"# … and {len(relayed) - RELAY_EVIDENCE} more relayed tests")
    return out


def _with_caveat(why: str, relay: dict[str, Any]) -> str:
    """The relay tests' own caveat (they never send DATA) after why an open relay matters:
    the verdict is what RCPT said, and the report must not claim more."""
    caveat = _str(relay.get("caveat"))
    return f"{why}. {caveat[:1].upper()}{caveat[1:]}" if caveat and why else why or caveat


def _relay(
    doc: dict[str, Any], source: str, target: str | None = None
) -> tuple[Source, list[Finding]]:
    target = target or _str(doc.get("target")) or _str(doc.get("server_name")) or source
    verdict = _str(doc.get("verdict")) or "unknown"
    summary = _str(doc.get("summary")) or f"relay verdict: {verdict}"
    found: list[Finding] = []
    if verdict == "open":
        why = _with_caveat(
            "anyone can send mail through this server to any domain: its address lands on"
            " blocklists and its own mail bounces too", doc,
        )  # fmt: skip
        found.append(Finding("high", "open relay", target, summary, why,
                             tuple(_relayed_evidence(doc)), source))  # fmt: skip
    elif verdict == "inconclusive":
        odd = [r for r in _list(doc.get("results"))
               if _dict(r).get("outcome") == "inconclusive"]  # fmt: skip
        evidence: list[str] = []
        for result in odd[:RELAY_EVIDENCE]:
            evidence += _dialogue(_dict(result).get("dialogue"))
        found.append(Finding(
            "medium", "relay tests inconclusive", target, summary,
            "no test relayed, but some replies said neither yes nor no: check by hand",
            tuple(evidence), source,
        ))  # fmt: skip
    elif verdict in ("could not test", "unknown"):
        why = _str(doc.get("could_not_test"))
        found.append(Finding("info", "relay not tested", target, why or summary, source=source))
    else:
        found.append(Finding("info", "relay refused", target, summary, source=source))
    return Source(source, "relay", target, summary), found


# ---------------------------------------------------------------- tls


def _tls(doc: dict[str, Any], source: str) -> tuple[Source, list[Finding]]:
    target = _str(doc.get("target")) or source
    grade = _str(doc.get("grade")) or "?"
    caps = [c for c in _lines(doc.get("grade_capped_by"))]
    accepted = [
        _str(_dict(v).get("version")) for v in _list(doc.get("versions"))
        if _dict(v).get("accepted") is True
    ]  # fmt: skip
    detail = f"TLS grade {grade}"
    if caps:
        detail += f" (capped by {', '.join(caps)})"
    if accepted:
        detail += f"; accepts {', '.join(accepted)}"
    severity = {"F": "high", "C": "medium", "B": "low"}.get(grade, "info")
    weak = _lines(doc.get("findings"))
    if len(weak) > TLS_EVIDENCE:
        weak = [*weak[:TLS_EVIDENCE], f"… and {len(weak) - TLS_EVIDENCE} more (smtpsh tls)"]
    evidence = tuple(weak + _lines(doc.get("certificate")))
    why = ("a weak protocol or cipher lets an attacker on the path read or change the mail"
           if severity in ("high", "medium") else "")
    finding = Finding(severity, f"TLS grade {grade}", target, detail, why, evidence, source)
    return Source(source, "tls", target, detail), [finding]


# ---------------------------------------------------------------- dns

DNS_SEVERITY = {"error": "medium", "warning": "low", "ok": "info"}


def _dns(doc: dict[str, Any], source: str) -> tuple[Source, list[Finding]]:
    domain = _str(doc.get("domain")) or source
    error = _dict(doc.get("error"))
    if error:
        message = _str(error.get("message")) or "the domain could not be resolved"
        finding = Finding("info", "domain not resolved", domain, message, source=source)
        return Source(source, "dns", domain, message), [finding]
    found = []
    for item in _list(doc.get("items")):
        item = _dict(item)
        status = _str(item.get("status"))
        if status not in DNS_SEVERITY:
            continue
        check = _str(item.get("check")) or "dns"
        reason = _str(item.get("reason"))
        text = reason.split(": ", 1)[1] if reason.startswith(f"{check}: ") else reason
        evidence = tuple(_dns_evidence(check, doc))
        found.append(Finding(DNS_SEVERITY[status], f"{check}: {status}", domain, text,
                             evidence=evidence, source=source))  # fmt: skip
    counts = _dict(doc.get("summary"))
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if isinstance(n, int)) or "checked"
    return Source(source, "dns", domain, summary), found


def _dns_evidence(check: str, doc: dict[str, Any]) -> list[str]:
    """The published records a DNS item is about, as zone-file lines, when the JSON holds
    them (the MX table; the TXT record of SPF, DMARC, MTA-STS, TLS-RPT, BIMI)."""
    section = _dict(doc.get(check.lower().replace("-", "_")))
    if check == "MX":
        return [f"{_str(section.get('domain'))} MX {_dict(x).get('preference', '?')}"
                f" {_str(_dict(x).get('host'))}"
                for x in _list(section.get("exchangers"))]  # fmt: skip
    name = _str(section.get("name")) or _str(section.get("domain")) or _str(doc.get("domain"))
    return [f'{name} TXT "{record}"' for record in _lines(section.get("records"))]


# ---------------------------------------------------------------- enum


def _enum(doc: dict[str, Any], source: str) -> tuple[Source, list[Finding]]:
    target = _str(doc.get("target")) or _str(doc.get("domain")) or source
    method = _str(doc.get("method")) or "?"
    found_users = [_dict(r) for r in _list(doc.get("found"))]
    summary = (f"{len(found_users)} of {doc.get('checked', '?')} names found with {method}")
    findings: list[Finding] = []
    if found_users:
        evidence: list[str] = []
        for user in found_users:
            evidence.append(f"C: {method} {_str(user.get('name'))}")
            evidence += _server(user.get("reply"))
        findings.append(Finding(
            "medium", "users enumerated", target, summary,
            "real account names are the first half of a password-guessing attack",
            tuple(evidence), source,
        ))  # fmt: skip
    return Source(source, "enum", target, summary), findings


EXTRACTORS: dict[str, Callable[[dict[str, Any], str], tuple[Source, list[Finding]]]] = {
    "probe": _probe,
    "relay": _relay,
    "tls": _tls,
    "dns": _dns,
    "enum": _enum,
}


def from_document(doc: dict[str, Any], source: str) -> tuple[Source, list[Finding]] | None:
    """The source and findings of one smtpsh JSON document (None: not a kind we know)."""
    kind = kind_of(doc)
    return EXTRACTORS[kind](doc, source) if kind is not None else None

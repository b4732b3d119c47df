"""The probe report: findings (each with why it matters), text for people, JSON for tools."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from smtpsh import exitcodes
from smtpsh.audit.relay import CaseResult, Outcome, nearness
from smtpsh.audit.relay import Verdict as RelayVerdict
from smtpsh.output.printer import Fragments
from smtpsh.protocol.codes import annotate
from smtpsh.protocol.commands import EXTENSIONS
from smtpsh.protocol.replies import Reply

TYPE_CHECKING = False
if TYPE_CHECKING:  # the probe runs the checks and renders with this module
    from smtpsh.audit.probe import ProbeReport, VerbCheck

# key -> (title, why it matters). The checks below decide *whether*; this says *why*.
WHY: Mapping[str, tuple[str, str]] = MappingProxyType({
    "open_relay": (
        "open relay",
        "anyone can send mail through this server to any domain: spammers find such servers"
        " within hours, and its address lands on blocklists, so its own mail bounces too",
    ),
    "vrfy": (
        "VRFY enabled (user enumeration)",
        "VRFY tells real user names from made-up ones, so anyone can harvest account names"
        " for password guessing and phishing; set disable_vrfy_command = yes (Postfix),"
        " leave acl_smtp_vrfy unset (Exim: it then refuses VRFY) or the equivalent",
    ),
    "expn": (
        "EXPN enabled (user and list enumeration)",
        "EXPN reveals who is behind an alias or mailing list, handing out internal"
        " addresses; leave acl_smtp_expn unset (Exim: it then refuses EXPN) or the"
        " equivalent (Postfix has no EXPN)",
    ),
    "auth_in_clear": (
        "AUTH offered without TLS (credentials in clear)",
        "a client may send its password before encrypting: PLAIN and LOGIN are only base64,"
        " so anyone on the path can read it; offer AUTH only after STARTTLS",
    ),
    "auth_refused_in_clear": (
        "AUTH listed before TLS, but refused there",
        "the server refuses AUTH until STARTTLS, yet lists it in clear: a client that sends"
        " its credentials with the command (AUTH PLAIN with an initial response) has sent"
        " them in clear before the refusal; list AUTH only after STARTTLS",
    ),
    "no_starttls": (
        "STARTTLS not offered",
        "all mail, and any password, crosses the network unencrypted and can be read or"
        " altered on the way",
    ),
    "starttls_broken": (
        "STARTTLS offered but does not work",
        "clients that try TLS fail and, if they fall back, send in clear; strict clients"
        " cannot deliver at all",
    ),
    "starttls_not_required": (
        "STARTTLS not required",
        "a client can submit mail (and credentials) without encrypting, and a man in the"
        " middle can strip STARTTLS from the EHLO reply to force that",
    ),
    "starttls_optional_mx": (
        "STARTTLS not required (normal for port 25)",
        "a public MX must accept mail in clear (RFC 3207 §4) so that all senders can"
        " deliver; MTA-STS or DANE let senders insist on TLS instead",
    ),
    "starttls_optional_port": (
        "STARTTLS not required (this port's role is unknown)",
        "on a submission port a client could send mail and its password in clear, and a man"
        " in the middle can strip STARTTLS from the EHLO reply to force that; on a public MX"
        " it is normal (RFC 3207 §4). Which one this port serves cannot be told from outside:"
        " a danger if users submit mail here",
    ),
    "banner_version": (
        "banner leaks software and version",  # or the EHLO greeting or HELP: detail says

        "attackers match the exact version against known vulnerabilities without any"
        " further probing; a banner needs only the host name and 'ESMTP'",
    ),
    "banner_software": (
        "banner names the software",
        "a small hint for attackers; the version is not shown",
    ),
    "ntlm_info": (
        "NTLM discloses internal names",
        "an anonymous AUTH NTLM challenge reveals internal host and domain names and the OS"
        " build, which helps map the internal network",
    ),
    "certificate": (
        "certificate problems",
        "clients that verify certificates (MTA-STS, DANE, submission clients) will refuse"
        " the connection or cannot tell this server from an impostor",
    ),
})


@dataclass(frozen=True)
class Finding:
    key: str
    detail: str
    dangerous: bool

    @property
    def title(self) -> str:
        return WHY[self.key][0]

    @property
    def why(self) -> str:
        return WHY[self.key][1]


def _first(reply: Reply | None) -> str:
    return reply.wire_lines()[0] if reply is not None and reply.wire_lines() else "(none)"


def _verb_detail(check: VerbCheck) -> str:
    pairs = [pair for pair in (check.reference, check.canary) if pair is not None]
    detail = "; ".join(f"{check.verb} {name} → {_first(reply)}" for name, reply in pairs)
    return f"{detail} ({check.why})" if check.why else detail


# Each check returns (detail, dangerous) when the finding applies, else None.
Check = Callable[["ProbeReport"], "tuple[str, bool] | None"]


def _answer(result: CaseResult) -> str:
    """The reply to a relay test's own RCPT (not to the control RCPT that may follow)."""
    answer = result.answer()
    return _first(answer[1]) if answer is not None else ""


def _open_relay(r: ProbeReport) -> tuple[str, bool] | None:
    if r.relay is None or not r.relay.open_relay:
        return None
    first = r.relay.relayed[0]
    return (f"{r.relay.summary}; e.g. MAIL FROM:<{first.case.mail_from}> RCPT"
            f" TO:<{first.case.rcpt_to}> → {_answer(first)}", True)


def _verb(attr: str) -> Check:
    def check(r: ProbeReport) -> tuple[str, bool] | None:
        verb: VerbCheck = getattr(r, attr)
        return (_verb_detail(verb), True) if verb.state == "reveals" else None
    return check


def _auth_answer(r: ProbeReport) -> str:
    if r.auth_clear is None:
        return ""
    mechanism, reply = r.auth_clear
    return f"AUTH {mechanism} in clear → {_first(reply)}"


def _auth_refused(r: ProbeReport) -> bool:
    """AUTH in clear was tried and refused (538, 530, …): listed, not taken."""
    return r.auth_clear is not None and r.auth_clear[1].klass in (4, 5)


def _auth_in_clear(r: ProbeReport) -> tuple[str, bool] | None:
    if r.tls.implicit or not r.auth_plain or _auth_refused(r):
        return None
    detail = f"AUTH {' '.join(r.auth_plain)} offered before STARTTLS"
    answer = _auth_answer(r)
    if answer:
        detail += f" ({answer}: taken there)"
    if r.near:
        # Haraka's auth plugins offer AUTH in clear to private addresses alone, Dovecot
        # takes plaintext AUTH from its own host: what was seen here may not hold outside.
        detail += (f"; seen from the server's own {nearness(r.near)}: some servers offer"
                   " AUTH in clear only to their own host or network (Haraka's auth"
                   " plugins, Dovecot's disable_plaintext_auth), so a client outside may not"
                   " be offered it")
    return detail, True


def _auth_listed_refused(r: ProbeReport) -> tuple[str, bool] | None:
    if r.tls.implicit or not r.auth_plain or not _auth_refused(r):
        return None
    return f"AUTH {' '.join(r.auth_plain)} listed before STARTTLS; {_auth_answer(r)}", False


def _no_starttls(r: ProbeReport) -> tuple[str, bool] | None:
    if r.tls.implicit or r.tls.offered or not r.esmtp:
        return None
    return "the EHLO reply does not list STARTTLS", True


def _starttls_broken(r: ProbeReport) -> tuple[str, bool] | None:
    return (r.tls.error, True) if r.tls.offered and r.tls.works is False else None


# The port's role decides what optional STARTTLS means: an MX must take mail in clear
# (RFC 3207 §4); a submission port should not (RFC 8314; 587 is submission, RFC 6409); on
# any other port the role is unknown and the finding says so instead of guessing.
MX_PORT = 25
SUBMISSION_PORTS = frozenset({587, 2525})


def _role(port: int) -> str:
    if port == MX_PORT:
        return "mx"
    return "submission" if port in SUBMISSION_PORTS else "unknown"


def _not_required(role: str) -> Check:
    def check(r: ProbeReport) -> tuple[str, bool] | None:
        if not (r.tls.offered and r.tls.required is False) or _role(r.port) != role:
            return None
        detail = f"MAIL FROM:<> in clear → {_first(r.tls.required_evidence)}"
        if role == "unknown":
            detail += (f" (port {r.port} is neither the MX port 25 nor a submission port"
                       f" (587, 2525): not counted as dangerous)")
        return detail, role == "submission"
    return check


def _banner(with_version: bool) -> Check:
    def check(r: ProbeReport) -> tuple[str, bool] | None:
        leaks = [s for s in r.software if bool(s.version) == with_version]
        if not leaks or (not with_version and any(s.version for s in r.software)):
            return None
        return "; ".join(f"{s.text} (from the {s.source}: '{s.evidence}')" for s in leaks), \
            with_version
    return check


def _ntlm(r: ProbeReport) -> tuple[str, bool] | None:
    if r.ntlm is None or not r.ntlm.items():
        return None
    return ", ".join(f"{label}: {value}" for label, value in r.ntlm.items()), True


def _certificate(r: ProbeReport) -> tuple[str, bool] | None:
    # The verification error says it best; else what certinfo saw in the certificate.
    problems = [r.tls.verify_error] if r.tls.verify_error else r.tls.problems
    return ("; ".join(problems), False) if r.tls.works and problems else None


CHECKS: tuple[tuple[str, Check], ...] = (
    ("open_relay", _open_relay),
    ("vrfy", _verb("vrfy")),
    ("expn", _verb("expn")),
    ("auth_in_clear", _auth_in_clear),
    ("auth_refused_in_clear", _auth_listed_refused),
    ("no_starttls", _no_starttls),
    ("starttls_broken", _starttls_broken),
    ("starttls_not_required", _not_required("submission")),
    ("starttls_optional_mx", _not_required("mx")),
    ("starttls_optional_port", _not_required("unknown")),
    ("banner_version", _banner(with_version=True)),
    ("banner_software", _banner(with_version=False)),
    ("ntlm_info", _ntlm),
    ("certificate", _certificate),
)


def findings(report: ProbeReport) -> list[Finding]:
    out = []
    for key, check in CHECKS:
        hit = check(report)
        if hit is not None:
            out.append(Finding(key, hit[0], hit[1]))
    return out


def exit_status(report: ProbeReport) -> int:
    if report.fatal:
        return exitcodes.FAILED
    return exitcodes.FOUND if any(f.dangerous for f in findings(report)) else exitcodes.OK


# --- text --------------------------------------------------------------------------------

VERB_STATES: Mapping[str, str] = MappingProxyType({
    "reveals": "ENABLED: tells real names from made-up ones",
    "same-answer": "answers, but gives a real-looking name the same answer as a made-up one",
    "inconclusive": "inconclusive: even postmaster got the answer a made-up name got",
    "unsupported": "disabled or not implemented",
    "prohibited": "refused by the server's policy, for every name (says nothing about users)",
    "refused": "refused before authentication or TLS, or for now (4xx/530)",
    "not tried": "not tried",
})


Line = Fragments


def _label(name: str) -> tuple[str, str]:
    return ("class:bold", f"{name:<10}")


def _capability_lines(caps: Mapping[str, str]) -> list[Line]:
    lines = []
    for keyword, args in caps.items():
        shown = f"{keyword} {args}".strip()
        meaning = EXTENSIONS.get(keyword, "not a registered extension (vendor-specific?)")
        lines.append([("", f"  {shown:<28} "), ("class:dim", meaning)])
    return lines


def _reply_block(reply: Reply | None, verb: str, indent: str = "  ") -> list[Line]:
    """A reply and its gloss, read as the answer to ``verb`` (as the shell reads it):
    Haraka's `250 Not implemented` to HELP was glossed "requested action completed"."""
    if reply is None:
        return [[("", f"{indent}(no answer)")]]
    lines: list[Line] = [[("", indent + text)] for text in reply.wire_lines()]
    if reply.code:
        gloss = annotate(reply.code, reply.enhanced, verb=verb, text=reply.text)
        lines.append([("class:dim", f"{indent}↳ {gloss}")])
    return lines


def render_text(report: ProbeReport) -> list[Line]:
    """The report for people: lines of (style, text) fragments for a Printer."""
    r = report
    out: list[Line] = [[("class:bold", f"probe of {r.address}")]]
    if r.banner is None:
        out.append([("class:red", f"could not probe: {r.fatal}")])
        return out
    ms = f"  ({r.banner_ms:.0f} ms)" if r.banner_ms is not None else ""
    out.append([_label("banner"), ("", f"{r.banner.one_line()}{ms}")])
    if r.fatal:
        out.append([("class:red", f"could not probe: {r.fatal}")])
        return out
    software = ", ".join(f"{s.text} (from the {s.source})" for s in r.software)
    out.append([_label("software"), ("", software or "not revealed")])
    out += _family_lines(r)
    greeting = r.hello.lines[0] if r.hello is not None and r.hello.lines else "(none)"
    if r.esmtp:
        said = greeting
    elif r.hello is not None and r.hello.klass != 2:
        said = f"refused; HELO refused too: {r.hello.one_line()}"
    else:
        said = f"refused; HELO: {greeting}"
    out.append([_label("EHLO"), ("", said)])
    out += _capability_lines(r.capabilities)
    out.append([("class:bold", "HELP")])
    out += _reply_block(r.help, "HELP")
    out += _tls_lines(r)
    after = " ".join(r.auth_tls) if r.auth_tls else ("none" if r.auth_tls is not None else "-")
    out.append([_label("AUTH"), ("", f"before TLS: {' '.join(r.auth_plain) or 'none'}"
                                     f" · after TLS: {after}")])
    if r.auth_clear is not None:
        out.append([("class:dim", f"  {_auth_answer(r)}")])
    for check in (r.vrfy, r.expn):
        out.append([_label(check.verb), ("", VERB_STATES[check.state])])
        if check.state != "not tried":
            out.append([("class:dim", f"  {_verb_detail(check)}")])
    out += _relay_lines(r)
    out += _ntlm_lines(r)
    for problem in r.problems:
        out.append([("class:yellow", f"! {problem}")])
    out.append([])
    out += findings_lines(findings(r))
    return out


def _tls_lines(r: ProbeReport) -> list[Line]:
    tls = r.tls
    head: tuple[str, str]
    if tls.implicit:
        head = ("", "implicit TLS (from the first byte)")
    elif not tls.offered:
        head = ("class:red", "not offered")
    elif tls.works:
        head = ("", "offered · works")
    else:
        head = ("class:red", f"offered · FAILS: {tls.error}")
    out: list[Line] = [[_label("TLS" if tls.implicit else "STARTTLS"), head]]
    if tls.verify_error:
        out.append([("class:yellow", f"  certificate did not verify: {tls.verify_error}")])
        out.append([("class:dim",
                     "  (the session below was made without verification to look at it)")])
    # After a second, unverified look, certinfo's own "verified: NO" line would mislead.
    out += [[("", f"  {line}")] for line in tls.lines
            if not (tls.verify_error and line.startswith("verified:"))]
    if tls.lines and tls.summary_source and "minimal" in tls.summary_source:
        out.append([("class:dim", f"  (certificate summary: {tls.summary_source})")])
    if tls.required is not None:
        state = "yes" if tls.required else "no"
        out.append([("", f"  required: {state} (MAIL FROM:<> before STARTTLS →"
                         f" {_first(tls.required_evidence)})")])
    if r.capabilities_tls is not None and not tls.implicit:
        before, after = r.capabilities, r.capabilities_tls
        added = {k: v for k, v in after.items() if before.get(k) != v}
        gone = [k for k in before if k not in after]
        if not added and not gone:
            out.append([("", "  EHLO after TLS: the same capabilities")])
        else:
            out.append([("", "  EHLO after TLS: " + ", ".join(
                [f"+{k} {v}".strip() for k, v in added.items()] + [f"-{k}" for k in gone]))])
    return out


def _family_lines(r: ProbeReport) -> list[Line]:
    """The MTA family from behaviour, with the evidence and a confidence."""
    if not r.guesses:
        return [[_label("family"), ("", "unknown (no known behaviour matched)")]]
    family = r.family
    top = r.guesses[0]
    if family is None:
        head = (f"unsure: {top.family}? (confidence {top.confidence:.2f}; "
                + ", ".join(f"{g.family} {g.confidence:.2f}" for g in r.guesses[1:3]) + ")")
    else:
        head = (f"{family.family} (from behaviour; confidence {family.level},"
                f" {family.confidence:.2f})")
    out: list[Line] = [[_label("family"), ("", head)]]
    out += [[("class:dim", f"  {e.source}: {_clipped(e.text, 70)} — {e.trait}")]
            for e in top.evidence]
    return out


def _clipped(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut shown ('SMTPUTF8 CH' read as a keyword)."""
    return text if len(text) <= width else text[:width - 1] + "…"


def _relay_lines(r: ProbeReport) -> list[Line]:
    if r.relay_error:
        return [[_label("relay"), ("class:yellow", f"not tested: {r.relay_error}")]]
    if r.relay is None:
        return [[_label("relay"), ("", "not tested (--no-relay)")]]
    # Green only for "every test refused": inconclusive and could-not-test are no all-clear.
    style = {RelayVerdict.OPEN: "red", RelayVerdict.CLOSED: "green"}.get(r.relay.verdict,
                                                                        "yellow")
    out: list[Line] = [[_label("relay"), (f"class:{style}", r.relay.summary)]]
    if r.relay.caveat:
        out.append([("class:yellow", f"  · {r.relay.caveat}")])
    for result in r.relay.results:
        if result.outcome is Outcome.RELAYED:
            case = result.case
            out.append([("", f"  [{case.number:>2}] MAIL FROM:<{case.mail_from}>"
                             f" RCPT TO:<{case.rcpt_to}> → {_answer(result)}")])
        elif result.outcome is Outcome.INCONCLUSIVE:
            out.append([("class:dim", f"  [{result.case.number:>2}] inconclusive:"
                                      f" RCPT TO:<{result.case.rcpt_to}>: {result.note}")])
    out += [[("class:dim", f"  · {note}")] for note in r.relay.notes]
    return out


def _ntlm_lines(r: ProbeReport) -> list[Line]:
    offered = "NTLM" in r.auth_plain or "NTLM" in (r.auth_tls or [])
    if not offered:
        return [[_label("NTLM"), ("", "not offered")]]
    if r.ntlm is None:
        return [[_label("NTLM"), ("", "offered; " + (r.ntlm_error or "not decoded"))]]
    out: list[Line] = [[_label("NTLM"), ("", "challenge decoded:")]]
    out += [[("", f"  {label + ':':<24}{value}")] for label, value in r.ntlm.items()]
    return out


def findings_lines(found: list[Finding]) -> list[Line]:
    dangerous = [f for f in found if f.dangerous]
    notes = [f for f in found if not f.dangerous]
    if not dangerous:
        out: list[Line] = [[("class:green", "dangerous settings found: none")]]
    else:
        out = [[("class:red", f"dangerous settings found: {len(dangerous)}")]]
    for finding in dangerous:
        out.append([("class:red", f"  ✗ {finding.title}"), ("", f": {finding.detail}")])
        out.append([("class:dim", f"      why: {finding.why}")])
    if notes:
        out.append([("class:bold", "notes:")])
    for finding in notes:
        out.append([("class:yellow", f"  · {finding.title}"), ("", f": {finding.detail}")])
        out.append([("class:dim", f"      why: {finding.why}")])
    return out


# --- JSON --------------------------------------------------------------------------------


def _reply_json(reply: Reply | None) -> list[str] | None:
    return reply.wire_lines() if reply is not None else None


def render_json(report: ProbeReport) -> dict[str, object]:
    r = report
    found = findings(r)
    return {
        "target": r.address,
        "fatal": r.fatal or None,
        "banner": _reply_json(r.banner),
        "banner_ms": round(r.banner_ms, 1) if r.banner_ms is not None else None,
        "server_name": r.server_name,
        "software": [{"name": s.name, "version": s.version, "source": s.source}
                     for s in r.software],
        "family": r.family.family if r.family else None,
        "fingerprint": [g.as_dict() for g in r.guesses],
        "esmtp": r.esmtp,
        "ehlo": _reply_json(r.hello),
        "capabilities": [{"keyword": k, "args": v, "meaning": EXTENSIONS.get(k)}
                         for k, v in r.capabilities.items()],
        "capabilities_after_tls": r.capabilities_tls,
        "help": _reply_json(r.help),
        "tls": r.tls.as_dict(),
        "auth": {"before_tls": r.auth_plain, "after_tls": r.auth_tls,
                 "in_clear": ({"mechanism": r.auth_clear[0],
                               "reply": r.auth_clear[1].wire_lines()}
                              if r.auth_clear is not None else None)},
        "vrfy": r.vrfy.as_dict(),
        "expn": r.expn.as_dict(),
        "relay": r.relay.as_dict() if r.relay else ({"error": r.relay_error}
                                                     if r.relay_error else None),
        "ntlm": r.ntlm.as_dict() if r.ntlm else ({"error": r.ntlm_error}
                                                 if r.ntlm_error else None),
        "problems": r.problems,
        "findings": [{"key": f.key, "title": f.title, "detail": f.detail, "why": f.why,
                      "dangerous": f.dangerous} for f in found],
        "dangerous": any(f.dangerous for f in found),
    }

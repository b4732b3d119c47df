"""Which MTA family a server is, from how it behaves rather than what its banner says.

A banner is one line an administrator can change (``InFreight ESMTP v2.11`` is Postfix);
the wording of the replies to an unknown command, HELP or a malformed MAIL, the EHLO
greeting and the order of the EHLO keywords come from the code and rarely change. Each
signature below is one such trait with a weight (how often only that family shows it);
the weights of the traits seen combine into a confidence, and every trait that matched is
shown as evidence. The signatures are data: one table, one row a trait.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# What the probe observes (keys of Observations.texts):
#   banner        the 220 greeting, all lines
#   ehlo          the EHLO reply's first line (the greeting, after the host name)
#   keywords      the EHLO keywords in the server's order, space-separated (no arguments)
#   help          the reply to HELP
#   unknown       the reply to a command no server knows (XSMTPSH)
#   bad_mail      the reply to `MAIL FROM:bad` (no angle brackets, no domain)
#   nested_mail   the reply to a second MAIL in a transaction
#   tls_required  a reply that refused a command before STARTTLS
# Reply texts are matched as the server wrote them: "CODE TEXT", lines joined by " | ".

# (family, observation, pattern, weight, what the trait is)
SIGNATURES: tuple[tuple[str, str, str, float, str], ...] = (
    ("Postfix", "unknown", r"^502 5\.5\.2 Error: command not recognized$|"
     r"^500 5\.5\.2 Error: command not recognized$", 0.7,
     "Postfix's wording for an unknown command"),
    ("Postfix", "help", r"^50[02] 5\.5\.2 Error: command not recognized$", 0.3,
     "HELP not implemented, answered like an unknown command"),
    # XCLIENT and XFORWARD (offered to hosts in smtpd_authorized_xclient_hosts /
    # _xforward_hosts) and the old AUTH=MECH line come after AUTH, as the project's
    # XCLIENT listener shows.
    ("Postfix", "keywords", r"^PIPELINING SIZE (VRFY )?(ETRN )?(STARTTLS )?(AUTH )?"
     r"(AUTH=\S+ )?(XCLIENT )?(XFORWARD )?(ENHANCEDSTATUSCODES )?8BITMIME DSN( SMTPUTF8)?"
     r"( CHUNKING)?$", 0.6,
     "Postfix's EHLO keyword order (PIPELINING SIZE … 8BITMIME DSN)"),
    ("Postfix", "nested_mail", r"^503 5\.5\.1 Error: nested MAIL command$", 0.4,
     "Postfix's wording for a nested MAIL"),
    ("Postfix", "banner", r"\bPostfix\b", 0.5, "the banner says Postfix"),
    ("Exim", "unknown", r"^500 unrecognized command$", 0.5,
     "Exim's wording for an unknown command"),
    ("Exim", "help", r"^214 Commands supported:", 0.5, "Exim's HELP text"),
    ("Exim", "bad_mail", r"sender address must contain a domain$", 0.6,
     "Exim's wording for an unqualified sender"),
    ("Exim", "keywords", r"\bPIPECONNECT\b", 0.5, "PIPECONNECT (an Exim extension)"),
    ("Exim", "ehlo", r"^Hello \S+ \[[0-9A-Fa-f.:]+\]$", 0.3,
     "'Hello NAME [ADDRESS]' as Exim greets"),
    ("Exim", "banner", r"\bExim\b", 0.5, "the banner says Exim"),
    ("OpenSMTPD", "help", r"This is OpenSMTPD", 0.9, "HELP names OpenSMTPD"),
    ("OpenSMTPD", "unknown", r"^500 5\.5\.1 Invalid command: Command unrecognized$", 0.7,
     "OpenSMTPD's wording for an unknown command"),
    ("OpenSMTPD", "bad_mail", r"^553 5\.1\.0 Sender address syntax error$", 0.4,
     "OpenSMTPD's wording for a bad sender"),
    ("OpenSMTPD", "ehlo", r"Hello \S+ \[[0-9A-Fa-f.:]+\], pleased to meet you$", 0.3,
     "'Hello NAME [ADDRESS], pleased to meet you'"),
    ("OpenSMTPD", "banner", r"\bOpenSMTPD\b", 0.5, "the banner says OpenSMTPD"),
    ("Haraka", "ehlo", r"Haraka is at your service", 0.9, "the EHLO greeting names Haraka"),
    ("Haraka", "help", r"^250 Not implemented$", 0.5, "HELP answered '250 Not implemented'"),
    ("Haraka", "bad_mail", r"Invalid RFC-5321 address at position \d+", 0.6,
     "Haraka's address parser error"),
    ("Haraka", "unknown", r"^500 Unrecognized command$", 0.3,
     "Haraka's wording for an unknown command"),
    ("Haraka", "banner", r"\bHaraka\b", 0.5, "the banner says Haraka"),
    ("nodemailer smtp-server", "ehlo", r"^Nice to meet you, ", 0.6,
     "'Nice to meet you, NAME' as smtp-server greets"),
    ("nodemailer smtp-server", "help", r"^214 See https://tools\.ietf\.org/html/rfc5321 for",
     0.8, "smtp-server's HELP text"),
    ("nodemailer smtp-server", "unknown", r"^500 Error: command not recognized$", 0.5,
     "smtp-server's wording for an unknown command"),
    ("nodemailer smtp-server", "bad_mail", r"^501 Error: Bad sender address syntax$", 0.4,
     "smtp-server's wording for a bad sender"),
    ("aiosmtpd", "unknown", r'^500 Error: command "\S+" not recognized$', 0.7,
     "aiosmtpd's wording for an unknown command (it echoes the verb)"),
    ("aiosmtpd", "help", r"^250 Supported commands: ", 0.7, "aiosmtpd's HELP text"),
    ("aiosmtpd", "tls_required", r"^530 Must issue a STARTTLS command first$", 0.5,
     "aiosmtpd's require_starttls refusal"),
    ("aiosmtpd", "nested_mail", r"^503 Error: nested MAIL command$", 0.3,
     "aiosmtpd's wording for a nested MAIL"),
    ("aiosmtpd", "banner", r"\bPython SMTP \d", 0.6, "the banner says 'Python SMTP'"),
    ("Microsoft Exchange", "banner", r"Microsoft ESMTP MAIL Service", 0.6,
     "the banner says Microsoft ESMTP MAIL Service"),
    ("Microsoft Exchange", "keywords", r"\bX-ANONYMOUSTLS\b|\bXEXCH50\b|\bX-EXPS\b", 0.8,
     "an Exchange-only EHLO keyword"),
    ("Dovecot", "banner", r"\bDovecot\b", 0.5, "the banner says Dovecot"),
    ("Dovecot", "unknown", r"^500 5\.5\.1 Unknown command$", 0.3,
     "Dovecot's wording for an unknown command (its LMTP and submission services)"),
    ("Sendmail", "help", r"\bsendmail\b", 0.7, "HELP names sendmail"),
    ("Sendmail", "unknown", r'^500 5\.5\.1 Command unrecognized: "', 0.6,
     "Sendmail's wording for an unknown command"),
    ("Sendmail", "banner", r"\bSendmail\b", 0.5, "the banner says Sendmail"),
)
_COMPILED = tuple((family, source, re.compile(pattern), weight, what)
                  for family, source, pattern, weight, what in SIGNATURES)
# Below this no family is named: the evidence is shown, the verdict is "unknown".
MIN_CONFIDENCE = 0.6


@dataclass(frozen=True)
class Evidence:
    source: str
    text: str  # what the server said
    trait: str  # what it shows
    weight: float


@dataclass
class Guess:
    family: str
    confidence: float
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def level(self) -> str:
        if self.confidence >= 0.9:
            return "high"
        return "medium" if self.confidence >= 0.75 else "low"

    def as_dict(self) -> dict[str, object]:
        return {"family": self.family, "confidence": round(self.confidence, 2),
                "level": self.level,
                "evidence": [{"source": e.source, "said": e.text, "shows": e.trait}
                             for e in self.evidence]}


def fingerprint(observations: Mapping[str, str]) -> list[Guess]:
    """Every family with at least one matching trait, most likely first. The confidence
    combines the weights as independent clues: 1 - Π(1 - weight)."""
    guesses: dict[str, Guess] = {}
    for family, source, pattern, weight, what in _COMPILED:
        text = observations.get(source)
        if text and pattern.search(text):
            guess = guesses.setdefault(family, Guess(family, 0.0))
            guess.evidence.append(Evidence(source, text, what, weight))
    for guess in guesses.values():
        doubt = 1.0
        for evidence in guess.evidence:
            doubt *= 1.0 - evidence.weight
        guess.confidence = 1.0 - doubt
    return sorted(guesses.values(), key=lambda g: (-g.confidence, g.family))


def best(guesses: list[Guess]) -> Guess | None:
    """The family to name: confident enough and clearly ahead of the next."""
    if not guesses or guesses[0].confidence < MIN_CONFIDENCE:
        return None
    if len(guesses) > 1 and guesses[1].confidence >= guesses[0].confidence - 0.05:
        return None
    return guesses[0]


def reply_text(code: int, lines: list[str] | tuple[str, ...]) -> str:
    """A reply as the signatures see it: 'CODE TEXT', lines joined by ' | '."""
    return " | ".join(f"{code} {line}".rstrip() for line in lines) if lines else str(code)

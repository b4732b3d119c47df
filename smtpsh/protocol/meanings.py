"""What a reply means in context: (command, code, enhanced code, server text) -> meaning.

The basic code alone misleads. Postfix answers a relay attempt with ``454 4.7.1 <x>:
Relay access denied`` (its default ``defer_unauth_destination``): a 4xx, yet waiting never
helps. ``501`` to VRFY is about the argument's syntax, not the user. ``554 Too many
nonmail commands`` is a limit of the connection, not an answer to the command. Each row
below says when it applies and what to tell the user instead of the code's generic
meaning; ``codes.annotate`` and ``codes.explain`` consult it first. Rows are tried in
order: the first that matches wins.
"""

from __future__ import annotations

import re

from smtpsh.protocol.record import Record

# What the session was when a command went out, where a reply's meaning depends on it
# (Command.when, Meaning.when): an AUTH after a successful one is not a first AUTH.
AUTHENTICATED = "authenticated"
_AFTER_AUTH = frozenset({AUTHENTICATED})
# session.AUTH_RESPONSE, the pseudo-verb of a line answering a 334 (session.py imports
# this module through codes.py, so it cannot be imported from there)
AUTH_RESPONSE = "<auth-response>"
_AUTH_VERBS = frozenset({"AUTH", AUTH_RESPONSE.upper()})  # meaning_of compares upper case


class Meaning(Record):
    __slots__ = ("classes", "codes", "enhanced", "gloss", "next", "text", "verbs", "what",
                 "when")

    def __init__(
        self,
        gloss: str,
        what: str,
        next: str,
        *,
        verbs: frozenset[str] = frozenset(),
        codes: frozenset[int] = frozenset(),
        classes: frozenset[int] = frozenset(),
        enhanced: str = "",
        text: str = "",
        when: frozenset[str] = frozenset(),
    ) -> None:
        self.gloss = gloss  # replaces the basic code's meaning on the annotation line
        self.what = what  # /explain: what the reply means here
        self.next = next  # /explain: what to try next
        self.verbs = verbs  # the commands it answers (empty: any)
        self.codes = codes  # exact reply codes (empty: see classes)
        self.classes = classes  # reply classes, e.g. {4, 5} (empty with codes empty: any)
        self.enhanced = enhanced  # "X.7.1" or "4.7.1": the enhanced code it must carry
        self.text = text  # a regular expression the reply text must contain (any case)
        # what the session must have been when the command went out (session.AUTHENTICATED)
        self.when = when

    def matches(
        self, verb: str, code: int, enhanced: str | None, text: str,
        when: frozenset[str] = frozenset(),
    ) -> bool:
        if self.verbs and verb not in self.verbs:
            return False
        if not self.when <= when:
            return False
        if self.codes and code not in self.codes:
            return False
        if self.classes and code // 100 not in self.classes:
            return False
        if self.enhanced and not _enhanced_matches(self.enhanced, enhanced):
            return False
        return not self.text or _pattern(self.text).search(text) is not None


def _enhanced_matches(wanted: str, enhanced: str | None) -> bool:
    if enhanced is None:
        return False
    if wanted.startswith("X."):
        return enhanced.strip()[1:] == wanted[1:]
    return enhanced.strip() == wanted


_COMPILED: dict[str, re.Pattern[str]] = {}


def _pattern(text: str) -> re.Pattern[str]:
    # Compiled on first use: replies are annotated on the start-up path.
    pattern = _COMPILED.get(text)
    if pattern is None:
        pattern = _COMPILED[text] = re.compile(text, re.IGNORECASE)
    return pattern


_FAILURE = frozenset({4, 5})
_RELAY_TEXT = (
    r"relay(ing)? (access )?(denied|not permitted|prohibited|not allowed)|unable to relay"
    r"|not permitted to relay|we do not relay|relay not permitted|no relaying"
)
_LIMIT_TEXT = (
    r"too many (nonmail|non-mail|commands|errors|unrecognized|unknown|bad|invalid|syntax"
    r"|connections|concurrent|messages|mail transactions)|rate limit|too much (mail|traffic)"
)

# A reply text that says the command is not there, whatever the code's first digit says
# (Haraka answers HELP with "250 Not implemented").
_DENIED_TEXT = (
    r"not (implemented|supported|available|enabled)|unimplemented|unsupported|unavailable"
    r"|disabled|no help"
)

MEANINGS: tuple[Meaning, ...] = (
    Meaning(
        "relaying refused: the server does not take mail for this address from you",
        "The server will not pass the message on to another domain for you: it delivers "
        "only to its own domains unless you authenticate or connect from a network it "
        "trusts. Postfix answers with 454 4.7.1 by default (defer_unauth_destination), "
        "a 4xx only so that a mistake in its own set-up does not bounce mail for good; "
        "waiting does not change the answer. Some servers give the same answer for an "
        "unknown user at one of their own domains (an Exim whose recipient ACL ends in "
        "'deny message = relay not permitted'): if the domain is the server's own, read it "
        "as 'no such user'.",
        "Send to a recipient in one of the server's own domains, or authenticate first "
        "(/auth) if you may relay through it. Retrying unchanged will not help.",
        verbs=frozenset({"RCPT"}), classes=_FAILURE, text=_RELAY_TEXT,
    ),
    Meaning(
        "no rule of the server took this recipient (Haraka's answer when none of its"
        " plugins accepts it): a domain it does not serve, or relaying refused to you",
        "Haraka answers 'I cannot deliver mail for <address>' when none of its recipient "
        "plugins (rcpt_to.in_host_list, qmail-deliverable, relay...) said yes: the domain "
        "is not one it receives mail for and you may not relay through it, or a plugin "
        "that checks the names of its own domains had no answer. It is not a mailbox "
        "that was found full or missing.",
        "Send to a recipient at one of the server's own domains, or authenticate first "
        "(/auth) if you may relay through it.",
        verbs=frozenset({"RCPT"}), classes=_FAILURE, text=r"^I cannot deliver mail for <",
    ),
    Meaning(
        "no rule of the server took this recipient (OpenSMTPD's wording when no 'match'"
        " rule applies): a domain it does not serve, or relaying refused to you",
        "OpenSMTPD answers '550 Invalid recipient: <address>' when no 'match ... action' "
        "rule of its smtpd.conf applies to this sender and recipient: the domain is not "
        "one it receives mail for, and it does not relay for you. An unknown name at one "
        "of its own domains gets '524 5.2.4 Mailing list expansion problem' instead.",
        "Send to a recipient at one of the server's own domains, or authenticate first "
        "(/auth) if you may relay through it.",
        verbs=frozenset({"RCPT"}), classes=frozenset({5}), text=r"^Invalid recipient: <",
    ),
    Meaning(
        "a limit of this connection was reached; not an answer to the command",
        "The server counts commands or errors per connection and has stopped at its "
        "limit (Exim's smtp_accept_max_nonmail counts every VRFY, EXPN and ETRN, errors "
        "or not; Postfix's error limits count refused commands). The reply says nothing "
        "about the command's argument.",
        "Reconnect (/reconnect) and go on with fewer commands per connection, more "
        "slowly; ask again what this reply left unanswered.",
        classes=_FAILURE, text=_LIMIT_TEXT,
    ),
    Meaning(
        "the message is over the server's size limit",
        "The server refuses the message for its size: the SIZE= declared at MAIL (RFC 1870 "
        "§6), or the data sent, is over its limit, which the EHLO reply's SIZE keyword "
        "gives. RFC 1870 asks for 552 (5.3.4); some servers use another code (Haraka says "
        "'550 Message too big!'), which still says nothing about a mailbox.",
        "Send a smaller message (or declare its real size with SIZE=); the limit is in the "
        "EHLO reply.",
        verbs=frozenset({"MAIL", "DATA", "BDAT", "BDAT LAST", "."}), classes=_FAILURE,
        text=r"too (big|large)|size exceeds|exceeds (the )?(fixed )?(maximum )?(message )?size"
        r"|message size|size limit",
    ),
    Meaning(
        "too many recipients for one message",
        "The server takes only so many recipients in one transaction; the ones it "
        "accepted before still stand. RFC 5321 §4.5.3.1.10 asks for 452 here and tells "
        "clients to treat a 552 the same way.",
        "Send the message (DATA) to the recipients accepted so far, then the rest in "
        "another transaction.",
        verbs=frozenset({"RCPT"}), classes=_FAILURE, text=r"too many recipients",
    ),
    Meaning(
        "the address expands to no mailbox here (OpenSMTPD's 'no such user')",
        "RFC 3463's X.2.4 is a mailing list expansion problem: the server could not turn "
        "the address into any mailbox. OpenSMTPD gives it (524 5.2.4 Mailing list "
        "expansion problem) for a name that is neither a user nor an alias, while it "
        "accepts the names it has with 250: the answer tells who exists.",
        "Check the spelling of the local part; to list who exists, compare with a name "
        "that surely does not (smtpsh enum does so).",
        verbs=frozenset({"RCPT", "VRFY", "EXPN"}), classes=frozenset({5}), enhanced="X.2.4",
    ),
    Meaning(
        "syntax error in the argument: not an answer about the user",
        "The server could not read the name you gave. Many servers want a full address "
        "(user@domain) rather than a bare name: Exim by default says 'must contain a "
        "domain'. A 501 says nothing about whether the user exists.",
        "Ask again as user@domain (the server's domain is in its banner or EHLO reply), "
        "or test the address with RCPT TO in a transaction. Never count 501 as 'no such "
        "user'.",
        verbs=frozenset({"VRFY", "EXPN"}), codes=frozenset({501}),
    ),
    Meaning(
        "switched off or not implemented on this server",
        "The server does not answer this verb at all, so the reply says nothing about "
        "the name you gave. Many servers disable VRFY and EXPN because they reveal who "
        "has a mailbox.",
        "Test addresses with RCPT TO inside a transaction (MAIL FROM first) instead.",
        verbs=frozenset({"VRFY", "EXPN"}), codes=frozenset({500, 502}),
    ),
    Meaning(
        "refused by the server's policy: not an answer about the user",
        "The server will not look the name up for you, whatever it is: Exim answers '252 "
        "Administrative prohibition' to VRFY and '550 Administrative prohibition' to EXPN "
        "when no ACL allows them (acl_smtp_vrfy and acl_smtp_expn unset, its default). "
        "Here a 550 is not 'no such user', and a 252 is no promise to deliver.",
        "Test addresses with RCPT TO inside a transaction (MAIL FROM first) instead.",
        verbs=frozenset({"VRFY", "EXPN"}),
        text=r"\bprohibit|\bnot (allowed|permitted)\b|\bdisabled\b|\bdenied\b",
    ),
    Meaning(
        "STARTTLS required first",
        "The server will not go on over a clear-text connection.",
        "Run STARTTLS (/starttls), send EHLO again, then repeat the command.",
        verbs=frozenset({"MAIL", "RCPT", "DATA", "BDAT", "BDAT LAST", "AUTH", "VRFY", "EXPN",
                         "ETRN", "HELO", "EHLO", "NOOP", "RSET"}),
        classes=_FAILURE,
        text=r"starttls|tls required|encryption required"
        r"|requires? (a )?(secure|encrypted|tls)",
    ),
    Meaning(
        "greylisted: a retry later will be accepted",
        "The server defers mail from a sender it has not seen before, on the bet that "
        "spam software does not come back. Here, unlike most 4xx, waiting is the fix.",
        "Retry the same transaction after a few minutes.",
        classes=frozenset({4}), text=r"grey.?list|gray.?list",
    ),
    Meaning(
        "no SMTP service for you here; the server waits for QUIT",
        "As a greeting it means this server will not talk to you. RFC 5321 §3.1: it must "
        "still wait for QUIT, and should answer any other command with 503.",
        "Send QUIT. If you expected service, read the text: your address may be blocked.",
        verbs=frozenset({"<BANNER>"}), codes=frozenset({554}),
    ),
    Meaning(
        "a second AUTH accepted, though RFC 4954 §4 says it must be refused (503); which"
        " user is in force now, the reply does not say",
        "The session was already authenticated when this AUTH went out. RFC 4954 §4: after "
        "a successful AUTH a server MUST reject further AUTH commands with 503. This server "
        "took it instead; whether the session now acts as the first user or the second is "
        "not said by the reply.",
        "To act as another user, /reconnect and authenticate once; report the second "
        "acceptance if the server is yours to fix.",
        verbs=_AUTH_VERBS, codes=frozenset({235}), when=_AFTER_AUTH,
    ),
    Meaning(
        "the server goes on with a second AUTH, though RFC 4954 §4 says it must refuse it"
        " (503)",
        "The session was already authenticated when this AUTH went out. RFC 4954 §4: after "
        "a successful AUTH a server MUST reject further AUTH commands with 503; this server "
        "answered with a challenge instead, so the exchange goes on.",
        "Answer the challenge, or cancel the exchange with a line holding '*'; to act as "
        "another user, /reconnect and authenticate once.",
        verbs=_AUTH_VERBS, codes=frozenset({334}), when=_AFTER_AUTH,
    ),
    Meaning(
        "a second AUTH is refused: this session is already authenticated",
        "RFC 4954 §4: after a successful AUTH the server rejects further AUTH commands "
        "with 503.",
        "Carry on as the user you are; to log in as someone else, /reconnect first.",
        verbs=frozenset({"AUTH"}), codes=frozenset({503}), text=r"already authenticated",
    ),
    Meaning(
        "this client is not allowed to use the command",
        "Postfix lets only the hosts listed in smtpd_authorized_xclient_hosts (or "
        "smtpd_authorized_xforward_hosts) send XCLIENT and XFORWARD.",
        "Nothing to change on the client side: the server's administrator decides.",
        verbs=frozenset({"XCLIENT", "XFORWARD"}), classes=_FAILURE,
        text=r"insufficient authorization|not authorized|permission denied",
    ),
    Meaning(
        "no recipient was accepted, so there is nothing to send",
        "DATA needs at least one recipient that the server accepted.",
        "Give a RCPT TO that the server accepts (250), then DATA again.",
        verbs=frozenset({"DATA", "BDAT", "BDAT LAST"}), classes=_FAILURE,
        text=r"no valid recipients|need rcpt|no recipients",
    ),
    Meaning(
        "a success code, but the text says HELP is not implemented: no help text here",
        "The code's first digit says success, yet the server's own text says it does not "
        "implement HELP (or has it switched off): the reply carries no help, and the code "
        "alone would claim the opposite of what the text says. RFC 5321 §4.3.2 gives HELP "
        "the replies 211 and 214, with the help text; 502 is how a server says it has no "
        "HELP.",
        "Read the EHLO reply for what the server offers; smtpsh's own `help VERB` "
        "describes each command.",
        verbs=frozenset({"HELP"}), classes=frozenset({2}), text=_DENIED_TEXT,
    ),
    Meaning(
        "help text, under 250 (RFC 5321 gives HELP 211 or 214)",
        "The server answers HELP with its help text but with the code 250; RFC 5321 "
        "§4.3.2 lists 211 and 214 for HELP. The text is the server's to read.",
        "Nothing to fix on your side; for what the server offers, read its EHLO reply.",
        verbs=frozenset({"HELP"}), codes=frozenset({250}),
    ),
    Meaning(
        "OK: queuing for that node started",
        "The server starts delivering the mail it holds for the node (RFC 1985 §5).",
        "Wait for the server to connect to the node's mail server.",
        verbs=frozenset({"ETRN"}), codes=frozenset({250}),
    ),
    Meaning(
        "OK, but no messages are waiting for that node",
        "RFC 1985 §5: 251 to ETRN means there was nothing queued for the node.",
        "Nothing to do.",
        verbs=frozenset({"ETRN"}), codes=frozenset({251}),
    ),
    Meaning(
        "OK: the pending messages for that node are being sent",
        "RFC 1985 §5: 252 (and 253, which gives their number) to ETRN say the queue run "
        "for the node has started.",
        "Wait for the server to connect to the node's mail server.",
        verbs=frozenset({"ETRN"}), codes=frozenset({252, 253}),
    ),
    Meaning(
        "the server will not run a queue for that node",
        "RFC 1985 §5: 459 means the node is not allowed (Postfix keeps queues only for "
        "its fast_flush_domains); it is a refusal, not a passing fault.",
        "Ask for a node the server holds mail for, or ask its administrator.",
        verbs=frozenset({"ETRN"}), codes=frozenset({459}),
    ),
)


def meaning_of(
    verb: str | None, code: int, enhanced: str | None, text: str,
    when: frozenset[str] = frozenset(),
) -> Meaning | None:
    """The first row of MEANINGS that fits this reply to ``verb``, sent when the session
    was ``when`` (Command.when) (None: no context rule)."""
    verb_u = (verb or "").upper()
    for meaning in MEANINGS:
        if meaning.matches(verb_u, code, enhanced, text, when):
            return meaning
    return None

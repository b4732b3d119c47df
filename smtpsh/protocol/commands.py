"""The SMTP command table, ESMTP parameters and EHLO keywords, as data.

Drives completion (``insert``), ``help VERB`` (``syntax``, ``description``, ``example``) and
the checks that a parameter's extension was advertised.  Sources: RFC 5321 and the
extension RFCs named in each entry; XCLIENT/XFORWARD are Postfix's own commands.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from smtpsh.protocol.record import Record

__all__ = [
    "COMMANDS",
    "EXTENSIONS",
    "PARAMETERS",
    "PARAMETER_INFO",
    "CommandInfo",
    "ParameterInfo",
    "lookup",
    "parameters_for",
]


class CommandInfo(Record):
    # A Record, not a dataclass: the pre-send checks load this table on the piped path.
    __slots__ = ("description", "example", "extension", "insert", "rfc", "summary", "syntax",
                 "verb")

    def __init__(
        self,
        *,
        verb: str,
        insert: str,
        syntax: str,
        summary: str,
        rfc: str,
        example: str,
        extension: str | None,
        description: str,
    ) -> None:
        self.verb = verb  # "MAIL"
        self.insert = insert  # what completion inserts: "MAIL FROM:", "RCPT TO:", "EHLO "
        self.syntax = syntax  # "MAIL FROM:<reverse-path> [SP mail-parameters]"
        self.summary = summary  # one line: what it does
        self.rfc = rfc  # "RFC 5321 §4.1.1.2"
        self.example = example  # "MAIL FROM:<alice@example.com> SIZE=1200"
        self.extension = extension  # EHLO keyword the server must advertise (None: base verb)
        self.description = description  # a few sentences for `help VERB`


_COMMAND_LIST: tuple[CommandInfo, ...] = (
    CommandInfo(
        verb="HELO",
        insert="HELO ",
        syntax="HELO SP domain",
        summary="greet the server the old way (no extensions)",
        rfc="RFC 5321 §4.1.1.1",
        example="HELO client.example.com",
        extension=None,
        description=(
            "Introduces the client by name, as plain SMTP did before extensions existed. "
            "The server answers with one 250 line and no list of extensions, so nothing "
            "beyond the base commands may be used. Prefer EHLO unless you are testing how "
            "a server treats old clients."
        ),
    ),
    CommandInfo(
        verb="EHLO",
        insert="EHLO ",
        syntax="EHLO SP ( domain / address-literal )",
        summary="greet the server and ask which extensions it supports",
        rfc="RFC 5321 §4.1.1.1",
        example="EHLO client.example.com",
        extension=None,
        description=(
            "Introduces the client by its host name (or an address literal such as "
            "[192.0.2.1]) and asks for the server's extensions. The multi-line 250 reply "
            "lists one EHLO keyword per line (SIZE, PIPELINING, STARTTLS, AUTH ...). It also "
            "resets any transaction in progress. Send it again after STARTTLS: the server "
            "may offer different extensions over TLS."
        ),
    ),
    CommandInfo(
        verb="LHLO",
        insert="LHLO ",
        syntax="LHLO SP domain",
        summary="LMTP's greeting: EHLO for a local delivery agent (smtpsh --lmtp)",
        rfc="RFC 2033 §4.1",
        example="LHLO client.example.com",
        extension=None,
        description=(
            "LMTP (Local Mail Transfer Protocol) is SMTP for the last hop into a mailbox "
            "server such as Dovecot or Cyrus. It greets with LHLO instead of EHLO (an LMTP "
            "server answers EHLO with 500), and after the final '.' of DATA it sends one "
            "reply per accepted recipient, in RCPT order, so each mailbox's fate is known. "
            "It runs on port 24 or, more often, on a UNIX socket (smtpsh unix:/path --lmtp)."
        ),
    ),
    CommandInfo(
        verb="MAIL",
        insert="MAIL FROM:",
        syntax="MAIL FROM:<reverse-path> [SP mail-parameters]",
        summary="start a mail transaction and give the sender (bounce) address",
        rfc="RFC 5321 §4.1.1.2",
        example="MAIL FROM:<alice@example.com> SIZE=1200",
        extension=None,
        description=(
            "Starts a new mail transaction. The address in angle brackets is where "
            "bounces go; <> (empty) is the null sender used by bounces themselves. ESMTP "
            "parameters such as SIZE=, BODY= or RET= follow after a space, but only those "
            "whose extension the server advertised. A server refuses a second MAIL in the "
            "same transaction with 503; RSET clears it."
        ),
    ),
    CommandInfo(
        verb="RCPT",
        insert="RCPT TO:",
        syntax="RCPT TO:<forward-path> [SP rcpt-parameters]",
        summary="add one recipient to the transaction",
        rfc="RFC 5321 §4.1.1.3",
        example="RCPT TO:<bob@example.org> NOTIFY=FAILURE,DELAY",
        extension=None,
        description=(
            "Names one recipient; repeat it for each. It needs a MAIL first (else 503). "
            "250 or 251 accept the recipient, 550 refuses it (no such user, or relaying "
            "denied), 4xx asks you to try again later. A server should make every "
            "reasonable effort to accept <postmaster> (RFC 5321 §4.5.1), without a domain "
            "too; it is not obliged to. DSN parameters NOTIFY= and ORCPT= may follow if "
            "DSN is advertised (RFC 3461 §4.1, §4.2); a client must not send parameters "
            "the server did not advertise (RFC 5321 §4.1.1.3)."
        ),
    ),
    CommandInfo(
        verb="DATA",
        insert="DATA",
        syntax="DATA",
        summary="send the message itself, ended by a line with a single dot",
        rfc="RFC 5321 §4.1.1.4",
        example="DATA",
        extension=None,
        description=(
            "Asks to send the message. After 354 type the headers, a blank line and the "
            "body, then a line holding only '.'. Lines starting with a dot are sent with "
            "an extra dot (dot-stuffing), and every line ends in CRLF. The reply after the "
            "final dot says whether the server took responsibility for the message. DATA "
            "needs at least one accepted RCPT (else 503 or 554)."
        ),
    ),
    CommandInfo(
        verb="BDAT",
        insert="BDAT ",
        syntax="BDAT SP chunk-size [SP LAST]",
        summary="send the message in counted chunks instead of DATA",
        rfc="RFC 3030 §2",
        example="BDAT 86 LAST",
        extension="CHUNKING",
        description=(
            "Sends exactly chunk-size octets of the message right after the command line, "
            "with no dot-stuffing and no end marker; LAST marks the final chunk. It needs "
            "CHUNKING in the EHLO reply, and BINARYMIME if the content is binary. A "
            "transaction uses either DATA or BDAT, never both."
        ),
    ),
    CommandInfo(
        verb="RSET",
        insert="RSET",
        syntax="RSET",
        summary="abort the current transaction",
        rfc="RFC 5321 §4.1.1.5",
        example="RSET",
        extension=None,
        description=(
            "Throws away the sender, recipients and data of the current transaction; the "
            "connection and the EHLO stay. Always answered with 250. Handy before a fresh "
            "MAIL FROM when testing several senders on one connection."
        ),
    ),
    CommandInfo(
        verb="VRFY",
        insert="VRFY ",
        syntax="VRFY SP string",
        summary="ask whether a user or mailbox exists",
        rfc="RFC 5321 §4.1.1.6",
        example="VRFY postmaster",
        extension=None,
        description=(
            "Asks the server to confirm a user name or address. 250 names the mailbox, "
            "252 means 'cannot verify, but will try to deliver', 550 means unknown. Many "
            "servers disable it (502) or answer 252 to everything because it reveals "
            "users; compare with a name that cannot exist before trusting the answer."
        ),
    ),
    CommandInfo(
        verb="EXPN",
        insert="EXPN ",
        syntax="EXPN SP string",
        summary="ask the server to expand a mailing list",
        rfc="RFC 5321 §4.1.1.7",
        example="EXPN staff",
        extension=None,
        description=(
            "Asks for the members of a mailing list or alias, one per line of a multi-line "
            "250 reply. Almost every public server turns it off (502 or 252) because it "
            "leaks addresses."
        ),
    ),
    CommandInfo(
        verb="HELP",
        insert="HELP",
        syntax="HELP [SP string]",
        summary="ask the server for help text",
        rfc="RFC 5321 §4.1.1.8",
        example="HELP MAIL",
        extension=None,
        description=(
            "Asks the server for human-readable help, optionally about one command; the "
            "answer is a 214 (or 211) reply. The text is free-form and often names the "
            "server software. smtpsh's own help is the local 'help' meta-command."
        ),
    ),
    CommandInfo(
        verb="NOOP",
        insert="NOOP",
        syntax="NOOP [SP string]",
        summary="do nothing; check the connection is alive",
        rfc="RFC 5321 §4.1.1.9",
        example="NOOP",
        extension=None,
        description=(
            "Does nothing except make the server reply 250. Use it to keep an idle "
            "connection open or to check that the server still answers. Any argument is "
            "ignored."
        ),
    ),
    CommandInfo(
        verb="QUIT",
        insert="QUIT",
        syntax="QUIT",
        summary="end the session politely",
        rfc="RFC 5321 §4.1.1.10",
        example="QUIT",
        extension=None,
        description=(
            "Asks the server to close the connection; it answers 221 and hangs up. A "
            "transaction that has not completed its DATA is abandoned."
        ),
    ),
    CommandInfo(
        verb="STARTTLS",
        insert="STARTTLS",
        syntax="STARTTLS",
        summary="upgrade the connection to TLS",
        rfc="RFC 3207 §4",
        example="STARTTLS",
        extension="STARTTLS",
        description=(
            "Asks to switch the connection to TLS. After 220 the TLS handshake starts; "
            "anything the server sent after the 220 line is suspect (injection) and must be "
            "discarded. Afterwards everything learnt before is forgotten: send EHLO again "
            "and read the extensions anew. 454 means TLS is not available now."
        ),
    ),
    CommandInfo(
        verb="AUTH",
        insert="AUTH ",
        syntax="AUTH SP mechanism [SP initial-response]",
        summary="log in with a SASL mechanism (PLAIN, LOGIN, ...)",
        rfc="RFC 4954 §4",
        example="AUTH PLAIN AGFsaWNlAHNlY3JldA==",
        extension="AUTH",
        description=(
            "Authenticates with one of the mechanisms listed on the EHLO AUTH line. The "
            "server may answer 334 with a base64 challenge, to which you reply with one "
            "base64 line ('*' cancels); 235 means success, 535 bad credentials. Most "
            "servers only offer AUTH after STARTTLS. smtpsh's /auth builds the lines for "
            "you and keeps the password off screen and out of history."
        ),
    ),
    CommandInfo(
        verb="ETRN",
        insert="ETRN ",
        syntax="ETRN SP [ \"@\" / \"#\" ] node-name",
        summary="ask the server to deliver mail queued for a domain",
        rfc="RFC 1985",
        example="ETRN @example.net",
        extension="ETRN",
        description=(
            "Asks the server to start delivering the mail it holds for a domain (node), "
            "by connecting to that domain's mail server. '@' includes subdomains, '#' "
            "names a queue. 250 says the run started, 251 that no messages are waiting, "
            "252 that the pending messages are being sent, 253 the same with their "
            "count; 458 that it could not start, 459 that the node is not allowed "
            "(RFC 1985 §5)."
        ),
    ),
    CommandInfo(
        verb="ATRN",
        insert="ATRN",
        syntax="ATRN [SP domain *(\",\" domain)]",
        summary="authenticated TURN: reverse roles and receive queued mail",
        rfc="RFC 2645",
        example="ATRN example.net",
        extension="ATRN",
        description=(
            "On-demand mail relay: after authenticating, the client asks the server to "
            "swap roles on the same connection and deliver the mail queued for the given "
            "domains. Used on the ODMR port 366; 453 means no mail is waiting."
        ),
    ),
    CommandInfo(
        verb="TURN",
        insert="TURN",
        syntax="TURN",
        summary="obsolete: swap client and server roles without authentication",
        rfc="RFC 821 §4.1.1 (obsolete, RFC 5321 Appendix F.1)",
        example="TURN",
        extension=None,
        description=(
            "Obsolete. Asked the server to swap roles and send the client its mail, with "
            "no proof of who the client was, so anyone could collect someone else's mail. "
            "RFC 5321 Appendix F.1 deprecates it: a server SHOULD NOT do it unless the "
            "client has authenticated; expect 502 or 500. ATRN (RFC 2645) is the safe "
            "successor."
        ),
    ),
    CommandInfo(
        verb="XCLIENT",
        insert="XCLIENT ",
        syntax="XCLIENT SP attribute=value *(SP attribute=value)",
        summary="Postfix extension: override the client's name and address (testing)",
        rfc="Postfix XCLIENT_README (not an RFC)",
        example="XCLIENT ADDR=192.0.2.1 NAME=client.example.com",
        extension="XCLIENT",
        description=(
            "Postfix-specific, not standardised. Lets an authorised client (a proxy or a "
            "test tool) tell the server to act as if the connection came from another "
            "address and name: ADDR, NAME, PORT, PROTO, HELO, LOGIN, DESTADDR, DESTPORT. "
            "Used to test access rules; the server answers 220 and expects EHLO again. "
            "Allowed only from hosts in smtpd_authorized_xclient_hosts."
        ),
    ),
    CommandInfo(
        verb="XFORWARD",
        insert="XFORWARD ",
        syntax="XFORWARD SP attribute=value *(SP attribute=value)",
        summary="Postfix extension: pass the original client's details for logging",
        rfc="Postfix XFORWARD_README (not an RFC)",
        example="XFORWARD ADDR=192.0.2.1 NAME=client.example.com PROTO=ESMTP",
        extension="XFORWARD",
        description=(
            "Postfix-specific, not standardised. A content filter uses it to hand the "
            "original client's NAME, ADDR, PORT, PROTO, HELO, IDENT and SOURCE back to "
            "Postfix, so logs show the real origin. It changes logging only, not access "
            "decisions. Allowed only from hosts in smtpd_authorized_xforward_hosts."
        ),
    ),
)

COMMANDS: Mapping[str, CommandInfo] = MappingProxyType({c.verb: c for c in _COMMAND_LIST})

# Postfix XCLIENT_README / XFORWARD_README: the attributes, each what it stands for. The
# server lists those it accepts in its EHLO reply (250-XCLIENT NAME ADDR PROTO HELO ...).
XCLIENT_ATTRIBUTES: Mapping[str, str] = MappingProxyType({
    "NAME": "the client's host name, or [UNAVAILABLE] / [TEMPUNAVAIL]",
    "REVERSE_NAME": "the name the client's address resolves to (PTR), unverified",
    "ADDR": "the client's IP address (IPv6 as IPV6:2001:db8::1)",
    "PORT": "the client's TCP port",
    "PROTO": "SMTP or ESMTP: how the client greeted",
    "HELO": "the name the client gave in HELO/EHLO",
    "LOGIN": "the SASL login name (as if the client had authenticated)",
    "DESTADDR": "the server address the client connected to",
    "DESTPORT": "the server port the client connected to",
})
XFORWARD_ATTRIBUTES: Mapping[str, str] = MappingProxyType({
    "NAME": "the original client's host name",
    "ADDR": "the original client's IP address",
    "PORT": "the original client's TCP port",
    "PROTO": "SMTP or ESMTP",
    "HELO": "the original HELO/EHLO name",
    "IDENT": "the original queue id (for logs)",
    "SOURCE": "LOCAL or REMOTE: where the original message came from",
})


def xtext(value: str) -> str:
    """RFC 3461 §4 xtext, as XCLIENT/XFORWARD values are written: '+' '=' spaces and
    controls as +HH."""
    return "".join(
        f"+{byte:02X}" if byte < 33 or byte > 126 or byte in b"+=" else chr(byte)
        for byte in value.encode()
    )


def lookup(text: str) -> CommandInfo | None:
    """The command a typed line starts with (``"mail from:<x>"`` -> MAIL), or None."""
    words = text.split(None, 1)
    if not words:
        return None
    return COMMANDS.get(words[0].upper())


# ---------------------------------------------------------------------------- parameters

class ParameterInfo(Record):
    """One ESMTP parameter of MAIL or RCPT: where it belongs, what enables it, its values.

    ``syntax`` names the rule its value must follow (checked before sending by
    ``smtpsh.protocol.rules``): ``flag`` (no value), ``choice`` (one of ``values``, any
    case), ``digits:N`` (1 to N digits), ``xtext:N`` (RFC 3461 §4 xtext; at most N
    characters when N is given), ``priority``, ``by``, ``date-time``, ``notify``,
    ``orcpt``, ``rrvs``, ``auth``, ``solicit``, ``transid``.
    """

    __slots__ = ("extension", "keyword", "rfc", "summary", "syntax", "takes_value", "values",
                 "verb")

    def __init__(
        self,
        keyword: str,
        verb: str,
        extension: str,
        takes_value: bool,
        values: tuple[str, ...],
        summary: str,
        rfc: str,
        syntax: str = "",
    ) -> None:
        self.keyword = keyword  # "SIZE" (completion inserts "SIZE=" if takes_value)
        self.verb = verb  # "MAIL" or "RCPT"
        self.extension = extension  # EHLO keyword that enables it: "SIZE", "DSN", ...
        self.takes_value = takes_value
        self.values = values  # choices, e.g. BODY: ("7BIT", "8BITMIME", "BINARYMIME")
        self.summary = summary
        self.rfc = rfc  # where the parameter and its value syntax are defined
        self.syntax = syntax or ("choice" if values else "flag" if not takes_value else "")

    def with_values(self, values: tuple[str, ...]) -> ParameterInfo:
        return ParameterInfo(self.keyword, self.verb, self.extension, self.takes_value, values,
                             self.summary, self.rfc, self.syntax)


PARAMETERS: tuple[ParameterInfo, ...] = (
    ParameterInfo("SIZE", "MAIL", "SIZE", True, (),
                  "declared message size in octets, so the server can refuse early",
                  "RFC 1870 §6", "digits:20"),
    ParameterInfo("BODY", "MAIL", "8BITMIME", True, ("7BIT", "8BITMIME", "BINARYMIME"),
                  "body type: 7-bit ASCII, 8-bit text, or binary (BDAT only)",
                  "RFC 6152 §2, RFC 3030 §3"),
    ParameterInfo("SMTPUTF8", "MAIL", "SMTPUTF8", False, (),
                  "the message uses UTF-8 addresses or headers",
                  "RFC 6531 §3.4"),
    ParameterInfo("RET", "MAIL", "DSN", True, ("FULL", "HDRS"),
                  "what a failure report should return: the full message or headers only",
                  "RFC 3461 §4.3"),
    ParameterInfo("ENVID", "MAIL", "DSN", True, (),
                  "envelope identifier (xtext) echoed in delivery reports",
                  "RFC 3461 §4.4", "xtext:100"),
    ParameterInfo("AUTH", "MAIL", "AUTH", True, ("<>",),
                  "the authenticated submitter of the message, or <> if unknown",
                  "RFC 4954 §5", "auth"),
    ParameterInfo("REQUIRETLS", "MAIL", "REQUIRETLS", False, (),
                  "every hop must relay this message over verified TLS (only in a TLS session)",
                  "RFC 8689 §2"),
    ParameterInfo("MT-PRIORITY", "MAIL", "MT-PRIORITY", True,
                  tuple(str(n) for n in range(-9, 10)),
                  "message transfer priority from -9 (lowest) to 9 (highest)",
                  "RFC 6710 §3", "priority"),
    ParameterInfo("BY", "MAIL", "DELIVERBY", True, (),
                  "deliver within <seconds>;R (or return) / ;N (or notify), T to trace",
                  "RFC 2852 §4", "by"),
    ParameterInfo("HOLDFOR", "MAIL", "FUTURERELEASE", True, (),
                  "hold the message for this many seconds before delivery",
                  "RFC 4865 §3", "digits:9"),
    ParameterInfo("HOLDUNTIL", "MAIL", "FUTURERELEASE", True, (),
                  "hold the message until this date-time (RFC 3339) before delivery",
                  "RFC 4865 §3", "date-time"),
    ParameterInfo("SOLICIT", "MAIL", "NO-SOLICITING", True, (),
                  "solicitation class keywords of the message, comma-separated",
                  "RFC 3865", "solicit"),
    ParameterInfo("TRANSID", "MAIL", "CHECKPOINT", True, (),
                  "transaction id <local@domain>, to resume an interrupted transfer",
                  "RFC 1845", "transid"),
    ParameterInfo("SUBMITTER", "MAIL", "SUBMITTER", True, (),
                  "the responsible submitter's mailbox (xtext), for Sender ID checks",
                  "RFC 4405", "xtext"),
    ParameterInfo("NOTIFY", "RCPT", "DSN", True, ("NEVER", "SUCCESS", "FAILURE", "DELAY"),
                  "when to send a delivery report: NEVER, or any of SUCCESS,FAILURE,DELAY",
                  "RFC 3461 §4.1", "notify"),
    ParameterInfo("ORCPT", "RCPT", "DSN", True, ("rfc822;",),
                  "original recipient, as addr-type;xtext (e.g. rfc822;bob@example.org)",
                  "RFC 3461 §4.2", "orcpt"),
    ParameterInfo("RRVS", "RCPT", "RRVS", True, (),
                  "refuse if the mailbox changed owner since this date-time (;C or ;R)",
                  "RFC 7293 §3", "rrvs"),
)

PARAMETER_INFO: Mapping[str, ParameterInfo] = MappingProxyType(
    {p.keyword: p for p in PARAMETERS}
)

# Some values, and so some parameters, are enabled by another keyword than the main one.
VALUE_NEEDS: Mapping[tuple[str, str], str] = MappingProxyType({
    ("BODY", "8BITMIME"): "8BITMIME",
    ("BODY", "BINARYMIME"): "BINARYMIME",
})
ALSO_ENABLED_BY: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "BODY": ("BINARYMIME",),
})


def parameters_for(verb: str, advertised: Mapping[str, str]) -> list[ParameterInfo]:
    """The parameters of *verb* that the advertised EHLO keywords allow.

    *advertised* maps EHLO keyword to its parameters (``{"SIZE": "10240000"}``); keys
    are compared case-insensitively.  Value lists are narrowed to what is enabled.
    """
    verb_u = verb.strip().upper()
    keys = {k.upper() for k in advertised}
    found: list[ParameterInfo] = []
    for param in PARAMETERS:
        if param.verb != verb_u:
            continue
        enablers = (param.extension, *ALSO_ENABLED_BY.get(param.keyword, ()))
        if not any(e in keys for e in enablers):
            continue
        values = tuple(
            v for v in param.values
            if (param.keyword, v) not in VALUE_NEEDS or VALUE_NEEDS[param.keyword, v] in keys
        )
        found.append(param.with_values(values) if values != param.values else param)
    return found


# ------------------------------------------------------------------------ EHLO keywords

EXTENSIONS: Mapping[str, str] = MappingProxyType({
    "8BITMIME": "8-bit message bodies allowed with MAIL ... BODY=8BITMIME (RFC 6152)",
    "ATRN": "authenticated TURN for on-demand relay: ATRN command (RFC 2645)",
    "AUTH": "SMTP authentication; lists the SASL mechanisms offered: AUTH command (RFC 4954)",
    "BINARYMIME": "binary bodies allowed with BODY=BINARYMIME, sent with BDAT (RFC 3030)",
    "BURL": "message content fetched from an IMAP URL: BURL command (RFC 4468)",
    "CHECKPOINT": "restart an interrupted transfer: TRANSID parameter (RFC 1845)",
    "CHUNKING": "message sent in counted chunks: BDAT command (RFC 3030)",
    "CONNEG": "content negotiation before delivery (RFC 4141)",
    "CONPERM": "content conversion permission (RFC 4141)",
    "DELIVERBY": "deliver-by deadline: MAIL ... BY= (RFC 2852)",
    "DSN": "delivery status notifications: RET=, ENVID=, NOTIFY=, ORCPT= (RFC 3461)",
    "ENHANCEDSTATUSCODES": "replies start with an x.y.z enhanced status code (RFC 2034)",
    "ETRN": "remote queue start for a domain: ETRN command (RFC 1985)",
    "EXPN": "mailing-list expansion is enabled: EXPN command (RFC 5321)",
    "FUTURERELEASE": "hold mail for later delivery: HOLDFOR= / HOLDUNTIL= (RFC 4865)",
    "HELP": "HELP command available (RFC 5321)",
    "LIMITS": "server announces limits such as RCPTMAX and MAILMAX (RFC 9422)",
    "MT-PRIORITY": "message transfer priorities: MAIL ... MT-PRIORITY= (RFC 6710)",
    "NO-SOLICITING": "server refuses solicitations of the listed kinds (RFC 3865)",
    "ONEX": "sendmail: only one transaction on this connection (not standard)",
    "PIPELINING": "several commands may be sent before reading their replies (RFC 2920)",
    "REQUIRETLS": "TLS can be required for every hop: MAIL ... REQUIRETLS (RFC 8689)",
    "RRVS": "require recipient valid since: RCPT ... RRVS= (RFC 7293)",
    "SIZE": "maximum message size in octets (0 = none); MAIL ... SIZE= (RFC 1870)",
    "SMTPUTF8": "UTF-8 addresses and headers: MAIL ... SMTPUTF8 (RFC 6531)",
    "STARTTLS": "connection can be upgraded to TLS: STARTTLS command (RFC 3207)",
    "SUBMITTER": "responsible submitter for Sender ID checks: SUBMITTER= (RFC 4405)",
    "TURN": "obsolete role reversal without authentication (RFC 821; unsafe)",
    "UTF8SMTP": "experimental predecessor of SMTPUTF8 (RFC 5336, obsolete)",
    "VERB": "sendmail: verbose delivery reporting (not standard)",
    "VRFY": "address verification is enabled: VRFY command (RFC 5321)",
    "X-EXPS": "Microsoft Exchange: extra authentication mechanisms (not standard)",
    "X-LINK2STATE": "Microsoft Exchange: routing state between servers (not standard)",
    "XCLIENT": "Postfix: client attributes may be overridden for testing (not an RFC)",
    "XEXCH50": "Microsoft Exchange: binary message properties between servers (not standard)",
    "XFORWARD": "Postfix: original client details passed on for logging (not an RFC)",
    "XVERP": "Postfix/qmail: variable envelope return paths: MAIL ... XVERP (not an RFC)",
})

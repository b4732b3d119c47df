"""The SMTP session state machine, as tables (RFC 5321 §3, §4.1.4; RFC 3207; RFC 3030).

State changes only when a reply arrives: the server, not the client, decides whether a
command took effect. Commands out of order are *predicted* to fail, never refused.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping

from smtpsh.protocol import meanings
from smtpsh.protocol.record import Record
from smtpsh.protocol.replies import Reply


class State(enum.Enum):
    CONNECTING = "connecting"  # waiting for the banner
    GREETED = "greeted"  # banner received; EHLO/HELO expected (again after STARTTLS)
    REFUSED = "refused"  # a 554 banner: no service, but the server waits for QUIT
    READY = "ready"  # EHLO/HELO accepted, no mail transaction
    MAIL = "mail"  # MAIL FROM accepted
    RCPT = "rcpt"  # at least one RCPT TO accepted
    DATA = "data"  # 354 received: the client is sending the message
    BDAT = "bdat"  # a BDAT chunk accepted, more chunks to come (RFC 3030)
    CLOSED = "closed"


# Pseudo-verbs for client lines that are not commands.
BANNER = "<banner>"
END_OF_DATA = "<end-of-data>"
AUTH_RESPONSE = meanings.AUTH_RESPONSE  # "<auth-response>"

_AFTER_AUTH = frozenset({meanings.AUTHENTICATED})
_NOTHING: frozenset[str] = frozenset()

_ANY = None
_OPEN = frozenset(set(State) - {State.CLOSED})
_TRANSACTION = frozenset({State.MAIL, State.RCPT, State.BDAT})
# The states in which the client sends commands (not the banner's wait, not a message's
# lines, not after the end).
_COMMAND_STATES = frozenset(
    {State.GREETED, State.REFUSED, State.READY, State.MAIL, State.RCPT, State.BDAT})

# (verb, reply class) -> {from state (None = any): to state}.  Absent: no change.
TRANSITIONS: Mapping[tuple[str, int], Mapping[State | None, State]] = {
    (BANNER, 2): {State.CONNECTING: State.GREETED},
    # 554 "no service here": the server MUST wait for QUIT and SHOULD answer anything
    # else with 503 (RFC 5321 §3.1), so the connection stays open. (A server that hangs
    # up at once closes it by itself.)
    (BANNER, 5): {State.CONNECTING: State.REFUSED},
    ("EHLO", 2): {_ANY: State.READY},
    ("HELO", 2): {_ANY: State.READY},
    ("LHLO", 2): {_ANY: State.READY},  # LMTP's EHLO (RFC 2033 §4.1)
    # Postfix XCLIENT: the session starts again with a new 220 greeting (XCLIENT_README).
    ("XCLIENT", 2): {_ANY: State.GREETED},
    # What the server accepts out of order takes effect all the same: the state follows
    # its answer, not the order RFC 5321 asks for. Postfix (smtpd_helo_required = no, its
    # default) takes MAIL, RCPT and DATA with no EHLO/HELO before them; a MAIL accepted
    # inside a transaction (Haraka takes a nested one; the others answer 503) starts a new
    # one: Haraka then forgets the recipients ("503 RCPT required first" to DATA).
    ("MAIL", 2): {state: State.MAIL for state in _COMMAND_STATES},
    ("RCPT", 2): {state: State.RCPT for state in _COMMAND_STATES - {State.BDAT}},
    # A 354 puts the client in DATA mode whatever the state (connection.py follows it).
    ("DATA", 3): {state: State.DATA for state in _COMMAND_STATES - {State.BDAT}},
    (END_OF_DATA, 2): {State.DATA: State.READY},
    (END_OF_DATA, 4): {State.DATA: State.READY},
    (END_OF_DATA, 5): {State.DATA: State.READY},
    ("BDAT", 2): {State.MAIL: State.BDAT, State.RCPT: State.BDAT, State.BDAT: State.BDAT},
    ("BDAT LAST", 2): {State.MAIL: State.READY, State.RCPT: State.READY, State.BDAT: State.READY},
    ("BDAT LAST", 4): {State.BDAT: State.READY, State.RCPT: State.READY},
    ("BDAT LAST", 5): {State.BDAT: State.READY, State.RCPT: State.READY},
    ("RSET", 2): {State.MAIL: State.READY, State.RCPT: State.READY, State.BDAT: State.READY},
    ("STARTTLS", 2): {_ANY: State.GREETED},
    ("QUIT", 2): {_ANY: State.CLOSED},
}

# Replies that end the session whatever was asked (RFC 5321 §3.8: 421 closes).
CLOSING_CODES = frozenset({421})

# Side effects, by (verb, reply class): names of Session methods, so the table stays data.
# Each takes the reply and the command line it answers (as shown: secrets masked).
EFFECTS: Mapping[tuple[str, int], str] = {
    (BANNER, 2): "_learn_banner",
    ("EHLO", 2): "_learn_extensions",
    ("HELO", 2): "_learn_helo",
    ("LHLO", 2): "_learn_lmtp",
    ("XCLIENT", 2): "_forget_for_xclient",
    ("MAIL", 2): "_learn_sender",
    ("MAIL", 4): "_forget_queue_id",
    ("MAIL", 5): "_forget_queue_id",
    ("RCPT", 2): "_learn_recipient",
    ("STARTTLS", 2): "_forget_for_tls",
    ("AUTH", 2): "_learn_auth",
    (AUTH_RESPONSE, 2): "_learn_auth",
    (END_OF_DATA, 2): "_learn_queue_id",
    ("BDAT LAST", 2): "_learn_queue_id",
    ("RSET", 2): "_forget_transaction",
    # A refused EHLO changes nothing (RFC 5321 §4.1.4: the server stays in the state it
    # was in), so the extensions of an earlier EHLO stay known.
}


class Requirement(Record):
    """When a verb makes sense, and what a server typically answers otherwise."""

    __slots__ = ("extension", "refusal", "states")

    def __init__(
        self, states: frozenset[State], refusal: str, extension: str | None = None
    ) -> None:
        self.states = states
        self.refusal = refusal  # what a typical server answers when the state is wrong
        self.extension = extension  # EHLO keyword that must be advertised


_NEED_HELO = "503 5.5.1 send EHLO/HELO first"
REQUIREMENTS: Mapping[str, Requirement] = {
    "MAIL": Requirement(
        frozenset({State.READY}), "503 5.5.1 need EHLO first, or a transaction is open"
    ),
    "RCPT": Requirement(frozenset({State.MAIL, State.RCPT}), "503 5.5.1 need MAIL before RCPT"),
    "DATA": Requirement(frozenset({State.RCPT}), "503 5.5.1 need RCPT before DATA"),
    "BDAT": Requirement(
        frozenset({State.RCPT, State.BDAT}), "503 5.5.1 need RCPT before BDAT", "CHUNKING"
    ),
    # After EHLO (which advertises it); RFC 3207 does not forbid it inside a transaction,
    # which the handshake resets (§4.2), and Postfix accepts it there.
    "STARTTLS": Requirement(
        frozenset({State.READY, State.MAIL, State.RCPT}), "503 5.5.1 send EHLO first", "STARTTLS"
    ),
    "AUTH": Requirement(
        frozenset({State.READY}), "503 5.5.1 AUTH only outside a transaction, after EHLO", "AUTH"
    ),
    "ETRN": Requirement(frozenset({State.READY}), _NEED_HELO, "ETRN"),
    "ATRN": Requirement(frozenset({State.READY}), _NEED_HELO, "ATRN"),
    # Postfix's own commands (XCLIENT_README, XFORWARD_README): outside a transaction.
    "XCLIENT": Requirement(
        frozenset({State.GREETED, State.READY}), "503 5.5.1 mail transaction in progress",
        "XCLIENT",
    ),
    "XFORWARD": Requirement(
        frozenset({State.GREETED, State.READY}), "503 5.5.1 mail transaction in progress",
        "XFORWARD",
    ),
    "EHLO": Requirement(_OPEN, ""),
    "LHLO": Requirement(_OPEN, ""),
    "HELO": Requirement(_OPEN, ""),
    "RSET": Requirement(_OPEN, ""),
    "NOOP": Requirement(_OPEN, ""),
    "QUIT": Requirement(_OPEN, ""),
    "HELP": Requirement(_OPEN, ""),
    "VRFY": Requirement(_OPEN, ""),
    "EXPN": Requirement(_OPEN, ""),
}

# What the dialogue expects next, per state: the toolbar's hint.
NEXT_STEP: Mapping[State, str] = {
    State.CONNECTING: "waiting for the server's banner",
    State.GREETED: "EHLO <your-name> (or HELO)",
    State.REFUSED: "the server refused service (554): QUIT, then try later or elsewhere",
    State.READY: "MAIL FROM:<sender>  · also STARTTLS, AUTH, VRFY, QUIT",
    State.MAIL: "RCPT TO:<recipient>",
    State.RCPT: "another RCPT TO, or DATA",
    State.DATA: "message lines, then a line with a single '.'",
    State.BDAT: "BDAT <size> [LAST]",
    State.CLOSED: "connection closed: /reconnect or /quit",
}

_ADDRESS = re.compile(r"<([^>]*)>")


class Prediction(Record):
    """A command that will probably be refused, and why."""

    __slots__ = ("glossed", "reason", "reply")

    def __init__(self, reply: str, reason: str, *, glossed: bool = False) -> None:
        self.reply = reply
        self.reason = reason
        # The reply's own gloss says so when the server does otherwise (a row of
        # meanings.py for this case): no second line need say the prediction missed.
        self.glossed = glossed


class Session:
    """What the client knows of the session; changed only by replies (see ``update``)."""

    def __init__(
        self,
        state: State = State.CONNECTING,
        *,
        tls: bool = False,
        authenticated: bool = False,
        esmtp: bool = False,
        lmtp: bool = False,
    ) -> None:
        self.state = state
        # LMTP (RFC 2033): LHLO instead of EHLO, and after the final dot one reply per
        # accepted recipient. Set by --lmtp, or learnt when a LHLO is accepted.
        self.lmtp = lmtp
        self.tls = tls
        self.authenticated = authenticated
        self.esmtp = esmtp
        # The greeting whose reply is in force (EHLO, LHLO or HELO; None before one, and
        # again once STARTTLS or XCLIENT start the session over), and the one STARTTLS
        # made void: what to say to greet again.
        self.greeting: str | None = None
        self.greeting_before_tls: str | None = None
        self.server_name = ""
        self.banner: Reply | None = None
        self.extensions: dict[str, str] = {}  # EHLO keyword -> its arguments
        self.mail_from: str | None = None
        self.recipients: list[str] = []
        self.queue_id: str | None = None
        self.addresses_seen: list[str] = []  # for completion inside <...>
        # What a refusal said must come first ("tls" or "auth"), until TLS or AUTH is done:
        # the next-step hint offers that instead of the command just refused.
        self.demanded: str | None = None
        self.demand_code = 0  # the code of that refusal
        # Predictions (reply, reason) that this server proved wrong by taking the line
        # (rules.disproved): said again as what was seen, no longer as what to expect.
        self.disproved: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"Session({self.state.value}, tls={self.tls}, extensions={sorted(self.extensions)})"

    @property
    def when(self) -> frozenset[str]:
        """What a command sent now is sent after (Command.when): {AUTHENTICATED} or none."""
        return _AFTER_AUTH if self.authenticated else _NOTHING

    @property
    def next_step(self) -> str:
        return NEXT_STEP[self.state]

    def advertises(self, keyword: str) -> bool:
        return keyword.upper() in self.extensions

    @property
    def auth_mechanisms(self) -> list[str]:
        return self.extensions.get("AUTH", "").upper().split()

    def greet_again(self) -> str:
        """What to say once TLS is up after STARTTLS: the session starts over and the
        server has forgotten the greeting (RFC 3207 §4.2), in words that fit the one sent."""
        hello = "LHLO" if self.lmtp else "EHLO"
        before = self.greeting_before_tls
        if before in ("EHLO", "LHLO"):
            return (f"the server's earlier {before} reply is void after STARTTLS: send"
                    f" {before} again (RFC 3207 §4.2)")
        if before == "HELO":
            return (f"the HELO sent before STARTTLS no longer counts: greet the server again"
                    f" (RFC 3207 §4.2), with {hello} to learn what it offers inside TLS")
        return f"TLS is up: greet the server now, with {hello} (RFC 3207 §4.2)"

    def predict(self, verb: str) -> Prediction | None:
        """Whether a server would probably refuse ``verb`` now (None: fine as far as we know)."""
        if self.state is State.CLOSED:
            return Prediction("(no reply)", "the connection is closed; /reconnect first")
        if self.state is State.REFUSED and verb.upper() != "QUIT":
            return Prediction(
                "503 5.5.1 bad sequence of commands",
                "the server refused service in its banner (554) and only waits for QUIT"
                " (RFC 5321 §3.1)",
            )
        req = REQUIREMENTS.get(verb.upper())
        if req is None:
            return None
        if verb.upper() == "AUTH" and self.authenticated:
            return Prediction(
                "503 5.5.1 already authenticated",
                "RFC 4954 §4 says a server must refuse AUTH after a successful one; this"
                " server may still answer otherwise",
                glossed=True,  # meanings.py: "a second AUTH accepted, though …"
            )
        if self.lmtp and verb.upper() in ("EHLO", "HELO"):
            return Prediction(
                "500 5.5.1 Unknown command", "an LMTP server greets with LHLO (RFC 2033 §4.1)"
            )
        if verb.upper() == "LHLO" and not self.lmtp and self.state is not State.GREETED:
            return Prediction(
                "502 5.5.2 command not recognized",
                "LHLO is LMTP's greeting (RFC 2033 §4.1); this server took EHLO/HELO, so it"
                " speaks SMTP",
            )
        if verb.upper() == "STARTTLS" and self.tls:  # first: servers stop offering it then
            return Prediction("503 5.5.1 TLS already active", "the session is already encrypted")
        if (verb.upper() == "AUTH" and self.esmtp and self.state is not State.GREETED
                and not self.advertises("AUTH")):
            # The verb is known; it is off here: a sequence refusal, not "not implemented".
            return Prediction(
                "503 5.5.1 AUTH not available",
                "the server did not advertise AUTH in its EHLO reply (Postfix, Exim and"
                " OpenSMTPD then answer 503)",
            )
        if req.extension and self.state is not State.GREETED and not self.advertises(req.extension):
            return Prediction(
                "502 5.5.1 command not implemented",
                f"the server did not advertise {req.extension} in its EHLO reply"
                if self.esmtp
                else f"{verb.upper()} needs the {req.extension} extension, and after HELO"
                " none is in force",
            )
        if self.state not in req.states:
            return Prediction(
                req.refusal,
                f"{verb.upper()} is out of order in state '{self.state.value}'"
                " (RFC 5321 §4.1.4)",
            )
        return None

    def on_reply(self, verb: str, reply: Reply, line: str = "") -> None:
        """Advance the state for ``reply`` to ``verb`` (a pseudo-verb for non-commands);
        ``line``: the command it answers, as shown."""
        if reply.code in CLOSING_CODES:
            self.state = State.CLOSED
            return
        if reply.klass == 5 and verb != "STARTTLS":
            self._note_demand(reply)
        key = (verb, reply.klass)
        moves = TRANSITIONS.get(key)
        if moves is not None:
            target = moves.get(self.state, moves.get(_ANY))
            if target is not None and self.state is not State.CLOSED:
                self.state = target
        effect = EFFECTS.get(key)
        if effect is not None:
            getattr(self, effect)(reply, line)

    def on_closed(self) -> None:
        self.state = State.CLOSED

    # --- side effects named in EFFECTS -------------------------------------------------

    def _learn_banner(self, reply: Reply, line: str = "") -> None:
        self.banner = reply
        self.server_name = reply.lines[0].split(" ", 1)[0] if reply.lines else ""

    def _learn_extensions(self, reply: Reply, line: str = "") -> None:
        self.esmtp = True
        self.greeting = "EHLO"
        self.extensions = {}
        for line in reply.lines[1:]:
            keyword, _, args = line.strip().partition(" ")
            if keyword:
                self.extensions[keyword.upper()] = args.strip()
        self._forget_transaction(reply)

    def _learn_lmtp(self, reply: Reply, line: str = "") -> None:
        self._learn_extensions(reply)
        self.lmtp = True
        self.greeting = "LHLO"

    def _forget_for_xclient(self, reply: Reply, line: str = "") -> None:
        # XCLIENT_README: the server acts as if the client had just connected: the earlier
        # EHLO, any AUTH and any transaction are gone; the 220 is the new greeting.
        self.esmtp = False
        self.greeting = None
        self.extensions = {}
        self.authenticated = False
        self._forget_transaction(reply)

    def _learn_helo(self, reply: Reply, line: str = "") -> None:
        self.esmtp = False
        self.greeting = "HELO"
        self.extensions = {}
        self._forget_transaction(reply)

    def _note_demand(self, reply: Reply) -> None:
        """A 530 or 538 (or 5.7.0/5.7.10/5.7.11) that asks for TLS or AUTH first (RFC 3207
        §4, RFC 4954 §6): aiosmtpd's `530 Must issue a STARTTLS command first`, smtp-server's
        `538 Error: Must issue a STARTTLS command first` to AUTH in clear, `530 5.7.0
        Authentication required`."""
        if reply.code not in (530, 538) and (reply.enhanced or "") not in (
                "5.7.0", "5.7.10", "5.7.11"):
            return
        text = reply.text.lower()
        if not self.tls and ("tls" in text or "encrypt" in text):
            self.demanded, self.demand_code = "tls", reply.code
        elif not self.authenticated and "auth" in text:
            self.demanded, self.demand_code = "auth", reply.code

    def _forget_for_tls(self, reply: Reply, line: str = "") -> None:
        # RFC 3207 §4.2: everything learnt before TLS is void; EHLO must be sent again.
        self.demanded = None
        self.tls = True
        self.esmtp = False
        self.greeting_before_tls, self.greeting = self.greeting, None
        self.extensions = {}
        self.authenticated = False
        self._forget_transaction(reply)

    def _learn_auth(self, reply: Reply, line: str = "") -> None:
        if reply.code == 235:
            self.authenticated = True
            self.demanded = None

    def _learn_sender(self, reply: Reply, line: str = "") -> None:
        """MAIL accepted: a new envelope, its sender taken from the line (the toolbar shows it)."""
        match = _ADDRESS.search(line)
        self.mail_from = match.group(1) if match else None
        self.recipients = []
        self.queue_id = None

    def _learn_recipient(self, reply: Reply, line: str = "") -> None:
        match = _ADDRESS.search(line)
        if match is not None:
            self.recipients.append(match.group(1))

    def _learn_queue_id(self, reply: Reply, line: str = "") -> None:
        from smtpsh.protocol.queueid import find_queue_id  # only once a message is sent

        found = find_queue_id(reply.text)
        self.queue_id = found[0] if found else None
        self.mail_from = None
        self.recipients = []

    def _forget_transaction(self, reply: Reply, line: str = "") -> None:
        self.mail_from = None
        self.recipients = []
        self._forget_queue_id(reply)

    def _forget_queue_id(self, reply: Reply, line: str = "") -> None:
        # The queue id names the message the last transaction sent: once the user starts
        # over (RSET, a new greeting, a MAIL even refused) it no longer belongs to the
        # state the toolbar and /info show.
        self.queue_id = None

    def note_disproved(self, predictions: list[Prediction]) -> None:
        """Remember refusals this server did not give (``rules.disproved``)."""
        self.disproved.update((p.reply, p.reason) for p in predictions)

    def note_sent(self, line: str) -> None:
        """Remember the addresses the user typed (completion offers them again)."""
        for address in _ADDRESS.findall(line):
            if address and address not in self.addresses_seen:
                self.addresses_seen.append(address)

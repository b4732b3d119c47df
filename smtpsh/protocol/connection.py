"""ClientConnection: the sans-IO client side of one SMTP connection (model: h11).

Bytes to send come out of ``send_*``; bytes received go into ``receive_data``; replies,
each paired with the command it answers, come out of ``next_event``. Nothing here touches
a socket, so every behaviour is unit-testable.
"""

from __future__ import annotations

from collections import deque

from smtpsh.protocol.encoding import (
    Checked,
    DataEncoder,
    encode_command,
    text_to_wire,
    visible,
)
from smtpsh.protocol.errors import LocalProtocolError, RemoteProtocolError
from smtpsh.protocol.record import Record
from smtpsh.protocol.replies import Reply, ReplyParser
from smtpsh.protocol.session import AUTH_RESPONSE, BANNER, END_OF_DATA, Session, State

SECRET_MASK = "********"
# Replies nobody asked for, in a row, before the connection is closed: a server may send an
# idle 421 or a stray line, not a stream (two million '250 ok' flooded the terminal for 40 s).
MAX_UNSOLICITED = 20
AUTH_CANCEL = "*"  # the client's answer that cancels an AUTH exchange (RFC 4954 §4)


class Command:
    """A client line awaiting (or given) a reply.

    Each one is itself, not a value: two identical RCPT lines are two commands, each owed
    its own reply, so equality and hashing are by identity (a transport keys the waiter
    for a command's reply on the command)."""

    __slots__ = ("display", "recipient", "verb", "when")

    def __init__(self, verb: str, display: str, recipient: str | None = None,
                 when: frozenset[str] = frozenset()) -> None:
        self.verb = verb  # upper-case verb, or a pseudo-verb from session.py
        self.display = display  # the line as it may be shown, stored and recorded: secrets masked
        # LMTP: after the final dot, the recipient this reply is about (RFC 2033 §4.2)
        self.recipient = recipient
        # What the session was when it went out (session.AUTHENTICATED): the reply's
        # meaning may depend on it (an AUTH after a successful one, meanings.Meaning.when)
        self.when = when

    def __repr__(self) -> str:
        return f"Command(verb={self.verb!r}, display={self.display!r})"


class ReplyEvent(Record):
    __slots__ = ("command", "reply")

    def __init__(self, reply: Reply, command: Command | None) -> None:
        self.reply = reply
        # None: unsolicited (a 421 while idle, a reply nobody asked for)
        self.command = command


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


def verb_of(line: str) -> str:
    """The verb of a command line: 'mail from:<x>' -> 'MAIL'."""
    word = line.strip().split(" ", 1)[0].split(":", 1)[0]
    return word.upper()


def redact_auth_command(line: str) -> str:
    """'AUTH PLAIN AGFsaWNl…' -> 'AUTH PLAIN ********': keep the mechanism, mask the response."""
    parts = line.split(None, 2)
    return " ".join(parts[:2]) + (f" {SECRET_MASK}" if len(parts) > 2 else "")


class ClientConnection:
    """Everything known of one connection, whichever transport carries it: handing a live
    session from one transport to another is handing over this object."""

    def __init__(self) -> None:
        self.session = Session()
        self._parser = ReplyParser()
        self._pending: deque[Command] = deque([Command(BANNER, "")])
        self._data: DataEncoder | None = None
        self._in_auth = False  # between AUTH and its final (non-334) reply: every line is secret
        self.quit_sent = False  # a QUIT left us: a close after it is the normal end
        self.helo_name = "smtpsh.localdomain"  # the last EHLO/HELO argument sent
        # What the transport saw (kept here so that a hand-over carries it too).
        self.peer: tuple[str, int] | None = None
        self.close_reason: str | None = None  # why the connection ended, once it has
        self._unsolicited = 0  # replies nobody asked for since the last one we did

    # --- what we send ------------------------------------------------------------------

    @property
    def awaiting(self) -> int:
        """How many replies are still owed to us."""
        return len(self._pending)

    @property
    def pending(self) -> tuple[Command, ...]:
        """Commands still awaiting replies, oldest first."""
        return tuple(self._pending)

    @property
    def in_data(self) -> bool:
        return self._data is not None

    @property
    def in_auth(self) -> bool:
        return self._in_auth

    def send_command(self, line: str, *, raw: bool = False) -> bytes:
        """Bytes for one command line; the command then awaits its reply."""
        if self._data is not None:
            raise LocalProtocolError("in DATA mode: send message lines, then '.'")
        wire = text_to_wire(line) + b"\r\n" if raw else encode_command(line)
        shown = visible(line)  # raw mode may send controls: the display never carries them
        when = self.session.when
        if self._in_auth:
            cancel = line.strip() == AUTH_CANCEL  # no secret: shown as it is
            command = Command(AUTH_RESPONSE, AUTH_CANCEL if cancel else SECRET_MASK, when=when)
            if cancel:
                self._in_auth = False  # what follows is a command, whatever comes back
        else:
            verb = verb_of(line)
            if verb == "AUTH":
                command = Command(verb, redact_auth_command(shown), when=when)
                self._in_auth = True
            elif verb == "BDAT" and line.upper().split()[-1:] == ["LAST"]:
                command = Command("BDAT LAST", shown, when=when)
            else:
                command = Command(verb, shown, when=when)
            self.session.note_sent(line)
            if verb == "QUIT":
                self.quit_sent = True
            elif verb in ("EHLO", "HELO") and len(line.split()) > 1:
                self.helo_name = line.split()[1]
        self._pending.append(command)
        return wire

    def send_data(
        self, data: bytes, *, long_lines: bool = False, checked: Checked | None = None
    ) -> bytes:
        """Message bytes after a 354: CRLF-normalised and dot-stuffed; lines over 1000
        octets are refused unless ``long_lines`` (the user was warned and wants them).
        ``checked``: check_piece's proof for ``data``, which then goes as it is."""
        if self._data is None:
            raise LocalProtocolError("not in DATA mode: the server has not answered 354")
        if checked is not None:
            return self._data.feed_checked(data, checked)
        return self._data.feed(data, long_lines=long_lines)

    def end_data(self) -> bytes:
        """The end of the message: the final CRLF if missing, then '.'; awaits the reply."""
        if self._data is None:
            raise LocalProtocolError("not in DATA mode: the server has not answered 354")
        wire = self._data.finish()
        self._data = None
        for recipient in self.end_of_data_recipients():
            self._pending.append(Command(END_OF_DATA, ".", recipient))
        return wire

    def end_of_data_recipients(self) -> list[str | None]:
        """Whom each reply after the final dot is about: one reply in SMTP (None); in LMTP
        one per accepted recipient, in the order of the RCPTs (RFC 2033 §4.2)."""
        recipients = self.session.recipients
        if not self.session.lmtp or not recipients:
            return [None]
        return list(recipients)

    @property
    def data_encoder(self) -> DataEncoder | None:
        return self._data

    def send_bdat(self, chunk: bytes, *, last: bool) -> bytes:
        """One BDAT chunk (RFC 3030): the byte count, then exactly those bytes. In LMTP the
        last chunk earns one reply per accepted recipient (RFC 2033 §4.2 with RFC 3030)."""
        line = f"BDAT {len(chunk)}" + (" LAST" if last else "")
        if last:
            for recipient in self.end_of_data_recipients():
                self._pending.append(Command("BDAT LAST", line, recipient))
        else:
            self._pending.append(Command("BDAT", line))
        return line.encode() + b"\r\n" + chunk

    def send_raw(self, data: bytes, *, replies: int = 0, display: str = "") -> bytes:
        """Bytes exactly as given (raw mode); ``replies`` says how many replies they earn."""
        for _ in range(replies):
            self._pending.append(Command("<raw>", display))
        return data

    # --- what we receive ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        self._parser.feed(data)

    def receive_eof(self) -> None:
        self.session.on_closed()
        self._pending.clear()
        self._data = None
        self._in_auth = False

    @property
    def unfinished(self) -> bytes:
        """Bytes of a reply that has not ended yet (what a close in mid-reply cuts off)."""
        return self._parser.buffered

    def discard_buffered(self) -> bytes:
        """At the STARTTLS switch: drop (and return) bytes that arrived after the 220."""
        return self._parser.discard_buffered()

    def _count_unsolicited(self) -> None:
        """Past MAX_UNSOLICITED in a row, the rest of what arrived is dropped unshown and
        RemoteProtocolError asks the transport to close (it says so in one line)."""
        self._unsolicited += 1
        if self._unsolicited <= MAX_UNSOLICITED:
            return
        dropped = 1
        while self._parser.next_reply() is not None:
            dropped += 1
        raise RemoteProtocolError(
            f"the server sent over {MAX_UNSOLICITED} replies nobody asked for"
            f" ({MAX_UNSOLICITED} shown, {dropped:,} more dropped unshown)"
        )

    def next_event(self) -> ReplyEvent | _NeedData:
        reply = self._parser.next_reply()
        if reply is None:
            return NEED_DATA
        command = self._pending.popleft() if self._pending else None
        if command is None:
            self._count_unsolicited()
        else:
            self._unsolicited = 0
        verb = command.verb if command else ""
        self.session.on_reply(verb, reply, command.display if command else "")
        if verb in ("AUTH", AUTH_RESPONSE):
            # A 334 goes on with the exchange, except after the client cancelled it: then
            # the exchange is over whatever the server says (RFC 4954 wants a 501), and
            # the next line typed is a command again, not a secret to mask.
            cancelled = command is not None and command.display == AUTH_CANCEL
            self._in_auth = reply.code == 334 and not cancelled
        if verb == "DATA" and reply.code == 354:
            self._data = DataEncoder(stuff=True)
        if self.session.state is State.CLOSED:
            self._pending.clear()
            self._data = None
        return ReplyEvent(reply, command)


def decode_challenge(reply: Reply) -> str | None:
    """The decoded text of a 334 challenge (RFC 4954), e.g. 'VXNlcm5hbWU6' -> 'Username:'."""
    if reply.code != 334 or not reply.lines:
        return None
    import base64  # here: only AUTH dialogues need it, and every start would pay for it

    try:
        return base64.b64decode(reply.lines[0].strip(), validate=True).decode("utf-8", "replace")
    except ValueError:
        return None


def challenge_gloss(reply: Reply) -> str | None:
    """What a 334 challenge says, for the annotation under it: the decoded text, or for an
    NTLM CHALLENGE (binary) the names and version it gives away."""
    text = decode_challenge(reply)
    if text is None:
        return None
    if text.startswith("NTLMSSP\0"):
        from smtpsh.protocol.ntlm import NTLMError, decode_challenge_line

        try:
            info = decode_challenge_line(reply.lines[0])
        except NTLMError as exc:
            return f"NTLM: {exc}"
        names = ", ".join(f"{label}: {value}" for label, value in info.items())
        return f"NTLM CHALLENGE ({names or 'no names given'})"
    return f"decoded: {text!r}"

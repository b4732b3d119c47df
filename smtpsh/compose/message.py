"""Messages: built with the stdlib ``email`` package, or read from an .eml file.

A composed message is encoded for what the server allows: 8-bit text only when 8BITMIME
was advertised (else quoted-printable or base64, chosen by ``email``), long lines always
encoded, non-ASCII headers as RFC 2047 words unless SMTPUTF8 is in use. A file is sent as
it is; only its header section is read here (for the envelope and the preview).
"""

from __future__ import annotations

import email.policy
import email.utils
import hashlib
import mimetypes
import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from email import encoders
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path

from smtpsh.compose.scan import TEXT_LIMIT, MessageFacts, Scanner, read_pieces
from smtpsh.net.client import CheckedPiece
from smtpsh.output.safe import CONTROL, escaped, safe
from smtpsh.protocol.encoding import Checked
from smtpsh.protocol.errors import SmtpshError

HEADER_READ_LIMIT = 1 << 20  # an .eml whose header section is bigger is not a message
REENCODE_LIMIT = 32 << 20  # /send --encode rebuilds the message in memory: keep it sane
HEAD_BYTES = 4 << 20  # the preview never reads more than this
DEFAULT_SUBJECT = "Test message from smtpsh"


class ComposeError(SmtpshError):
    """The message or envelope cannot be made as asked (one line says why)."""

    fault = "user"


# --- addresses ---------------------------------------------------------------------------


def parse_addresses(text: str) -> list[tuple[str, str]]:
    """Header text 'Robin <robin@x>, alice@y' -> [('Robin', 'robin@x'), ('', 'alice@y')];
    ComposeError on anything that is not a comma-separated list of addresses."""
    if not text.strip():
        return []
    out = []
    for name, addr in email.utils.getaddresses([text]):
        problem = address_problem(addr)
        if problem:
            if not addr:
                problem = "cannot read the addresses (separate them with commas)"
            raise ComposeError(f"'{text.strip()}': {problem}")
        out.append((name, addr))
    return out


def parse_recipients(text: str) -> list[str]:
    """Envelope recipients as typed: 'a@x, <b@y> c@z' -> ['a@x', 'b@y', 'c@z']."""
    control = next((ch for ch in text if _is_control(ch)), None)
    if control is not None:
        # Said of the whole value, escaped: split at the CR, the error quoted the piece
        # before or after it only, and 'a@x<CR>b@y' was taken for two recipients.
        raise ComposeError(
            f"'{safe(text)}': {escaped(control)} (a control character) in an address"
        )
    out = []
    for token in _SEPARATORS.split(text.strip(_BLANKS)):
        if not token:
            continue
        addr = token[1:-1] if token.startswith("<") and token.endswith(">") else token
        problem = address_problem(addr)
        if problem:
            raise ComposeError(problem)
        if addr not in out:
            out.append(addr)
    return out


def parse_recipient_values(values: Iterable[str]) -> list[str]:
    """The recipients of several options (--to a --to 'b, c'), each value parsed on its own
    so that an error quotes that value alone; each address once."""
    out: list[str] = []
    for value in values:
        out += [addr for addr in parse_recipients(value) if addr not in out]
    return out


# Typed between addresses. Other white space (CR, LF, a vertical tab) is a control
# character: no separator, but a mistake to show (parse_recipients).
_BLANKS = " \t"
_SEPARATORS = re.compile(r"[,; \t]+")


def _is_control(ch: str) -> bool:
    return ch not in _BLANKS and safe(ch, kinds=(CONTROL,)) != ch


def address_problem(addr: str) -> str | None:
    """Why ``addr`` is not a usable addr-spec (None: it is)."""
    if not addr:
        return "not an address"
    if any(ch.isspace() or ch in "<>" for ch in addr) or any(ord(ch) < 32 for ch in addr):
        return f"'{addr}' is not an address (no spaces or angle brackets inside)"
    if "@" not in addr and addr.lower() != "postmaster":
        return f"'{addr}' has no '@domain'"
    local, _, domain = addr.rpartition("@")
    if "@" in addr and (not local or not domain):
        return f"'{addr}' needs text on both sides of '@'"
    if len(local.encode()) > 64:
        return f"the local part of '{addr}' is over 64 octets (RFC 5321 §4.5.3.1.1)"
    return None


def addresses_of(text: str) -> list[str]:
    return [addr for _, addr in parse_addresses(text)]


def parse_sender(text: str) -> str:
    """The envelope sender: an address, or '' for the null sender (typed as <> or empty)."""
    text = text.strip(_BLANKS)  # a CR or LF around it is a mistake to show, not trimmed
    if text in ("", "<>"):
        return ""
    found = parse_recipients(text)
    if len(found) != 1:
        raise ComposeError(f"'{text}': the envelope sender is one address (or <>)")
    return found[0]


# --- composing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    """A file to attach; type and name default to the file's (--attach-type/--attach-name)."""

    path: Path
    content_type: str | None = None
    name: str | None = None


@dataclass
class Draft:
    """What the guided flow (or /compose's flags) asked for."""

    sender: str  # envelope MAIL FROM ('' = null sender)
    recipients: list[str]  # envelope RCPT TO
    from_header: str
    to: str  # header text, as typed: 'Robin <robin@x>, alice@y'
    cc: str = ""
    subject: str = DEFAULT_SUBJECT
    body: str = ""
    attachments: list[Path | Attachment] = field(default_factory=list)
    message_id: str = ""
    date: str = ""
    # (name, value, replace): --header replaces a header of that name, --add-header adds.
    headers: list[tuple[str, str, bool]] = field(default_factory=list)

    def header_addresses(self) -> list[str]:
        return [a for text in (self.from_header, self.to, self.cc) for a in addresses_of(text)]

    def needs_smtputf8(self) -> bool:
        """Non-ASCII in an address (envelope or header) needs SMTPUTF8 (RFC 6531 §3.2)."""
        envelope = [self.sender, *self.recipients]
        return not all(a.isascii() for a in (*envelope, *self.header_addresses()))


@dataclass
class Built:
    data: bytes  # the message, CRLF line endings, ready for DataEncoder
    notes: list[str]  # what was encoded and why (shown before sending)


def build_message(draft: Draft, *, eight_bit: bool, smtputf8: bool, domain: str) -> Built:
    """The message as bytes, encoded for what the server allows.

    ``eight_bit``: 8BITMIME was advertised (8-bit text may go as it is);
    ``smtputf8``: SMTPUTF8 is used (headers may be raw UTF-8).
    """
    policy = email.policy.SMTPUTF8 if smtputf8 else email.policy.SMTP
    if not eight_bit:
        policy = policy.clone(cte_type="7bit")
    if "\0" in draft.body:
        raise ComposeError("the body holds a NUL character: attach that content as a file")
    for name, value in (("From", draft.from_header), ("To", draft.to), ("Cc", draft.cc),
                        ("Subject", draft.subject)):
        problem = header_problem(value)
        if problem:
            raise ComposeError(f"{name}: {problem}")
    date = draft.date or email.utils.formatdate(localtime=True)
    message_id = draft.message_id or email.utils.make_msgid(domain=domain)
    tokens = {"%DATE%": date, "%MESSAGEID%": message_id, "%TO%": draft.to,
              "%FROM%": draft.from_header}
    msg = EmailMessage(policy=policy)
    try:
        msg["From"] = draft.from_header
        msg["To"] = draft.to
        if draft.cc.strip():
            msg["Cc"] = draft.cc
        msg["Subject"] = fill_tokens(draft.subject, tokens)
        msg["Date"] = date
        msg["Message-ID"] = message_id
        for name, value, replace in draft.headers:
            if replace:
                del msg[name]
            msg[name] = fill_tokens(value, tokens)
    except (ValueError, TypeError) as exc:
        raise ComposeError(f"a header cannot be made: {exc}") from None
    text = fill_tokens(draft.body, tokens)
    body = text if text.endswith("\n") or not text else text + "\n"
    msg.set_content(body)
    notes = []
    text_cte = str(msg.get("Content-Transfer-Encoding", "7bit"))
    for item in draft.attachments:
        add_attachment(msg, item)
    if msg.is_multipart():
        # The same message from the same parts, whoever builds it (/compose, smtpsh send):
        # a boundary from the content, not a random one.
        msg.set_boundary(_boundary(msg))
    if text_cte in ("quoted-printable", "base64"):
        notes.append(f"the text is sent {text_cte}-encoded: {_why_encoded(draft.body, eight_bit)}")
    elif text_cte == "8bit":
        notes.append("the text has 8-bit characters: sent as they are, with BODY=8BITMIME")
    try:
        data = msg.as_bytes(policy=policy)
    except (ValueError, TypeError, UnicodeError) as exc:
        raise ComposeError(f"the message cannot be encoded: {exc}") from None
    return Built(data, notes)


def header_problem(value: str) -> str | None:
    """Why ``value`` cannot be a header's text: a control character or a line separator
    (the email package would take it for the end of the header)."""
    for i, ch in enumerate(value):
        if (ord(ch) < 32 and ch != "\t") or ch == "\x7f" or ch in "\x85\u2028\u2029":
            return f"a control character (U+{ord(ch):04X}) at column {i + 1}"
    return None


def _why_encoded(body: str, eight_bit: bool) -> str:
    longest = max((len(line.encode()) for line in body.splitlines()), default=0)
    if not body.isascii() and not eight_bit:
        return "it has 8-bit characters and the server did not advertise 8BITMIME"
    if longest > 78:
        return f"a line is {longest} octets long (over 78; SMTP allows at most {TEXT_LIMIT})"
    return "that is what the email package chose for its characters"


def fill_tokens(text: str, tokens: dict[str, str]) -> str:
    """swaks' tokens: %DATE% %MESSAGEID% %TO% %FROM% replaced by the message's values."""
    if "%" not in text:
        return text
    for token, value in tokens.items():
        text = text.replace(token, value)
    return text


def _boundary(msg: EmailMessage) -> str:
    digest = hashlib.sha256()
    for part in msg.walk():
        if not part.is_multipart():
            digest.update(part.as_bytes(policy=email.policy.SMTP))
    return f"=_smtpsh_{digest.hexdigest()[:32]}"


def add_attachment(msg: EmailMessage, item: Path | Attachment) -> None:
    attachment = item if isinstance(item, Attachment) else Attachment(item)
    path = attachment.path
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ComposeError(f"cannot attach {path}: {exc.strerror or exc}") from None
    ctype = attachment.content_type
    if ctype is None:
        ctype, encoding = mimetypes.guess_type(path.name)
        if ctype is None or encoding is not None:  # .gz and the like are opaque bytes
            ctype = "application/octet-stream"
    maintype, _, subtype = ctype.partition("/")
    name = attachment.name or path.name
    msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)


# --- reading a file ----------------------------------------------------------------------


def read_header_block(path: Path) -> bytes:
    """The header section of an .eml file (up to and including the empty line)."""
    out = bytearray()
    try:
        with path.open("rb") as handle:
            for line in handle:
                out += line
                if line in (b"\n", b"\r\n", b"\r"):
                    break
                if len(out) > HEADER_READ_LIMIT:
                    raise ComposeError(
                        f"{path}: no end of the header section in the first"
                        f" {HEADER_READ_LIMIT >> 20} MB: is this an RFC 5322 message?"
                    )
    except OSError as exc:
        raise ComposeError(f"cannot read {path}: {exc.strerror or exc}") from None
    return bytes(out)


def parse_headers(block: bytes) -> Message:
    return BytesHeaderParser(policy=email.policy.default).parsebytes(block)


def header_addresses(headers: Message, *names: str) -> list[str]:
    """Addresses in the named headers, in order, without repeats."""
    seen: list[str] = []
    for name in names:
        for value in headers.get_all(name, []):
            for _, addr in email.utils.getaddresses([str(value)]):
                if addr and addr not in seen:
                    seen.append(addr)
    return seen


def envelope_from_headers(headers: Message) -> tuple[str | None, list[str]]:
    """(sender, recipients) as a file's headers give them (Sender before From)."""
    senders = header_addresses(headers, "Sender") or header_addresses(headers, "From")
    return (senders[0] if senders else None), header_addresses(headers, "To", "Cc", "Bcc")


def reencode(path: Path) -> bytes:
    """The message in ``path`` with every 8-bit or long-lined part re-encoded (7-bit safe).

    Text parts become quoted-printable, others base64; the headers are kept. Needs the whole
    message in memory, so only for messages up to REENCODE_LIMIT.
    """
    size = path.stat().st_size
    if size > REENCODE_LIMIT:
        raise ComposeError(
            f"{path} is {size >> 20} MB: too big to re-encode in memory"
            f" (limit {REENCODE_LIMIT >> 20} MB); encode it before sending"
        )
    with path.open("rb") as handle:
        msg = BytesParser(policy=email.policy.compat32).parse(handle)
    for part in _leaves(msg):
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        long_line = any(len(line) > 76 for line in payload.splitlines())
        if payload.isascii() and not long_line and b"\0" not in payload:
            continue
        del part["Content-Transfer-Encoding"]
        part.set_payload(payload)
        if part.get_content_maintype() == "text" and b"\0" not in payload:
            encoders.encode_quopri(part)
        else:
            encoders.encode_base64(part)
    try:
        return msg.as_bytes(policy=email.policy.compat32.clone(linesep="\r\n"))
    except (ValueError, TypeError, UnicodeError) as exc:
        raise ComposeError(f"{path}: cannot re-encode: {exc}") from None


def _scan_pieces(chunks: Iterable[bytes]) -> tuple[MessageFacts, list[Checked | None]]:
    scanner = Scanner()
    checks = [scanner.feed_piece(piece) for piece in chunks]
    return scanner.finish(), checks


def _leaves(msg: Message) -> Iterator[Message]:
    for part in msg.walk():
        if not part.is_multipart():
            yield part


# --- the thing that is sent --------------------------------------------------------------


@dataclass
class MessageSource:
    """Message bytes to send: in memory (composed) or a file streamed from disk.

    The scan ahead (for SIZE= and the checks) keeps, for each piece of the message, the
    proof that it needs no change on the wire (or None); sending the same piece again then
    costs a CRC-32 instead of a second full pass (see DataEncoder.feed_checked).
    """

    description: str
    facts: MessageFacts
    data: bytes | None = None
    path: Path | None = None
    header_block: bytes = b""
    checks: list[Checked | None] = field(default_factory=list)

    @classmethod
    def from_bytes(cls, data: bytes, description: str = "the composed message") -> MessageSource:
        ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep)) >= 0]
        block = data[: min(ends)] if ends else data
        source = cls(description, MessageFacts(), data=data, header_block=block)
        source.facts, source.checks = _scan_pieces([data])
        return source

    @classmethod
    def from_file(cls, path: Path) -> MessageSource:
        block = read_header_block(path)
        try:
            facts, checks = _scan_pieces(read_pieces(path))
        except OSError as exc:
            raise ComposeError(f"cannot read {path}: {exc.strerror or exc}") from None
        return cls(str(path), facts, path=path, header_block=block, checks=checks)

    def chunks(self) -> Generator[bytes, None, None]:
        """The message in the pieces the scan saw."""
        try:
            yield from [self.data] if self.data is not None else read_pieces(self._path)
        except OSError as exc:
            raise ComposeError(f"cannot read {self.path}: {exc.strerror or exc}") from None

    def checked_chunks(self) -> Iterator[CheckedPiece]:
        """Each piece with the scan's proof for it (None: it is encoded as usual)."""
        for i, piece in enumerate(self.chunks()):
            yield piece, self.checks[i] if i < len(self.checks) else None

    @property
    def _path(self) -> Path:
        assert self.path is not None
        return self.path

    def head(self, max_lines: int) -> tuple[list[str], int]:
        """The first lines of the message (for the preview) and how many more there are."""
        buf = b""
        chunks = self.chunks()
        try:
            for chunk in chunks:
                buf += chunk
                if buf.count(b"\n") + buf.count(b"\r") > 2 * max_lines or len(buf) > HEAD_BYTES:
                    break
        finally:
            chunks.close()  # the file, if the message is one
        text = buf.decode("utf-8", "backslashreplace").replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        shown = lines[:max_lines]
        return shown, max(self.facts.lines - len(shown), 0)

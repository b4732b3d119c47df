"""/compose, /send and /raw; BDAT typed by hand.

/compose asks for the envelope, the headers, the body and attachments (or takes them as
flags), shows the exact envelope and message, asks to send, then runs MAIL, RCPT and DATA
(or BDAT) one visible step at a time. /send does the same for an existing .eml file,
streamed from disk. /raw is the only way to put bytes on the wire exactly as given.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import getpass
import re
import shlex
import time
from pathlib import Path
from typing import NoReturn

from smtpsh import exitcodes
from smtpsh.compose.ask import Asker, Cancelled, edit_text
from smtpsh.compose.envelope import DsnRequest, Envelope, parse_notify, parse_ret, plan_envelope
from smtpsh.compose.message import (
    ComposeError,
    Draft,
    MessageSource,
    build_message,
    envelope_from_headers,
    parse_addresses,
    parse_headers,
    parse_recipient_values,
    parse_recipients,
    parse_sender,
    reencode,
)
from smtpsh.compose.message_options import (
    TOKENS_HELP,
    add_message_options,
    attachments,
    body_text,
    chunk_size,
    extra_headers,
)
from smtpsh.compose.raw import ESCAPE_HELP, decode_escapes, show_bytes
from smtpsh.compose.scan import CHUNK
from smtpsh.compose.send import Transfer, ensure_ready, transmit
from smtpsh.compose.typed_bdat import ABORT, TypedChunk, parse_bdat
from smtpsh.net.base import ClientBase, ReplyTimeout
from smtpsh.net.client import ClientObserver
from smtpsh.protocol.connection import ReplyEvent
from smtpsh.protocol.errors import LocalProtocolError, SmtpshError
from smtpsh.shell.app import Interrupted, Shell
from smtpsh.shell.metacommands import HELP_NOTES, VERB_NOTES, Handler, meta, verb_hook
from smtpsh.shell.send_link import ShellLink
from smtpsh.shell.steps import StepReached

GROUP = "compose"
PREVIEW_LINES = 400  # the preview shows a message whole up to this many lines
RULE_WIDTH = 64
LAST_SENDER = "compose.sender"
LAST_RECIPIENTS = "compose.recipients"
DEFAULT_BODY = "This is a test message sent with smtpsh.\n"
RAW_FIRST_REPLY_WAIT = 1.0  # /raw TEXT: how long to wait for the server's first reply
RAW_QUIET = 0.2  # ... and for further replies after one came

# Paragraphs, one a list item: the printer wraps them to the terminal's width.
TYPED_BDAT_HELP = [
    "Typing BDAT by hand (CHUNKING, RFC 3030): `BDAT n` or `BDAT n LAST`, then type the n"
    " octets on the next lines; Enter adds CRLF (2 octets). The prompt counts (bdat 12/40›);"
    " at n, the command line and the octets leave in one write. A line going past n is cut"
    f" at n. `{ABORT}` alone drops the chunk. /compose --bdat makes the chunks for you."
    " Where the server did not advertise CHUNKING, BDAT is not sent (the server would read"
    " the octets as commands); /raw on sends it anyway. The lines pasted with it (or a"
    " script's next lines), up to n octets, are dropped, never run as commands.",
]
RAW_HELP = [
    "Raw bytes: /raw TEXT sends TEXT exactly (no CRLF added, no checks, no dot-stuffing).",
    f"  Escapes: {ESCAPE_HELP}.",
    "  Smuggling tests: MAIL and RCPT as usual, then `/raw DATA\\r\\n` (smtpsh stays out of"
    " DATA mode) and e.g. `/raw Subject: x\\r\\n\\r\\nhi\\n.\\nMAIL FROM:<a@b>\\r\\n.\\r\\n`.",
    "  /raw on sends typed commands unchecked (+CRLF); message lines stay normalised.",
]
HELP_NOTES.extend(TYPED_BDAT_HELP + RAW_HELP)
VERB_NOTES["BDAT"] = TYPED_BDAT_HELP


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise ComposeError(f"{self.prog}: {message} (see {self.prog} --help)")


def _transfer_options(parser: _Parser) -> None:
    parser.add_argument("--bdat", action="store_true", help="send with BDAT (CHUNKING)")
    parser.add_argument("--chunk", type=chunk_size, default=CHUNK, metavar="N",
                        help=f"BDAT chunk size in octets (default {CHUNK})")
    parser.add_argument("--pipeline", action="store_true",
                        help="MAIL and all RCPT in one write (PIPELINING)")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="ask nothing: defaults for what is not given, no confirmation")
    parser.add_argument("--notify", metavar="WHEN",
                        help="DSN NOTIFY: NEVER or SUCCESS,FAILURE,DELAY")
    parser.add_argument("--ret", metavar="FULL|HDRS", help="DSN RET: what a bounce returns")
    parser.add_argument("--envid", metavar="ID", help="DSN ENVID: an id echoed in reports")
    parser.add_argument("--orcpt", action="store_true", help="DSN ORCPT on every RCPT")
    parser.add_argument("-h", "--help", action="store_true", help="this help")


def compose_parser() -> _Parser:
    parser = _Parser(prog="/compose", add_help=False,
                     description="Write a message step by step and send it. " + TOKENS_HELP
                     + "; `smtpsh send` takes the same options.")
    add_message_options(parser)  # the same as `smtpsh send`: the same message
    parser.add_argument("--edit", action="store_true", help="write the body in $EDITOR")
    _transfer_options(parser)
    return parser


def send_parser() -> _Parser:
    parser = _Parser(prog="/send", add_help=False,
                     description="Send an RFC 5322 message file (streamed from disk).")
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE.eml")
    parser.add_argument("--from", dest="sender", metavar="ADDR",
                        help="envelope sender (default: Sender or From of the file)")
    parser.add_argument("--to", action="append", default=[], metavar="ADDR",
                        help="recipient (default: To, Cc and Bcc of the file)")
    parser.add_argument("--encode", action="store_true",
                        help="re-encode 8-bit or long-lined parts (quoted-printable/base64)")
    _transfer_options(parser)
    return parser


def _parse(parser: _Parser, args: str) -> argparse.Namespace:
    try:
        words = shlex.split(args)
    except ValueError as exc:
        raise ComposeError(f"{parser.prog}: {exc}") from None
    opts = parser.parse_args(words)
    if opts.chunk < 1:
        raise ComposeError(f"{parser.prog}: --chunk must be at least 1 octet")
    return opts


def _help(shell: Shell, parser: _Parser) -> None:
    for line in parser.format_help().rstrip().splitlines():
        shell.say(line)


# --- shared steps ------------------------------------------------------------------------


def default_address(helo: str) -> str:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name anywhere (a bare container)
        user = "smtpsh"
    return f"{user}@{helo}"


def _known_addresses(shell: Shell) -> list[str]:
    known = list(shell.session.addresses_seen)
    known += [a for a in shell.extra.get(LAST_RECIPIENTS, []) if a not in known]
    server = shell.session.server_name
    if server and "." in server:
        known.append(f"postmaster@{server}")
    return known


def _dsn_from(opts: argparse.Namespace) -> DsnRequest:
    return DsnRequest(
        notify=parse_notify(opts.notify or ""),
        ret=parse_ret(opts.ret or ""),
        envid=opts.envid or None,
        orcpt=opts.orcpt,
    )


def _asker(shell: Shell, opts: argparse.Namespace) -> Asker | None:
    """Who answers questions: the person at the terminal, or nobody (script, --yes)."""
    if not shell.settings.interactive or opts.yes:
        return None
    return Asker(pasted=shell.paste_ahead)  # the lines pasted ahead answer, as if typed


def _rule(title: str = "") -> str:
    text = f"── {title} " if title else ""
    return text + "─" * max(RULE_WIDTH - len(text), 4)


_ENCODED = re.compile(r"^[A-Za-z0-9+/]{60,}={0,2}$")  # a line of a base64 body


def fold_encoded(lines: list[str], keep: int = 2) -> list[tuple[str, str]]:
    """The preview's lines, with long runs of base64 (attachments) folded to their first
    lines and a count: the rest of the message is shown exactly."""
    out: list[tuple[str, str]] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) > keep + 1:
            out.extend((line, "") for line in run[:keep])
            out.append((f"  … {len(run) - keep} more lines of base64", "class:annotation"))
        else:
            out.extend((line, "") for line in run)
        run.clear()

    for line in lines:
        if _ENCODED.match(line):
            run.append(line)
            continue
        flush()
        out.append((line, ""))
    flush()
    return out


def _preview(shell: Shell, env: Envelope, source: MessageSource) -> None:
    facts = source.facts
    shell.say(_rule("envelope"), "class:annotation")
    shell.say(f"  {env.mail_line()}")
    for line in env.rcpt_lines():
        shell.say(f"  {line}")
    octets = f"{facts.octets:,}".replace(",", " ")
    shell.say(_rule(f"message: {facts.lines} lines, {octets} octets"), "class:annotation")
    lines, more = source.head(PREVIEW_LINES)
    for text, style in fold_encoded(lines):
        shell.say(text, style)
    if more:
        shell.say(f"  … {more} more lines not shown", "class:annotation")
    shell.say(_rule("end of message"), "class:annotation")


async def _confirm_and_send(
    shell: Shell,
    opts: argparse.Namespace,
    env: Envelope,
    source: MessageSource,
    asker: Asker | None,
) -> None:
    _preview(shell, env, source)
    if asker is not None and not await asker.yes_no("Send it?", True):
        shell.info("not sent")
        return
    transfer = Transfer(env, source, bdat=opts.bdat, pipeline=opts.pipeline,
                        chunk_size=opts.chunk)
    outcome = await transmit(ShellLink(shell, asker), transfer)
    if not outcome.complete:  # a recipient refused counts: a script must not read "sent"
        shell.exit_code = exitcodes.FAILED


def _check_smtputf8(shell: Shell, needed: bool) -> None:
    if needed and not shell.session.advertises("SMTPUTF8"):
        raise ComposeError(
            "an address is not ASCII and the server did not advertise SMTPUTF8 (RFC 6531)"
        )


# --- /compose ----------------------------------------------------------------------------


async def gather(shell: Shell, opts: argparse.Namespace, asker: Asker | None) -> Draft:
    """The draft from the flags, asking (if someone can answer) for what they left out."""
    helo = shell.client.helo_name  # the name this session's EHLO gave (ensure_ready sent one)
    known = _known_addresses(shell)
    # The sender given, else the configured one (mail_from) or the last one used; a
    # made-up user@host is no use as a default (it bounces nowhere): asked for instead.
    sender_text = opts.sender or shell.extra.get(LAST_SENDER) or ""
    if asker is not None and opts.sender is None:
        sender_text = await asker.text(
            "Envelope sender (MAIL FROM)", sender_text, words=["<>", *known],
            check=_a_sender, hint="where bounces go; <> is the null sender",
        )
    if not sender_text:
        raise ComposeError("no sender: give --from ADDRESS (or mail_from in config.toml)")
    sender = parse_sender(sender_text)
    to_flags = parse_recipient_values(opts.to)
    cc_flags = parse_recipient_values(opts.cc)
    recipients = to_flags + [a for a in cc_flags if a not in to_flags]
    if not recipients and asker is not None:
        answer = await asker.text(
            "Recipients (RCPT TO)", ", ".join(shell.extra.get(LAST_RECIPIENTS, [])),
            words=known, check=_some_recipients,
            hint="one or more addresses, separated by commas; Tab completes",
        )
        recipients = parse_recipients(answer)
    if not recipients:
        raise ComposeError("no recipient: give --to ADDRESS")
    draft = draft_from_options(opts, sender, recipients, helo)
    if asker is not None:
        await _ask_headers(shell, asker, opts, draft)
    draft.body = await _body(shell, opts, asker)
    if asker is not None and not opts.attach:
        draft.attachments = list(await asker.paths("Attachments (Enter for none)"))
    return draft


def draft_from_options(
    opts: argparse.Namespace, sender: str, recipients: list[str], helo: str
) -> Draft:
    """The draft the options alone make (the questions may change it after): one
    function, so that /compose and `smtpsh send` build the same message."""
    to_flags = parse_recipient_values(opts.to)
    draft = Draft(
        sender=sender,
        recipients=recipients,
        from_header=sender or default_address(helo),
        to=", ".join(to_flags or recipients),
        cc=", ".join(parse_recipient_values(opts.cc)),
        headers=extra_headers(opts),
        attachments=list(attachments(opts)),
    )
    if opts.subject is not None:
        draft.subject = opts.subject
    draft.body = body_text(opts) or ""
    return draft


def _a_sender(text: str) -> str:
    if not text.strip():
        raise ComposeError("type the sender's address (<> for the null sender)")
    return parse_sender(text)


def _some_recipients(text: str) -> list[str]:
    found = parse_recipients(text)
    if not found:
        raise ComposeError("at least one recipient")
    return found


async def _ask_headers(
    shell: Shell, asker: Asker, opts: argparse.Namespace, draft: Draft
) -> None:
    if opts.sender is None:
        draft.from_header = await asker.text("From", draft.from_header, check=_one_or_more)
    if not opts.to:
        draft.to = await asker.text("To", draft.to, check=parse_addresses)
    if not opts.cc:
        draft.cc = await asker.text("Cc", draft.cc, check=parse_addresses,
                                    hint="Enter for none")
    if opts.subject is None:
        draft.subject = await asker.text("Subject", draft.subject)
    outside = [a for a in (*parse_addresses(draft.to), *parse_addresses(draft.cc))
               if a[1] not in draft.recipients]
    if outside:
        names = ", ".join(a for _, a in outside)
        shell.info(f"{names}: only in the headers, not in the envelope: not sent to them")


def _one_or_more(text: str) -> object:
    if not parse_addresses(text):
        raise ComposeError("at least one address")
    return True


async def _body(shell: Shell, opts: argparse.Namespace, asker: Asker | None) -> str:
    given = body_text(opts)
    if given is not None:
        return given
    if opts.edit:
        if not shell.settings.interactive:
            raise ComposeError("--edit needs a terminal")
        return await edit_text("")
    if asker is None:
        return DEFAULT_BODY
    shell.say("Body: type the text; '.' alone on a line ends it, '~e' alone opens $EDITOR")
    return await asker.body()


async def _dsn(shell: Shell, opts: argparse.Namespace, asker: Asker | None) -> DsnRequest:
    dsn = _dsn_from(opts)
    if dsn.wanted or asker is None or not shell.session.advertises("DSN"):
        return dsn
    if not await asker.yes_no("Ask for delivery status notifications (DSN, RFC 3461)?", False):
        return dsn
    notify = await asker.text("NOTIFY (NEVER, or SUCCESS,FAILURE,DELAY)", "SUCCESS,FAILURE",
                              words=["NEVER", "SUCCESS,FAILURE,DELAY", "SUCCESS", "FAILURE"],
                              check=parse_notify)
    ret = await asker.text("RET (what a report returns: FULL or HDRS)", "HDRS",
                           words=["FULL", "HDRS"], check=parse_ret)
    envid = await asker.text("ENVID (an id echoed in reports; Enter for none)", "")
    orcpt = await asker.yes_no("ORCPT (the original recipient) on each RCPT?", True)
    return DsnRequest(parse_notify(notify), parse_ret(ret), envid or None, orcpt)


def _exit_status_counts(handler: Handler) -> Handler:
    """A /send or /compose that fails makes a piped run exit FAILED (smtpsh.exitcodes)."""

    @functools.wraps(handler)
    async def wrapped(shell: Shell, args: str) -> None:
        try:
            await handler(shell, args)
        except StepReached:
            raise  # --quit-after: the session ends as asked, not a failure
        except (Cancelled, Interrupted):
            # The user left the questions, or stopped the sending, with Ctrl-C: no failure
            # (what was under way is abandoned, as the shell says).
            raise
        except SmtpshError:
            shell.exit_code = exitcodes.FAILED
            raise

    return wrapped


@meta("/compose", "/compose [--bdat] [--pipeline] [--yes]",
      "write a message step by step and send it (--help: all flags)", GROUP)
@_exit_status_counts
async def _compose(shell: Shell, args: str) -> None:
    parser = compose_parser()
    opts = _parse(parser, args)
    if opts.help:
        _help(shell, parser)
        return
    await compose_message(shell, opts)


async def compose_message(shell: Shell, opts: argparse.Namespace) -> None:
    """/compose once its options are parsed; `smtpsh send` runs the same (no questions)."""
    await ensure_ready(ShellLink(shell))
    asker = _asker(shell, opts)
    draft = await gather(shell, opts, asker)
    dsn = await _dsn(shell, opts, asker)
    smtputf8 = draft.needs_smtputf8()
    _check_smtputf8(shell, smtputf8)
    domain = draft.sender.rpartition("@")[2] if "@" in draft.sender else shell.client.helo_name
    built = build_message(
        draft, eight_bit=shell.session.advertises("8BITMIME"), smtputf8=smtputf8, domain=domain
    )
    source = MessageSource.from_bytes(built.data)
    env = plan_envelope(draft.sender, draft.recipients, shell.session.extensions,
                        size=source.facts.octets, eight_bit=source.facts.eight_bit,
                        smtputf8=smtputf8, dsn=dsn)
    for note in built.notes:
        shell.info(note)
    shell.extra[LAST_SENDER] = draft.sender or "<>"
    shell.extra[LAST_RECIPIENTS] = draft.recipients
    await _confirm_and_send(shell, opts, env, source, asker)


# --- /send FILE --------------------------------------------------------------------------


@meta("/send", "/send FILE.eml [--from A] [--to B ...]",
      "send a message file as it is, streamed from disk (--help: all flags)", GROUP)
@_exit_status_counts
async def _send(shell: Shell, args: str) -> None:
    parser = send_parser()
    opts = _parse(parser, args)
    if opts.help:
        _help(shell, parser)
        return
    if opts.file is None:
        raise ComposeError("/send: which file? usage: /send FILE.eml [options] (/send --help)")
    path = Path(opts.file).expanduser()
    if not path.is_file():
        raise ComposeError(f"/send: {path}: no such file")
    await ensure_ready(ShellLink(shell))
    started = time.perf_counter()
    if opts.encode:
        source = MessageSource.from_bytes(reencode(path), f"{path} (re-encoded)")
    else:
        source = MessageSource.from_file(path)
    if source.facts.problem:
        hint = " (/send --encode re-encodes long lines)" if source.facts.long_line else ""
        raise ComposeError(f"{path}: {source.facts.problem}: not sent{hint}")
    read_ahead = time.perf_counter() - started
    if read_ahead > 0.1:
        shell.info(f"read {path} ahead in {read_ahead:.2f} s: exact SIZE=, no line too long")
    headers = parse_headers(source.header_block)
    header_sender, header_recipients = envelope_from_headers(headers)
    sender = parse_sender(opts.sender) if opts.sender is not None else (header_sender or "")
    if opts.sender is None and header_sender is None:
        raise ComposeError(f"{path} has no From: header: give --from ADDRESS")
    recipients = parse_recipient_values(opts.to) if opts.to else header_recipients
    if not recipients:
        raise ComposeError(f"{path} names no recipient (To, Cc, Bcc): give --to ADDRESS")
    if headers.get("Bcc") is not None:
        shell.warn("the file has a Bcc: header; it is sent as it is, so every recipient sees it")
    smtputf8 = not source.header_block.isascii() or not all(
        a.isascii() for a in (sender, *recipients)
    )
    _check_smtputf8(shell, smtputf8)
    try:
        env = plan_envelope(sender, recipients, shell.session.extensions,
                            size=source.facts.octets, eight_bit=source.facts.eight_bit,
                            smtputf8=smtputf8, dsn=_dsn_from(opts))
    except ComposeError as exc:
        raise ComposeError(f"{exc} (/send --encode does that)") from None
    await _confirm_and_send(shell, opts, env, source, _asker(shell, opts))


# --- /raw --------------------------------------------------------------------------------


class _ReplyWatch(ClientObserver):
    def __init__(self) -> None:
        self.seen = asyncio.Event()

    def on_reply(self, client: ClientBase, event: ReplyEvent) -> None:
        self.seen.set()


@meta("/raw", "/raw on|off | /raw TEXT",
      "RAW: send bytes exactly (\\r \\n \\xHH escapes), e.g. smuggling tests", GROUP)
async def _raw(shell: Shell, args: str) -> None:
    word = args.strip().lower()
    if word in ("on", "off"):
        shell.raw_mode = word == "on"
        if shell.raw_mode:
            shell.warn(
                "RAW MODE ON: typed commands go out as typed (+CRLF) with no checks and no"
                " predictions. Message lines in DATA mode are still normalised: only"
                " /raw TEXT sends bytes exactly. /raw off leaves raw mode."
            )
        else:
            shell.info("raw mode off: commands are checked again")
        return
    if not word:
        shell.say(f"raw mode {'on' if shell.raw_mode else 'off'}")
        for line in RAW_HELP:
            shell.say(line)
        return
    if not shell.client.connected:
        raise ComposeError("not connected: /reconnect opens a new session")
    data = decode_escapes(args)
    shell.warn(
        f"RAW: {len(data)} bytes exactly as given, no CRLF added, no checks, no"
        f" dot-stuffing: '{show_bytes(data)}'"
    )
    if not data.endswith(b"\n"):
        shell.info("no line break at the end: the server is still waiting for the rest")
    watch = _ReplyWatch()
    shell.client.observers.append(watch)
    try:
        await shell.client.send_raw(data, display=show_bytes(data))
        # Replies are not paired with raw bytes (smtpsh cannot know what they asked):
        # wait a moment so that they show before the next line.
        timeout = RAW_FIRST_REPLY_WAIT
        while True:
            try:
                await asyncio.wait_for(watch.seen.wait(), timeout)
            except TimeoutError:
                break
            watch.seen.clear()
            timeout = RAW_QUIET
    finally:
        shell.client.observers.remove(watch)


# --- BDAT typed by hand ------------------------------------------------------------------


@verb_hook("BDAT")
async def _typed_bdat(shell: Shell, line: str) -> None:
    parsed = parse_bdat(line)
    if parsed is None or not shell.client.connected:
        await _send_unparsed_bdat(shell, line)  # malformed: the server judges it
        return
    size, last = parsed
    shell.check_step(line)  # --quit-after/--drop-after: a typed BDAT goes past RCPT too
    chunk = TypedChunk(size, last)
    if not shell.raw_mode and not shell.session.advertises("CHUNKING"):
        # Only a server that offered CHUNKING reads the octets after a BDAT line as data
        # (RFC 3030 §2); any other refuses the line and reads the octets as commands of
        # their own: a chunk holding "RCPT TO:<...>" would be smuggled in. Not sent unless
        # forced, as /raw forces every unchecked send.
        script = not shell.settings.interactive
        skipped = script and not chunk.complete
        # At the terminal, the lines pasted with the BDAT are its chunk too (a chunk line
        # "RCPT TO:<x>" or "QUIT" ran as a command); what is typed afterwards is not. Asked
        # before anything is shown: a line typed once the refusal is seen is a command.
        pasted = not script and not chunk.complete and await _pasted_ahead(shell)
        shell.error(
            f"BDAT not sent: the server did not advertise CHUNKING (RFC 3030), so it would"
            f" read the chunk's {size} octets as commands; /raw on sends it anyway"
            + (f" (the script's {size} octets after it are skipped)" if skipped else "")
        )
        if skipped:  # a script's chunk must not run as commands of the shell's either
            _collect_typed_chunk(shell, chunk, send=False)
        elif pasted:
            _drop_pasted_chunk(shell, chunk)
        return
    shell.warn_before_sending(line)
    if chunk.complete:
        await _send_typed_chunk(shell, chunk)
        return
    shell.info(
        f"BDAT: type the {size} octets of the chunk; Enter adds CRLF (2 octets); it is sent"
        f" when {size} are in ({ABORT} drops it)"
    )
    _collect_typed_chunk(shell, chunk, send=True)


# The count of a BDAT line smtpsh cannot take as it is ('BDAT 24\x1b LAST'), if it has one.
_BDAT_COUNT = re.compile(r"\s*BDAT\s+(\d{1,12})", re.IGNORECASE)


async def _send_unparsed_bdat(shell: Shell, line: str) -> None:
    """A BDAT line smtpsh cannot read (or with no connection) goes as typed, for the
    server to judge. Refused, here (a control character in it) or by the server, it
    opened no chunk, yet the lines written with it are its chunk: dropped as a BDAT's not
    sent, never run as commands (as a refused DATA's message lines); up to the count it
    shows, or, none, every line pasted with it."""
    count = _BDAT_COUNT.match(line)
    chunk = TypedChunk(int(count.group(1)) if count else _UNKNOWN_SIZE, last=False)
    script = not shell.settings.interactive
    try:
        reply = await shell.send_command(line)
    except LocalProtocolError as exc:
        # Asked before the refusal is shown, as for a BDAT not sent.
        pasted = not script and not chunk.complete and await _pasted_ahead(shell)
        shell.error(str(exc))
        _skip_written_chunk(shell, chunk, "BDAT was not sent", counted=bool(count),
                            pasted=pasted)
        return
    if reply is None or reply.klass in (2, 3) or chunk.complete:
        return
    pasted = not script and await _pasted_ahead(shell)
    _skip_written_chunk(shell, chunk, "BDAT was refused", counted=bool(count), pasted=pasted)


def _skip_written_chunk(
    shell: Shell, chunk: TypedChunk, what: str, *, counted: bool, pasted: bool
) -> None:
    """The chunk a script holds after a BDAT that opened none is skipped (its count known),
    one pasted with it at the terminal dropped."""
    if chunk.complete:
        return
    if not shell.settings.interactive:
        if counted:
            shell.warn(f"{what}: the script's {chunk.size} octets after it are skipped")
            _collect_typed_chunk(shell, chunk, send=False)
    elif pasted:
        _drop_pasted_chunk(shell, chunk, what)


def _collect_typed_chunk(shell: Shell, chunk: TypedChunk, *, send: bool) -> None:
    """Take the lines that follow as the chunk's octets; at the count, send it (or, not
    ``send``, drop it: a refused BDAT's octets in a script)."""

    async def collect(text: str) -> bool:
        if text.strip() == ABORT:
            stop()
            shell.info("BDAT dropped: nothing was sent")
            return True
        cut = chunk.add_line(text)
        if cut and send:
            octets = "octet of that line was" if cut == 1 else f"{cut} octets of that line were"
            shell.warn(f"the chunk was full: the last {octets} left out")
        if chunk.complete:
            stop()
            if send:
                await _send_typed_chunk(shell, chunk)
        return True

    def stop() -> None:
        shell.line_hooks.remove(collect)
        shell.collecting = None

    shell.line_hooks.insert(0, collect)  # before any other hook: these lines are octets
    shell.collecting = chunk.prompt


# The size of a chunk whose BDAT line shows none: more than any paste holds.
_UNKNOWN_SIZE = 10**13

# How long a paste may take to arrive whole after the line the shell is handling: a
# terminal writes it at once, but a large one reaches the pty in pieces. No one types a
# key this soon after Enter.
PASTE_SETTLE = 0.05


async def _pasted_ahead(shell: Shell) -> bool:
    """Whether input already waits at the terminal: lines pasted (or typed ahead) with
    the one being handled, not typed after its outcome was shown."""
    waiting = shell.input_waiting
    if waiting is None:
        return False
    if waiting():
        return True
    await asyncio.sleep(PASTE_SETTLE)
    return waiting()


def _drop_pasted_chunk(shell: Shell, chunk: TypedChunk, what: str = "BDAT was not sent") -> None:
    """A BDAT typed at the terminal opened no chunk (not sent, or refused: ``what``), and
    lines were pasted with it: drop those lines, up to the octets it announced, as a
    script's are dropped. Only while they were pasted: a line typed once the paste has
    run out is a command again."""
    size = chunk.size
    dropped = chunk  # nothing of it was collected: the BDAT was refused at once

    def said(count: int) -> None:
        pasted = "octet pasted after it was" if count == 1 else "octets pasted after it were"
        if size == _UNKNOWN_SIZE:
            why = " (no chunk size could be read in it: all that was pasted with it)"
        else:
            why = "" if count >= size else f" (it announced {size})"
        shell.warn(f"{what}: the {count} {pasted} dropped, not run as commands{why}")

    async def drop(text: str) -> bool:
        if text.strip() == ABORT:  # as while a chunk is collected: what follows is commands
            stop()
            said(len(dropped.data))
            return True
        dropped.add_line(text)
        if dropped.complete:
            stop()
            said(size)
        elif not await _pasted_ahead(shell):
            stop()  # the paste ended short of the count: what is typed next is a command
            said(len(dropped.data))
        return True

    def stop() -> None:
        shell.line_hooks.remove(drop)
        shell.collecting = None

    shell.line_hooks.insert(0, drop)  # before any other hook: these lines are octets
    shell.collecting = lambda: f"drop {len(dropped.data)}/{size}› "


async def _send_typed_chunk(shell: Shell, chunk: TypedChunk) -> None:
    client = shell.client
    if chunk.ends_in_bare_cr:
        shell.warn(chunk.bare_cr_warning())
    commands = await shell.guard(client.send_bdat(bytes(chunk.data), last=chunk.last))
    # In LMTP, BDAT LAST earns one reply per accepted recipient: each is waited for.
    try:
        events = await shell.guard(client.replies_to(commands))
    except ReplyTimeout:
        if chunk.ends_in_bare_cr:  # the timeout alone leaves the user guessing why
            shell.info(chunk.bare_cr_hint())
        raise
    if chunk.last and all(e.reply.klass == 2 for e in events) and shell.session.queue_id:
        shell.info(f"message accepted, queue id {shell.session.queue_id}")


"""Fuzz targets: each takes plain inputs and asserts the properties that must hold for them.

The CI tests (tests/fuzz/test_*.py) feed them with hypothesis on small budgets; the long
run (bench/fuzz_long.py) feeds the same functions with >= 100,000 inputs each, through
hypothesis or atheris. A target raises AssertionError (or the unexpected exception) when a
property breaks; anything else it returns is a pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from smtpsh.protocol.address import ADDRESS_LIMITS, address_warnings, parse_path_command
from smtpsh.protocol.connection import NEED_DATA, ClientConnection, ReplyEvent, verb_of
from smtpsh.protocol.encoding import (
    DataEncoder,
    command_warnings,
    encode_command,
    forbidden_in_command,
    text_line_warnings,
)
from smtpsh.protocol.errors import LocalProtocolError, RemoteProtocolError
from smtpsh.protocol.replies import MAX_LINE, MAX_REPLY, Reply, ReplyParser
from smtpsh.protocol.session import State

# The parser may hold at most one unfinished reply plus one unfinished line.
MAX_HELD = MAX_REPLY + MAX_LINE
_BARE = re.compile(rb"(?<!\r)\n|\r(?!\n)")
# What a terminal would act on (TAB aside): never in a line we show.
_TERMINAL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# A lenient server ends DATA at <CR or LF> "." <CR or LF>: none may occur before the end.
_LENIENT_END = re.compile(rb"(?:^|[\r\n])\.[\r\n]")


# --- the reply parser ------------------------------------------------------------------


def _summary(reply: Reply) -> tuple[int, tuple[str, ...], bytes, tuple[str, ...]]:
    return reply.code, reply.lines, reply.raw, reply.problems


def _parse(chunks: Sequence[bytes]) -> tuple[list[Reply], bool, ReplyParser]:
    """Replies from feeding ``chunks`` in order; True if the parser gave up."""
    parser = ReplyParser()
    replies: list[Reply] = []
    failed = False
    for chunk in chunks:
        try:
            parser.feed(chunk)
        except RemoteProtocolError:
            failed = True
        while (reply := parser.next_reply()) is not None:
            replies.append(reply)
        if failed:
            break
        assert len(parser.buffered) <= MAX_HELD, f"parser holds {len(parser.buffered)} bytes"
    return replies, failed, parser


def check_reply_stream(chunks: Sequence[bytes]) -> None:
    """Any bytes in any chunking: only RemoteProtocolError, bounded memory, nothing lost or
    invented, the same replies whatever the chunking, and well-formed Reply objects."""
    replies, failed, parser = _parse(chunks)
    whole, whole_failed, _ = _parse([b"".join(chunks)])
    assert failed == whole_failed, "chunking changed whether the parser gave up"
    assert [_summary(r) for r in replies] == [_summary(r) for r in whole], "chunking changed it"
    for reply in replies:
        assert reply.code == 0 or 200 <= reply.code <= 559
        assert reply.lines and reply.raw.endswith(b"\n")
        assert not any(_TERMINAL.search(line) for line in reply.lines), "a control went through"
        assert len(reply.wire_lines()) == len(reply.lines)
        if reply.code == 0:
            assert len(reply.lines) == 1
            assert any("not an SMTP reply" in p for p in reply.problems)
    if not failed:
        received = b"".join(r.raw for r in replies) + parser.buffered
        assert received == b"".join(chunks), "bytes lost or invented"


def check_reply_round_trip(replies: Sequence[tuple[int, Sequence[str]]], step: int) -> None:
    """Well-formed replies come back exactly, with no problem noted, in any chunking."""
    wire = b""
    expected = []
    for code, lines in replies:
        lines = list(lines) or [""]
        text = [f"{code}{'-' if i < len(lines) - 1 else ' '}{t}" for i, t in enumerate(lines)]
        raw = "".join(t + "\r\n" for t in text).encode("utf-8")
        wire += raw
        expected.append((code, tuple(lines), raw))
    chunks = [wire[i : i + step] for i in range(0, len(wire), step)]
    parsed, failed, parser = _parse(chunks)
    assert not failed and parser.buffered == b""
    assert [(r.code, r.lines, r.raw) for r in parsed] == expected
    for reply in parsed:
        assert reply.problems == (), reply.problems
        # wire_lines() is for display: a bare code stands for "354 " (trailing space dropped).
        sent = reply.raw.decode("utf-8").split("\r\n")[:-1]
        assert [x.rstrip(" ") for x in reply.wire_lines()] == [x.rstrip(" ") for x in sent]


# --- the DATA encoder ------------------------------------------------------------------


def _normalised(body: bytes) -> bytes:
    text = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    return text + b"\r\n" if text and not text.endswith(b"\r\n") else text


def _unstuff(wire: bytes) -> bytes:
    """What a conforming server makes of the DATA bytes (RFC 5321 §4.5.2)."""
    body = wire[: -len(b".\r\n")]
    return b"\r\n".join(x[1:] if x.startswith(b".") else x for x in body.split(b"\r\n"))


def _encode(encoder: DataEncoder, body: bytes, step: int) -> bytes:
    return (
        b"".join(encoder.feed(body[i : i + step]) for i in range(0, len(body), step))
        + encoder.finish()
    )


def check_data_encoding(body: bytes, step: int) -> None:
    """DATA: refused only for NUL; else no bare CR/LF, no early end-of-data (even for a
    lenient server), the body back exactly (line breaks as CRLF), the same bytes in any
    chunking, and honest counters."""
    step = max(1, step)
    encoder = DataEncoder(max_line=None)
    try:
        wire = _encode(encoder, body, step)
    except LocalProtocolError:
        assert b"\0" in body
        return
    assert b"\0" not in body
    assert not _BARE.search(wire), "bare CR or LF on the wire"
    assert wire.endswith(b".\r\n")
    assert not _LENIENT_END.search(wire[: -len(b".\r\n")]), "end-of-data before the end"
    assert (b"\r\n" + wire).count(b"\r\n.\r\n") == 1
    assert _unstuff(wire) == _normalised(body)
    assert wire == _encode(DataEncoder(max_line=None), body, len(body) or 1), "chunking"
    assert encoder.octets == len(wire) - len(b".\r\n")
    assert encoder.saw_8bit == (not body.isascii())


def check_bdat_encoding(body: bytes, step: int) -> None:
    """BDAT: no dot-stuffing and no end marker: exactly the body with CRLF line breaks."""
    encoder = DataEncoder(stuff=False, max_line=None)
    try:
        wire = _encode(encoder, body, max(1, step))
    except LocalProtocolError:
        assert b"\0" in body
        return
    assert wire == _normalised(body)


def check_line_limit(good: bytes, bad: bytes, more: bytes) -> None:
    """Over 998 octets a line is refused (never sent cut), and a refused chunk leaves the
    encoder as it was: good + more encode as if the bad chunk had never been offered."""
    good, bad, more = (x.replace(b"\0", b"") for x in (good, bad, more))
    encoder = DataEncoder()
    try:
        first = encoder.feed(good)
    except LocalProtocolError:
        return  # good already had a long line: nothing more to learn
    try:
        wire = first + encoder.feed(bad)
    except LocalProtocolError:
        try:
            rest = encoder.feed(more) + encoder.finish()
        except LocalProtocolError:
            return
        assert first + rest == _encode(DataEncoder(), good + more, len(good + more) or 1)
        return
    try:
        wire += encoder.feed(more) + encoder.finish()
    except LocalProtocolError:
        return
    # RFC 5321 §4.5.3.1.6 counts a line without the dot that stuffing added (§4.5.2).
    assert all(
        len(line) - line.startswith(b".") <= 998 for line in wire.split(b"\r\n")
    ), "a long line went out"


# --- command lines ---------------------------------------------------------------------


def check_command_line(line: str) -> None:
    """A typed command: refused (one clear error) iff it has a control character or cannot
    be encoded; else exactly one CRLF, at the end. The warnings never fail."""
    warnings = command_warnings(line)
    assert all(isinstance(w, str) and "\n" not in w for w in warnings)
    text_line_warnings(line)
    verb_of(line)
    try:
        wire = encode_command(line)
    except LocalProtocolError as exc:
        assert forbidden_in_command(line) or "cannot be sent" in str(exc), str(exc)
        return
    assert not forbidden_in_command(line)
    assert wire.endswith(b"\r\n") and wire.count(b"\r") == 1 and wire.count(b"\n") == 1


def check_path_command(line: str) -> None:
    """MAIL/RCPT parsing never fails; the parts it finds are parts of the line."""
    address_warnings(line)
    command = parse_path_command(line)
    if command is None:
        return
    assert command.verb in ("MAIL", "RCPT")
    assert command.mailbox in line and command.domain in command.mailbox
    assert command.local_part in command.mailbox
    for keyword, value in command.parameters:
        assert keyword == keyword.upper() and keyword.upper() in line.upper()
        assert value is None or value in line


def check_valid_path(verb: str, local: str, domain: str, params: Sequence[str]) -> None:
    """A well-formed MAIL/RCPT line is parsed back exactly, with no syntax problem, and
    warned about for length exactly when RFC 5321's limits are exceeded."""
    word = {"MAIL": "FROM", "RCPT": "TO"}[verb]
    line = f"{verb} {word}:<{local}@{domain}>" + "".join(f" {p}" for p in params)
    command = parse_path_command(line)
    assert command is not None
    assert (command.local_part, command.domain) == (local, domain)
    assert [k if v is None else f"{k}={v}" for k, v in command.parameters] == [
        p.split("=", 1)[0].upper() + (p[p.index("=") :] if "=" in p else "") for p in params
    ]
    duplicates = len({p.split("=", 1)[0].upper() for p in params}) < len(params)
    assert bool(command.problems) == duplicates, command.problems
    sizes = {"local-part": len(local), "domain": len(domain), "path": len(local + domain) + 3}
    expected = [limit.part for limit in ADDRESS_LIMITS if sizes[limit.part] > limit.octets]
    warned = [w.split()[1] for w in address_warnings(line) if "octets; RFC 5321" in w]
    assert warned == expected, (warned, expected)


# --- the connection state machine ------------------------------------------------------


def check_connection(steps: Sequence[tuple[str, str | bytes]]) -> None:
    """Commands and server bytes in any order: only our own protocol errors, replies owed
    never negative, and the session always in a known state."""
    conn = ClientConnection()
    for kind, value in steps:
        try:
            if kind == "send" and isinstance(value, str):
                if conn.in_data:
                    conn.send_data(value.encode("utf-8", "surrogatepass") + b"\n")
                else:
                    conn.send_command(value)
            elif kind == "end" and conn.in_data:
                conn.end_data()
            elif kind == "recv" and isinstance(value, bytes):
                conn.receive_data(value)
            elif kind == "eof":
                conn.receive_eof()
        except (LocalProtocolError, RemoteProtocolError):
            return
        while (event := conn.next_event()) is not NEED_DATA:
            assert isinstance(event, ReplyEvent)
        assert conn.awaiting >= 0
        assert isinstance(conn.session.state, State)
        if conn.session.state is State.CLOSED:
            assert not conn.in_data


# --- the transcript reader -------------------------------------------------------------


def check_transcript(text: str) -> None:
    """Any text: a transcript whose events point at lines of the file, or one line of
    TranscriptError naming the line (only whole-file problems have no line)."""
    from smtpsh.transcript.model import TranscriptError
    from smtpsh.transcript.reader import parse

    lines = text.split("\n")
    count = len(lines) - (lines[-1] == "")
    try:
        transcript = parse(text, "fuzz.smtpt")
    except TranscriptError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("fuzz.smtpt"), message
        if exc.line is None:
            assert "nothing to replay" in message, message
        else:
            assert 1 <= exc.line <= count and f"line {exc.line}:" in message, (exc.line, count)
        return
    assert transcript.events
    for event in transcript.events:
        assert 1 <= event.line <= count, (event, count)


def check_transcript_file(data: bytes, directory: str) -> None:
    """Any file on disk, binary included: the same, through read()."""
    import os
    import tempfile

    from smtpsh.transcript.model import TranscriptError
    from smtpsh.transcript.reader import read

    fd, path = tempfile.mkstemp(dir=directory, suffix=".smtpt")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            read(path)
        except TranscriptError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(path)
            return
        assert b"\0" not in data
    finally:
        os.unlink(path)


# --- certificates (the server chooses every byte) ---------------------------------------

# OpenSSL verify codes whose explanation uses facts from the certificate.
_VERIFY_CODES = (2, 9, 10, 18, 19, 20, 21, 62, 4242)


def check_certificate(der: bytes) -> None:
    """Any bytes as a server's certificate: read, or one CertificateError line; then every
    summary (STARTTLS lines, /cert, problems, verification failures) is text, never an
    exception, and cryptography prints no warning of its own."""
    import datetime as dt
    import hashlib
    import ssl
    import warnings

    from smtpsh.net import certinfo

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cert = certinfo.parse_certificate(der)
        except certinfo.CertificateError as exc:
            assert str(exc) and "\n" not in str(exc), repr(str(exc))
            chain, unreadable = certinfo.read_chain([der])
            assert chain == () and unreadable[0].startswith("[0] "), unreadable
            info = certinfo.TLSInfo("mx.example.test", "TLSv1.3", "X", 128, chain, False, False,
                                    unreadable=unreadable)  # fmt: skip
            assert info.problems() == ["its certificate could not be read"]
            assert any("could not be read" in text for text, _ in certinfo.summary_lines(info))
            assert any(line.startswith("[0] ") for line in certinfo.chain_lines(info))
            return
    assert not caught, [str(w.message) for w in caught]
    assert cert.der == der
    assert cert.sha256.replace(":", "").lower() == hashlib.sha256(der).hexdigest()
    assert cert.not_before.tzinfo is not None and cert.not_after.tzinfo is not None
    for text in (*cert.dns_names, *cert.ip_addresses, *cert.other_names, *cert.unread):
        assert isinstance(text, str)
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    for checked in (False, True):
        for name in ("mx.example.test", "127.0.0.1", "::1"):
            info = certinfo.TLSInfo(name, "TLSv1.3", "TLS_AES_128_GCM_SHA256", 128,
                                    (cert, cert), checked, checked)  # fmt: skip
            for text, level in certinfo.summary_lines(info, now):
                assert isinstance(text, str) and level in ("info", "warning", "error")
            assert all(isinstance(line, str) for line in certinfo.chain_lines(info, now))
            assert all(isinstance(p, str) for p in info.problems(now))
            assert isinstance(cert.matches(name), bool)
    for code in _VERIFY_CODES:
        error = ssl.SSLCertVerificationError(1, "certificate verify failed")
        error.verify_code, error.verify_message = code, "certificate verify failed"
        assert certinfo.describe_verify_error(error, "mx.example.test", cert)
    assert certinfo.parse_chain([der, der[:-1]])[0] == cert
    chain, unreadable = certinfo.read_chain([der, der[:-1], der])
    assert chain == (cert,) and unreadable[0].startswith("[1] "), unreadable

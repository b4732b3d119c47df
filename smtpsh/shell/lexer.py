"""Pygments lexers for SMTP: dialogues, single typed command lines, smtpsh transcripts.

* ``SmtpLexer`` ("smtp"): a dialogue as raw lines, RFC-style ``C:``/``S:`` lines, or swaks
  output (`` -> `` sent, ``<-  `` received, ``~>``/``<~`` over TLS, ``===`` info, ``***``
  error, ``<**`` unexpected).
* ``SmtpCommandLexer`` ("smtp-command"): one typed line, for as-you-type colouring in the
  shell, including ``/meta`` commands.
* ``SmtpTranscriptLexer`` ("smtp-transcript"): smtpsh transcripts, lines ``[+ms ]C: ...``,
  ``[+ms ]S: ...`` or ``# ...``, where expected replies may hold ``~/regex/``.

All three follow the dialogue the way a reader would: after a 354 reply client lines are
message content until the lone ".", after a 334 they are authentication data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from pygments.lexer import Lexer
from pygments.token import (
    Comment,
    Error,
    Generic,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

from smtpsh.protocol.commands import COMMANDS, EXTENSIONS

__all__ = [
    "REPLY_CODE_TOKENS",
    "SmtpCommandLexer",
    "SmtpLexer",
    "SmtpTranscriptLexer",
]

TokenType = Any  # pygments ships no type hints
_Tok = tuple[int, TokenType, str]

# Reply codes by first digit.  These four types were picked because most bundled pygments
# styles (default, friendly, monokai, solarized, native, github-dark, vim, gruvbox, nord,
# material, ...) give them four clearly different colours; Generic.Emph/Strong often get
# none at all.  1xx and 6xx-9xx are not SMTP and show as Error.
REPLY_CODE_TOKENS: Mapping[str, TokenType] = MappingProxyType({
    "2": Generic.Inserted,    # success: green in most styles
    "3": Generic.Subheading,  # "go on": intermediate
    # Transient failure. Not Generic.Prompt: Pygments 2.21's monokai draws it in the colour
    # of Generic.Error (5xx); Keyword.Constant is distinct in the common styles of 2.20-2.21.
    "4": Keyword.Constant,
    "5": Generic.Error,       # permanent failure: red
})
_PREFIX = Comment.Special        # "C:", "S:", swaks arrows
_TIME = Comment.Preproc          # "+120" in transcripts
_ENHANCED = Number
_ADDRESS = Name.Variable
_PARAM_KEY = Name.Attribute
_EXTENSION_KEYWORD = Name.Attribute  # "PIPELINING" in an EHLO reply, like a parameter
_META = Name.Builtin               # "/auth" in the shell

# ------------------------------------------------------------------------ command lines

_LEAD_WS = re.compile(r"\s+")
_FIRST_WORD = re.compile(r"\S+")
_PATH_KEYWORD: Mapping[str, re.Pattern[str]] = MappingProxyType({
    "MAIL": re.compile(r"(FROM)(:)", re.IGNORECASE),
    "RCPT": re.compile(r"(TO)(:)", re.IGNORECASE),
})
_ARG = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<path><[^>]*>?)"                                   # <addr>, <>, or half-typed <ad
    r"|(?P<key>[A-Za-z0-9][A-Za-z0-9-]*)(?P<eq>=)(?P<val>\S*)"  # ESMTP KEY=VALUE
    r"|(?P<word>\S+)"
)
# Verbs whose arguments are KEY=VALUE parameters (bare words too, for MAIL and RCPT).
_PARAM_VERBS = frozenset({"MAIL", "RCPT", "XCLIENT", "XFORWARD"})
_BARE_PARAM_VERBS = frozenset({"MAIL", "RCPT"})
# (token of the first argument, token of later ones) for other verbs.
_ARG_TOKENS: Mapping[str, tuple[TokenType, TokenType]] = MappingProxyType({
    "HELO": (String, Text),
    "EHLO": (String, Text),
    "AUTH": (Name.Constant, String),      # mechanism, then the initial response
    "BDAT": (Number.Integer, Keyword),    # size, then LAST
    "VRFY": (String, String),
    "EXPN": (String, String),
    "ETRN": (String, Text),
    "ATRN": (String, String),
    "HELP": (Keyword, Text),
})


def _command_tokens(line: str, pos: int, meta: bool) -> Iterator[_Tok]:
    """Tokens of one command line (no line ending) starting at offset *pos*."""
    i = 0
    m = _LEAD_WS.match(line)
    if m:
        yield pos, Whitespace, m.group()
        i = m.end()
    m = _FIRST_WORD.match(line, i)
    if m is None:
        return
    word = m.group()
    verb = word.upper()
    if meta and word.startswith("/"):
        yield pos + i, _META, word
        verb = ""
    elif verb in COMMANDS:
        yield pos + i, Keyword, word
    else:
        # Possibly "MAIL" glued to something; an unknown word is plain text.
        yield pos + i, Text, word
        verb = ""
    i = m.end()

    path_kw = _PATH_KEYWORD.get(verb)
    if path_kw is not None:
        ws = _LEAD_WS.match(line, i)
        if ws:
            yield pos + i, Whitespace, ws.group()
            i = ws.end()
        kw = path_kw.match(line, i)
        if kw:
            yield pos + i, Keyword, kw.group(1)
            yield pos + kw.start(2), Punctuation, kw.group(2)
            i = kw.end()

    first_tok, later_tok = _ARG_TOKENS.get(verb, (Text, Text))
    seen_arg = False
    for a in _ARG.finditer(line, i):
        start = pos + a.start()
        if a.group("ws"):
            yield start, Whitespace, a.group()
            continue
        if a.group("path") is not None:
            yield start, _ADDRESS, a.group()
        elif a.group("key") is not None and verb in _PARAM_VERBS:
            yield start, _PARAM_KEY, a.group("key")
            yield pos + a.start("eq"), Operator, "="
            if a.group("val"):
                yield pos + a.start("val"), String, a.group("val")
        elif verb in _BARE_PARAM_VERBS:
            yield start, _PARAM_KEY, a.group()
        else:
            yield start, later_tok if seen_arg else first_tok, a.group()
        seen_arg = True


# -------------------------------------------------------------------------- reply lines

_REPLY_START = re.compile(r"(\d{3})([ -]?)")
_LOOKS_LIKE_REPLY = re.compile(r"\d{3}(?:[ -]|$)")
_ENHANCED_CODE = re.compile(r"([ \t]*)([245]\.\d{1,3}\.\d{1,3})(?=\s|$)")
_KEYWORD_AT_START = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_REPLY_TEXT = re.compile(
    r"(?P<addr><[^<>\s]*@[^<>\s]*>|<>)"
    r"|(?P<plain>[^<]+|<)"
)
_REPLY_TEXT_WITH_REGEX = re.compile(
    r"(?P<regex>~/(?:\\.|[^\\/])*/)"
    r"|(?P<addr><[^<>\s]*@[^<>\s]*>|<>)"
    r"|(?P<plain>[^<~]+|[<~])"
)


_TEXT_PIECE_TOKENS: Mapping[str, TokenType] = MappingProxyType({
    "regex": String.Regex,
    "addr": _ADDRESS,
    "plain": Text,
})


def _text_tokens(text: str, pos: int, regex: bool) -> Iterator[_Tok]:
    """Free reply text: addresses and (in transcripts) ~/regex/ stand out; the rest is Text."""
    pattern = _REPLY_TEXT_WITH_REGEX if regex else _REPLY_TEXT
    pending: _Tok | None = None  # consecutive plain pieces are merged into one token
    for m in pattern.finditer(text):
        tok: _Tok = (pos + m.start(), _TEXT_PIECE_TOKENS[m.lastgroup or "plain"], m.group())
        if pending is not None and pending[1] is Text and tok[1] is Text:
            pending = (pending[0], Text, pending[2] + tok[2])
            continue
        if pending is not None:
            yield pending
        pending = tok
    if pending is not None:
        yield pending


def _reply_tokens(line: str, pos: int, regex: bool) -> Iterator[_Tok]:
    """Tokens of one reply line: code by class, enhanced code, EHLO keyword, text."""
    m = _REPLY_START.match(line)
    if m is None:
        yield from _text_tokens(line, pos, regex)
        return
    code, sep = m.group(1), m.group(2)
    yield pos, REPLY_CODE_TOKENS.get(code[0], Error), code
    if sep:
        yield pos + 3, Punctuation if sep == "-" else Whitespace, sep
    i = m.end()
    e = _ENHANCED_CODE.match(line, i)
    if e:
        if e.group(1):
            yield pos + i, Whitespace, e.group(1)
        yield pos + e.start(2), _ENHANCED, e.group(2)
        i = e.end()
    elif code == "250":
        k = _KEYWORD_AT_START.match(line, i)
        if k and k.group().upper() in EXTENSIONS:
            yield pos + i, _EXTENSION_KEYWORD, k.group()
            i = k.end()
    yield from _text_tokens(line[i:], pos + i, regex)


# ---------------------------------------------------------------------- message content

_HEADER = re.compile(r"([!-9;-~]+)(:)")


def _body_tokens(line: str, pos: int, in_headers: bool) -> Iterator[_Tok]:
    h = _HEADER.match(line) if in_headers else None
    if h:
        yield pos, Name.Tag, h.group(1)
        yield pos + h.start(2), Punctuation, ":"
        if h.end() < len(line):
            yield pos + h.end(), Text, line[h.end():]
    elif line:
        yield pos, Text, line


# ------------------------------------------------------------------- the dialogue state

class _Dialogue:
    """What the next client line is: a command, message content, or authentication data."""

    def __init__(self) -> None:
        self.mode = "command"      # "command", "data" or "auth"
        self.in_headers = False    # in "data": still before the blank line
        self.raw_data = False      # "data" was entered from an unprefixed 354 line

    def client(self, line: str, pos: int, meta: bool = False) -> Iterator[_Tok]:
        if self.mode == "data":
            if line == ".":
                yield pos, Punctuation, line
                self.mode, self.raw_data = "command", False
                return
            if line == "":
                self.in_headers = False
            elif self.in_headers and line[0] not in " \t" and not _HEADER.match(line):
                self.in_headers = False  # no blank line before the body: be forgiving
            yield from _body_tokens(line, pos, self.in_headers)
            return
        if self.mode == "auth":
            if line.strip() == "*":
                yield pos, Keyword, line   # cancels the exchange
            elif line:
                yield pos, String, line
            return
        yield from _command_tokens(line, pos, meta)

    def server(self, line: str, pos: int, regex: bool = False, raw: bool = False
               ) -> Iterator[_Tok]:
        m = _REPLY_START.match(line)
        if m and m.group(2) != "-":  # the last line of a reply decides what follows
            code = m.group(1)
            if code == "354":
                self.mode, self.in_headers, self.raw_data = "data", True, raw
            elif code == "334":
                self.mode = "auth"
            else:
                self.mode, self.raw_data = "command", False
        yield from _reply_tokens(line, pos, regex)


_LINE = re.compile(r"([^\n]*?)(\r?\n|$)")


def _lines(text: str) -> Iterator[tuple[str, int, str]]:
    """(line without ending, its offset, the ending) for every line of *text*."""
    for m in _LINE.finditer(text):
        if m.start() == len(text) and not m.group(0):
            return
        yield m.group(1), m.start(), m.group(2)


# ----------------------------------------------------------------------------- lexers

# Shape of a dialogue line: (prefix pattern, side).
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"C:(?: |$)"), "client"),      # RFC style
    (re.compile(r"S:(?: |$)"), "server"),
    (re.compile(r" [-~]> "), "client"),        # swaks: sent, sent over TLS
    (re.compile(r"<[-~]  "), "server"),        # swaks: received, received over TLS
    (re.compile(r"\*\*> "), "client"),         # swaks: unexpected
    (re.compile(r"<\*\* "), "server"),
    (re.compile(r"  > "), "client"),           # swaks: raw
    (re.compile(r"<   "), "server"),
    (re.compile(r"=== ?"), "info"),            # swaks: information
    (re.compile(r"\*\*\* ?"), "error"),        # swaks: error
)


class SmtpLexer(Lexer):  # type: ignore[misc]
    """An SMTP dialogue: raw, ``C:``/``S:`` prefixed, or swaks output."""

    name = "SMTP"
    aliases: ClassVar[list[str]] = ["smtp"]
    filenames: ClassVar[list[str]] = ["*.smtp"]
    mimetypes: ClassVar[list[str]] = ["text/x-smtp"]
    url = "https://www.rfc-editor.org/rfc/rfc5321"

    @staticmethod
    def analyse_text(text: str) -> float:
        greeting = re.search(r"^(?:S: |<-  )?220[ -]", text, re.MULTILINE)
        hello = re.search(r"^(?:C: | -> )?(?:EHLO|HELO) ", text, re.MULTILINE | re.IGNORECASE)
        return 0.5 if greeting and hello else 0.0

    def get_tokens_unprocessed(self, text: str) -> Iterator[_Tok]:
        dialogue = _Dialogue()
        for line, pos, end in _lines(text):
            yield from self._line(dialogue, line, pos)
            if end:
                yield pos + len(line), Whitespace, end

    @staticmethod
    def _line(dialogue: _Dialogue, line: str, pos: int) -> Iterator[_Tok]:
        if dialogue.raw_data:  # an unprefixed DATA body: everything up to "." is content
            yield from dialogue.client(line, pos)
            return
        for pattern, side in _SHAPES:
            m = pattern.match(line)
            if m is None:
                continue
            prefix, rest, at = m.group(), line[m.end():], pos + m.end()
            yield pos, _PREFIX, prefix
            if side == "client":
                yield from dialogue.client(rest, at)
            elif side == "server":
                yield from dialogue.server(rest, at)
            elif rest:
                yield at, Comment.Single if side == "info" else Generic.Error, rest
            return
        if dialogue.mode != "data" and _LOOKS_LIKE_REPLY.match(line):
            yield from dialogue.server(line, pos, raw=True)
        else:
            yield from dialogue.client(line, pos)


class SmtpCommandLexer(Lexer):  # type: ignore[misc]
    """One typed command line (the shell's input), including ``/meta`` commands."""

    name = "SMTP command"
    aliases: ClassVar[list[str]] = ["smtp-command"]
    filenames: ClassVar[list[str]] = []

    def get_tokens_unprocessed(self, text: str) -> Iterator[_Tok]:
        for line, pos, end in _lines(text):
            yield from _command_tokens(line, pos, meta=True)
            if end:
                yield pos + len(line), Whitespace, end


_TRANSCRIPT_LINE = re.compile(r"(?:(\+\d+)( +))?(?:(C:|S:)(?: |$)|(#))")


class SmtpTranscriptLexer(Lexer):  # type: ignore[misc]
    """smtpsh transcripts: ``[+ms ]C: line``, ``[+ms ]S: line`` and ``# metadata``."""

    name = "SMTP transcript"
    aliases: ClassVar[list[str]] = ["smtp-transcript"]
    filenames: ClassVar[list[str]] = ["*.smtpt", "*.transcript"]

    def get_tokens_unprocessed(self, text: str) -> Iterator[_Tok]:
        dialogue = _Dialogue()
        for line, pos, end in _lines(text):
            yield from self._line(dialogue, line, pos)
            if end:
                yield pos + len(line), Whitespace, end

    @staticmethod
    def _line(dialogue: _Dialogue, line: str, pos: int) -> Iterator[_Tok]:
        m = _TRANSCRIPT_LINE.match(line)
        if m is None:
            if line.strip():
                yield pos, Error, line  # not a transcript line
            elif line:
                yield pos, Whitespace, line
            return
        if m.group(1):
            yield pos, _TIME, m.group(1)
            yield pos + m.start(2), Whitespace, m.group(2)
        if m.group(4):
            yield pos + m.start(4), Comment.Single, line[m.start(4):]
            return
        yield pos + m.start(3), _PREFIX, line[m.start(3):m.end()]
        rest, at = line[m.end():], pos + m.end()
        if m.group(3) == "C:":
            yield from dialogue.client(rest, at)
        else:
            yield from dialogue.server(rest, at, regex=True)

"""Hypothesis strategies for the fuzz targets: random bytes, and inputs shaped like the
real thing (reply lines, message bodies, MAIL/RCPT lines) so the search reaches the
corners where bugs live (split CRLF, a dot after a line break, a line at the size limit)."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

from smtpsh.protocol.replies import MAX_LINE

# --- reply streams ---------------------------------------------------------------------

CODES = st.one_of(
    st.sampled_from([b"220", b"250", b"251", b"334", b"354", b"421", b"550", b"554"]),
    st.binary(min_size=0, max_size=4),
    st.integers(0, 999).map(lambda n: str(n).encode()),
)
SEPARATORS = st.sampled_from([b" ", b"-", b"", b"\t", b"--", b"x"])
ENDINGS = st.sampled_from([b"\r\n", b"\n", b"\r", b"", b"\r\r\n", b"\n\r"])
TEXTS = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=30).map(lambda t: t.encode("utf-8")),
    st.sampled_from([b"ok", b"2.1.0 Ok", b"caf\xe9", b"\xff\xfe", b"PIPELINING", b"."]),
    # Lines near the parser's limit: the boundary is where off-by-one bugs hide.
    st.integers(MAX_LINE - 8, MAX_LINE + 2).map(lambda n: b"y" * n),
)
REPLY_LINE = st.tuples(CODES, SEPARATORS, TEXTS, ENDINGS).map(b"".join)
STREAM = st.one_of(
    st.lists(REPLY_LINE, max_size=12).map(b"".join),
    st.binary(max_size=300),
)


@st.composite
def chunked(draw: st.DrawFn, data: st.SearchStrategy[bytes] = STREAM) -> list[bytes]:
    """``data`` cut at arbitrary points (one-byte writes included)."""
    whole = draw(data)
    cuts = sorted(set(draw(st.lists(st.integers(0, len(whole)), max_size=12))))
    bounds = [0, *cuts, len(whole)]
    return [whole[a:b] for a, b in itertools.pairwise(bounds)]


REPLY_TEXT = st.text(
    # No surrogates, no controls: those are escaped for display, so they do not come back.
    st.characters(exclude_categories=["Cs", "Cc"]), max_size=30
)
GOOD_REPLIES = st.lists(
    st.tuples(
        # RFC 5321 §4.2: first digit 2-5, second 0-5, third 0-9.
        st.builds(lambda a, b, c: 100 * a + 10 * b + c,
                  st.integers(2, 5), st.integers(0, 5), st.integers(0, 9)),
        st.lists(REPLY_TEXT, min_size=1, max_size=5),
    ),
    max_size=6,
)

# --- message bodies --------------------------------------------------------------------

BODY = st.one_of(
    st.lists(
        st.one_of(
            st.sampled_from(
                [b"\r", b"\n", b"\r\n", b".", b"..", b"\r\n.\r\n", b"\n.\n", b"\r.\r", b"x"]
            ),
            st.binary(max_size=20),
        ),
        max_size=40,
    ).map(b"".join),
    st.binary(max_size=200),
)
LONG_LINE = st.integers(990, 1010).map(lambda n: b"z" * n + b"\n")

# --- command lines ---------------------------------------------------------------------

TYPED = st.one_of(
    st.text(max_size=80),
    # Lone surrogates: what undecodable input bytes become (surrogateescape).
    st.text(st.one_of(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
                      st.characters()), max_size=20).map(lambda t: "NOOP " + t),
    st.text(st.characters(codec="utf-8"), max_size=600),
    st.builds(
        lambda verb, rest: verb + rest,
        st.sampled_from(["MAIL FROM:", "RCPT TO:", "mail from: ", "RCPT TO:<", "EHLO ", "AUTH "]),
        st.text(max_size=80),
    ),
)
ATOM = st.text("abcdefghijklmnopqrstuvwxyz0123456789.-_+", min_size=1, max_size=12)


@st.composite
def local_parts(draw: st.DrawFn) -> str:
    """Dot-atoms of any length around the 64-octet limit."""
    size = draw(st.sampled_from([1, 5, 63, 64, 65, 80, 250]))
    return ("a" * size)[:-1] + draw(st.sampled_from("bcd")) if size > 1 else "x"


@st.composite
def domains(draw: st.DrawFn) -> str:
    """Host names of exactly a length around the 255-octet limit (labels of <= 63)."""
    size = draw(st.sampled_from([4, 40, 190, 254, 255, 256, 300]))
    name = (("d" * 63 + ".") * 5)[:size]
    return name[:-1] + "e" if name.endswith(".") else name


PARAMETERS = st.lists(
    st.one_of(
        st.sampled_from(["SIZE=100", "BODY=8BITMIME", "SMTPUTF8", "NOTIFY=NEVER", "RET=HDRS"]),
        st.builds("{}={}".format, st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,8}", fullmatch=True),
                  st.from_regex(r"[!-<>-~]{1,10}", fullmatch=True)),
    ),
    max_size=4,
)

# --- connection steps ------------------------------------------------------------------

COMMAND_LINES = st.one_of(
    st.sampled_from(
        ["EHLO me", "HELO me", "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "DATA", "RSET", "NOOP",
         "QUIT", "STARTTLS", "AUTH PLAIN", "AUTH LOGIN", "BDAT 3 LAST", "VRFY x", "*"]
    ),
    st.text(max_size=20),
)
SERVER_BYTES = st.one_of(
    st.sampled_from(
        [b"220 hi\r\n", b"250 ok\r\n", b"250-a\r\n250 b\r\n", b"354 go\r\n", b"334 VXNlcg==\r\n",
         b"235 ok\r\n", b"421 bye\r\n", b"221 bye\r\n", b"550 no\r\n", b"503 order\r\n"]
    ),
    REPLY_LINE,
)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), COMMAND_LINES),
        st.tuples(st.just("recv"), SERVER_BYTES),
        st.tuples(st.sampled_from(["end", "eof"]), st.just(b"")),
    ),
    max_size=25,
)

# --- transcripts -----------------------------------------------------------------------

_CLIENT_TEXT = st.one_of(
    st.sampled_from(
        ["EHLO me", "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "DATA", ".", "..x", "", "QUIT",
         "BDAT 5 LAST", "BDAT 0", "BDAT x", "AUTH PLAIN ********", "AUTH LOGIN", "********",
         "STARTTLS", "Subject: x"]
    ),
    st.text(max_size=20),
)
_SERVER_TEXT = st.one_of(
    st.sampled_from(
        ["220 mx ESMTP", "250 ok", "250-mx", "250 CHUNKING", "354 go", "334 VXNlcg==",
         "235 ok", "221 bye", "421 bye", "550 no", "250 ~/[0-9]+/", "250 ~/(/", "xyz", ""]
    ),
    st.text(max_size=20),
)
_META_TEXT = st.one_of(
    st.sampled_from(["smtpsh transcript 1", "connect 127.0.0.1:25", "tls TLSv1.3", "close",
                     "timeout", "stop", "start 2026-01-01T00:00:00+00:00", ""]),
    st.text(max_size=20),
)
_SWAKS = st.sampled_from(
    ["=== Trying 127.0.0.1:25...", "=== Connected to 127.0.0.1.", "<-  220 mx ESMTP",
     " -> EHLO me", "<-  250 ok", " -> QUIT", "<** 550 no", " ~> EHLO me", "<~  250 ok"]
)
TRANSCRIPT_LINE = st.one_of(
    st.builds(
        "{}{}{}".format,
        st.sampled_from(["", "+0     ", "+12 ", "  ", "+x "]),
        st.sampled_from(["C: ", "S: ", "C:", "# "]),
        st.one_of(_CLIENT_TEXT, _SERVER_TEXT, _META_TEXT),
    ),
    _SWAKS,
    st.text(max_size=30),
)
# Exchanges of a plausible dialogue: client lines, then the server's reply lines.
_EXCHANGES = st.sampled_from(
    [
        (["C: EHLO me"], ["S: 250-mx", "S: 250-PIPELINING", "S: 250 CHUNKING"]),
        (["C: HELO me"], ["S: 250 mx"]),
        (["C: MAIL FROM:<a@b>"], ["S: 250 2.1.0 Ok"]),
        (["C: RCPT TO:<c@d>"], ["S: 250 2.1.5 Ok"]),
        (["C: RCPT TO:<x@d>"], ["S: 550 5.1.1 no"]),
        (["C: DATA"], ["S: 354 go"]),
        (["C: Subject: x", "C:", "C: ..dot", "C: body", "C: ."], ["S: 250 queued as ~/[A-F0-9]+/"]),
        (["C: BDAT 5 LAST", "C: abc"], ["S: 250 ok"]),
        (["C: AUTH PLAIN ********"], ["S: 235 2.7.0 ok"]),
        (["C: AUTH LOGIN"], ["S: 334 VXNlcm5hbWU6"]),
        (["C: ********"], ["S: 334 UGFzc3dvcmQ6"]),
        (["C: NOOP"], ["S: 250 ok"]),
        (["C: QUIT"], ["S: 221 bye"]),
        (["# timeout"], []),
        (["# tls TLSv1.3"], []),
    ]
)


@st.composite
def dialogues(draw: st.DrawFn) -> str:
    """A plausible transcript, then a few mutations (drop, repeat, swap, replace a line)."""
    lines = ["# smtpsh transcript 1", "# connect 127.0.0.1:25", "S: 220 mx ESMTP"]
    for client, server in draw(st.lists(_EXCHANGES, max_size=10)):
        lines += client + server
    for _ in range(draw(st.integers(0, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["drop", "repeat", "swap", "replace"]))
        if how == "drop":
            del lines[i]
        elif how == "repeat":
            lines.insert(i, lines[i])
        elif how == "swap" and i + 1 < len(lines):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        elif how == "replace":
            lines[i] = draw(TRANSCRIPT_LINE)
    stamp = draw(st.booleans())
    return "\n".join(f"+{n % 7}     {x}" if stamp else x for n, x in enumerate(lines)) + "\n"


TRANSCRIPT = st.one_of(
    dialogues(),
    st.lists(TRANSCRIPT_LINE, max_size=25).map("\n".join),
    st.lists(TRANSCRIPT_LINE, max_size=25).map(lambda lines: "\r\n".join(lines) + "\r\n"),
    st.text(max_size=200),
)

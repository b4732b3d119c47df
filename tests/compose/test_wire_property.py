"""For any composed message, what goes on the wire decodes back to the same message and
holds no end-of-data sequence before the real one (DATA), or the exact octets (BDAT).

tests/protocol/test_encoding.py checks the encoder on arbitrary bytes; this checks the
composed-message path end to end: email package -> scan (SIZE=) -> DataEncoder / BDAT.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

from hypothesis import example, given, settings
from hypothesis import strategies as st

from smtpsh.compose.message import Draft, MessageSource, build_message, fill_tokens
from smtpsh.compose.send import bdat_chunks
from smtpsh.protocol.encoding import encode_message
from tests.protocol.test_encoding import SMUGGLING, unstuff

# Text a user may type or paste: any character but NUL and lone surrogates, with the
# line-break and dot sequences that smuggling tries weighted in.
PIECES = st.one_of(
    st.sampled_from([s.decode() for s in SMUGGLING] + [".", "..", "\r", "\n", "\r\n", "é"]),
    st.text(
        st.characters(blacklist_categories=("Cs", "Co"), blacklist_characters="\0"), max_size=30
    ),
    st.text("x", min_size=990, max_size=1010),
)
BODIES = st.lists(PIECES, max_size=25).map("".join)


def normalised(text: str) -> str:
    """The body as a reader gets it: every CR, LF or CRLF a line end, ending with one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") or not text else text + "\n"


@settings(max_examples=300, deadline=None)
@example(body="%TO% and %FROM%", eight_bit=False, subject="%DATE% %MESSAGEID%")  # found once
@given(BODIES, st.booleans(), st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
                                        max_size=40))
def test_composed_message_survives_the_wire(body: str, eight_bit: bool, subject: str) -> None:
    draft = Draft(
        sender="a@x.example",
        recipients=["b@y.example"],
        from_header="a@x.example",
        to="b@y.example",
        subject=subject,
        body=body,
        date="Sun, 06 Dec 2026 12:00:00 +0000",
        message_id="<t@x.example>",
    )
    # swaks' tokens become their values by design (%TO% in the body is the recipient).
    tokens = {"%DATE%": draft.date, "%MESSAGEID%": draft.message_id, "%TO%": draft.to,
              "%FROM%": draft.from_header}
    body, subject = fill_tokens(body, tokens), fill_tokens(subject, tokens)
    built = build_message(draft, eight_bit=eight_bit, smtputf8=False, domain="x.example")
    source = MessageSource.from_bytes(built.data)
    assert source.facts.problem is None
    if not eight_bit:
        assert built.data.isascii()

    wire = encode_message(built.data)
    # No bare CR or LF; the only end-of-data sequence is the last one.
    assert not re.search(rb"(?<!\r)\n|\r(?!\n)", wire)
    assert (b"\r\n" + wire).count(b"\r\n.\r\n") == 1 and wire.endswith(b"\r\n.\r\n")
    content = unstuff(wire)
    # SIZE= declared the octets the server receives (without stuffing and the final dot).
    assert len(content) == source.facts.octets
    msg = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(("plain",))
    assert part is not None
    assert normalised(part.get_content()) == (normalised(body) or "\n")
    assert " ".join(str(msg["Subject"] or "").split()) == " ".join(subject.split())

    # BDAT: the same octets, counted, in any chunk size; nothing is stuffed.
    for size in (1, 7, 4096):
        chunks = list(bdat_chunks(source.checked_chunks(), size))
        assert b"".join(c for c, _ in chunks) == content
        assert [last for _, last in chunks] == [False] * (len(chunks) - 1) + [True]
        assert all(0 < len(c) <= size for c, _ in chunks)

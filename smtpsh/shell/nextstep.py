"""What the dialogue expects next, derived from the live session: the toolbar's and
/status's hint. Offers only what helps now and what this server takes: STARTTLS when
advertised and TLS is not on, AUTH when advertised and not done yet, BDAT beside DATA only
where CHUNKING was advertised, LHLO (not EHLO) to an LMTP server, /reconnect once the
connection is gone; after a refusal that asked for TLS or AUTH first (530, 538), that step
alone."""

from __future__ import annotations

from smtpsh.protocol.session import NEXT_STEP, Session, State

# While a typed BDAT collects its octets (the prompt counts them: bdat 3/40›), what is
# typed is the chunk, not a command.
CHUNK_NEXT = "the chunk's octets (Enter adds CRLF), or /abort"
# After a 334 to an AUTH typed by hand the server waits for the client's base64 answer
# (RFC 4954 §4): a command typed now would be taken for it; '*' cancels the exchange.
AUTH_NEXT = "your base64 answer to the challenge (/b64 encode TEXT), or * to cancel"


def next_step(session: Session, *, connected: bool, tls: bool) -> str:
    if not connected or session.state is State.CLOSED:
        return "/reconnect (or /quit)"
    greeting = "LHLO <your-name>" if session.lmtp else None
    if session.state is State.GREETED and session.tls:
        return f"{greeting or 'EHLO <your-name>'} again (TLS forgot the first one)"
    if session.state is State.GREETED and greeting:  # LMTP has no EHLO nor HELO (RFC 2033)
        return greeting
    if session.state is State.RCPT and session.advertises("CHUNKING"):
        return "another RCPT TO, or DATA (or BDAT <size> [LAST])"
    if session.state is not State.READY:
        return NEXT_STEP[session.state]
    # The server refused a command until TLS or AUTH: that, not the refused command again.
    if session.demanded == "tls" and not tls:
        return f"/starttls (the server wants TLS first: it answered {session.demand_code})"
    if session.demanded == "auth" and not session.authenticated:
        return f"/auth (the server wants AUTH first: it answered {session.demand_code})"
    also = []
    if session.advertises("STARTTLS") and not tls:
        also.append("/starttls")
    if session.advertises("AUTH") and not session.authenticated:
        also.append("/auth")
    # What helps first comes first: a narrow toolbar cuts the end of the line.
    return f"{' or '.join(also)}, or MAIL FROM:<sender>" if also else "MAIL FROM:<sender>"


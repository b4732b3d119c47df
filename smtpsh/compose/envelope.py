"""The envelope: MAIL FROM and RCPT TO lines with the ESMTP parameters the server allows.

Which parameters may be used comes from the command table (``parameters_for``) and the
EHLO reply; what is left out, and why, is said in ``notes`` so the user learns it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from smtpsh.compose.message import ComposeError
from smtpsh.protocol.commands import parameters_for

NOTIFY_WORDS = ("SUCCESS", "FAILURE", "DELAY")
RET_VALUES = ("FULL", "HDRS")
ENVID_MAX = 100  # RFC 3461 §4.4: at most 100 characters (after xtext encoding)


@dataclass(frozen=True)
class DsnRequest:
    """Delivery status notification choices (RFC 3461); None/False: not asked for."""

    notify: str | None = None  # "NEVER" or a comma list of SUCCESS, FAILURE, DELAY
    ret: str | None = None  # FULL | HDRS
    envid: str | None = None
    orcpt: bool = False

    @property
    def wanted(self) -> bool:
        return bool(self.notify or self.ret or self.envid or self.orcpt)


def parse_notify(text: str) -> str | None:
    """'success,failure' -> 'SUCCESS,FAILURE'; 'never' -> 'NEVER'; '' -> None."""
    words = [w.strip().upper() for w in text.replace(" ", ",").split(",") if w.strip()]
    if not words:
        return None
    if words == ["NEVER"]:
        return "NEVER"
    if "NEVER" in words:
        raise ComposeError("NOTIFY=NEVER cannot be combined with other values (RFC 3461 §4.1)")
    bad = [w for w in words if w not in NOTIFY_WORDS]
    if bad:
        raise ComposeError(
            f"NOTIFY: unknown value {bad[0]}; use NEVER, or any of SUCCESS,FAILURE,DELAY"
        )
    return ",".join(w for w in NOTIFY_WORDS if w in words)


def parse_ret(text: str) -> str | None:
    value = text.strip().upper()
    if not value:
        return None
    if value not in RET_VALUES:
        raise ComposeError("RET: use FULL (the whole message) or HDRS (headers only)")
    return value


def xtext(text: str) -> str:
    """RFC 3461 §4 xtext: '+', '=' and octets outside '!'..'~' become '+XX'."""
    out = []
    for byte in text.encode("utf-8"):
        if 33 <= byte <= 126 and byte not in (ord("+"), ord("=")):
            out.append(chr(byte))
        else:
            out.append(f"+{byte:02X}")
    return "".join(out)


@dataclass
class Envelope:
    sender: str
    recipients: list[str]
    mail_params: list[str] = field(default_factory=list)
    rcpt_params: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def mail_line(self) -> str:
        return " ".join([f"MAIL FROM:<{self.sender}>", *self.mail_params])

    def rcpt_line(self, recipient: str) -> str:
        return " ".join([f"RCPT TO:<{recipient}>", *self.rcpt_params.get(recipient, [])])

    def rcpt_lines(self) -> list[str]:
        return [self.rcpt_line(r) for r in self.recipients]


def size_limit(extensions: Mapping[str, str]) -> int | None:
    """The server's SIZE limit in octets (None: not advertised, or no fixed limit)."""
    value = extensions.get("SIZE", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def plan_envelope(
    sender: str,
    recipients: list[str],
    extensions: Mapping[str, str],
    *,
    size: int,
    eight_bit: bool,
    smtputf8: bool,
    dsn: DsnRequest | None = None,
) -> Envelope:
    """MAIL and RCPT lines for a message of ``size`` octets, using only what was advertised.

    Raises ComposeError when the message cannot be sent to this server at all (8-bit content
    without 8BITMIME, a UTF-8 address without SMTPUTF8).
    """
    env = Envelope(sender, list(recipients))
    mail = {p.keyword: p for p in parameters_for("MAIL", extensions)}
    rcpt = {p.keyword: p for p in parameters_for("RCPT", extensions)}
    if "SIZE" in mail:
        env.mail_params.append(f"SIZE={size}")
        limit = size_limit(extensions)
        if limit is not None and size > limit:
            env.notes.append(
                f"the message is {size} octets and the server's SIZE limit is {limit}:"
                " expect 552 (sent anyway: this is a testing tool)"
            )
    if eight_bit:
        if "BODY" not in mail or "8BITMIME" not in mail["BODY"].values:
            raise ComposeError(
                "the message has 8-bit content and the server did not advertise 8BITMIME"
                " (RFC 6152): encode it as quoted-printable or base64 first"
            )
        env.mail_params.append("BODY=8BITMIME")
    if smtputf8:
        if "SMTPUTF8" not in mail:
            raise ComposeError(
                "an address is not ASCII and the server did not advertise SMTPUTF8 (RFC 6531)"
            )
        env.mail_params.append("SMTPUTF8")
    if dsn is not None and dsn.wanted:
        _add_dsn(env, dsn, mail, rcpt)
    return env


def _add_dsn(env: Envelope, dsn: DsnRequest, mail: Mapping[str, object],
             rcpt: Mapping[str, object]) -> None:
    if "NOTIFY" not in rcpt:
        env.notes.append(
            "the server did not advertise DSN (RFC 3461): NOTIFY, RET, ENVID and ORCPT"
            " are left out"
        )
        return
    if dsn.ret and "RET" in mail:
        env.mail_params.append(f"RET={dsn.ret}")
    if dsn.envid and "ENVID" in mail:
        value = xtext(dsn.envid)
        if len(value) > ENVID_MAX:
            raise ComposeError(f"ENVID is {len(value)} characters as xtext; at most {ENVID_MAX}")
        env.mail_params.append(f"ENVID={value}")
    for recipient in env.recipients:
        params = env.rcpt_params.setdefault(recipient, [])
        if dsn.notify:
            params.append(f"NOTIFY={dsn.notify}")
        if dsn.orcpt and "ORCPT" in rcpt:
            if recipient.isascii():
                params.append(f"ORCPT=rfc822;{xtext(recipient)}")
            else:
                env.notes.append(f"ORCPT left out for <{recipient}>: not an ASCII address")

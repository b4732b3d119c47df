"""What became of a message, as the replies said it: the record `smtpsh send --json` prints.

A ``TransactionRecord`` is an observer of the connection (as the transcript recorder is):
it sees every reply paired with its command by the sans-IO core, so the record is the
dialogue's own account, whichever path sent the message (DATA or BDAT, pipelined or not,
SMTP or LMTP). Only verbs and addresses are kept from what was sent: never an AUTH line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from smtpsh.net.base import ClientBase, ClientObserver
from smtpsh.protocol.connection import ReplyEvent
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import BANNER, END_OF_DATA

_PATH = re.compile(r"<([^>]*)>")


def _path(display: str) -> str:
    """The address between <> in a MAIL or RCPT line ('' for the null sender)."""
    found = _PATH.search(display)
    return found.group(1) if found else display.split(":", 1)[-1].strip()


def refused_line(refused: Sequence[tuple[str, Reply]], asked: int) -> str:
    """One line naming the recipients refused at RCPT and each one's code, for a message
    that went to the others ('not every recipient: refused <b@x> (550 5.1.1); the message
    went to 1 of 2 recipients only')."""
    names = ", ".join(
        f"<{rcpt}> ({reply.code}{' ' + reply.enhanced if reply.enhanced else ''})"
        for rcpt, reply in refused
    )
    sent = asked - len(refused)
    return (f"not every recipient: refused {names}; the message went to {sent} of {asked}"
            f" recipient{'s' if asked > 1 else ''} only")


class TransactionRecord(ClientObserver):
    """The last mail transaction of a session: sender, recipients, the message's replies."""

    def __init__(self) -> None:
        self.target = ""
        self.banner: Reply | None = None
        self.tls: str | None = None  # the TLS version the message went under, if any
        self.lmtp = False
        self.sender: tuple[str, Reply] | None = None
        self.recipients: list[dict[str, Any]] = []
        self.transfer: str | None = None  # "DATA" or "BDAT"
        self.message_replies: list[Reply] = []  # DATA's 354, the chunks', the final one(s)
        self.final: Reply | None = None  # the reply to the final dot / BDAT LAST (SMTP)
        self.queue_id: str | None = None

    def on_connected(self, client: ClientBase) -> None:
        self.target = client.address

    def on_reply(self, client: ClientBase, event: ReplyEvent) -> None:
        command, reply = event.command, event.reply
        verb = command.verb if command is not None else BANNER
        if verb == BANNER:
            self.banner = reply
        elif verb == "MAIL" and command is not None:
            self._new_transaction(client)
            self.sender = (_path(command.display), reply)
        elif verb == "RCPT" and command is not None:
            self.recipients.append({"address": _path(command.display), "reply": reply,
                                    "delivery": None})
        elif verb in ("DATA", "BDAT", "BDAT LAST", END_OF_DATA):
            self.transfer = self.transfer or ("DATA" if verb in ("DATA", END_OF_DATA) else "BDAT")
            self.message_replies.append(reply)
            if verb in (END_OF_DATA, "BDAT LAST"):
                self._final(client, command.recipient if command is not None else None, reply)

    def _new_transaction(self, client: ClientBase) -> None:
        self.lmtp = client.conn.session.lmtp
        ssl_object = client.ssl_object
        self.tls = ssl_object.version() if ssl_object is not None else None
        self.sender, self.recipients, self.transfer = None, [], None
        self.message_replies, self.final, self.queue_id = [], None, None

    def _final(self, client: ClientBase, recipient: str | None, reply: Reply) -> None:
        if recipient is None:
            self.final = reply
        else:  # LMTP: this reply is the delivery to that recipient
            for entry in self.recipients:
                if entry["address"] == recipient and entry["delivery"] is None:
                    entry["delivery"] = reply
                    break
        if reply.klass == 2:
            self.queue_id = client.conn.session.queue_id or self.queue_id

    def refused(self) -> str:
        """Which step a reply refused and the reply, on one line ('' if none refused): the
        greeting, the sender, every recipient, the message (LMTP: for one recipient)."""
        if self.banner is not None and self.banner.klass != 2:
            return f"the greeting refused the session: {self.banner.one_line()}"
        if self.sender is not None and self.sender[1].klass != 2:
            return f"the sender was refused: {self.sender[1].one_line()}"
        replies: list[Reply] = [e["reply"] for e in self.recipients]
        if replies and all(r.klass != 2 for r in replies):
            return f"every recipient was refused: {replies[-1].one_line()}"
        for reply in self.message_replies:
            if reply.klass not in (2, 3):
                return f"the message was refused: {reply.one_line()}"
        for entry in self.recipients:
            if entry["delivery"] is not None and entry["delivery"].klass != 2:
                return (f"not delivered to <{entry['address']}>:"
                        f" {entry['delivery'].one_line()}")  # fmt: skip
        refused = [(e["address"], e["reply"]) for e in self.recipients if e["reply"].klass != 2]
        if refused and self.accepted:  # the others had the message: say who did not
            return refused_line(refused, len(self.recipients))
        return ""

    def refused_recipients(self) -> list[str]:
        """The addresses a RCPT reply refused: the message never went to them."""
        return [e["address"] for e in self.recipients if e["reply"].klass != 2]

    @property
    def accepted(self) -> bool:
        """The message was taken: the final reply (LMTP: every accepted recipient's) 2xx."""
        if self.lmtp:
            deliveries = [e["delivery"] for e in self.recipients if e["delivery"] is not None]
            return bool(deliveries) and all(d.klass == 2 for d in deliveries)
        return self.final is not None and self.final.klass == 2

    def to_json(self) -> dict[str, Any]:
        def lines(reply: Reply | None) -> list[str] | None:
            return reply.wire_lines() if reply is not None else None

        return {
            "target": self.target,
            "dry_run": False,
            "banner": lines(self.banner),
            "lmtp": self.lmtp,
            "tls": self.tls,
            "sender": None if self.sender is None else {
                "address": self.sender[0], "reply": lines(self.sender[1])},
            "recipients": [
                {"address": e["address"], "reply": lines(e["reply"]),
                 "accepted": e["reply"].klass == 2, "delivery": lines(e["delivery"])}
                for e in self.recipients
            ],
            "message": None if self.transfer is None else {
                "transfer": self.transfer,
                "replies": [r.wire_lines() for r in self.message_replies],
                "reply": lines(self.final),
                "queue_id": self.queue_id,
            },
            "accepted": self.accepted,
            "refused": self.refused_recipients(),
        }

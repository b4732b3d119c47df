"""--quit-after STEP and --drop-after STEP (as in swaks): end the session once a step of the
dialogue is done, politely with QUIT or by hanging up, for scripted address checks and
drop tests.

A ``StepWatch`` is an observer: it sees the replies and marks the step reached when its
reply came (or a later step's: a script that skips STARTTLS still stops after MAIL for
--quit-after tls). The shell asks it before each line is sent whether that line goes past
the step; a step that repeats (several RCPT) ends before the first line that is not one.
"""

from __future__ import annotations

from smtpsh.net.base import ClientBase, ClientObserver
from smtpsh.protocol.connection import ReplyEvent, verb_of
from smtpsh.protocol.errors import SmtpshError
from smtpsh.protocol.session import BANNER, END_OF_DATA

STEPS = ("connect", "banner", "first-ehlo", "tls", "auth", "mail", "rcpt", "data", "dot")
# Lines that belong to a step already reached (they go on; the next kind ends it).
_REPEATS = {"rcpt": ("RCPT",), "auth": ("AUTH",), "first-ehlo": ()}


class StepReached(SmtpshError):
    """Raised instead of sending a line past the step: the session ends here."""


class StepWatch(ClientObserver):
    def __init__(self, step: str, *, drop: bool) -> None:
        assert step in STEPS
        self.step = step
        self.drop = drop  # hang up without QUIT (--drop-after)
        self.reached = False
        self.ok = True  # the step's reply was a success (2xx/3xx): the exit status
        self._greeted = False

    @property
    def option(self) -> str:
        return f"--{'drop' if self.drop else 'quit'}-after {self.step}"

    def _mark(self, step: str, ok: bool) -> None:
        if STEPS.index(step) >= STEPS.index(self.step) and not self.reached:
            self.reached = True
            self.ok = ok
        elif step == self.step:  # the step repeats (another RCPT): its answer counts too
            self.ok = self.ok and ok

    def on_connected(self, client: ClientBase) -> None:
        self._mark("connect", True)

    def on_reply(self, client: ClientBase, event: ReplyEvent) -> None:
        reply = event.reply
        verb = event.command.verb if event.command is not None else BANNER
        ok = reply.klass in (2, 3)
        step = {
            BANNER: "banner",
            "STARTTLS": "tls",
            "MAIL": "mail",
            "RCPT": "rcpt",
            "DATA": "data",
            END_OF_DATA: "dot",
        }.get(verb)
        if verb in ("EHLO", "HELO"):
            step = None if self._greeted else "first-ehlo"
            self._greeted = True
        elif verb == "AUTH" and reply.code != 334:
            step = "auth"
        elif verb == "BDAT LAST":  # the message's end, as the final dot (LMTP: one a recipient)
            step = "dot"
        elif verb == "BDAT":
            step = "data"
        if step is not None:
            self._mark(step, ok)

    def stops(self, line: str | None) -> bool:
        """Whether sending ``line`` (None: a message line) would go past the step."""
        if not self.reached:
            if self.step == "data" and line is not None and verb_of(line) == "BDAT":
                # BDAT has no DATA of its own: its first chunk is already the message, so
                # --quit-after data ends before it, as after DATA's 354.
                self.reached = True
                return True
            return False
        if line is None:
            return True
        return verb_of(line) not in _REPEATS.get(self.step, ())

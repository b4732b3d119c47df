"""What two answers to the same verb reveal when they differ in class.

`VRFY nosuch` → 550 then `VRFY robin` → 252 is the whole finding of a user-enumeration
test: the server tells names it knows from names it does not, even though 252 itself says
"cannot verify". Each annotation explains one reply; this note compares two. It is said
only when the comparison means something: a success (2xx) against a refusal (5xx) of
another argument, the refusal not one for a different reason (relaying, policy, a
temporary 4xx), since then the difference says nothing about who exists.
"""

from __future__ import annotations

from smtpsh.protocol.replies import Reply

# The verbs whose answers can tell existing users from unknown ones.
VERBS = ("VRFY", "EXPN", "RCPT")
# 5.7.x (policy, relaying) or wording about relaying/policy: refused for another reason.
_OTHER_REASONS = ("relay", "policy", "denied", "authentication", "not permitted")


class Answer:
    __slots__ = ("argument", "code", "line")

    def __init__(self, line: str, code: int, argument: str) -> None:
        self.line, self.code, self.argument = line, code, argument


def _about_existence(reply: Reply) -> bool:
    """A refusal that is about the mailbox, as far as its codes and words tell."""
    if reply.enhanced is not None and not reply.enhanced.startswith("5.1."):
        return False
    text = reply.text.lower()
    return not any(word in text for word in _OTHER_REASONS)


class Contrasts:
    """Remembers the last success and the last refusal per verb; ``note`` compares."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int], Answer] = {}

    def note(self, verb: str, line: str, reply: Reply) -> str | None:
        verb = verb.upper()
        if verb not in VERBS or reply.klass not in (2, 5):
            return None
        if reply.klass == 5 and not _about_existence(reply):
            return None
        argument = line.split(None, 1)[1].strip() if " " in line.strip() else ""
        if verb == "RCPT":
            argument = argument.split(">", 1)[0] + ">" if ">" in argument else argument
        other = self._seen.get((verb, 7 - reply.klass))  # 2 <-> 5
        self._seen[(verb, reply.klass)] = Answer(line, reply.code, argument)
        if other is None or other.argument.lower() == argument.lower():
            return None
        ok, refused = (line, other.line) if reply.klass == 2 else (other.line, line)
        ok_code = reply.code if reply.klass == 2 else other.code
        refused_code = other.code if reply.klass == 2 else reply.code
        what = {
            "VRFY": "which user names exist",
            "EXPN": "which lists exist",
            "RCPT": "which recipients exist while you talk to it",
        }[verb]
        extra = " (252 says 'cannot verify', yet it differs from the refusal)" if (
            ok_code == 252) else ""
        return (
            f"{ok} → {ok_code} but {refused} → {refused_code}: the server reveals {what}"
            f"{extra}; user enumeration works here (smtpsh enum automates it)"
        )

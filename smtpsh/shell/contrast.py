"""What two answers to the same verb reveal when they differ in class.

`VRFY nosuch` → 550 then `VRFY robin` → 252 is the whole finding of a user-enumeration
test: the server tells names it knows from names it does not, even though 252 itself says
"cannot verify". Each annotation explains one reply; this note compares two. It is said
only when the comparison means something: a success (2xx) against a refusal that says "no
such mailbox" (550, 551 or 553; OpenSMTPD's 524 5.2.4) of another name *at the same
domain*. A refusal for another
reason (a 503 for a RCPT before MAIL, a 501 syntax error, relaying, policy, a temporary
4xx) or an address at another domain (refused because the server does not take mail for
that domain: a catch-all such as Haraka takes every name at its own) says nothing about who
exists.
"""

from __future__ import annotations

from smtpsh.protocol.replies import Reply

# The verbs whose answers can tell existing users from unknown ones.
VERBS = ("VRFY", "EXPN", "RCPT")
# The refusals that can mean "no such mailbox" (RFC 5321 §4.2.3): not 500-504 (syntax,
# order), 530 (TLS or AUTH first), 552 (size) or 554 (transaction failed). And 524, no
# RFC 5321 code: OpenSMTPD answers a name that is neither a user nor an alias `524 5.2.4
# Mailing list expansion problem` (and accepts the others with 250).
_NO_SUCH_CODES = frozenset({524, 550, 551, 553})
# Enhanced codes of a refusal about the mailbox (RFC 3463 §3.2, §3.3): bad mailbox, other
# address status, moved; the address expands to nothing (5.2.4, as OpenSMTPD says it). Not
# 5.1.2 (the domain), 5.1.3 (syntax), 5.1.8 (the sender), nor 5.2.1/5.2.2 (a mailbox that
# exists but is disabled or full).
_NO_SUCH_ENHANCED = frozenset({"5.1.0", "5.1.1", "5.1.6", "5.2.4"})
# Wording about relaying/policy: refused for another reason.
_OTHER_REASONS = ("relay", "policy", "denied", "authentication", "not permitted", "syntax")


class Answer:
    __slots__ = ("argument", "code", "line")

    def __init__(self, line: str, code: int, argument: str) -> None:
        self.line, self.code, self.argument = line, code, argument


def _about_existence(reply: Reply) -> bool:
    """A refusal that is about the mailbox, as far as its codes and words tell."""
    if reply.code not in _NO_SUCH_CODES:
        return False
    if reply.enhanced is not None and reply.enhanced not in _NO_SUCH_ENHANCED:
        return False
    text = reply.text.lower()
    return not any(word in text for word in _OTHER_REASONS)


def _domain(argument: str) -> str:
    """The domain an argument names ('' for a bare name): only names at the same domain are
    compared, since a refusal at another is about the domain."""
    address = argument.split("<", 1)[-1].split(">", 1)[0].strip()
    return address.rpartition("@")[2].lower() if "@" in address else ""


class Contrasts:
    """Remembers the last success and the last refusal per verb and domain; ``note``
    compares."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, int], Answer] = {}

    def note(self, verb: str, line: str, reply: Reply) -> str | None:
        verb = verb.upper()
        if verb not in VERBS or reply.klass not in (2, 5):
            return None
        if reply.klass == 5 and not _about_existence(reply):
            return None
        argument = line.split(None, 1)[1].strip() if " " in line.strip() else ""
        if verb == "RCPT":
            argument = argument.split(">", 1)[0] + ">" if ">" in argument else argument
        domain = _domain(argument)
        other = self._seen.get((verb, domain, 7 - reply.klass))  # 2 <-> 5
        self._seen[(verb, domain, reply.klass)] = Answer(line, reply.code, argument)
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

"""Completion: verbs, meta-commands, addresses seen before, and the ESMTP parameters and
AUTH mechanisms the server advertised (so completion teaches what this server supports).

A completion is inserted into the line and drawn in the menu by prompt_toolkit, which
passes bidi overrides and other invisible characters through: a word from outside (the
server's EHLO, an address from a message file or the address book) that holds one of them
is not offered at all (smtpsh.output.safe.is_safe)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from smtpsh.output.safe import is_safe
from smtpsh.protocol.commands import (
    COMMANDS,
    XCLIENT_ATTRIBUTES,
    XFORWARD_ATTRIBUTES,
    parameters_for,
)
from smtpsh.protocol.connection import verb_of
from smtpsh.protocol.session import Session, State
from smtpsh.shell.metacommands import META, load_features

# Verbs whose argument is an address in <...>, and the text that precedes it.
_ADDRESS_VERBS = {"MAIL": "MAIL FROM:", "RCPT": "RCPT TO:", "VRFY": "VRFY ", "EXPN": "EXPN "}


class SmtpCompleter(Completer):
    def __init__(
        self,
        session: Callable[[], Session],
        helo_name: Callable[[], str],
        remembered: Callable[[], list[str]] | None = None,
    ) -> None:
        self._session = session
        self._helo_name = helo_name
        # Addresses used with this server before (other connections, other sessions).
        self._remembered = remembered or (lambda: [])

    def get_completions(self, document: Document, event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        session = self._session()
        if session.state is State.DATA:
            return
        if text.lower().startswith("/auth ") and text.count(" ") == 1:
            word = text[len("/auth ") :]
            yield from _mechanisms(word, session)
            return
        if text.lower().startswith(("/xclient ", "/xforward ")):
            word = document.get_word_before_cursor(WORD=True)
            yield from self._forward_attributes(text, word, session)
            return
        if text.startswith("/"):
            yield from self._meta(text)
            return
        if text.lower().startswith("help "):
            yield from self._verbs(text[5:], include_all=True)
            return
        if " " not in text.lstrip() and ":" not in text:
            yield from self._verbs(text, include_all=False)
            return
        verb = verb_of(text)
        word = document.get_word_before_cursor(WORD=True)
        if verb in ("XCLIENT", "XFORWARD"):
            yield from self._forward_attributes(text, word, session)
            return
        if verb in ("EHLO", "HELO", "LHLO") and text.count(" ") == 1:
            name = self._helo_name()
            if name.lower().startswith(word.lower()):
                yield Completion(name, -len(word), display_meta="the name --helo gives")
            return
        if verb == "AUTH" and text.count(" ") == 1:
            yield from _mechanisms(word, session)
            return
        if verb in _ADDRESS_VERBS:
            yield from self._address_or_parameter(verb, text, word, session)

    def _forward_attributes(self, text: str, word: str, session: Session) -> Iterable[Completion]:
        """XCLIENT/XFORWARD NAME=… ADDR=…: the attributes the server advertised, each once."""
        verb = "XFORWARD" if verb_of(text.lstrip("/")) == "XFORWARD" else "XCLIENT"
        if "=" in word:
            return
        table = XCLIENT_ATTRIBUTES if verb == "XCLIENT" else XFORWARD_ATTRIBUTES
        offered = session.extensions.get(verb, "").upper().split() or list(table)
        used = {part.split("=")[0].upper() for part in text.split()[1:] if "=" in part}
        for name in offered:
            if name in used or not name.startswith(word.upper()) or not is_safe(name):
                continue
            where = "advertised" if session.extensions.get(verb) else "not advertised yet"
            yield Completion(
                f"{name}=", -len(word), display_meta=f"[{where}] {table.get(name, '')}"
            )

    def _meta(self, text: str) -> Iterable[Completion]:
        load_features()
        for name, command in sorted(META.items()):
            if name.startswith(text.lower()):
                yield Completion(name, -len(text), display_meta=command.summary)

    def _verbs(self, typed: str, *, include_all: bool) -> Iterable[Completion]:
        session = self._session()
        upper = typed.upper()
        for verb, info in COMMANDS.items():
            insert = verb if include_all else info.insert
            if not insert.upper().startswith(upper) and not verb.startswith(upper):
                continue
            meta = info.summary
            if info.extension and info.extension not in session.extensions and session.esmtp:
                meta = f"(not advertised) {meta}"
            # Keep the user's case: 'mai' completes to 'mail from:'.
            shown = insert.lower() if typed and typed == typed.lower() else insert
            yield Completion(shown, -len(typed), display=insert, display_meta=meta)

    def _address_or_parameter(
        self, verb: str, text: str, word: str, session: Session
    ) -> Iterable[Completion]:
        after_verb = (
            text[len(_ADDRESS_VERBS[verb]) :]
            if text.upper().startswith(_ADDRESS_VERBS[verb].upper())
            else None
        )
        if after_verb is None:
            return
        if ">" not in after_verb:
            # Inside (or at the start of) the address.
            typed = after_verb.lstrip("<")
            known = list(session.addresses_seen)
            known += [a for a in self._remembered() if a not in known]
            for address in known:
                if address.lower().startswith(typed.lower()) and is_safe(address):
                    yield Completion(f"<{address}>", -len(after_verb), display_meta="used before")
            if verb == "MAIL" and not after_verb:
                yield Completion("<>", 0, display_meta="null sender (bounces, RFC 5321 §4.5.5)")
            return
        if verb not in ("MAIL", "RCPT"):
            return
        if "=" in word:
            keyword, _, value = word.partition("=")
            for param in parameters_for(verb, session.extensions):
                if param.keyword == keyword.upper():
                    for choice in param.values:
                        if choice.startswith(value.upper()):
                            yield Completion(choice, -len(value), display_meta=param.summary)
            return
        used = {part.split("=")[0].upper() for part in after_verb.split(">", 1)[1].split()}
        for param in parameters_for(verb, session.extensions):
            if param.keyword in used or not param.keyword.startswith(word.upper()):
                continue
            insert = param.keyword + ("=" if param.takes_value else "")
            meta = f"[{param.extension}] {param.summary}"
            yield Completion(insert, -len(word), display_meta=meta)


def _mechanisms(word: str, session: Session) -> Iterable[Completion]:
    """AUTH's and /auth's mechanism: those the server advertised."""
    for mech in session.auth_mechanisms:
        if mech.startswith(word.upper()) and is_safe(mech):
            yield Completion(mech, -len(word), display_meta="advertised")

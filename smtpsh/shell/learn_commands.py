"""Learning the dialogue: ``/explain`` (a reply at length, with what to try next) and
``/tour`` (a guided first session on the --sandbox practice server).

The tour checks each line the learner types *before* it is sent (a wrong command is
explained, not sent), sends it exactly as typed, and explains the reply. Its steps and
the texts about common reply wordings are tables below, not code.
"""

from __future__ import annotations

import base64
import re
import shutil
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from smtpsh.protocol.codes import explain
from smtpsh.protocol.connection import decode_challenge
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import State
from smtpsh.shell.metacommands import meta

if TYPE_CHECKING:
    from smtpsh.shell.app import Shell

# --- /explain ----------------------------------------------------------------------------

# What a reply's *text* tells beyond its codes: common wordings of real MTAs (Postfix,
# Exim, Microsoft, Google) -> a paragraph for learners. First match wins, so the specific
# wordings come before the general ones ("Recipient address rejected: Greylisted").
TEXT_NOTES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), note)
    for pattern, note in (
        (
            r"relay(ing)? (access )?(denied|not permitted|prohibited)|unable to relay"
            r"|not permitted to relay|relay not permitted",
            "The server said so in words: relaying denied. This refusal is the correct "
            "behaviour — a server that relays for anyone (an open relay) is found and abused "
            "for spam within hours. Its own users relay by authenticating, normally on the "
            "submission port 587 after STARTTLS (smtpsh HOST:587 --starttls, then /auth). "
            "`smtpsh relay HOST` runs the 16 classic open-relay tests against a server.",
        ),
        (
            r"must issue a starttls|starttls first|encryption required|tls required",
            "This server wants the connection encrypted before it goes on. Send STARTTLS, "
            "then EHLO again (RFC 3207 §4.2: the server forgets everything from before TLS), "
            "then repeat the command.",
        ),
        (
            r"greylist",
            "Greylisting: the server refuses the first attempt from an unknown client on "
            "purpose, because spam software rarely retries. A real MTA retries after a few "
            "minutes and is then accepted; so can you.",
        ),
        (
            r"helo command rejected|need fully-qualified hostname|invalid helo|bad helo",
            "The server does not like the name you gave in EHLO/HELO. Use a fully-qualified "
            "host name that resolves in DNS (ideally your IP's PTR name): /reconnect, then "
            "EHLO with that name.",
        ),
        (
            r"blocked using|listed (at|on|in)|spamhaus|dnsbl|blocklist|blacklist",
            "Your client's IP address is on a DNS blocklist the server consults. Nothing in "
            "the dialogue will change that: the address must be delisted, or mail must go "
            "through another server (your provider's submission server).",
        ),
        (
            r"\bspf\b",
            "SPF (RFC 7208): the sender domain publishes which IP addresses may send its "
            "mail, and yours is not among them. `smtpsh dns DOMAIN` shows the SPF record.",
        ),
        (
            r"\bdmarc\b|\bdkim\b",
            "DMARC (RFC 7489) failed: the message's From: domain did not pass SPF or DKIM in "
            "an aligned way. `smtpsh dns DOMAIN` shows the domain's DMARC policy.",
        ),
        (
            r"message size exceeds|too big|size limit|message too large",
            "The message is larger than the server takes. EHLO's SIZE line gives the limit; "
            "MAIL FROM:<...> SIZE=n announces a size up front.",
        ),
        (
            r"improper use of smtp command pipelining",
            "Postfix saw a command before it had answered the previous one, although it "
            "did not offer PIPELINING (or the command may not be pipelined). Wait for each "
            "reply before typing the next command.",
        ),
        (
            r"bare <?(lf|cr)>?|bare newline",
            "The server refuses line endings other than CRLF, which is its defence against "
            "SMTP smuggling (CVE-2023-51764). smtpsh always sends CRLF unless /raw is on.",
        ),
        (
            r"authentication required|auth(entication)? (is )?required|must authenticate",
            "This server only takes mail from authenticated users here. After STARTTLS, EHLO "
            "lists the AUTH mechanisms; /auth (or AUTH PLAIN <base64>) logs in.",
        ),
        (
            r"user unknown|no such (user|mailbox)|unknown user|mailbox unavailable"
            r"|does not exist",
            "The server checked the recipient against its list of users while you were still "
            "talking to it (recipient validation). That is why the same answer to VRFY or "
            "RCPT can tell who exists: smtpsh enum uses it, and servers slow such clients "
            "down after a few errors.",
        ),
        (
            r"sender address rejected|domain not found|sender domain",
            "The server checked the MAIL FROM address: its domain must exist in DNS (MX or "
            "A record) so that bounces can be returned. Use a sender in a real domain.",
        ),
        (
            r"too many (errors|recipients|connections)|rate limit|try again later",
            "A limit was reached: come back later, or with fewer commands per connection.",
        ),
    )
)


def text_note(reply: Reply) -> str | None:
    text = " ".join(reply.lines)
    return next((note for pattern, note in TEXT_NOTES if pattern.search(text)), None)


def explanation(
    reply: Reply, verb: str | None = None, when: frozenset[str] = frozenset()
) -> list[str]:
    """Paragraphs explaining *reply* to ``verb`` (sent when the session was ``when``):
    codes.explain's, then what its wording adds."""
    paragraphs = explain(reply.code, reply.enhanced, verb=verb, text=reply.text,
                         when=when).splitlines()
    note = text_note(reply)
    if note is not None:
        # Keep "What to try next" last: it is what the reader acts on.
        last = paragraphs.pop() if paragraphs[-1].startswith("What to try next") else None
        paragraphs.append(note)
        if last is not None:
            paragraphs.append(last)
    return paragraphs


def wrap(paragraphs: list[str], indent: str = "  ") -> list[str]:
    width = max(40, min(100, shutil.get_terminal_size((100, 24)).columns - 2))
    lines: list[str] = []
    for paragraph in paragraphs:
        lines.extend(textwrap.wrap(paragraph, width, initial_indent=indent,
                                   subsequent_indent=indent) or [""])
    return lines


_CODE_ARGS = re.compile(r"^\s*([1-5][0-9][0-9])(?:\s+([245]\.\d{1,3}\.\d{1,3}))?\s*$")


@meta("/explain", "/explain [CODE [X.Y.Z]]",
      "explain the last reply (or a code) at length, with what to try next", "learning")
async def _explain(shell: Shell, args: str) -> None:
    if args.strip():
        match = _CODE_ARGS.match(args)
        if match is None:
            shell.error("usage: /explain, or /explain CODE [ENHANCED], e.g. /explain 550 5.1.1")
            return
        code, enhanced = int(match.group(1)), match.group(2)
        for line in wrap(explain(code, enhanced).splitlines(), ""):
            shell.say(line)
        return
    reply = shell.renderer.last_reply
    if reply is None:
        shell.error("no reply yet to explain; /explain CODE explains any code")
        return
    shell.say(f"{reply.wire_lines()[0]}" + (" ..." if len(reply.lines) > 1 else ""))
    for line in wrap(explanation(reply, shell.renderer.last_verb, shell.renderer.last_when)):
        shell.say(line)


# --- /tour -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of the tour. Texts are format strings over ``Tour.context()``."""

    name: str
    intro: str  # what to type, and why
    accept: str  # a regex the typed line must match (case-insensitive)
    hint: str  # shown when the line does not match and no mistake below does
    success: frozenset[int]  # reply codes that complete the step
    after: str  # said when the step succeeded
    mistakes: tuple[tuple[str, str], ...] = ()  # (regex, hint): common wrong lines
    retry: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    then: str = ""  # "data": message lines follow; "reconnect": part 2 starts
    reached: str = ""  # a Session flag that also completes it (done with /starttls, /auth)
    check: str = ""  # "enum": done outside the shell; /tour looks at what the server saw
    more: str = ""  # an earlier step whose lines may come again here (RCPT: more recipients)


_MAIL_MISTAKES = (
    (r"^MAIL\s+FROM:\s*[^<\s]", "put the address in angle brackets: MAIL FROM:<you@example.net>"),
    (r"^MAIL\s+FROM\s*<", "a colon goes after FROM: MAIL FROM:<you@example.net>"),
    (r"^MAIL\s+FROM\s+:", "no space before the colon: MAIL FROM:<you@example.net>"),
    (r"^MAIL(?!\s+FROM)", "MAIL is followed by FROM: and the address: MAIL FROM:<you@example.net>"),
)
_RCPT_MISTAKES = (
    (r"^RCPT\s+TO:\s*[^<\s]", "put the address in angle brackets: RCPT TO:<{first_address}>"),
    (r"^RCPT\s+TO\s*<", "a colon goes after TO: RCPT TO:<{first_address}>"),
    (r"^RCPT\s+TO\s+:", "no space before the colon: RCPT TO:<{first_address}>"),
    (r"^RCPT(?!\s+TO)", "RCPT is followed by TO: and the address: RCPT TO:<{first_address}>"),
)

TOUR: tuple[Step, ...] = (
    Step(
        name="EHLO",
        intro="Introduce yourself: EHLO and a name for your machine, e.g.  EHLO me.example\n"
              "EHLO (RFC 5321 §4.1.1.1) names the client and asks which extensions the server "
              "supports.",
        accept=r"^EHLO\s+\S+\s*$",
        hint="type EHLO, a space and a name, e.g.  EHLO me.example",
        mistakes=(
            (r"^HELO\b", "HELO is the old greeting and gets no list of extensions; the tour "
                         "wants EHLO:  EHLO me.example"),
            (r"^EHLO\s*$", "EHLO needs a name after it:  EHLO me.example"),
        ),
        success=frozenset({250}),
        after="250 and one line per extension: {extensions}. SIZE is the largest message it "
              "takes, PIPELINING lets a client send several commands before reading the "
              "replies, STARTTLS offers encryption. {auth_note}",
    ),
    Step(
        name="MAIL",
        intro="Start a message with the envelope sender, where bounces would go:\n"
              "  MAIL FROM:<you@example.net>\n"
              "The envelope is what servers route by; the From: header a reader sees is part of "
              "the message and may differ.",
        accept=r"^MAIL FROM:\s?<[^<>\s]*>(\s+\S+)*\s*$",
        hint="type  MAIL FROM:<you@example.net>",
        mistakes=_MAIL_MISTAKES,
        success=frozenset({250}),
        after="250: the sender <{sender}> is accepted and a mail transaction has begun. The "
              "server will now take recipients.",
    ),
    Step(
        name="RCPT",
        intro="Name a recipient:  RCPT TO:<{first_address}>\n"
              "Users of this server: {addresses}. (Try an unknown one, or one in another "
              "domain, to see how a server refuses — the tour waits for a 250.)",
        accept=r"^RCPT TO:\s?<[^<>\s]+>(\s+\S+)*\s*$",
        hint="type  RCPT TO:<{first_address}>",
        mistakes=_RCPT_MISTAKES,
        success=frozenset({250, 251}),
        after="250: <{recipient}> will get the message. Another RCPT TO line adds a "
              "recipient (a server must take at least 100), as many as you like; DATA when "
              "the envelope is complete.",
        retry=MappingProxyType({
            550: "That user does not exist here. Try one that does: {addresses}.",
            554: "That address is in another domain: passing mail there would be relaying, "
                 "which this server does only for its own users. Use an address "
                 "@{domain}.",
            501: "Check the address: RCPT TO:<{first_address}>",
        }),
    ),
    Step(
        name="DATA",
        intro="Another  RCPT TO:<...>  adds a recipient. When the envelope is complete, ask "
              "to send the message itself:  DATA",
        accept=r"^DATA\s*$",
        hint="type  DATA  (or  RCPT TO:<...>  for one more recipient)",
        success=frozenset({354}),
        more="RCPT",
        after="354: go ahead. Now type the message, one line at a time: header lines first "
              "(Subject: Hello), then an empty line, then the body. A line with a single . "
              "ends the message (a body line starting with . is sent as .. for you).",
        then="data",
    ),
    Step(
        name="message",
        intro="Type the message; end it with a line holding a single .",
        accept=r"",
        hint="",
        success=frozenset({250}),
        after="250 with a queue id ({queue_id}): the server has taken responsibility for the "
              "message (RFC 5321 §6.1) — it must now deliver it or send a bounce. /mailbox "
              "shows what the practice server received.",
    ),
    Step(
        name="QUIT",
        intro="End the session politely:  QUIT",
        accept=r"^QUIT\s*$",
        hint="type  QUIT",
        success=frozenset({221}),
        after="221: the server closes the connection. That was a whole SMTP session: banner, "
              "EHLO, MAIL, RCPT, DATA, QUIT.\n"
              "Part 2: encryption and logging in. The tour opens a new connection.",
        then="reconnect",
    ),
    Step(
        name="EHLO",
        intro="On the new connection, EHLO again:  EHLO me.example",
        accept=r"^EHLO\s+\S+\s*$",
        hint="type  EHLO me.example",
        mistakes=((r"^HELO\b", "the tour wants EHLO (HELO gets no extensions)"),),
        success=frozenset({250}),
        after="Look for STARTTLS in the list — and no AUTH: this server will not let a "
              "password cross the network in the clear.",
    ),
    Step(
        name="STARTTLS",
        intro="Ask to encrypt the connection:  STARTTLS  (RFC 3207)",
        accept=r"^STARTTLS\s*$",
        hint="type  STARTTLS",
        success=frozenset({220}),
        reached="tls",
        after="220: the server is ready, and smtpsh ran the TLS handshake (the lines above "
              "show the protocol, cipher and certificate). The server has now forgotten "
              "everything from before TLS (RFC 3207 §4.2): say EHLO again.",
    ),
    Step(
        name="EHLO",
        intro="EHLO once more, now over TLS:  EHLO me.example",
        accept=r"^EHLO\s+\S+\s*$",
        hint="type  EHLO me.example",
        success=frozenset({250}),
        after="Over TLS the list changed: AUTH {mechanisms} is offered now.",
    ),
    Step(
        name="AUTH",
        intro="Log in as {user} (password {password}). AUTH PLAIN sends both in one line:\n"
              "  AUTH PLAIN {plain}\n"
              "{plain} is base64 of \\0{user}\\0{password} — an encoding anyone can undo, not "
              "encryption: that is why TLS comes first. (AUTH LOGIN asks for the two one at "
              "a time instead.)",
        accept=r"^AUTH\s+(PLAIN|LOGIN)(\s+\S+)?\s*$",
        hint="type  AUTH PLAIN {plain}",
        mistakes=((r"^AUTH\s+\S+", "the tour shows PLAIN and LOGIN:  AUTH PLAIN {plain}"),),
        success=frozenset({235}),
        reached="authenticated",
        after="235: you are authenticated (the line was masked on screen and kept out of the "
              "history). This server would now relay mail for you to other domains.",
        retry=MappingProxyType({
            535: "Wrong credentials. Copy the line exactly:  AUTH PLAIN {plain}",
            334: "The server asks (in base64) for {challenge}. Type the base64 of your "
                 "answer: {user} is {user_b64}, {password} is {password_b64}.",
        }),
    ),
    Step(
        name="QUIT",
        intro="Finish with  QUIT",
        accept=r"^QUIT\s*$",
        hint="type  QUIT",
        success=frozenset({221}),
        after="That is the tour. Next: try VRFY and EXPN here, /explain after any reply, "
              "help VERB for any verb, and docs/primer.md for the whole story (MUA, MSA, MTA, "
              "SPF, DKIM, DMARC). /reconnect opens a new session.",
    ),
)


# The footprinting exercise, on `smtpsh --sandbox --scenario inlanefreight`: the banner,
# EHLO, VRFY by hand, a tool for a word list, the relay test, AUTH in clear by hand, then the
# dangerous settings found and the Postfix setting that fixes each (from the scenario file).
FOOTPRINT: tuple[Step, ...] = (
    Step(
        name="EHLO",
        intro="Ask what the server offers:  EHLO me.example",
        accept=r"^EHLO\s+\S+\s*$",
        hint="type  EHLO me.example",
        mistakes=((r"^HELO\b", "HELO gets no list of extensions; footprinting wants EHLO"),),
        success=frozenset({250}),
        after="Read the list as an attacker would: {extensions}. VRFY is advertised (users can "
              "be checked), and {auth_note_footprint}",
    ),
    Step(
        name="VRFY",
        intro="Ask about a user the exercise names:  VRFY robin",
        accept=r"^VRFY\s+\S+\s*$",
        hint="type  VRFY robin",
        success=frozenset({250, 252}),
        after="{code}: officially 252 means 'cannot verify the user, but will try to deliver' "
              "(RFC 5321 §3.5.3) — on its own it proves nothing. The meaning comes from the "
              "contrast with a name that cannot exist.",
        retry=MappingProxyType({550: "That name does not exist here; the exercise names robin."}),
    ),
    Step(
        name="VRFY",
        intro="Now a name that cannot exist:  VRFY zzyzx-nosuch",
        accept=r"^VRFY\s+\S+\s*$",
        hint="type  VRFY zzyzx-nosuch",
        success=frozenset({550}),
        after="550 5.1.1 User unknown — a different answer than for robin. So VRFY tells which "
              "users exist: a finding (Postfix: disable_vrfy_command = yes). Mind the tarpit: "
              "after {soft} errors stock Postfix waits a second before each reply, after "
              "{hard} it hangs up (421) — a tool has to stay under that.",
        retry=MappingProxyType({
            252: "That name exists here; try one that cannot, like zzyzx-nosuch.",
        }),
    ),
    Step(
        name="enum",
        intro="Let a tool do it for a word list. In another terminal, run\n"
              "  {enum_command}\n"
              "then type /tour here. (The practice server watches which names it is asked.)",
        accept=r"",
        hint="run  {enum_command}  in another terminal, then type /tour",
        success=frozenset(),
        check="enum",
        after="The server was asked {asked} names of the list; these exist: {found}. "
              "smtpsh enum compares each answer with one for a name that cannot exist, and "
              "stays under the tarpit by opening new connections.",
    ),
    Step(
        name="MAIL",
        intro="The relay test: mail from outside to outside. First a sender from elsewhere:\n"
              "  MAIL FROM:<test@example.net>",
        accept=r"^MAIL FROM:\s?<[^<>\s]*>(\s+\S+)*\s*$",
        hint="type  MAIL FROM:<test@example.net>",
        mistakes=_MAIL_MISTAKES,
        success=frozenset({250}),
        after="250: the sender is accepted (that alone means little).",
    ),
    Step(
        name="RCPT",
        intro="Now a recipient in a domain this server has nothing to do with:\n"
              "  RCPT TO:<relaytest@example.org>",
        accept=r"^RCPT TO:\s?<[^<>\s]+>(\s+\S+)*\s*$",
        hint="type  RCPT TO:<relaytest@example.org>",
        mistakes=tuple((p, h.replace("{first_address}", "relaytest@example.org"))
                       for p, h in _RCPT_MISTAKES),
        success=frozenset({250, 251}),
        after="250: it would carry mail from a stranger to a stranger — an open relay "
              "(here mynetworks = 0.0.0.0/0). smtpsh relay runs the 16 classic variants; "
              "a real test never needs DATA.",
        retry=MappingProxyType({
            454: "Refused: this server is not an open relay after all.",
            554: "Refused: this server is not an open relay after all.",
        }),
    ),
    Step(
        name="RSET",
        intro="Drop that transaction, nothing is sent:  RSET",
        accept=r"^RSET\s*$",
        hint="type  RSET",
        success=frozenset({250}),
        after="250: the envelope is gone; the session goes on.",
    ),
    Step(
        name="AUTH",
        intro="AUTH PLAIN by hand, still without TLS. Make the line with\n"
              "  /b64 encode \\0{user}\\0{password}\n"
              "then send  AUTH PLAIN  and what /b64 printed ({plain}).",
        accept=r"^AUTH\s+PLAIN\s+\S+\s*$",
        hint="type  AUTH PLAIN {plain}",
        mistakes=((r"^AUTH\s+\S+", "the exercise uses PLAIN:  AUTH PLAIN {plain}"),),
        success=frozenset({235}),
        after="235, and it crossed the network in clear: base64 is an encoding, anyone on "
              "the path can undo it (/b64 decode {plain}). That is 'AUTH offered before "
              "STARTTLS'.",
        retry=MappingProxyType({535: "Wrong credentials. Copy the line:  AUTH PLAIN {plain}"}),
    ),
    Step(
        name="STARTTLS",
        intro="What should have come first:  STARTTLS",
        accept=r"^STARTTLS\s*$",
        hint="type  STARTTLS",
        success=frozenset({220}),
        reached="tls",
        after="Encrypted now — but only because you asked: STARTTLS is optional here, so a "
              "client that never asks sends everything in clear.\n"
              "What the footprint found, and the Postfix setting that fixes each:\n"
              "{findings}",
    ),
)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Tour:
    """The learner's progress; its ``on_line`` is a Shell line hook while it runs."""

    def __init__(self, shell: Shell, steps: tuple[Step, ...] = TOUR, kind: str = "") -> None:
        self.shell = shell
        self.steps = steps
        self.kind = kind  # "" for the first tour, "footprint" for the exercise
        self.index = 0
        self.recipient = ""
        self.last_code = ""

    @property
    def step(self) -> Step:
        return self.steps[self.index]

    def context(self, reply: Reply | None = None) -> dict[str, str]:
        shell = self.shell
        sandbox = shell.sandbox
        assert sandbox is not None
        user, password = sandbox.credentials
        session = shell.session
        addresses = [f"{name}@{sandbox.domain}" for name in sandbox.users]
        auth = session.auth_mechanisms
        challenge = decode_challenge(reply) if reply is not None else None
        scenario = sandbox.scenario
        words = _wordlist(sandbox)
        asked = set(sandbox.queried)
        in_list = [w for w in words if w in asked]
        return {
            "code": str(reply.code) if reply is not None else self.last_code,
            "enum_command": (
                f"smtpsh enum 127.0.0.1:{sandbox.port} -U {scenario.wordlist_path()}"
            ),
            "asked": f"{len(in_list)} of {len(words)}",
            "found": ", ".join(w for w in in_list if w in sandbox.users) or "none",
            "soft": str(scenario.limits.soft_errors or "—"),
            "hard": str(scenario.limits.hard_errors or "—"),
            "findings": "\n".join(
                f"  {d.finding}: {d.fix}" for d in scenario.dangerous
            ) or "  (nothing: this scenario has no dangerous setting)",
            "auth_note_footprint": (
                f"AUTH {' '.join(auth)} is offered before STARTTLS: a password would cross the "
                "network in clear." if auth and not session.tls else
                "no AUTH is offered before STARTTLS."
            ),
            "domain": sandbox.domain,
            "addresses": ", ".join(addresses),
            "first_address": addresses[0] if addresses else f"alice@{sandbox.domain}",
            "user": user,
            "password": password,
            "plain": _b64(f"\0{user}\0{password}"),
            "user_b64": _b64(user),
            "password_b64": _b64(password),
            "extensions": ", ".join(session.extensions) or "none",
            "mechanisms": " ".join(auth) or "(none)",
            "auth_note": (
                f"AUTH {' '.join(auth)} is offered." if auth else
                "AUTH is not offered yet: this server wants encryption first."
            ),
            "sender": session.mail_from or "",
            "recipient": self.recipient,
            "queue_id": session.queue_id or "none given",
            "challenge": repr(challenge) if challenge is not None else "more",
        }

    def say(self, text: str, reply: Reply | None = None) -> None:
        for paragraph in text.format_map(self.context(reply)).split("\n"):
            # An indented paragraph is a line to type: shown as is, never re-wrapped.
            lines = [paragraph] if paragraph.startswith("  ") else wrap([paragraph], "")
            for line in lines:
                self.shell.say(line, "class:tour")

    @property
    def title(self) -> str:
        name = f"tour {self.kind}" if self.kind else "tour"
        return f"{name} {self.index + 1}/{len(self.steps)} · {self.step.name}"

    def announce(self) -> None:
        self.shell.say(self.title, "class:tour.title")
        self.say(self.step.intro)

    async def check_outside(self) -> None:
        """/tour during a step done outside the shell: go on once the server saw it done."""
        if self.step.check == "enum":
            sandbox = self.shell.sandbox
            assert sandbox is not None
            words = _wordlist(sandbox)
            if words and set(words) <= set(sandbox.queried):
                self.say(self.step.after)
                await self.advance()
                return
            self.say("Not yet: the practice server was asked {asked} names of the list. "
                     "Run  {enum_command}  in another terminal, then /tour again.")
            return
        self.announce()

    async def start(self) -> bool:
        shell = self.shell
        if self.kind == "footprint":
            self.shell.say("The footprinting exercise: find what this server gives away, the "
                           "way an authorised tester would. You type each command; the tour "
                           "checks it and explains what the answer reveals.", "class:tour")
        else:
            self.shell.say("A tour of an SMTP session on the practice server. You type each "
                           "command; the tour checks it before it is sent and explains the "
                           "reply.", "class:tour")
        self.shell.say("/tour shows the current step again, /tour stop leaves, help VERB "
                       "explains a verb.", "class:tour")
        fresh = shell.client.connected and shell.session.state is State.GREETED
        if not fresh and not await shell.reconnect():
            return False
        self.explain_banner()
        self.announce()
        return True

    def explain_banner(self) -> None:
        banner = self.shell.session.banner
        text = banner.wire_lines()[0] if banner is not None else "(no banner)"
        if self.kind == "footprint":
            self.say(f"First, the banner:  {text}\n"
                     "Besides the host name it names the software and its version — "
                     "'InFreight ESMTP v2.11'. That is a finding: it tells an attacker which "
                     "exploits to try (Postfix: smtpd_banner = $myhostname ESMTP).")
            return
        self.say(f"The server spoke first, with its banner:  {text}\n"
                 "220 means 'service ready'; the words after the code are free text, here the "
                 "server's name. A client waits for the banner before it sends anything "
                 "(RFC 5321 §3.1).")

    async def on_line(self, line: str) -> bool:
        """A line the learner typed. True: the tour handled it (sent it, or explained why not)."""
        shell = self.shell
        conn = shell.client.conn
        if not conn.in_data and (line.startswith("/") or line.lower().startswith("help ")):
            return False  # shell commands (/status, /mailbox, /explain ...) work as usual
        if not shell.client.connected:
            self.stop("the connection closed; /tour starts again")
            return False
        if self.step.reached and getattr(shell.session, self.step.reached):
            # Done another way (/starttls, /auth): explain it, then judge the line anew.
            self.say(self.step.after)
            await self.advance()
            if "tour" not in shell.extra:
                return False
        if self.step.name == "message" and conn.in_data:
            if line != ".":
                await shell.client.send_data_line(line)
                return True
            await self.judge(await shell.guard(shell.client.end_data()))
            return True
        earlier = self.earlier(line)
        if earlier is not None:  # one more of an earlier step's lines (another RCPT)
            reply = await shell.send_command(line)
            if reply is not None:
                self.judge_more(earlier, reply)
            return True
        if not conn.in_auth:
            problem = self.check(line)
            if problem is not None:
                shell.warn(f"not sent: {problem}")
                return True
        reply = await shell.send_command(line)
        if reply is not None:
            await self.judge(reply)
        return True

    def earlier(self, line: str) -> Step | None:
        """The earlier step this line repeats, when this step takes more of its lines (at
        DATA, another RCPT adds a recipient as on a real server); None otherwise."""
        if not self.step.more:
            return None
        for step in self.steps[: self.index]:
            if step.name == self.step.more and re.match(step.accept, line, re.IGNORECASE):
                return step
        return None

    def judge_more(self, step: Step, reply: Reply) -> None:
        """The reply to one more line of ``step``: the tour stays where it is."""
        self.last_code = str(reply.code)
        recipients = self.shell.session.recipients
        if reply.code in step.success:
            added = (recipients[-1] if recipients else "").replace("{", "{{").replace("}", "}}")
            self.say(f"{reply.code}: <{added}> is added: the message will go to "
                     f"{len(recipients)} recipients. Another RCPT TO adds one more; DATA "
                     "when the envelope is complete.", reply)
            return
        retry = step.retry.get(reply.code)
        meaning = explain(reply.code, reply.enhanced).splitlines()[1:-1]
        self.say(f"Not this one: {' '.join(meaning)} The recipients accepted before still "
                 f"stand. " + (retry or "") + " (/explain tells more.)", reply)

    def check(self, line: str) -> str | None:
        """Why *line* is not what this step wants (None: send it)."""
        step = self.step
        if re.match(step.accept, line, re.IGNORECASE):
            return None
        context = self.context()
        typed = line.split()[0].upper() if line.split() else "an empty line"
        if typed == step.name or (step.name == "EHLO" and typed == "HELO"):
            for pattern, hint in step.mistakes:
                if re.match(pattern, line, re.IGNORECASE):
                    return hint.format_map(context)
        if step.more and typed == step.more:  # a mistyped RCPT at DATA: RCPT's own hints
            for earlier in self.steps[: self.index]:
                if earlier.name == step.more:
                    for pattern, hint in earlier.mistakes:
                        if re.match(pattern, line, re.IGNORECASE):
                            return hint.format_map(context)
        return f"the tour is at {step.name}, not {typed}: {step.hint.format_map(context)}"

    async def judge(self, reply: Reply) -> None:
        step = self.step
        self.last_code = str(reply.code)
        if reply.code in step.success:
            if step.name == "RCPT":
                self.recipient = self.shell.session.recipients[-1] if (
                    self.shell.session.recipients) else ""
            self.say(step.after, reply)
            await self.advance()
            return
        if not self.shell.client.connected:
            self.stop("the connection closed; /tour starts again")
            return
        retry = step.retry.get(reply.code)
        if reply.code == 334 and retry is not None:  # AUTH LOGIN asks for more
            self.say(retry, reply)
            return
        # Short here (what the code means, then what to do); /explain has the long story.
        meaning = explain(reply.code, reply.enhanced).splitlines()[1:-1]
        self.say(f"Not this time: {' '.join(meaning)}", reply)
        if step.name == "message":  # the message was refused: DATA has to start again
            self.index -= 1
            self.say("The message was not taken. (/explain tells more.)")
            self.announce()
            return
        self.say((retry or f"Try again: {step.hint}") + " (/explain tells more.)", reply)

    async def advance(self) -> None:
        then = self.step.then
        self.index += 1
        if self.index >= len(self.steps):
            self.stop("tour complete")
            return
        if then == "reconnect":
            if not await self.shell.reconnect():
                self.stop("could not reconnect; /tour starts again")
                return
            self.explain_banner()
        if then != "data":
            self.announce()
        else:
            self.shell.say(self.title, "class:tour.title")

    def stop(self, why: str) -> None:
        hooks = self.shell.line_hooks
        if self.on_line in hooks:
            hooks.remove(self.on_line)
        self.shell.extra.pop("tour", None)
        self.shell.info(f"tour: {why}")


def _wordlist(sandbox: object) -> list[str]:
    """The names of the scenario's shipped word list (comments and blank lines left out)."""
    path = getattr(getattr(sandbox, "scenario", None), "wordlist_path", lambda: None)()
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    return [w.strip().lower() for w in text.splitlines() if w.strip() and not w.startswith("#")]


@meta("/tour", "/tour [footprint|stop]",
      "a guided first session on the --sandbox server, checked step by step; "
      "footprint: the footprinting exercise (--scenario inlanefreight)", "learning")
async def _tour(shell: Shell, args: str) -> None:
    word = args.strip().lower()
    tour = shell.extra.get("tour")
    if word == "stop":
        if isinstance(tour, Tour):
            tour.stop("stopped; /tour starts again")
        else:
            shell.error("no tour is running")
        return
    if word not in ("", "footprint"):
        shell.error("usage: /tour [footprint] (start, or show the current step) or /tour stop")
        return
    if isinstance(tour, Tour):
        await tour.check_outside()
        return
    if shell.sandbox is None:
        how = "smtpsh --sandbox --scenario inlanefreight" if word else "smtpsh --sandbox"
        shell.error(f"/tour runs on the practice server: start it with  {how}")
        return
    if word == "footprint" and shell.sandbox.scenario.name != "inlanefreight":
        shell.error("/tour footprint runs on the exercise's server: start it with  "
                    "smtpsh --sandbox --scenario inlanefreight")
        return
    if not word and shell.sandbox.scenario.name != "default":
        shell.error("/tour walks the default practice server (smtpsh --sandbox); on this "
                    "scenario try  /tour footprint")
        return
    tour = Tour(shell, FOOTPRINT, "footprint") if word else Tour(shell)
    shell.extra["tour"] = tour
    shell.line_hooks.append(tour.on_line)
    if not await tour.start():
        tour.stop("could not connect to the practice server")

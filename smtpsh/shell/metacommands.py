"""Shell meta-commands (lines starting with '/'), held in one registry.

Feature modules add their own commands with the ``meta`` decorator; the shell imports
them lazily (see ``FEATURE_MODULES``) so start-up stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

from smtpsh.protocol.record import Record
from smtpsh.shell.nextstep import next_step

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from smtpsh.protocol.session import Session
    from smtpsh.shell.app import Shell

Handler = Callable[["Shell", str], Awaitable[None]]


class MetaCommand(Record):
    __slots__ = ("group", "handler", "name", "summary", "usage")

    def __init__(
        self, name: str, usage: str, summary: str, handler: Handler, group: str = "session"
    ) -> None:
        self.name = name  # "/help"
        self.usage = usage  # "/help [VERB]"
        self.summary = summary
        self.handler = handler
        self.group = group


META: dict[str, MetaCommand] = {}

# Modules that register further meta-commands when imported (one per feature).
FEATURE_MODULES: list[str] = [
    "smtpsh.shell.tls_commands",
    "smtpsh.shell.dns_commands",
    "smtpsh.shell.record_commands",
    "smtpsh.shell.audit_commands",
    "smtpsh.shell.learn_commands",
    "smtpsh.shell.compose_commands",
    "smtpsh.shell.forward_commands",
]

# Typed verbs a feature handles itself instead of sending the line (e.g. BDAT typed by
# hand, which must be followed by its octets); registered with ``verb_hook``.
VERB_HOOKS: dict[str, Handler] = {}
# Lines /help prints after the list of commands, and extra lines for `help VERB`.
HELP_NOTES: list[str] = []
VERB_NOTES: dict[str, list[str]] = {}


def meta(
    name: str, usage: str, summary: str, group: str = "session"
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        META[name] = MetaCommand(name, usage, summary, handler, group)
        return handler

    return register


def verb_hook(verb: str) -> Callable[[Handler], Handler]:
    assert verb.upper() in HOOKED_VERBS, f"add {verb} to HOOKED_VERBS"

    def register(handler: Handler) -> Handler:
        VERB_HOOKS[verb.upper()] = handler
        return handler

    return register


# Feature modules imported so far: one is counted only once its import has succeeded.
_loaded: set[str] = set()
# Those whose import failed, and why (one line each): said instead of "unknown command".
FAILED: dict[str, str] = {}

# Verbs a feature intercepts when typed, and the module whose import registers the
# handler: known without importing it, so a script that never types them never pays.
HOOKED_VERBS: dict[str, str] = {"BDAT": "smtpsh.shell.compose_commands"}


def load_features() -> dict[str, str]:
    """Import the feature modules (registering their commands) on first need; returns the
    ones that failed, each with why (also kept in FAILED). The others load all the same, and
    a failed one is tried again next time instead of leaving the registry half-filled.

    Not at start-up: some pull in prompt_toolkit dialogs or the email package, which
    would cost a piped one-shot run more than its whole dialogue."""
    for module in FEATURE_MODULES:
        if module in _loaded:
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:  # a broken feature must not take the shell down with it
            FAILED[module] = f"{type(exc).__name__}: {exc}"
            continue
        FAILED.pop(module, None)
        _loaded.add(module)
    return dict(FAILED)


def hooked_verb(verb: str) -> Handler | None:
    """The feature's handler for a typed verb (e.g. BDAT), if one takes it over."""
    module = HOOKED_VERBS.get(verb)
    if module is None:
        return None
    importlib.import_module(module)
    return VERB_HOOKS.get(verb)


def find(word: str) -> MetaCommand | None:
    """Exact name, or an unambiguous prefix ('/rec' -> '/reconnect' if alone)."""
    command, _ = resolve(word)
    return command


def resolve(word: str) -> tuple[MetaCommand | None, str]:
    """The command ``word`` names (exactly, or as the prefix of one name only), or None and
    one line saying why not: unknown, ambiguous (which names it could be), or the feature
    that would have it failed to load."""
    failed = load_features()
    word = word.lower()
    if word in META:
        return META[word], ""
    matches = sorted(name for name in META if name.startswith(word))
    if len(matches) == 1:
        return META[matches[0]], ""
    if matches:
        return None, f"ambiguous shell command {word}: {', '.join(matches)}"
    why = f"unknown shell command {word}; /help lists them"
    if failed:
        broken = "; ".join(f"{module}: {reason}" for module, reason in failed.items())
        why += f" (some could not be loaded: {broken})"
    return None, why


def verb_help(word: str, session: Session) -> list[str]:
    """`help VERB`: syntax, meaning, RFC, example — from the command table."""
    from smtpsh.protocol.commands import COMMANDS, lookup
    from smtpsh.protocol.rules import extension_status

    load_features()  # features add notes (VERB_NOTES)
    info = lookup(word)
    if info is None:
        known = ", ".join(sorted(COMMANDS))
        return [f"unknown verb '{word}'. Known verbs: {known}"]
    lines = [
        f"{info.verb} — {info.summary}",
        f"  syntax:  {info.syntax}",
        f"  example: {info.example}",
        f"  defined: {info.rfc}",
    ]
    if info.extension:
        state = extension_status(session, info.extension)
        lines.append(f"  needs:   the {info.extension} extension — {state}")
    lines.extend("  " + part for part in info.description.splitlines())
    lines.extend(VERB_NOTES.get(info.verb, []))
    return lines


# --- the core meta-commands ----------------------------------------------------------


HELP_COLUMN = 28  # where /help's summaries start; a longer usage gets a line of its own


def help_lines() -> list[str]:
    """/help (and `help` alone): how lines are taken, then the commands by group."""
    lines = [
        "Lines that do not start with '/' go to the server as typed (CRLF added).",
        "A paste of several lines runs each line in turn, as if typed and entered; the text"
        " after its last line break waits at the prompt. At a question (/auth's user and"
        " password, /compose's), the next pasted line answers it and the lines after answer"
        " the next questions, then run as commands; a paste made at a question does the same"
        " from its first line. Whether to send a password without TLS is always typed.",
        "`help` and `help VERB` (any case) explain here; `/send-verb HELP [TOPIC]` sends the"
        " real HELP to the server.",
    ]
    groups: dict[str, list[MetaCommand]] = {}
    for command in META.values():
        groups.setdefault(command.group, []).append(command)
    for group, commands in groups.items():
        lines.append(f"{group}:")
        for command in sorted(commands, key=lambda c: c.name):
            if len(command.usage) > HELP_COLUMN - 4:
                lines.append(f"  {command.usage}")
                lines.append(" " * HELP_COLUMN + command.summary)
            else:
                lines.append(f"  {command.usage:<{HELP_COLUMN - 2}}{command.summary}")
    lines.extend(HELP_NOTES)
    lines.extend(
        f"! the commands of {module} could not be loaded: {reason}"
        for module, reason in FAILED.items()
    )
    return lines


def is_local_help(line: str) -> bool:
    """`help`, `HELP`, `Help VRFY`: answered by smtpsh, never sent (see /send-verb)."""
    words = line.split()
    return bool(words) and words[0].lower() == "help"


def local_help(shell: Shell, line: str) -> None:
    words = line.split()
    load_features()
    for text in verb_help(words[1], shell.session) if len(words) > 1 else help_lines():
        shell.say(text)


@meta("/help", "/help [VERB]", "list shell commands, or explain an SMTP verb", "shell")
async def _help(shell: Shell, args: str) -> None:
    local_help(shell, f"help {args}")


@meta("/send-verb", "/send-verb LINE", "send LINE to the server as is, e.g. HELP", "session")
async def _send_verb(shell: Shell, args: str) -> None:
    if not args.strip():
        shell.error("usage: /send-verb LINE, e.g. /send-verb HELP (the server's own help)")
        return
    await shell.send_command(args.strip())


@meta("/quit", "/quit", "send QUIT if connected and leave (also Ctrl-D)", "shell")
async def _quit(shell: Shell, args: str) -> None:
    await shell.quit()


RECONNECT_USAGE = "/reconnect [PORT] [--tls|--starttls|--plain] [--cafile F] [--no-verify]"


# What applies /reconnect's options: registered by tls_commands (the TLS options need ssl
# and an option parser, loaded with the features); False: nothing changed, a line said why.
RECONNECT_OPTIONS: list[Callable[[Shell, str], bool]] = []


@meta("/reconnect", RECONNECT_USAGE, "open a new connection, optionally changing how")
async def _reconnect(shell: Shell, args: str) -> None:
    if args.strip():
        load_features()
        if not all(apply(shell, args) for apply in RECONNECT_OPTIONS):
            return
    await shell.reconnect()


@meta("/annotate", "/annotate on|off", "show or hide the meaning of each reply", "shell")
async def _annotate(shell: Shell, args: str) -> None:
    value = args.strip().lower()
    if value not in ("on", "off", ""):
        shell.error("usage: /annotate on|off")
        return
    if value:
        shell.renderer.annotate_on = value == "on"
    shell.say(f"annotations {'on' if shell.renderer.annotate_on else 'off'}")


@meta("/timing", "/timing on|off", "show how long each reply took (tarpits, greylisting)",
      "shell")
async def _timing(shell: Shell, args: str) -> None:
    value = args.strip().lower()
    if value not in ("on", "off", ""):
        shell.error("usage: /timing on|off")
        return
    if value:
        shell.renderer.timing = value == "on"
    shell.say(f"timing {'on: each annotation ends with +N ms' if shell.renderer.timing else 'off'}")


@meta("/status", "/status", "the session: server, TLS, AUTH, step, extensions")
async def _status(shell: Shell, args: str) -> None:
    session = shell.session
    shell.say(f"server:  {shell.client.address} ({session.server_name or 'no banner yet'})")
    connected = shell.link.connected
    tls = session.tls or shell.options.implicit_tls
    hint = next_step(session, connected=connected, tls=tls)
    shell.say(f"state:   {session.state.value} — next: {hint}")
    info = shell.client.tls_info
    if info is not None and shell.client.connected:
        checked = "verified" if info.verified else "NOT verified (/cert says why)"
        shell.say(f"TLS:     {info.version}, {info.cipher} · certificate {checked}")
    else:
        shell.say(f"TLS:     {'yes' if session.tls or shell.client.options.implicit_tls else 'no'}")
    shell.say(f"AUTH:    {'yes' if session.authenticated else 'no'}")
    if session.mail_from is not None:
        shell.say(f"MAIL:    <{session.mail_from}>  RCPT: {', '.join(session.recipients) or '-'}")
    if session.queue_id:
        shell.say(f"queued:  {session.queue_id}")
    if session.extensions:
        shell.say("extensions (from the EHLO reply):")
    for keyword, value in session.extensions.items():
        shell.say(f"  {keyword} {value}".rstrip())


@meta("/mailbox", "/mailbox [N]", "what the --sandbox server received; N: one, with its body",
      "sandbox")
async def _mailbox(shell: Shell, args: str) -> None:
    if shell.sandbox is None:
        shell.error("/mailbox works with --sandbox only")
        return
    word = args.strip()
    if word and not word.isdigit():
        shell.error("usage: /mailbox [N] (N: a message's number, to see it with its body)")
        return
    try:
        text = shell.sandbox.mailbox_text(int(word) if word else None)
    except ValueError as exc:
        shell.error(f"/mailbox: {exc}")
        return
    for line in text.splitlines():
        shell.say(line)

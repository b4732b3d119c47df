"""Encryption and authentication in the shell: /starttls, /cert, /auth, /b64, --starttls.

Secrets (passwords, tokens) come from a hidden prompt, a file or an environment variable,
never from the command line; they go to the server only, and what is shown, stored and
recorded is masked by the core (ClientConnection redacts every line of an AUTH exchange).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import re
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from smtpsh.inputfiles import first_problem
from smtpsh.output.dialogue import SENT_PREFIX
from smtpsh.output.safe import safe
from smtpsh.protocol.auth import (
    AUTO,
    MECHANISMS,
    AuthError,
    AuthExchange,
    Credentials,
    Mechanism,
    Step,
    by_strength,
    choose,
    mechanism,
    unavailable,
)
from smtpsh.protocol.codes import describe_basic
from smtpsh.protocol.errors import SmtpshError
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import State
from smtpsh.shell.metacommands import RECONNECT_OPTIONS, meta

if TYPE_CHECKING:
    from smtpsh.shell.app import Shell

EXTRA_KEY = "tls"  # Shell.extra[EXTRA_KEY] holds this feature's AuthOptions


@dataclass
class AuthOptions:
    """What the command line said about TLS and AUTH (never a secret itself)."""

    user: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    insecure_auth: bool = False
    starttls: bool = False  # upgrade right after the first EHLO, then EHLO again
    auth: str | None = None  # authenticate right after connecting (and --starttls)
    authzid: str = ""  # act as this identity (PLAIN, SCRAM)
    try_all: bool = False  # --auth-try-all: each offered mechanism in turn, each reported


def options_of(shell: Shell) -> AuthOptions:
    found = shell.extra.get(EXTRA_KEY)
    if not isinstance(found, AuthOptions):
        found = AuthOptions()
        shell.extra[EXTRA_KEY] = found
    return found


# --- command line (the options are declared in cli.py) ---------------------------------


def configure(shell: Shell, args: argparse.Namespace) -> str | None:
    """Apply the command-line options to ``shell``; returns a usage error, or None."""
    opts = AuthOptions(
        user=args.user,
        password_file=args.password_file,
        password_env=args.password_env,
        insecure_auth=args.insecure_auth,
        starttls=args.starttls,
        auth=args.auth,
        authzid=getattr(args, "authzid", None) or "",
        try_all=bool(getattr(args, "auth_try_all", False)),
    )
    if opts.password_file and opts.password_env:
        return "give --password-file or --password-env, not both"
    opts.auth = opts.auth.upper() if opts.auth else None
    if opts.auth and opts.auth != AUTO:
        found = mechanism(opts.auth)
        if found is None:
            return f"--auth {opts.auth}: smtpsh supports {', '.join(MECHANISMS)} (or auto)"
        if (missing := unavailable(found)) is not None:
            return f"--auth {opts.auth}: {missing}"
    if opts.try_all and opts.auth:
        return "--auth-try-all tries every offered mechanism: give it without --auth"
    if opts.try_all:
        opts.auth = AUTO
    if opts.starttls and shell.options.implicit_tls:
        return "--starttls and --tls (or port 465) exclude each other: TLS is already on"
    shell.extra[EXTRA_KEY] = opts
    if opts.starttls or opts.auth:
        shell.settings.on_connect.append(_on_connect)
    return None


async def _on_connect(shell: Shell) -> None:
    """--starttls and --auth: the opening of the session, done for the user."""
    opts = options_of(shell)
    if not await _opening(shell):
        return
    if opts.try_all and shell.client.connected:
        await _try_all(shell)
        return
    if opts.auth and shell.client.connected and not await authenticate(shell, opts.auth, opts.user):
        await _fail_closed(shell, "authentication failed", option="--auth")


async def _opening(shell: Shell) -> bool:
    """EHLO, and with --starttls STARTTLS and EHLO again; False (said) if that failed."""
    opts = options_of(shell)
    option = "--starttls" if opts.starttls else "--auth"
    greeting = "LHLO" if shell.session.lmtp else "EHLO"  # LMTP greets with LHLO
    reply = await send_shown(shell, f"{greeting} {shell.settings.helo}")
    if reply is None or reply.klass != 2:
        if reply is not None:
            await _fail_closed(
                shell, f"the server answered {reply.code} to {greeting}", option=option
            )
        return False
    if opts.starttls:
        if not shell.session.advertises("STARTTLS"):
            await _fail_closed(shell, "the server does not offer STARTTLS (not in its EHLO reply)")
            return False
        reply = await send_shown(shell, "STARTTLS")
        if reply is None or not shell.client.connected:
            return False  # the handshake failed: already said, connection closed
        if reply.code != 220:
            await _fail_closed(shell, f"the server answered {reply.code} to STARTTLS")
            return False
        await send_shown(shell, f"{greeting} {shell.settings.helo}")
    return True


async def _try_all(shell: Shell) -> None:
    """--auth-try-all: every offered mechanism smtpsh can do, strongest first, each on a
    session of its own (a server refuses a second AUTH after a success); then a summary.
    The session goes on either way (swaks' --auth-optional spirit)."""
    opts = options_of(shell)
    ranked = by_strength(shell.session.auth_mechanisms, authzid=bool(opts.authzid))
    if not ranked:
        _mech, why = choose(shell.session.auth_mechanisms, authzid=bool(opts.authzid))
        shell.warn(f"--auth-try-all: {why}; going on unauthenticated")
        return
    shell.info(f"--auth-try-all: trying {', '.join(m.name for m in ranked)}, strongest first")
    results: list[str] = []
    for i, found in enumerate(ranked):
        if i > 0 and (shell.session.authenticated or not shell.client.connected):
            shell.info(f"a new session for {found.name} (the server allows one AUTH a session)")
            if shell.client.connected:
                with contextlib.suppress(SmtpshError):
                    await shell.guard(shell.client.command("QUIT", timeout=5))
            await shell.client.close()
            shell.link = shell._new_client()
            try:
                await shell.guard(shell.link.open())
            except SmtpshError as exc:
                if not getattr(exc, "told", False):
                    shell.error(str(exc))
                results.append(f"{found.name}: not tried (reconnect failed)")
                break
            if not await _opening(shell):
                results.append(f"{found.name}: not tried (the opening failed)")
                break
        ok = await authenticate(shell, found.name, opts.user)
        results.append(f"{found.name}: {'accepted' if ok else 'FAILED'}")
    shell.info("--auth-try-all: " + "; ".join(results))


async def _fail_closed(shell: Shell, why: str, option: str = "--starttls") -> None:
    # What the options promised did not happen: never go on without it (a script would
    # otherwise send AUTH in clear, or mail unauthenticated).
    unless = {
        "--starttls": "not going on without TLS (drop --starttls to talk in clear)",
        "--auth": "not going on unauthenticated (drop --auth to go on without it)",
    }[option]
    shell.error(f"{option}: {why}; {unless}")
    if shell.client.connected:
        with contextlib.suppress(SmtpshError):
            await shell.guard(shell.client.command("QUIT", timeout=5))
        await shell.client.close()


# --- showing lines sent on the user's behalf --------------------------------------------


def _echo(shell: Shell, text: str) -> None:
    """In a terminal the renderer does not echo what is sent (the prompt shows it); lines a
    meta-command sends are shown here. Piped mode already echoes every sent line."""
    if shell.settings.interactive:
        shell.printer.emit([("class:sent", SENT_PREFIX + text)])


async def send_shown(shell: Shell, line: str) -> Reply | None:
    """A command sent for the user, shown as if typed."""
    if shell.client.connected:
        _echo(shell, line)
    return await shell.send_command(line)


def _decoded(shell: Shell, text: str) -> None:
    shell.printer.emit([("class:annotation", f"  ↳ {text}")])


async def _send_step(shell: Shell, step: Step) -> Reply:
    client = shell.client
    command = await client.send_line(step.line)
    # No await between sending and printing: the reply cannot be shown before these lines.
    _echo(shell, command.display)
    if step.shown != command.display:
        _decoded(shell, step.shown)
    event = await shell.guard(client.reply_to(command, waiting_for=command.display.split(" ")[0]))
    return event.reply


# --- /starttls and /cert ----------------------------------------------------------------


class _ArgsError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse for a shell command: a bad option is one line, never an exit."""

    def error(self, message: str) -> NoReturn:
        raise _ArgsError(f"{self.prog}: {message}")


STARTTLS_USAGE = "/starttls [--cafile FILE] [--no-verify] [--sni NAME]"


def _starttls_parser() -> _Parser:
    parser = _Parser(prog="/starttls", add_help=False, usage=STARTTLS_USAGE)
    parser.add_argument("--cafile", metavar="FILE")
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--sni", metavar="NAME")
    return parser


def _parse(parser: _Parser, shell: Shell, args: str) -> argparse.Namespace | None:
    try:
        return parser.parse_args(args.split())
    except _ArgsError as exc:
        shell.error(f"{exc}; usage: {parser.usage}")
        return None


def tls_context(
    shell: Shell, *, verify: bool, cafile: str | None, option_prefix: str
) -> ssl.SSLContext | None:
    """A context for --cafile/--no-verify given in the shell (None: a line said why not)."""
    from smtpsh.net.tls import TLSSettings, make_context

    problem = first_problem([(f"{option_prefix} --cafile", cafile)])
    if problem is None:
        try:
            return make_context(TLSSettings(verify=verify, cafile=cafile))
        except (OSError, ValueError, ssl.SSLError) as exc:
            problem = f"{option_prefix} --cafile {cafile}: not a PEM CA file ({exc})"
    shell.error(problem)
    return None


@meta("/starttls", STARTTLS_USAGE,
      "upgrade to TLS, show the certificate, send EHLO again", "tls")
async def _starttls(shell: Shell, args: str) -> None:
    opts = _parse(_starttls_parser(), shell, args)
    if opts is None:
        return
    client = shell.client
    if not client.connected:
        shell.error("not connected: /reconnect opens a new session")
        return
    if client.ssl_object is not None:
        shell.error("the connection is already encrypted (/cert shows the certificate)")
        return
    context = None
    if opts.cafile or opts.no_verify:
        context = tls_context(
            shell, verify=not opts.no_verify, cafile=opts.cafile, option_prefix="/starttls"
        )
        if context is None:
            return
    prediction = shell.session.predict("STARTTLS")
    if prediction is not None:
        shell.warn(f"expect {prediction.reply}: {prediction.reason} (sending anyway)")
    if opts.no_verify:
        shell.warn("--no-verify: the certificate will be shown but not checked")
    _echo(shell, "STARTTLS")
    shell.watch_outcome([] if prediction is None else [prediction])
    try:
        reply = await shell.guard(client.starttls(context, opts.sni))
    finally:
        shell.watch_outcome(None)
    if reply.code == 220 and client.ssl_object is not None and client.connected:
        # RFC 3207 §4.2: the server forgot the EHLO; AUTH and the rest need it again.
        shell.info("/starttls sends EHLO again for you")
        await send_shown(shell, ehlo_line(shell))


def ehlo_line(shell: Shell) -> str:
    """The EHLO to send again: the one the user sent last, else the configured name."""
    last = shell.extra.get("last_ehlo")
    greeting = "LHLO" if shell.session.lmtp else "EHLO"  # LMTP greets with LHLO
    return last if isinstance(last, str) else f"{greeting} {shell.settings.helo}"


# --- /reconnect's options --------------------------------------------------------------


def _reconnect_parser() -> _Parser:
    from smtpsh.shell.metacommands import RECONNECT_USAGE

    parser = _Parser(prog="/reconnect", add_help=False, usage=RECONNECT_USAGE)
    parser.add_argument("port", nargs="?", type=int)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--tls", action="store_true")
    mode.add_argument("--starttls", action="store_true")
    mode.add_argument("--plain", action="store_true")
    parser.add_argument("--cafile", metavar="FILE")
    verify = parser.add_mutually_exclusive_group()
    verify.add_argument("--no-verify", action="store_true")
    verify.add_argument("--verify", action="store_true")
    return parser


def apply_reconnect_options(shell: Shell, args: str) -> bool:
    """/reconnect's options change how this and later reconnects connect (as the same
    options on the command line would). False: nothing changed, a line said why."""
    opts = _parse(_reconnect_parser(), shell, args)
    if opts is None:
        return False
    if opts.port is not None and not 0 < opts.port < 65536:
        shell.error("/reconnect: the port must be a number from 1 to 65535")
        return False
    options = shell.options
    verify = options.verify
    verify = False if opts.no_verify else True if opts.verify else verify
    cafile = opts.cafile or _str_or_none(options.extra.get("cafile"))
    if opts.cafile or opts.no_verify or opts.verify:
        context = tls_context(shell, verify=verify, cafile=cafile, option_prefix="/reconnect")
        if context is None:
            return False
        options.ssl_context = context
        options.extra.update(verify=verify, cafile=cafile)
    if opts.port is not None:
        options.port = opts.port
    auth_opts = options_of(shell)
    if opts.tls or (opts.port == 465 and not (opts.starttls or opts.plain)):
        options.implicit_tls, auth_opts.starttls = True, False
    elif opts.starttls:
        options.implicit_tls, auth_opts.starttls = False, True
        if _on_connect not in shell.settings.on_connect:
            shell.settings.on_connect.append(_on_connect)
    elif opts.plain or opts.port is not None:
        options.implicit_tls = False
        auth_opts.starttls = auth_opts.starttls and not opts.plain
    if not (auth_opts.starttls or auth_opts.auth) and _on_connect in shell.settings.on_connect:
        shell.settings.on_connect.remove(_on_connect)
    return True


RECONNECT_OPTIONS.append(apply_reconnect_options)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


@meta("/cert", "/cert [pem]", "the server's certificate chain in detail (pem: as PEM)", "tls")
async def _cert(shell: Shell, args: str) -> None:
    client = shell.client
    info = client.tls_info or client.failed_tls
    if info is None:
        shell.error(
            "no TLS on this connection: STARTTLS (or /starttls) first, or connect with --tls"
        )
        return
    if args.strip().lower() == "pem":
        for cert in info.chain:
            for line in ssl.DER_cert_to_PEM_cert(cert.der).splitlines():
                shell.say(line)
        return
    if args.strip():
        shell.error("usage: /cert [pem]")
        return
    from smtpsh.net.certinfo import chain_lines  # loaded already by the TLS session

    for line in chain_lines(info):
        shell.say(line)


# --- /auth -----------------------------------------------------------------------------


@meta(
    "/auth",
    "/auth [MECH] [USER]",
    "authenticate (SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, NTLM, PLAIN, LOGIN, XOAUTH2); alone:"
    " the mechanisms offered, then the strongest of them",
    "auth",
)
async def _auth(shell: Shell, args: str) -> None:
    words = args.split()
    if not words or words[0].upper() == AUTO:
        if not words:
            _list_mechanisms(shell)
        if shell.session.auth_mechanisms:
            await _authenticate_pasted(shell, AUTO, words[1] if len(words) > 1 else None)
        return
    if words[0].startswith("-"):
        shell.say("usage: /auth [MECH] [USER]: the password is asked for (hidden), or comes")
        shell.say("  from --password-file / --password-env; /auth alone lists the mechanisms")
        return
    if len(words) > 2:
        shell.error("usage: /auth [MECH] [USER] (the password is asked for, never typed here)")
        shell.stop_paste("/auth did not authenticate")
        return
    await _authenticate_pasted(shell, words[0], words[1] if len(words) > 1 else None)


async def _authenticate_pasted(shell: Shell, mech_name: str, user: str | None) -> None:
    """authenticate; when it fails, the lines pasted after /auth are not run: they may
    be the answers it never asked for (a password must never go out as a command)."""
    if not await authenticate(shell, mech_name, user):
        shell.stop_paste("/auth did not authenticate")


def _list_mechanisms(shell: Shell) -> None:
    session = shell.session
    supported = ", ".join(MECHANISMS)
    if not session.esmtp:
        shell.say("no EHLO reply yet: the AUTH mechanisms come in it (send EHLO first)")
    elif not session.auth_mechanisms:
        hint = (
            ""
            if shell.client.ssl_object is not None
            else " (many servers offer it only after STARTTLS)"
        )
        shell.say(f"the server advertised no AUTH{hint}")
    else:
        for name in session.auth_mechanisms:
            found = mechanism(name)
            text = found.summary if found else "not supported by smtpsh"
            shell.say(f"  {name:<12} {text}")
    if not session.auth_mechanisms:
        shell.say(f"usage: /auth MECH [USER]   (smtpsh supports {supported})")


async def authenticate(shell: Shell, mech_name: str, user: str | None) -> bool:
    """The whole /auth: checks, credentials, the exchange step by step. True on 235 (and,
    for SCRAM, a server signature that proves the server knows the password)."""
    if mech_name.upper() == AUTO:
        chosen = _choose(shell)
        if chosen is None:
            return False
        mech_name = chosen.name
    found = mechanism(mech_name)
    if found is None:
        shell.error(f"smtpsh cannot do {mech_name.upper()}; it supports {', '.join(MECHANISMS)}")
        return False
    if (missing := unavailable(found)) is not None:  # said before a password is asked for
        shell.error(missing)
        return False
    client = shell.client
    if not client.connected or shell.session.state is State.CLOSED:
        shell.error("not connected: /reconnect opens a new session")
        return False
    session = shell.session
    opts = options_of(shell)
    # A secret typed at a prompt for a command that will be refused is typed (and sent)
    # for nothing: refused before anything is asked. With --password-file/--password-env
    # nothing is asked: it is sent anyway, with the warning (a testing tool). The AUTH
    # verb typed by hand always goes.
    prediction = session.predict("AUTH")
    refusal = None
    if session.authenticated:
        refusal = ("already authenticated (RFC 4954 §4: a server must refuse a second AUTH"
                   " with 503; one that accepts it anyway shows it to the AUTH verb typed by"
                   " hand)")
    elif prediction is not None:
        refusal = f"expect {prediction.reply}: {prediction.reason}"
        if session.state is State.GREETED:
            refusal += " (send EHLO first)"
        elif client.ssl_object is None and session.advertises("STARTTLS"):
            refusal += " (many servers offer AUTH only after /starttls)"
    asks = shell.settings.interactive and not (opts.password_file or opts.password_env)
    if refusal is not None and asks:
        shell.error(f"not sent: {refusal}")
        return False
    if not await _encryption_ok(shell, found.name):
        return False
    if refusal is not None:
        shell.warn(f"{refusal} (sending anyway)")
    elif session.esmtp and found.name not in session.auth_mechanisms:
        offered = " ".join(session.auth_mechanisms) or "none"
        shell.warn(
            f"the server did not advertise {found.name} (it offers: {offered}); trying anyway"
        )
    user = user or opts.user or await ask(shell, "Username: ", hidden=False)
    if not user:
        shell.error("no user name: /auth MECH USER, or --user NAME")
        return False
    secret = await ask_secret(shell, found.secret_label, user)
    if secret is None:
        return False
    try:
        exchange = AuthExchange(found.name, Credentials(user, secret, authzid=opts.authzid))
        step = exchange.start()
    except AuthError as exc:
        shell.error(str(exc))
        return False
    del secret  # the exchange holds it until it is done
    reply = await _send_step(shell, step)
    while reply.code == 334 and not exchange.cancelled:
        try:
            step = exchange.answer(reply)
        except AuthError as exc:
            shell.error(f"{exc}; cancelling the exchange")
            step = exchange.cancel()
        reply = await _send_step(shell, step)
    if reply.code == 235:
        problem = exchange.success_problem(reply)
        if problem is not None:
            shell.error(f"AUTH {found.name} as {user}: {problem}")
            return False
        proof = " (the server proved it knows the password)" if found.mutual else ""
        shell.info(f"authenticated as {user} with {found.name}{proof}")
        return True
    meaning = describe_basic(reply.code) or "refused"
    shell.error(f"AUTH {found.name} as {user} failed: {reply.code} {meaning}")
    return False


def _choose(shell: Shell) -> Mechanism | None:
    """/auth or --auth auto: the strongest offered mechanism, and why (said)."""
    offered = shell.session.auth_mechanisms
    if not shell.session.esmtp:
        shell.error("no EHLO reply yet: the AUTH mechanisms come in it (send EHLO first)")
        return None
    found, why = choose(offered, authzid=bool(options_of(shell).authzid))
    if found is None:
        shell.error(why)
        return None
    shell.info(f"choosing {why}")
    return found


async def _encryption_ok(shell: Shell, name: str) -> bool:
    """AUTH in clear is refused unless --insecure-auth, or the user confirms (in a terminal)."""
    if shell.client.ssl_object is not None:
        return True
    found = mechanism(name)
    risk = (
        "anyone on the path can read the password"
        if found is None or found.plaintext
        else "an eavesdropper can attack the exchange offline (guess passwords against it)"
    )
    if options_of(shell).insecure_auth:
        shell.warn(f"AUTH without TLS (--insecure-auth): {risk}")
        return True
    explanation = f"the connection is not encrypted: {risk}"
    if shell.settings.interactive:
        # Typed, never a pasted line's: a paste does not agree to send a password in clear
        # (nor shows the password it holds as this answer).
        answer = await ask(
            shell, f"{explanation}. Send {name} anyway? [y/N] ", hidden=False, pasted=False
        )
        if answer.strip().lower() in ("y", "yes"):
            return True
        shell.info("not sent: STARTTLS (or /starttls) first, then EHLO and /auth")
        return False
    shell.error(
        f"refused: {explanation}; STARTTLS first (--starttls), or --insecure-auth to send anyway"
    )
    return False


async def ask(shell: Shell, message: str, *, hidden: bool, pasted: bool = True) -> str:
    """A one-off prompt in a terminal (its own history: nothing typed here is kept).

    A line pasted ahead answers it, as if typed (``pasted``: False for a safety question
    a paste must not answer); a multi-line paste at it answers it with its first line."""
    if not shell.settings.interactive:
        return ""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import InMemoryHistory

    from smtpsh.compose.ask import paste_bindings
    from smtpsh.shell.interactive import HideAll

    ahead = shell.paste_ahead
    # HideAll rather than is_password: one '*' a character would show the secret's length.
    prompt: PromptSession[str] = PromptSession(
        history=InMemoryHistory(),
        input_processors=[HideAll()] if hidden else None,
        key_bindings=paste_bindings(ahead) if ahead is not None else None,
    )
    answer = ahead.next_answer() if ahead is not None and pasted else None
    typed = ahead.leftover() if ahead is not None and answer is None else ""
    try:
        # The message names the user (the command line's, the config's): shown made safe.
        return await prompt.prompt_async(
            safe(message),
            default=typed if answer is None else answer,
            accept_default=answer is not None,
        )
    except (KeyboardInterrupt, EOFError):
        return ""


async def ask_secret(shell: Shell, label: str, user: str) -> str | None:
    """The password/token: --password-file, --password-env, or a hidden prompt."""
    opts = options_of(shell)
    if opts.password_file or opts.password_env:
        from smtpsh.flags import read_secret  # the reader every command uses

        try:
            secret, warnings = read_secret(opts.password_file, opts.password_env)
        except SmtpshError as exc:
            shell.error(str(exc))
            return None
        for warning in warnings:
            shell.warn(warning)
        return secret
    if not shell.settings.interactive:
        shell.error(
            f"no {label.lower()}: scripts pass it with --password-file FILE or --password-env"
            " NAME (never on the command line)"
        )
        return None
    secret = await ask(shell, f"{label} for {user} (hidden): ", hidden=True)
    if not secret:
        shell.info("cancelled: no secret given")
        return None
    return secret


# --- /b64 ------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|[ntr\\])")
_NAMED_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(text: str) -> str:
    r"""'\0alice\0secret' -> NUL-separated text (how a PLAIN response is built by hand)."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in _NAMED_ESCAPES:
            return _NAMED_ESCAPES[code]
        return chr(int(code[1:], 16) if code.startswith("x") else int(code, 8))

    return _ESCAPE.sub(one, text)


def visible(data: bytes) -> str:
    """Decoded bytes for the screen: control characters escaped, non-UTF-8 as \\xHH."""
    text = data.decode("utf-8", "backslashreplace")
    return "".join(
        f"\\{ord(c)}" if ord(c) < 8 else (repr(c)[1:-1] if ord(c) < 32 or ord(c) == 127 else c)
        for c in text
    )


@meta(
    "/b64",
    "/b64 encode|decode TEXT",
    r"base64 for AUTH by hand (encode understands \0 \n \xHH)",
    "auth",
)
async def _b64(shell: Shell, args: str) -> None:
    action, _, text = args.strip().partition(" ")
    action = action.lower()
    if action not in ("encode", "decode") or not text:
        shell.error(r"usage: /b64 encode TEXT (e.g. \0user\0password) | /b64 decode BASE64")
        return
    if action == "encode":
        shell.say(base64.b64encode(unescape(text).encode()).decode("ascii"))
        return
    try:
        data = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        shell.error("not valid base64 (only A-Z a-z 0-9 + / and = padding)")
        return
    shell.say(visible(data) if data else "(empty)")

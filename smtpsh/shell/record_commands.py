"""Transcripts in the shell: /record FILE, /record off, /replay FILE on the live session."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from smtpsh import exitcodes
from smtpsh.net.client import SMTPClient
from smtpsh.protocol.auth import Credentials
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import State
from smtpsh.shell.metacommands import meta
from smtpsh.transcript.model import TranscriptError
from smtpsh.transcript.reader import read
from smtpsh.transcript.recorder import RecordError, TranscriptRecorder

if TYPE_CHECKING:
    from smtpsh.shell.app import Shell

REPLAY_FLAGS = {"--strict": "strict", "--pace": "pace", "--dry-run": "dry_run"}


def active_recorder(shell: Shell) -> TranscriptRecorder | None:
    found = [o for o in shell.settings.observers if isinstance(o, TranscriptRecorder)]
    return found[0] if found else None


def _detach(shell: Shell, recorder: TranscriptRecorder) -> None:
    for observers in (shell.settings.observers, shell.client.observers):
        if recorder in observers:
            observers.remove(recorder)


@meta("/record", "/record FILE | off", "write the dialogue to a transcript file", "transcript")
async def _record(shell: Shell, args: str) -> None:
    arg = args.strip()
    current = active_recorder(shell)
    if current is not None and not current.active:
        _detach(shell, current)  # stopped by a write error: already said
        current = None
    if not arg:
        if current is None:
            shell.say("not recording; /record FILE starts (replay it with `smtpsh replay FILE`)")
        else:
            shell.say(f"recording to {current.path} ({current.lines} lines so far)")
        return
    if arg.lower() == "off":
        if current is None:
            shell.info("not recording")
            return
        _detach(shell, current)
        current.close("by /record off")
        shell.info(f"recording stopped: {current.path} ({current.lines} lines)")
        return
    if current is not None:
        shell.error(f"already recording to {current.path}; /record off first")
        return
    try:
        recorder = TranscriptRecorder.open(arg)
        if shell.client.connected:
            recorder.join(shell.client)
    except RecordError as exc:
        shell.error(f"/record: {exc}")
        return
    shell.settings.observers.append(recorder)  # a /reconnect keeps recording
    shell.client.observers.insert(0, recorder)  # written before it is shown
    shell.info(f"recording to {arg} (mode 0600); /record off stops")
    if shell.client.connected and shell.session.state is not State.GREETED:
        shell.warn(
            "the session is already under way: the file lacks the lines before (banner, EHLO),"
            " which a replay needs; /reconnect now to record from the start"
        )


@meta(
    "/replay",
    "/replay FILE [--strict] [--pace] [--dry-run]",
    "send a transcript's client lines here and compare the replies",
    "transcript",
)
async def _replay(shell: Shell, args: str) -> None:
    from smtpsh.shell.tls_commands import options_of
    from smtpsh.transcript.replay import Replayer, Reporter, dry_run

    try:
        words = shlex.split(args)
    except ValueError as exc:
        shell.error(f"/replay: {exc}")
        return
    flags = {REPLAY_FLAGS[w] for w in words if w in REPLAY_FLAGS}
    unknown = [w for w in words if w.startswith("--") and w not in REPLAY_FLAGS]
    files = [w for w in words if not w.startswith("--")]
    if unknown or len(files) != 1:
        bad = f"unknown option {unknown[0]}; " if unknown else ""
        shell.error(f"{bad}usage: /replay FILE [--strict] [--pace] [--dry-run]")
        return
    try:
        transcript = read(files[0])
    except TranscriptError as exc:
        shell.error(f"/replay: {exc}")
        shell.exit_code = exitcodes.FAILED  # a script learns it
        return
    if "dry_run" in flags:
        here = shell.client.address  # every connection of a /replay is to this server
        dry_run(transcript, {line: here for line, _ in transcript.connects()}, shell.printer)
        return
    credentials = await _credentials(shell) if transcript.has_secrets_to_fill else None
    if transcript.has_secrets_to_fill and credentials is None:
        return  # already said why

    opened = False

    async def opener(line: int, implicit_tls: bool) -> tuple[SMTPClient, Reply | None]:
        nonlocal opened
        # The first connection is the live one; a '# reconnect' in the file opens a new one.
        if not opened and shell.client.connected:
            opened = True
            return shell.client, None
        opened = True
        await shell.reconnect()
        return shell.client, shell.session.banner

    shell.info(f"replaying {transcript.source} on this session")
    replayer = Replayer(
        transcript,
        opener,
        Reporter(shell.printer),
        strict="strict" in flags,
        pace="pace" in flags,
        credentials=credentials,
        timeout=shell.options.timeout,
        close_at_end=False,
        insecure_auth=options_of(shell).insecure_auth,
    )
    summary = await shell.guard(replayer.run())
    if not summary.ok:
        shell.exit_code = exitcodes.FOUND  # a script piping /replay learns it so


async def _credentials(shell: Shell) -> Credentials | None:
    """User and secret for a recorded (masked) AUTH: --user/--password-file or prompts."""
    from smtpsh.shell.tls_commands import ask, ask_secret, options_of

    user = options_of(shell).user or (await ask(shell, "user name for AUTH: ", hidden=False))
    if not user:
        shell.error("the transcript authenticates: start smtpsh with --user NAME (or type it)")
        return None
    secret = await ask_secret(shell, "Password", user)
    return Credentials(user, secret) if secret else None

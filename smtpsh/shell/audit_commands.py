"""/probe: footprint the server the shell is talking to (smtpsh.audit does the work).

The probe uses its own connections, so the session in the shell is left as it is.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from smtpsh.shell.metacommands import meta

if TYPE_CHECKING:
    from smtpsh.shell.app import Shell

PROBE_FLAGS = frozenset({"--no-relay", "--json"})


@meta(
    "/probe",
    "/probe [--no-relay] [--json]",
    "footprint this server: software, TLS, AUTH, VRFY/EXPN, open relay, dangers",
    "audit",
)
async def _probe(shell: Shell, args: str) -> None:
    from smtpsh.audit.common import AUTHORISATION_NOTE, DEFAULT_TIMEOUT, Target
    from smtpsh.audit.probe import Prober
    from smtpsh.audit.report import exit_status, render_json, render_text
    from smtpsh.protocol.errors import SmtpshError

    words = args.split()
    unknown = [w for w in words if w not in PROBE_FLAGS]
    if unknown:
        shell.error(f"unknown option {unknown[0]}; usage: /probe [--no-relay] [--json]")
        return
    # Footprinting gives up on silence sooner than a session's RFC 5321 timeouts.
    options = shell.options.replace(timeout=shell.options.timeout or DEFAULT_TIMEOUT)
    prober = Prober(
        Target(options, shell.settings.helo, starttls=False),
        relay="--no-relay" not in words,
        verify=bool(options.extra.get("verify", True)),
    )
    shell.info(f"probing {shell.client.address} on separate connections. {AUTHORISATION_NOTE}")
    try:
        report = await shell.guard(prober.run())
    except SmtpshError as exc:  # Ctrl-C: guard says "interrupted"
        shell.error(str(exc))
        return
    if "--json" in words:
        for line in json.dumps(render_json(report), indent=2).splitlines():
            shell.say(line)
        return
    shell.printer.lines(render_text(report))
    status = exit_status(report)
    if status == 2:
        shell.warn("the probe could not reach the server")

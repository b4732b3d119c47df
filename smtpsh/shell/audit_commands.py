"""/probe: footprint the server the shell is talking to (smtpsh.audit does the work).

The probe uses its own connections, so the session in the shell is left as it is.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from smtpsh.shell.metacommands import meta

if TYPE_CHECKING:
    from smtpsh.shell.app import Shell

@meta(
    "/probe",
    "/probe [--no-relay] [-D DOMAIN] [--tls-scan] [--json]",
    "footprint this server: software, TLS, AUTH, VRFY/EXPN, open relay, dangers",
    "audit",
)
async def _probe(shell: Shell, args: str) -> None:
    from smtpsh import exitcodes, jsonout
    from smtpsh.audit.common import AUTHORISATION_NOTE, DEFAULT_TIMEOUT, Target
    from smtpsh.audit.probe import (
        Prober,
        add_probe_options,
        probe_json,
        probe_lines,
        probe_status,
        tls_scan,
    )
    from smtpsh.audit.relay import DEFAULT_DOMAIN, RelayConfig
    from smtpsh.flags import WordsParser
    from smtpsh.protocol.errors import SmtpshError

    parser = WordsParser("/probe")
    add_probe_options(parser)  # the probe sub-command's own flags
    try:
        opts = parser.parse_words(args)
    except SmtpshError as exc:
        shell.error(str(exc))
        return
    # Footprinting gives up on silence sooner than a session's RFC 5321 timeouts.
    options = shell.options.replace(timeout=shell.options.timeout or DEFAULT_TIMEOUT)
    prober = Prober(
        Target(options, shell.settings.helo, starttls=False),
        relay=not opts.no_relay,
        relay_config=RelayConfig(domain=opts.domain or DEFAULT_DOMAIN),
        verify=options.verify,
    )
    shell.info(f"probing {shell.client.address} on separate connections. {AUTHORISATION_NOTE}")
    try:
        report = await shell.guard(prober.run())
        scan = await shell.guard(tls_scan(prober)) if opts.tls_scan else None
    except SmtpshError as exc:  # Ctrl-C: guard says "interrupted"
        shell.error(str(exc))
        return
    status = probe_status(report, scan)
    if opts.json:
        error = ("failed", report.fatal) if report.fatal else None
        doc = jsonout.envelope("probe", report.address, status, probe_json(report, scan), error)
        for line in json.dumps(doc, indent=2).splitlines():
            shell.say(line)
        return
    shell.printer.lines(probe_lines(report, scan))
    if status == exitcodes.FAILED:
        shell.warn("the probe could not reach the server")

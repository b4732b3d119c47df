"""One JSON shape for every ``--json``: a versioned envelope around each command's result.

    {"smtpsh": 1, "command": "probe", "target": "mx.example.com:25",
     "status": "found", "exit": 1, "result": {...}, "error": null}

``status`` and ``exit`` come from smtpsh.exitcodes (the same numbers as the exit status);
``result`` is the command's own report (null when it could not run); ``error`` says why
it could not, as ``{"kind", "message"}``. The schema is smtpsh/data/output.schema.json
(tests/test_json_schema.py validates every command's output against it); a change that
breaks a reader raises VERSION.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from smtpsh import exitcodes

VERSION = 1
# The commands whose --json prints this envelope, and those that refuse --json, and why.
COMMANDS = ("send", "dns", "probe", "enum", "relay", "replay", "tls")
NO_JSON = {
    "report": "not offered: the report is a page for people; its inputs are the --json of"
    " the other commands already",
    "sandbox": "not offered: the sandbox is a server that runs until stopped; what it prints"
    " is a log for people, one line an event",
}


def envelope(
    command: str,
    target: str | None,
    status: int,
    result: Any = None,
    error: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The document for one run; ``error``: (kind, message) when it could not run."""
    name = exitcodes.TABLE[status][0] if status in exitcodes.TABLE else "failed"
    return {
        "smtpsh": VERSION,
        "command": command,
        "target": target,
        "status": name,
        "exit": status,
        "result": result,
        "error": None if error is None else {"kind": error[0], "message": error[1]},
    }


def emit(
    command: str,
    target: str | None,
    status: int,
    result: Any = None,
    error: tuple[str, str] | None = None,
    stream: TextIO | None = None,
) -> int:
    """Print the envelope (one document, indented) and return ``status``."""
    out = stream or sys.stdout
    out.write(json.dumps(envelope(command, target, status, result, error), indent=2) + "\n")
    out.flush()
    return status


def schema_text() -> str:
    """The JSON Schema of the envelope (smtpsh/data/output.schema.json)."""
    from importlib.resources import files

    return files("smtpsh").joinpath("data/output.schema.json").read_text(encoding="utf-8")

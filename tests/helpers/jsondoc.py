"""Run smtpsh and check that its --json output is one document valid against the schema
in the repository (smtpsh/data/output.schema.json), agreeing with the exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import jsonschema

from smtpsh import exitcodes, jsonout

VALIDATOR = jsonschema.Draft202012Validator(json.loads(jsonout.schema_text()))


def smtpsh(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtpsh", *args], input=stdin, capture_output=True, text=True,
        timeout=120, env={**os.environ, "NO_COLOR": "1"},
    )


def document(proc: subprocess.CompletedProcess[str], command: str, status: int) -> Any:
    """Standard output is one valid document, and says what the exit status says."""
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    VALIDATOR.validate(doc)
    assert (doc["command"], doc["exit"], proc.returncode) == (command, status, status), (
        doc, proc.stderr
    )
    assert doc["status"] == exitcodes.TABLE[status][0]
    if status in (exitcodes.USAGE, exitcodes.FAILED):
        assert doc["error"]["message"], doc
    return doc



"""cryptography (~25 ms to import) loads on first TLS use, a DKIM check or a sandbox
certificate only: importing the shell, its feature modules, the transports, the sandbox
and the DNS report must not pull it in."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import importlib, sys
from smtpsh.shell import metacommands
for name in [
    "smtpsh.cli", "smtpsh.shell.app", "smtpsh.shell.interactive", "smtpsh.net.client",
    "smtpsh.net.blocking", "smtpsh.net.tls", "smtpsh.config", "smtpsh.sandbox",
    "smtpsh.dnsinfo.dkim", "smtpsh.dnsinfo.report", "smtpsh.audit.probe",
    *metacommands.FEATURE_MODULES,
]:
    importlib.import_module(name)
print(sorted(m for m in sys.modules if m.split(".")[0] == "cryptography"))
import smtpsh.net.certinfo
print("cryptography.x509" in sys.modules)
"""


def test_only_the_certificate_code_imports_cryptography() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    before, after = result.stdout.splitlines()
    assert before == "[]", f"imported before any TLS use: {before}"
    assert after == "True"  # the check can fail: certinfo itself does import it

"""A throw-away certificate for the sandbox's STARTTLS, made with the `openssl` tool.

The `openssl` command line is on every Debian/Ubuntu/macOS machine, so the sandbox needs no
extra Python dependency.  The certificate is self-signed and also marked as a CA, so the very
same file is what a client passes as `--cafile` to verify the sandbox (strict X.509 checks,
as Python 3.13 enables by default, accept it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SUBJECT_ORG = "smtpsh sandbox"
SUBJECT_CN = "localhost"
SUBJECT_ALT_NAMES = "DNS:localhost,IP:127.0.0.1,IP:::1"
VALID_DAYS = 30

# Our own config file instead of -addext: -addext is missing from older LibreSSL and clashes
# with extensions the system openssl.cnf may already add.
_CONFIG = f"""\
[req]
distinguished_name = dn
prompt = no
x509_extensions = ext
[dn]
O = {SUBJECT_ORG}
CN = {SUBJECT_CN}
[ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyEncipherment,keyCertSign
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = {SUBJECT_ALT_NAMES}
"""

# Key types to try, fastest first; RSA for openssl builds without the EC options.
_KEY_ARGS: tuple[tuple[str, ...], ...] = (
    ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
    ("-newkey", "rsa:2048"),
)


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


class CertError(Exception):
    """The certificate could not be made; the message is one line for the user."""


async def make_certificate(directory: Path, openssl: str | None = None) -> CertFiles:
    """Write cert.pem and key.pem into `directory` (which should be private, mode 0700)."""
    exe = openssl or shutil.which("openssl")
    if exe is None:
        raise CertError("the `openssl` command was not found")
    config = directory / "openssl.cnf"
    config.write_text(_CONFIG, encoding="ascii")
    files = CertFiles(cert=directory / "cert.pem", key=directory / "key.pem")
    problem = "openssl failed"
    for key_args in _KEY_ARGS:
        argv = (
            exe, "req", "-x509", "-config", str(config), *key_args, "-nodes",
            "-keyout", str(files.key), "-out", str(files.cert), "-days", str(VALID_DAYS),
        )  # fmt: skip
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
        except OSError as exc:
            raise CertError(f"cannot run {exe}: {exc.strerror or exc}") from None
        if proc.returncode == 0 and files.cert.is_file() and files.key.is_file():
            os.chmod(files.key, 0o600)
            return files
        lines = err.decode("utf-8", "replace").strip().splitlines()
        problem = f"openssl failed: {lines[0]}" if lines else "openssl failed"
    raise CertError(problem)

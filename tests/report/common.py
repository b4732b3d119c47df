"""Inputs for the report tests: a hostile probe result and a hostile transcript (a server
that puts markup in everything it says), and an HTML parser that lists what is markup."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

HOSTILE_BANNER = "220 <script>document.title='pwned'</script> ESMTP <img src=x onerror=alert(1)>"
# A reply that tries to close the SVG <title> it is shown in, then the SVG itself.
HOSTILE_REPLY = "250 ok </title></g></svg><script>alert(2)</script>"
CLEAR_SECRET = "AHJvYmluAHMzY3JldC1wYXNzd29yZA=="  # base64 of \0robin\0s3cret-password

HOSTILE_TRANSCRIPT = f"""\
# smtpsh transcript 1
+0     # connect 127.0.0.1:2525
+12    S: {HOSTILE_BANNER}
+40    C: EHLO client.test
+3     S: 250-evil.test <b>bold</b>
+0     S: 250-STARTTLS
+0     S: 250 AUTH PLAIN
+1     C: STARTTLS
+2     S: 220 2.0.0 go ahead
+150   # tls TLSv1.3 TLS_AES_256_GCM_SHA384
+1     C: EHLO client.test
+2     S: 250-evil.test
+0     S: 250 AUTH PLAIN
+1     C: AUTH PLAIN {CLEAR_SECRET}
+20    S: 235 2.7.0 Authentication successful
+1     C: MAIL FROM:<a@client.test>
+2     S: {HOSTILE_REPLY}
+1     C: RCPT TO:<nobody@evil.test>
+2     S: 550 5.1.1 <nobody@evil.test>: no such user
+1     C: RCPT TO:<later@evil.test>
+2     S: 451 4.3.0 try again later
+1     C: QUIT
+1     S: 221 2.0.0 bye
"""


def hostile_probe() -> dict[str, object]:
    """A probe result as `smtpsh probe --json` prints it, from a server with markup in its
    banner and replies."""
    return {
        "target": "127.0.0.1:2525",
        "fatal": None,
        "banner": [HOSTILE_BANNER],
        "family": None,
        "fingerprint": [],
        "ehlo": ["250-evil.test", "250 AUTH PLAIN LOGIN"],
        "vrfy": {"state": "reveals",
                 "reference": {"name": "root", "reply": ["252 2.0.0 <i>root</i>"]},
                 "canary": {"name": "zzqq", "reply": ["550 5.1.1 unknown"]}},
        "relay": None,
        "findings": [
            {"key": "banner_version", "title": "banner leaks software and version",
             "detail": "Evil <script>x()</script> 1.0", "why": "version matching",
             "dangerous": True},
            {"key": "vrfy", "title": "VRFY enabled (user enumeration)",
             "detail": "VRFY root → 252 2.0.0 <i>root</i>", "why": "harvest names",
             "dangerous": True},
            {"key": "auth_in_clear", "title": "AUTH offered before TLS",
             "detail": "AUTH PLAIN LOGIN offered before STARTTLS", "why": "sniffed",
             "dangerous": True},
        ],
        "dangerous": True,
    }


def write_inputs(folder: Path) -> tuple[Path, Path]:
    probe = folder / "probe.json"
    probe.write_text(json.dumps(hostile_probe()), encoding="utf-8")
    transcript = folder / "evil.smtpt"
    transcript.write_text(HOSTILE_TRANSCRIPT, encoding="utf-8")
    return probe, transcript


def smtpsh(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smtpsh", *args], capture_output=True,
                          text=True, timeout=timeout, env={"PATH": "/usr/bin:/bin",
                                                           "NO_COLOR": "1"})


class Markup(HTMLParser):
    """Every start tag and all the text of a page, as a browser's parser sees them."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def names(self) -> set[str]:
        return {tag for tag, _ in self.tags}

    def all_text(self) -> str:
        return "".join(self.text)

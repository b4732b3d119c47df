"""/raw TEXT: the escapes a user types to say exactly which bytes go out."""

from __future__ import annotations

import string
from collections.abc import Mapping

from smtpsh.compose.message import ComposeError

ESCAPES: Mapping[str, bytes] = {
    "r": b"\r",
    "n": b"\n",
    "t": b"\t",
    "0": b"\0",
    "e": b"\x1b",
    "\\": b"\\",
}
ESCAPE_HELP = r"\r CR · \n LF · \t TAB · \0 NUL · \e ESC · \\ backslash · \xHH any octet"


def decode_escapes(text: str) -> bytes:
    """'DATA\\r\\n' -> b'DATA\\r\\n'. Other characters go as UTF-8. ComposeError on a bad
    escape (one line, with the column)."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        code = text[i + 1 : i + 2]
        if code in ESCAPES:
            out += ESCAPES[code]
            i += 2
        elif code == "x":
            digits = text[i + 2 : i + 4]
            if len(digits) != 2 or not all(c in string.hexdigits for c in digits):
                raise ComposeError(
                    f"bad escape at column {i + 1}: \\x needs two hex digits (\\x0d)"
                )
            out.append(int(digits, 16))
            i += 4
        else:
            shown = f"\\{code}" if code else "a lone \\ at the end"
            raise ComposeError(f"unknown escape {shown} at column {i + 1}; use {ESCAPE_HELP}")
    return bytes(out)


def show_bytes(data: bytes) -> str:
    """Bytes as they would be typed back: printable ASCII as is, the rest escaped."""
    reverse = {v: k for k, v in ESCAPES.items()}
    out = []
    for byte in data:
        char = bytes([byte])
        if char in reverse:
            out.append("\\" + reverse[char])
        elif 32 <= byte < 127:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)

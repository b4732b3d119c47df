"""A recorded session as a ladder (sequence) diagram in SVG: client on the left, server on
the right, one arrow a line in time order, each reply coloured by its class with what it
means written under its arrow (a caption that survives printing and screenshots) and, with
every line of the reply, as a tooltip (<title>), the time since the start on the left, TLS
drawn as a band.

Every string from the transcript is server- or user-controlled: it goes through
``text()`` (unsafe characters shown escaped, then HTML/XML-escaped) and nowhere else.
AUTH answers are shown masked even when a hand-written transcript holds them in clear.
"""

from __future__ import annotations

import html
from collections import deque
from dataclasses import dataclass

from smtpsh.output.dialogue import annotation_of
from smtpsh.output.safe import safe
from smtpsh.protocol.connection import SECRET_MASK, redact_auth_command
from smtpsh.protocol.session import AUTH_RESPONSE, END_OF_DATA
from smtpsh.transcript.model import Chunk, Expect, Message, Meta, Send, Transcript

WIDTH = 860
TIME_X = 8  # the time column
CLIENT_X = 150
SERVER_X = 710
ROW = 26  # height of one arrow row (its label above the arrow)
GLOSS_ROW = 12  # added to a reply's row: its gloss under the arrow
TOP = 56  # below the two lifeline heads
LABEL_CHARS = 70  # an arrow's label is cut here (the tooltip has it whole)
GLOSS_CHARS = 90  # a reply's gloss, in a smaller font, is cut here
REPLY_COLOURS = {2: "#1a7f37", 3: "#0969da", 4: "#bc4c00", 5: "#cf222e", 0: "#6e7781"}
CLIENT_COLOUR = "#24292f"
TLS_FILL = "#ddf4ff"
# Meta lines drawn as a note across the diagram (the rest are comments, left out).
NOTE_KEYWORDS = ("connect", "reconnect", "timeout", "closed", "stop", "note", "warning",
                 "error")  # fmt: skip


def text(value: str) -> str:
    """Outside text made safe for HTML and SVG, text nodes and attributes alike."""
    return html.escape(safe(value), quote=True)


def _cut(value: str, limit: int = LABEL_CHARS) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


@dataclass
class _Row:
    kind: str  # "send", "reply", "note", "tls"
    at_ms: int  # since the start of the recording
    label: str
    tooltip: str = ""
    klass: int = 0  # a reply's class (2..5)
    gloss: str = ""  # a reply's meaning (the shell's annotation), shown under its arrow


def _send_label(event: Send) -> str:
    if event.auth:
        return event.text if event.text == SECRET_MASK else SECRET_MASK
    if event.verb == "AUTH":
        return redact_auth_command(event.text)
    return event.text


def rows(transcript: Transcript) -> list[_Row]:
    """The diagram's rows in time order, with each reply paired to the command it answers
    (replies come in the order their commands were sent, pipelined or not)."""
    out: list[_Row] = []
    awaiting: deque[str | None] = deque()
    at = 0
    for event in transcript.events:
        if isinstance(event, Message):
            at += sum(event.delays)
            out.append(_Row("send", at, f"(message: {len(event.lines)} lines) and '.'",
                            "\n".join(_cut(line, 120) for line in event.lines[:30])))
            awaiting.append(END_OF_DATA)
            continue
        at += event.delay_ms
        if isinstance(event, Meta):
            if event.keyword == "tls":
                out.append(_Row("tls", at, f"TLS {event.value}".strip()))
            elif event.keyword in NOTE_KEYWORDS:
                out.append(_Row("note", at, f"{event.keyword} {event.value}".strip()))
                if event.keyword in ("connect", "reconnect"):
                    awaiting.clear()
            continue
        if isinstance(event, Send):
            label = _send_label(event)
            out.append(_Row("send", at, label, label))
            awaiting.append(AUTH_RESPONSE if event.auth else event.verb)
        elif isinstance(event, Chunk):
            out.append(_Row("send", at, f"{event.text} (+{len(event.data)} octets)", event.text))
            awaiting.append("BDAT")
        elif isinstance(event, Expect):
            verb = None
            if not event.banner and not event.unsolicited and awaiting:
                verb = awaiting.popleft()
            wire = list(event.lines)
            label = wire[0] + (f"  (+{len(wire) - 1} lines)" if len(wire) > 1 else "")
            meaning = annotation_of(event.reply, verb)
            tooltip = "\n".join([meaning, *wire])
            out.append(_Row("reply", at, label, tooltip, event.reply.klass, meaning))
    # Times from the first thing drawn (the connect), not from when the recording started.
    start = out[0].at_ms if out else 0
    for row in out:
        row.at_ms -= start
    return out


def _seconds(ms: int) -> str:
    return f"+{ms / 1000:.3f} s"


def render_svg(transcript: Transcript, ident: str = "ladder") -> str:
    """The ladder of ``transcript`` as one <svg> element (ids prefixed with ``ident``, so
    that several diagrams can share a page)."""
    drawn = rows(transcript)
    tops = [TOP]  # where each row starts; a glossed reply's row is taller
    for row in drawn:
        tops.append(tops[-1] + ROW + (GLOSS_ROW if row.gloss else 0))
    height = tops[-1] + 30
    marker = f"{text(ident)}-arrow"
    parts = [
        f'<svg class="ladder" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}"'
        f' height="{height}" viewBox="0 0 {WIDTH} {height}" role="img"'
        f' aria-label="SMTP ladder diagram">',
        "<defs>"
        f'<marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"'
        ' fill="context-stroke"/></marker></defs>',
    ]
    # TLS bands: from each upgrade to the end of that connection.
    for index, row in enumerate(drawn):
        if row.kind != "tls":
            continue
        end = next((i for i in range(index + 1, len(drawn))
                    if drawn[i].kind == "note" and drawn[i].label.split()[0]
                    in ("connect", "reconnect", "closed", "timeout")), len(drawn))  # fmt: skip
        y = tops[index] + 4
        parts.append(f'<rect class="tls-band" x="{CLIENT_X}" y="{y}"'
                     f' width="{SERVER_X - CLIENT_X}" height="{tops[end] - tops[index]}"'
                     f' fill="{TLS_FILL}" opacity="0.6"/>')  # fmt: skip
    parts += [
        f'<text x="{CLIENT_X}" y="24" text-anchor="middle" class="head">client</text>',
        f'<text x="{SERVER_X}" y="24" text-anchor="middle" class="head">server</text>',
        f'<text x="{CLIENT_X}" y="40" text-anchor="middle" class="sub">'
        f"{text(_cut(transcript.source, 40))}</text>",
        f'<text x="{SERVER_X}" y="40" text-anchor="middle" class="sub">'
        f"{text(transcript.target or '')}</text>",
        f'<line x1="{CLIENT_X}" y1="{TOP - 6}" x2="{CLIENT_X}" y2="{height - 10}"'
        ' stroke="#8c959f" stroke-width="2"/>',
        f'<line x1="{SERVER_X}" y1="{TOP - 6}" x2="{SERVER_X}" y2="{height - 10}"'
        ' stroke="#8c959f" stroke-width="2"/>',
    ]
    mid = (CLIENT_X + SERVER_X) // 2
    for index, row in enumerate(drawn):
        y = tops[index] + ROW // 2 + 4
        parts.append(f'<g class="row {row.kind}">')
        if row.kind in ("send", "reply"):  # first child: the tooltip of the whole row
            parts.append(f"<title>{text(row.tooltip or row.label)}</title>")
        parts.append(f'<text x="{TIME_X}" y="{y + 4}" class="time">{_seconds(row.at_ms)}</text>')
        if row.kind in ("send", "reply"):
            client_side = row.kind == "send"
            x1, x2 = (CLIENT_X, SERVER_X) if client_side else (SERVER_X, CLIENT_X)
            colour = CLIENT_COLOUR if client_side else REPLY_COLOURS.get(row.klass, "#6e7781")
            klass = "" if client_side else f' reply{row.klass}xx'
            parts.append(f'<line class="arrow{klass}" x1="{x1}" y1="{y}" x2="{x2}" y2="{y}"'
                         f' stroke="{colour}" stroke-width="1.5"'
                         f' marker-end="url(#{marker})"/>')  # fmt: skip
            parts.append(f'<text x="{mid}" y="{y - 4}" text-anchor="middle" fill="{colour}"'
                         f' class="label">{text(_cut(row.label))}</text>')  # fmt: skip
            if row.gloss:
                parts.append(f'<text x="{mid}" y="{y + 12}" text-anchor="middle"'
                             f' class="gloss">{text(_cut(row.gloss, GLOSS_CHARS))}</text>')
        elif row.kind == "tls":
            parts.append(f'<rect x="{CLIENT_X - 40}" y="{y - 11}"'
                         f' width="{SERVER_X - CLIENT_X + 80}" height="18" rx="4"'
                         ' fill="#0969da" opacity="0.85"/>')  # fmt: skip
            parts.append(f'<text x="{mid}" y="{y + 2}" text-anchor="middle" class="tls-label"'
                         f' fill="#ffffff">{text(_cut(row.label))}</text>')  # fmt: skip
        else:
            parts.append(f'<text x="{mid}" y="{y + 2}" text-anchor="middle" class="note">'
                         f"{text(_cut(row.label))}</text>")  # fmt: skip
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)

"""Reading the inputs of a report: JSON documents (bare, or in smtpsh's versioned envelope
``{"smtpsh": 1, ..., "result": {...}}``), JSON Lines (one document a line) and transcripts."""

from __future__ import annotations

import json
import sys
from typing import Any

from smtpsh.report.findings import from_document
from smtpsh.report.model import Report, Source
from smtpsh.safefile import read_limited

# A report input is what smtpsh wrote; anything far bigger is a mistake, not a result.
MAX_INPUT = 64 * 1024 * 1024
ENVELOPE_VERSIONS = frozenset({1})


class ReportInputError(Exception):
    """An input that cannot be used: ``str()`` is one line naming the file and why."""


def _unwrap(doc: Any, where: str) -> dict[str, Any]:
    """The result inside smtpsh's envelope, or the bare document."""
    if not isinstance(doc, dict):
        raise ReportInputError(f"{where}: not a JSON object")
    if "smtpsh" in doc and "result" in doc:
        version = doc["smtpsh"]
        if version not in ENVELOPE_VERSIONS:
            raise ReportInputError(f"{where}: envelope version {version!r} is not one this"
                                   " smtpsh reads (1)")  # fmt: skip
        inner = doc["result"]
        if not isinstance(inner, dict):
            raise ReportInputError(f"{where}: the envelope's result is not a JSON object")
        # The envelope may name the target where the bare document does not (relay).
        if isinstance(doc.get("target"), str) and "target" not in inner:
            inner = {**inner, "target": doc["target"]}
        return inner
    return doc


def _documents(text: str, path: str) -> list[tuple[dict[str, Any], str]]:
    """One document (JSON) or several (JSON Lines), each with where it came from."""
    try:
        return [(_unwrap(json.loads(text), path), path)]
    except json.JSONDecodeError as whole_error:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if len(lines) < 2:
            raise ReportInputError(f"{path}: not JSON ({whole_error.msg}, line"
                                   f" {whole_error.lineno})") from None  # fmt: skip
        docs = []
        for number, line in lines:
            where = f"{path}:{number}"
            try:
                docs.append((_unwrap(json.loads(line), where), where))
            except json.JSONDecodeError as exc:
                raise ReportInputError(f"{where}: not JSON ({exc.msg})") from None
        return docs


def _looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def add_file(report: Report, path: str) -> None:
    """Read ``path`` into ``report``; ReportInputError says why it cannot be."""
    if path == "-":  # `smtpsh probe HOST --json | smtpsh report - -o report.html`
        path = "(standard input)"
        data = sys.stdin.buffer.read(MAX_INPUT + 1)
        if len(data) > MAX_INPUT:
            raise ReportInputError(f"{path}: over {MAX_INPUT // 2**20} MiB: not a result")
    else:
        try:
            data = read_limited(path, MAX_INPUT)
        except OSError as exc:
            raise ReportInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    text = data.decode("utf-8", "surrogateescape")
    if not _looks_like_json(text):
        _add_transcript(report, path, text)
        return
    for doc, where in _documents(text, path):
        got = from_document(doc, where)
        if got is None:
            raise ReportInputError(
                f"{where}: not a result of smtpsh probe, relay, tls, dns or enum --json"
            )
        source, findings = got
        report.sources.append(source)
        report.findings += findings


def _add_transcript(report: Report, path: str, text: str) -> None:
    from smtpsh.transcript.model import TranscriptError
    from smtpsh.transcript.reader import parse

    if "\0" in text:
        raise ReportInputError(f"{path}: binary data: neither JSON nor a transcript")
    try:
        transcript = parse(text, path)
    except TranscriptError as exc:
        raise ReportInputError(f"neither JSON nor a transcript: {exc}") from None
    sends = sum(1 for e in transcript.events if type(e).__name__ in ("Send", "Chunk"))
    summary = f"recorded session, {sends} client line{'s' if sends != 1 else ''}"
    target = transcript.target or "(no target recorded)"
    report.sources.append(Source(path, "transcript", target, summary, transcript))


def load(paths: list[str]) -> Report:
    report = Report()
    for path in paths:
        add_file(report, path)
    return report

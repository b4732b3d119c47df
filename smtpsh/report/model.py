"""What a report is made of: findings (a severity, what was seen, why it matters, the exact
dialogue lines that show it) gathered from the inputs, each input kept as a source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtpsh.transcript.model import Transcript

# Most severe first; the order the report lists them in.
SEVERITIES = ("high", "medium", "low", "info")
SEVERITY_TEXT = {
    "high": "High",
    "medium": "Medium",
    "low": "Low",
    "info": "Information",
}


@dataclass(frozen=True)
class Finding:
    severity: str  # one of SEVERITIES
    title: str
    target: str  # host, HOST:PORT or domain the finding is about
    detail: str  # what was seen, one line
    why: str = ""  # why it matters (empty: nothing to add)
    evidence: tuple[str, ...] = ()  # the exact lines (C: / S: dialogue, DNS answers)
    source: str = ""  # the input file it came from


@dataclass
class Source:
    """One input file and what it was."""

    path: str
    kind: str  # "probe", "relay", "tls", "dns", "enum", "transcript"
    target: str
    summary: str  # one line: the verdict or what the file holds
    transcript: Transcript | None = None


@dataclass
class Report:
    sources: list[Source] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def by_severity(self) -> list[tuple[str, list[Finding]]]:
        """(severity, findings) for each severity that has any, most severe first."""
        out = []
        for severity in SEVERITIES:
            found = [f for f in self.findings if f.severity == severity]
            if found:
                out.append((severity, found))
        return out

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}

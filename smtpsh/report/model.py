"""What a report is made of: findings (a severity, what was seen, why it matters, the exact
dialogue lines that show it) gathered from the inputs, each input kept as a source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtpsh.transcript.model import Transcript

# Most severe first; the order the report lists them in.
SEVERITIES = ("high", "medium", "low", "info")
# A low or informational finding seen on this many hosts or more is shown once, with the
# hosts under it: over a fleet the same note ("banner names the software") would otherwise
# come a thousand times and bury the few findings that matter. High and medium findings
# are always shown one by one, each with its own evidence.
GROUP_AT = 10
GROUPED_SEVERITIES = ("low", "info")
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

    def shown(self) -> list[tuple[str, list[list[Finding]]]]:
        """by_severity(), each finding alone in a list, except that low and informational
        findings with the same title on GROUP_AT hosts or more share one list (where the
        first of them was)."""
        out = []
        for severity, found in self.by_severity():
            if severity not in GROUPED_SEVERITIES:
                out.append((severity, [[f] for f in found]))
                continue
            titles: dict[str, list[Finding]] = {}
            for finding in found:
                titles.setdefault(finding.title, []).append(finding)
            items: list[list[Finding]] = []
            for finding in found:
                same = titles[finding.title]
                if len(same) < GROUP_AT:
                    items.append([finding])
                elif same[0] is finding:
                    items.append(same)
            out.append((severity, items))
        return out

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}

"""A Report as one self-contained HTML page (CSS inline, nothing fetched; a Content Security
Policy that allows no script at all) or as Markdown to paste into a written report.

Every string that came from an input file — banners, replies, names, file names — goes
through ``ladder.text()`` (HTML) or ``md_text()`` / ``md_fence()`` (Markdown), and nothing
else writes outside text into the page.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from smtpsh import __version__
from smtpsh.output.safe import safe
from smtpsh.report.ladder import REPLY_COLOURS, render_svg, text
from smtpsh.report.model import SEVERITIES, SEVERITY_TEXT, Finding, Report

SEVERITY_COLOURS = {"high": "#cf222e", "medium": "#bc4c00", "low": "#9a6700", "info": "#57606a"}

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       color: #1f2328; background: #ffffff; margin: 0; }
main { max-width: 1000px; margin: 0 auto; padding: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin-top: 32px; }
h3 { font-size: 16px; margin: 0 0 6px; }
h3.severity { font-size: 18px; margin: 22px 0 8px; }
.meta { color: #57606a; margin: 0 0 16px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
.count { font-weight: 600; text-align: right; }
.badge { display: inline-block; color: #ffffff; border-radius: 10px; padding: 0 9px;
         font-size: 12px; font-weight: 600; margin-right: 6px; }
.finding { border: 1px solid #d0d7de; border-left-width: 6px; border-radius: 6px;
           padding: 10px 14px; margin: 12px 0; }
.target, .source { color: #57606a; font-size: 13px; margin: 2px 0; }
.why { margin: 6px 0; }
pre, code { font: 12.5px/1.4 "DejaVu Sans Mono", Menlo, Consolas, monospace; }
pre.evidence { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px;
               padding: 8px 10px; overflow-x: auto; white-space: pre-wrap;
               word-break: break-all; margin: 6px 0 0; }
.none { color: #1a7f37; font-weight: 600; }
details summary { cursor: pointer; color: #0969da; margin: 4px 0; }
table.hosts td { font-size: 13px; }
figure { margin: 16px 0; overflow-x: auto; }
figcaption { color: #57606a; margin-bottom: 6px; }
svg.ladder { background: #ffffff; border: 1px solid #d0d7de; border-radius: 6px; }
svg.ladder text { font: 12px "DejaVu Sans Mono", Menlo, Consolas, monospace; }
svg.ladder .head { font: 600 15px system-ui, "DejaVu Sans", sans-serif; }
svg.ladder .sub, svg.ladder .time, svg.ladder .note { fill: #57606a; }
svg.ladder .note { font-style: italic; }
svg.ladder text.gloss { font: italic 11px system-ui, "DejaVu Sans", sans-serif; fill: #57606a; }
.legend > span { display: inline-block; margin-right: 14px; font-size: 13px; }
.legend .swatch { display: inline-block; width: 22px; height: 3px; vertical-align: middle;
            margin-right: 5px; }
"""

# A page made from hostile input: even if markup got through, no script may run and
# nothing may be fetched (the page is opened from disk or mailed to a client).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _badge(severity: str) -> str:
    return (f'<span class="badge sev-{severity}" style="background:'
            f'{SEVERITY_COLOURS[severity]}">{SEVERITY_TEXT[severity]}</span>')  # fmt: skip


def _finding_html(finding: Finding) -> str:
    colour = SEVERITY_COLOURS[finding.severity]
    out = [
        f'<article class="finding sev-{finding.severity}" style="border-left-color:{colour}">',
        f"<h3>{_badge(finding.severity)}{text(finding.title)}</h3>",
        f'<p class="target">{text(finding.target)}</p>',
        f'<p class="detail">{text(finding.detail)}</p>',
    ]
    if finding.why:
        out.append(f'<p class="why"><strong>Why it matters:</strong> {text(finding.why)}</p>')
    if finding.evidence:
        lines = "\n".join(text(line) for line in finding.evidence)
        out.append(f'<pre class="evidence">{lines}</pre>')
    if finding.source:
        out.append(f'<p class="source">from {text(finding.source)}</p>')
    out.append("</article>")
    return "\n".join(out)


def _group_html(found: list[Finding]) -> str:
    """One finding seen on many hosts: said once, every host and what was seen on it in a
    table that opens on a click, the first host's evidence as the example."""
    first = found[0]
    colour = SEVERITY_COLOURS[first.severity]
    hosts = len({f.target for f in found})
    out = [
        f'<article class="finding grouped sev-{first.severity}"'
        f' style="border-left-color:{colour}">',
        f"<h3>{_badge(first.severity)}{text(first.title)}</h3>",
        f'<p class="target">{hosts} host{"s" if hosts != 1 else ""}</p>',
    ]
    if first.why:
        out.append(f'<p class="why"><strong>Why it matters:</strong> {text(first.why)}</p>')
    out.append(f"<details><summary>every host and what was seen ({len(found)})</summary>")
    out.append('<table class="hosts"><tr><th>Host</th><th>Seen</th></tr>')
    out += [f'<tr><td class="host">{text(f.target)}</td><td>{text(f.detail)}</td></tr>'
            for f in found]  # fmt: skip
    out.append("</table></details>")
    if first.evidence:
        lines = "\n".join(text(line) for line in first.evidence)
        out.append(f'<p class="source">for example, {text(first.target)}:</p>')
        out.append(f'<pre class="evidence">{lines}</pre>')
    out.append("</article>")
    return "\n".join(out)


def render_html(report: Report, title: str = "SMTP assessment", now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    counts = report.counts()
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{text(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body><main>",
        f"<h1>{text(title)}</h1>",
        f'<p class="meta">made by smtpsh {html.escape(__version__)} on'
        f' {now.strftime("%Y-%m-%d %H:%M UTC")} from {len(report.sources)} input'
        f'{"s" if len(report.sources) != 1 else ""}</p>',
    ]
    # Only recorded sessions (a ladder for a learner): no empty findings tables.
    results = any(s.transcript is None for s in report.sources)
    if results:
        out += ['<section id="summary"><h2>Summary</h2>',
                "<table><tr><th>Severity</th><th>Findings</th></tr>"]
        out += [f'<tr><td>{_badge(s)}</td><td class="count">{counts[s]}</td></tr>'
                for s in SEVERITIES]  # fmt: skip
        out.append("</table></section>")
    if results:
        out.append('<section id="findings"><h2>Findings</h2>')
        groups = report.shown()
        if not groups:
            out.append('<p class="none">No findings in these inputs.</p>')
        for severity, items in groups:
            out.append(f'<h3 class="severity" id="sev-{severity}">{SEVERITY_TEXT[severity]}'
                       f" ({sum(len(item) for item in items)})</h3>")  # fmt: skip
            out += [_finding_html(item[0]) if len(item) == 1 else _group_html(item)
                    for item in items]  # fmt: skip
        out.append("</section>")
    # The inputs after the findings: over a fleet they are a thousand rows.
    out += ['<section id="sources"><h2>Inputs</h2>',
            "<table><tr><th>File</th><th>Kind</th><th>Target</th><th>Summary</th></tr>"]
    out += [f"<tr><td><code>{text(s.path)}</code></td><td>{text(s.kind)}</td>"
            f"<td>{text(s.target)}</td><td>{text(s.summary)}</td></tr>"
            for s in report.sources]  # fmt: skip
    out.append("</table></section>")
    ladders = [s for s in report.sources if s.transcript is not None]
    if ladders:
        out.append('<section id="ladders"><h2>Recorded dialogues</h2>')
        out.append(_legend())
        for number, source in enumerate(ladders, 1):
            assert source.transcript is not None
            out.append(f'<figure id="ladder-{number}"><figcaption>{text(source.path)}'
                       f" — {text(source.target)}: {text(source.summary)}."
                       " Hover over a reply for all its lines.</figcaption>")
            out.append(render_svg(source.transcript, f"ladder{number}"))
            out.append("</figure>")
        out.append("</section>")
    out += ["</main></body>", "</html>", ""]
    return "\n".join(out)


def _legend() -> str:
    names = {2: "2xx success", 3: "3xx go on", 4: "4xx try again later", 5: "5xx refused"}
    swatch = '<span class="swatch" style="background:{}"></span>'
    items = [f"<span>{swatch.format(REPLY_COLOURS[k])}{v}</span>" for k, v in names.items()]
    items.append(f"<span>{swatch.format('#a5d6ff')}inside TLS</span>")
    return f'<p class="legend">{"".join(items)}</p>'


# ---------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
# What would make a line a heading, list item, quote or rule if it started one.
_MD_LINE_START = re.compile(r"^([#+=-])")
_MD_ORDERED = re.compile(r"^(\d+)([.)])")


def md_text(value: str) -> str:
    """Outside text for a Markdown paragraph or table cell: one line, markup characters
    backslash-escaped, and <, >, & as entities (Markdown passes raw HTML through)."""
    one_line = " ".join(safe(value).split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(one_line, quote=False))


def md_paragraph(value: str) -> str:
    """md_text() for text that starts a line: not read as a heading, list or rule."""
    return _MD_ORDERED.sub(r"\1\\\2", _MD_LINE_START.sub(r"\\\1", md_text(value)))


def md_fence(lines: list[str] | tuple[str, ...]) -> str:
    """Lines in a fenced code block that no line of them can close."""
    body = [safe(line) for line in lines]
    longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([f"{fence}text", *body, fence])


def _group_markdown(found: list[Finding]) -> list[str]:
    first = found[0]
    hosts = len({f.target for f in found})
    out = [f"#### {md_text(first.title)} — {hosts} host{'s' if hosts != 1 else ''}", ""]
    if first.why:
        out += [f"*Why it matters:* {md_text(first.why)}", ""]
    out += ["| Host | Seen |", "|---|---|"]
    out += [f"| {md_text(f.target)} | {md_text(f.detail)} |" for f in found]
    out.append("")
    if first.evidence:
        out += [f"For example, {md_text(first.target)}:", "", md_fence(first.evidence), ""]
    return out


def render_markdown(report: Report, title: str = "SMTP assessment") -> str:
    counts = report.counts()
    out = [f"# {md_text(title)}", "", "| Severity | Findings |", "|---|---:|"]
    out += [f"| {SEVERITY_TEXT[s]} | {counts[s]} |" for s in SEVERITIES]
    out += ["", "## Findings", ""]
    groups = report.shown()
    if not groups:
        out += ["No findings in these inputs.", ""]
    for severity, items in groups:
        out += [f"### {SEVERITY_TEXT[severity]} ({sum(len(item) for item in items)})", ""]
        for item in items:
            if len(item) > 1:
                out += _group_markdown(item)
                continue
            f = item[0]
            out += [f"#### {md_text(f.title)} — {md_text(f.target)}", ""]
            out += [md_paragraph(f.detail), ""]
            if f.why:
                out += [f"*Why it matters:* {md_text(f.why)}", ""]
            if f.evidence:
                out += [md_fence(f.evidence), ""]
            if f.source:
                out += [f"Source: {md_text(f.source)}", ""]
    out += ["## Inputs", "", "| File | Kind | Target | Summary |", "|---|---|---|---|"]
    out += [f"| {md_text(s.path)} | {s.kind} | {md_text(s.target)} | {md_text(s.summary)} |"
            for s in report.sources]  # fmt: skip
    out.append("")
    transcripts = [s for s in report.sources if s.transcript is not None]
    if transcripts:
        out += ["## Recorded dialogues", ""]
        for source in transcripts:
            assert source.transcript is not None
            from smtpsh.report.ladder import rows

            out += [f"### {md_text(source.path)} — {md_text(source.target)}", ""]
            lines = []
            for row in rows(source.transcript):
                mark = {"send": "C:", "reply": "S:", "tls": "==", "note": "#"}[row.kind]
                lines.append(f"{row.at_ms / 1000:8.3f}s {mark} {row.label}")
                if row.gloss:
                    lines.append(f"{'':9}    ↳ {row.gloss}")
            out += [md_fence(lines), ""]
    return "\n".join(out)

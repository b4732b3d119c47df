"""`smtpsh report`: findings by severity with their evidence, the ladder of a transcript,
Markdown, the envelope and JSON Lines, bad inputs; and markup from a server stays text."""

from __future__ import annotations

import json
import re
from pathlib import Path

from smtpsh.report.load import load
from smtpsh.report.render import md_fence, md_paragraph, md_text, render_html
from tests.report.common import (
    CLEAR_SECRET,
    HOSTILE_BANNER,
    HOSTILE_REPLY,
    Markup,
    hostile_probe,
    smtpsh,
    write_inputs,
)


def test_hostile_banner_and_replies_are_text_not_markup(tmp_path: Path) -> None:
    probe, transcript = write_inputs(tmp_path)
    out = tmp_path / "report.html"
    proc = smtpsh("report", str(probe), str(transcript), "-o", str(out))
    assert proc.returncode == 1, proc.stderr  # high findings: exit 1
    page = out.read_text(encoding="utf-8")
    markup = Markup(page)
    # No element the server named: no script, no img, no <b>/<i> from a reply.
    assert not markup.names() & {"script", "img", "b", "i"}, markup.names()
    assert "<script" not in page.lower()
    # ... but what it said is there, as text, in the findings and in the ladder.
    text = markup.all_text()
    assert HOSTILE_BANNER in text
    assert HOSTILE_REPLY in text
    assert "252 2.0.0 <i>root</i>" in text
    # The reply that tries to close the SVG is inside one <svg>, which ends once.
    assert page.count("</svg>") == page.count("<svg") == 1


def test_page_is_self_contained_and_forbids_scripts(tmp_path: Path) -> None:
    probe, transcript = write_inputs(tmp_path)
    page = render_html(load([str(probe), str(transcript)]))
    markup = Markup(page)
    for tag, attrs in markup.tags:
        assert tag not in ("link", "script", "iframe", "object", "embed"), tag
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or value.startswith(("#", "data:")), (tag, name, value)
    assert "url(http" not in page and "@import" not in page
    csp = [a["content"] for t, a in markup.tags if t == "meta" and a.get("http-equiv")]
    assert csp and "default-src 'none'" in str(csp[0])


def test_findings_by_severity_with_evidence(tmp_path: Path) -> None:
    probe, _ = write_inputs(tmp_path)
    report = load([str(probe)])
    severities = {f.title: f.severity for f in report.findings}
    assert severities == {
        "banner leaks software and version": "low",
        "VRFY enabled (user enumeration)": "medium",
        "AUTH offered before TLS": "high",
    }
    order = [s for s, _ in report.by_severity()]
    assert order == ["high", "medium", "low"]
    vrfy = next(f for f in report.findings if f.title.startswith("VRFY"))
    assert vrfy.evidence == ("C: VRFY root", "S: 252 2.0.0 <i>root</i>",
                             "C: VRFY zzqq", "S: 550 5.1.1 unknown")
    banner = next(f for f in report.findings if f.title.startswith("banner"))
    assert banner.evidence == (f"S: {HOSTILE_BANNER}",)
    page = render_html(report)
    # Most severe first in the page too.
    assert page.index('id="sev-high"') < page.index('id="sev-medium"') < page.index('id="sev-low"')


def test_ladder_rows_colours_tls_band_and_masked_secret(tmp_path: Path) -> None:
    _, transcript = write_inputs(tmp_path)
    page = render_html(load([str(transcript)]))
    svg = page[page.index("<svg"): page.index("</svg>")]
    markup = Markup(svg)
    arrows = [a for t, a in markup.tags if t == "line" and "arrow" in str(a.get("class"))]
    # 8 client lines and 9 replies (banner included), in time order.
    assert len(arrows) == 17
    classes = [str(a["class"]) for a in arrows]
    assert classes[0] == "arrow reply2xx"  # the banner, server to client
    assert "arrow reply5xx" in classes and "arrow reply4xx" in classes
    assert all(int(a["x1"] or 0) < int(a["x2"] or 0) for a in arrows if a["class"] == "arrow")
    assert [t for t, a in markup.tags if a.get("class") == "tls-band"] == ["rect"]
    assert "TLS TLSv1.3 TLS_AES_256_GCM_SHA384" in markup.all_text()
    # The AUTH PLAIN answer was in clear in the file: masked in the diagram all the same.
    assert CLEAR_SECRET not in page
    assert "AUTH PLAIN ********" in markup.all_text()
    # Time offsets on the side: 12 ms after the start for the banner.
    assert "+0.012 s" in markup.all_text()
    # Each reply's meaning as its tooltip: the 550 is glossed for RCPT.
    titles = re.findall(r"<title>([^<]*)</title>", svg)
    assert any(t.startswith("550 ") and "5.1.1" in t for t in titles), titles
    assert any(t.startswith("235 ") for t in titles), titles


def test_transcript_only_report_is_just_the_ladder(tmp_path: Path) -> None:
    _, transcript = write_inputs(tmp_path)
    out = tmp_path / "ladder.html"
    proc = smtpsh("report", str(transcript), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    page = out.read_text(encoding="utf-8")
    assert 'id="ladders"' in page and 'id="findings"' not in page


def test_markdown_escapes_and_fences(tmp_path: Path) -> None:
    probe, transcript = write_inputs(tmp_path)
    proc = smtpsh("report", str(probe), str(transcript), "--markdown")
    assert proc.returncode == 1, proc.stderr
    md = proc.stdout
    assert md.startswith("# SMTP assessment")
    assert "### High (1)" in md and "### Medium (1)" in md
    # Outside text in prose: no raw tag a Markdown renderer would pass through.
    prose = re.sub(r"(?ms)^(`{3,})text\n.*?^\1$", "", md)
    assert "<script" not in prose and "<i>" not in prose
    assert "Evil &lt;script&gt;x()&lt;/script&gt; 1.0" in prose
    # Evidence verbatim inside fences.
    assert f"S: {HOSTILE_BANNER}" in md
    assert "↳ 550 mailbox unavailable · 5.1.1 bad destination mailbox address" in md  # glossed
    assert CLEAR_SECRET not in md
    assert md_text("a|b *c* [d](e)") == "a\\|b \\*c\\* \\[d\\](e)"
    assert md_paragraph("1. x") == "1\\. x" and md_paragraph("# x") == "\\# x"
    assert md_text("1. x") == "1. x"
    fenced = md_fence(["```", "x"])
    assert fenced.startswith("````text\n") and fenced.endswith("\n````")


def test_envelope_and_json_lines(tmp_path: Path) -> None:
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"smtpsh": 1, "command": "probe", "result": hostile_probe()}))
    lines = tmp_path / "fleet.jsonl"
    lines.write_text(json.dumps(hostile_probe()) + "\n"
                     + json.dumps({"smtpsh": 1, "result": hostile_probe()}) + "\n")
    report = load([str(wrapped), str(lines)])
    assert [s.kind for s in report.sources] == ["probe"] * 3
    assert [s.path for s in report.sources][1:] == [f"{lines}:1", f"{lines}:2"]
    assert len(report.findings) == 9


def test_a_note_on_many_hosts_is_said_once_with_the_hosts_under_it(tmp_path: Path) -> None:
    """Over a fleet the same low note would come once a host and bury what matters: it is
    one finding listing its hosts; a high or medium one is still shown host by host."""
    docs = []
    for n in range(1, 13):
        doc = hostile_probe()
        doc["target"] = f"127.0.9.{n}:25"
        doc["banner"] = [f"220 mx{n}.test ESMTP Postfix"]
        doc["findings"] = [
            {"key": "banner_software", "title": "banner names the software",
             "detail": f"Postfix (from the banner: 'mx{n}.test ESMTP Postfix')",
             "why": "a small hint", "dangerous": False},
        ] + ([{"key": "vrfy", "title": "VRFY enabled (user enumeration)", "detail": "VRFY root",
               "why": "harvest names", "dangerous": True}] if n <= 2 else [])  # fmt: skip
        docs.append(json.dumps({"smtpsh": 1, "command": "probe", "result": doc}))
    fleet = tmp_path / "fleet.jsonl"
    fleet.write_text("\n".join(docs) + "\n")
    page = render_html(load([str(fleet)]))
    markup = Markup(page)
    articles = [a for t, a in markup.tags if t == "article"]
    assert [a["class"] for a in articles] == ["finding sev-medium"] * 2 + [
        "finding grouped sev-low"]
    hosts = re.findall(r'<td class="host">([^<]*)</td>', page)
    assert hosts == [f"127.0.9.{n}:25" for n in range(1, 13)]
    assert "12 hosts" in markup.all_text() and ">Low (12)</h3>" in page
    # The findings first; the list of inputs (a row a host) after them.
    assert page.index('id="findings"') < page.index('id="sources"')
    md = smtpsh("report", str(fleet), "--markdown").stdout
    assert "#### banner names the software — 12 hosts" in md
    assert "| 127.0.9.12:25 | Postfix (from the banner: 'mx12.test ESMTP Postfix') |" in md
    assert md.count("#### VRFY enabled") == 2
    assert md.index("## Findings") < md.index("## Inputs")


def test_dns_tls_relay_and_enum_documents(tmp_path: Path) -> None:
    dns = {"domain": "example.test", "dns_server": "127.0.0.1", "status": "error",
           "summary": {"ok": 1, "warning": 1, "error": 1},
           "items": [{"check": "MX", "status": "ok", "reason": "MX: 1 host"},
                     {"check": "SPF", "status": "error", "reason": "SPF: no record"},
                     {"check": "DMARC", "status": "warning", "reason": "DMARC: p=none"}]}
    tls = {"target": "127.0.0.1:25", "versions": [{"version": "TLSv1.0", "accepted": True}],
           "grade": "C", "grade_capped_by": ["TLS 1.0"], "findings": ["TLSv1.0 accepted"],
           "certificate": []}
    relay = {"verdict": "closed", "results": [], "summary": "closed (16/16 tests refused)"}
    enum = {"method": "VRFY", "found": [{"name": "root", "reply": ["252 2.0.0 root"]}],
            "checked": 5, "domain": "example.test"}
    paths = []
    for name, doc in (("dns", dns), ("tls", tls), ("relay", relay), ("enum", enum)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    report = load(paths)
    got = sorted((f.severity, f.title) for f in report.findings)
    assert got == [("info", "MX: ok"), ("info", "relay refused"), ("low", "DMARC: warning"),
                   ("medium", "SPF: error"), ("medium", "TLS grade C"),
                   ("medium", "users enumerated")]
    enum_finding = next(f for f in report.findings if f.title == "users enumerated")
    assert enum_finding.evidence == ("C: VRFY root", "S: 252 2.0.0 root")


def test_bad_inputs_one_line_and_nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    cases = {
        "other.json": '{"hello": 1}',
        "broken.json": '{"target": ',
        "future.json": '{"smtpsh": 9, "result": {}}',
        "junk.smtpt": "hello world\n",
    }
    for name, content in cases.items():
        (tmp_path / name).write_text(content)
        proc = smtpsh("report", str(tmp_path / name), "-o", str(out))
        assert proc.returncode == 2, (name, proc.stdout)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("smtpsh report: ") and name in proc.stderr
        assert not out.exists()
    proc = smtpsh("report", str(tmp_path / "missing.json"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr


def test_output_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    probe, _ = write_inputs(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    link = tmp_path / "r.html"
    link.symlink_to(victim)
    proc = smtpsh("report", str(probe), "-o", str(link))
    assert proc.returncode == 4 and "symbolic link" in proc.stderr  # not written: failed
    assert victim.read_text() == "keep me\n"
    # An existing file that is not a report is not overwritten either; an old report is.
    other = tmp_path / "notes.txt"
    other.write_text("my notes\n")
    assert smtpsh("report", str(probe), "-o", str(other)).returncode == 4
    assert other.read_text() == "my notes\n"
    old = tmp_path / "old.html"
    assert smtpsh("report", str(probe), "-o", str(old)).returncode == 1
    assert smtpsh("report", str(probe), "-o", str(old)).returncode == 1
    assert old.read_text().startswith("<!DOCTYPE html>")


def test_standard_input(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "smtpsh", "report", "-", "--markdown"],
                          input=json.dumps(hostile_probe()), capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "| (standard input) | probe | 127.0.0.1:2525 |" in proc.stdout


def test_exit_status_of_each_outcome_is_the_shared_tables(tmp_path: Path) -> None:
    """0 written and nothing high or medium, 1 written with such findings, 2 a wrong command
    line or input file (as replay and enum -U), 4 the report could not be written, 130
    Ctrl-C, 141 the reader of its output gone."""
    import os
    import pty
    import subprocess
    import sys

    from smtpsh import exitcodes

    probe, transcript = write_inputs(tmp_path)
    clean = smtpsh("report", str(transcript), "-o", str(tmp_path / "ladder.html"))
    assert clean.returncode == exitcodes.OK, clean.stderr
    found = smtpsh("report", str(probe), "-o", str(tmp_path / "found.html"))
    assert found.returncode == exitcodes.FOUND, found.stderr
    for args in ([], ["--no-such-option", str(probe)], [str(tmp_path / "missing.json")]):
        proc = smtpsh("report", *args)
        assert proc.returncode == exitcodes.USAGE, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.strip(), args
    # --json: refused, saying why, before anything is read or written
    proc = smtpsh("report", str(probe), "--json", "-o", str(tmp_path / "j.html"))
    assert proc.returncode == exitcodes.USAGE and not (tmp_path / "j.html").exists()
    assert "smtpsh report: error: --json: not offered: the report is a page for people" in (
        " ".join(proc.stderr.split())
    ), proc.stderr
    # HTML onto a terminal: a usage error, said in one line
    leader, follower = pty.openpty()
    try:
        tty = subprocess.run([sys.executable, "-m", "smtpsh", "report", str(probe)],
                             stdout=follower, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    assert tty.returncode == exitcodes.USAGE
    assert tty.stderr == "smtpsh report: HTML on a terminal: use -o FILE (or --markdown)\n"
    # Ctrl-C while `-` waits for standard input
    import signal
    import time

    waiting = subprocess.Popen([sys.executable, "-m", "smtpsh", "report", "-", "--markdown"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    wchan = Path(f"/proc/{waiting.pid}/wchan")
    deadline = time.monotonic() + 30
    while "pipe" not in wchan.read_text():  # not until it waits on its standard input
        assert time.monotonic() < deadline, wchan.read_text()
        time.sleep(0.05)
    waiting.send_signal(signal.SIGINT)
    _, err = waiting.communicate(timeout=30)
    assert waiting.returncode == exitcodes.INTERRUPTED and "Traceback" not in err, err
    # a reader already gone (`| head` that has left): 141, quietly
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        gone = subprocess.run([sys.executable, "-m", "smtpsh", "report", str(probe),
                               "--markdown"], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    finally:
        os.close(write_end)
    assert gone.returncode == exitcodes.BROKEN_PIPE and gone.stderr == "", gone.stderr
    # output that cannot be written: a directory, a folder that does not exist
    for where in (tmp_path, tmp_path / "no" / "such" / "r.html"):
        proc = smtpsh("report", str(probe), "-o", str(where))
        assert proc.returncode == exitcodes.FAILED, (where, proc.stderr)
        assert proc.stderr.startswith(f"smtpsh report: {where}: ")
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr

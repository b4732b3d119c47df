"""`smtpsh report` from what smtpsh really printed against the loopback Postfix: the open-relay
listener's probe and relay results, and a session recorded over STARTTLS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from smtpsh.report.load import load
from tests.report.common import Markup, smtpsh

if TYPE_CHECKING:
    from conftest import PostfixEnv

pytestmark = pytest.mark.postfix


def test_report_of_a_real_open_relay(postfix: PostfixEnv, tmp_path: Path) -> None:
    target = f"{postfix.host}:{postfix.port('open_relay')}"
    probe = smtpsh("probe", target, "--json", "--cafile", str(postfix.ca_file))
    assert probe.returncode == 1, probe.stderr  # dangerous settings found
    relay = smtpsh("relay", target, "--json")
    (tmp_path / "probe.json").write_text(probe.stdout)
    (tmp_path / "relay.json").write_text(relay.stdout)
    out = tmp_path / "report.html"
    proc = smtpsh("report", str(tmp_path / "probe.json"), str(tmp_path / "relay.json"),
                  "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    page = out.read_text(encoding="utf-8")
    text = Markup(page).all_text()
    high = page[page.index('id="sev-high"'):page.index('id="sev-medium"')]
    assert high.count('class="finding sev-high"') == 2  # the probe's and relay's verdicts
    # The evidence is the exact dialogue of a test that relayed.
    assert "C: RCPT TO:<relaytest@example.com>\nS: 250 2.1.5 Ok" in text
    assert f"S: 220 {postfix.banner}" in text  # the banner, as the version leak's evidence
    # The relay tests' caveat travels with both open-relay verdicts: RCPT only, no DATA.
    assert text.count("DATA is never sent") == 2
    md = smtpsh("report", str(tmp_path / "probe.json"), "--markdown")
    assert "#### open relay — 127\\.0\\.0\\.1" not in md.stdout  # dots are not escaped
    assert f"#### open relay — {target}" in md.stdout


def test_ladder_of_a_recorded_starttls_session(postfix: PostfixEnv, tmp_path: Path) -> None:
    record = tmp_path / "session.smtpt"
    script = ("EHLO client.test\nMAIL FROM:<a@client.test>\n"
              f"RCPT TO:<{postfix.users[0]}@{postfix.domain}>\nRCPT TO:<nobody-zz@{postfix.domain}>"
              "\nQUIT\n")
    subprocess.run([sys.executable, "-m", "smtpsh", f"{postfix.host}:{postfix.port('smtp')}",
                    "--starttls", "--cafile", str(postfix.ca_file), "--record", str(record)],
                   input=script, capture_output=True, text=True, timeout=60,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, check=False)
    assert "# tls TLSv1" in record.read_text()
    out = tmp_path / "ladder.html"
    proc = smtpsh("report", str(record), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    svg = Markup(out.read_text(encoding="utf-8"))
    classes = [str(a.get("class")) for t, a in svg.tags if t == "line" and a.get("class")]
    assert classes.count("arrow reply5xx") == 1  # the unknown recipient
    replies = sum(1 for c in classes if c.startswith("arrow reply"))
    assert replies == classes.count("arrow") + 1  # one reply a line sent, and the banner
    assert [t for t, a in svg.tags if a.get("class") == "tls-band"] == ["rect"]
    assert f"RCPT TO:<nobody-zz@{postfix.domain}>" in svg.all_text()


def test_report_of_a_real_dns_check(tmp_path: Path) -> None:
    """`smtpsh dns --json` against the loopback zone server (scripts/setup-dnssec)."""
    try:
        facts = json.loads(Path("/var/lib/smtpsh-test/dnssec.json").read_text())
    except OSError as exc:
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(f"the test zone server is missing: {exc}", pytrace=False)
        pytest.skip("the test zone server is missing; run scripts/setup-test-env")
    dns = smtpsh("dns", facts["signed"], "--dns-server", facts["server"], "--json")
    assert dns.returncode == 0, dns.stderr
    (tmp_path / "dns.json").write_text(dns.stdout)
    report = load([str(tmp_path / "dns.json")])
    by_title = {f.title: f for f in report.findings}
    spf = by_title["SPF: ok"]
    assert spf.evidence == (f'{facts["signed"]} TXT "v=spf1 mx -all"',)
    assert by_title["MX: ok"].evidence == (f"{facts['signed']} MX 10 mx.{facts['signed']}",)
    assert by_title["TLS-RPT: warning"].severity == "low"
    assert report.sources[0].summary == dns_summary(json.loads(dns.stdout))


def dns_summary(doc: dict[str, Any]) -> str:
    report = doc.get("result", doc) if "smtpsh" in doc else doc  # the versioned envelope
    return ", ".join(f"{n} {k}" for k, n in report["summary"].items())

"""Many targets at scale: `smtpsh probe -T` (the real CLI, in a subprocess) over the fake
fleet's 1,000 servers (bench/fakefleet.py, 127.x.y.z addresses). Every host gets one JSON
Lines document valid against the schema; the planted hosts show exactly the dangerous
findings planted and the others none; `smtpsh report` over the results is written, its
size recorded, the planted findings in it and the hostile banner shown as text.

Speed is bench/bench_fleet.py's business, not this test's: it only has to finish.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from bench.fakefleet import Fleet, running_fleet
from smtpsh.audit.report import WHY
from tests.helpers.jsondoc import VALIDATOR

COUNT = 1000
CONCURRENCY = 100


@dataclass
class FleetRun:
    fleet: Fleet
    folder: Path
    jsonl: Path
    proc: subprocess.CompletedProcess[str]
    seconds: float
    docs: dict[str, dict[str, Any]]  # target -> its line


def _smtpsh(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smtpsh", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**os.environ, "NO_COLOR": "1"})  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetRun]:
    folder = tmp_path_factory.mktemp("fleet")
    with running_fleet(COUNT) as fleet:
        targets = folder / "targets.txt"
        targets.write_text("# the fake fleet (bench/fakefleet.py)\n\n" + fleet.targets_text())
        jsonl = folder / "probe.jsonl"
        started = time.monotonic()
        # --no-verify: the fleet's certificate is self-signed (each host would otherwise
        # be looked at twice); --host-timeout: no host may hold the run up.
        proc = _smtpsh("probe", "-T", str(targets), "--concurrency", str(CONCURRENCY),
                       "--jsonl", str(jsonl), "--no-verify", "--host-timeout", "120")
        seconds = time.monotonic() - started
    print(f"\nsmtpsh probe -T: {COUNT} hosts in {seconds:.1f} s ({COUNT / seconds:.0f} hosts/s);"
          f" fleet served {fleet.counters}")
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    docs: dict[str, dict[str, Any]] = {}
    if jsonl.exists():
        for line in jsonl.read_text(encoding="utf-8").splitlines():
            doc = json.loads(line)
            docs[doc["target"]] = doc
    yield FleetRun(fleet, folder, jsonl, proc, seconds, docs)


def test_one_valid_line_for_every_host(run: FleetRun) -> None:
    assert run.proc.returncode == 1, run.proc.stderr[-3000:]  # dangerous findings: "found"
    lines = run.jsonl.read_text(encoding="utf-8").splitlines()
    assert len(lines) == COUNT
    for line in lines:
        doc = json.loads(line)
        VALIDATOR.validate(doc)
        assert doc["command"] == "probe"
    assert set(run.docs) == {h.target for h in run.fleet.hosts}  # each host once


def test_planted_findings_and_no_others(run: FleetRun) -> None:
    wrong = []
    for host in run.fleet.hosts:
        doc = run.docs[host.target]
        result = doc["result"] or {}
        found = {f["key"] for f in result.get("findings", []) if f["dangerous"]}
        if found != host.expected:
            wrong.append(f"{host.target} {host.persona} {sorted(host.traits)}: {sorted(found)}")
        if "refuses" in host.traits:
            assert doc["status"] == "failed" and "554" in doc["error"]["message"], doc
        else:
            assert doc["status"] == ("found" if host.expected else "ok"), doc["error"]
            assert result["banner"] == [host.banner]  # hostile banner included, verbatim
    assert not wrong, "\n".join(wrong[:20])
    # Every kind of plant was there to be found.
    assert {k for h in run.fleet.planted for k in h.expected} == {
        "open_relay", "vrfy", "expn", "no_starttls", "auth_in_clear", "banner_version",
        "ntlm_info"}


def _articles(page: str) -> list[tuple[str, str, str]]:
    """(severity, title, target) of each finding in a report page (a finding said once for
    many hosts gives one for each of its hosts)."""
    out = []
    for match in re.finditer(r'<article class="finding (?:grouped )?sev-(\w+)".*?</article>',
                             page, re.S):
        body = match.group(0)
        title = re.search(r"<h3>(.*?)</h3>", body, re.S)
        assert title is not None
        name = unescape(re.sub(r"<span[^>]*>.*?</span>", "", title.group(1)))
        hosts = re.findall(r'<td class="host">(.*?)</td>', body) or re.findall(
            r'<p class="target">(.*?)</p>', body)
        out += [(match.group(1), name, unescape(host)) for host in hosts]
    return out


def test_report_over_the_fleet(run: FleetRun, record_property: Any) -> None:
    out = run.folder / "report.html"
    started = time.monotonic()
    proc = _smtpsh("report", str(run.jsonl), "-o", str(out), "--title", "Fake fleet")
    seconds = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr  # written, with high findings
    size = out.stat().st_size
    record_property("report_bytes", size)
    # Over a fleet the notes every host shares are said once each, with their hosts.
    assert size < 2_000_000
    print(f"\nreport of {COUNT} hosts: {size:,} bytes, written in {seconds:.1f} s")
    page = out.read_text(encoding="utf-8")
    found = _articles(page)
    shown = {(title, target) for _, title, target in found}
    for host in run.fleet.hosts:
        for key in host.expected:
            assert (WHY[key][0], host.target) in shown, (key, host.target)
    # High and medium only where something was planted: at the top, not lost in the rest.
    serious = {target for severity, _, target in found if severity in ("high", "medium")}
    assert serious == {h.target for h in run.fleet.planted if h.expected - {"banner_version"}}
    # The hostile banner: its markup is text in the page, never an element.
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;fleet&#x27;)&lt;/script&gt;" in page

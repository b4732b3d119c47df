"""The many-target runner's ways of running give the same results: one process on asyncio's
event loop, and forked workers on uvloop's (the optional `fast` extra, installed for the
tests), over the same fake fleet: the same line for every host, findings, relay verdicts
and dialogue alike."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.fakefleet import running_fleet

COUNT = 60  # the plan then holds some of each planted trait
RANDOM = re.compile(r"zz[a-z]{12}")  # the probe's random names (VRFY canary, controls)


def _same(doc: Any) -> Any:
    """A line without what differs from run to run: timings, random names, and how many
    connections the relay tests took (a reply slowed by a loaded machine can pass for a
    tarpit and renew one)."""
    if isinstance(doc, dict):
        return {key: _same(value) for key, value in doc.items()
                if key not in ("banner_ms", "seconds", "connections")}
    if isinstance(doc, list):
        return [_same(value) for value in doc]
    return RANDOM.sub("zz…", doc) if isinstance(doc, str) else doc


def _probe(targets: Path, out: Path, *options: str) -> tuple[dict[str, Any], list[str]]:
    """(each host's line of JSON, less what differs from run to run; the report on
    standard output, its lines sorted, less the line that times the run)."""
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "probe", "-T", str(targets), "--jsonl", str(out),
         "--concurrency", "20", *options],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == COUNT
    shown = sorted(line for line in proc.stdout.splitlines() if " checked in " not in line)
    # The findings' example hosts are the first few to end, an order that varies: counted.
    shown = [re.sub(r" \(127\.[^)]*\)$", "", line) for line in shown]
    return {doc["target"]: _same(doc) for doc in lines}, shown


def test_asyncio_in_one_process_and_uvloop_in_workers_say_the_same(tmp_path: Path) -> None:
    with running_fleet(COUNT) as fleet:
        targets = tmp_path / "targets.txt"
        targets.write_text(fleet.targets_text())
        plain, plain_shown = _probe(targets, tmp_path / "a.jsonl", "--event-loop", "asyncio",
                                    "--processes", "1")
        forked, forked_shown = _probe(targets, tmp_path / "b.jsonl", "--event-loop", "uvloop",
                                      "--processes", "2")
    # The workers work out each host's line (the parent does not parse the results): the
    # same lines, the same summary of findings.
    assert forked_shown == plain_shown
    assert sum(1 for line in plain_shown if re.match(r"127\.\S+:\d+ ", line)) == COUNT
    assert any("open relay" in line for line in plain_shown)
    assert plain.keys() == forked.keys()
    for target, doc in plain.items():
        assert forked[target] == doc, target
    planted = {h.target for h in fleet.planted}
    found = {t for t, doc in plain.items()
             if any(f["dangerous"] for f in (doc["result"] or {}).get("findings", []))}
    assert found == {h.target for h in fleet.hosts if h.expected} and found <= planted

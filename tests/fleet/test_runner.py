"""The many-target engine without a network: concurrency, deadlines, JSON Lines, resume,
the politeness delay and the run's exit status."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from helpers.jsondoc import VALIDATOR

from smtpsh import exitcodes, jsonout
from smtpsh.fleet.runner import (
    Document,
    JsonLines,
    JsonLinesError,
    Outcome,
    Runner,
    Tally,
    by_address,
    fleet_status,
    read_done,
)
from smtpsh.fleet.targets import Host
from smtpsh.net.polite import Politeness

HOSTS = [Host(f"127.0.9.{n}", 25) for n in range(1, 21)]


def envelope(host: Host, status: int = exitcodes.OK) -> Document:
    return jsonout.envelope("probe", host.key, status, {"seen": host.host})


def test_at_most_concurrency_hosts_run_at_once_and_each_once() -> None:
    running, most, seen = 0, 0, []

    async def job(host: Host) -> Document:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        seen.append(host.key)
        return envelope(host)

    runner = Runner("probe", job, concurrency=4)
    tally = asyncio.run(runner.run(HOSTS, len(HOSTS)))
    assert most == 4
    assert sorted(seen) == sorted(h.key for h in HOSTS)
    assert (tally.done, tally.count(exitcodes.OK)) == (20, 20)


def test_a_slow_host_times_out_and_a_crashing_job_is_one_failed_host(tmp_path: Path) -> None:
    async def job(host: Host) -> Document:
        if host.host.endswith(".1"):
            await asyncio.sleep(30)
        if host.host.endswith(".2"):
            raise RuntimeError("boom")
        return envelope(host, exitcodes.FOUND if host.host.endswith(".3") else exitcodes.OK)

    out = JsonLines(str(tmp_path / "out.jsonl"), append=False)
    started = time.monotonic()
    runner = Runner("probe", job, concurrency=8, host_timeout=0.3, jsonl=out)
    tally = asyncio.run(runner.run(HOSTS[:5], 5))
    out.close()
    assert time.monotonic() - started < 5
    docs = {d["target"]: d for d in map(json.loads, (tmp_path / "out.jsonl").read_text()
                                         .splitlines())}
    assert len(docs) == 5
    for key in ("127.0.9.1:25", "127.0.9.2:25"):  # the runner's own envelopes
        VALIDATOR.validate(docs[key])
    assert docs["127.0.9.1:25"]["error"] == {
        "kind": "timeout", "message": "no result within 0.3 s (--host-timeout)"}
    assert docs["127.0.9.2:25"]["error"]["kind"] == "error"
    assert "RuntimeError: boom" in docs["127.0.9.2:25"]["error"]["message"]
    assert (tally.found, tally.errors, tally.count(exitcodes.OK)) == (1, 2, 2)
    assert fleet_status(tally) == exitcodes.FOUND


def test_each_line_is_written_whole_as_its_host_is_done(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    out = JsonLines(str(path), append=False)
    lines_when: list[int] = []

    async def job(host: Host) -> Document:
        lines_when.append(len(path.read_bytes().splitlines()))  # what a reader sees now
        return envelope(host)

    asyncio.run(Runner("probe", job, concurrency=1, jsonl=out).run(HOSTS[:3], 3))
    out.close()
    assert lines_when == [0, 1, 2]
    assert path.read_bytes().endswith(b"\n")
    assert os.stat(path).st_mode & 0o777 == 0o600


async def two_quick_then_slow(host: Host) -> Document:
    """A job done at once for the hosts ending in .1 and .2, still running after 30 s for
    the others: what a stop must keep, and what it must not write half done."""
    if host.host.endswith((".1", ".2")):
        return envelope(host)
    await asyncio.sleep(30)
    return envelope(host)


def test_stop_keeps_what_is_done_and_writes_nothing_half_done(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    out = JsonLines(str(path), append=False)

    job = two_quick_then_slow

    async def main() -> Runner:
        runner = Runner("probe", job, concurrency=4, jsonl=out)
        task = asyncio.ensure_future(runner.run(HOSTS[:6], 6))
        await asyncio.sleep(0.2)
        runner.stop()
        await task
        return runner

    runner = asyncio.run(main())
    out.close()
    assert runner.stopped_by is not None
    assert sorted(json.loads(line)["target"] for line in path.read_text().splitlines()) == [
        "127.0.9.1:25", "127.0.9.2:25"]
    assert fleet_status(runner.tally, interrupted=True) == exitcodes.INTERRUPTED


def test_resume_reads_the_targets_done_and_repairs_a_cut_last_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    whole = [json.dumps(envelope(h)) for h in HOSTS[:3]]
    other = json.dumps(jsonout.envelope("dns", "example.com", 0, {}))
    path.write_text("\n".join([*whole, "garbage", other]) + "\n" + whole[0][:40])
    done, problems = read_done(str(path), "probe")
    assert done == {"127.0.9.1:25": 0, "127.0.9.2:25": 0, "127.0.9.3:25": 0}
    assert problems == [
        f"{path}:4: not a smtpsh result line: ignored",
        f"{path}:6: the last line was cut short (an interrupted write): removed; that host"
        " is checked again",
        f"{path}: 1 result of 'smtpsh dns', not 'probe': ignored",
    ]
    assert path.read_text().endswith("\n")  # the cut line is gone: appending starts clean
    out = JsonLines(str(path), append=True)
    out.write(envelope(HOSTS[5]))
    out.close()
    assert json.loads(path.read_text().splitlines()[-1])["target"] == "127.0.9.6:25"
    assert read_done(str(tmp_path / "new.jsonl"), "probe") == ({}, [])
    many = tmp_path / "many.jsonl"
    many.write_text("x\n" * 500 + json.dumps(envelope(HOSTS[0])) + "\n")
    done, problems = read_done(str(many), "probe")
    assert done == {"127.0.9.1:25": 0}
    assert problems == [f"{many}:1: not a smtpsh result line: ignored (and 499 more)"]


def test_resume_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(JsonLinesError, match="not a regular file"):
        read_done(str(fifo), "probe")  # no endless wait for a writer
    with pytest.raises(JsonLinesError, match=r"not a regular file|Is a directory"):
        read_done(str(tmp_path), "probe")


def test_the_jsonl_file_is_never_written_through_a_link_or_over_a_stranger(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "out.jsonl"
    link.symlink_to(victim)
    with pytest.raises(JsonLinesError, match="symbolic link"):
        JsonLines(str(link), append=False)
    with pytest.raises(JsonLinesError, match="not a smtpsh JSON Lines file"):
        JsonLines(str(victim), append=False)
    with pytest.raises(JsonLinesError, match="symbolic link"):
        read_done(str(link), "probe")
    assert victim.read_text() == "precious\n"


def test_politeness_spaces_connections_to_the_same_host_only() -> None:
    polite = Politeness(0.5)
    assert polite.reserve("127.0.9.1") == 0
    assert polite.reserve("127.0.9.2") == 0
    assert 0.45 < polite.reserve("127.0.9.1") <= 0.5
    assert 0.95 < polite.reserve("127.0.9.1") <= 1.0


def tally(**counts: int) -> Tally:
    t = Tally(total=sum(counts.values()))
    for name, n in counts.items():
        for _ in range(n):
            t.add({"ok": 0, "found": 1, "undetermined": 3, "failed": 4}[name])
    return t


def test_the_exit_status_of_a_run() -> None:
    assert fleet_status(tally(ok=5)) == exitcodes.OK
    assert fleet_status(tally(ok=5, found=1, failed=3)) == exitcodes.FOUND
    assert fleet_status(tally(ok=5, undetermined=1)) == exitcodes.UNDETERMINED
    assert fleet_status(tally(ok=5, failed=1)) == exitcodes.UNDETERMINED
    assert fleet_status(tally(ok=5), unread=1) == exitcodes.UNDETERMINED
    assert fleet_status(tally(failed=3)) == exitcodes.FAILED
    assert fleet_status(tally(ok=2), interrupted=True) == exitcodes.INTERRUPTED
    resumed = tally(failed=1)
    resumed.before = {exitcodes.FOUND: 1}  # found before the interruption: still found
    assert fleet_status(resumed) == exitcodes.FOUND
    resumed.before = {exitcodes.OK: 2}
    assert fleet_status(resumed) == exitcodes.UNDETERMINED
    assert exitcodes.MANY in exitcodes.TABLE[exitcodes.FOUND][1]


def test_rate_and_eta() -> None:
    t = Tally(total=100, started=time.monotonic() - 10)
    for _ in range(50):
        t.add(exitcodes.OK)
    assert 4.5 < t.rate < 5.5
    assert t.eta is not None and 9 < t.eta < 11
    assert Tally(total=3).eta is None


def test_workers_share_the_hosts_out_and_each_is_written_once(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    out = JsonLines(str(path), append=False)
    told: list[str] = []

    async def job(host: Host) -> Document:
        await asyncio.sleep(0.01)
        if host.host.endswith(".2"):
            raise RuntimeError("boom")  # in a worker: still one failed host
        return jsonout.envelope("probe", host.key, exitcodes.OK, {"pid": os.getpid()})

    runner = Runner("probe", job, concurrency=8, jsonl=out,
                    on_result=lambda outcome: told.append(outcome.host.key), workers=2)
    tally = asyncio.run(runner.run(HOSTS, len(HOSTS)))
    out.close()
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(d["target"] for d in docs) == sorted(h.key for h in HOSTS)
    assert sorted(told) == sorted(h.key for h in HOSTS)
    assert (tally.done, tally.count(exitcodes.OK), tally.errors) == (20, 19, 1)
    # Two processes did the work, neither of them this one.
    pids = {d["result"]["pid"] for d in docs if d["result"]}
    assert len(pids) == 2 and os.getpid() not in pids
    failed = next(d for d in docs if d["target"] == "127.0.9.2:25")
    assert "RuntimeError: boom" in failed["error"]["message"]
    assert runner._children == []  # every worker reaped


def test_a_worker_works_out_the_digest_and_the_parent_does_not_parse_the_envelope(
    tmp_path: Path,
) -> None:
    """A worker sends what the front-end shows of a host (the digest: its line's text, the
    findings) beside the envelope's JSON line; the parent writes that line to --jsonl as it
    came and hands it on unparsed (15 KB a probe host: parsing it was the parent's main
    cost), still parsable when something asks for the envelope."""
    path = tmp_path / "out.jsonl"
    out = JsonLines(str(path), append=False)
    told: list[Outcome] = []

    async def job(host: Host) -> Document:
        status = exitcodes.FOUND if host.host.endswith(".3") else exitcodes.OK
        return jsonout.envelope("probe", host.key, status, {"note": "tab\there\nnewline"})

    def digest(doc: Document) -> dict[str, object]:
        return {"summary": f"{doc['target']} by {os.getpid()}",
                "findings": ["open relay"] if doc["exit"] == exitcodes.FOUND else []}

    runner = Runner("probe", job, concurrency=8, jsonl=out, on_result=told.append,
                    workers=2, digest=digest)
    tally = asyncio.run(runner.run(HOSTS, len(HOSTS)))
    out.close()
    assert tally.done == 20 and tally.found == 1
    written = path.read_bytes().splitlines(keepends=True)
    assert sorted(written) == sorted(outcome.line for outcome in told if outcome.line)
    assert len(told) == 20
    for outcome in told:
        assert outcome._document is None  # not parsed on the way
        assert outcome.digest is not None
        target, _, pid = outcome.digest["summary"].partition(" by ")
        assert target == outcome.host.key and int(pid) != os.getpid()
        assert outcome.status == outcome.document["exit"]  # parsed now, on demand
        assert outcome.document["result"]["note"] == "tab\there\nnewline"
        found = outcome.host.host.endswith(".3")
        assert outcome.digest["findings"] == (["open relay"] if found else [])


def test_stop_ends_the_workers_and_keeps_what_they_did(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    out = JsonLines(str(path), append=False)

    job = two_quick_then_slow

    async def main() -> tuple[Runner, float]:
        runner = Runner("probe", job, concurrency=4, jsonl=out, workers=2)
        task = asyncio.ensure_future(runner.run(HOSTS[:6], 6))
        await asyncio.sleep(1.0)
        started = time.monotonic()
        runner.stop()
        await task
        return runner, time.monotonic() - started

    runner, took = asyncio.run(main())
    out.close()
    assert took < 10  # the workers were told to stop, not waited out (30 s a host)
    assert runner.stopped_by is not None and runner._children == []
    assert sorted(json.loads(line)["target"] for line in path.read_text().splitlines()) == [
        "127.0.9.1:25", "127.0.9.2:25"]


def test_every_port_of_an_address_goes_to_the_same_worker(tmp_path: Path) -> None:
    """--delay is kept by one process's Politeness: the ports of one address must not be
    split between workers (each would space its own connections only)."""
    hosts = [Host(f"127.0.9.{n}", port) for port in (25, 587, 465) for n in range(1, 7)]
    groups = by_address(hosts)
    assert [[h.key for h in group] for group in groups] == [
        [f"127.0.9.{n}:{port}" for port in (25, 587, 465)] for n in range(1, 7)]

    async def job(host: Host) -> Document:
        await asyncio.sleep(0.01)
        return jsonout.envelope("probe", host.key, exitcodes.OK, {"pid": os.getpid()})

    path = tmp_path / "out.jsonl"
    out = JsonLines(str(path), append=False)
    asyncio.run(Runner("probe", job, concurrency=4, jsonl=out, workers=4).run(
        hosts, len(hosts)))
    out.close()
    pids: dict[str, set[int]] = {}
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        pids.setdefault(doc["target"].rsplit(":", 1)[0], set()).add(doc["result"]["pid"])
    assert len(pids) == 6 and all(len(ran_in) == 1 for ran_in in pids.values())
    assert len(set().union(*pids.values())) == 4  # every worker had some


def test_a_worker_whose_hosts_end_sooner_is_handed_more(tmp_path: Path) -> None:
    """The hosts are handed out as the workers go, not shared out in advance: with the
    slow hosts at every other place of the list (each worker was given every other
    address), one worker took all of them and the run lasted twice as long."""
    hosts = [Host(f"127.0.10.{n}", 25) for n in range(1, 41)]
    slow = {h.key for h in hosts[0::2]}

    async def job(host: Host) -> Document:
        await asyncio.sleep(0.1 if host.key in slow else 0.002)
        return jsonout.envelope("probe", host.key, exitcodes.OK, {"pid": os.getpid()})

    path = tmp_path / "out.jsonl"
    out = JsonLines(str(path), append=False)
    tally = asyncio.run(Runner("probe", job, concurrency=2, jsonl=out, workers=2).run(
        hosts, len(hosts)))
    out.close()
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    assert tally.done == 40 and sorted(d["target"] for d in docs) == sorted(h.key for h in hosts)
    slow_by: dict[int, int] = {}
    for doc in docs:
        if doc["target"] in slow:
            slow_by[doc["result"]["pid"]] = slow_by.get(doc["result"]["pid"], 0) + 1
    # Each worker ran about half of the 20 slow hosts (all 20 in one before).
    assert len(slow_by) == 2 and min(slow_by.values()) >= 6, slow_by


def test_a_run_collects_cycles_less_often_and_restores_the_threshold() -> None:
    import gc

    from smtpsh.fleet.runner import FEWER_COLLECTIONS

    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []

    async def job(host: Host) -> Document:
        seen.append(gc.get_threshold())
        return envelope(host)

    asyncio.run(Runner("probe", job, concurrency=4).run(HOSTS[:4], 4))
    assert before[0] < FEWER_COLLECTIONS
    assert seen and all(t == (FEWER_COLLECTIONS, *before[1:]) for t in seen)
    assert gc.get_threshold() == before

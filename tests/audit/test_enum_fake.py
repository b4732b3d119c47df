"""Enumeration against the fake server: 421 mid-run, silence, tarpits, catch-all,
connection limits, pipelining. The rule under test: a name the server did not answer
definitely is retried and never reported absent."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smtpsh.audit.common import Target
from smtpsh.audit.enum import EnumConfig, Enumerator, Verdict
from smtpsh.audit.tarpit import ErrorBudget
from smtpsh.net.client import ClientOptions
from smtpsh.net.tls import TLSSettings, make_context
from tests.audit.fakesmtp import Policy, running

REAL = {"robin", "alice"}


def wordlist(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    names: set[str] = set()
    while len(names) < count - len(REAL):
        name = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 9)))
        if name not in REAL and name not in ("postmaster", "root"):
            names.add(name)
    out = sorted(names)
    out.insert(count // 3, "robin")
    out.insert(2 * count // 3, "alice")
    return out


def target(port: int, timeout: float = 2.0) -> Target:
    options = ClientOptions("127.0.0.1", port, timeout=timeout, connect_timeout=2.0,
                            ssl_context=make_context(TLSSettings(verify=False)))
    return Target(options, "enum.test", starttls=False)


def enumerate_names(port: int, names: list[str], **config: object) -> Enumerator:
    timeout = float(config.pop("timeout", 2.0))  # type: ignore[arg-type]
    enumerator = Enumerator(target(port, timeout), EnumConfig(**config))  # type: ignore[arg-type]

    async def go() -> None:
        await enumerator.prepare()
        await enumerator.run(names)

    asyncio.run(go())
    return enumerator


def found(e: Enumerator) -> set[str]:
    return {r.name for r in e.of(Verdict.FOUND)}


def assert_every_absent_was_answered(e: Enumerator) -> None:
    for result in e.of(Verdict.ABSENT):
        assert result.reply is not None and result.reply.code == 550, result


def test_421_in_the_middle_of_the_run_loses_nothing() -> None:
    names = wordlist(200)
    with running(Policy(drop_every=7)) as server:
        e = enumerate_names(server.port, names, method="vrfy")
    assert found(e) == REAL
    assert len(e.of(Verdict.ABSENT)) == len(names) - 2
    assert not e.of(Verdict.NO_ANSWER)
    assert_every_absent_was_answered(e)
    assert e.stats.retries >= 200 // 7 - 1  # every name cut off by a 421 was asked again
    assert max(server.checks[n] for n in names) >= 2


def test_a_name_the_server_never_answers_is_not_absent() -> None:
    names = wordlist(60)
    # robin: silent once (then answered); ghost: never answered.
    names.append("ghost")
    with running(Policy(hang={"robin": 1, "ghost": 99})) as server:
        e = enumerate_names(server.port, names, method="vrfy", timeout=1.0)
    assert found(e) == REAL
    assert [r.name for r in e.of(Verdict.NO_ANSWER)] == ["ghost"]
    assert e.results["ghost"].verdict is not Verdict.ABSENT
    assert server.checks["robin"] == 2 and server.checks["ghost"] >= 4
    assert_every_absent_was_answered(e)


def test_learns_a_lower_soft_limit_from_the_first_slow_reply() -> None:
    names = wordlist(80)
    with running(Policy(soft_limit=3, soft_sleep=0.6)) as server:
        started = time.monotonic()
        e = enumerate_names(server.port, names, method="vrfy", workers=2)
        took = time.monotonic() - started
    assert found(e) == REAL
    assert e.budget.limit == 3
    assert "slowed down after 3 errors" in e.budget.source
    assert e.budget.tarpit_seen <= 2  # each worker's first connection at most
    # A naive single connection would sleep 0.6 s on 77 of the replies (46 s).
    assert took < 8


def test_learns_a_hard_limit_from_421() -> None:
    names = wordlist(60)
    with running(Policy(hard_limit=4)) as server:
        e = enumerate_names(server.port, names, method="rcpt")
    assert found(e) == REAL
    assert e.budget.limit == 4 and "421" in e.budget.source
    assert not e.of(Verdict.NO_ANSWER)
    assert_every_absent_was_answered(e)


def test_given_budget_keeps_every_connection_out_of_the_tarpit() -> None:
    names = wordlist(60)
    with running(Policy(soft_limit=5, soft_sleep=1.0)) as server:
        started = time.monotonic()
        e = enumerate_names(server.port, names, method="vrfy",
                            budget=ErrorBudget.given(5))
        took = time.monotonic() - started
    assert found(e) == REAL and e.budget.tarpit_seen == 0
    assert took < 3


def test_catch_all_server_is_reported_and_nothing_is_found() -> None:
    names = wordlist(40)
    with running(Policy(vrfy="all252")) as server:
        e = enumerate_names(server.port, names, method="vrfy")
    assert e.catch_all
    assert found(e) == set()
    assert len(e.of(Verdict.LIKE_CANARY)) == len(names)


def test_auto_skips_a_method_that_answers_alike_for_everyone() -> None:
    with running(Policy(vrfy="all252")) as server:
        e = enumerate_names(server.port, wordlist(30), method="auto")
    assert e.method.name == "expn"
    assert "vrfy" in e.method_notes
    assert found(e) == REAL


def test_auto_takes_rcpt_when_vrfy_and_expn_are_off() -> None:
    with running(Policy(vrfy="off", expn=False)) as server:
        e = enumerate_names(server.port, wordlist(30), method="auto",
                            domain="fake.smtpsh.test")
    assert e.method.name == "rcpt"
    assert found(e) == REAL


def test_expn_finds_exactly_the_real_users() -> None:
    names = wordlist(1000)
    with running(Policy()) as server:
        e = enumerate_names(server.port, names, method="expn")
    assert found(e) == REAL
    assert len(e.of(Verdict.ABSENT)) == 998


def test_rcpt_is_pipelined_when_offered() -> None:
    names = wordlist(40)
    with running(Policy()) as server:
        e = enumerate_names(server.port, names, method="rcpt", domain="fake.smtpsh.test",
                            workers=1)
        pipelined = server.pipelined
    assert found(e) == REAL
    assert pipelined >= 10
    with running(Policy(pipelining=False)) as server:
        e = enumerate_names(server.port, names, method="rcpt", domain="fake.smtpsh.test",
                            workers=1)
        assert server.pipelined == 0
    assert found(e) == REAL


def test_fewer_connections_when_the_server_limits_them() -> None:
    names = wordlist(200)
    with running(Policy(max_connections=2)) as server:
        e = enumerate_names(server.port, names, method="vrfy", workers=8)
        assert server.refused >= 1
    assert found(e) == REAL
    assert not e.of(Verdict.NO_ANSWER)


def test_a_refused_connection_leaves_no_name_waiting() -> None:
    # One connection at a time (a second is refused with 421 at the banner) and one name a
    # connection (a budget of one error): a worker waits while another opens a connection
    # for the names left; when that connection is refused and its worker gives way, the
    # waiting one must look again. It was never woken: the run hung in 8 runs of 10.
    names = wordlist(30)
    for _ in range(3):
        with running(Policy(max_connections=1)) as server:
            enumerator = Enumerator(
                target(server.port),
                EnumConfig(method="vrfy", workers=2, budget=ErrorBudget.given(1)),
            )

            async def go(e: Enumerator) -> None:
                await e.prepare()
                await asyncio.wait_for(e.run(names), 30)

            asyncio.run(go(enumerator))
            assert server.refused >= 1
        assert found(enumerator) == REAL
        assert len(enumerator.of(Verdict.ABSENT)) == len(names) - 2


def test_ctrl_c_prints_what_was_found_so_far(tmp_path: Path) -> None:
    names = ["robin", *wordlist(400)[:-2]]
    listing = tmp_path / "names.txt"
    listing.write_text("\n".join(names) + "\n")
    with running(Policy()) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smtpsh", "enum", f"127.0.0.1:{server.port}", "-U",
             str(listing), "-m", "vrfy", "--rate", "40", "-o", str(tmp_path / "out.txt")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # robin, found first
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    assert first == "robin  252 2.0.0 robin\n"
    assert proc.returncode == 130
    assert "interrupted:" in err and "found 1: robin" in err
    assert "Traceback" not in err
    assert (tmp_path / "out.txt").read_text() == "robin\t252 2.0.0 robin\n"


@pytest.mark.parametrize("method", ["vrfy", "rcpt"])
def test_cli_lists_found_users_and_writes_json(tmp_path: Path, method: str) -> None:
    import json

    names = wordlist(100)
    listing = tmp_path / "names.txt"
    listing.write_text("\n".join(names) + "\n")
    out_file = tmp_path / "result.json"
    with running(Policy()) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "smtpsh", "enum", f"127.0.0.1:{server.port}", "-U",
             str(listing), "-m", method, "-D", "fake.smtpsh.test", "-o", str(out_file)],
            capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode == 1, proc.stderr  # found
    lines = proc.stdout.splitlines()
    assert sorted(line.split("  ")[0] for line in lines) == ["alice", "robin"]
    data = json.loads(out_file.read_text())
    assert sorted(r["name"] for r in data["found"]) == ["alice", "robin"]
    assert data["checked"] == data["total"] == 100
    assert "100 of 100 names checked" in proc.stderr


def test_a_worker_that_bows_out_wakes_the_others() -> None:
    """A refused connection lowers the number of workers; the one that leaves must wake
    those waiting while it was still counted as opening, or the last names are never
    asked and the run never ends (a hang seen with Policy(max_connections=2))."""
    from smtpsh.audit.common import Refused

    e = Enumerator(target(1), EnumConfig(method="vrfy", workers=2))
    e.canary = object()  # type: ignore[assignment]  # prepare() is not what is tested
    opened: list[int] = []
    served: list[str] = []

    async def open_() -> object:
        opened.append(len(opened))
        if len(opened) == 2:  # the second worker, while the first is still connecting
            await asyncio.sleep(0)
            raise Refused("421 too many connections")
        await asyncio.sleep(0.05)
        return object()

    async def serve(conn: object) -> None:
        batch = e._take(1)  # one name a connection, so one is left for later
        e._in_flight -= len(batch)
        e.stats.done += len(batch)
        served.extend(batch)

    async def release(conn: object) -> None:
        pass

    e._open = open_  # type: ignore[method-assign]
    e._serve = serve  # type: ignore[method-assign]
    e._release = release  # type: ignore[method-assign]

    async def go() -> None:
        await asyncio.wait_for(e.run(["a", "b"]), 5)

    asyncio.run(go())
    assert served == ["a", "b"]
    assert e._allowed == 1

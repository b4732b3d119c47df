#!/usr/bin/env python3
"""The long fuzz run (issue 9): every fuzz target of tests/fuzz fed >= 100,000 inputs.

Not part of CI (tests/fuzz runs the same targets with small budgets there). Two engines:
hypothesis (structured inputs, the strategies of tests/fuzz/strategies.py, with a large
example budget) and atheris (coverage-guided, libFuzzer underneath) for the targets that
take bytes, when atheris is installed (`pip install atheris`).

Usage:
  python3 bench/fuzz_long.py                       # every target, both engines, 100,000 each
  python3 bench/fuzz_long.py --examples 1000       # a quick look
  python3 bench/fuzz_long.py --engine atheris --target replies
  python3 bench/fuzz_long.py --jobs 2              # targets in parallel processes

Prints one line per target and engine: inputs run, seconds, PASS or FAIL with the failing
input; exits 1 if any target failed or ran fewer inputs than asked.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.fuzz import certificates  # noqa: E402
from tests.fuzz import strategies as s  # noqa: E402
from tests.fuzz import targets as t  # noqa: E402

# --- hypothesis: name -> (strategies, target) -------------------------------------------

HYPOTHESIS: dict[str, tuple[tuple[st.SearchStrategy[Any], ...], Callable[..., None]]] = {
    "replies": ((s.chunked(),), t.check_reply_stream),
    "replies-bytes": ((s.chunked(st.binary(max_size=400)),), t.check_reply_stream),
    "replies-round-trip": ((s.GOOD_REPLIES, st.integers(1, 9)), t.check_reply_round_trip),
    "data-encoder": ((s.BODY, st.integers(1, 9)), t.check_data_encoding),
    "bdat-encoder": ((s.BODY, st.integers(1, 9)), t.check_bdat_encoding),
    "line-limit": ((s.BODY, st.one_of(s.LONG_LINE, s.BODY), s.BODY), t.check_line_limit),
    "command-lines": ((s.TYPED,), t.check_command_line),
    "path-commands": ((s.TYPED,), t.check_path_command),
    "valid-paths": (
        (st.sampled_from(["MAIL", "RCPT"]), s.local_parts(), s.domains(), s.PARAMETERS),
        t.check_valid_path,
    ),
    "connection": ((s.STEPS,), t.check_connection),
    "transcript": ((s.TRANSCRIPT,), t.check_transcript),
    "certificates": ((certificates.DER,), t.check_certificate),
}


class Counted:
    """A hypothesis test of one target that counts the inputs it was given."""

    def __init__(self, name: str, examples: int) -> None:
        strategies, self.target = HYPOTHESIS[name]
        self.count = 0
        self.test = settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )(given(st.tuples(*strategies))(self.one))

    def one(self, args: tuple[Any, ...]) -> None:
        self.count += 1
        self.target(*args)


def run_hypothesis(name: str, examples: int) -> dict[str, Any]:
    counted = Counted(name, examples)
    try:
        counted.test()
    except Exception as exc:  # the failing input, already shrunk by hypothesis
        message = f"{type(exc).__name__}: {exc}"[:2000]
        return {"inputs": counted.count, "ok": False, "error": message}
    return {"inputs": counted.count, "ok": True, "error": ""}


# --- atheris: name -> (bytes -> target call) ---------------------------------------------


def _reply_chunks(data: bytes) -> None:
    import atheris  # type: ignore  # atheris ships no type hints

    fdp = atheris.FuzzedDataProvider(data)
    chunks = []
    while fdp.remaining_bytes():
        chunks.append(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64)))
    t.check_reply_stream(chunks)


def _data_encoder(data: bytes) -> None:
    t.check_data_encoding(data[1:], data[0] % 9 + 1 if data else 1)


def _command_line(data: bytes) -> None:
    t.check_command_line(data.decode("utf-8", "surrogateescape"))


def _path_command(data: bytes) -> None:
    t.check_path_command(data.decode("utf-8", "surrogateescape"))


def _transcript(data: bytes) -> None:
    t.check_transcript(data.decode("utf-8", "surrogateescape"))


def _connection(data: bytes) -> None:
    import atheris  # type: ignore  # atheris ships no type hints

    fdp = atheris.FuzzedDataProvider(data)
    kinds = ("send", "recv", "end", "eof")
    steps: list[tuple[str, str | bytes]] = []
    while fdp.remaining_bytes() and len(steps) < 40:
        kind = kinds[fdp.ConsumeIntInRange(0, 3)]
        size = fdp.ConsumeIntInRange(0, 40)
        if kind == "send":
            steps.append((kind, fdp.ConsumeBytes(size).decode("utf-8", "surrogateescape")))
        else:
            steps.append((kind, fdp.ConsumeBytes(size)))
    t.check_connection(steps)


# Seeds and a dictionary: the byte-level fuzzer cannot find "MAIL FROM:" through a regular
# expression by coverage alone (sre is C code), so it starts from real inputs.
SEEDS: dict[str, list[bytes]] = {
    "replies": [b"\x05220 mx ESMTP\r\n250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n"],
    "data-encoder": [b"\x03Subject: x\r\n\r\n.dot\r\nbody\n.\nend\r"],
    "command-lines": [b"MAIL FROM:<a@example.test> SIZE=10", b"NOOP \xff\tx"],
    "path-commands": [b'MAIL FROM:<"a b"@example.test> SIZE=1 BODY=8BITMIME',
                      b"RCPT TO:<@r.test:b@example.test> NOTIFY=NEVER"],
    "connection": [b"\x00\x08EHLO me\x01\x0a250 ok\r\n\x00\x04DATA\x01\x0a354 go\r\n"],
    "transcript": [
        b"# smtpsh transcript 1\n+0 S: 220 mx\n+1 C: EHLO me\n+0 S: 250-mx\n+0 S: 250 X\n"
        b"C: DATA\nS: 354 go\nC: ..x\nC: .\nS: 250 ~/[0-9]+/\nC: BDAT 3 LAST\nC: a\n"
        b"S: 250 ok\nC: QUIT\nS: 221 bye\n",
        b"=== Trying 127.0.0.1:25...\n<-  220 mx\n -> EHLO me\n<-  250 ok\n -> QUIT\n",
    ],
}
TOKENS = [b"MAIL FROM:", b"RCPT TO:", b"<>", b"@", b"=", b"\r\n", b"250-", b"250 ", b"354 ",
          b"421 ", b"334 ", b"C: ", b"S: ", b"# ", b"\n.\n", b"\r\n.\r\n", b"BDAT ", b" LAST",
          b"AUTH PLAIN ", b"~/", b"\x1b[", b"\xff"]



def _dict_entry(token: bytes) -> str:
    """A libFuzzer dictionary entry: every byte as \\xNN (no quoting to get wrong)."""
    return "".join(f"\\x{b:02x}" for b in token)


ATHERIS: dict[str, Callable[[bytes], None]] = {
    "replies": _reply_chunks,
    "data-encoder": _data_encoder,
    "command-lines": _command_line,
    "path-commands": _path_command,
    "connection": _connection,
    "transcript": _transcript,
    "certificates": t.check_certificate,  # the bytes as the server's DER certificate
}


def atheris_worker(name: str, runs: int, result_file: str) -> None:
    """Runs in its own process: libFuzzer exits the process when it is done."""
    import atheris  # type: ignore  # atheris ships no type hints

    import smtpsh.transcript.reader  # noqa: F401  # loaded now, so it is instrumented too
    import smtpsh.net.certinfo  # noqa: F401

    if not name.startswith("structured:"):
        # The targets are imported already (at the top): instrument the loaded code for
        # the coverage feedback that steers libFuzzer (instrument_imports comes too late).
        # Not for the structured targets: hypothesis's own code would drown the signal
        # and slow every input tenfold.
        atheris.instrument_all()
    target: Callable[[bytes], None]
    if name.startswith("structured:"):
        # Coverage-guided bytes drive the hypothesis strategies (fuzz_one_input).
        counted = Counted(name.split(":", 1)[1], 1)
        fuzz_one = counted.test.hypothesis.fuzz_one_input  # type: ignore[attr-defined]

        def structured(data: bytes) -> None:
            fuzz_one(data)

        target = structured
    else:
        target = ATHERIS[name]
    count = 0
    started = time.monotonic()

    def one(data: bytes) -> None:
        nonlocal count
        count += 1
        try:
            target(data)
        except Exception:
            Path(result_file).write_text(
                json.dumps({"inputs": count, "ok": False, "error": repr(data[:400])})
            )
            raise
        if count == runs:
            Path(result_file).write_text(json.dumps({"inputs": count, "ok": True, "error": ""}))

    corpus = tempfile.mkdtemp(prefix=f"fuzz-{name}-")
    seeds = list(certificates.seeds()) if name == "certificates" else SEEDS.get(name, [])
    for i, seed in enumerate(seeds):
        Path(corpus, f"seed{i}").write_bytes(seed)
    dictionary = Path(corpus).with_suffix(".dict")
    dictionary.write_text("".join(f'"{_dict_entry(token)}"\n' for token in TOKENS))
    flags = [f"-runs={runs}", "-max_len=4096", "-print_final_stats=1"]
    if not name.startswith("structured:"):
        flags.append(f"-dict={dictionary}")
    atheris.Setup([sys.argv[0], *flags, corpus], one)
    try:
        atheris.Fuzz()
    finally:
        print(f"{name}: {count} inputs in {time.monotonic() - started:.0f} s", file=sys.stderr)


def run_atheris(name: str, examples: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        result_file = fh.name
    proc = subprocess.run(
        [sys.executable, __file__, "--atheris-worker", name, str(examples), result_file],
        capture_output=True,
        text=True,
    )
    try:
        result: dict[str, Any] = json.loads(Path(result_file).read_text() or "{}")
    except (OSError, ValueError):
        result = {}
    finally:
        os.unlink(result_file)
    if not result:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        result = {"inputs": 0, "ok": False, "error": " | ".join(tail)}
    if proc.returncode not in (0,) and result.get("ok"):
        result = {**result, "ok": False, "error": f"exit {proc.returncode}"}
    return result


# --- the run -----------------------------------------------------------------------------


@dataclass
class Job:
    engine: str
    name: str


def run_job(job: Job, examples: int) -> dict[str, Any]:
    started = time.monotonic()
    if job.engine == "hypothesis":
        # A child process each, so --jobs runs them truly in parallel.
        proc = subprocess.run(
            [sys.executable, __file__, "--hypothesis-worker", job.name, str(examples)],
            capture_output=True,
            text=True,
        )
        try:
            result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            result = {"inputs": 0, "ok": False, "error": proc.stderr.strip()[-500:]}
    else:
        result = run_atheris(job.name, examples)
    result["seconds"] = time.monotonic() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--engine", choices=("hypothesis", "atheris", "both"), default="both")
    parser.add_argument("--target", action="append", help="only these targets (repeat)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--atheris-worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--hypothesis-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.atheris_worker:
        name, runs, result_file = args.atheris_worker
        atheris_worker(name, int(runs), result_file)
        return 0
    if args.hypothesis_worker:
        name, runs = args.hypothesis_worker
        print(json.dumps(run_hypothesis(name, int(runs))))
        return 0

    engines = ["hypothesis", "atheris"] if args.engine == "both" else [args.engine]
    if "atheris" in engines:
        try:
            import atheris  # type: ignore  # noqa: F401
        except ImportError:
            print("atheris is not installed: hypothesis only (pip install atheris)")
            engines.remove("atheris")
    names = {
        "hypothesis": list(HYPOTHESIS),
        # Raw bytes for the byte-level targets, and every structured target as well.
        "atheris": [*ATHERIS, *(f"structured:{name}" for name in HYPOTHESIS)],
    }
    jobs = [
        Job(engine, name)
        for engine in engines
        for name in names[engine]
        if not args.target or name.split(":")[-1] in args.target
    ]
    print(f"{len(jobs)} fuzz runs of {args.examples:,} inputs each, {args.jobs} at a time")
    failed = False
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_job, job, args.examples): job for job in jobs}
        for future, job in futures.items():
            result = future.result()
            short = result["inputs"] < args.examples
            verdict = "PASS" if result["ok"] and not short else "FAIL"
            failed |= verdict == "FAIL"
            note = result["error"] or ("fewer inputs than asked" if short else "")
            print(
                f"{job.engine:<10} {job.name:<30} {result['inputs']:>9,} inputs"
                f" {result['seconds']:>7.0f} s  {verdict}  {note}",
                flush=True,
            )
    print(f"total {time.monotonic() - started:.0f} s: {'FAILED' if failed else 'all passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

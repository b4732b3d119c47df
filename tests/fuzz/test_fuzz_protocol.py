"""Property tests of everything that takes input from outside: server bytes, typed lines,
message bodies. CI-sized budgets; bench/fuzz_long.py runs the same targets >= 100,000
times each."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as s
from tests.fuzz import targets

CI = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@CI
@given(s.chunked())
def test_reply_parser_any_stream(chunks: list[bytes]) -> None:
    targets.check_reply_stream(chunks)


@CI
@given(s.chunked(st.binary(max_size=400)))
def test_reply_parser_random_bytes(chunks: list[bytes]) -> None:
    targets.check_reply_stream(chunks)


@CI
@given(s.GOOD_REPLIES, st.integers(1, 9))
def test_well_formed_replies_round_trip(
    replies: list[tuple[int, list[str]]], step: int
) -> None:
    targets.check_reply_round_trip(replies, step)


@CI
@given(s.BODY, st.integers(1, 9))
def test_data_encoder(body: bytes, step: int) -> None:
    targets.check_data_encoding(body, step)


@CI
@given(s.BODY, st.integers(1, 9))
def test_bdat_encoder(body: bytes, step: int) -> None:
    targets.check_bdat_encoding(body, step)


@CI
@given(s.BODY, st.one_of(s.LONG_LINE, s.BODY), s.BODY)
def test_long_lines_refused_without_a_trace(good: bytes, bad: bytes, more: bytes) -> None:
    targets.check_line_limit(good, bad, more)


@CI
@given(s.TYPED)
def test_typed_command_lines(line: str) -> None:
    targets.check_command_line(line)


@CI
@given(s.TYPED)
def test_path_commands_never_fail(line: str) -> None:
    targets.check_path_command(line)


@CI
@given(st.sampled_from(["MAIL", "RCPT"]), s.local_parts(), s.domains(), s.PARAMETERS)
def test_valid_paths_parse_back_and_lengths_warn(
    verb: str, local: str, domain: str, params: list[str]
) -> None:
    targets.check_valid_path(verb, local, domain, params)


@CI
@given(s.STEPS)
def test_connection_state_machine(steps: list[tuple[str, str | bytes]]) -> None:
    targets.check_connection(steps)

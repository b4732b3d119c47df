"""The transcript reader under any input: a valid transcript or one clear error that
names the line. bench/fuzz_long.py runs the same targets >= 100,000 times."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as s
from tests.fuzz import targets

CI = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@CI
@given(s.TRANSCRIPT)
def test_transcript_reader_any_text(text: str) -> None:
    targets.check_transcript(text)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.one_of(s.TRANSCRIPT.map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.binary(max_size=200)))
def test_transcript_reader_any_file(tmp_path: Path, data: bytes) -> None:
    targets.check_transcript_file(data, str(tmp_path))

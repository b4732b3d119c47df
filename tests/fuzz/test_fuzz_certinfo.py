"""The certificate summary under hostile certificates: random bytes and real certificates
mutated. bench/fuzz_long.py runs the same target >= 100,000 times."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tests.fuzz import certificates, targets

CI = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@CI
@given(certificates.DER)
def test_certificate_summary_any_bytes(der: bytes) -> None:
    targets.check_certificate(der)


def test_every_seed_is_read_whole() -> None:
    """The seeds themselves are good certificates: read with no part left unread (else the
    mutations would start from something the reader already refuses)."""
    from smtpsh.net.certinfo import parse_certificate

    for der in certificates.seeds():
        targets.check_certificate(der)
        assert parse_certificate(der).unread == ()

"""The client TLS context: verification on by default, the system trust loaded on first use."""

from __future__ import annotations

import ssl
from pathlib import Path

from smtpsh.net.tls import TLSSettings, make_context


def test_defaults_verify_like_create_default_context() -> None:
    ours = make_context(TLSSettings())
    reference = ssl.create_default_context()
    assert ours.verify_mode == ssl.CERT_REQUIRED and ours.check_hostname
    assert ours.minimum_version == reference.minimum_version
    assert ours.options == reference.options


def test_system_trust_is_loaded_when_tls_is_first_used() -> None:
    ours = make_context(TLSSettings())
    ours.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="mx.example.test")
    assert ours.cert_store_stats() == ssl.create_default_context().cert_store_stats()
    assert ours.get_ca_certs() == ssl.create_default_context().get_ca_certs()


def test_no_verify_turns_checks_off() -> None:
    ours = make_context(TLSSettings(verify=False))
    assert ours.verify_mode == ssl.CERT_NONE and not ours.check_hostname


def test_a_context_without_files_is_made_once_and_shared() -> None:
    """Many targets in one run share it: the system store is loaded once, not per host."""
    assert make_context(TLSSettings()) is make_context(TLSSettings())
    assert make_context(TLSSettings(verify=False)) is make_context(TLSSettings(verify=False))
    assert make_context(TLSSettings()) is not make_context(TLSSettings(verify=False))


def test_a_context_with_a_file_is_made_anew(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    settings = TLSSettings(cafile=str(cafile))
    assert make_context(settings) is not make_context(settings)  # the file is read again

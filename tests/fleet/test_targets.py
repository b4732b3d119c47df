"""Reading many targets: words, CIDR blocks, ranges, -T files, limits (sans-IO)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from smtpsh.dnsinfo.lookup import parse_domain
from smtpsh.fleet import is_many
from smtpsh.fleet.targets import Host, Parser, TooMany, collect
from smtpsh.target import InputFileError, UsageError


def keys(*words: str, port: int | None = 25, limit: int = 65536) -> list[str]:
    return [h.key for h in collect(words, [], port=port, limit=limit).hosts]


def test_one_host_with_and_without_a_port() -> None:
    assert keys("mx.example.com", "mx.example.com:587", "192.0.2.7", port=25) == [
        "mx.example.com:25", "mx.example.com:587", "192.0.2.7:25"]
    assert keys("[2001:db8::1]:2525", "2001:db8::1") == ["[2001:db8::1]:2525", "[2001:db8::1]:25"]
    assert keys("mx.example.com", port=2525) == ["mx.example.com:2525"]


def test_a_cidr_block_is_every_address_in_it() -> None:
    got = keys("127.0.9.0/30")
    assert got == ["127.0.9.0:25", "127.0.9.1:25", "127.0.9.2:25", "127.0.9.3:25"]
    assert len(keys("127.0.1.0/24")) == 256
    assert keys("127.0.9.4/30:2525")[0] == "127.0.9.4:2525"
    assert keys("[::1/128]:26") == ["[::1]:26"]
    assert len(keys("fd00::/120")) == 256
    assert keys("127.0.9.1/32") == ["127.0.9.1:25"]


def test_ranges_short_and_whole() -> None:
    assert keys("127.0.9.1-3") == ["127.0.9.1:25", "127.0.9.2:25", "127.0.9.3:25"]
    assert keys("127.0.9.254-127.0.10.1") == [
        "127.0.9.254:25", "127.0.9.255:25", "127.0.10.0:25", "127.0.10.1:25"]
    assert keys("127.0.9.200-201:587") == ["127.0.9.200:587", "127.0.9.201:587"]
    assert keys("fd00::1-fd00::3") == ["[fd00::1]:25", "[fd00::2]:25", "[fd00::3]:25"]
    # a host name with a hyphen is one host, not a range
    assert keys("mx-1.example.com") == ["mx-1.example.com:25"]


def test_duplicates_are_checked_once_in_the_first_order() -> None:
    assert keys("127.0.9.2", "127.0.9.1-3", "127.0.9.2:25") == [
        "127.0.9.2:25", "127.0.9.1:25", "127.0.9.3:25"]


def test_duplicates_are_counted_with_where_the_first_was(tmp_path: Path) -> None:
    path = tmp_path / "hosts.txt"
    path.write_text("127.0.9.1\n127.0.9.0/30\n127.0.9.1:25\n")
    found = collect(["127.0.9.3"], [str(path)])
    assert [h.key for h in found.hosts] == [
        "127.0.9.3:25", "127.0.9.1:25", "127.0.9.0:25", "127.0.9.2:25"]
    assert found.duplicates == 3  # .1 and .3 in the block, .1 again
    assert found.first_duplicate == f"{path}:2: 127.0.9.1:25"


def test_a_byte_order_mark_at_the_start_of_a_file_is_no_part_of_the_host(tmp_path: Path
                                                                        ) -> None:
    path = tmp_path / "hosts.txt"
    path.write_bytes(b"\xef\xbb\xbf127.0.9.1\r\n\xef\xbb\xbf127.0.9.2\r\n")
    found = collect([], [str(path)])
    assert [h.key for h in found.hosts] == ["127.0.9.1:25"]
    assert found.problems == [f"{path}:2: an invisible character in it (U+FEFF)"]


@pytest.mark.parametrize(("word", "why"), [
    ("127.0.9.5-2", "ends before it starts"),
    ("127.0.9.1-x", "not an address"),
    ("127.0.9.0/33", "not a CIDR block"),
    ("300.1.1.1", "not a valid IPv4 address"),
    ("mx.example.com:0", "bad port"),
    ("mx.example.com:99999", "bad port"),
    ("bad host!", "not a host name"),
    ("a@b.example", "not a host name"),
    ("mx\x1b[31m.example", "control characters"),
    ("mx\u200b.example", "an invisible character in it (U+200B)"),
    ("mx\u00a0.example", "an invisible character in it (U+00A0)"),
    ("[::1", "missing ']'"),
])
def test_a_bad_word_on_the_command_line_is_one_usage_line(word: str, why: str) -> None:
    with pytest.raises(UsageError, match="bad target") as info:
        collect([word], [])
    assert why in str(info.value)
    assert "\n" not in str(info.value)


def test_absurd_sizes_are_refused_before_anything_is_expanded() -> None:
    with pytest.raises(TooMany, match=r"127\.0\.0\.0/8 is 16,777,216 addresses.*--max-targets"):
        collect(["127.0.0.0/8"], [])
    with pytest.raises(TooMany, match="--max-targets"):
        collect(["::/64"], [])  # 2**64 addresses: refused at once, not counted out
    with pytest.raises(TooMany):
        collect(["127.0.0.1-127.255.255.255"], [])
    assert len(collect(["127.0.0.0/16"], [], limit=65536).hosts) == 65536
    with pytest.raises(TooMany, match="more than"):
        collect(["127.0.9.0/29", "127.0.10.0/29"], [], limit=10)
    assert len(collect(["127.0.0.0/15"], [], limit=131072).hosts) == 131072  # raised: allowed


def test_a_file_skips_comments_and_blank_lines_and_names_each_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "hosts.txt"
    path.write_bytes(
        b"# the mail servers\n"
        b"\n"
        b"127.0.9.1\n"
        b"127.0.9.2:2525   # the submission one\n"
        b"not a host\n"
        b"   \t\n"
        b"127.0.9.8/31\r\n"
        b"\xff\xfe\n"
        b"127.0.9.9-x\n"
        b"mx.example.com"
    )
    found = collect([], [str(path)])
    assert [h.key for h in found.hosts] == [
        "127.0.9.1:25", "127.0.9.2:2525", "127.0.9.8:25", "127.0.9.9:25", "mx.example.com:25"]
    assert [p.split(": ")[0] for p in found.problems] == [
        f"{path}:5", f"{path}:8", f"{path}:9"]
    assert "not UTF-8" in found.problems[1]
    assert all("\n" not in p for p in found.problems)


def test_a_file_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"-T .*missing\.txt: No such file"):
        collect([], [str(tmp_path / "missing.txt")])
    with pytest.raises(InputFileError, match="Is a directory"):
        collect([], [str(tmp_path)])


def test_a_huge_block_in_a_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "hosts.txt"
    path.write_text("127.0.9.1\n10.0.0.0/8\n")
    with pytest.raises(TooMany, match=rf"{path}:2: 10\.0\.0\.0/8 is 16,777,216"):
        collect([], [str(path)])


def test_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = io.TextIOWrapper(io.BytesIO(b"127.0.9.1\n# c\n127.0.9.2:26\n"))
    monkeypatch.setattr(sys, "stdin", fake)
    found = collect(["127.0.9.3"], ["-"])
    assert [h.key for h in found.hosts] == ["127.0.9.3:25", "127.0.9.1:25", "127.0.9.2:26"]


def test_domains_are_checked_by_the_dns_rules(tmp_path: Path) -> None:
    path = tmp_path / "domains.txt"
    path.write_text("example.com\nbücher.example\nbad domain\n@x\n")
    found = collect([], [str(path)], port=None, domain_check=parse_domain)
    assert [h.key for h in found.hosts] == ["example.com", "xn--bcher-kva.example"]
    assert len(found.problems) == 2 and found.problems[0].startswith(f"{path}:3: ")
    assert Host("example.com").key == "example.com"


def test_is_many_tells_blocks_and_ranges_from_single_hosts() -> None:
    for word in ("127.0.1.0/24", "127.0.1.1-200", "[fd00::/120]:25", "127.0.1.0/24:2525",
                 "fd00::1-fd00::9"):
        assert is_many(word), word
    for word in ("mx.example.com", "mx-1.example.com", "127.0.0.1", "[::1]:25", "::1",
                 "127.0.0.1:2525", "a-b"):
        assert not is_many(word), word


def test_the_parser_reads_words_one_by_one() -> None:
    parser = Parser(port=26)
    assert parser.word("127.0.9.1-2") == [Host("127.0.9.1", 26), Host("127.0.9.2", 26)]
    with pytest.raises(ValueError, match="empty"):
        parser.word("  ")

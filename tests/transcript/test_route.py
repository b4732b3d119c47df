"""A '# connect' line read back as the way the connection was made (transcript/route.py)."""

from __future__ import annotations

import argparse

import pytest

from smtpsh.transcript.route import Route, endpoint, parse_route, route_args, route_problem


@pytest.mark.parametrize(
    ("value", "route"),
    [
        ("127.0.0.1:25", Route("127.0.0.1:25")),
        ("[::1]:25", Route("[::1]:25")),
        ("unix:/run/dovecot/lmtp", Route("unix:/run/dovecot/lmtp")),
        ("pipe:/usr/sbin/sendmail -bs", Route("pipe:/usr/sbin/sendmail -bs")),
        # a command is free text: what looks like a proxy in it is part of it
        ("pipe:x via SOCKS5 1.2.3.4:5", Route("pipe:x via SOCKS5 1.2.3.4:5")),
        ("mx.example:25 via SOCKS5 127.0.0.1:1080",
         Route("mx.example:25", socks="127.0.0.1:1080")),
        ("127.0.0.1:10025 (PROXY v2 from 198.51.100.7:40000)",
         Route("127.0.0.1:10025", proxy_version=2, proxy_source="198.51.100.7:40000")),
        ("mx.example:25 via SOCKS5 [::1]:1080 (PROXY v1 from [2001:db8::1]:5)",
         Route("mx.example:25", "[::1]:1080", 1, "[2001:db8::1]:5")),
        # swaks' "=== Trying 192.0.2.1:25..." and old files: the first word
        ("192.0.2.1:25 whatever else", Route("192.0.2.1:25")),
    ],
)  # fmt: skip
def test_parse_route(value: str, route: Route) -> None:
    assert parse_route(value) == route
    if route.where == value.split()[0] or route.where.startswith("pipe:"):
        assert parse_route(route.describe()) == route


def args(**given: object) -> argparse.Namespace:
    base: dict[str, object] = {"target": None, "pipe": None, "socks5": None,
                               "proxy_v1": None, "proxy_v2": None, "lmtp": False}  # fmt: skip
    return argparse.Namespace(**{**base, **given})


def test_what_to_pass_and_what_is_made_again() -> None:
    pipe = parse_route("pipe:/usr/sbin/sendmail -bs")
    assert "give --pipe '/usr/sbin/sendmail -bs'" in route_problem(args(), pipe)
    assert route_problem(args(pipe="/usr/sbin/sendmail -bs"), pipe) == ""
    socks = parse_route("h:25 via SOCKS5 127.0.0.1:1080")
    assert "give --socks5 [USER@]127.0.0.1:1080" in route_problem(args(), socks)
    assert route_problem(args(socks5="u@127.0.0.1:1080"), socks) == ""
    proxied = parse_route("127.0.0.1:10025 (PROXY v2 from 198.51.100.7:40000)")
    assert route_problem(args(), proxied) == ""
    made = route_args(args(), proxied)
    assert (made.target, made.proxy_v1, made.proxy_v2) == (
        "127.0.0.1:10025", None, "198.51.100.7:40000"
    )
    mine = route_args(args(proxy_v1="192.0.2.9:1"), proxied)  # the user's header wins
    assert (mine.proxy_v1, mine.proxy_v2) == ("192.0.2.9:1", None)
    assert endpoint(parse_route("unix:/x")) == ("localhost", 25)
    assert endpoint(parse_route("[::1]:2525")) == ("::1", 2525)

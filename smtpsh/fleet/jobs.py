"""What each command does for one host of a many-target run, and its one-line summary.

A factory reads the parsed options once (what every host shares: TLS contexts, the relay
configuration, the resolver) and returns the per-host job; the job does what `smtpsh
COMMAND HOST` does and returns the same versioned envelope its --json prints
(smtpsh.jsonout), with the target written as the runner's key (HOST:PORT or the domain).
The audit modules stay one-host libraries: this module only calls them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from smtpsh import exitcodes, jsonout
from smtpsh.fleet.runner import Document, Job
from smtpsh.fleet.targets import Host
from smtpsh.net.base import ClientOptions
from smtpsh.net.polite import PoliteConnector, Politeness
from smtpsh.target import UsageError


@dataclass
class Plan:
    """A command's per-host job and how its outcome reads as one line of text."""

    job: Job
    summary: Callable[[Document], str]
    port: int | None = 25  # the port of a target without one (None: domains)
    # What a host's result counts towards in the run's summary ('open relay', ...).
    findings: Callable[[Document], list[str]] = lambda doc: []
    # Called once the run is over, however it ends (enum -U -: the copy of the list goes).
    close: Callable[[], None] = lambda: None
    # Called when the run is stopped (Ctrl-C, SIGTERM), before the threads of the hosts in
    # progress are waited for: what makes them end at once (tls: no more connections).
    stop: Callable[[], None] = lambda: None


def make_plan(command: str, args: argparse.Namespace) -> Plan:
    """The plan for ``command``: UsageError (one line) for options no host can run with."""
    return _FACTORIES[command](args)


def _when_found(name: str) -> Callable[[Document], list[str]]:
    def findings(doc: Document) -> list[str]:
        return [name] if doc["exit"] == exitcodes.FOUND else []
    return findings


# --- the options every host of a connecting command shares --------------------------------


class _Options:
    """ClientOptions made once per port from the parsed options (the TLS context is built
    on the first, then shared by every host), copied per host with its address. Every
    connection goes the way the options say (--socks5, --proxy-v1/-v2), as for one host,
    after the politeness wait (--delay)."""

    def __init__(self, args: argparse.Namespace, politeness: Politeness | None) -> None:
        self.args = args
        self.politeness = politeness
        self._by_port: dict[int, ClientOptions] = {}

    def for_host(self, host: Host) -> ClientOptions:
        from smtpsh.target import TRANSPORT_OPTIONS, apply_transport, client_options

        port = host.port or 25
        template = self._by_port.get(port)
        if template is None:
            template = client_options(self.args, "localhost", port)
            template.ssl_context = template.ssl_context  # made now, shared by every copy
            if any(getattr(self.args, name, None) for name in TRANSPORT_OPTIONS):
                # (its unix: targets are one host's; here the targets are a list)
                one = argparse.Namespace(**{**vars(self.args), "target": None})
                apply_transport(one, template)  # a UsageError: said once, before any host
            if self.politeness is not None:
                template.connector = PoliteConnector(self.politeness, template.connector)
            self._by_port[port] = template
        return template.replace(host=host.host)


def _politeness(args: argparse.Namespace) -> Politeness | None:
    delay = getattr(args, "delay", 0.0) or 0.0
    return Politeness(delay) if delay > 0 else None


def _stopper(politeness: Politeness | None) -> Callable[[], None]:
    """Plan.stop: the threads waiting their turn for a host (--delay) stop waiting."""
    return politeness.stop if politeness is not None else _nothing


def _check_connection_options(args: argparse.Namespace) -> None:
    for name in ("timeout", "connect_timeout"):
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be more than 0 seconds")


# --- probe ---------------------------------------------------------------------------------


def _probe(args: argparse.Namespace) -> Plan:
    from smtpsh.audit.common import Target
    from smtpsh.audit.probe import Prober, probe_once, probe_outcome
    from smtpsh.audit.relay import DEFAULT_DOMAIN, RelayConfig
    from smtpsh.target import default_helo

    _check_connection_options(args)
    options = _Options(args, _politeness(args))
    helo = args.helo or default_helo()
    relay = RelayConfig(domain=args.domain or DEFAULT_DOMAIN)
    options.for_host(Host("localhost", args.port or 25))  # a bad TLS file: said now, once

    async def job(host: Host) -> Document:
        prober = Prober(Target(options.for_host(host), helo, False), relay=not args.no_relay,
                        relay_config=relay, verify=not args.no_verify)
        report, scan = await probe_once(prober, tls=args.tls_scan)
        return jsonout.envelope("probe", host.key, *probe_outcome(report, scan))

    return Plan(job, _probe_summary, args.port or 25, _probe_findings,
                stop=_stopper(options.politeness))


def _probe_findings(doc: Document) -> list[str]:
    result = doc["result"] or {}
    return [f["title"] for f in result.get("findings", ()) if f["dangerous"]]


def _probe_summary(doc: Document) -> str:
    result = doc["result"] or {}
    if doc["error"]:
        return str(doc["error"]["message"])
    software = ", ".join(
        " ".join(filter(None, (s.get("name"), s.get("version")))) for s in result["software"]
    ) or result.get("family") or "software not revealed"
    tls = result["tls"]
    if tls["implicit"]:
        state = "TLS"
    elif not tls["offered"]:
        state = "no STARTTLS"
    else:
        state = "STARTTLS" if tls["works"] else "STARTTLS broken"
    dangerous = [f["title"] for f in result["findings"] if f["dangerous"]]
    found = "; ".join(dangerous) if dangerous else "nothing dangerous"
    return f"{software} · {state} · {found}"


# --- relay ---------------------------------------------------------------------------------


def _relay(args: argparse.Namespace) -> Plan:
    from smtpsh.audit.common import AuditError, Target
    from smtpsh.audit.relay import VERDICT_STATUS, RelayRunner, config_from_args
    from smtpsh.target import default_helo

    _check_connection_options(args)
    options = _Options(args, _politeness(args))
    helo = args.helo or default_helo()
    config = config_from_args(args)
    options.for_host(Host("localhost", args.port or 25))

    async def job(host: Host) -> Document:
        target = Target(options.for_host(host), helo, bool(args.starttls))
        try:
            report = await RelayRunner(target, config).run()
        except AuditError as exc:
            return jsonout.envelope("relay", host.key, exc.exit_status, None,
                                    (exc.fault, str(exc)))
        return jsonout.envelope("relay", host.key, VERDICT_STATUS[report.verdict],
                                report.as_dict())

    return Plan(job, _relay_summary, args.port or 25, _when_found("open relay"),
                stop=_stopper(options.politeness))


def _relay_summary(doc: Document) -> str:
    if doc["error"]:
        return str(doc["error"]["message"])
    return str(doc["result"]["summary"])


# --- enum ----------------------------------------------------------------------------------


def _enum(args: argparse.Namespace) -> Plan:
    from smtpsh.audit.common import AuditError, Target
    from smtpsh.audit.enum import Enumerator, WordList, config_from_args, exit_status, result_json
    from smtpsh.target import default_helo

    _check_connection_options(args)
    if not args.wordlist and not args.names:
        raise UsageError("give names: -U WORDLIST and/or -u NAME")
    if "-" in args.wordlist and "-" in args.targets_file:
        raise UsageError("-T - and -U - both read standard input: give one of them as a file")
    if args.wordlist.count("-") > 1:
        raise UsageError("-U -: standard input can be read once")
    config_from_args(args)  # bad options: said once, before any host
    WordList(args.wordlist, args.names, args.method).check()
    options = _Options(args, _politeness(args))
    helo = args.helo or default_helo()
    options.for_host(Host("localhost", args.port or 25))
    close = _nothing
    if "-" in args.wordlist:
        # Every host is asked the whole list: standard input is read once, into a private
        # copy each host reads as a file (a list of millions of names costs no memory).
        copy, close = _spool_stdin()
        args.wordlist = [copy if path == "-" else path for path in args.wordlist]

    async def job(host: Host) -> Document:
        target = Target(options.for_host(host), helo, bool(args.starttls))
        enumerator = Enumerator(target, config_from_args(args))  # a budget of its own
        enumerator.keep_all = False
        try:
            await enumerator.prepare()
            await enumerator.run(WordList(args.wordlist, args.names, args.method))
        except AuditError as exc:
            return jsonout.envelope("enum", host.key, exc.exit_status, None,
                                    (exc.fault, str(exc)))
        except asyncio.CancelledError:
            enumerator.stop()  # the word-list thread ends too
            raise
        error = ("failed", enumerator.fatal) if enumerator.fatal else None
        return jsonout.envelope("enum", host.key, exit_status(enumerator),
                                result_json(enumerator, host.key), error)

    return Plan(job, _enum_summary, args.port or 25, _when_found("users found"), close,
                stop=_stopper(options.politeness))


def _nothing() -> None:
    pass


def _spool_stdin() -> tuple[str, Callable[[], None]]:
    """Standard input copied to a file only this user can read, in a directory of its own:
    (its path, what removes it)."""
    import shutil
    import sys
    import tempfile

    folder = tempfile.mkdtemp(prefix="smtpsh-enum-")  # mode 0700
    path = os.path.join(folder, "names")

    def close() -> None:
        shutil.rmtree(folder, ignore_errors=True)

    if sys.stdin is None:
        close()
        raise UsageError("-U -: there is no standard input")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as copy:
            shutil.copyfileobj(sys.stdin.buffer, copy)
            size = copy.tell()
    except OSError as exc:
        close()
        raise UsageError(f"-U -: cannot keep standard input's names: {exc.strerror or exc}"
                         ) from None
    except BaseException:
        close()
        raise
    if not size:
        close()
        raise UsageError("-U -: standard input held no names")
    return path, close


def _enum_summary(doc: Document) -> str:
    result = doc["result"]
    if doc["error"] and not result:
        return str(doc["error"]["message"])
    found = [r["name"] for r in result["found"]]
    head = f"{result['method']}: {result['checked']} checked"
    if result["catch_all"]:
        head += ", catch-all (answers tell nothing)"
    names = ", ".join(found[:8]) + (f" (+{len(found) - 8})" if len(found) > 8 else "")
    return f"{head}, {len(found)} found" + (f": {names}" if found else "")


# --- tls -----------------------------------------------------------------------------------


def _tls(args: argparse.Namespace) -> Plan:
    import dataclasses
    import threading

    from smtpsh.audit.tlscommand import scan_outcome, target_for
    from smtpsh.target import check_combinations

    _check_connection_options(args)
    check_combinations(args, implicit_tls=args.tls)  # --starttls with --tls, as everywhere
    if args.cafile and not os.access(args.cafile, os.R_OK):
        raise UsageError(f"--cafile {args.cafile}: cannot read the file")
    politeness = _politeness(args)
    # The scan opens dozens of connections to a host (a ClientHello each): --delay spaces
    # every one of them, in the scan's own threads.
    connector = PoliteConnector(politeness) if politeness is not None else None

    async def job(host: Host) -> Document:
        stop = threading.Event()
        target = dataclasses.replace(target_for(args, host.host, host.port or 25), stop=stop,
                                     connector=connector)
        try:
            status, scan, error = await asyncio.to_thread(scan_outcome, target)
        except asyncio.CancelledError:  # stopped, or out of time: the scan's threads end too
            stop.set()
            raise
        return jsonout.envelope("tls", host.key, status,
                                scan.to_json() if scan is not None else None, error)

    return Plan(job, _tls_summary, args.port or 25, _tls_findings, stop=_stopper(politeness))


def _tls_findings(doc: Document) -> list[str]:
    found = doc["exit"] == exitcodes.FOUND and doc["result"]
    return [f"grade {doc['result']['grade']}"] if found else []


def _tls_summary(doc: Document) -> str:
    if doc["error"]:
        return str(doc["error"]["message"])
    result = doc["result"]
    versions = " ".join(v["version"] for v in result["versions"] if v["accepted"])
    capped = f" (capped: {'; '.join(result['grade_capped_by'])})" \
        if result["grade_capped_by"] else ""
    return f"grade {result['grade']}{capped} · {versions or 'no version'}"


# --- dns -----------------------------------------------------------------------------------


def _dns(args: argparse.Namespace) -> Plan:
    from smtpsh.dns import DNSInputError, checks_from_args, domain_outcome_unwaited

    try:
        resolver, anchors = checks_from_args(args)
    except DNSInputError as exc:
        raise UsageError(str(exc)) from None

    politeness = _politeness(args)
    # The connections a domain's check opens are --check-mx's, one to each MX: domains
    # hosted alike share their MX, and --delay spaces the connections to each of them.
    connector = PoliteConnector(politeness) if politeness is not None else None

    async def job(host: Host) -> Document:
        # Not asyncio.to_thread: a stopped run must not wait for the lookups in flight.
        status, report, error = await domain_outcome_unwaited(
            host.host, resolver, args, anchors, connector)
        return jsonout.envelope("dns", host.key, status,
                                report.to_json() if report is not None else None, error)

    return Plan(job, _dns_summary, None, _when_found("DNS errors"), stop=_stopper(politeness))


def _dns_summary(doc: Document) -> str:
    if doc["error"]:
        return str(doc["error"]["message"])
    counts: Mapping[str, int] = doc["result"].get("summary") or {}
    shown = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    return shown or "nothing to report"


_FACTORIES: dict[str, Callable[[argparse.Namespace], Plan]] = {
    "probe": _probe,
    "relay": _relay,
    "enum": _enum,
    "tls": _tls,
    "dns": _dns,
}


def domain_check() -> Callable[[str], str]:
    """dns's check of a -T line: the domain in A-label form, or an error saying why."""
    from smtpsh.dnsinfo.lookup import parse_domain

    return parse_domain


def status_name(status: int) -> str:
    return exitcodes.TABLE[status][0] if status in exitcodes.TABLE else str(status)


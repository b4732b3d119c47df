#!/usr/bin/env python3
"""`smtpsh dns --json` beside checkdmarc on the same loopback zones, same run.

    python3 bench/bench_dns_compare.py            # needs dnsmasq and root (port 53)

dnsmasq serves the test zone of tests/dns (tests/dns/dns_zone.py) on 127.0.0.53:53, the only
port checkdmarc can ask. Both tools look at each domain; the script prints, per domain, what
each says of SPF (record, valid, DNS lookups), DMARC (policy, where the record was found:
the domain or its organisational domain) and MTA-STS (the record), marks differences, and
times both. checkdmarc is a PyPI package: install it beside (`pip install checkdmarc`);
it is not a dependency of smtpsh. docs/dns.md explains the differences found.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "dns"))
sys.path.insert(0, str(ROOT))
from dns_zone import make_dkim_keys, postfix_hostname, zone_lines  # noqa: E402

ADDRESS = "127.0.0.53"
DOMAINS = ["fallback.example.test", "spf-ok.example.test", "spf-over.example.test",
           "broken.example.test", "sub.corp.test", "equal.example.test"]  # fmt: skip


def ours(domain: str) -> tuple[dict[str, Any], float]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "smtpsh", "dns", domain, "--dns-server",
                          ADDRESS, "--json"], capture_output=True, text=True).stdout  # fmt: skip
    data = json.loads(out)
    report = data.get("result", data)
    spf, dmarc = report.get("spf") or {}, report.get("dmarc") or {}
    return {
        "spf record": spf.get("record"),
        "spf valid": not any(i["status"] == "error" for i in spf.get("items", [])),
        "spf lookups": spf.get("lookups"),
        "dmarc policy": dmarc.get("applied_policy") or dmarc.get("policy"),
        "dmarc found at": dmarc.get("organisational_domain")
        if dmarc.get("inherited")
        else (domain if dmarc.get("record") else None),
        "mta-sts record": bool((report.get("mta_sts") or {}).get("record")),
    }, time.perf_counter() - t


def theirs(checkdmarc: str, domain: str) -> tuple[dict[str, Any], float]:
    t = time.perf_counter()
    out = subprocess.run([checkdmarc, "-n", ADDRESS, "-f", "json", "--skip-tls", domain],
                         capture_output=True, text=True).stdout  # fmt: skip
    data = json.loads(out)
    spf, dmarc = data.get("spf") or {}, data.get("dmarc") or {}
    tags = dmarc.get("tags") or {}
    policy = (
        (tags.get("sp") or tags.get("p") or {}).get("value")
        if dmarc.get("location", domain) != domain
        else (tags.get("p") or {}).get("value")
    )
    return {
        "spf record": spf.get("record"),
        "spf valid": bool(spf.get("valid")),
        "spf lookups": spf.get("dns_lookups"),
        "dmarc policy": policy,
        "dmarc found at": dmarc.get("location") if dmarc.get("record") else None,
        "mta-sts record": bool((data.get("mta_sts") or {}).get("id")),
    }, time.perf_counter() - t


def main() -> int:
    checkdmarc = shutil.which("checkdmarc")
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if checkdmarc is None:
        print("checkdmarc is not installed (pip install checkdmarc)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="smtpsh-dnscmp-"))
    conf = work / "dnsmasq.conf"
    conf.write_text("\n".join(zone_lines(postfix_hostname(), make_dkim_keys(), 9, 9)) + "\n")
    proc = subprocess.Popen([dnsmasq, "--keep-in-foreground", "--port=53",
                             f"--listen-address={ADDRESS}", "--bind-interfaces", "--no-resolv",
                             "--no-hosts", f"--conf-file={conf}", "--cache-size=0"])  # fmt: skip
    time.sleep(0.5)
    differ = 0
    t_ours = t_theirs = 0.0
    try:
        for domain in DOMAINS:
            a, ta = ours(domain)
            b, tb = theirs(checkdmarc, domain)
            t_ours, t_theirs = t_ours + ta, t_theirs + tb
            print(domain)
            for key in a:
                same = a[key] == b[key]
                differ += not same
                mark = " " if same else "≠"
                print(f"  {mark} {key:<15} smtpsh {a[key]!r:<40.40} checkdmarc {b[key]!r:.40}")
    finally:
        proc.terminate()
        proc.wait(5)
    print(
        f"time: smtpsh {t_ours:.2f} s, checkdmarc {t_theirs:.2f} s for {len(DOMAINS)} domains;"
        f" {differ} differing findings"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Mail-domain DNS checks (MX, SPF, DMARC, MTA-STS, TLS-RPT, DANE, DKIM, PTR).

Everything here returns data (dataclasses with status items); nothing prints.
The public entry point is :mod:`smtpsh.dns`.
"""

"""The ``tag=value; tag=value`` syntax shared by DKIM keys, DMARC, MTA-STS and TLS-RPT
records (RFC 6376 §3.2, RFC 7489 §6.4, RFC 8461 §3.1, RFC 8460 §3)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TagList:
    tags: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def get(self, tag: str, default: str | None = None) -> str | None:
        return self.tags.get(tag, default)


def parse_tag_list(text: str) -> TagList:
    """Split a record into tags; duplicates and malformed pieces are reported, not raised."""
    result = TagList()
    for raw in text.split(";"):
        piece = raw.strip()
        if not piece:
            continue  # a trailing ";" is allowed
        name, sep, value = piece.partition("=")
        name = name.strip().lower()
        if not sep or not name:
            result.problems.append(f"malformed tag {piece!r} (expected tag=value)")
            continue
        if name in result.tags:
            result.problems.append(f"tag {name}= appears more than once")
            continue
        # Folding whitespace inside values (e.g. a base64 key split by the zone file).
        result.tags[name] = value.strip()
        result.order.append(name)
    return result


def split_uris(value: str) -> list[str]:
    """The comma-separated URI lists of DMARC rua/ruf and TLS-RPT rua."""
    return [u.strip() for u in value.split(",") if u.strip()]

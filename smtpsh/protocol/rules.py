"""The dialogue's rules, checked on a typed line before it is sent.

``predict_line`` says which replies a server will probably give a line, and why, from what
the session knows: its state (``Session.predict``), the EHLO keywords in force, and the
syntax each ESMTP parameter's RFC gives its value (``commands.PARAMETERS``). Nothing is
refused: this is a testing tool, so each finding is shown as a warning and the line goes
anyway; ``/raw`` skips the checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from smtpsh.protocol.address import parse_path_command
from smtpsh.protocol.commands import (
    ALSO_ENABLED_BY,
    COMMANDS,
    PARAMETER_INFO,
    VALUE_NEEDS,
    ParameterInfo,
)
from smtpsh.protocol.encoding import command_warnings
from smtpsh.protocol.record import Record
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import Prediction, Session, State

_UNADVERTISED = "RFC 5321 §4.1.1.3: a client must not send parameters the server did not offer"
_NOT_RECOGNISED = "555 5.5.4 parameter not recognised"
_BAD_VALUE = "501 5.5.4 bad parameter value"

# RFC 3461 §4: xchar is any printable ASCII but "+" and "="; "+XX" (upper-case hex) the rest.
_XTEXT = re.compile(r"(?:[!-*,-<>-~]|\+[0-9A-F]{2})*")
# RFC 5322 atom characters (an ORCPT addr-type).
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
# RFC 3339 §5.6 date-time.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
)
_BY = re.compile(r"[+-]?\d{1,9};[NnRr][Tt]?")  # RFC 2852 §4: by-time ";" by-mode [by-trace]
_TRANSID = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")  # RFC 1845: "<" local-id "@" domain ">"
_SOLICIT = re.compile(r"[^\s,]+(?:,[^\s,]+)*")  # RFC 3865: keywords separated by commas
_NOTIFY_WORDS = ("SUCCESS", "FAILURE", "DELAY")
# States in which an EHLO or HELO was accepted: the keywords in force are known.
_GREETING_ACCEPTED = frozenset({State.READY, State.MAIL, State.RCPT, State.DATA, State.BDAT})


def predict_line(session: Session, line: str) -> list[Prediction]:
    """What a server will probably refuse in ``line`` (empty: fine as far as we know)."""
    verb = _verb(line)
    found: list[Prediction] = []
    state = session.predict(verb)
    if state is not None:
        found.append(state)
    if session.state is State.CLOSED:
        return found
    check = _VERB_CHECKS.get(verb)
    if check is not None:
        found.extend(check(session, line))
    elif verb and verb not in COMMANDS and not session.advertises(verb):
        found.append(_unknown_verb(session, verb))
    return [_in_this_servers_terms(session, p) for p in found or _habits(session, line)]


def predict_typed(session: Session, text: str) -> Prediction | None:
    """The toolbar's warning while ``text`` is being typed: the refusal the session's state
    predicts, in this server's terms, and an unknown verb once a space ends it (never a
    half-typed one: 'MAI' is on its way to MAIL). The checks of the arguments wait for
    Enter (``predict_line``): a half-typed address is not yet a mistake."""
    verb = _verb(text)
    if not verb:
        return None
    prediction = session.predict(verb)
    verb_complete = re.match(r"\s*\S+\s", text) is not None
    unknown = verb not in COMMANDS and not session.advertises(verb)
    if prediction is None and session.state is not State.CLOSED and verb_complete and unknown:
        prediction = _unknown_verb(session, verb)
    if prediction is None:
        return None
    prediction = _in_this_servers_terms(session, prediction)
    # One this server already proved wrong is no expectation: Enter says what was seen.
    return None if (prediction.reply, prediction.reason) in session.disproved else prediction


def _unknown_verb(session: Session, verb: str) -> Prediction:
    """RFC 5321 §4.2.4's 500, and the verb the user probably meant (MIAL: MAIL)."""
    import difflib  # only for a verb nobody knows: not on every command's path

    verbs = [v for v in COMMANDS if session.lmtp or v != "LHLO"]
    close = difflib.get_close_matches(verb, verbs, n=2, cutoff=0.7)
    # The guess first: a narrow toolbar cuts the end of the line.
    meant = f"did you mean {' or '.join(close)}? " if close else ""
    return Prediction(
        "500 5.5.2 command not recognized",
        f"{meant}{verb} is no SMTP command smtpsh knows, and the server did not advertise it"
        " (RFC 5321 §4.2.4: 500 for an unrecognised command)",
    )


_ENHANCED_AFTER_CODE = re.compile(r"(\d{3}) [245]\.\d{1,3}\.\d{1,3} ")


def _in_this_servers_terms(session: Session, prediction: Prediction) -> Prediction:
    """The expected reply without an enhanced status code when this server's EHLO reply did
    not offer ENHANCEDSTATUSCODES (Exim, Haraka, smtp-server, aiosmtpd by default): such a
    server sends none (RFC 2034 §3), and '503 5.5.1' would be a code it never gives. After
    HELO nothing was offered: Exim, Haraka, smtp-server and aiosmtpd then send none either
    (Postfix and OpenSMTPD still do), so none is predicted."""
    if session.esmtp:
        if session.advertises("ENHANCEDSTATUSCODES"):
            return prediction
    elif session.state not in _AFTER_GREETING:
        return prediction  # no greeting accepted yet: nothing known of this server
    reply = _ENHANCED_AFTER_CODE.sub(r"\1 ", prediction.reply, count=1)
    if reply == prediction.reply:
        return prediction
    return Prediction(reply, prediction.reason, glossed=prediction.glossed)


def _verb(line: str) -> str:
    return line.strip().split(" ", 1)[0].split(":", 1)[0].upper()


def _argument(line: str) -> str:
    return line.strip().partition(" ")[2].strip()


# --- MAIL and RCPT: the path and each ESMTP parameter --------------------------------------


def _path_command(session: Session, line: str) -> list[Prediction]:
    verb = _verb(line)
    word = "FROM" if verb == "MAIL" else "TO"
    command = parse_path_command(line)
    if command is None or not re.match(rf"\s*{verb}\s+{word}\s*:", line, re.IGNORECASE):
        return [Prediction(
            "501 5.5.4 syntax error",
            f"the syntax is {verb} {word}:<address> (RFC 5321 §4.1.1.{2 if verb == 'MAIL' else 3})",
        )]
    found = [
        Prediction(reply, f"{problem} ({section})")
        for problem in command.problems
        for start, reply, section in _PATH_PROBLEMS
        if problem.startswith(start)
        # LMTP servers deliver to local mailboxes and take a bare user name (Dovecot and
        # Cyrus answer RCPT TO:<alice> with 250): RFC 5321's rule stays a note there.
        and not (session.lmtp and verb == "RCPT" and start == _NO_DOMAIN)
    ]
    seen: set[str] = set()
    for keyword, value in command.parameters:
        if keyword not in seen:  # a repeat is noted by address_warnings; servers differ
            seen.add(keyword)
            found.extend(_parameter(session, verb, keyword, value))
    return found


_NO_DOMAIN = "the address has no @domain"
# Problems address.py finds in a MAIL/RCPT line that strict servers refuse (Postfix lets
# some through), by the start of their text: the reply to expect, and where the RFC says so.
_PATH_PROBLEMS: tuple[tuple[str, str, str], ...] = (
    ("the address is not in angle brackets", "501 5.1.7 bad address syntax", "RFC 5321 §4.1.2"),
    ("the path has no closing", "501 5.1.7 bad address syntax", "RFC 5321 §4.1.2"),
    ("RFC 5321 allows no space after", "501 5.1.7 bad address syntax", "RFC 5321 §4.1.2"),
    ("RCPT TO:<> names no recipient", "501 5.1.3 bad recipient address syntax",
     "RFC 5321 §4.1.1.3"),
    (_NO_DOMAIN, "501 5.1.3 address must contain a domain", "RFC 5321 §4.1.2"),
    ("parameters must follow the path", "501 5.5.4 syntax error", "RFC 5321 §4.1.2"),
    ("'", "501 5.5.4 syntax error", "RFC 5321 §4.1.2"),  # "'WORD' is not an ESMTP parameter"
)


def pre_send_warnings(session: Session, line: str) -> list[str]:
    """Every ``!`` line the shell shows before sending ``line``: the predicted refusals
    (``expect REPLY: reason``), then what else RFC 5321 objects to (limits, a repeated
    parameter) that no prediction already says."""
    return pre_send_check(session, line)[1]


def pre_send_check(session: Session, line: str) -> tuple[list[Prediction], list[str]]:
    """The predictions for ``line`` (kept, to be held against the reply: ``outcome_note``)
    and every ``!`` line they and RFC 5321's other objections make (``pre_send_warnings``)."""
    found = predict_line(session, line)
    said = " ".join(p.reason for p in found)
    notes = [
        note for note in command_warnings(line)
        if note not in said and not _value_noted(note, said)
    ]
    # A refusal this server did not give earlier in the session, for the same reason, is
    # not expected again: it is said as what was seen (no '(sending anyway)', and no
    # 'lenient' line after the reply).
    seen = [p for p in found if (p.reply, p.reason) in session.disproved]
    predictions = [p for p in found if p not in seen]
    return predictions, (
        [f"expect {p.reply}: {p.reason}" for p in predictions]
        + [f"this server took the same earlier in this session, though {p.reply[:3]} was"
           f" predicted ({p.reason})" for p in seen]
        + notes)


# Refusals of a command's syntax or order (RFC 5321 §4.2.4, §4.1.4; RFC 3463's 555): the kind
# predict_line checks for. A 550 for an unknown user or a 554 for policy is the server's own
# business, which no look at the line can foresee: its silence there was no prediction.
_RULE_REFUSALS = frozenset({500, 501, 502, 503, 504, 555})


def disproved(predictions: list[Prediction], reply: Reply) -> list[Prediction]:
    """The predicted refusals ``reply`` proves wrong: every one, when the server took the
    line (2xx or 3xx) that only refusals were predicted for; else none."""
    expected = [p for p in predictions if p.reply[:1] in ("4", "5")]
    return expected if expected and reply.ok and len(expected) == len(predictions) else []


def outcome_note(
    predictions: list[Prediction], reply: Reply, *, glosses_shown: bool = False
) -> str | None:
    """One line, said under the reply, when it proves the warnings before the line wrong:
    a refusal was predicted and the server took the line, or nothing was predicted and the
    server refused it as a matter of syntax or order. Without it the earlier warning stands
    on screen as if it had come true. None: the reply is what was said (or no refusal was
    foreseeable). ``glosses_shown``: the reply's gloss is on screen, so a prediction whose
    miss the gloss itself says (``Prediction.glossed``) needs no second line."""
    expected = disproved(predictions, reply)
    if expected and glosses_shown and all(p.glossed for p in expected):
        return None
    if expected:
        codes = " and ".join(dict.fromkeys(p.reply[:3] for p in expected))
        reasons = "; ".join(p.reason for p in expected)
        return (f"predicted {codes} ({reasons}); the server answered {reply.code}:"
                " this server is lenient here")
    if not predictions and reply.code in _RULE_REFUSALS:
        return (f"not predicted: smtpsh's checks found nothing wrong with this line here;"
                f" the server's {reply.code} says otherwise")
    return None


def _value_noted(note: str, said: str) -> bool:
    """address.py's 'parameter X has an empty or malformed value' when a value check of a
    known parameter X already explained it."""
    match = re.match(r"parameter (\S+) has an empty or malformed value", note)
    return match is not None and match.group(1) in PARAMETER_INFO and match.group(1) in said


def _parameter(session: Session, verb: str, keyword: str, value: str | None) -> list[Prediction]:
    info = PARAMETER_INFO.get(keyword)
    known_session = session.esmtp or session.state in _GREETING_ACCEPTED
    if info is None:
        if known_session and not session.advertises(keyword):
            return [Prediction(
                _NOT_RECOGNISED,
                f"{keyword} is no ESMTP parameter smtpsh knows, and the server did not"
                f" advertise it ({_UNADVERTISED})",
            )]
        return []
    if info.verb != verb:
        return [Prediction(
            _NOT_RECOGNISED,
            f"{keyword} is a {info.verb} parameter, not a {verb} one ({info.rfc})",
        )]
    found: list[Prediction] = []
    if known_session and not _enabled(session, info):
        if not session.esmtp:
            reason = f"{keyword} after HELO: no extension is in force ({_UNADVERTISED})"
        else:
            reason = f"the server did not advertise {info.extension} ({_UNADVERTISED})"
        found.append(Prediction(_NOT_RECOGNISED, reason))
    problem = _value_problem(info, value)
    if problem is not None:
        found.append(Prediction(_BAD_VALUE, f"{problem} ({info.rfc})"))
    elif known_session and session.esmtp and value is not None:
        found.extend(_value_in_session(session, info, value))
    if keyword == "REQUIRETLS" and not session.tls:
        found.append(Prediction(
            "530 5.7.10 REQUIRETLS needs TLS",
            "REQUIRETLS is valid only in a TLS session: STARTTLS first (RFC 8689 §2)",
        ))
    return found


def _enabled(session: Session, info: ParameterInfo) -> bool:
    enablers = (info.extension, *ALSO_ENABLED_BY.get(info.keyword, ()))
    return any(session.advertises(e) for e in enablers)


def _value_in_session(session: Session, info: ParameterInfo, value: str) -> list[Prediction]:
    """Checks of a valid value against what this server advertised."""
    need = VALUE_NEEDS.get((info.keyword, value.upper()))
    if need is not None and not session.advertises(need):
        return [Prediction(
            _NOT_RECOGNISED,
            f"{info.keyword}={value.upper()} needs {need}, which the server did not advertise"
            f" ({info.rfc})",
        )]
    if info.keyword == "SIZE":
        limit = session.extensions.get("SIZE", "").strip()
        if limit.isdigit() and int(limit) > 0 and int(value) > int(limit):
            return [Prediction(
                "552 5.3.4 message size exceeds fixed limit",
                f"SIZE={value} is over the {limit} octets the server advertised (RFC 1870 §6)",
            )]
    return []


def _value_problem(info: ParameterInfo, value: str | None) -> str | None:
    """What is wrong with ``value`` by the parameter's syntax (None: nothing)."""
    name = info.keyword
    if not info.takes_value:
        return None if value is None else f"{name} takes no value"
    if value is None or value == "":
        return f"{name} needs a value: {name}=..."
    kind, _, size = info.syntax.partition(":")
    if kind in ("xtext", "auth"):
        if not _XTEXT.fullmatch(value):
            return f"{name}={value} is not xtext ('+', '=' and controls only as +XX)"
        if size and len(value) > int(size):
            return f"{name} is {len(value)} characters; at most {size} are allowed"
        return None
    check = _VALUE_CHECKS.get(kind)
    return check(name, value, info, int(size or 0)) if check is not None else None


def _choice(name: str, value: str, info: ParameterInfo, _: int) -> str | None:
    if value.upper() in (v.upper() for v in info.values):
        return None
    return f"{name}={value} is not one of {', '.join(info.values)}"


def _digits(name: str, value: str, info: ParameterInfo, size: int) -> str | None:
    if value.isascii() and value.isdigit() and len(value) <= size:
        return None
    return f"{name}={value} is not a number of 1 to {size} digits"


def _priority(name: str, value: str, info: ParameterInfo, _: int) -> str | None:
    if re.fullmatch(r"[+-]?\d+", value) and -9 <= int(value) <= 9:
        return None
    return f"{name}={value} is not a priority from -9 to 9"


def _by(name: str, value: str, info: ParameterInfo, _: int) -> str | None:
    if _BY.fullmatch(value):
        return None
    return f"{name}={value} is not <seconds>;R or <seconds>;N (T may follow)"


def _date_time(name: str, value: str, info: ParameterInfo, _: int) -> str | None:
    if _DATE_TIME.fullmatch(value):
        return None
    return f"{name}={value} is not an RFC 3339 date-time (2026-01-31T12:00:00Z)"


def _rrvs(name: str, value: str, info: ParameterInfo, _: int) -> str | None:
    when, _semi, mode = value.partition(";")
    if _DATE_TIME.fullmatch(when) and mode.upper() in ("", "C", "R"):
        return None
    return f"{name}={value} is not date-time[;C|;R]"


def _notify(name: str, value: str, info: ParameterInfo, _: int) -> str | None:
    words = value.upper().split(",")
    if "NEVER" in words and len(words) > 1:
        return "NEVER cannot be combined with other NOTIFY values"
    unknown = [w for w in words if w not in (*_NOTIFY_WORDS, "NEVER")]
    if unknown:
        return f"NOTIFY takes NEVER, or SUCCESS, FAILURE, DELAY; not {','.join(unknown)}"
    return None


def _orcpt(name: str, value: str, info: ParameterInfo, _: int) -> str | None:
    addr_type, semi, address = value.partition(";")
    if not semi or not _ATOM.fullmatch(addr_type):
        return f"ORCPT needs an address type first: ORCPT=rfc822;{value}"
    if not _XTEXT.fullmatch(address):
        return "the ORCPT address is not xtext ('+', '=' and controls only as +XX)"
    if len(value) > 500:
        return f"ORCPT is {len(value)} characters; at most 500 are allowed"
    return None


def _pattern(pattern: re.Pattern[str], what: str) -> Callable[[str, str, ParameterInfo, int],
                                                                str | None]:
    def check(name: str, value: str, info: ParameterInfo, _: int) -> str | None:
        return None if pattern.fullmatch(value) else f"{name}={value} is not {what}"

    return check


_VALUE_CHECKS: dict[str, Callable[[str, str, ParameterInfo, int], str | None]] = {
    "choice": _choice,
    "digits": _digits,
    "priority": _priority,
    "by": _by,
    "date-time": _date_time,
    "rrvs": _rrvs,
    "notify": _notify,
    "orcpt": _orcpt,
    "transid": _pattern(_TRANSID, "<local-id@domain>"),
    "solicit": _pattern(_SOLICIT, "a comma-separated list of keywords"),
}


def extension_status(session: Session, extension: str) -> str:
    """Whether ``extension`` is in force in this session, in words (for ``help VERB``)."""
    if session.advertises(extension):
        return "advertised by this server"
    if extension == "STARTTLS" and session.tls:
        return "not offered again: TLS is already active (RFC 3207 §4.2)"
    if session.esmtp:
        return "not advertised by this server (its EHLO reply does not list it)"
    if session.state in _GREETING_ACCEPTED:
        return "not in force: after HELO no extension is (send EHLO to learn them)"
    return "not known yet: no EHLO reply in this session"


# --- other verbs ------------------------------------------------------------------------


def _greeting(session: Session, line: str) -> list[Prediction]:
    if _argument(line):
        return []
    return [Prediction(
        "501 5.5.4 syntax: EHLO hostname",
        f"{_verb(line)} needs your host name or an address literal (RFC 5321 §4.1.1.1)",
    )]


def _needs_argument(session: Session, line: str) -> list[Prediction]:
    if _argument(line):
        return []
    verb = _verb(line)
    return [Prediction(
        f"501 5.5.4 syntax: {verb} address",
        f"{verb} needs a user name or address (RFC 5321 §4.1.1.{6 if verb == 'VRFY' else 7})",
    )]


def _no_argument(session: Session, line: str) -> list[Prediction]:
    if not _argument(line):
        return []
    verb = _verb(line)
    return [Prediction(
        "501 5.5.4 syntax error", f"{verb} takes no argument (RFC 5321 §4.1.1)"
    )]


def _auth(session: Session, line: str) -> list[Prediction]:
    mechanism = _argument(line).split(" ", 1)[0].upper()
    if not mechanism:
        return [Prediction("501 5.5.4 syntax: AUTH mechanism",
                           "AUTH needs a SASL mechanism name (RFC 4954 §4)")]
    offered = session.auth_mechanisms
    if session.advertises("AUTH") and mechanism not in offered:
        return [Prediction(
            "504 5.5.4 unrecognized authentication type",
            f"the server offers {' '.join(offered) or 'no mechanism'}, not {mechanism}"
            " (RFC 4954 §4)",
        )]
    return []


_BASE_KEYWORDS = ("VRFY", "EXPN", "HELP")


def _unlisted_base_verb(session: Session, line: str) -> list[Prediction]:
    """EXPN and HELP on a server whose EHLO names the base commands it enables.

    A server that lists some of VRFY, EXPN and HELP among its EHLO keywords (Postfix lists
    VRFY, Exim all three, OpenSMTPD and aiosmtpd HELP) lists the ones it answers; EXPN or
    HELP missing from such a list are switched off there. (Not VRFY: aiosmtpd answers it
    unlisted.)"""
    verb = _verb(line)
    listed = [k for k in _BASE_KEYWORDS if session.advertises(k)]
    if _habits(session, line):
        return []  # the family's own answer, known from its banner, says more
    if session.esmtp and listed and not session.advertises(verb):
        return [Prediction(
            "502 5.5.1 command not implemented",
            f"the server lists {'/'.join(listed)} in its EHLO reply but not {verb}: a server"
            f" that names the base commands it answers has {verb} switched off"
            " (RFC 5321 §4.5.1 makes it optional)",
        )]
    return []


class Habit(Record):
    """How one server family answers a line that the RFCs allow, known from its banner."""

    __slots__ = ("banner", "line", "reason", "reply", "states", "unlisted")

    def __init__(
        self, banner: str, line: str, reply: str, reason: str,
        states: frozenset[State] = frozenset(), *, unlisted: bool = False,
    ) -> None:
        self.banner = re.compile(banner)  # matches the family's name in the 220 greeting
        self.line = re.compile(line, re.IGNORECASE)  # matches the typed line
        self.reply = reply
        self.reason = reason
        self.states = states  # the states it happens in (empty: any)
        # Only when the EHLO reply (after one) does not list the line's verb.
        self.unlisted = unlisted


_AFTER_GREETING = frozenset({State.READY, State.MAIL, State.RCPT})
# Default behaviour of each family, as found on the interop servers (docs/interop.md).
HABITS: tuple[Habit, ...] = (
    Habit(r"\bExim\b", r"\s*VRFY\s+[^@\s]+\s*$", "501 address must contain a domain",
          "Exim (by its banner) asks VRFY for user@domain, not a bare name"),
    Habit(r"\bExim\b", r"\s*EXPN\b", "550 Administrative prohibition",
          "Exim (by its banner) refuses EXPN it does not list in EHLO (no acl_smtp_expn"
          " allows it, its default): a refusal, not an answer about the name",
          unlisted=True),
    Habit(r"\bHaraka\b", r"\s*EXPN\b", "500 Unrecognized command",
          "Haraka (by its banner) implements no EXPN"),
    Habit(r"\bOpenSMTPD\b", r"\s*(EHLO|HELO)\b", "503 5.5.1 Already identified",
          "OpenSMTPD (by its banner) takes one EHLO/HELO a session, though RFC 5321 §4.1.4"
          " allows more", _AFTER_GREETING),
    Habit(r"\bOpenSMTPD\b", r"\s*(VRFY|EXPN)\b", "500 5.5.1 Command unrecognized",
          "OpenSMTPD (by its banner) implements neither VRFY nor EXPN"),
    Habit(r"\bOpenSMTPD\b", r"\s*(NOOP|HELP)\s+\S", "500 5.5.4 command does not accept arg",
          "OpenSMTPD (by its banner) refuses an argument to NOOP and HELP"),
    Habit(r"\bOpenSMTPD\b", r"\s*RSET\s*$", "503 5.5.1 Command not allowed at this point",
          "OpenSMTPD (by its banner) wants EHLO before RSET", frozenset({State.GREETED})),
    Habit(r"\bOpenSMTPD\b", r"\s*STARTTLS\s*$", "503 5.5.1 Command not allowed at this point",
          "OpenSMTPD (by its banner) takes no STARTTLS inside a transaction",
          frozenset({State.MAIL, State.RCPT})),
)


def _habits(session: Session, line: str) -> list[Prediction]:
    banner = " ".join(session.banner.lines) if session.banner is not None else ""
    if not banner:
        return []
    return [
        Prediction(habit.reply, habit.reason)
        for habit in HABITS
        if habit.banner.search(banner) and habit.line.match(line)
        and (not habit.states or session.state in habit.states)
        and not (habit.unlisted and (not session.esmtp or session.advertises(_verb(line))))
    ]


def _etrn(session: Session, line: str) -> list[Prediction]:
    if _argument(line):
        return []
    return [Prediction("501 5.5.4 syntax: ETRN node",
                       "ETRN needs the domain (node) whose queue to run (RFC 1985)")]


_BDAT_ARGS = re.compile(r"\d+(?: +LAST)?", re.IGNORECASE)


def _bdat(session: Session, line: str) -> list[Prediction]:
    if _BDAT_ARGS.fullmatch(_argument(line)):
        return []
    return [Prediction("501 5.5.4 syntax: BDAT size [LAST]",
                       "BDAT takes the chunk size in octets, then LAST or nothing (RFC 3030 §2)")]


def _turn(session: Session, line: str) -> list[Prediction]:
    return [Prediction(
        "502 5.5.1 command not implemented",
        "TURN is deprecated: a server SHOULD NOT do it unless the client authenticated"
        " (RFC 5321 Appendix F.1); ATRN (RFC 2645) replaced it",
    )] if not session.advertises("TURN") else []


def _atrn(session: Session, line: str) -> list[Prediction]:
    if session.advertises("ATRN") and not session.authenticated:
        return [Prediction("530 5.7.0 authentication required",
                           "ATRN needs a successful AUTH first (RFC 2645)")]
    return []


_VERB_CHECKS: dict[str, Callable[[Session, str], list[Prediction]]] = {
    "MAIL": _path_command,
    "RCPT": _path_command,
    "EHLO": _greeting,
    "HELO": _greeting,
    "VRFY": _needs_argument,
    "EXPN": lambda s, line: _needs_argument(s, line) or _unlisted_base_verb(s, line),
    "HELP": _unlisted_base_verb,
    "DATA": _no_argument,
    "RSET": _no_argument,
    "QUIT": _no_argument,
    "STARTTLS": _no_argument,
    "AUTH": _auth,
    "TURN": _turn,
    "ATRN": _atrn,
    "ETRN": _etrn,
    "BDAT": _bdat,
}

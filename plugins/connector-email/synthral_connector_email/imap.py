"""Reading mail over IMAP4rev1 (RFC 3501) with the standard library: list, fetch, move, flag.

Every message is addressed by its UID within a mailbox; UIDs hold only while the mailbox's
UIDVALIDITY does, which the new-mail trigger keeps in its cursor. Mailbox names travel as
quoted strings in modified UTF-7 (RFC 3501 §5.1.3), search strings as quoted strings or one
UTF-8 literal, so no input can add an IMAP command.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import imaplib
import re
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from email import policy
from email.message import EmailMessage
from typing import Any, TypeVar

from pydantic import JsonValue

from synthral_sdk import Context
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError

from .transport import PolicyIMAP4, PolicyIMAP4SSL

__all__ = [
    "SYSTEM_FLAGS",
    "decode_mailbox",
    "encode_mailbox",
    "fetch",
    "flag_list",
    "imap_session",
    "parse_message",
    "quote",
    "quote_mailbox",
    "search",
    "select",
    "uid_set",
]

SYSTEM_FLAGS = frozenset({"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"})
KEYWORD = re.compile(r"^[A-Za-z0-9$_.\-]{1,64}$")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
T = TypeVar("T")


def encode_mailbox(name: str) -> str:
    """A mailbox name in IMAP's modified UTF-7: ``Geschäft`` → ``Gesch&AOQ-ft``."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            data = base64.b64encode("".join(run).encode("utf-16-be")).decode().rstrip("=").replace("/", ",")
            out.append(f"&{data}-")
            run.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    flush()
    return "".join(out)


def decode_mailbox(name: str) -> str:
    """The reverse of :func:`encode_mailbox`."""

    def one(match: re.Match[str]) -> str:
        data = match.group(1)
        if not data:
            return "&"
        raw = data.replace(",", "/")
        return base64.b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-16-be")

    return re.sub(r"&([A-Za-z0-9+,]*)-", one, name)


def quote(text: str, field: str) -> str:
    """A quoted string; line breaks and NUL (which would end the command) are refused."""
    if any(c in text for c in "\r\n\x00"):
        raise ConfigurationError(f"'{field}' holds a line break or NUL; remove it")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_mailbox(name: str, field: str) -> str:
    """A mailbox name, checked, in modified UTF-7, quoted."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise ConfigurationError(f"'{field}' holds a line break or control character; remove it")
    return quote(encode_mailbox(name), field)


def uid_set(uids: Sequence[int]) -> str:
    """UIDs as an IMAP sequence set (1,2,5)."""
    return ",".join(str(u) for u in sorted(set(uids)))


def _check(typ: str, data: Sequence[Any], what: str) -> None:
    if typ != "OK":
        text = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        raise NonRetryableError(f"the IMAP server refused {what}: {text[:300]}")


@contextmanager
def imap_session(context: Context) -> Iterator[imaplib.IMAP4]:
    """A logged-in connection from the credential's imap_* fields; closed on leaving.

    The connection is made through the call's network policy (:mod:`.transport`): a refusal
    is :class:`~synthral_sdk.errors.EgressDenied`, raised as it is.
    """
    secrets = context.secrets
    host = secrets.get("imap_host")
    if not host:
        raise ConfigurationError(
            "the email credential has no 'imap_host'; add the IMAP server (imap.example.com) to read mail"
        )
    security = secrets.get("imap_security") or "tls"
    if security not in ("tls", "starttls", "none"):
        raise ConfigurationError(f"the credential's 'imap_security' is {security!r}; use tls, starttls or none")
    port = int(secrets.get("imap_port") or (993 if security == "tls" else 143))
    timeout = min(60.0, context.time_remaining() or 30.0)
    conn: imaplib.IMAP4 | None = None
    try:
        if security == "tls":
            conn = PolicyIMAP4SSL(context, host, port, timeout=timeout, tls=ssl.create_default_context())
        else:
            conn = PolicyIMAP4(context, host, port, timeout=timeout)
            if security == "starttls":
                conn.starttls(ssl.create_default_context())
        conn.login(secrets.get("username", ""), secrets.get("password", ""))
    except imaplib.IMAP4.error as exc:
        _close(conn)
        if isinstance(exc, imaplib.IMAP4.abort):
            raise RetryableError(f"the IMAP server {host}:{port} dropped the connection: {exc}") from None
        raise NonRetryableError(f"the IMAP server refused the login: {exc}") from None
    except OSError as exc:
        _close(conn)
        raise RetryableError(f"could not reach the IMAP server {host}:{port}: {type(exc).__name__}: {exc}") from None
    try:
        yield conn
    except imaplib.IMAP4.abort as exc:
        raise RetryableError(f"the IMAP server dropped the connection: {exc}") from None
    except imaplib.IMAP4.error as exc:
        raise NonRetryableError(f"the IMAP server refused a command: {exc}") from None
    except OSError as exc:
        raise RetryableError(f"the IMAP connection failed: {type(exc).__name__}: {exc}") from None
    finally:
        try:
            conn.logout()
        except (imaplib.IMAP4.error, OSError):
            _close(conn)


def _close(conn: imaplib.IMAP4 | None) -> None:
    if conn is not None:
        with suppress(OSError):
            conn.shutdown()


def capabilities(conn: imaplib.IMAP4) -> set[str]:
    """The capabilities offered after login (they often grow then)."""
    typ, data = conn.capability()
    _check(typ, data, "CAPABILITY")
    return {c.upper() for d in data if isinstance(d, bytes) for c in d.decode().split()}


def select(conn: imaplib.IMAP4, mailbox: str, readonly: bool) -> tuple[int, int]:
    """Open ``mailbox``; returns (UIDVALIDITY, UIDNEXT)."""
    typ, data = conn.select(quote_mailbox(mailbox, "mailbox"), readonly=readonly)
    if typ != "OK":
        text = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        raise NonRetryableError(f"no mailbox {mailbox!r} to open ({text[:200]}); check its name and case")
    validity = conn.response("UIDVALIDITY")[1]
    uidnext = conn.response("UIDNEXT")[1]
    if not validity or validity[0] is None:
        raise NonRetryableError(f"the IMAP server gave no UIDVALIDITY for {mailbox!r}")
    nxt = int(uidnext[0]) if uidnext and uidnext[0] is not None else 0
    return int(validity[0]), nxt


def search(conn: imaplib.IMAP4, criteria: list[tuple[str, str | None]]) -> list[int]:
    """UID SEARCH with (keyword, argument) pairs; at most one non-ASCII argument (sent as a UTF-8 literal)."""
    plain: list[str] = []
    literal: tuple[str, bytes] | None = None
    for keyword, argument in criteria:
        if argument is None:
            plain.append(keyword)
        elif argument.isascii():
            plain += [keyword, quote(argument, keyword.lower())]
        elif literal is None:
            literal = (keyword, argument.encode())
        else:
            raise ConfigurationError("only one search text may hold non-ASCII characters; narrow the search")
    args = plain or ["ALL"]
    if literal is not None:
        args = ["CHARSET", "UTF-8", *plain, literal[0]]
        conn.literal = literal[1]  # type: ignore[assignment]
    typ, data = conn.uid("SEARCH", *args)
    _check(typ, data, "the search")
    return sorted(int(n) for d in data if isinstance(d, bytes) for n in d.split())


def imap_date(day: dt.date) -> str:
    return f"{day.day}-{MONTHS[day.month - 1]}-{day.year}"


def fetch(conn: imaplib.IMAP4, uids: Sequence[int], body: bool) -> dict[int, dict[str, Any]]:
    """UID FETCH flags, date, size and the message (or only its header): {uid: {flags, internaldate, size, raw}}."""
    if not uids:
        return {}
    part = "BODY.PEEK[]" if body else "BODY.PEEK[HEADER]"
    typ, data = conn.uid("FETCH", uid_set(uids), f"(UID FLAGS INTERNALDATE RFC822.SIZE {part})")
    _check(typ, data, "FETCH")
    out: dict[int, dict[str, Any]] = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, raw = item[0].decode(errors="replace"), item[1]
        uid = re.search(r"UID (\d+)", head)
        if uid is None:
            continue
        flags = re.search(r"FLAGS \(([^)]*)\)", head)
        date = re.search(r'INTERNALDATE "([^"]+)"', head)
        size = re.search(r"RFC822\.SIZE (\d+)", head)
        out[int(uid.group(1))] = {
            "flags": flag_list(flags.group(1) if flags else ""),
            "internaldate": date.group(1) if date else None,
            "size": int(size.group(1)) if size else len(raw),
            "raw": raw,
        }
    return out


def flag_list(text: str) -> list[str]:
    """Flags as stored, less Recent (which only tells one session that it saw a message first)."""
    return [f for f in text.split() if f != "\\Recent"]


def parse_message(raw: bytes, body: bool, attachments: bool = False) -> dict[str, JsonValue]:
    """Headers (decoded), the text and HTML bodies and the attachments' names, types and sizes."""
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)

    def header(name: str) -> str | None:
        value = message.get(name)
        return None if value is None else str(value)

    def addresses(name: str) -> list[str]:
        value = message.get(name)
        return [str(a) for a in getattr(value, "addresses", ())] if value is not None else []

    out: dict[str, JsonValue] = {
        "message_id": header("Message-ID"),
        "subject": header("Subject") or "",
        "from": header("From"),
        "to": list(addresses("To")),
        "cc": list(addresses("Cc")),
        "date": header("Date"),
        "in_reply_to": header("In-Reply-To"),
    }
    if not body:
        return out
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    out["text"] = _content(text) if text is not None else None
    out["html"] = _content(html) if html is not None else None
    files: list[JsonValue] = []
    budget = MAX_ATTACHMENT_BYTES
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        entry: dict[str, JsonValue] = {
            "filename": part.get_filename(),
            "content_type": part.get_content_type(),
            "size": len(data),
        }
        if attachments:
            if len(data) > budget:
                raise NonRetryableError(
                    f"the attachments pass {MAX_ATTACHMENT_BYTES // 1_048_576} MB; fetch without include_attachments"
                )
            budget -= len(data)
            entry["content_base64"] = base64.b64encode(data).decode()
        files.append(entry)
    out["attachments"] = files
    return out


def _content(part: Any) -> str:
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # an unknown charset: keep what can be read
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""


def check_flags(flags: Sequence[str], field: str) -> list[str]:
    for flag in flags:
        if flag not in SYSTEM_FLAGS and not KEYWORD.fullmatch(flag):
            raise ConfigurationError(
                f"'{field}' holds {flag[:60]!r}; use \\Seen, \\Answered, \\Flagged, \\Deleted, \\Draft "
                "or a keyword of letters, digits and $_.-"
            )
    return list(flags)


def existing(conn: imaplib.IMAP4, uids: Sequence[int], mailbox: str) -> None:
    """Refuse UIDs the mailbox does not hold, before anything changes."""
    found = set(search(conn, [("UID", None), (uid_set(uids), None)]))
    missing = sorted(set(uids) - found)
    if missing:
        raise NonRetryableError(
            f"{mailbox!r} holds no message with UID {', '.join(map(str, missing[:20]))}; "
            "list the mailbox again (it may have been moved or expunged)",
            details={"missing": list(missing)},
        )


def with_session(context: Context, work: Callable[[imaplib.IMAP4], T]) -> T:
    with imap_session(context) as conn:
        return work(conn)

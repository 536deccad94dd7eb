"""The IMAP actions (list, fetch, move, flag) and the new-mail trigger."""

from __future__ import annotations

import datetime as dt
import imaplib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk import Context, NoConfig, Node, PollRequest, PollResult, Trigger
from synthral_sdk.errors import ConfigurationError, NonRetryableError

from .imap import (
    capabilities,
    check_flags,
    existing,
    fetch,
    flag_list,
    imap_date,
    imap_session,
    parse_message,
    quote_mailbox,
    search,
    select,
    uid_set,
)

__all__ = ["FetchMessage", "FlagMessages", "ListMessages", "MoveMessages", "NewEmail"]

IMAP_SECRETS = ("imap_host", "imap_port", "imap_security", "username", "password")
SEEN_LIMIT = 1_000
imaplib.Commands.setdefault("MOVE", ("SELECTED",))  # RFC 6851; the standard library predates it


class ListInput(BaseModel):
    """Which messages: all of them or those matching every given criterion."""

    model_config = ConfigDict(extra="forbid")

    mailbox: str = Field(default="INBOX", min_length=1, max_length=500)
    unseen: bool = Field(default=False, description="Only messages without \\Seen.")
    sender: str | None = Field(default=None, max_length=500, description="Text in the From header.")
    subject: str | None = Field(default=None, max_length=500, description="Text in the subject.")
    text: str | None = Field(default=None, max_length=500, description="Text anywhere in the message.")
    since: dt.date | None = Field(default=None, description="Received on or after this day.")
    before: dt.date | None = Field(default=None, description="Received before this day.")
    limit: int = Field(default=50, ge=1, le=500, description="At most this many, newest first.")


class Summary(BaseModel):
    """One message's envelope."""

    uid: int
    flags: list[str]
    size: int
    received: str | None
    message_id: str | None
    subject: str
    sender: str | None = Field(alias="from")
    to: list[str]
    cc: list[str]
    date: str | None

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ListOutput(BaseModel):
    """The newest matches and how many matched."""

    uidvalidity: int
    matched: int
    messages: list[Summary]


def _summary(uid: int, item: dict[str, Any]) -> Summary:
    headers = parse_message(item["raw"], body=False)
    return Summary.model_validate(
        {**headers, "uid": uid, "flags": item["flags"], "size": item["size"], "received": item["internaldate"]}
    )


class ListMessages(Node[ListInput, ListOutput, NoConfig]):
    """List a mailbox's messages (newest first) without marking them read."""

    name = "list_messages"
    title = "List emails (IMAP)"
    secrets = IMAP_SECRETS

    def run(self, inputs: ListInput, config: NoConfig, context: Context) -> ListOutput:
        """Search, then fetch the newest matches' headers."""
        criteria: list[tuple[str, str | None]] = []
        if inputs.unseen:
            criteria.append(("UNSEEN", None))
        for keyword, day in (("SINCE", inputs.since), ("BEFORE", inputs.before)):
            if day:
                criteria += [(keyword, None), (imap_date(day), None)]  # a date is a bare atom
        for keyword, value in (("FROM", inputs.sender), ("SUBJECT", inputs.subject), ("TEXT", inputs.text)):
            if value:
                criteria.append((keyword, value))
        with imap_session(context) as conn:
            validity, _ = select(conn, inputs.mailbox, readonly=True)
            uids = search(conn, criteria)
            newest = uids[-inputs.limit :][::-1]
            items = fetch(conn, newest, body=False)
        return ListOutput(
            uidvalidity=validity, matched=len(uids), messages=[_summary(u, items[u]) for u in newest if u in items]
        )


class FetchInput(BaseModel):
    """One message by UID."""

    model_config = ConfigDict(extra="forbid")

    mailbox: str = Field(default="INBOX", min_length=1, max_length=500)
    uid: int = Field(ge=1)
    mark_seen: bool = Field(default=False, description="Set \\Seen, as opening it in a mail client would.")
    include_attachments: bool = Field(default=False, description="Attachments' bytes as base64 (at most 10 MB).")


class Message(Summary):
    """One whole message."""

    uidvalidity: int
    in_reply_to: str | None
    text: str | None = Field(description="The plain-text body.")
    html: str | None = Field(description="The HTML body.")
    attachments: list[dict[str, JsonValue]] = Field(
        description="filename, content_type, size (and content_base64 with include_attachments)."
    )


class FetchMessage(Node[FetchInput, Message, NoConfig]):
    """Fetch one message: headers, text and HTML bodies, attachments."""

    name = "fetch_message"
    title = "Fetch email (IMAP)"
    secrets = IMAP_SECRETS

    def run(self, inputs: FetchInput, config: NoConfig, context: Context) -> Message:
        """Fetch and parse the message."""
        with imap_session(context) as conn:
            validity, _ = select(conn, inputs.mailbox, readonly=not inputs.mark_seen)
            items = fetch(conn, [inputs.uid], body=True)
            if inputs.uid not in items:
                raise NonRetryableError(
                    f"{inputs.mailbox!r} holds no message with UID {inputs.uid}; it may have been moved or expunged"
                )
            if inputs.mark_seen:
                conn.uid("STORE", str(inputs.uid), "+FLAGS.SILENT", "(\\Seen)")
        item = items[inputs.uid]
        flags = sorted({*item["flags"], "\\Seen"}) if inputs.mark_seen else item["flags"]
        parsed = parse_message(item["raw"], body=True, attachments=inputs.include_attachments)
        return Message.model_validate(
            {
                **parsed,
                "uid": inputs.uid,
                "uidvalidity": validity,
                "flags": flags,
                "size": item["size"],
                "received": item["internaldate"],
            }
        )


class MoveInput(BaseModel):
    """Messages to move and where."""

    model_config = ConfigDict(extra="forbid")

    mailbox: str = Field(default="INBOX", min_length=1, max_length=500)
    uids: list[int] = Field(min_length=1, max_length=1_000)
    to: str = Field(min_length=1, max_length=500, description="The mailbox they go to.")
    create: bool = Field(default=False, description="Create 'to' when it does not exist.")


class MoveOutput(BaseModel):
    """What moved, with the UIDs they have in the target (when the server reports them)."""

    moved: int
    new_uids: dict[str, int] = Field(default_factory=dict, description="Old UID → UID in the target mailbox.")
    expunged: bool = Field(description="False when the server lacks MOVE and UIDPLUS: the originals stay, \\Deleted.")


def _copyuid(conn: imaplib.IMAP4, tagged: list[Any]) -> dict[str, int]:
    """Old UID → new UID from COPYUID (RFC 4315): untagged (after MOVE) or in the tagged reply (COPY)."""
    texts = [d.decode(errors="replace") for d in conn.response("COPYUID")[1] if isinstance(d, bytes)]
    for d in tagged:
        found = re.search(
            r"\[COPYUID (\d+ [\d:,]+ [\d:,]+)\]", d.decode(errors="replace") if isinstance(d, bytes) else ""
        )
        if found:
            texts.append(found.group(1))
    for text in texts:
        parts = text.split()
        if len(parts) == 3:
            old, new = _expand(parts[1]), _expand(parts[2])
            if len(old) == len(new):
                return {str(o): n for o, n in zip(old, new, strict=True)}
    return {}


def _expand(uids: str) -> list[int]:
    out: list[int] = []
    for part in uids.split(","):
        low, _, high = part.partition(":")
        first, last = int(low), int(high or low)
        out += range(min(first, last), max(first, last) + 1)
    return out


class MoveMessages(Node[MoveInput, MoveOutput, NoConfig]):
    """Move messages to another mailbox (MOVE, else COPY and delete)."""

    name = "move_messages"
    title = "Move emails (IMAP)"
    secrets = IMAP_SECRETS

    def run(self, inputs: MoveInput, config: NoConfig, context: Context) -> MoveOutput:
        """Check the UIDs and the target, then move."""
        target = quote_mailbox(inputs.to, "to")
        with imap_session(context) as conn:
            offered = capabilities(conn)
            typ, listed = conn.list('""', target)
            if typ != "OK" or not [d for d in listed if d]:
                if not inputs.create:
                    raise NonRetryableError(f"there is no mailbox {inputs.to!r}; create it or set create")
                typ, data = conn.create(target)
                if typ != "OK":
                    raise NonRetryableError(f"could not create {inputs.to!r}: {data!r}"[:300])
            select(conn, inputs.mailbox, readonly=False)
            existing(conn, inputs.uids, inputs.mailbox)
            uids = uid_set(inputs.uids)
            if "MOVE" in offered:
                typ, data = conn.uid("MOVE", uids, target)
                expunged = True
            else:
                typ, data = conn.uid("COPY", uids, target)
                if typ == "OK":
                    conn.uid("STORE", uids, "+FLAGS.SILENT", "(\\Deleted)")
                expunged = "UIDPLUS" in offered
                if expunged:
                    conn.uid("EXPUNGE", uids)
            if typ != "OK":
                raise NonRetryableError(f"the IMAP server refused the move: {data!r}"[:300])
            return MoveOutput(moved=len(set(inputs.uids)), new_uids=_copyuid(conn, data), expunged=expunged)


class FlagInput(BaseModel):
    """Flags to set and clear."""

    model_config = ConfigDict(extra="forbid")

    mailbox: str = Field(default="INBOX", min_length=1, max_length=500)
    uids: list[int] = Field(min_length=1, max_length=1_000)
    add: list[str] = Field(
        default_factory=list, description="\\Seen, \\Flagged, \\Answered, \\Deleted, \\Draft, keywords."
    )
    remove: list[str] = Field(default_factory=list)


class FlagOutput(BaseModel):
    """Each message's flags afterwards."""

    flags: dict[str, list[str]]


class FlagMessages(Node[FlagInput, FlagOutput, NoConfig]):
    """Set and clear flags (read, starred, answered, keywords) on messages."""

    name = "flag_messages"
    title = "Flag emails (IMAP)"
    secrets = IMAP_SECRETS

    def run(self, inputs: FlagInput, config: NoConfig, context: Context) -> FlagOutput:
        """Store the flags, then read them back."""
        add, remove = check_flags(inputs.add, "add"), check_flags(inputs.remove, "remove")
        if not add and not remove:
            raise ConfigurationError("give flags to 'add' or 'remove'")
        with imap_session(context) as conn:
            select(conn, inputs.mailbox, readonly=False)
            existing(conn, inputs.uids, inputs.mailbox)
            uids = uid_set(inputs.uids)
            for sign, flags in (("+", add), ("-", remove)):
                if flags:
                    typ, data = conn.uid("STORE", uids, f"{sign}FLAGS.SILENT", f"({' '.join(flags)})")
                    if typ != "OK":
                        raise NonRetryableError(f"the IMAP server refused the flags: {data!r}"[:300])
            typ, data = conn.uid("FETCH", uids, "(UID FLAGS)")
        out: dict[str, list[str]] = {}
        for item in data:
            text = item.decode(errors="replace") if isinstance(item, bytes) else ""
            uid, found = re.search(r"UID (\d+)", text), re.search(r"FLAGS \(([^)]*)\)", text)
            if uid and found:
                out[uid.group(1)] = flag_list(found.group(1))
        return FlagOutput(flags=out)


class NewEmailConfig(BaseModel):
    """Which mailbox to watch."""

    model_config = ConfigDict(extra="forbid")

    mailbox: str = Field(default="INBOX", min_length=1, max_length=500)
    batch: int = Field(default=50, ge=1, le=500)
    include_body: bool = Field(default=True, description="Text and HTML bodies and attachment names in each event.")
    backfill: bool = Field(default=False, description="Start from the mailbox's first message instead of its end.")


class NewEmail(Trigger[NewEmailConfig]):
    """Messages that arrived since the last poll, oldest first, each once.

    The cursor is (UIDVALIDITY, last UID). When UIDVALIDITY changes (the mailbox was rebuilt
    and its UIDs renumbered) the trigger looks again at messages received since the day
    before its last poll and skips every Message-ID it already emitted (the last 1,000).
    """

    name = "new_email"
    title = "New email (IMAP)"
    secrets = IMAP_SECRETS

    def poll(self, request: PollRequest, config: NewEmailConfig, context: Context) -> PollResult:
        """Fetch the messages past the cursor."""
        state = request.state or {}
        remembered = state.get("seen")
        seen = [str(s) for s in remembered] if isinstance(remembered, list) else []
        known = set(seen)
        today = dt.datetime.now(dt.UTC).date()
        with imap_session(context) as conn:
            validity, uidnext = select(conn, config.mailbox, readonly=True)
            last = int(str(state.get("last_uid") or 0))
            if request.state is None and not config.backfill:
                top = uidnext - 1 if uidnext else max(search(conn, [("ALL", None)]) or [0])
                return PollResult(
                    events=[],
                    state={"uidvalidity": validity, "last_uid": top, "seen": [], "since": str(today)},
                )
            renumbered = request.state is not None and state.get("uidvalidity") != validity
            if renumbered:
                since = dt.date.fromisoformat(str(state.get("since") or today)) - dt.timedelta(days=1)
                uids = search(conn, [("SINCE", None), (imap_date(since), None)])[-SEEN_LIMIT:]
                last = 0
            else:
                uids = [u for u in search(conn, [("UID", None), (f"{last + 1}:*", None)]) if u > last]
            uids = uids[: config.batch] if not renumbered else uids
            items = fetch(conn, uids, body=config.include_body)
        events: list[dict[str, JsonValue]] = []
        for uid in uids:
            item = items.get(uid)
            if item is None:
                continue
            message = parse_message(item["raw"], body=config.include_body)
            identity = str(message["message_id"] or f"{validity}:{uid}")
            last = max(last, uid)
            if identity in known:
                continue
            known.add(identity)
            seen.append(identity)
            events.append(
                {
                    "id": identity,
                    "uid": uid,
                    "uidvalidity": validity,
                    "mailbox": config.mailbox,
                    "flags": list(item["flags"]),
                    "size": item["size"],
                    "received": item["internaldate"],
                    **message,
                }
            )
        if renumbered:
            last = max(last, uidnext - 1)
        new_state: dict[str, JsonValue] = {
            "uidvalidity": validity,
            "last_uid": last,
            "seen": list(seen[-SEEN_LIMIT:]),
            "since": str(today),
        }
        return PollResult(events=events, state=new_state)

"""Telegram channel and group posts as an OSINT stream, through the Bot API's ``getUpdates``.

A bot added to a channel (as an administrator) or a group receives its posts as updates.
Each poll long-polls ``getUpdates`` for up to ``wait_seconds`` from the stored ``offset``
(the last update id + 1, which also confirms the earlier updates to Telegram), so a stream
is a live subscription that resumes where it stopped. The Bot API cannot read a chat's
history: there is no backfill (``since`` is not offered), only the updates Telegram still
holds (24 hours).

Reference: core.telegram.org/bots/api (getUpdates, Update, Message).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk import Context, PollRequest, PollResult, Trigger, hookimpl
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError

__all__ = ["ChatPosts", "synthral_triggers"]

KINDS = ("channel_post", "message", "edited_channel_post", "edited_message")


class Signal(BaseModel):
    """A post as a signal."""

    id: str
    source: str = "telegram"
    source_id: str = Field(description="chat id:message id (an edit: …:edit:unix time).")
    url: str | None = None
    author: str | None = None
    text: str
    published_at: str
    chat: str
    chat_id: int
    edited: bool = False


class ChatPostsConfig(BaseModel):
    """The bot, and which chats to keep."""

    model_config = ConfigDict(extra="forbid")

    credential: str = Field(default="telegram_bot_token", description="The stream secret holding the bot token.")
    chats: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="Keep only these chats: @usernames or numeric ids (empty: all).",
    )
    edits: bool = Field(default=False, description="Report edited posts too (as new signals).")
    wait_seconds: int = Field(default=20, ge=0, le=50, description="Long-poll this long when nothing is pending.")
    base_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://")


def _signal(kind: str, message: dict[str, Any]) -> Signal | None:
    chat = message.get("chat") or {}
    text = message.get("text") or message.get("caption")
    if not isinstance(text, str) or "message_id" not in message or "id" not in chat:
        return None
    username = chat.get("username")
    edited = kind.startswith("edited_")
    moment = message.get("edit_date") if edited else message.get("date")
    sender = message.get("from") or {}
    author = message.get("author_signature") or sender.get("username") or username
    source_id = f"{chat['id']}:{message['message_id']}" + (f":edit:{moment}" if edited else "")
    return Signal(
        id=source_id,
        source_id=source_id,
        url=f"https://t.me/{username}/{message['message_id']}" if username else None,
        author=author,
        text=text,
        published_at=datetime.fromtimestamp(int(moment or 0), UTC).isoformat(),
        chat=str(chat.get("title") or username or chat["id"]),
        chat_id=int(chat["id"]),
        edited=edited,
    )


def _wanted(signal: Signal, chats: list[str], raw_chat: dict[str, Any]) -> bool:
    if not chats:
        return True
    names = {str(signal.chat_id)}
    if raw_chat.get("username"):
        names.add("@" + str(raw_chat["username"]).lower())
    return any(c.lower() in names for c in chats)


class ChatPosts(Trigger[ChatPostsConfig]):
    """Posts of the channels and groups the bot is in, each once, in update order."""

    name = "chat_posts"
    title = "Telegram channel and group posts"
    event_model = Signal

    def poll(self, request: PollRequest, config: ChatPostsConfig, context: Context) -> PollResult:
        """Long-poll getUpdates from the stored offset; report the posts."""
        token = context.secrets.get(config.credential)
        if not token:
            raise ConfigurationError(
                f"no bot token: store it (from @BotFather) as the credential {config.credential!r} and list it in the "
                "stream's secrets"
            )
        offset = int((request.state or {}).get("offset") or 0)
        remaining = context.time_remaining()
        wait = config.wait_seconds if remaining is None else max(0, min(config.wait_seconds, int(remaining) - 5))
        kinds = [k for k in KINDS if config.edits or not k.startswith("edited_")]
        params: dict[str, Any] = {"timeout": wait, "allowed_updates": json.dumps(kinds), "limit": 100}
        if offset:
            params["offset"] = offset
        try:
            with context.http_client_sync(timeout=wait + 15) as client:  # the call's network policy applies
                response = client.get(f"{config.base_url.rstrip('/')}/bot{token}/getUpdates", params=params)
        except httpx.HTTPError as exc:
            raise RetryableError(f"could not reach the Telegram Bot API: {type(exc).__name__}") from None
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code in (401, 404):
            raise ConfigurationError("Telegram refused the bot token; check the token stored in the credential")
        if response.status_code == 409:
            raise NonRetryableError(
                "the bot has a webhook set (or another poller), so getUpdates is refused; delete the webhook "
                "(deleteWebhook) or use a bot of its own for this stream"
            )
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(f"Telegram answered {response.status_code}; retried at the next poll")
        if response.status_code >= 400 or not body.get("ok"):
            raise NonRetryableError(f"getUpdates failed: {body.get('description', response.status_code)}")
        events: list[dict[str, JsonValue]] = []
        for update in body.get("result") or []:
            offset = max(offset, int(update["update_id"]) + 1)
            for kind in kinds:
                message = update.get(kind)
                if not isinstance(message, dict):
                    continue
                signal = _signal(kind, message)
                if signal is not None and _wanted(signal, config.chats, message.get("chat") or {}):
                    events.append(signal.model_dump(mode="json"))
        return PollResult(events=events, state={"offset": offset})


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the chat posts source."""
    return [ChatPosts()]

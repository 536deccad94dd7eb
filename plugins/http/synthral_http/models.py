"""The config, input and output models of the ``request`` node.

Their JSON Schemas are what the catalog shows, so every field carries a description.
"""

from __future__ import annotations

import re
from typing import Final, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from synthral_sdk import BlobRef

__all__ = [
    "BODY_FIELDS",
    "MAX_INLINE_LIMIT",
    "AuthConfig",
    "Method",
    "QueryValue",
    "RequestConfig",
    "RequestInput",
    "RequestOutput",
    "ResponseFormat",
]

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
"""The HTTP methods the node sends."""

ResponseFormat = Literal["auto", "json", "text", "blob"]
"""How to read a response body."""

QueryScalar = str | int | float | bool | None
"""One query parameter value; ``True``/``False`` become ``true``/``false``, ``None`` an empty value."""

QueryValue = QueryScalar | list[QueryScalar]
"""A query parameter's value; a list repeats the parameter."""

MIB: Final = 1024 * 1024

MAX_INLINE_LIMIT: Final = 8 * MIB
"""Upper bound for ``max_inline_bytes``.

An answer travels in one protocol frame of at most 16 MiB, and escaping can double the
size of a text, so larger bodies must go to the blob store.
"""

BODY_FIELDS: Final = ("json", "form", "body", "body_blob")
"""The input fields that each carry a request body; at most one may be set."""

# RFC 9110 token characters: what a header name may consist of.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class AuthConfig(BaseModel):
    """How the granted credential is attached to the request.

    The credential's value is never part of the config: it is the secret named
    ``credential`` granted to the call.
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["bearer", "basic", "header", "query"] = Field(
        description=(
            "'bearer': 'Authorization: Bearer <credential>'. 'basic': HTTP basic auth with 'username' and "
            "the credential as password. 'header': the credential as the value of the header 'name'. "
            "'query': the credential as the query parameter 'name'."
        )
    )
    username: str | None = Field(
        default=None,
        description=("The user name for 'basic'. When unset, the credential itself must be 'username:password'."),
    )
    name: str | None = Field(
        default=None,
        description="The header name for 'header' (e.g. 'X-Api-Key') or the query parameter name for 'query'.",
    )

    @model_validator(mode="after")
    def _check_fields_fit_type(self) -> AuthConfig:
        if self.type in ("header", "query") and not self.name:
            example = "'X-Api-Key'" if self.type == "header" else "'api_key'"
            raise ValueError(
                f"auth type '{self.type}' needs 'name', the {self.type} parameter that carries the credential, "
                f"e.g. {example}"
            )
        if self.type == "header" and self.name and not _HEADER_NAME.fullmatch(self.name):
            raise ValueError(f"auth name {self.name!r} is not a valid header name; use letters, digits and '-'")
        if self.type in ("bearer", "basic") and self.name is not None:
            raise ValueError(f"auth type '{self.type}' takes no 'name'; remove it, or use type 'header' or 'query'")
        if self.type != "basic" and self.username is not None:
            raise ValueError(f"auth type '{self.type}' takes no 'username'; remove it, or use type 'basic'")
        return self


class RequestConfig(BaseModel):
    """How the node sends requests and reads responses."""

    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds the whole request may take, redirects and reading the body included.",
    )
    follow_redirects: bool = Field(default=True, description="Follow 3xx answers that carry a Location.")
    max_redirects: int = Field(
        default=10, ge=0, description="How many redirects to follow before failing; guards against loops."
    )
    verify_tls: bool = Field(
        default=True,
        description="Check the server's TLS certificate. Turn off only for a trusted host with a self-signed one.",
    )
    response_format: ResponseFormat = Field(
        default="auto",
        description=(
            "How to read the body. 'auto': JSON for JSON content types, text for text/*, XML, JavaScript and "
            "similar, a blob for everything else. 'json', 'text' and 'blob' force that reading."
        ),
    )
    max_inline_bytes: int = Field(
        default=5 * MIB,
        ge=0,
        le=MAX_INLINE_LIMIT,
        description="A text or JSON body larger than this many bytes is stored as a blob instead of inline.",
    )
    raise_for_status: bool = Field(
        default=True,
        description=(
            "Fail on error statuses: 429 and 5xx with a retryable error, other 4xx with a non-retryable one. "
            "When false, every response is returned as data."
        ),
    )
    send_idempotency_key: bool = Field(
        default=True,
        description=(
            "For POST, PUT, PATCH and DELETE, send the step's idempotency key (stable across retries) as the "
            "'Idempotency-Key' header, unless the input sets that header itself."
        ),
    )
    auth: AuthConfig | None = Field(
        default=None, description="Attach the granted credential to the request; none when unset."
    )


class RequestInput(BaseModel):
    """One HTTP request."""

    model_config = ConfigDict(extra="forbid")

    method: Method = Field(default="GET", description="The HTTP method.")
    url: str = Field(description="An absolute http:// or https:// URL; its query string is kept.")
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    query: dict[str, QueryValue] = Field(
        default_factory=dict,
        description="Query parameters appended to the URL's own; a list repeats the parameter.",
    )
    json_body: JsonValue = Field(
        default=None, alias="json", description="A JSON body (sent as application/json); null means no body."
    )
    form: dict[str, str] | None = Field(
        default=None, description="A form body, sent URL-encoded as application/x-www-form-urlencoded."
    )
    body: str | None = Field(default=None, description="A raw text body, sent as UTF-8 (text/plain by default).")
    body_blob: BlobRef | None = Field(
        default=None, description="A body read from the blob store; its media type is the default content type."
    )
    content_type: str | None = Field(
        default=None, description="The Content-Type of the body; overrides the default and any header given."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(
                f"{value!r} is not a valid URL ({exc}); give an absolute http:// or https:// URL"
            ) from None
        if url.scheme not in ("http", "https"):
            shown = f"scheme '{url.scheme}'" if url.scheme else "no scheme"
            raise ValueError(
                f"only http and https URLs are supported, and this one has {shown}; use http:// or https://"
            )
        if not url.host:
            raise ValueError("the URL has no host; give an absolute URL such as https://api.example.com/items")
        if url.userinfo:
            raise ValueError(
                "the URL carries a user name or password, which would leak into logs and outputs; remove it, "
                "store the password as the node's credential and set the config's auth type to 'basic'"
            )
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"header name {name!r} is not valid; use letters, digits and '-'")
            if any(char in header_value for char in "\r\n\0"):
                raise ValueError(f"the value of header {name!r} contains a line break or NUL; remove it")
        return value

    @model_validator(mode="after")
    def _check_one_body(self) -> RequestInput:
        given = [name for name in BODY_FIELDS if self.body_value(name) is not None]
        if len(given) > 1:
            named = " and ".join(f"'{name}'" for name in given)
            quantity = "both" if len(given) == 2 else "all"
            raise ValueError(f"give at most one body, but {named} are {quantity} set; keep one and remove the rest")
        return self

    def body_value(self, field: str) -> object:
        """Return the value of the body field named as on the wire (``json``, ``form``...)."""
        return self.json_body if field == "json" else getattr(self, field)


class RequestOutput(BaseModel):
    """The response."""

    model_config = ConfigDict(populate_by_name=True)

    status: int = Field(description="The HTTP status code.")
    ok: bool = Field(description="Whether the status is 2xx.")
    url: str = Field(description="The final URL, after redirects.")
    headers: dict[str, str] = Field(
        description="Response headers with lowercase names; repeated headers are joined with ', '."
    )
    format: Literal["json", "text", "blob", "empty"] = Field(
        description="Which of 'json', 'text' and 'blob' holds the body; 'empty' when there is none."
    )
    json_data: JsonValue = Field(default=None, alias="json", description="The parsed body when format is 'json'.")
    text: str | None = Field(default=None, description="The decoded body when format is 'text'.")
    blob: BlobRef | None = Field(default=None, description="The body in the blob store when format is 'blob'.")
    elapsed_ms: int = Field(description="Milliseconds from sending the request to having read the body.")
    redirects: list[str] = Field(
        default_factory=list,
        description="The URLs that answered with a redirect, in order; the first is the requested URL.",
    )

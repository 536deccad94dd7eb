"""The generic REST runtime: turns a connector definition into a connector, nodes and triggers.

Every declared function becomes a node class whose input is the function's ``parameters``
schema and whose output is ``{status, data, next}``. Requests go through one pooled httpx
client per process; the credential granted to the call is applied as the app's security
scheme says. Answers map onto the SDK's errors: 429 and 5xx are retryable (with the
server's Retry-After), other 4xx are not, each with a hint naming the fix.
"""

from __future__ import annotations

import atexit
import email.utils
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, cast
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, JsonValue, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from synthral_sdk._connector import AuthSpec, ConnectionCheck, ConnectionStatus, Connector, CredentialField, WebhookSpec
from synthral_sdk._json import JSONObject, JSONValue
from synthral_sdk._json_schema import schema_problems
from synthral_sdk._node import Node, PollRequest, PollResult, Trigger
from synthral_sdk._rest_format import ConnectorDefinition, FunctionDefinition, TriggerDefinition
from synthral_sdk.context import Context
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy

__all__ = [
    "DeclaredAction",
    "DeclaredTrigger",
    "RestConfig",
    "RestOutput",
    "TriggerConfig",
    "build_capabilities",
    "call_function",
]

_HINTS: Final = {
    400: "the service rejected the request; check the input against the action's documentation",
    401: "the service wants valid credentials; reconnect the connector or rotate its credential",
    403: "the credential lacks permission (scope) for this resource",
    404: "the resource does not exist, or the credential cannot see it",
    409: "the request conflicts with the resource's current state",
    422: "the service could not process the input; check its fields",
}
_SCHEME_FIELDS: Final[Mapping[str, list[CredentialField]]] = {
    "api_key": [CredentialField(name="api_key", title="API key")],
    "http_bearer": [CredentialField(name="api_key", title="Token")],
    "http_basic": [CredentialField(name="username", title="Username", secret=False), CredentialField(name="password")],
    "oauth2": [],
    "no_auth": [],
}
_AUTH_TYPES: Final = {"api_key": "api_key", "http_bearer": "api_key", "http_basic": "basic", "oauth2": "oauth2"}
SEEN_LIMIT: Final = 1000
"""Item ids a polling trigger remembers for deduplication."""

_client_lock = threading.Lock()
_clients: dict[NetworkPolicy, httpx.Client] = {}
MAX_CLIENTS: Final = 32


def _http(context: Context) -> httpx.Client:
    # One pooled client per network policy (a workspace's SSRF rules), made by the context so
    # every connection is checked after DNS resolution; connections are reused across calls,
    # which is most of the difference between a first call and the next.
    with _client_lock:
        client = _clients.get(context.network)
        if client is None:
            if len(_clients) >= MAX_CLIENTS:  # policies come and go with workspaces: drop the oldest
                _clients.pop(next(iter(_clients))).close()
            client = _clients[context.network] = context.http_client_sync(timeout=30.0, follow_redirects=False)
        return client


@atexit.register
def _close_clients() -> None:
    for client in _clients.values():
        client.close()


class RestConfig(BaseModel):
    """Config of every declared action."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(
        default=None, description="Another server than the app's (self-hosted, a regional endpoint, a test server)."
    )
    max_pages: int = Field(default=1, ge=1, le=100, description="Pages to follow for a paginated list.")
    timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds per request.")


class RestOutput(BaseModel):
    """What a declared action returns."""

    status: int = Field(description="The HTTP status of the last response.")
    data: JsonValue = Field(description="The selected part of the response body (all pages' items for a list).")
    next: str | None = Field(default=None, description="Where the next page starts, when more pages remain.")


class _DeclaredInput(BaseModel):
    """Base of the input models made from a function's parameters schema."""

    model_config = ConfigDict(extra="allow")
    declared_schema: ClassVar[dict[str, JsonValue]] = {"type": "object"}

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: object) -> object:
        problems = schema_problems(cls.declared_schema, data)
        if problems:
            raise ValueError("; ".join(problems))
        return data

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        del core_schema, handler
        return dict(cls.declared_schema)


class _DeclaredOutput(RestOutput):
    data_schema: ClassVar[dict[str, JsonValue]] = {}

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema = handler.resolve_ref_schema(schema)
        schema["properties"]["data"] = {**cls.data_schema, "description": "The selected part of the response body."}
        return schema


def _dig(value: object, path: str) -> object:
    if isinstance(value, dict) and path in value:  # a key with dots in it ('@odata.nextLink')
        return value[path]
    for part in filter(None, path.split(".")):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]  # '-1' is the last item (Stripe's starting_after cursor)
        else:
            return None
    return value


def _retry_after(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    if value.strip().isdigit():
        return int(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, math.ceil((when - datetime.now(UTC)).total_seconds()))


def _form_pairs(value: JsonValue, prefix: str = "") -> list[tuple[str, str]]:
    """Nested values as ``a[b][0]=c`` pairs, the form encoding Stripe and Rails-style APIs read."""
    if isinstance(value, dict):
        pairs = []
        for key, item in value.items():
            pairs.extend(_form_pairs(item, f"{prefix}[{key}]" if prefix else key))
        return pairs
    if isinstance(value, list):
        return [pair for i, item in enumerate(value) for pair in _form_pairs(item, f"{prefix}[{i}]")]
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [(prefix, "" if value is None else str(value))]


class _Session:
    """The app's base URL, headers and auth, applied to one call's credential."""

    def __init__(self, definition: ConnectorDefinition, config: RestConfig, secrets: Mapping[str, str]) -> None:
        self.definition = definition
        self.config = config
        self.secrets = secrets
        self.scheme_type, self.scheme = next(iter(definition.app.security_schemes.items()))

    def base_url(self, function: FunctionDefinition) -> str:
        template = self.config.base_url or self.secrets.get("base_url") or function.protocol_data.server_url
        url = self.fill(template or self.definition.app.server_url)
        if "{" in url:
            raise ConfigurationError(
                f"the server URL {url!r} of connector '{self.definition.app.slug}' still has a placeholder; "
                "add that field to the connector's credential",
                details={"server_url": url},
            )
        return url.rstrip("/")

    def apply_auth(self, headers: dict[str, str], query: dict[str, str], cookies: dict[str, str]) -> None:
        kind, scheme = self.scheme_type, self.scheme
        if kind == "no_auth":
            return
        if kind == "http_basic":
            username, password = self.secrets.get("username"), self.secrets.get("password")
            if username is None or password is None:
                raise self._missing("username and password")
            headers["Authorization"] = httpx.BasicAuth(username, password)._auth_header  # noqa: SLF001
            return
        field = "access_token" if kind == "oauth2" else "api_key"
        token = self.secrets.get(field)
        if token is None:
            raise self._missing(field)
        for name, template in scheme.query.items():
            query[name] = self.fill(template)
        if scheme.location == "url":
            return
        prefix = scheme.prefix if scheme.prefix is not None else ("Bearer" if kind != "api_key" else "")
        value = f"{prefix} {token}" if prefix else token
        target = {"header": headers, "query": query, "cookie": cookies}[scheme.location]
        target[scheme.name] = value

    def fill(self, template: str) -> str:
        """``template`` with ``{field}`` replaced by the credential's fields."""
        for name, value in self.secrets.items():
            template = template.replace("{" + name + "}", value)
        return template

    def _missing(self, what: str) -> ConfigurationError:
        slug = self.definition.app.slug
        return ConfigurationError(
            f"connector '{slug}' was granted no {what}; connect it first (credential named '{slug}')",
            details={"connector": slug},
        )


def _send(
    session: _Session, function: FunctionDefinition, payload: Mapping[str, JsonValue], context: Context
) -> httpx.Response:
    data = function.protocol_data
    path_values = cast(dict[str, JsonValue], payload.get("path") or {})
    path = data.path
    for name, value in path_values.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    query = {k: _scalar(v) for k, v in cast(dict[str, JsonValue], payload.get("query") or {}).items() if v is not None}
    headers = dict(session.definition.app.headers)
    headers.update({k: str(v) for k, v in cast(dict[str, JsonValue], payload.get("header") or {}).items()})
    cookies = {k: str(v) for k, v in cast(dict[str, JsonValue], payload.get("cookie") or {}).items()}
    auth_query: dict[str, str] = {}
    session.apply_auth(headers, auth_query, cookies)
    query.update(auth_query)
    if context.idempotency_key and data.method in ("POST", "PATCH"):
        headers.setdefault("Idempotency-Key", context.idempotency_key)
    body = payload.get("body")
    if data.graphql is not None:
        body = {"query": data.graphql, "variables": body if isinstance(body, dict) else {}}
    content: bytes | None = None
    if body is not None and data.method not in ("GET", "HEAD"):
        if data.content_type == "application/x-www-form-urlencoded":
            content = (
                httpx.QueryParams(cast(list[tuple[str, str | int | float | bool | None]], _form_pairs(body)))
                .__str__()
                .encode()
            )
        else:
            content = httpx.Request("POST", "http://x", json=body).content
        headers["Content-Type"] = data.content_type
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    url = session.base_url(function) + path
    remaining = context.time_remaining()
    timeout = session.config.timeout if remaining is None else min(session.config.timeout, max(remaining, 0.1))
    context.check()
    try:
        return _http(context).request(data.method, url, params=query, headers=headers, content=content, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise RetryableError(
            f"{function.name}: the service did not answer in {timeout:g} s ({type(exc).__name__})"
        ) from None
    except httpx.TransportError as exc:
        raise RetryableError(f"{function.name}: could not reach {httpx.URL(url).host}: {type(exc).__name__}") from None


def _scalar(value: JsonValue) -> str | list[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [str(v) for v in value]
    return str(value)


def _check_status(function: FunctionDefinition, response: httpx.Response, body: JsonValue) -> None:
    status = response.status_code
    if status < 400:
        if function.protocol_data.graphql is not None and isinstance(body, dict) and body.get("errors"):
            found = body["errors"]
            errors = found if isinstance(found, list) else [found]
            text = "; ".join(str(_dig(e, "message") or e) for e in errors[:5])
            raise NonRetryableError(
                f"{function.name}: the GraphQL API answered errors: {text}", details={"status": status}
            )
        spec = function.response
        if spec.ok_field and isinstance(body, dict) and body.get(spec.ok_field) is False:
            error = _dig(body, spec.error_field or "error")
            raise NonRetryableError(
                f"{function.name}: the service answered {spec.ok_field}=false: {error}",
                details={"status": status, "error": str(error)},
            )
        return
    excerpt = response.text[:300]
    details: dict[str, JsonValue] = {"status": status, "body": excerpt}
    if status == 429 or status >= 500:
        after = _retry_after(response.headers.get("retry-after"))
        if after is not None:
            details["retry_after"] = after
        raise RetryableError(f"{function.name}: the service answered {status}; it may succeed later", details=details)
    hint = _HINTS.get(status, "see the service's documentation for this status")
    raise NonRetryableError(f"{function.name}: the service answered {status}: {hint}. Body: {excerpt}", details=details)


def _json(response: httpx.Response) -> JsonValue:
    if not response.content:
        return None
    try:
        return cast(JsonValue, response.json())
    except ValueError:
        return response.text


def _set(payload: dict[str, JsonValue], where: str, value: JsonValue) -> dict[str, JsonValue]:
    group, _, name = where.partition(".")
    updated = dict(payload)
    section = dict(cast(dict[str, JsonValue], updated.get(group) or {}))
    section[name] = value
    updated[group] = section
    return updated


def call_function(
    definition: ConnectorDefinition,
    function: FunctionDefinition,
    payload: Mapping[str, JsonValue],
    config: RestConfig,
    context: Context,
) -> RestOutput:
    """Call a declared function, following its pagination up to ``config.max_pages``."""
    session = _Session(definition, config, context.secrets)
    pages = function.pagination
    current = dict(payload)
    collected: list[JsonValue] = []
    response: httpx.Response | None = None
    next_value: str | None = None
    for page in range(config.max_pages):
        response = _send(session, function, current, context)
        body = _json(response)
        _check_status(function, response, body)
        if pages is None:
            return RestOutput(status=response.status_code, data=cast(JsonValue, _dig(body, function.response.select)))
        found = _dig(body, pages.items)
        items = cast(list[JsonValue], found) if isinstance(found, list) else []
        collected.extend(items)
        next_value = _next_page(pages.type, pages.next, body, response, current, pages.param, len(items))
        if pages.has_more is not None and _dig(body, pages.has_more) is not True:
            next_value = None
        if next_value is None:
            break
        if page + 1 < config.max_pages:
            if pages.type in ("link", "next_url"):
                split = urlsplit(_link_target(next_value, session.base_url(function)))
                data = function.protocol_data.model_copy(update={"path": split.path or "/"})
                function = function.model_copy(update={"protocol_data": data})
                query: dict[str, JsonValue] = dict(parse_qsl(split.query, keep_blank_values=True))
                current = {**{k: v for k, v in current.items() if k != "path"}, "query": query}
            elif pages.param:
                current = _set(current, pages.param, next_value)
    assert response is not None
    return RestOutput(status=response.status_code, data=collected, next=next_value)


def _link_target(url: str, base: str) -> str:
    if url.startswith(base + "/") or url == base:
        return url[len(base) :] or "/"
    base_path = urlsplit(base).path
    if url.startswith("/") and url.startswith(base_path + "/"):  # a server-relative link (Twilio's next_page_uri)
        return url[len(base_path) :]
    raise NonRetryableError(f"the next page's link {url[:200]!r} leaves the connector's server {base!r}; refusing it")


def _next_page(  # noqa: PLR0917 -- a private helper with one caller
    kind: str,
    next_path: str | None,
    body: JsonValue,
    response: httpx.Response,
    current: Mapping[str, JsonValue],
    param: str | None,
    count: int,
) -> str | None:
    if kind == "link":
        link = response.links.get("next")
        return link.get("url") if link else None
    if kind == "next_url":
        value = _dig(body, next_path or "next")
        return str(value) if isinstance(value, str) and value else None
    if kind == "cursor":
        value = _dig(body, next_path or "next")
        return str(value) if value not in (None, "", False) else None
    if count == 0 or param is None:
        return None
    group, _, name = param.partition(".")
    section = current.get(group)
    now = _dig(section, name) if isinstance(section, dict) else None
    if kind == "page":
        return str(int(str(now or 1)) + 1)
    return str(int(str(now or 0)) + count)  # offset


class DeclaredAction(Node[_DeclaredInput, RestOutput, RestConfig]):
    """A node that calls one declared function; subclassed per function by :func:`build_capabilities`."""

    definition: ClassVar[ConnectorDefinition]
    function: ClassVar[FunctionDefinition]

    def extra(self) -> JSONObject:
        fn = self.function
        return {
            "examples": [cast(JSONValue, e.model_dump(mode="json")) for e in fn.examples],
            "http": {"method": fn.protocol_data.method, "path": fn.protocol_data.path},
            "tags": cast(JSONValue, list(fn.tags)),
        }

    def run(self, inputs: _DeclaredInput, config: RestConfig, context: Context) -> RestOutput:
        payload = cast(dict[str, JsonValue], inputs.model_dump(mode="json"))
        output = call_function(self.definition, self.function, payload, config, context)
        return cast(RestOutput, type(self).output_model.model_validate(output, from_attributes=True))


class TriggerConfig(BaseModel):
    """Config of a declared polling trigger."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    input: dict[str, JsonValue] = Field(default_factory=dict, description="Merged over the trigger's fixed input.")
    backfill: bool = Field(default=False, description="Emit the items already there on the first poll.")


def _order(value: object) -> tuple[int, int, str]:
    """A sort key: whole numbers and digit strings (ids, snowflakes) in numeric order, the rest as text."""
    text = str(value)
    if (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or text.isdigit():
        return (0, len(text.lstrip("0")), text.lstrip("0"))
    return (1, 0, text)


class DeclaredTrigger(Trigger[TriggerConfig]):
    """Polls a list function; emits items it has not seen, oldest first, and keeps a cursor."""

    definition: ClassVar[ConnectorDefinition]
    trigger: ClassVar[TriggerDefinition]

    def poll(self, request: PollRequest, config: TriggerConfig, context: Context) -> PollResult:
        spec = self.trigger
        function = self.definition.function(spec.function)
        payload: dict[str, JsonValue] = {**spec.input}
        for group, values in config.input.items():
            merged = dict(cast(dict[str, JsonValue], payload.get(group) or {}))
            merged.update(values if isinstance(values, dict) else {})
            payload[group] = merged
        state = request.state or {}
        cursor = state.get("cursor")
        if spec.cursor_param and cursor is not None:
            payload = _set(payload, spec.cursor_param, cursor)
        output = call_function(
            self.definition, function, payload, RestConfig(base_url=config.base_url, max_pages=5), context
        )
        data = output.data
        items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        seen = [str(s) for s in cast(list[JsonValue], state.get("seen") or [])]
        known = set(seen)
        fresh = [i for i in items if isinstance(i, dict) and str(_dig(i, spec.id)) not in known]
        if spec.cursor:
            path = spec.cursor
            fresh.sort(key=lambda item: _order(_dig(item, path)))
            cursors = [_dig(i, path) for i in items if isinstance(i, dict) and _dig(i, path) is not None]
            if cursors:
                known_cursor = [cursor] if cursor is not None else []
                cursor = cast(JsonValue, max([*cursors, *known_cursor], key=_order))
        seen = (seen + [str(_dig(i, spec.id)) for i in fresh])[-SEEN_LIMIT:]
        first = request.state is None
        events = [] if first and not config.backfill else fresh
        return PollResult(
            events=events, state={"cursor": cursor, "seen": cast(list[JsonValue], seen), "polled_at": time.time()}
        )


def _auth_spec(definition: ConnectorDefinition) -> tuple[AuthSpec, tuple[str, ...]]:
    kind, scheme = next(iter(definition.app.security_schemes.items()))
    fields = [
        CredentialField(name=f.name, title=f.title, secret=f.secret, description=f.description)
        for f in scheme.fields or []
    ] or list(_SCHEME_FIELDS[kind])
    if kind == "oauth2":
        auth = AuthSpec(
            type="oauth2",
            scopes=scheme.scope.split(),
            authorize_url=scheme.authorize_url,
            token_url=scheme.access_token_url,
            fields=fields,
        )
        return auth, ("access_token", *(f.name for f in fields))
    auth = AuthSpec(type=cast(Any, _AUTH_TYPES.get(kind, "none")), fields=fields)
    return auth, (*tuple(f.name for f in fields), "base_url")


def build_capabilities(
    definition: ConnectorDefinition, extra_actions: tuple[type[Node[Any, Any, Any]], ...] = ()
) -> tuple[Connector[Any], list[Trigger[Any]]]:
    """The connector (its actions attached) and the polling triggers of a definition."""
    auth, secret_names = _auth_spec(definition)
    app = definition.app
    actions: list[type[Node[Any, Any, Any]]] = []
    for function in definition.functions:
        input_model = type(
            f"{function.name}_Input",
            (_DeclaredInput,),
            {"declared_schema": function.parameters, "__module__": __name__},
        )
        output_model = type(
            f"{function.name}_Output",
            (_DeclaredOutput,),
            {"data_schema": function.response.schema_, "__module__": __name__},
        )
        attrs: dict[str, object] = {
            "name": function.action_name(app.name),
            "title": function.action_name(app.name).replace("_", " ").capitalize(),
            "description": function.description,
            "secrets": secret_names,
            "definition": definition,
            "function": function,
            "input_model": input_model,
            "output_model": output_model,
            "__module__": __name__,
        }
        actions.append(cast(type[Node[Any, Any, Any]], type(f"{function.name}_Action", (DeclaredAction,), attrs)))
    actions.extend(extra_actions)
    test_function = definition.function(app.test) if app.test else None

    class _App(Connector[RestConfig]):
        name = app.slug
        title = app.display_name
        description = app.description
        logo = app.logo
        secrets = secret_names

        def test_connection(self, request: ConnectionCheck, config: RestConfig, context: Context) -> ConnectionStatus:
            del request
            if test_function is None:
                return ConnectionStatus(ok=True, message=f"connector '{app.slug}' declares no connection test")
            try:
                call_function(definition, test_function, {}, config, context)
            except (NonRetryableError, RetryableError, ConfigurationError) as exc:
                return ConnectionStatus(ok=False, message=exc.message)
            return ConnectionStatus(ok=True, message=f"{test_function.name} answered")

    _App.auth = auth
    _App.actions = tuple(actions)
    _App.webhook = None if app.webhook is None else WebhookSpec(scheme=app.webhook.scheme, events=app.webhook.events)
    triggers: list[Trigger[Any]] = []
    for trig in app.triggers:
        cls = type(
            f"{app.name}_{trig.name}_Trigger",
            (DeclaredTrigger,),
            {
                "name": trig.name,
                "title": trig.name.replace("_", " ").capitalize(),
                "description": trig.description or f"New items from {trig.function}, polled with a cursor.",
                "secrets": secret_names,
                "definition": definition,
                "trigger": trig,
                "__module__": __name__,
            },
        )
        triggers.append(cast(Callable[[], Trigger[Any]], cls)())
    return _App(), triggers
